//! The data-access layer: every read and write of the tenancy records goes
//! through [`Store`]. SQLite (WAL mode, migrations in `migrations/sqlite/`)
//! is the embedded default; the fleet will add a PostgreSQL driver behind
//! the same methods, so nothing above this module writes SQL.

use std::path::Path;

use crate::tenancy::model::{Snapshot, UsageRecord};

/// The store when neither `--db` nor `WEIR_DB` is given.
pub fn default_db_path() -> std::path::PathBuf {
    todo!("store")
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("the tenancy store at {path}: {message}")]
    Database {
        /// The database file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A record the caller named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A record would collide with an existing one (duplicate name, slug).
    #[error("{0}")]
    Conflict(String),
    /// The caller passed a value the store refuses.
    #[error("{0}")]
    Invalid(String),
}

/// The tenancy store. Cheap to share behind an `Arc`; every method is
/// blocking (call from a blocking thread on the request path).
pub struct Store {
    _private: (),
}

impl Store {
    /// Open (creating it and its directory if missing) and migrate.
    pub fn open(_path: &Path) -> Result<Store, StoreError> {
        todo!("tenancy store")
    }

    /// Open an existing store; `Ok(None)` when there is no file yet.
    pub fn open_existing(_path: &Path) -> Result<Option<Store>, StoreError> {
        todo!("tenancy store")
    }

    /// A number that changes whenever projects, endpoints or keys change
    /// (polled by the directory to pick up `weir admin` changes).
    pub fn version(&self) -> Result<u64, StoreError> {
        todo!("tenancy store")
    }

    /// Every project, endpoint and key.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        todo!("tenancy store")
    }

    /// Insert or replace usage records by `request_id`, in one transaction
    /// (a final record replaces its pending write-ahead record).
    pub fn write_usage(&self, _records: &[UsageRecord]) -> Result<(), StoreError> {
        todo!("tenancy store")
    }

    /// Mark every `pending` usage record `interrupted` (at start: the
    /// previous process died while they ran). Returns how many.
    pub fn interrupt_pending(&self) -> Result<usize, StoreError> {
        todo!("tenancy store")
    }
}
