//! The data-access layer: every read and write of the tenancy records goes
//! through [`Store`]. Nothing above this module writes SQL.
//!
//! SQLite is the embedded default ([`sqlite`]): WAL mode with
//! `synchronous=NORMAL` (a committed transaction survives `kill -9` of the
//! process), a busy timeout (the `weir admin` CLI and a running server write
//! the same file), foreign keys on, and the migrations of
//! `migrations/sqlite/` applied in order and recorded in
//! `schema_migrations`.
//!
//! The fleet will add a PostgreSQL driver. [`Store`] holds a private
//! backend enum whose one variant today is SQLite; a `Postgres` variant
//! implementing the same methods (its own migrations directory, the same
//! tables) is all it takes, because the callers only see `Store`'s methods
//! and the plain records of [`crate::tenancy::model`]. The SQL is kept to
//! statements both accept where easy (`INSERT ... ON CONFLICT ... DO
//! UPDATE`, `BIGINT`, no SQLite-only functions in queries); the version
//! counter's triggers are the one SQLite-specific part.

mod sqlite;

/// A stored response of the Responses API, as the store keeps it: the
/// turn's own input items and the whole response object as JSON text (the
/// API layer owns their shape).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResponse {
    /// `resp_...`.
    pub id: String,
    /// The owning project's id, `""` for the single-tenant server.
    pub project: String,
    /// The response this one continued.
    pub previous_response_id: Option<String>,
    /// The turn's input items (a JSON array), without the earlier turns'.
    pub input_items: String,
    /// The response object (JSON).
    pub response: String,
    /// When it was stored (Unix milliseconds).
    pub created_at_ms: i64,
}

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::tenancy::model::{Endpoint, KeyRecord, Project, ProjectId, Snapshot, UsageRecord};

/// Why a store operation failed. Every message is one line and names the
/// database file when the database itself is at fault; none holds a key.
#[derive(Clone, Debug, thiserror::Error)]
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

/// How `weir admin usage` groups a project's usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageGroupBy {
    /// One row: the project's totals.
    Total,
    /// One row per key prefix.
    Key,
    /// One row per endpoint slug.
    Endpoint,
    /// One row per served model.
    Model,
}

/// One row of a usage summary: the sums over a group of usage records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UsageTotals {
    /// The key prefix, endpoint slug or model of the group; `None` for the
    /// total row, or for records without one (plain `/v1` routes).
    pub group: Option<String>,
    /// How many requests.
    pub requests: u64,
    /// Of those, how many did not complete (failed, cancelled,
    /// interrupted) or are still pending.
    pub unfinished: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Of those, reasoning tokens.
    pub reasoning_tokens: u64,
    /// Prompt + completion tokens.
    pub total_tokens: u64,
}

/// Where the store lives when neither `--db` nor `WEIR_DB` says:
/// `$XDG_DATA_HOME/weir/weir.db`, else `~/.local/share/weir/weir.db`, else
/// (no home directory) `.weir/weir.db` under the working directory. Shared
/// by `weir admin` and `weir serve`, so both find the same file.
pub fn default_db_path() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("weir").join("weir.db");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h)
            .join(".local")
            .join("share")
            .join("weir")
            .join("weir.db");
    }
    PathBuf::from(".weir").join("weir.db")
}

/// The backends behind [`Store`]'s methods (PostgreSQL joins SQLite here).
enum Backend {
    Sqlite(sqlite::SqliteStore),
}

/// The tenancy store. `Send + Sync`, cheap to share behind an `Arc`; every
/// method is blocking (call from a blocking thread on the request path).
pub struct Store {
    backend: Backend,
}

/// Calls the same method on whichever backend the store has.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(s) => s.$method($($arg),*),
        }
    };
}

