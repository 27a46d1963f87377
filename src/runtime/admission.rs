//! Admission control: how many requests one engine has accepted but not yet
//! started, and the refusal beyond that.
//!
//! A request takes a [`QueueTicket`] before any template, tokenizer or
//! grammar work is spent on it (one compare-and-increment); over
//! `max_waiting_requests` it is refused at once with a [`QueueFull`] that
//! says when to come back. The ticket rides with the request into the
//! scheduler and is given back when the request's first sequence is first
//! scheduled ([`QueueTicket::started`]), or dropped however else the
//! request ends, so the count can never leak. The ticket also carries the
//! request's arrival, from which the queue timeout is measured.
//!
//! The retry hint is honest: the time the requests already waiting need to
//! start at the rate requests have started lately, between 1 and 60 s (the
//! OpenAI and AI SDKs ignore `retry-after` beyond 60 s).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::runtime::limits::ServingLimits;

/// The shortest retry hint: sooner would only make refused clients spin.
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The longest retry hint: the OpenAI and AI SDKs ignore longer ones.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The length of one bucket of the start-rate estimate; the estimate
/// covers the current bucket and the one before it.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// The waiting room of one engine: the bounded count of requests accepted
/// but not yet running, the permits for tokenization work, and the recent
/// start rate behind the retry hint.
#[derive(Debug)]
pub struct Admission {
    /// Most requests that may wait (`max_waiting_requests`).
    limit: usize,
    /// How long a request may wait before it is refused (`queue_timeout`).
    queue_timeout: Option<Duration>,
    /// Tickets out now.
    waiting: AtomicUsize,
    /// When recent requests started.
    starts: Mutex<StartRate>,
    /// Permits to render, tokenize and compile a request's constraint.
    tokenizations: Arc<Semaphore>,
}

/// A refusal: the waiting room is full.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{waiting} requests are already waiting, the most this server queues")]
pub struct QueueFull {
    /// Requests waiting when this one came.
    pub waiting: usize,
    /// When a retry has a fair chance.
    pub retry_after: Duration,
}

impl Admission {
    /// The waiting room for these limits.
    pub fn new(limits: &ServingLimits) -> Arc<Self> {
        Arc::new(Self {
            limit: limits.max_waiting_requests,
            queue_timeout: limits.queue_timeout,
            waiting: AtomicUsize::new(0),
            starts: Mutex::new(StartRate::default()),
            tokenizations: Arc::new(Semaphore::new(limits.max_concurrent_tokenizations.max(1))),
        })
    }

    /// Take a place in the waiting room, or be refused when it is full.
    /// Costs one atomic compare-and-increment, whatever the load.
    pub fn try_enter(self: &Arc<Self>) -> Result<QueueTicket, QueueFull> {
        let limit = self.limit;
        match self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            }) {
            Ok(_) => Ok(QueueTicket {
                admission: self.clone(),
                arrived: Instant::now(),
            }),
            Err(waiting) => Err(QueueFull {
                waiting,
                retry_after: self.retry_after(),
            }),
        }
    }

    /// Requests accepted and not yet running.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// The most requests that may wait.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How long a request may wait before it is refused.
    pub fn queue_timeout(&self) -> Option<Duration> {
        self.queue_timeout
    }

    /// The permits that bound template, tokenizer and grammar work; a
    /// request waits for one while holding its ticket.
    pub fn tokenizations(&self) -> &Arc<Semaphore> {
        &self.tokenizations
    }

    /// When a refused client should come back: the time the requests
    /// waiting now need to start at the recent start rate, 1 s when no
    /// request has started yet, always between [`MIN_RETRY_AFTER`] and
    /// [`MAX_RETRY_AFTER`].
    pub fn retry_after(&self) -> Duration {
        let per_start = self.lock_starts().per_start(Instant::now());
        retry_hint(per_start, self.waiting())
    }

    fn lock_starts(&self) -> std::sync::MutexGuard<'_, StartRate> {
        // The rate is a hint: a panic elsewhere while it was held leaves
        // counts that are still usable.
        self.starts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The retry hint for `waiting` requests when one starts every `per_start`.
