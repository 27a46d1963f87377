//! The directory: the in-memory view of projects, endpoints and keys that
//! the request path reads. A thread polls the store (its change counter,
//! four times a second) and swaps in a new view when anything changed, so
//! `weir admin` changes, revocations included, apply within a second
//! without a restart. Authentication never touches the database.
//!
//! Auth is on exactly when the store holds at least one key: a plain
//! `weir serve` with no store (or a store without keys) stays open, as a
//! single-user server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use crate::tenancy::keys::{self, KeyHasher};
use crate::tenancy::model::{Endpoint, KeyRecord, Project, Scope, Snapshot};
use crate::tenancy::store::Store;

/// How often the store's change counter is read.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// Longest `Authorization` header value looked at; a longer one is
/// refused as malformed without being read further.
pub const MAX_AUTHORIZATION_LEN: usize = 512;

/// Why a caller was not let in. Messages show at most a key's display
/// prefix, never the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (or no bearer token in it).
    #[error("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")]
    Missing,
    /// The header or the token does not have a key's shape.
    #[error("Malformed API key provided: expected `Authorization: Bearer weir_...`. You can create a key with `weir admin key create`.")]
    Malformed,
    /// No such key.
    #[error("Incorrect API key provided: {prefix}***. You can create a key with `weir admin key create`.")]
    Unknown {
        /// What may be shown of it.
        prefix: String,
    },
    /// The key's expiry has passed.
    #[error("The API key {prefix}*** has expired. Create a new one with `weir admin key create`.")]
    Expired {
        /// What may be shown of it.
        prefix: String,
    },
    /// The key was revoked (or its rotation grace period ended).
    #[error("The API key {prefix}*** has been revoked.")]
    Revoked {
        /// What may be shown of it.
        prefix: String,
    },
    /// A valid key without the scope the route needs (401, as OpenAI).
    #[error("You have insufficient permissions for this operation. Missing scopes: {scope}. The API key {prefix}*** does not have them.")]
    MissingScope {
        /// What may be shown of it.
        prefix: String,
        /// The scope the route needs.
        scope: &'static str,
    },
}

/// One consistent view of the store.
#[derive(Default)]
pub struct View {
    /// Keys by their keyed hash.
    keys: HashMap<[u8; 32], Arc<KeyRecord>>,
    /// Projects by id.
    projects: HashMap<String, Arc<Project>>,
    /// Endpoints by (project id, slug).
    endpoints: HashMap<(String, String), Arc<Endpoint>>,
}

impl View {
    /// Index a snapshot.
    pub fn new(snapshot: Snapshot) -> View {
        View {
            keys: snapshot
                .keys
                .into_iter()
                .map(|k| (k.hash, Arc::new(k)))
                .collect(),
            projects: snapshot
                .projects
                .into_iter()
                .map(|p| (p.id.0.clone(), Arc::new(p)))
                .collect(),
            endpoints: snapshot
                .endpoints
                .into_iter()
                .map(|e| ((e.project.0.clone(), e.slug.clone()), Arc::new(e)))
                .collect(),
        }
    }

    /// True when any key exists: callers must then authenticate.
    pub fn auth_on(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The project `id`.
    pub fn project(&self, id: &str) -> Option<&Arc<Project>> {
        self.projects.get(id)
    }

    /// The endpoint `slug` of project `project`.
    pub fn endpoint(&self, project: &str, slug: &str) -> Option<&Arc<Endpoint>> {
        self.endpoints.get(&(project.to_string(), slug.to_string()))
    }

    /// Every project's id and name (for metrics labels).
    pub fn projects(&self) -> impl Iterator<Item = &Arc<Project>> {
        self.projects.values()
    }
}

/// Called once when the store first opens (the server then starts its
/// usage writer on it).
pub type OnStoreOpen = Box<dyn FnOnce(&Path) + Send>;

/// The directory: the current view, and the thread that keeps it fresh.
pub struct Directory {
    view: RwLock<Arc<View>>,
    /// Set once the server secret is read (with the store).
    hasher: OnceLock<KeyHasher>,
}

impl Directory {
    /// A fixed view with no store behind it (tests, embedded use).
    pub fn fixed(snapshot: Snapshot, hasher: Option<KeyHasher>) -> Arc<Directory> {
        let dir = Directory {
            view: RwLock::new(Arc::new(View::new(snapshot))),
            hasher: OnceLock::new(),
        };
        if let Some(h) = hasher {
            let _ = dir.hasher.set(h);
        }
        Arc::new(dir)
    }

    /// A view of the store at `db`, polled every [`REFRESH_INTERVAL`]. The
    /// store may not exist yet: it is picked up once `weir admin init`
    /// creates it, and its secret read then. The polling thread ends with
    /// the directory.
    pub fn watch(db: PathBuf, on_open: OnStoreOpen) -> Arc<Directory> {
        let dir = Arc::new(Directory {
            view: RwLock::new(Arc::new(View::default())),
            hasher: OnceLock::new(),
        });
        let mut watcher = Watcher {
            db,
            store: None,
            version: None,
            warned: false,
            on_open: Some(on_open),
        };
        watcher.poll(&dir);
        let weak = Arc::downgrade(&dir);
        let spawned = std::thread::Builder::new()
            .name("weir-directory".into())
            .spawn(move || watcher.run(weak));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the tenancy directory's refresh thread");
        }
        dir
    }

