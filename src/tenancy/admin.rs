//! The operator's operations on the tenancy store: what `weir admin` and
//! the admin HTTP API (`/admin/v1/`) both call, so each of them is only
//! parsing and printing. Validates every name, slug and duration (one-line
//! [`AdminError`]s), makes ids and keys, and returns a new key exactly once
//! (only its hash is stored).
//!
//! Operator keys: `weir admin init` makes the first (`weir_admin_...`,
//! scope `admin`, no project); another is made with `create_key` without a
//! project (`weir admin key create --admin`). `init` refuses a store that
//! already holds keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::tenancy::keys::{self, KeyError, KeyHasher};
use crate::tenancy::model::{Endpoint, KeyRecord, Project, ProjectId, RateLimits, Scope};
use crate::tenancy::store::{Store, StoreError, UsageGroupBy, UsageTotals};

/// The longest duration accepted (`--expires`, `--grace`, `--since`):
/// 100 years.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The largest fair-share weight of an endpoint.
pub const MAX_WEIGHT: u32 = 1000;

/// The longest model name, alias or key name.
const MAX_TEXT_LEN: usize = 256;

/// How long a rotated key keeps working when no grace is given.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Why an admin operation failed: one line, never a key (at most a prefix).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key or the key secret could not be made or read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// There is no store at the path yet.
    #[error("no tenancy store at {0}; create it with `weir admin init`")]
    NotInitialized(String),
    /// A value the operator gave is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// What the operator named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation collides with the store's state.
    #[error("{0}")]
    Conflict(String),
}

/// What a key is now, as `key list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked (or its rotation grace period is over).
    Revoked,
    /// Rotated: works until its grace period ends.
    Rotating,
}

impl KeyStatus {
    /// The displayed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Rotating => "rotating",
        }
    }
}

/// A key's status at `now` (unix seconds): revoked when `revoked_at` has
/// passed, rotating while it is still ahead, expired when `expires_at` has
/// passed, active otherwise.
pub fn key_status(key: &KeyRecord, now: i64) -> KeyStatus {
    match (key.revoked_at, key.expires_at) {
        (Some(r), _) if r <= now => KeyStatus::Revoked,
        (_, Some(e)) if e <= now => KeyStatus::Expired,
        (Some(_), _) => KeyStatus::Rotating,
        _ => KeyStatus::Active,
    }
}

/// A key record with its status, as lists show it (never the hash).
#[derive(Clone, Debug, Serialize)]
pub struct KeyView {
    /// The record.
    #[serde(flatten)]
    pub key: KeyRecord,
    /// Its status now.
    pub status: KeyStatus,
}

/// A key just made: the only time the key itself exists outside the
/// client's hands.
#[derive(Debug)]
pub struct NewKey {
    /// The key, to show once.
    pub key: String,
    /// What was stored.
    pub record: KeyRecord,
}

/// A rotation's outcome.
#[derive(Debug)]
pub struct Rotated {
    /// The replacement.
    pub new: NewKey,
    /// The old key, with its grace period's end in `revoked_at`.
    pub old: KeyRecord,
}

/// A project to create.
#[derive(Clone, Debug, Default)]
pub struct ProjectSpec {
    /// Its unique name.
    pub name: String,
    /// Project-wide limits.
    pub limits: RateLimits,
    /// Prefix-cache sharing group (operator opt-in).
    pub cache_group: Option<String>,
}

/// An endpoint to create.
#[derive(Clone, Debug)]
pub struct EndpointSpec {
    /// The project's id or name.
    pub project: String,
    /// The path segment.
    pub slug: String,
    /// The served model.
    pub model: String,
    /// Other accepted model names.
    pub aliases: Vec<String>,
    /// Endpoint limits.
    pub limits: RateLimits,
    /// Fair-share weight (1..=[`MAX_WEIGHT`]).
    pub weight: u32,
    /// Refuse a `model` that is neither the model nor an alias.
    pub strict_model_name: bool,
}

/// A key to create.
#[derive(Clone, Debug, Default)]
pub struct KeySpec {
    /// The project's id or name; `None` makes an operator key.
    pub project: Option<String>,
    /// Scopes; empty means `inference` for a project key, `admin` for an
    /// operator key.
    pub scopes: Vec<Scope>,
    /// A label.
    pub name: Option<String>,
    /// Lifetime from now.
    pub expires_in: Option<Duration>,
    /// Per-key limits.
    pub limits: RateLimits,
}

