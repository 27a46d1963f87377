//! One token bucket in exact integer arithmetic: capacity = the limit per
//! minute, refilled continuously at limit / 60 per second.
//!
//! The level is kept in units of 1/60,000,000,000 of a token (one token is
//! as many units as a minute has nanoseconds), so a nanosecond of refill
//! adds exactly `limit` units and no rounding ever drifts.

use std::time::{Duration, Instant};

/// Units per token (nanoseconds per minute).
const UNITS_PER_TOKEN: i128 = 60_000_000_000;

/// A bucket that never refills (a limit of 0) and is short of what a
/// request needs gives this wait rather than dividing by zero.
const NEVER_REFILLS_WAIT: Duration = Duration::from_secs(60);

/// The state of one (subject, kind) limit.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bucket {
    /// The limit per minute (also the capacity).
    limit: u64,
    /// What is available, in units; below zero after a request used more
    /// than it reserved.
    level: i128,
    /// When `level` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A full bucket (a subject that has not been seen lately).
    pub(super) fn full(limit: u64, now: Instant) -> Bucket {
        Bucket {
            limit,
            level: units(limit),
            at: now,
        }
    }

    /// The limit per minute.
    pub(super) fn limit(&self) -> u64 {
        self.limit
    }

    fn capacity(&self) -> i128 {
        units(self.limit)
    }

    /// Bring the level up to `now`. A `now` earlier than the last update
    /// (another thread read the clock first) refills nothing.
    pub(super) fn refill(&mut self, now: Instant) {
        if now <= self.at {
            return;
        }
        let elapsed = i128::try_from(now.duration_since(self.at).as_nanos()).unwrap_or(i128::MAX);
        if self.level < self.capacity() {
            let added = elapsed.saturating_mul(i128::from(self.limit));
            self.level = self.level.saturating_add(added).min(self.capacity());
        }
        self.at = now;
    }

    /// Adopt a changed limit, keeping what has been used (so raising a
    /// limit frees the difference at once, lowering it takes it away).
    pub(super) fn set_limit(&mut self, limit: u64) {
        if limit != self.limit {
            let used = self.capacity() - self.level;
            self.limit = limit;
            self.level = self.capacity() - used;
        }
    }

    /// Whole tokens available now (never below zero).
    pub(super) fn remaining(&self) -> u64 {
        whole_tokens_floor(self.level.max(0))
    }

    /// Tokens not available now: used or reserved and not yet refilled,
    /// rounded up (above the limit after an overrun).
    pub(super) fn used(&self) -> u64 {
        let missing = (self.capacity() - self.level).max(0);
        whole_tokens_floor(missing + UNITS_PER_TOKEN - 1)
    }

    /// How long until the bucket holds `need` tokens: zero if it does now,
    /// `None` if it never can (`need` is above the capacity).
    pub(super) fn wait_for(&self, need: u64) -> Option<Duration> {
        if need > self.limit {
            return None;
        }
        Some(self.wait_for_units(units(need)))
    }

    /// How long until the bucket is full again (OpenAI's `reset`).
    pub(super) fn reset(&self) -> Duration {
        self.wait_for_units(self.capacity())
    }

    fn wait_for_units(&self, target: i128) -> Duration {
        let missing = target - self.level;
        if missing <= 0 {
            return Duration::ZERO;
        }
        if self.limit == 0 {
            return NEVER_REFILLS_WAIT;
        }
        let limit = i128::from(self.limit);
        // Rounded up: both are positive.
        let nanos = (missing + limit - 1) / limit;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Take `n` tokens (the level may go below zero).
    pub(super) fn take(&mut self, n: u64) {
        self.level = self.level.saturating_sub(units(n));
    }

    /// Give back `n` tokens, never above the capacity.
    pub(super) fn give(&mut self, n: u64) {
        self.level = self.level.saturating_add(units(n)).min(self.capacity());
    }

    /// Full: an idle bucket, as good as no bucket at all.
    pub(super) fn is_full(&self) -> bool {
        self.level >= self.capacity()
    }
}

fn units(tokens: u64) -> i128 {
    i128::from(tokens) * UNITS_PER_TOKEN
}

fn whole_tokens_floor(units: i128) -> u64 {
    u64::try_from(units / UNITS_PER_TOKEN).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn refills_continuously_at_the_limit_per_minute() {
        let t0 = Instant::now();
        let mut b = Bucket::full(60, t0);
        b.take(60);
        assert_eq!((b.remaining(), b.used()), (0, 60));
        assert_eq!(b.wait_for(1), Some(secs(1)));
        assert_eq!(b.reset(), secs(60));

        b.refill(t0 + Duration::from_millis(2_500));
        assert_eq!((b.remaining(), b.used()), (2, 58));
        assert_eq!(b.wait_for(3), Some(Duration::from_millis(500)));
        assert_eq!(b.wait_for(2), Some(Duration::ZERO));
        assert_eq!(b.reset(), Duration::from_millis(57_500));

        // Never past the capacity, however long it idles.
        b.refill(t0 + secs(3_600));
        assert!(b.is_full());
        assert_eq!((b.remaining(), b.used()), (60, 0));
        assert_eq!(b.reset(), Duration::ZERO);
    }

    #[test]
    fn odd_rates_are_exact() {
        let t0 = Instant::now();
        let mut b = Bucket::full(7, t0);
        b.take(7);
        // One request every 60/7 s = 8.571428571428... s, rounded up to the ns.
        assert_eq!(b.wait_for(1), Some(Duration::from_nanos(8_571_428_572)));
        // Seven small steps add up to exactly one minute's refill.
        for i in 1..=7 {
            b.refill(t0 + Duration::from_nanos(8_571_428_571 * i));
        }
        b.refill(t0 + secs(60));
        assert!(b.is_full());
    }

    #[test]
    fn an_earlier_clock_reading_refills_nothing() {
        let t0 = Instant::now();
        let mut b = Bucket::full(60, t0 + secs(10));
        b.take(10);
        b.refill(t0);
        assert_eq!(b.remaining(), 50);
        b.refill(t0 + secs(11));
        assert_eq!(b.remaining(), 51);
    }

    #[test]
    fn overrun_goes_below_zero_and_refills_from_there() {
        let t0 = Instant::now();
        let mut b = Bucket::full(60, t0);
        b.take(90);
        assert_eq!((b.remaining(), b.used()), (0, 90));
        assert_eq!(b.wait_for(1), Some(secs(31)));
        b.give(1_000);
        assert!(b.is_full());
        assert_eq!(b.remaining(), 60);
    }

    #[test]
    fn needs_above_the_capacity_never_pass() {
        let b = Bucket::full(100, Instant::now());
        assert_eq!(b.wait_for(100), Some(Duration::ZERO));
        assert_eq!(b.wait_for(101), None);
        let zero = Bucket::full(0, Instant::now());
        assert_eq!(zero.wait_for(1), None);
        assert_eq!(zero.wait_for(0), Some(Duration::ZERO));
    }

    #[test]
    fn a_changed_limit_keeps_what_was_used() {
        let t0 = Instant::now();
        let mut b = Bucket::full(10, t0);
        b.take(10);
        b.set_limit(100);
        assert_eq!((b.limit(), b.remaining(), b.used()), (100, 90, 10));
        b.set_limit(5);
        assert_eq!((b.remaining(), b.used()), (0, 10));
        assert_eq!(b.wait_for(1), Some(secs(72)));
    }
}