    /// The current view (cheap: one `Arc` clone).
    pub fn view(&self) -> Arc<View> {
        match self.view.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, view: View) {
        let view = Arc::new(view);
        match self.view.write() {
            Ok(mut v) => *v = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
    }

    /// Who holds the `Authorization` header `header`, checked against
    /// `view` at `now_unix` (seconds) for `scope`. `Ok(None)` when auth is
    /// off (the store holds no key).
    pub fn authenticate(
        &self,
        view: &View,
        header: Option<&[u8]>,
        scope: Scope,
        now_unix: i64,
    ) -> Result<Option<Arc<KeyRecord>>, AuthError> {
        if !view.auth_on() {
            return Ok(None);
        }
        let header = header.ok_or(AuthError::Missing)?;
        if header.len() > MAX_AUTHORIZATION_LEN {
            return Err(AuthError::Malformed);
        }
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let token = bearer_token(header).ok_or(AuthError::Missing)?;
        if !keys::looks_like_key(token) {
            return Err(AuthError::Malformed);
        }
        let prefix = keys::display_prefix(token);
        let hasher = self.hasher.get().ok_or(AuthError::Unknown {
            prefix: prefix.clone(),
        })?;
        let hash = hasher.hash(token);
        let record = view
            .keys
            .get(&hash)
            .filter(|k| keys::hashes_equal(&k.hash, &hash))
            .ok_or(AuthError::Unknown {
                prefix: prefix.clone(),
            })?;
        if record.revoked_at.is_some_and(|t| t <= now_unix) {
            return Err(AuthError::Revoked { prefix });
        }
        if record.expires_at.is_some_and(|t| t <= now_unix) {
            return Err(AuthError::Expired { prefix });
        }
        if !record.has_scope(scope) {
            return Err(AuthError::MissingScope {
                prefix,
                scope: scope.as_str(),
            });
        }
        Ok(Some(record.clone()))
    }
}

/// The token of `Bearer TOKEN` (scheme case-insensitive, as RFC 9110 says).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The refresh loop's state.
struct Watcher {
    db: PathBuf,
    store: Option<Store>,
    version: Option<u64>,
    warned: bool,
    on_open: Option<OnStoreOpen>,
}

impl Watcher {
    fn run(mut self, dir: Weak<Directory>) {
        loop {
            std::thread::sleep(REFRESH_INTERVAL);
            let Some(dir) = dir.upgrade() else { return };
            self.poll(&dir);
        }
    }

    /// One refresh: open the store if it has appeared, reload on change.
    fn poll(&mut self, dir: &Directory) {
        if self.store.is_none() {
            if !self.db.exists() {
                return;
            }
            match Store::open_existing(&self.db) {
                Ok(store) => self.store = store,
                Err(e) => return self.warn(&e.to_string()),
            }
            if self.store.is_some() {
                if let Some(f) = self.on_open.take() {
                    f(&self.db);
                }
            }
        }
        let Some(store) = &self.store else { return };
        // The secret is read once it exists (`weir admin init` makes it; a
        // store made by `weir serve --config` has none until then): without
        // it no key can be checked, but projects and endpoints still load.
        if dir.hasher.get().is_none() {
            if let Ok(h) = KeyHasher::for_store(&self.db) {
                let _ = dir.hasher.set(h);
            }
        }
        let reloaded = store.version().and_then(|version| {
            if self.version == Some(version) {
                return Ok(None);
            }
            store.snapshot().map(|s| Some((version, s)))
        });
        match reloaded {
            Ok(Some((version, snapshot))) => {
                if !snapshot.keys.is_empty() && dir.hasher.get().is_none() {
                    self.warn(&format!(
                        "the store holds keys but its secret file {} cannot be read: every key is refused",
                        crate::tenancy::keys::secret_path(&self.db).display()
                    ));
                }
                tracing::info!(
                    projects = snapshot.projects.len(),
                    endpoints = snapshot.endpoints.len(),
                    keys = snapshot.keys.len(),
                    "tenancy store loaded"
                );
                dir.replace(View::new(snapshot));
                self.version = Some(version);
                self.warned = false;
            }
            Ok(None) => {}
            Err(e) => self.warn(&e.to_string()),
        }
    }

    /// Log a store failure once until it recovers (the last good view stays).
    fn warn(&mut self, message: &str) {
        if !self.warned {
            tracing::error!(
                error = message,
                "cannot read the tenancy store; keeping the last view"
            );
            self.warned = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn without_keys_auth_is_off() {
        let dir = Directory::fixed(Snapshot::default(), None);
        let view = dir.view();
        assert_eq!(dir.authenticate(&view, None, Scope::Inference, 0), Ok(None));
    }
}
