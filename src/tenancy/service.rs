//! `Tenancy`: what the HTTP layer holds of tenancy while serving: the
//! directory (auth and routing), the rate limiter, and the usage writer
//! once a store exists.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::tenancy::directory::Directory;
use crate::tenancy::keys::KeyHasher;
use crate::tenancy::metrics::TenantMetrics;
use crate::tenancy::model::Snapshot;
use crate::tenancy::ratelimit::RateLimiter;
use crate::tenancy::store::Store;
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
        }
    }

    /// Serve from the store at `db` (which may appear later, when
    /// `weir admin init` makes it): auth turns on with its first key, and
    /// usage is recorded there.
    pub fn watch(db: PathBuf) -> Tenancy {
        let usage: Arc<OnceLock<UsageLog>> = Arc::new(OnceLock::new());
        let slot = usage.clone();
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
        }
    }

    /// The usage writer, once a store exists.
    pub fn usage(&self) -> Option<&UsageLog> {
        self.usage.get()
    }
}
