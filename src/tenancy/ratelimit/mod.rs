//! Requests and tokens per minute, per key, endpoint and project, as
//! OpenAI applies them: a request reserves one request and its prompt plus
//! maximum output tokens from every limit that applies, or is refused with
//! the limit it hit and when to retry; at the end the token reservation is
//! reconciled to what it actually used.
//!
//! Each (subject, kind) with a limit is a token bucket of capacity = the
//! limit per minute that refills continuously at limit / 60 per second
//! (`bucket`); `x-ratelimit-reset-*` is the time until the bucket is full
//! again, written as OpenAI writes it ([`format_reset`]). Every bucket
//! lives behind one mutex, so a request's check-and-take across all its
//! subjects is atomic: concurrent requests never take more than a limit.
//! Idle (full) buckets are swept away once the map has doubled since the
//! last sweep, so memory follows the subjects active in the last minute.

mod bucket;
mod format;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::tenancy::model::RateLimits;
use bucket::Bucket;
pub use format::{ceil_millis, format_reset};

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Requests per minute (RPM).
    Requests,
    /// Tokens per minute (TPM).
    Tokens,
}

impl LimitKind {
    /// How OpenAI names the limit in its messages.
    fn describe(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests per min (RPM)",
            LimitKind::Tokens => "tokens per min (TPM)",
        }
    }
}

/// The refusal: which limit, how full, and when a retry can pass.
///
/// A request larger than the limit itself can never pass, however long it
/// waits: [`RateLimited::too_large`] says so (its `retry_after` is zero),
/// and [`RateLimited::message`] then gives OpenAI's "Request too large"
/// text; answer it without a `retry-after`, since retrying cannot help.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
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
    /// When enough will be free for this request, rounded up to a whole
    /// millisecond; zero when it never will ([`RateLimited::too_large`]).
    pub retry_after: Duration,
}

impl RateLimited {
    /// The request asks for more than the limit holds when full: no retry
    /// can pass, the request itself must shrink.
    pub fn too_large(&self) -> bool {
        self.requested > self.limit
    }

    /// `retry_after` in whole milliseconds (the `retry-after-ms` header).
    pub fn retry_after_ms(&self) -> u64 {
        u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX)
    }

    /// `retry_after` in whole seconds, rounded up (the `retry-after`
    /// header, which has no fractions).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ms().div_ceil(1_000)
    }

    /// The 429 message exactly as OpenAI words it, e.g. "Rate limit reached
    /// for {model} in organization {org} on tokens per min (TPM): Limit
    /// 200000, Used 162960, Requested 42288. Please try again in 1.574s.",
    /// or "Request too large for ..." when [`RateLimited::too_large`].
    pub fn message(&self, model: &str, org: &str) -> String {
        let what = self.kind.describe();
        if self.too_large() {
            let remedy = match self.kind {
                LimitKind::Tokens => {
                    "The input or output tokens must be reduced in order to run successfully."
                }
                LimitKind::Requests => "This limit admits no requests.",
            };
            return format!(
                "Request too large for {model} in organization {org} on {what}: \
                 Limit {}, Requested {}. {remedy}",
                self.limit, self.requested
            );
        }
        format!(
            "Rate limit reached for {model} in organization {org} on {what}: \
             Limit {}, Used {}, Requested {}. Please try again in {}.",
            self.limit,
            self.used,
            self.requested,
            format_reset(self.retry_after)
        )
    }

    /// The message without a model or organization (logs, `Display`).
    fn describe(&self) -> String {
        if self.too_large() {
            return format!(
                "request too large on {}: limit {}, requested {}",
                self.kind.describe(),
                self.limit,
                self.requested
            );
        }
        format!(
            "rate limit reached on {}: limit {}, used {}, requested {}; retry in {}",
            self.kind.describe(),
            self.limit,
            self.used,
            self.requested,
            format_reset(self.retry_after)
        )
    }
}

/// The `x-ratelimit-*` values sent on every response.
///
/// For each kind they are those of the most constraining applicable
/// subject: the one with the least remaining (on a tie, the one that takes
/// longest to reset), so a client that paces itself by them stays under
/// every limit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateLimitHeaders {
    /// (limit, remaining, reset) for requests, if any limit applies.
    pub requests: Option<(u64, u64, Duration)>,
    /// (limit, remaining, reset) for tokens, if any limit applies.
    pub tokens: Option<(u64, u64, Duration)>,
}

impl RateLimitHeaders {
    /// Write `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (the
    /// reset as OpenAI writes it: `1s`, `6m0s`, `12ms`); a kind with no
    /// applicable limit writes nothing.
    pub fn apply(&self, headers: &mut HeaderMap) {
        let kinds = [
            (
                self.requests,
                [
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                ],
            ),
            (
                self.tokens,
                [
                    "x-ratelimit-limit-tokens",
                    "x-ratelimit-remaining-tokens",
                    "x-ratelimit-reset-tokens",
                ],
            ),
        ];
        for (values, [limit_name, remaining_name, reset_name]) in kinds {
            let Some((limit, remaining, reset)) = values else {
                continue;
            };
            // The reset text is digits, `h`, `m`, `.` and `s`: always a
            // valid header value.
            let reset = HeaderValue::from_str(&format_reset(reset))
                .unwrap_or(HeaderValue::from_static("0s"));
            headers.insert(
                HeaderName::from_static(limit_name),
                HeaderValue::from(limit),
            );
            headers.insert(
                HeaderName::from_static(remaining_name),
                HeaderValue::from(remaining),
            );
            headers.insert(HeaderName::from_static(reset_name), reset);
        }
    }
}

