//! Server metrics: a small lock-free registry the engine updates and
//! `/metrics` renders in the Prometheus text exposition format (0.0.4), with
//! vLLM's metric names, help strings and histogram buckets, so existing
//! vLLM dashboards work unchanged.
//!
//! Every value is an atomic: gauges and counters are `AtomicU64` (floats
//! stored as their bits), histograms have one atomic count per bucket.
//! Observing never takes a lock; rendering reads each atomic once.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// vLLM's `time_to_first_token_seconds` buckets.
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// vLLM's `inter_token_latency_seconds` buckets.
pub const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];

/// vLLM's request latency buckets (`e2e_request_latency_seconds`).
pub const REQUEST_LATENCY_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// Buckets of `iteration_sequences` (sequences per engine step): powers of
/// two, the batch sizes a GPU backend captures graphs for.
pub const STEP_SEQUENCES_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Context length used for the token-count buckets when none is given.
pub const DEFAULT_MAX_MODEL_LEN: usize = 1 << 20;

/// vLLM's `build_1_2_5_buckets`: 1, 2, 5, 10, 20, 50, ... up to `max`.
pub fn buckets_1_2_5(max: usize) -> Vec<f64> {
    let mut out = Vec::new();
    let mut exp = 1u64;
    'outer: loop {
        for m in [1u64, 2, 5] {
            let v = m * exp;
            if v > max as u64 {
                break 'outer;
            }
            out.push(v as f64);
        }
        exp = match exp.checked_mul(10) {
            Some(e) => e,
            None => break,
        };
    }
    out
}

/// Finish reasons that always have a `request_success_total` series.
const REASONS: [&str; 3] = ["stop", "length", "abort"];

/// Why admission control refused a request (`weir:requests_rejected_total`'s
/// `reason`; vLLM has no admission control, so no vLLM name exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The waiting room was full (`max_waiting_requests`).
    QueueFull,
    /// The request waited past the queue timeout.
    QueueTimeout,
}

impl RejectReason {
    /// Every reason, in the order they are rendered.
    pub const ALL: [RejectReason; 2] = [RejectReason::QueueFull, RejectReason::QueueTimeout];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::QueueFull => "queue_full",
            RejectReason::QueueTimeout => "queue_timeout",
        }
    }
}

/// A float stored in an atomic as its bits.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    fn add(&self, v: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }
}

/// A fixed-bucket histogram with atomic counts.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds (`le`), increasing; `+Inf` is implicit.
    bounds: Vec<f64>,
    /// Non-cumulative counts, one per bound plus the `+Inf` overflow.
    counts: Vec<AtomicU64>,
    sum: AtomicF64,
}

