//! The report as text: the terminal summary, one line per level while a
//! sweep runs, and `weir load compare`.

use std::fmt::Write as _;

use super::interrupt::StopLevel;
use super::report::{ErrorCount, Report, RunReport, Summary};

fn pct(s: &Summary) -> String {
    format!(
        "p50 {:>8.1}  p90 {:>8.1}  p99 {:>8.1}  max {:>8.1}",
        s.p50, s.p90, s.p99, s.max
    )
}

/// One line for a finished level.
pub fn one_line(r: &RunReport) -> String {
    let errors: u64 = r.errors.iter().map(|e| e.count).sum();
    format!(
        "{}: {:.0} output tok/s, {:.2} req/s, TTFT p90 {:.0} ms, ITL p90 {:.1} ms, cached {:.1}%, {} errors",
        r.label,
        r.output_tok_s,
        r.requests_per_s,
        r.ttft_ms.p90,
        r.itl_ms.p90,
        100.0 * r.cache_hit_share,
        errors
    )
}

/// The whole report for a terminal.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} · {}",
        report.tool, report.version, report.started_at
    );
    for r in &report.runs {
        let errors: u64 = r.errors.iter().map(|e| e.count).sum();
        let _ = writeln!(
            s,
            "\n== {} ({:.1} s measured after {:.1} s warm-up)",
            r.label, r.duration_s, r.warmup_s
        );
        let _ = writeln!(
            s,
            "requests      {} ok, {} failed · sessions completed {}",
            r.requests_ok, errors, r.sessions_completed
        );
        for e in &r.errors {
            let _ = writeln!(s, "  {:>6} x {}: {}", e.count, e.kind, e.sample);
        }
        for hint in error_hints(&r.errors) {
            let _ = writeln!(s, "  hint: {hint}");
        }
        let _ = writeln!(s, "TTFT ms       {}", pct(&r.ttft_ms));
        let itl_note = match r.itl_source.as_str() {
            "usage" => "per token, counts from the server's running usage",
            "tokenizer" => "per token, counted with --tokenizer",
            _ => "per content chunk: the server sent no running usage and no --tokenizer was given",
        };
        let _ = writeln!(s, "ITL ms        {}  ({itl_note})", pct(&r.itl_ms));
        let _ = writeln!(s, "TPOT ms       {}", pct(&r.tpot_ms));
        let _ = writeln!(s, "E2E ms        {}", pct(&r.e2e_ms));
        if r.session_s.count > 0 {
            let _ = writeln!(s, "session s     {}", pct(&r.session_s));
        }
        let _ = writeln!(
            s,
            "throughput    {:.1} output tok/s aggregate, {:.1} tok/s per stream (p50), {:.2} req/s",
            r.output_tok_s, r.stream_tok_s.p50, r.requests_per_s
        );
        let _ = writeln!(
            s,
            "prompt        {} tokens, {} cached ({:.1}%, as the server's usage reported them)",
            r.prompt_tokens,
            r.cached_tokens,
            100.0 * r.cache_hit_share
        );
        if let Some(g) = &r.goodput {
            let _ = writeln!(
                s,
                "goodput       {}: {:.1}% of requests ({:.2}/s), {:.1}% of sessions · {}",
                g.slo,
                100.0 * g.request_share,
                g.requests_per_s,
                100.0 * g.session_share,
                if g.met { "SLO MET" } else { "SLO MISSED" }
            );
        }
        let c = &r.client;
        let _ = writeln!(
            s,
            "client        {:.2} of {} cores, loop lag p99 {:.1} ms (max {:.1}), {:.1} us CPU per token",
            c.cpu_cores_used, c.cores, c.loop_lag_p99_ms, c.loop_lag_max_ms, c.cpu_us_per_token
        );
        if c.client_bound {
            let _ = writeln!(
                s,
                "WARNING       the load generator itself was saturated: these figures may show the client's limit, not the server's"
            );
        }
    }
    if report.runs.len() > 1 {
        let _ = writeln!(
            s,
            "\n{:>14} {:>12} {:>12} {:>12} {:>9} {:>7}",
            "level", "tok/s", "TTFT p90", "ITL p90", "cached", "SLO"
        );
        for r in &report.runs {
            let met = r
                .goodput
                .as_ref()
                .map_or("-", |g| if g.met { "met" } else { "missed" });
            let _ = writeln!(
                s,
                "{:>14} {:>12.1} {:>10.0}ms {:>10.1}ms {:>8.1}% {:>7}",
                r.label,
                r.output_tok_s,
                r.ttft_ms.p90,
                r.itl_ms.p90,
                100.0 * r.cache_hit_share,
                met
            );
        }
    }
    if let Some(search) = &report.search {
        let _ = writeln!(
            s,
            "\nmost concurrent sessions meeting {}: {}{}",
            search.slo,
            search.max_sessions,
            if report.interrupted.is_some() {
                " (search interrupted)"
            } else {
                ""
            }
        );
    }
    match report.interrupted {
        None | Some(StopLevel::Running) => {}
        Some(StopLevel::Drain) => {
            let _ = writeln!(
                s,
                "\nINTERRUPTED   stopped by Ctrl-C: no request started after it, those in flight finished and count"
            );
        }
        Some(StopLevel::Abort) => {
            let _ = writeln!(
                s,
                "\nINTERRUPTED   stopped by Ctrl-C twice: requests still in flight were dropped, unrecorded"
            );
        }
    }
    s
}