/// The admin operations over one store.
pub struct Admin {
    store: Arc<Store>,
    secret_path: PathBuf,
}

/// Create the store at `db` (and its secret) and its first operator key.
/// Refuses a store that already holds keys.
pub fn init(db: &Path) -> Result<NewKey, AdminError> {
    let admin = Admin::new(Arc::new(Store::open(db)?), keys::secret_path(db));
    if admin.store.key_count()? > 0 {
        return Err(AdminError::Conflict(format!(
            "the tenancy store at {} already has keys; make another operator key with \
             `weir admin key create --admin`",
            db.display()
        )));
    }
    admin.create_key(&KeySpec {
        name: Some("init".into()),
        ..KeySpec::default()
    })
}

impl Admin {
    /// Over an open store whose key secret lives at `secret_path` (the
    /// server's admin API passes its own store).
    pub fn new(store: Arc<Store>, secret_path: PathBuf) -> Admin {
        Admin { store, secret_path }
    }

    /// Open the existing store at `db`; [`AdminError::NotInitialized`]
    /// when there is none.
    pub fn open(db: &Path) -> Result<Admin, AdminError> {
        let store = Store::open_existing(db)?
            .ok_or_else(|| AdminError::NotInitialized(db.display().to_string()))?;
        Ok(Admin::new(Arc::new(store), keys::secret_path(db)))
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The key hasher, creating the secret on first need, but never while
    /// keys exist (a new secret would silently invalidate every one).
    fn hasher(&self) -> Result<KeyHasher, AdminError> {
        if !self.secret_path.exists() && self.store.key_count()? > 0 {
            return Err(AdminError::Invalid(format!(
                "the key secret {} is missing, but the store holds keys made with it; \
                 restore the file (or set WEIR_SECRET_FILE)",
                self.secret_path.display()
            )));
        }
        Ok(KeyHasher::new(keys::load_or_create_secret(
            &self.secret_path,
        )?))
    }

    /// Create a project; returns it (its id is new).
    pub fn create_project(&self, spec: &ProjectSpec) -> Result<Project, AdminError> {
        validate_name("project name", &spec.name)?;
        if let Some(g) = &spec.cache_group {
            validate_name("cache group", g)?;
        }
        validate_limits(&spec.limits)?;
        if spec.name.starts_with("proj_") {
            return Err(AdminError::Invalid(format!(
                "project name {}: must not start with proj_ (ids do)",
                spec.name
            )));
        }
        let project = Project {
            id: keys::new_project_id()?,
            name: spec.name.clone(),
            limits: spec.limits,
            cache_group: spec.cache_group.clone(),
            created_at: now(),
        };
        self.store.insert_project(&project)?;
        Ok(project)
    }

    /// Every project.
    pub fn projects(&self) -> Result<Vec<Project>, AdminError> {
        Ok(self.store.projects()?)
    }

    /// The project with this id or name.
    pub fn project(&self, id_or_name: &str) -> Result<Project, AdminError> {
        let found = match id_or_name.starts_with("proj_") {
            true => self.store.project(&ProjectId(id_or_name.into()))?,
            false => self.store.project_by_name(id_or_name)?,
        };
        found.ok_or_else(|| AdminError::NotFound(format!("no project {}", shown(id_or_name))))
    }

    /// Create an endpoint in a project.
    pub fn create_endpoint(&self, spec: &EndpointSpec) -> Result<Endpoint, AdminError> {
        validate_slug(&spec.slug)?;
        validate_text("model", &spec.model)?;
        for a in &spec.aliases {
            validate_text("alias", a)?;
        }
        validate_limits(&spec.limits)?;
        if spec.weight == 0 || spec.weight > MAX_WEIGHT {
            return Err(AdminError::Invalid(format!(
                "weight {}: must be 1 to {MAX_WEIGHT}",
                spec.weight
            )));
        }
        let project = self.project(&spec.project)?;
        let endpoint = Endpoint {
            id: keys::new_record_id("ep_")?,
            project: project.id,
            slug: spec.slug.clone(),
            model: spec.model.clone(),
            aliases: spec.aliases.clone(),
            limits: spec.limits,
            weight: spec.weight,
            strict_model_name: spec.strict_model_name,
            created_at: now(),
        };
        self.store.insert_endpoint(&endpoint)?;
        Ok(endpoint)
    }

    /// The endpoints of one project (id or name), or of all.
    pub fn endpoints(&self, project: Option<&str>) -> Result<Vec<Endpoint>, AdminError> {
        let id = project.map(|p| self.project(p)).transpose()?.map(|p| p.id);
        Ok(self.store.endpoints(id.as_ref())?)
    }

    /// Delete a project's endpoint; returns what was deleted.
    pub fn delete_endpoint(&self, project: &str, slug: &str) -> Result<Endpoint, AdminError> {
        let project = self.project(project)?;
        self.store
            .delete_endpoint(&project.id, slug)?
            .ok_or_else(|| {
                AdminError::NotFound(format!(
                    "project {} has no endpoint {}",
                    project.id,
                    shown(slug)
                ))
            })
    }

    /// Create a key; the returned [`NewKey::key`] is the only copy.
    pub fn create_key(&self, spec: &KeySpec) -> Result<NewKey, AdminError> {
        if let Some(n) = &spec.name {
            validate_text("key name", n)?;
        }
        validate_limits(&spec.limits)?;
        let project = spec
            .project
            .as_deref()
            .map(|p| self.project(p))
            .transpose()?;
        let mut scopes = spec.scopes.clone();
        scopes.dedup();
        if scopes.is_empty() {
            scopes.push(match project {
                Some(_) => Scope::Inference,
                None => Scope::Admin,
            });
        }
        if project.is_none() && scopes != [Scope::Admin] {
            return Err(AdminError::Invalid(
                "an operator key (no project) has the admin scope only".into(),
            ));
        }
        let created_at = now();
        let expires_at = spec.expires_in.map(|d| created_at.saturating_add(secs(d)));
        let key = match &project {
            Some(p) => keys::new_project_key(&p.id)?,
            None => keys::new_admin_key()?,
        };
        let hasher = self.hasher()?;
        let record = KeyRecord {
            id: keys::new_record_id("key_")?,
            project: project.map(|p| p.id),
            prefix: keys::display_prefix(&key),
            name: spec.name.clone(),
            scopes,
            hash: hasher.hash(&key),
            limits: spec.limits,
            created_at,
            expires_at,
            revoked_at: None,
        };
        self.store.insert_key(&record)?;
        Ok(NewKey { key, record })
    }

    /// The keys of one project (id or name), or every key, with status.
    pub fn keys(&self, project: Option<&str>) -> Result<Vec<KeyView>, AdminError> {
        let id = project.map(|p| self.project(p)).transpose()?.map(|p| p.id);
        let now = now();
        Ok(self
            .store
            .keys(id.as_ref())?
            .into_iter()
            .map(|key| KeyView {
                status: key_status(&key, now),
                key,
            })
            .collect())
    }

    /// The one key named by its id (`key_...`), display prefix, or the key
    /// itself.
    pub fn find_key(&self, which: &str) -> Result<KeyRecord, AdminError> {
        if keys::looks_like_key(which) && which.len() > keys::display_prefix(which).len() {
            let hash = self.hasher()?.hash(which);
            return self.store.key_by_hash(&hash)?.ok_or_else(|| {
                AdminError::NotFound(format!("no key {}", keys::display_prefix(which)))
            });
        }
        let mut found = self.store.find_keys(which)?;
        match found.len() {
            0 => Err(AdminError::NotFound(format!("no key {}", shown_key(which)))),
            1 => Ok(found.remove(0)),
            n => Err(AdminError::Conflict(format!(
                "{n} keys have the prefix {}; name one by its id (weir admin key list)",
                shown_key(which)
            ))),
        }
    }

    /// Revoke a key now (a rotating key too: its grace ends now). Revoking
    /// a revoked key changes nothing.
    pub fn revoke_key(&self, which: &str) -> Result<KeyRecord, AdminError> {
        let mut key = self.find_key(which)?;
        let now = now();
        if key_status(&key, now) == KeyStatus::Revoked {
            return Ok(key);
        }
        if !self.store.set_key_revoked(&key.id, now)? {
            return Err(AdminError::NotFound(format!("no key {}", key.prefix)));
        }
        key.revoked_at = Some(now);
        Ok(key)
    }

    /// Replace a key with a new one (same project, scopes, name, limits and
    /// expiry); the old one keeps working for `grace`.
    pub fn rotate_key(&self, which: &str, grace: Duration) -> Result<Rotated, AdminError> {
        let mut old = self.find_key(which)?;
        let now = now();
        match key_status(&old, now) {
            KeyStatus::Active => {}
            status => {
                return Err(AdminError::Conflict(format!(
                    "key {} is {}; only an active key can be rotated",
                    old.prefix,
                    status.as_str()
                )))
            }
        }
        let key = match &old.project {
            Some(p) => keys::new_project_key(p)?,
            None => keys::new_admin_key()?,
        };
        let record = KeyRecord {
            id: keys::new_record_id("key_")?,
            prefix: keys::display_prefix(&key),
            hash: self.hasher()?.hash(&key),
            created_at: now,
            revoked_at: None,
            ..old.clone()
        };
        let grace_end = now.saturating_add(secs(grace));
        self.store.rotate_key(&old.id, grace_end, &record)?;
        old.revoked_at = Some(grace_end);
        Ok(Rotated {
            new: NewKey { key, record },
            old,
        })
    }

    /// A project's usage over the last `since`, grouped.
    pub fn usage(
        &self,
        project: &str,
        since: Duration,
        by: UsageGroupBy,
    ) -> Result<Vec<UsageTotals>, AdminError> {
        let project = self.project(project)?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let since_ms = now_ms.saturating_sub(secs(since).saturating_mul(1000));
        Ok(self.store.usage_summary(&project.id, since_ms, by)?)
    }
}

/// Parse `90d`, `24h`, `30m`, `45s` (a whole number and one unit).
pub fn parse_duration(s: &str) -> Result<Duration, AdminError> {
    let bad = || {
        AdminError::Invalid(format!(
            "duration {}: expected a number and a unit, like 90d, 24h, 30m or 45s",
            shown(s)
        ))
    };
    let split = s
        .len()
        .checked_sub(1)
        .filter(|&i| s.is_char_boundary(i))
        .ok_or_else(bad)?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "d" => 86_400,
        "h" => 3600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    let d = n
        .checked_mul(unit_secs)
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| AdminError::Invalid(format!("duration {}: at most 36500d", shown(s))))?;
    Ok(d)
}

