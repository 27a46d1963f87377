//! `Tenancy`: what the HTTP layer holds of tenancy while serving: the
//! directory (auth and routing), the rate limiter, and the usage writer
//! once a store exists.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::tenancy::admin::{Admin, AdminError};
use crate::tenancy::directory::Directory;
use crate::tenancy::keys::KeyHasher;
use crate::tenancy::metrics::TenantMetrics;
use crate::tenancy::model::Snapshot;
use crate::tenancy::ratelimit::RateLimiter;
use crate::tenancy::store::{Store, StoreError};
use crate::tenancy::usage::UsageLog;

/// Tenancy as the server runs it.
pub struct Tenancy {
    /// Projects, endpoints and keys, kept fresh.
    pub directory: Arc<Directory>,
    /// Requests and tokens per minute.
    pub limiter: RateLimiter,
    /// Per-project request and token counters.
    pub metrics: TenantMetrics,
    /// Usage records (set once the store exists).
    usage: Arc<OnceLock<UsageLog>>,
    /// The store's path, when there is one to serve from.
    db: Option<PathBuf>,
    /// The admin operations over the store (opened on first need).
    admin: OnceLock<Arc<Admin>>,
    /// The store the Responses API keeps responses in (opened on first need).
    responses: OnceLock<Arc<Store>>,
}

impl Tenancy {
    /// No store: open access, no usage records (a plain `weir serve`).
    pub fn off() -> Tenancy {
        Tenancy::fixed(Snapshot::default(), None)
    }

    /// A fixed view with no store behind it (embedded use and tests).
    pub fn fixed(snapshot: Snapshot, hasher: Option<KeyHasher>) -> Tenancy {
        Tenancy {
            directory: Directory::fixed(snapshot, hasher),
            limiter: RateLimiter::new(),
            metrics: TenantMetrics::default(),
            usage: Arc::new(OnceLock::new()),
            db: None,
            admin: OnceLock::new(),
            responses: OnceLock::new(),
        }
    }

    /// Serve from the store at `db` (which may appear later, when
    /// `weir admin init` makes it): auth turns on with its first key, and
    /// usage is recorded there.
    pub fn watch(db: PathBuf) -> Tenancy {
        let usage: Arc<OnceLock<UsageLog>> = Arc::new(OnceLock::new());
        let slot = usage.clone();
        let db_path = db.clone();
        let directory = Directory::watch(
            db,
            Box::new(move |path| match Store::open_existing(path) {
                Ok(Some(store)) => match UsageLog::start(Arc::new(store)) {
                    Ok(log) => {
                        let _ = slot.set(log);
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start the usage writer"),
                },
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot open the store for usage"),
            }),
        );
        Tenancy {
            directory,
            limiter: RateLimiter::new(),
            metrics: TenantMetrics::default(),
            usage,
            db: Some(db_path),
            admin: OnceLock::new(),
            responses: OnceLock::new(),
        }
    }

    /// The usage writer, once a store exists.
    pub fn usage(&self) -> Option<&UsageLog> {
        self.usage.get()
    }

    /// The response store if it is open already (no I/O: callable from
    /// async code).
    pub fn open_response_store(&self) -> Option<Arc<Store>> {
        self.responses.get().cloned()
    }

    /// The store that keeps the Responses API's responses: `None` without
    /// a store path (tests, embedded use). With `create`, a store that does
    /// not exist yet is made (the single-tenant server keeps its responses
    /// there too; auth stays off until it holds a key). Blocking.
    pub fn response_store(&self, create: bool) -> Result<Option<Arc<Store>>, StoreError> {
        if let Some(s) = self.responses.get() {
            return Ok(Some(s.clone()));
        }
        let Some(db) = &self.db else {
            return Ok(None);
        };
        let opened = if create {
            Some(Store::open(db)?)
        } else {
            Store::open_existing(db)?
        };
        Ok(opened.map(|s| self.responses.get_or_init(|| Arc::new(s)).clone()))
    }

    /// The admin operations over the store, for the admin HTTP API:
    /// `Ok(None)` when there is no store (auth off, or not created yet).
    /// Opened on first need (blocking: call from a blocking thread).
    pub fn admin(&self) -> Result<Option<Arc<Admin>>, AdminError> {
        if let Some(a) = self.admin.get() {
            return Ok(Some(a.clone()));
        }
        let Some(db) = &self.db else {
            return Ok(None);
        };
        match Admin::open(db) {
            Ok(a) => Ok(Some(self.admin.get_or_init(|| Arc::new(a)).clone())),
            Err(AdminError::NotInitialized(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