/// What to change when an error says the server rejected one of the
/// extensions `weir load` sends by default or on request (hosted APIs
/// reject fields they do not know).
fn error_hints(errors: &[ErrorCount]) -> Vec<&'static str> {
    let said = |field: &str| errors.iter().any(|e| e.sample.contains(field));
    let mut hints = Vec::new();
    if said("continuous_usage_stats") {
        hints.push(
            "the server rejects stream_options.continuous_usage_stats (vLLM's extension): rerun with --no-continuous-usage (and --tokenizer for per-token ITL)",
        );
    }
    if said("ignore_eos") {
        hints.push("the server rejects ignore_eos: rerun without --ignore-eos");
    }
    hints
}

/// The differences between two reports, level by level (matched by label,
/// else by position).
pub fn compare(a: &Report, b: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "A: {} {}  {}", a.tool, a.version, a.started_at);
    let _ = writeln!(s, "B: {} {}  {}", b.tool, b.version, b.started_at);
    if let (Some(ca), Some(cb)) = (a.config.as_object(), b.config.as_object()) {
        for (k, va) in ca {
            let vb = cb.get(k).unwrap_or(&serde_json::Value::Null);
            if va != vb {
                let _ = writeln!(s, "config {k}: {va} -> {vb}");
            }
        }
    }
    for (i, ra) in a.runs.iter().enumerate() {
        let rb = b
            .runs
            .iter()
            .find(|r| r.label == ra.label)
            .or_else(|| b.runs.get(i));
        let Some(rb) = rb else {
            let _ = writeln!(s, "\n{}: only in A", ra.label);
            continue;
        };
        let _ = writeln!(s, "\n== {} vs {}", ra.label, rb.label);
        let _ = writeln!(
            s,
            "{:<22} {:>12} {:>12} {:>9}",
            "metric", "A", "B", "change"
        );
        let rows: [(&str, f64, f64); 12] = [
            ("output tok/s", ra.output_tok_s, rb.output_tok_s),
            ("requests/s", ra.requests_per_s, rb.requests_per_s),
            ("TTFT p50 ms", ra.ttft_ms.p50, rb.ttft_ms.p50),
            ("TTFT p90 ms", ra.ttft_ms.p90, rb.ttft_ms.p90),
            ("TTFT p99 ms", ra.ttft_ms.p99, rb.ttft_ms.p99),
            ("ITL p50 ms", ra.itl_ms.p50, rb.itl_ms.p50),
            ("ITL p90 ms", ra.itl_ms.p90, rb.itl_ms.p90),
            ("TPOT p50 ms", ra.tpot_ms.p50, rb.tpot_ms.p50),
            ("E2E p90 ms", ra.e2e_ms.p90, rb.e2e_ms.p90),
            (
                "cache hit %",
                100.0 * ra.cache_hit_share,
                100.0 * rb.cache_hit_share,
            ),
            (
                "errors",
                ra.errors.iter().map(|e| e.count).sum::<u64>() as f64,
                rb.errors.iter().map(|e| e.count).sum::<u64>() as f64,
            ),
            (
                "goodput req/s",
                ra.goodput.as_ref().map_or(f64::NAN, |g| g.requests_per_s),
                rb.goodput.as_ref().map_or(f64::NAN, |g| g.requests_per_s),
            ),
        ];
        for (name, x, y) in rows {
            if x.is_nan() && y.is_nan() {
                continue;
            }
            let change = if x.abs() > 1e-12 {
                format!("{:+.1}%", 100.0 * (y - x) / x)
            } else {
                "-".into()
            };
            let _ = writeln!(s, "{name:<22} {x:>12.2} {y:>12.2} {change:>9}");
        }
    }
    if let (Some(sa), Some(sb)) = (&a.search, &b.search) {
        let _ = writeln!(
            s,
            "\nmax sessions meeting the SLO: {} -> {}",
            sa.max_sessions, sb.max_sessions
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{report, run};

    #[test]
    fn a_rejected_extension_gets_a_hint_naming_the_flag() {
        let mut r = run("1 session", 1, 1.0);
        r.errors.push(ErrorCount {
            kind: "http 400".to_string(),
            count: 3,
            sample: r#"{"error":{"message":"Unrecognized request argument supplied: stream_options.continuous_usage_stats"}}"#.to_string(),
        });
        let text = render(&report(vec![r.clone()]));
        assert!(
            text.contains("hint: the server rejects stream_options.continuous_usage_stats"),
            "{text}"
        );
        assert!(text.contains("--no-continuous-usage"), "{text}");
        assert!(!text.contains("--ignore-eos"), "{text}");
        r.errors[0].sample = "Extra inputs are not permitted: ignore_eos".to_string();
        let text = render(&report(vec![r.clone()]));
        assert!(text.contains("rerun without --ignore-eos"), "{text}");
        r.errors[0].sample = "upstream timed out".to_string();
        assert!(!render(&report(vec![r])).contains("hint:"));
    }
}