fn retry_hint(per_start: Option<Duration>, waiting: usize) -> Duration {
    match per_start {
        None => MIN_RETRY_AFTER,
        Some(p) => p
            .saturating_mul(u32::try_from(waiting.max(1)).unwrap_or(u32::MAX))
            .clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER),
    }
}

/// One request's place in the waiting room. Dropping it gives the place
/// back; [`QueueTicket::started`] gives it back and counts the start
/// towards the retry hint.
#[derive(Debug)]
pub struct QueueTicket {
    admission: Arc<Admission>,
    arrived: Instant,
}

impl QueueTicket {
    /// When the request was admitted.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }

    /// How long the request has waited.
    pub fn waited(&self) -> Duration {
        self.arrived.elapsed()
    }

    /// The time left before the queue timeout at `now`; `None` when the
    /// engine has no queue timeout, zero once it has passed.
    pub fn time_left(&self, now: Instant) -> Option<Duration> {
        let timeout = self.admission.queue_timeout?;
        Some(timeout.saturating_sub(now.saturating_duration_since(self.arrived)))
    }

    /// True when the request has waited past the queue timeout at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.time_left(now).is_some_and(|left| left.is_zero())
    }

    /// The retry hint to give this request's client if it is refused.
    pub fn retry_after(&self) -> Duration {
        self.admission.retry_after()
    }

    /// The request started running: its place is given back and the start
    /// feeds the retry hint.
    pub fn started(self) {
        self.admission.lock_starts().record(Instant::now());
    }
}

impl Drop for QueueTicket {
    fn drop(&mut self) {
        self.admission.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Starts counted in two consecutive buckets of [`RATE_WINDOW`]: enough to
/// say how often requests start now, forgetting the distant past.
#[derive(Debug, Default)]
struct StartRate {
    /// When the current bucket began (`None` before the first start).
    bucket_start: Option<Instant>,
    /// Since when the two buckets' counts run (the previous bucket's
    /// start, or the first start when that came later).
    counted_since: Option<Instant>,
    /// Starts in the current bucket.
    current: u32,
    /// Starts in the bucket before it.
    previous: u32,
    /// The latest start.
    last: Option<Instant>,
}

impl StartRate {
    /// Move the buckets on to `now`.
    fn roll(&mut self, now: Instant) {
        let Some(start) = self.bucket_start else {
            return;
        };
        let age = now.saturating_duration_since(start);
        if age >= 2 * RATE_WINDOW {
            self.previous = 0;
            self.current = 0;
            self.bucket_start = Some(now);
            self.counted_since = Some(now);
        } else if age >= RATE_WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.bucket_start = Some(start + RATE_WINDOW);
            self.counted_since = Some(self.counted_since.map_or(start, |s| s.max(start)));
        }
    }

    /// A request started at `now`.
    fn record(&mut self, now: Instant) {
        if self.bucket_start.is_none() {
            self.bucket_start = Some(now);
            self.counted_since = Some(now);
        }
        self.roll(now);
        self.current = self.current.saturating_add(1);
        self.last = Some(now);
    }

    /// The time between starts lately; `None` before any start. When none
    /// started in the window, the time since the last one (a start takes
    /// at least that long now).
    fn per_start(&mut self, now: Instant) -> Option<Duration> {
        self.roll(now);
        let last = self.last?;
        let starts = self.previous + self.current;
        if starts == 0 {
            return Some(now.saturating_duration_since(last));
        }
        let since = self.counted_since.unwrap_or(now);
        Some(now.saturating_duration_since(since) / starts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_waiting_requests: usize, queue_timeout: Option<Duration>) -> ServingLimits {
        ServingLimits {
            max_waiting_requests,
            queue_timeout,
            ..ServingLimits::default()
        }
    }

    #[test]
    fn the_waiting_room_holds_exactly_its_limit() {
        let room = Admission::new(&limits(3, None));
        let tickets: Vec<_> = (0..3).map(|_| room.try_enter().expect("room")).collect();
        assert_eq!(room.waiting(), 3);
        let refused = room.try_enter().expect_err("full");
        assert_eq!(refused.waiting, 3);
        assert_eq!(refused.retry_after, MIN_RETRY_AFTER, "no start seen yet");
        assert_eq!(room.waiting(), 3, "a refusal takes no place");
        drop(tickets);
        assert_eq!(room.waiting(), 0);
        assert!(room.try_enter().is_ok());
    }

    #[test]
    fn a_started_or_dropped_ticket_gives_its_place_back_once() {
        let room = Admission::new(&limits(2, None));
        let a = room.try_enter().unwrap();
        let b = room.try_enter().unwrap();
        a.started();
        assert_eq!(room.waiting(), 1);
        drop(b);
        assert_eq!(room.waiting(), 0);
        let _c = room.try_enter().unwrap();
        let _d = room.try_enter().unwrap();
        assert!(room.try_enter().is_err());
    }

    #[test]
    fn concurrent_entries_never_exceed_the_limit() {
        let room = Admission::new(&limits(16, None));
        let held = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let room = room.clone();
                let held = held.clone();
                std::thread::spawn(move || {
                    let mut refused = 0;
                    for _ in 0..1000 {
                        match room.try_enter() {
                            Ok(t) => held.lock().unwrap().push(t),
                            Err(_) => refused += 1,
                        }
                        assert!(room.waiting() <= 16);
                    }
                    refused
                })
            })
            .collect();
        let refused: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(held.lock().unwrap().len(), 16);
        assert_eq!(refused, 8 * 1000 - 16);
        held.lock().unwrap().clear();
        assert_eq!(room.waiting(), 0);
    }