impl Histogram {
    /// A histogram with the given increasing upper bounds.
    pub fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.to_vec(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::default(),
        }
    }

    /// Record one value (NaN is ignored).
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        // Prometheus buckets are `value <= le`.
        let i = self.bounds.partition_point(|&b| b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
    }

    /// Number of values observed.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Sum of values observed.
    pub fn sum(&self) -> f64 {
        self.sum.get()
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| fmt_f64(*b));
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", fmt_f64(self.sum()));
        // The count is the +Inf bucket, so the two always agree.
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// Prometheus float formatting: integral values keep a `.0`, like Python's client.
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Escape a label value (backslash, double quote, newline).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The registry: one per served model, shared by the engine and `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    /// `model_name="..."`, escaped once.
    labels: String,
    running: AtomicU64,
    waiting: AtomicU64,
    kv_cache_usage: AtomicF64,
    preemptions: AtomicU64,
    engine_restarts: AtomicU64,
    prefix_cache_queries: AtomicU64,
    prefix_cache_hits: AtomicU64,
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    /// `request_success_total` for [`REASONS`], in order.
    success: [AtomicU64; 3],
    /// `request_success_total` for any other reason string.
    success_other: AtomicU64,
    /// `weir:requests_rejected_total` for [`RejectReason::ALL`], in order.
    rejected: [AtomicU64; 2],
    ttft: Histogram,
    itl: Histogram,
    e2e: Histogram,
    request_prompt_tokens: Histogram,
    request_generation_tokens: Histogram,
    step_sequences: Histogram,
}

impl Metrics {
    /// A registry for `model_name`, with token-count buckets up to 2^20 tokens.
    pub fn new(model_name: &str) -> Self {
        Self::with_max_model_len(model_name, DEFAULT_MAX_MODEL_LEN)
    }

    /// A registry whose token-count buckets stop at `max_model_len` (as vLLM's do).
    pub fn with_max_model_len(model_name: &str, max_model_len: usize) -> Self {
        let token_buckets = buckets_1_2_5(max_model_len.max(1));
        Self {
            labels: format!("model_name=\"{}\"", escape_label(model_name)),
            running: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            kv_cache_usage: AtomicF64::default(),
            preemptions: AtomicU64::new(0),
            engine_restarts: AtomicU64::new(0),
            prefix_cache_queries: AtomicU64::new(0),
            prefix_cache_hits: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            success: Default::default(),
            success_other: AtomicU64::new(0),
            rejected: Default::default(),
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(REQUEST_LATENCY_BUCKETS),
            request_prompt_tokens: Histogram::new(&token_buckets),
            request_generation_tokens: Histogram::new(&token_buckets),
            step_sequences: Histogram::new(STEP_SEQUENCES_BUCKETS),
        }
    }

    /// Requests in the running batch.
    pub fn set_running(&self, n: usize) {
        self.running.store(n as u64, Ordering::Relaxed);
    }

    /// Requests waiting to be scheduled.
    pub fn set_waiting(&self, n: usize) {
        self.waiting.store(n as u64, Ordering::Relaxed);
    }

    /// KV-cache usage, 0..=1 (clamped).
    pub fn set_kv_cache_usage(&self, frac: f64) {
        let frac = if frac.is_nan() {
            0.0
        } else {
            frac.clamp(0.0, 1.0)
        };
        self.kv_cache_usage.set(frac);
    }

    /// Sequences preempted.
    pub fn inc_preemptions(&self, n: u64) {
        self.preemptions.fetch_add(n, Ordering::Relaxed);
    }

    /// The scheduler panicked and restarted with a clean state (its
    /// in-flight requests failed): `weir:engine_restarts_total`.
    pub fn inc_engine_restarts(&self) {
        self.engine_restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Prefix-cache lookups: prompt tokens queried and tokens found cached.
    pub fn add_prefix_cache(&self, queries: u64, hits: u64) {
        self.prefix_cache_queries
            .fetch_add(queries, Ordering::Relaxed);
        self.prefix_cache_hits.fetch_add(hits, Ordering::Relaxed);
    }

    /// Prompt (prefill) tokens processed.
    pub fn add_prompt_tokens(&self, n: u64) {
        self.prompt_tokens.fetch_add(n, Ordering::Relaxed);
    }

    /// Tokens generated.
    pub fn add_generation_tokens(&self, n: u64) {
        self.generation_tokens.fetch_add(n, Ordering::Relaxed);
    }

    /// A request refused by admission control.
    pub fn inc_rejected(&self, reason: RejectReason) {
        self.rejected[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused by admission control for `reason` so far.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason as usize].load(Ordering::Relaxed)
    }

    /// Time to first token, seconds.
    pub fn observe_ttft(&self, secs: f64) {
        self.ttft.observe(secs);
    }

    /// Time between two consecutive output tokens, seconds.
    pub fn observe_itl(&self, secs: f64) {
        self.itl.observe(secs);
    }

    /// An engine step started with `n` sequences in its batch: whether
    /// requests really share steps (continuous batching) shows here.
    pub fn observe_step_sequences(&self, n: usize) {
        self.step_sequences.observe(n as f64);
    }

    /// Whole request latency, seconds.
    pub fn observe_e2e(&self, secs: f64) {
        self.e2e.observe(secs);
    }

    /// A finished request: its token counts and why it ended (`stop`,
    /// `length`, `abort`, ...).
    pub fn observe_request(
        &self,
        prompt_tokens: usize,
        generation_tokens: usize,
        finish_reason: &str,
    ) {
        self.request_prompt_tokens.observe(prompt_tokens as f64);
        self.request_generation_tokens
            .observe(generation_tokens as f64);
        match REASONS.iter().position(|r| *r == finish_reason) {
            Some(i) => self.success[i].fetch_add(1, Ordering::Relaxed),
            None => self.success_other.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let l = &self.labels;
        let mut out = String::with_capacity(8 * 1024);
        let mut scalar = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{{l}}} {value}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        scalar(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            load(&self.running),
        );
        scalar(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            load(&self.waiting),
        );
        scalar(
            "vllm:kv_cache_usage_perc",
            "gauge",
            "KV-cache usage. 1 means 100 percent usage.",
            fmt_f64(self.kv_cache_usage.get()),
        );
        scalar(
            "vllm:num_preemptions_total",
            "counter",
            "Cumulative number of preemption from the engine.",
            load(&self.preemptions),
        );
        scalar(
            "weir:engine_restarts_total",
            "counter",
            "Times the scheduler panicked and restarted with a clean KV cache, failing the requests in flight.",
            load(&self.engine_restarts),
        );
        scalar(
            "vllm:prefix_cache_queries_total",
            "counter",
            "Prefix cache queries, in terms of number of queried tokens.",
            load(&self.prefix_cache_queries),
        );
        scalar(
            "vllm:prefix_cache_hits_total",
            "counter",
            "Prefix cache hits, in terms of number of cached tokens.",
            load(&self.prefix_cache_hits),
        );
        scalar(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            load(&self.prompt_tokens),
        );
        scalar(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            load(&self.generation_tokens),
        );

        let name = "vllm:request_success_total";
        let _ = writeln!(
            out,
            "# HELP {name} Count of successfully processed requests."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (reason, count) in REASONS.iter().zip(&self.success) {
            let _ = writeln!(
                out,
                "{name}{{{l},finished_reason=\"{reason}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let other = self.success_other.load(Ordering::Relaxed);
        if other > 0 {
            let _ = writeln!(out, "{name}{{{l},finished_reason=\"other\"}} {other}");
        }

        let name = "weir:requests_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests refused by admission control (503), by reason."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for reason in RejectReason::ALL {
            let _ = writeln!(
                out,
                "{name}{{{l},reason=\"{}\"}} {}",
                reason.as_str(),
                self.rejected(reason)
            );
        }

        let hists: [(&str, &str, &Histogram); 6] = [
            (
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                &self.ttft,
            ),
            (
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                &self.itl,
            ),
            (
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                &self.e2e,
            ),
            (
                "vllm:request_prompt_tokens",
                "Number of prefill tokens processed.",
                &self.request_prompt_tokens,
            ),
            (
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
                &self.request_generation_tokens,
            ),
            (
                "vllm:iteration_sequences",
                "Histogram of number of sequences per engine step.",
                &self.step_sequences,
            ),
        ];
        for (name, help, h) in hists {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} histogram");
            h.render(&mut out, name, l);
        }
        out
    }
}

/// Several expositions (one per served model, or extra series such as
/// per-project counters) as one: each family's `# HELP` and `# TYPE` once,
/// followed by every exposition's samples of that family, families in the
/// order first seen. Prometheus refuses a family declared twice.
pub fn merge_expositions(parts: &[String]) -> String {
    if let [one] = parts {
        return one.clone();
    }
    let mut order: Vec<String> = Vec::new();
    let mut families: std::collections::HashMap<String, (Vec<String>, Vec<String>)> =
        std::collections::HashMap::new();
    for part in parts {
        let mut current = String::new();
        for line in part.lines() {
            if let Some(rest) = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
            {
                let name = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if !families.contains_key(&name) {
                    order.push(name.clone());
                }
                let fam = families.entry(name.clone()).or_default();
                if !fam.0.iter().any(|l| l == line) {
                    fam.0.push(line.to_string());
                }
                current = name;
            } else if !line.is_empty() {
                if !families.contains_key(&current) {
                    order.push(current.clone());
                }
                families
                    .entry(current.clone())
                    .or_default()
                    .1
                    .push(line.to_string());
            }
        }
    }
    let mut out = String::new();
    for name in order {
        if let Some((head, samples)) = families.get(&name) {
            for l in head.iter().chain(samples) {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_expositions_declare_each_family_once() {
        let a = Metrics::new("a").render();
        let b = Metrics::new("b").render();
        let merged = merge_expositions(&[a.clone(), b]);
        let helps = merged
            .lines()
            .filter(|l| l.starts_with("# HELP vllm:num_requests_running "))
            .count();
        assert_eq!(helps, 1, "{merged}");
        assert!(merged.contains("vllm:num_requests_running{model_name=\"a\"}"));
        assert!(merged.contains("vllm:num_requests_running{model_name=\"b\"}"));
        assert_eq!(
            merged.lines().count() + a.lines().filter(|l| l.starts_with('#')).count(),
            2 * a.lines().count()
        );
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix}\n{text}"))
    }

    #[test]
    fn one_two_five() {
        assert_eq!(
            buckets_1_2_5(100),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        assert_eq!(buckets_1_2_5(4096).last(), Some(&2000.0));
    }

    #[test]
    fn renders_gauges_and_counters() {
        let m = Metrics::new("Qwen/Qwen3-0.6B");
        m.set_running(3);
        m.set_waiting(2);
        m.set_kv_cache_usage(0.25);
        m.inc_preemptions(1);
        m.inc_engine_restarts();
        m.add_prompt_tokens(100);
        m.add_prompt_tokens(20);
        m.add_generation_tokens(7);
        m.observe_request(10, 5, "stop");
        m.observe_request(10, 16, "length");
        m.observe_request(10, 16, "stop");
        let t = m.render();
        let l = "{model_name=\"Qwen/Qwen3-0.6B\"}";
        assert!(
            t.contains(&format!("vllm:num_requests_running{l} 3\n")),
            "{t}"
        );
        assert!(t.contains(&format!("vllm:num_requests_waiting{l} 2\n")));
        assert!(t.contains(&format!("vllm:kv_cache_usage_perc{l} 0.25\n")));
        assert!(t.contains(&format!("vllm:num_preemptions_total{l} 1\n")));
        assert!(t.contains(&format!("weir:engine_restarts_total{l} 1\n")));
        assert!(t.contains("# TYPE weir:engine_restarts_total counter\n"));
        assert!(t.contains(&format!("vllm:prompt_tokens_total{l} 120\n")));
        assert!(t.contains(&format!("vllm:generation_tokens_total{l} 7\n")));
        assert!(t.contains(
            "vllm:request_success_total{model_name=\"Qwen/Qwen3-0.6B\",finished_reason=\"stop\"} 2\n"
        ));
        assert!(t.contains("finished_reason=\"length\"} 1\n"));
        assert!(t.contains("finished_reason=\"abort\"} 0\n"));
        assert!(t.contains("# TYPE vllm:prompt_tokens_total counter\n"));
        assert!(t.contains("# TYPE vllm:num_requests_running gauge\n"));
        assert!(t.contains("# HELP vllm:kv_cache_usage_perc "));
    }

    #[test]
    fn rejections_are_counted_by_reason() {
        let m = Metrics::new("m");
        m.inc_rejected(RejectReason::QueueFull);
        m.inc_rejected(RejectReason::QueueFull);
        m.inc_rejected(RejectReason::QueueTimeout);
        let t = m.render();
        assert!(t.contains("# TYPE weir:requests_rejected_total counter\n"));
        assert!(
            t.contains("weir:requests_rejected_total{model_name=\"m\",reason=\"queue_full\"} 2\n"),
            "{t}"
        );
        assert!(t.contains(
            "weir:requests_rejected_total{model_name=\"m\",reason=\"queue_timeout\"} 1\n"
        ));
        let fresh = Metrics::new("m").render();
        assert!(
            fresh.contains("reason=\"queue_timeout\"} 0\n"),
            "both series always exist"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new("m");
        m.observe_ttft(0.001); // exactly on a bound: counts in le=0.001
        m.observe_ttft(0.05);
        m.observe_ttft(5000.0); // only +Inf
        m.observe_ttft(f64::NAN); // ignored
        let t = m.render();
        let b = "vllm:time_to_first_token_seconds_bucket{model_name=\"m\",";
        assert_eq!(
            line(&t, &format!("{b}le=\"0.001\"")).rsplit(' ').next(),
            Some("1")
        );
        assert_eq!(
            line(&t, &format!("{b}le=\"0.04\"")).rsplit(' ').next(),
            Some("1")
        );
        assert_eq!(
            line(&t, &format!("{b}le=\"0.06\"")).rsplit(' ').next(),
            Some("2")
        );
        assert_eq!(
            line(&t, &format!("{b}le=\"2560.0\"")).rsplit(' ').next(),
            Some("2")
        );
        assert_eq!(
            line(&t, &format!("{b}le=\"+Inf\"")).rsplit(' ').next(),
            Some("3")
        );
        assert_eq!(
            line(&t, "vllm:time_to_first_token_seconds_count"),
            "vllm:time_to_first_token_seconds_count{model_name=\"m\"} 3"
        );
        let sum: f64 = line(&t, "vllm:time_to_first_token_seconds_sum")
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 5000.051).abs() < 1e-9);
        assert!(t.contains("# TYPE vllm:time_to_first_token_seconds histogram\n"));
        for name in [
            "vllm:inter_token_latency_seconds",
            "vllm:e2e_request_latency_seconds",
            "vllm:request_prompt_tokens",
            "vllm:request_generation_tokens",
            "vllm:iteration_sequences",
        ] {
            assert!(t.contains(&format!("# TYPE {name} histogram\n")), "{name}");
            assert!(t.contains(&format!(
                "{name}_bucket{{model_name=\"m\",le=\"+Inf\"}} 0\n"
            )));
        }
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::with_max_model_len("a\"b\\c\nd", 4096);
        m.observe_request(3000, 1, "weird");
        let t = m.render();
        assert!(t.contains("model_name=\"a\\\"b\\\\c\\nd\""));
        assert!(t.contains("finished_reason=\"other\"} 1"));
        for l in t.lines() {
            // vLLM's names, and weir's own (`weir:`) for what vLLM lacks.
            let named = |s: &str| s.starts_with("vllm:") || s.starts_with("weir:");
            if let Some(rest) = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
            {
                assert!(named(rest), "{l}");
                continue;
            }
            assert!(!l.starts_with('#'), "{l}");
            let (series, value) = l.rsplit_once(' ').unwrap();
            assert!(named(series) && series.ends_with('}'), "{l}");
            assert!(value == "+Inf" || value.parse::<f64>().is_ok(), "{l}");
        }
        // Token buckets stop at max_model_len: the last bound is 2000, so
        // 3000 lands only in +Inf.
        assert!(t.contains(
            "vllm:request_prompt_tokens_bucket{model_name=\"a\\\"b\\\\c\\nd\",le=\"2000.0\"} 0"
        ));
    }

    #[test]
    fn step_sequences_counts_steps_by_batch_size() {
        let m = Metrics::new("m");
        for n in [1, 1, 5, 16, 17] {
            m.observe_step_sequences(n);
        }
        let t = m.render();
        let b = "vllm:iteration_sequences_bucket{model_name=\"m\",";
        for (le, want) in [("1.0", "2"), ("4.0", "2"), ("8.0", "3"), ("16.0", "4")] {
            assert_eq!(
                line(&t, &format!("{b}le=\"{le}\"")).rsplit(' ').next(),
                Some(want),
                "le {le}"
            );
        }
        assert!(t.contains("vllm:iteration_sequences_count{model_name=\"m\"} 5\n"));
        assert!(t.contains("vllm:iteration_sequences_sum{model_name=\"m\"} 40.0\n"));
    }

    #[test]
    fn kv_usage_is_clamped() {
        let m = Metrics::new("m");
        m.set_kv_cache_usage(1.5);
        assert!(m
            .render()
            .contains("vllm:kv_cache_usage_perc{model_name=\"m\"} 1.0\n"));
    }
}
