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
    /// Stopped early (Ctrl-C) and how far: `drain` (requests in flight
    /// finished) or `abort` (they were dropped, unrecorded). The last run
    /// covers what finished; later levels did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<crate::interrupt::StopLevel>,
}

/// How a finished `weir load` ends for the shell, so that a script or a CI job
/// can gate on it (as k6 does on its thresholds); the report is written
/// whatever the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Something was measured and no single run missed its SLO: exit 0.
    Measured,
    /// Not one request succeeded (server down, wrong model, every request
    /// refused): there is nothing to measure. Exit 3.
    NothingSucceeded,
    /// A single run with `--slo` missed it. Exit 4. (A sweep or a search
    /// reports its levels' verdicts instead: missing at some level is what
    /// they are for.)
    SloMissed,
    /// Stopped by Ctrl-C: exit 130, as a shell reports an interrupted
    /// command.
    Interrupted,
}

impl Verdict {
    /// The process exit status for this verdict.
    pub fn exit_status(self) -> u8 {
        match self {
            Verdict::Measured => 0,
            Verdict::NothingSucceeded => 3,
            Verdict::SloMissed => 4,
            Verdict::Interrupted => 130,
        }
    }
}

impl Report {
    /// The verdict: see [`Verdict`].
    pub fn verdict(&self) -> Verdict {
        if self.interrupted.is_some() {
            return Verdict::Interrupted;
        }
        if self.runs.iter().all(|r| r.requests_ok == 0) {
            return Verdict::NothingSucceeded;
        }
        match (self.runs.as_slice(), &self.search) {
            ([run], None) if run.goodput.as_ref().is_some_and(|g| !g.met) => Verdict::SloMissed,
            _ => Verdict::Measured,
        }
    }
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

/// A plausible report to test the summary, HTML and verdict against.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use serde_json::json;

    /// One run at `sessions`, its latencies scaled by `scale`.
    pub fn run(label: &str, sessions: usize, scale: f64) -> RunReport {
        let summary = |p50: f64| Summary {
            count: 100,
            mean: p50 * 1.1,
            p50,
            p90: p50 * 2.0,
            p99: p50 * 4.0,
            max: p50 * 6.0,
        };
        RunReport {
            label: label.to_string(),
            sessions: Some(sessions),
            rate: None,
            duration_s: 60.0,
            warmup_s: 10.0,
            requests_ok: 1234,
            errors: vec![],
            sessions_completed: 40,
            ttft_ms: summary(200.0 * scale),
            itl_ms: summary(20.0 * scale),
            tpot_ms: summary(21.0 * scale),
            e2e_ms: summary(3000.0 * scale),
            session_s: summary(60.0),
            stream_tok_s: summary(45.0 / scale),
            itl_source: "usage".to_string(),
            prompt_tokens: 1000,
            cached_tokens: 800,
            output_tokens: 500,
            cache_hit_share: 0.8,
            output_tok_s: 100.0 * sessions as f64 / scale,
            requests_per_s: 2.0,
            goodput: None,
            by_turn: (1..=5)
                .map(|turn| TurnStats {
                    turn,
                    count: 10,
                    ttft_p50_ms: 100.0 * turn as f64,
                    ttft_p90_ms: 180.0 * turn as f64,
                    prompt_tokens_mean: 2000.0 * turn as f64,
                    cache_hit_share: 1.0 - 1.0 / turn as f64,
                })
                .collect(),
            timeline: (0..20)
                .map(|t| TimelinePoint {
                    t_s: t as f64,
                    output_tokens: 100 * t,
                    requests: 2,
                    errors: 0,
                    active_sessions: sessions as u64,
                })
                .collect(),
            ttft_hist: vec![
                (50.0, 5),
                (100.0, 20),
                (200.0, 50),
                (500.0, 20),
                (1000.0, 5),
            ],
            itl_hist: vec![(5.0, 100), (10.0, 400), (20.0, 300), (50.0, 50)],
            client: ClientHealth {
                cpu_cores_used: 0.4,
                cores: 16,
                loop_lag_p99_ms: 1.5,
                loop_lag_max_ms: 4.0,
                cpu_us_per_token: 12.0,
                client_bound: false,
            },
        }
    }

    /// A report of these runs.
    pub fn report(runs: Vec<RunReport>) -> Report {
        Report {
            tool: "weir load".to_string(),
            version: "0.1.0".to_string(),
            started_at: "2026-05-01T12:00:00Z".to_string(),
            config: json!({"url": "http://localhost:8080", "sessions": [1, 2, 4]}),
            runs,
            search: None,
            interrupted: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{report, run};
    use super::*;

    fn goodput(met: bool) -> Option<Goodput> {
        Some(Goodput {
            slo: "ttft=1s".to_string(),
            requests_per_s: 1.0,
            request_share: if met { 1.0 } else { 0.5 },
            session_share: if met { 1.0 } else { 0.5 },
            met,
        })
    }

    #[test]
    fn verdict_gates_on_successes_and_a_single_runs_slo() {
        let mut ok = run("1 session", 1, 1.0);
        assert_eq!(report(vec![ok.clone()]).verdict(), Verdict::Measured);
        ok.goodput = goodput(true);
        assert_eq!(report(vec![ok.clone()]).verdict(), Verdict::Measured);

        let mut missed = ok.clone();
        missed.goodput = goodput(false);
        assert_eq!(report(vec![missed.clone()]).verdict(), Verdict::SloMissed);
        // A sweep's missed level is a finding, not a failure; so is a search's.
        assert_eq!(
            report(vec![ok.clone(), missed.clone()]).verdict(),
            Verdict::Measured
        );
        let mut search = report(vec![missed.clone()]);
        search.search = Some(SearchReport {
            slo: "ttft=1s".to_string(),
            steps: vec![(1, false)],
            max_sessions: 0,
        });
        assert_eq!(search.verdict(), Verdict::Measured);

        let mut failed = missed;
        failed.requests_ok = 0;
        assert_eq!(
            report(vec![failed.clone()]).verdict(),
            Verdict::NothingSucceeded
        );
        assert_eq!(report(vec![failed, ok]).verdict(), Verdict::Measured);
        let codes = [
            Verdict::Measured,
            Verdict::NothingSucceeded,
            Verdict::SloMissed,
        ]
        .map(Verdict::exit_status);
        assert_eq!(codes, [0, 3, 4]);
    }
}