/// An endpoint slug: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn validate_slug(slug: &str) -> Result<(), AdminError> {
    check_charset("slug", slug, |b| b == b'-')
}

/// A project name or cache group: `[a-z0-9][a-z0-9_.-]{0,62}`.
pub fn validate_name(what: &str, name: &str) -> Result<(), AdminError> {
    check_charset(what, name, |b| matches!(b, b'-' | b'_' | b'.'))
}

fn check_charset(what: &str, s: &str, extra: impl Fn(u8) -> bool) -> Result<(), AdminError> {
    let b = s.as_bytes();
    let first_ok = b
        .first()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra(c));
    if first_ok && rest_ok && b.len() <= 63 {
        return Ok(());
    }
    let allowed = if extra(b'.') {
        "a-z 0-9 - _ ."
    } else {
        "a-z 0-9 -"
    };
    Err(AdminError::Invalid(format!(
        "{what} {}: use 1 to 63 characters of {allowed}, starting with a letter or digit",
        shown(s)
    )))
}

fn validate_text(what: &str, s: &str) -> Result<(), AdminError> {
    if s.is_empty() || s.len() > MAX_TEXT_LEN || s.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "{what} {}: use 1 to {MAX_TEXT_LEN} printable characters",
            shown(s)
        )));
    }
    Ok(())
}

fn validate_limits(limits: &RateLimits) -> Result<(), AdminError> {
    for (name, v) in [("rpm", limits.rpm), ("tpm", limits.tpm)] {
        if let Some(v) = v {
            if v == 0 || v > i64::MAX as u64 {
                return Err(AdminError::Invalid(format!(
                    "--{name} {v}: must be at least 1 (leave it out for no limit)"
                )));
            }
        }
    }
    Ok(())
}

/// Operator text quoted in an error: debug-escaped (no control characters
/// reach the terminal) and cut short.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    let more = if cut.len() < s.len() { "..." } else { "" };
    format!("{cut:?}{more}")
}

/// A key id or prefix quoted in an error; anything long enough to be a
/// key (or most of one) shows only its display prefix.
fn shown_key(s: &str) -> String {
    match s.len() <= 24 {
        true => shown(s),
        false => shown(&keys::display_prefix(s)),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
