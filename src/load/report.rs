//! The run report: what `weir load` measured, as one serde type. The same
//! value is printed as a terminal summary, written as JSON (`--output`) and
//! drawn as HTML (`--html`, see [`super::html`]); `weir load compare` reads two
//! of them back.

use serde::{Deserialize, Serialize};

/// A whole `weir load` invocation: one run, a sweep, or a search.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Always `"weir load"`.
    pub tool: String,
    /// weir's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// The full configuration (every flag after defaults), so a run can be
    /// repeated: `weir load` with these values and the same seed sends the
    /// same requests.
    pub config: serde_json::Value,
    /// One entry per load level: a single run has one, a sweep or a search
    /// one per step, in the order they ran.
    pub runs: Vec<RunReport>,
    /// Present for `--find-max-sessions`.
    pub search: Option<SearchReport>,
}

/// What one load level (N concurrent sessions, or an arrival rate) gave.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// Human label: `"16 sessions"`, `"0.5 sessions/s"`, `"trace"`.
    pub label: String,
    /// Closed loop: concurrent sessions. Open loop / trace: None.
    pub sessions: Option<usize>,
    /// Open loop: session arrival rate per second.
    pub rate: Option<f64>,
    /// Seconds measured (after warm-up).
    pub duration_s: f64,
    /// Seconds of warm-up excluded from the statistics.
    pub warmup_s: f64,
    /// Requests that completed with a full stream.
    pub requests_ok: u64,
    /// Failed requests by kind (`"http 429"`, `"connect"`, `"timeout"`,
    /// `"stream"`, `"incomplete"`), with a sample message each.
    pub errors: Vec<ErrorCount>,
    /// Sessions that finished inside the measured window.
    pub sessions_completed: u64,
    /// Time to first token (ms), from the intended send time.
    pub ttft_ms: Summary,
    /// Inter-token latency per token (ms).
    pub itl_ms: Summary,
    /// Time per output token after the first, per request (ms).
    pub tpot_ms: Summary,
    /// Request latency, intended send to last byte (ms).
    pub e2e_ms: Summary,
    /// Session duration, first intended send to last byte, think time included (s).
    pub session_s: Summary,
    /// Output tokens per second of each stream (first to last token).
    pub stream_tok_s: Summary,
    /// Where ITL token counts came from: `"usage"` (server's running usage,
    /// exact), `"tokenizer"` (counted with `--tokenizer`), `"chunks"` (one
    /// token per content chunk: an estimate).
    pub itl_source: String,
    /// Prompt tokens (server-reported usage), summed.
    pub prompt_tokens: u64,
    /// Cached prompt tokens as the server reported them (chat:
    /// `usage.prompt_tokens_details.cached_tokens`; Responses:
    /// `usage.input_tokens_details.cached_tokens`), summed.
    pub cached_tokens: u64,
    /// Output tokens (server-reported usage), summed.
    pub output_tokens: u64,
    /// `cached_tokens / prompt_tokens`.
    pub cache_hit_share: f64,
    /// Output tokens per second, all streams together.
    pub output_tok_s: f64,
    /// Completed requests per second.
    pub requests_per_s: f64,
    /// Goodput under `--slo`, when one is given.
    pub goodput: Option<Goodput>,
    /// Per turn number (1 = a session's first request; 0 = the profile's title
    /// request, sent beside turn 1): the cost of a
    /// growing context and the win from prefix caching.
    pub by_turn: Vec<TurnStats>,
    /// One point per second of the run.
    pub timeline: Vec<TimelinePoint>,
    /// TTFT distribution as (upper bound ms, count) buckets.
    pub ttft_hist: Vec<(f64, u64)>,
    /// ITL distribution as (upper bound ms, count) buckets.
    pub itl_hist: Vec<(f64, u64)>,
    /// The load generator's own health during this run.
    pub client: ClientHealth,
}

/// Percentiles of one latency or rate.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// Failed requests of one kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorCount {
    /// `"http 429"`, `"connect"`, `"timeout"`, `"stream"`, `"incomplete"`.
    pub kind: String,
    /// How many.
    pub count: u64,
    /// One message of this kind, as the server or transport said it.
    pub sample: String,
}

/// Goodput: the share of work that met the service-level objective.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Goodput {
    /// The objective as given (`ttft=2s,itl=100ms`).
    pub slo: String,
    /// Requests whose TTFT and mean ITL met the objective, per second.
    pub requests_per_s: f64,
    /// Share of requests that met it.
    pub request_share: f64,
    /// Share of completed sessions all of whose requests met it (and whose
    /// duration met `session=`, if given).
    pub session_share: f64,
    /// Whether the run as a whole met the objective (its percentile of TTFT,
    /// ITL and session time within bounds, and no errors).
    pub met: bool,
}

/// Statistics of the requests with one turn number.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TurnStats {
    /// 1-based request number within its session.
    pub turn: usize,
    /// Requests.
    pub count: u64,
    /// Median TTFT (ms).
    pub ttft_p50_ms: f64,
    /// 90th-percentile TTFT (ms).
    pub ttft_p90_ms: f64,
    /// Mean prompt tokens.
    pub prompt_tokens_mean: f64,
    /// Cached share of prompt tokens.
    pub cache_hit_share: f64,
}

/// One second of the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the run started (warm-up included).
    pub t_s: f64,
    /// Output tokens received in this second.
    pub output_tokens: u64,
    /// Requests completed in this second.
    pub requests: u64,
    /// Requests failed in this second.
    pub errors: u64,
    /// Sessions active (sending, streaming or thinking) at the end of the second.
    pub active_sessions: u64,
}

/// Was the client, not the server, the bottleneck?
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientHealth {
    /// Process CPU time / wall time (1.0 = one core busy).
    pub cpu_cores_used: f64,
    /// Cores available to the process.
    pub cores: usize,
    /// Event-loop lag: how late a 10 ms timer fired, p99 (ms).
    pub loop_lag_p99_ms: f64,
    /// Largest event-loop lag (ms).
    pub loop_lag_max_ms: f64,
    /// Client CPU microseconds per streamed output token.
    pub cpu_us_per_token: f64,
    /// True when the numbers above say the client may have limited the run;
    /// the report then says so beside the figures.
    pub client_bound: bool,
}

/// The `--find-max-sessions` search.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchReport {
    /// The objective searched under.
    pub slo: String,
    /// Steps in the order run: (sessions, met).
    pub steps: Vec<(usize, bool)>,
    /// Largest session count that met the objective (0 when even one did not).
    pub max_sessions: usize,
}