impl Store {
    /// Open (creating it and its directory if missing) and migrate.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::SqliteStore::open(path)?),
        })
    }

    /// Open an existing store; `Ok(None)` when there is no file yet.
    pub fn open_existing(path: &Path) -> Result<Option<Store>, StoreError> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Database {
                path: path.display().to_string(),
                message: one_line(&e.to_string()),
            }),
            Ok(_) => Store::open(path).map(Some),
        }
    }

    /// The database file (for messages).
    pub fn path(&self) -> &Path {
        dispatch!(self.path())
    }

    /// A number that changes whenever projects, endpoints or keys change
    /// (polled by the directory to pick up `weir admin` changes): one
    /// single-row read.
    pub fn version(&self) -> Result<u64, StoreError> {
        dispatch!(self.version())
    }

    /// Every project, endpoint and key, read in one transaction.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        dispatch!(self.snapshot())
    }

    /// Insert or replace usage records by `request_id`, in one transaction
    /// (a final record replaces its pending write-ahead record; a pending
    /// record never replaces a final one).
    pub fn write_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        dispatch!(self.write_usage(records))
    }

    /// Mark every `pending` usage record `interrupted` (at start: the
    /// previous process died while they ran). Returns how many.
    pub fn interrupt_pending(&self) -> Result<usize, StoreError> {
        dispatch!(self.interrupt_pending())
    }

    /// Add a project; a taken name or id is [`StoreError::Conflict`].
    pub fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        dispatch!(self.insert_project(project))
    }

    /// Every project, oldest first.
    pub fn projects(&self) -> Result<Vec<Project>, StoreError> {
        dispatch!(self.projects())
    }

    /// The project with this id, if any.
    pub fn project(&self, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        dispatch!(self.project(id))
    }

    /// The project with this name, if any.
    pub fn project_by_name(&self, name: &str) -> Result<Option<Project>, StoreError> {
        dispatch!(self.project_by_name(name))
    }

    /// Add an endpoint; a slug the project already has is
    /// [`StoreError::Conflict`], an unknown project [`StoreError::NotFound`].
    pub fn insert_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        dispatch!(self.insert_endpoint(endpoint))
    }

    /// The endpoints of one project, or of all; by project, then slug.
    pub fn endpoints(&self, project: Option<&ProjectId>) -> Result<Vec<Endpoint>, StoreError> {
        dispatch!(self.endpoints(project))
    }

    /// Delete an endpoint; returns it, or `None` when there was none.
    pub fn delete_endpoint(
        &self,
        project: &ProjectId,
        slug: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        dispatch!(self.delete_endpoint(project, slug))
    }

    /// Keep a finished response of the Responses API.
    pub fn insert_response(&self, response: &StoredResponse) -> Result<(), StoreError> {
        dispatch!(self.insert_response(response))
    }

    /// The stored response `id` of `project` (`""`: no project); `None`
    /// when there is none, or it is another project's.
    pub fn response(&self, project: &str, id: &str) -> Result<Option<StoredResponse>, StoreError> {
        dispatch!(self.response(project, id))
    }

    /// Delete the stored response `id` of `project`; false when there was none.
    pub fn delete_response(&self, project: &str, id: &str) -> Result<bool, StoreError> {
        dispatch!(self.delete_response(project, id))
    }

    /// Retention: delete the stored responses made before `cutoff_ms`, and
    /// each project's oldest past its newest `max_per_project`; how many
    /// went.
    pub fn sweep_responses(
        &self,
        cutoff_ms: i64,
        max_per_project: usize,
    ) -> Result<usize, StoreError> {
        dispatch!(self.sweep_responses(cutoff_ms, max_per_project))
    }

    /// How many stored responses there are, and their JSON's bytes.
    pub fn response_totals(&self) -> Result<(u64, u64), StoreError> {
        dispatch!(self.response_totals())
    }

    /// Add a key record (its hash must be new).
    pub fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        dispatch!(self.insert_key(key))
    }

    /// The keys of one project, or all keys (operator keys included);
    /// oldest first.
    pub fn keys(&self, project: Option<&ProjectId>) -> Result<Vec<KeyRecord>, StoreError> {
        dispatch!(self.keys(project))
    }

    /// How many keys the store holds (any state).
    pub fn key_count(&self) -> Result<u64, StoreError> {
        dispatch!(self.key_count())
    }

    /// The keys whose id or display prefix is `id_or_prefix`.
    pub fn find_keys(&self, id_or_prefix: &str) -> Result<Vec<KeyRecord>, StoreError> {
        dispatch!(self.find_keys(id_or_prefix))
    }

    /// The key with this hash, if any.
    pub fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        dispatch!(self.key_by_hash(hash))
    }

    /// Set a key's `revoked_at` (unix seconds). Returns false when no key
    /// has that id.
    pub fn set_key_revoked(&self, id: &str, revoked_at: i64) -> Result<bool, StoreError> {
        dispatch!(self.set_key_revoked(id, revoked_at))
    }

    /// In one transaction: add `new_key` and end the old key's life at
    /// `old_revoked_at` (its grace period's end). Fails with
    /// [`StoreError::NotFound`] when the old key is gone.
    pub fn rotate_key(
        &self,
        old_id: &str,
        old_revoked_at: i64,
        new_key: &KeyRecord,
    ) -> Result<(), StoreError> {
        dispatch!(self.rotate_key(old_id, old_revoked_at, new_key))
    }

    /// A project's usage since `since_ms` (unix milliseconds), summed per
    /// group, ordered by group.
    pub fn usage_summary(
        &self,
        project: &ProjectId,
        since_ms: i64,
        by: UsageGroupBy,
    ) -> Result<Vec<UsageTotals>, StoreError> {
        dispatch!(self.usage_summary(project, since_ms, by))
    }

    /// One usage record by request id (tests and reconciliation).
    pub fn usage_record(&self, request_id: &str) -> Result<Option<UsageRecord>, StoreError> {
        dispatch!(self.usage_record(request_id))
    }
}

/// Collapses a message onto one line (SQLite's and the OS's messages are
/// shown to operators as one-line errors).
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