/// One bucket's key.
type BucketKey = (Subject, LimitKind);

/// A limit a request is held to: which bucket, its limit, what it took.
#[derive(Clone, Debug)]
struct Charge {
    key: BucketKey,
    limit: u64,
    amount: u64,
}

/// The fewest buckets kept before idle ones are swept.
const MIN_SWEEP_AT: usize = 1_024;

/// Every bucket, behind the one mutex.
#[derive(Debug)]
struct Buckets {
    map: HashMap<BucketKey, Bucket>,
    /// Sweep idle buckets when the map grows past this.
    sweep_at: usize,
    /// The floor of `sweep_at`.
    min_sweep_at: usize,
}

impl Buckets {
    fn new(min_sweep_at: usize) -> Buckets {
        Buckets {
            map: HashMap::new(),
            sweep_at: min_sweep_at,
            min_sweep_at,
        }
    }

    /// The bucket, brought up to `now` under `limit`, or `None` if it is
    /// not held (then it is full).
    fn current(&mut self, key: &BucketKey, limit: u64, now: Instant) -> Option<&mut Bucket> {
        let bucket = self.map.get_mut(key)?;
        bucket.set_limit(limit);
        bucket.refill(now);
        Some(bucket)
    }

    /// Drop every full bucket; the next sweep waits until the map doubles,
    /// so sweeping costs O(1) per insert.
    fn sweep(&mut self, now: Instant) {
        self.map.retain(|_, bucket| {
            bucket.refill(now);
            !bucket.is_full()
        });
        self.sweep_at = self.min_sweep_at.max(self.map.len() * 2);
    }

    /// (limit, remaining, reset) of one held-to limit at `now`.
    fn state(&mut self, key: &BucketKey, limit: u64, now: Instant) -> (u64, u64, Duration) {
        match self.map.get_mut(key) {
            Some(bucket) => {
                bucket.refill(now);
                (bucket.limit(), bucket.remaining(), bucket.reset())
            }
            None => (limit, limit, Duration::ZERO),
        }
    }

    /// The headers for these limits at `now`: per kind, the subject with
    /// the least remaining, then the longest reset.
    fn headers<'a>(
        &mut self,
        limits: impl Iterator<Item = (&'a BucketKey, u64)>,
        now: Instant,
    ) -> RateLimitHeaders {
        let mut headers = RateLimitHeaders::default();
        for (key, limit) in limits {
            let state = self.state(key, limit, now);
            let slot = match key.1 {
                LimitKind::Requests => &mut headers.requests,
                LimitKind::Tokens => &mut headers.tokens,
            };
            let tighter = match slot {
                None => true,
                Some((_, remaining, reset)) => {
                    (state.1, std::cmp::Reverse(state.2)) < (*remaining, std::cmp::Reverse(*reset))
                }
            };
            if tighter {
                *slot = Some(state);
            }
        }
        headers
    }
}

/// The limits that `subjects` put on a request of `tokens` tokens: one
/// charge per (subject, kind) with a limit, the first mention of a
/// repeated subject winning.
fn charges(subjects: &[(Subject, RateLimits)], tokens: u64) -> Vec<Charge> {
    let mut charges: Vec<Charge> = Vec::with_capacity(subjects.len() * 2);
    for (subject, limits) in subjects {
        let kinds = [
            (LimitKind::Requests, limits.rpm, 1),
            (LimitKind::Tokens, limits.tpm, tokens),
        ];
        for (kind, limit, amount) in kinds {
            let Some(limit) = limit else { continue };
            let key = (subject.clone(), kind);
            if charges.iter().all(|c| c.key != key) {
                charges.push(Charge { key, limit, amount });
            }
        }
    }
    charges
}

/// The limiter: shared by every request of the server.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Arc<Mutex<Buckets>>,
}

impl Default for RateLimiter {
    fn default() -> RateLimiter {
        RateLimiter::with_sweep_at(MIN_SWEEP_AT)
    }
}

/// A granted request's hold on its limits; reconcile it at the end.
///
/// Dropped without [`Reservation::reconcile`], the charge stays as
/// reserved (the request is taken to have used it all).
#[derive(Debug)]
pub struct Reservation {
    buckets: Arc<Mutex<Buckets>>,
    charges: Vec<Charge>,
    tokens: u64,
}

