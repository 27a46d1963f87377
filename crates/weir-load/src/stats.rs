//! Collects what the sessions measured into HDR histograms and per-turn,
//! per-second tallies, and turns them into a [`RunReport`].
//!
//! Latencies go into histograms in microseconds with three significant
//! digits, so percentiles cost nothing however long the run. Only requests
//! whose intended send time falls inside the measured window (after the
//! warm-up, before the end) count in the statistics; the timeline keeps
//! every second, warm-up included.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::client::{TokenSource, TurnOutcome};
use super::report::{
    ClientHealth, ErrorCount, Goodput, RunReport, Summary, TimelinePoint, TurnStats,
};

/// A service-level objective: `ttft=2s,itl=100ms,session=300s,pct=90`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Slo {
    /// Time to first token bound.
    pub ttft: Option<Duration>,
    /// Inter-token latency bound (a request's mean ITL).
    pub itl: Option<Duration>,
    /// Session duration bound.
    pub session: Option<Duration>,
    /// The percentile the run's figures are held to (default 90).
    pub percentile: f64,
    /// The text as given.
    pub text: String,
}

impl Slo {
    /// Parses `key=value` pairs separated by commas.
    pub fn parse(text: &str) -> Result<Slo, String> {
        let mut slo = Slo {
            ttft: None,
            itl: None,
            session: None,
            percentile: 90.0,
            text: text.to_owned(),
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("--slo: `{part}` is not key=value"))?;
            match key.trim() {
                "ttft" => slo.ttft = Some(parse_duration(value)?),
                "itl" => slo.itl = Some(parse_duration(value)?),
                "session" => slo.session = Some(parse_duration(value)?),
                "pct" | "percentile" => {
                    slo.percentile = value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|p| *p > 0.0 && *p <= 100.0)
                        .ok_or_else(|| format!("--slo: pct must be in (0, 100], got `{value}`"))?
                }
                other => {
                    return Err(format!(
                        "--slo: unknown key `{other}` (ttft, itl, session, pct)"
                    ))
                }
            }
        }
        if slo.ttft.is_none() && slo.itl.is_none() && slo.session.is_none() {
            return Err("--slo needs at least one of ttft=, itl=, session=".into());
        }
        Ok(slo)
    }

    fn request_ok(&self, ttft: Duration, mean_itl: Option<f64>) -> bool {
        self.ttft.is_none_or(|b| ttft <= b)
            && match (self.itl, mean_itl) {
                (Some(b), Some(m)) => m <= b.as_secs_f64(),
                _ => true,
            }
    }
}

/// Parses `250ms`, `2s`, `1.5s`, `3m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v * scale).ok())
        .ok_or_else(|| format!("`{text}` is not a duration (e.g. 250ms, 2s, 5m)"))
}

