//! The limits that keep one server up whatever its clients do: how many
//! requests may wait, for how long, how much work start-up of queued
//! requests may spend at once, and how long a stream may go unread.
//! `weir serve` fills them from its flags; tests set them directly.

use std::time::Duration;

/// Most tokens the choices of one request may ask for together (`n` x
/// `max_tokens`, after `max_tokens` is clamped to the context's room);
/// beyond it a request with `n` > 1 is a 400 naming `n`. (One choice is
/// bounded by the context alone.)
pub const MAX_TOTAL_TOKENS: usize = 1 << 20;

/// Admission and backpressure limits of one engine (one model).
#[derive(Clone, Debug, PartialEq)]
pub struct ServingLimits {
    /// Requests accepted but not yet running (rendering, tokenizing or in
    /// the scheduler's waiting queue); one more is refused with 503
    /// (`--max-waiting-requests`).
    pub max_waiting_requests: usize,
    /// A request still waiting after this long is refused with 503
    /// (`--queue-timeout`); `None` waits for ever.
    pub queue_timeout: Option<Duration>,
    /// Requests rendered and tokenized at the same time; the rest wait
    /// (and count as waiting) without spending CPU.
    pub max_concurrent_tokenizations: usize,
    /// Events a request's stream may hold unread before its stream actors
    /// wait (shared by its choices). While they wait, the scheduler's token
    /// ids queue in their mailboxes, a few bytes each against an event's
    /// hundreds (its text and logprobs), so a small buffer costs nothing:
    /// one body write takes up to 64 events anyway.
    pub stream_buffer_events: usize,
    /// A stream whose client reads nothing for this long is disconnected
    /// and its sequence freed (`--stream-stall-timeout`).
    pub stream_stall_timeout: Duration,
}

impl Default for ServingLimits {
    fn default() -> Self {
        Self {
            max_waiting_requests: 1024,
            queue_timeout: Some(Duration::from_secs(600)),
            max_concurrent_tokenizations: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            stream_buffer_events: 64,
            stream_stall_timeout: Duration::from_secs(60),
        }
    }
}