    #[test]
    fn a_ticket_expires_after_the_queue_timeout() {
        let room = Admission::new(&limits(4, Some(Duration::from_millis(50))));
        let t = room.try_enter().unwrap();
        let at = t.arrived();
        assert!(!t.expired(at));
        assert_eq!(t.time_left(at), Some(Duration::from_millis(50)));
        assert!(!t.expired(at + Duration::from_millis(49)));
        assert!(t.expired(at + Duration::from_millis(50)));
        assert_eq!(
            t.time_left(at + Duration::from_secs(9)),
            Some(Duration::ZERO)
        );

        let room = Admission::new(&limits(4, None));
        let t = room.try_enter().unwrap();
        assert!(!t.expired(t.arrived() + Duration::from_secs(100_000)));
        assert_eq!(t.time_left(t.arrived()), None);
    }

    #[test]
    fn the_start_rate_follows_recent_starts() {
        let t0 = Instant::now();
        let mut rate = StartRate::default();
        assert_eq!(rate.per_start(t0), None, "unknown before any start");
        // 20 starts in one second: one every 50 ms, seen over the window.
        for i in 0..20 {
            rate.record(t0 + Duration::from_millis(50 * i));
        }
        let p = rate.per_start(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(p, Duration::from_millis(50));
        // Ten more, one every 200 ms, in the next bucket: 30 starts in 3 s.
        for i in 1..=10 {
            rate.record(t0 + Duration::from_millis(1000 + 200 * i));
        }
        let p = rate.per_start(t0 + Duration::from_secs(3)).unwrap();
        assert_eq!(p, Duration::from_millis(100));
        // Later the first second's burst is forgotten: 6 starts since 2 s
        // (the bucket from 2 s to 4 s, and this one), none since 3 s.
        let p = rate.per_start(t0 + Duration::from_millis(4500)).unwrap();
        assert_eq!(p, Duration::from_millis(2500) / 6);
        // Long after, with no start since: the time since the last one
        // (at 3 s), a start takes at least that long now.
        let p = rate.per_start(t0 + Duration::from_secs(30)).unwrap();
        assert_eq!(p, Duration::from_secs(27));
    }

    #[test]
    fn the_retry_hint_is_the_backlog_at_the_start_rate_within_bounds() {
        assert_eq!(retry_hint(None, 1000), MIN_RETRY_AFTER);
        assert_eq!(
            retry_hint(Some(Duration::from_millis(100)), 64),
            Duration::from_millis(6400)
        );
        assert_eq!(
            retry_hint(Some(Duration::from_millis(1)), 64),
            MIN_RETRY_AFTER
        );
        assert_eq!(
            retry_hint(Some(Duration::from_secs(5)), 64),
            MAX_RETRY_AFTER
        );
        assert_eq!(retry_hint(Some(Duration::MAX), usize::MAX), MAX_RETRY_AFTER);
    }
}