fn hist() -> Histogram<u64> {
    // 1 us .. 1 hour at 3 significant digits: fixed, valid bounds.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid constant histogram bounds")
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

#[derive(Default)]
struct TurnAcc {
    count: u64,
    ttft: Option<Histogram<u64>>,
    prompt: u64,
    cached: u64,
}

#[derive(Default, Clone, Copy)]
struct Second {
    tokens: u64,
    requests: u64,
    errors: u64,
    active: u64,
}

struct Inner {
    ttft: Histogram<u64>,
    itl: Histogram<u64>,
    tpot: Histogram<u64>,
    e2e: Histogram<u64>,
    session: Histogram<u64>,
    stream_rate: Histogram<u64>,
    requests_ok: u64,
    good_requests: u64,
    errors: BTreeMap<String, (u64, String)>,
    prompt_tokens: u64,
    cached_tokens: u64,
    output_tokens: u64,
    by_turn: BTreeMap<usize, TurnAcc>,
    timeline: Vec<Second>,
    sessions_completed: u64,
    sessions_good: u64,
    token_source: Option<TokenSource>,
    recent_ttft: Histogram<u64>,
    recent_itl: Histogram<u64>,
}

/// Counters the live display reads without a lock.
#[derive(Default)]
pub struct LiveCounters {
    /// Sessions started and not ended.
    pub active: AtomicU64,
    /// Of those, sessions in think time.
    pub thinking: AtomicU64,
    /// Requests completed.
    pub requests: AtomicU64,
    /// Requests failed.
    pub errors: AtomicU64,
    /// Prompt tokens so far.
    pub prompt_tokens: AtomicU64,
    /// Cached prompt tokens so far.
    pub cached_tokens: AtomicU64,
    /// Output tokens so far.
    pub output_tokens: AtomicU64,
}

/// The shared sink every session records into.
pub struct Recorder {
    start: Instant,
    window: (Instant, Option<Instant>),
    slo: Option<Slo>,
    inner: Mutex<Inner>,
    /// Lock-free counters for the live display.
    pub live: LiveCounters,
}

impl Recorder {
    /// A recorder for a run starting at `start` whose statistics cover
    /// requests intended from `measure_from` until `measure_until` (None: no end).
    pub fn new(
        start: Instant,
        measure_from: Instant,
        measure_until: Option<Instant>,
        slo: Option<Slo>,
    ) -> Recorder {
        Recorder {
            start,
            window: (measure_from, measure_until),
            slo,
            inner: Mutex::new(Inner {
                ttft: hist(),
                itl: hist(),
                tpot: hist(),
                e2e: hist(),
                session: hist(),
                stream_rate: hist(),
                requests_ok: 0,
                good_requests: 0,
                errors: BTreeMap::new(),
                prompt_tokens: 0,
                cached_tokens: 0,
                output_tokens: 0,
                by_turn: BTreeMap::new(),
                timeline: Vec::new(),
                sessions_completed: 0,
                sessions_good: 0,
                token_source: None,
                recent_ttft: hist(),
                recent_itl: hist(),
            }),
            live: LiveCounters::default(),
        }
    }

    fn in_window(&self, t: Instant) -> bool {
        t >= self.window.0 && self.window.1.is_none_or(|end| t < end)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock would be a bug in this file; the
        // tallies stay usable either way.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one request (turn number from 1). Returns whether it met the
    /// SLO (true when there is none and it succeeded).
    pub fn record_turn(&self, out: &TurnOutcome, turn: usize) -> bool {
        let ok = out.error.is_none();
        let counted = self.in_window(out.intended);
        let mean_itl = (!out.itl.is_empty())
            .then(|| out.itl.iter().map(|&v| v as f64).sum::<f64>() / out.itl.len() as f64);
        let good = ok
            && match (&self.slo, out.ttft) {
                (Some(slo), Some(t)) => slo.request_ok(t, mean_itl),
                (Some(_), None) => false,
                (None, _) => true,
            };
        let live = &self.live;
        if ok {
            live.requests.fetch_add(1, Ordering::Relaxed);
            live.prompt_tokens
                .fetch_add(out.prompt_tokens, Ordering::Relaxed);
            live.cached_tokens
                .fetch_add(out.cached_tokens, Ordering::Relaxed);
            live.output_tokens
                .fetch_add(out.output_tokens, Ordering::Relaxed);
        } else {
            live.errors.fetch_add(1, Ordering::Relaxed);
        }
        let offset = out.intended.saturating_duration_since(self.start);
        let mut g = self.lock();
        let inner = &mut *g;
        // Timeline: every token where it arrived, the request where it ended.
        for &(at, k) in &out.arrivals {
            second(&mut inner.timeline, offset + at).tokens += k as u64;
        }
        let end = second(&mut inner.timeline, offset + out.e2e);
        if ok {
            end.requests += 1;
        } else {
            end.errors += 1;
        }
        if let Some(t) = out.ttft {
            let _ = inner.recent_ttft.record(us(t));
        }
        for &v in &out.itl {
            let _ = inner
                .recent_itl
                .record(us(Duration::from_secs_f32(v.max(0.0))));
        }
        if !counted {
            return good;
        }
        match &out.error {
            Some(e) => {
                let slot = inner.errors.entry(e.kind()).or_insert((0, e.message()));
                slot.0 += 1;
                return false;
            }
            None => inner.requests_ok += 1,
        }
        if good {
            inner.good_requests += 1;
        }
        inner.token_source = Some(match (inner.token_source, out.token_source) {
            (Some(TokenSource::Chunks), _) | (_, TokenSource::Chunks) => TokenSource::Chunks,
            (Some(TokenSource::Tokenizer), _) | (_, TokenSource::Tokenizer) => {
                TokenSource::Tokenizer
            }
            _ => TokenSource::Usage,
        });
        let _ = inner.e2e.record(us(out.e2e));
        for &v in &out.itl {
            let _ = inner.itl.record(us(Duration::from_secs_f32(v.max(0.0))));
        }
        if let Some(t) = out.ttft {
            let _ = inner.ttft.record(us(t));
            if out.output_tokens > 1 {
                let rest = out.e2e.saturating_sub(t);
                let _ = inner.tpot.record(us(rest / (out.output_tokens as u32 - 1)));
                if !rest.is_zero() {
                    let rate = (out.output_tokens - 1) as f64 / rest.as_secs_f64();
                    // Stored in milli-tokens/s for three significant digits.
                    let _ = inner.stream_rate.record(((rate * 1000.0) as u64).max(1));
                }
            }
        }
        inner.prompt_tokens += out.prompt_tokens;
        inner.cached_tokens += out.cached_tokens;
        inner.output_tokens += out.output_tokens;
        let t = inner.by_turn.entry(turn).or_default();
        t.count += 1;
        t.prompt += out.prompt_tokens;
        t.cached += out.cached_tokens;
        if let Some(ttft) = out.ttft {
            let _ = t.ttft.get_or_insert_with(hist).record(us(ttft));
        }
        good
    }

    /// Records a session that ran to its end; `first_intended` is when its
    /// first request was meant to go out, `all_good` whether every request
    /// met the SLO.
    pub fn record_session(&self, first_intended: Instant, duration: Duration, all_good: bool) {
        if !self.in_window(first_intended) {
            return;
        }
        let good = all_good
            && self
                .slo
                .as_ref()
                .and_then(|s| s.session)
                .is_none_or(|b| duration <= b);
        let mut g = self.lock();
        g.sessions_completed += 1;
        let _ = g.session.record(us(duration));
        if good {
            g.sessions_good += 1;
        }
    }

    /// Marks the number of active sessions for the second containing `now`.
    pub fn sample_active(&self, now: Instant) {
        let active = self.live.active.load(Ordering::Relaxed);
        let mut g = self.lock();
        second(&mut g.timeline, now.saturating_duration_since(self.start)).active = active;
    }

    /// Median TTFT and ITL (ms) since the last call, for the live display.
    pub fn take_recent(&self) -> (Option<f64>, Option<f64>) {
        let mut g = self.lock();
        let p = |h: &Histogram<u64>| (!h.is_empty()).then(|| h.value_at_quantile(0.5) as f64 / 1e3);
        let out = (p(&g.recent_ttft), p(&g.recent_itl));
        g.recent_ttft.reset();
        g.recent_itl.reset();
        out
    }

    /// The statistics as a report entry. `measured` is the length of the
    /// measured window; `end` the instant the run ended.
    pub fn report(
        &self,
        label: String,
        sessions: Option<usize>,
        rate: Option<f64>,
        measured: Duration,
        client: ClientHealth,
    ) -> RunReport {
        let g = self.lock();
        let secs = measured.as_secs_f64().max(1e-9);
        let warmup = self.window.0.saturating_duration_since(self.start);
        // Throughput from the tokens that arrived inside the window.
        let (w0, w1) = (warmup.as_secs_f64(), warmup.as_secs_f64() + secs);
        let mut window_tokens = 0.0;
        for (i, s) in g.timeline.iter().enumerate() {
            let (a, b) = (i as f64, i as f64 + 1.0);
            let overlap = (b.min(w1) - a.max(w0)).max(0.0);
            window_tokens += s.tokens as f64 * overlap;
        }
        let total = g.requests_ok + g.errors.values().map(|e| e.0).sum::<u64>();
        let goodput = self.slo.as_ref().map(|slo| {
            let q = slo.percentile / 100.0;
            let at = |h: &Histogram<u64>| Duration::from_micros(h.value_at_quantile(q));
            let met = g.errors.is_empty()
                && g.requests_ok > 0
                && slo.ttft.is_none_or(|b| at(&g.ttft) <= b)
                && slo.itl.is_none_or(|b| g.itl.is_empty() || at(&g.itl) <= b)
                && slo
                    .session
                    .is_none_or(|b| g.session.is_empty() || at(&g.session) <= b);
            Goodput {
                slo: slo.text.clone(),
                requests_per_s: g.good_requests as f64 / secs,
                request_share: ratio(g.good_requests, total),
                session_share: ratio(g.sessions_good, g.sessions_completed),
                met,
            }
        });
        RunReport {
            label,
            sessions,
            rate,
            duration_s: secs,
            warmup_s: warmup.as_secs_f64(),
            requests_ok: g.requests_ok,
            errors: g
                .errors
                .iter()
                .map(|(k, (n, s))| ErrorCount {
                    kind: k.clone(),
                    count: *n,
                    sample: s.clone(),
                })
                .collect(),
            sessions_completed: g.sessions_completed,
            ttft_ms: summary(&g.ttft, 1e3),
            itl_ms: summary(&g.itl, 1e3),
            tpot_ms: summary(&g.tpot, 1e3),
            e2e_ms: summary(&g.e2e, 1e3),
            session_s: summary(&g.session, 1e6),
            stream_tok_s: summary(&g.stream_rate, 1e3),
            itl_source: g
                .token_source
                .unwrap_or(TokenSource::Chunks)
                .as_str()
                .into(),
            prompt_tokens: g.prompt_tokens,
            cached_tokens: g.cached_tokens,
            output_tokens: g.output_tokens,
            cache_hit_share: ratio(g.cached_tokens, g.prompt_tokens),
            output_tok_s: window_tokens / secs,
            requests_per_s: g.requests_ok as f64 / secs,
            goodput,
            by_turn: g
                .by_turn
                .iter()
                .map(|(&turn, t)| TurnStats {
                    turn,
                    count: t.count,
                    ttft_p50_ms: t
                        .ttft
                        .as_ref()
                        .map_or(0.0, |h| h.value_at_quantile(0.5) as f64 / 1e3),
                    ttft_p90_ms: t
                        .ttft
                        .as_ref()
                        .map_or(0.0, |h| h.value_at_quantile(0.9) as f64 / 1e3),
                    prompt_tokens_mean: t.prompt as f64 / t.count.max(1) as f64,
                    cache_hit_share: ratio(t.cached, t.prompt),
                })
                .collect(),
            timeline: g
                .timeline
                .iter()
                .enumerate()
                .map(|(i, s)| TimelinePoint {
                    t_s: i as f64,
                    output_tokens: s.tokens,
                    requests: s.requests,
                    errors: s.errors,
                    active_sessions: s.active,
                })
                .collect(),
            ttft_hist: buckets(&g.ttft),
            itl_hist: buckets(&g.itl),
            client,
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn second(timeline: &mut Vec<Second>, at: Duration) -> &mut Second {
    let i = (at.as_secs() as usize).min(7 * 24 * 3600);
    if timeline.len() <= i {
        timeline.resize(i + 1, Second::default());
    }
    &mut timeline[i]
}

/// Percentiles of a histogram whose values are in units of 1/`per` of the
/// reported unit (microseconds reported in ms: `per` = 1e3).
fn summary(h: &Histogram<u64>, per: f64) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    Summary {
        count: h.len(),
        mean: h.mean() / per,
        p50: h.value_at_quantile(0.5) as f64 / per,
        p90: h.value_at_quantile(0.9) as f64 / per,
        p99: h.value_at_quantile(0.99) as f64 / per,
        max: h.max() as f64 / per,
    }
}

/// About 40 log-spaced buckets over the histogram's range, as (upper
/// bound in ms, count); every sample lands in exactly one bucket.
fn buckets(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    const STEPS: usize = 40;
    let lo = h.min().max(1) as f64;
    let hi = (h.max().max(1) as f64).max(lo * 1.0001);
    let ratio = (hi / lo).powf(1.0 / STEPS as f64);
    let uppers: Vec<f64> = (1..=STEPS).map(|i| lo * ratio.powi(i as i32)).collect();
    let mut counts = vec![0u64; STEPS];
    for v in h.iter_recorded() {
        let x = v.value_iterated_to() as f64;
        let i = uppers
            .iter()
            .position(|&u| x <= u * 1.000001)
            .unwrap_or(STEPS - 1);
        counts[i] += v.count_at_value();
    }
    uppers
        .iter()
        .zip(counts)
        .map(|(&u, n)| (u / 1e3, n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::client::{TokenSource, TurnError, TurnOutcome};
    use super::*;

    fn outcome(intended: Instant, ttft_ms: u64, itl_ms: &[f32], tokens: u64) -> TurnOutcome {
        TurnOutcome {
            intended,
            ttft: Some(Duration::from_millis(ttft_ms)),
            e2e: Duration::from_millis(ttft_ms + itl_ms.iter().sum::<f32>() as u64),
            itl: itl_ms.iter().map(|v| v / 1e3).collect(),
            token_source: TokenSource::Usage,
            content: String::new(),
            reasoning: String::new(),
            tool_calls: vec![],
            finish_reason: Some("stop".into()),
            response_id: None,
            prompt_tokens: 100,
            output_tokens: tokens,
            cached_tokens: 60,
            usage_reported: true,
            error: None,
            arrivals: vec![(Duration::from_millis(ttft_ms), tokens as u32)],
        }
    }

    #[test]
    fn slo_and_durations_parse() {
        let s = Slo::parse("ttft=2s,itl=100ms,session=5m,pct=99").unwrap();
        assert_eq!(s.ttft, Some(Duration::from_secs(2)));
        assert_eq!(s.itl, Some(Duration::from_millis(100)));
        assert_eq!(s.session, Some(Duration::from_secs(300)));
        assert_eq!(s.percentile, 99.0);
        assert!(Slo::parse("ttft=fast").unwrap_err().contains("fast"));
        assert!(Slo::parse("latency=1s").unwrap_err().contains("latency"));
        assert!(Slo::parse("").is_err());
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn percentiles_goodput_and_window() {
        let start = Instant::now();
        let slo = Slo::parse("ttft=150ms,itl=20ms").unwrap();
        let rec = Recorder::new(start, start + Duration::from_secs(1), None, Some(slo));
        // Warm-up request: not counted.
        rec.record_turn(&outcome(start, 999, &[10.0], 2), 1);
        let t = start + Duration::from_secs(2);
        for i in 0..10u64 {
            rec.record_turn(
                &outcome(t, 100 + i * 10, &[10.0, 10.0], 3),
                1 + (i as usize % 2),
            );
        }
        let mut failed = outcome(t, 0, &[], 0);
        failed.error = Some(TurnError::Http {
            status: 429,
            message: "slow down".into(),
        });
        rec.record_turn(&failed, 1);
        let r = rec.report(
            "x".into(),
            Some(1),
            None,
            Duration::from_secs(10),
            ClientHealth::default(),
        );
        assert_eq!(r.requests_ok, 10);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].kind, "http 429");
        assert_eq!(r.ttft_ms.count, 10);
        assert!((r.ttft_ms.p50 - 140.0).abs() < 1.0, "{}", r.ttft_ms.p50);
        assert!((r.itl_ms.p90 - 10.0).abs() < 0.1);
        assert_eq!(r.prompt_tokens, 1000);
        assert!((r.cache_hit_share - 0.6).abs() < 1e-9);
        let g = r.goodput.unwrap();
        // ttft 100..=150 ms meet the 150 ms bound: 6 of 11 requests.
        assert!(
            (g.request_share - 6.0 / 11.0).abs() < 1e-9,
            "{}",
            g.request_share
        );
        assert!(!g.met, "an error fails the run");
        assert_eq!(r.by_turn.len(), 2);
        assert_eq!(r.by_turn[0].count, 5);
        assert_eq!(r.itl_source, "usage");
        assert!(r.ttft_hist.iter().map(|b| b.1).sum::<u64>() == 10);
    }
}
