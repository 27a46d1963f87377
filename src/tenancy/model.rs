//! The tenancy records as plain data: what the store keeps and the request
//! path reads. No behaviour beyond small helpers.

use serde::{Deserialize, Serialize};

/// A project's id as clients see it in the base URL: `proj_` + random
/// base62 (e.g. `proj_7Hq2cXk9`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProjectId(pub String);

impl std::fmt::Display for ProjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Requests and tokens per minute; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute (prompt + completion).
    pub tpm: Option<u64>,
}

/// A tenant: owns endpoints and keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// `proj_...`.
    pub id: ProjectId,
    /// The human name given at creation (unique).
    pub name: String,
    /// Project-wide limits (all its keys and endpoints together).
    pub limits: RateLimits,
    /// Operator opt-in: projects with the same group share prefix-cache
    /// hits; `None` keeps the project's cache its own (the default).
    pub cache_group: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A named deployment of one served model inside a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep_...` (internal id; clients use the slug).
    pub id: String,
    /// The owning project.
    pub project: ProjectId,
    /// The path segment: `[a-z0-9][a-z0-9-]{0,62}`.
    pub slug: String,
    /// The served model it routes to (a name `weir serve` loads).
    pub model: String,
    /// Other names clients may send as `model` under `strict_model_name`.
    pub aliases: Vec<String>,
    /// Per-endpoint limits.
    pub limits: RateLimits,
    /// Fair-share weight of its requests inside the engine (>= 1).
    pub weight: u32,
    /// Answer a `model` that is neither the model nor an alias with 404
    /// `model_not_found` (default: any `model` is served by the endpoint's).
    pub strict_model_name: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Call the inference routes (chat, completions, models, responses).
    Inference,
    /// Call `/admin/v1/...` (and, being the operator, every project).
    Admin,
}

impl Scope {
    /// The scope's wire name (`inference`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Inference => "inference",
            Scope::Admin => "admin",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "inference" => Some(Scope::Inference),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// A key as stored: never the key itself, only its keyed hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// `key_...` (internal id).
    pub id: String,
    /// The project it belongs to; `None` for an operator (admin) key made
    /// by `weir admin init`.
    pub project: Option<ProjectId>,
    /// The first characters of the key (`weir_7Hq2cXk9_AbCd`): what lists,
    /// usage records and error messages show. Never enough to use it.
    pub prefix: String,
    /// The admin's label (`--name laptop`).
    pub name: Option<String>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// HMAC-SHA256 of the key under the server secret ([`crate::tenancy::keys`]).
    #[serde(skip)]
    pub hash: [u8; 32],
    /// Per-key limits.
    pub limits: RateLimits,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it no longer works.
    pub expires_at: Option<i64>,
    /// Unix seconds it was revoked (a rotated key gets its grace period's
    /// end here, in the future).
    pub revoked_at: Option<i64>,
}

impl KeyRecord {
    /// True when it has `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Everything the request path needs to authenticate and route, read
/// from the store in one go.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every project.
    pub projects: Vec<Project>,
    /// Every endpoint.
    pub endpoints: Vec<Endpoint>,
    /// Every key (revoked and expired ones included: the directory tells
    /// the client which it is).
    pub keys: Vec<KeyRecord>,
}

/// How a request ended, as usage records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageStatus {
    /// Still running (the write-ahead record; a crash leaves it so, and the
    /// next start marks it `interrupted`).
    Pending,
    /// Finished (stop, length, tool calls...).
    Completed,
    /// The client went away first.
    Cancelled,
    /// A server fault ended it.
    Failed,
    /// The server stopped (crash, kill) while it ran.
    Interrupted,
}

impl UsageStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageStatus::Pending => "pending",
            UsageStatus::Completed => "completed",
            UsageStatus::Cancelled => "cancelled",
            UsageStatus::Failed => "failed",
            UsageStatus::Interrupted => "interrupted",
        }
    }
}

/// One request's usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The response id the client saw (`chatcmpl-...`, `cmpl-...`): unique.
    pub request_id: String,
    /// The project billed (`None` on a server without tenancy).
    pub project: Option<ProjectId>,
    /// The endpoint's slug (`None` on the plain `/v1` routes).
    pub endpoint: Option<String>,
    /// The key's prefix (never the key).
    pub key_prefix: Option<String>,
    /// The served model that ran it.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u64,
    /// Generated tokens (all choices).
    pub completion_tokens: u64,
    /// Of those, reasoning tokens.
    pub reasoning_tokens: u64,
    /// Milliseconds to the first token, if one came.
    pub ttft_ms: Option<f64>,
    /// Milliseconds from arrival to the end.
    pub latency_ms: f64,
    /// How it ended.
    pub status: UsageStatus,
    /// Unix milliseconds at arrival.
    pub created_at_ms: i64,
}
