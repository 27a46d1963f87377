//! Requests and tokens per minute, per key, endpoint and project, as
//! OpenAI applies them: a request reserves one request and its prompt plus
//! maximum output tokens from every limit that applies, or is refused with
//! the limit it hit and when to retry; at the end the token reservation is
//! reconciled to what it actually used.

use std::time::Duration;

use axum::http::HeaderMap;

use crate::tenancy::model::RateLimits;

/// What a limit belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// One API key (by its internal id).
    Key(String),
    /// One endpoint (by its internal id).
    Endpoint(String),
    /// A whole project.
    Project(String),
}

/// Which of a subject's two limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// Requests per minute (RPM).
    Requests,
    /// Tokens per minute (TPM).
    Tokens,
}

/// The refusal: which limit, how full, and when a retry can pass.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimited {
    /// The subject whose limit was hit.
    pub subject: Subject,
    /// Which limit.
    pub kind: LimitKind,
    /// The limit per minute.
    pub limit: u64,
    /// Used (and reserved) now.
    pub used: u64,
    /// What this request asked for.
    pub requested: u64,
    /// When enough will be free for this request.
    pub retry_after: Duration,
}

impl RateLimited {
    /// OpenAI's message for this refusal.
    pub fn message(&self, _model: &str, _org: &str) -> String {
        todo!("ratelimit")
    }
}

/// The `x-ratelimit-*` values sent on every response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateLimitHeaders {
    /// (limit, remaining, reset) for requests, if any limit applies.
    pub requests: Option<(u64, u64, Duration)>,
    /// (limit, remaining, reset) for tokens, if any limit applies.
    pub tokens: Option<(u64, u64, Duration)>,
}

impl RateLimitHeaders {
    /// Write `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
    pub fn apply(&self, _headers: &mut HeaderMap) {
        todo!("ratelimit")
    }
}

/// The limiter: shared by every request of the server.
#[derive(Default)]
pub struct RateLimiter {
    _private: (),
}

/// A granted request's hold on its limits; reconcile it at the end.
pub struct Reservation {
    _private: (),
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// Reserve one request and `tokens` tokens from every subject's limits,
    /// all or nothing.
    pub fn acquire(
        &self,
        _subjects: &[(Subject, RateLimits)],
        _tokens: u64,
    ) -> Result<Reservation, RateLimited> {
        todo!("ratelimit")
    }
}

impl Reservation {
    /// The headers to send with this request's response.
    pub fn headers(&self) -> RateLimitHeaders {
        todo!("ratelimit")
    }

    /// The request used `actual` tokens: give back (or charge) the
    /// difference from what was reserved.
    pub fn reconcile(self, _actual: u64) {
        todo!("ratelimit")
    }
}