fn lock(buckets: &Mutex<Buckets>) -> MutexGuard<'_, Buckets> {
    // The state stays consistent at every step, so a panic elsewhere while
    // holding the lock leaves nothing to repair.
    buckets.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// A limiter that sweeps idle buckets once it holds more than
    /// `min_sweep_at` (at least 1).
    fn with_sweep_at(min_sweep_at: usize) -> RateLimiter {
        RateLimiter {
            buckets: Arc::new(Mutex::new(Buckets::new(min_sweep_at.max(1)))),
        }
    }

    /// Reserve one request and `tokens` tokens from every subject's limits,
    /// all or nothing.
    pub fn acquire(
        &self,
        subjects: &[(Subject, RateLimits)],
        tokens: u64,
    ) -> Result<Reservation, RateLimited> {
        self.acquire_at(Instant::now(), subjects, tokens)
    }

    /// [`RateLimiter::acquire`] as of `now` (a clock the caller controls).
    ///
    /// Refused, nothing is taken, and the refusal is that of the limit
    /// needing the longest wait (one the request can never fit comes
    /// first).
    pub fn acquire_at(
        &self,
        now: Instant,
        subjects: &[(Subject, RateLimits)],
        tokens: u64,
    ) -> Result<Reservation, RateLimited> {
        let charges = charges(subjects, tokens);
        let mut buckets = lock(&self.buckets);

        let mut worst: Option<(Option<Duration>, RateLimited)> = None;
        for charge in &charges {
            let fresh;
            let bucket = match buckets.current(&charge.key, charge.limit, now) {
                Some(bucket) => &*bucket,
                None => {
                    fresh = Bucket::full(charge.limit, now);
                    &fresh
                }
            };
            let wait = bucket.wait_for(charge.amount);
            if wait == Some(Duration::ZERO) {
                continue;
            }
            let longer = match &worst {
                None => true,
                Some((None, _)) => false,
                Some((Some(worst), _)) => wait.is_none_or(|wait| wait > *worst),
            };
            if longer {
                let refusal = RateLimited {
                    subject: charge.key.0.clone(),
                    kind: charge.key.1,
                    limit: bucket.limit(),
                    used: bucket.used(),
                    requested: charge.amount,
                    retry_after: wait.map_or(Duration::ZERO, ceil_millis),
                };
                worst = Some((wait, refusal));
            }
        }
        if let Some((_, refusal)) = worst {
            return Err(refusal);
        }

        for charge in &charges {
            buckets
                .map
                .entry(charge.key.clone())
                .or_insert_with(|| Bucket::full(charge.limit, now))
                .take(charge.amount);
        }
        if buckets.map.len() > buckets.sweep_at {
            buckets.sweep(now);
        }
        drop(buckets);

        Ok(Reservation {
            buckets: Arc::clone(&self.buckets),
            charges,
            tokens,
        })
    }

    /// The headers for `subjects` as they stand, taking nothing: for a
    /// response that holds no [`Reservation`] (a refusal).
    pub fn headers(&self, subjects: &[(Subject, RateLimits)]) -> RateLimitHeaders {
        self.headers_at(Instant::now(), subjects)
    }

    /// [`RateLimiter::headers`] as of `now`.
    pub fn headers_at(&self, now: Instant, subjects: &[(Subject, RateLimits)]) -> RateLimitHeaders {
        let charges = charges(subjects, 0);
        let mut buckets = lock(&self.buckets);
        for charge in &charges {
            buckets.current(&charge.key, charge.limit, now);
        }
        buckets.headers(charges.iter().map(|c| (&c.key, c.limit)), now)
    }

    /// How many buckets are held now (idle ones are swept as the map
    /// grows): for metrics and tests.
    pub fn tracked_buckets(&self) -> usize {
        lock(&self.buckets).map.len()
    }
}

impl Reservation {
    /// The headers to send with this request's response.
    pub fn headers(&self) -> RateLimitHeaders {
        self.headers_at(Instant::now())
    }

    /// [`Reservation::headers`] as of `now`.
    pub fn headers_at(&self, now: Instant) -> RateLimitHeaders {
        let mut buckets = lock(&self.buckets);
        buckets.headers(self.charges.iter().map(|c| (&c.key, c.limit)), now)
    }

    /// The tokens reserved.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// The request used `actual` tokens: give back (or charge) the
    /// difference from what was reserved.
    pub fn reconcile(self, actual: u64) {
        self.reconcile_at(Instant::now(), actual)
    }

    /// [`Reservation::reconcile`] as of `now`. Tokens given back never
    /// fill a bucket past its limit; an overrun may leave it below zero,
    /// to be refilled like any other use.
    pub fn reconcile_at(self, now: Instant, actual: u64) {
        if actual == self.tokens {
            return;
        }
        let mut buckets = lock(&self.buckets);
        for charge in self.charges.iter().filter(|c| c.key.1 == LimitKind::Tokens) {
            if actual < self.tokens {
                // A bucket swept away was full: nothing to give back to.
                if let Some(bucket) = buckets.map.get_mut(&charge.key) {
                    bucket.refill(now);
                    bucket.give(self.tokens - actual);
                }
            } else {
                let bucket = buckets
                    .map
                    .entry(charge.key.clone())
                    .or_insert_with(|| Bucket::full(charge.limit, now));
                bucket.refill(now);
                bucket.take(actual - self.tokens);
            }
        }
    }
}

#[cfg(test)]
mod tests;
