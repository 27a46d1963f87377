//! The report as one self-contained HTML page (`weir load --html`): inline
//! CSS and inline SVG charts ([`super::chart`]), no scripts and no external
//! resources, so the file opens offline and can be attached or archived as
//! it is.
//!
//! The charts are drawn by a maintained library, plotters' SVG backend,
//! rather than a JavaScript chart library inlined into the page (uPlot and
//! the like): static SVG keeps the page script-free, so it opens the same in
//! any browser, mail client or archive viewer, prints, and can be checked
//! element by element (`tests/e2e/load_html.rs` reads each chart's series and
//! axis ranges from the DOM). Zoom and tooltips would add little here: the
//! summary table beside the charts holds the exact figures, and the JSON
//! report (`--output`) holds every number.

use std::fmt::Write as _;

use serde_json::Value;

use super::chart::{color, Chart, Marker, Point, Series};
use super::report::{Report, RunReport};

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:14px;color:#222;margin:20px;max-width:1240px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}\
.meta{color:#555;margin:0 0 10px}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}\
th{background:#f4f4f4;font-weight:600}td.l,th.l{text-align:left}td.run{min-width:150px}\
.sub{color:#666;font-size:12px;font-weight:normal}\
.config{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:0 18px;font-size:12px}\
.config div{display:flex;justify-content:space-between;gap:8px;border-bottom:1px dotted #ddd;padding:2px 0}\
.config .k{color:#555}.config .v{font-family:ui-monospace,monospace;text-align:right;overflow-wrap:anywhere}\
.warn{background:#fff3cd;border:1px solid #e0b000;padding:6px 10px;margin:8px 0;border-radius:4px}\
.bad{color:#b00020;font-weight:600}.good{color:#1a7f37;font-weight:600}\
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:14px}\
figure{margin:0;border:1px solid #e5e5e5;padding:6px 0 4px}svg{display:block;max-width:100%;height:auto}\
figure.chart figcaption{font-size:15px;font-weight:bold;text-align:center}\
.legend{list-style:none;margin:0 8px;padding:0;font-size:12px}.legend li{display:inline-block;margin:1px 14px 1px 0}\
.legend .key{display:inline-block;width:20px;height:8px;margin-right:5px;vertical-align:middle;box-sizing:border-box}\
.nodata{border:1px dashed #bbb;padding:8px 12px;color:#666}.nodata figcaption{font-weight:600;color:#222}\
.steps span{display:inline-block;margin:2px 4px 2px 0;padding:1px 7px;border-radius:10px;font-size:12px}\
.steps .y{background:#dcf5e1}.steps .n{background:#fde2e1}\
";

/// One self-contained offline HTML page (inline CSS + inline SVG, no
/// scripts or external resources) showing a report: the configuration, a
/// summary table per run, the errors, and latency, throughput, per-turn and
/// (for a sweep or a search) latency-versus-throughput charts.
pub fn render(report: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let kind = if report.search.is_some() {
        "find-max-sessions search"
    } else if report.runs.len() > 1 {
        "sweep"
    } else {
        "single run"
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{tool} report ({started})</title><style>{CSS}</style></head><body>\n\
         <h1>{tool} report</h1>\n<p class=\"meta\">{tool} {version} · started {started} · {kind}, {n} run{s}</p>\n",
        tool = escape(&report.tool),
        version = escape(&report.version),
        started = escape(&report.started_at),
        n = report.runs.len(),
        s = if report.runs.len() == 1 { "" } else { "s" },
    );

    config_section(&mut o, &report.config);
    summary_section(&mut o, report);
    search_section(&mut o, report);
    errors_section(&mut o, report);

    o.push_str("<h2>Charts</h2>\n<section class=\"charts\">\n");
    for chart in charts(report) {
        o.push_str(&chart.render());
    }
    o.push_str("</section>\n</body></html>\n");
    o
}

/// The configuration as a compact key/value grid (nested values flattened).
fn config_section(o: &mut String, config: &Value) {
    o.push_str("<h2>Configuration</h2>\n");
    let mut pairs = Vec::new();
    flatten("", config, &mut pairs);
    if pairs.is_empty() {
        o.push_str("<p class=\"sub\">no configuration recorded</p>\n");
        return;
    }
    o.push_str("<div class=\"config\">\n");
    for (k, v) in pairs {
        let _ = writeln!(
            o,
            "<div><span class=\"k\">{}</span><span class=\"v\">{}</span></div>",
            escape(&k),
            escape(&v)
        );
    }
    o.push_str("</div>\n");
}

/// Flattens a JSON value into `(dotted.key, value)` pairs: objects by key,
/// arrays of scalars joined with commas, other arrays by index.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Null if prefix.is_empty() => {}
        Value::Object(map) if map.is_empty() => {
            if !prefix.is_empty() {
                out.push((prefix.to_string(), "{}".to_string()));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let joined: Vec<String> = items.iter().map(scalar).collect();
            let name = if prefix.is_empty() { "config" } else { prefix };
            out.push((name.to_string(), format!("[{}]", joined.join(", "))));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = if prefix.is_empty() { "config" } else { prefix };
                flatten(&format!("{name}[{i}]"), item, out);
            }
        }
        other => {
            let name = if prefix.is_empty() { "config" } else { prefix };
            out.push((name.to_string(), scalar(other)));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The summary table, one row per run, with client-bound warnings above it.
fn summary_section(o: &mut String, report: &Report) {
    o.push_str("<h2>Summary</h2>\n");
    if report.runs.is_empty() {
        o.push_str("<p class=\"sub\">no runs</p>\n");
        return;
    }
    for run in report.runs.iter().filter(|r| r.client.client_bound) {
        let c = &run.client;
        let _ = writeln!(
            o,
            "<div class=\"warn\">⚠ <b>Client-bound:</b> during <b>{}</b> the load generator itself was the bottleneck \
             (CPU {} of {} cores, event-loop lag p99 {} ms, max {} ms): its latencies and throughput may describe the client, not the server.</div>",
            escape(&run.label),
            fmt_short(c.cpu_cores_used),
            c.cores,
            fmt_short(c.loop_lag_p99_ms),
            fmt_short(c.loop_lag_max_ms),
        );
    }
    o.push_str(
        "<table>\n<tr><th class=\"l\" rowspan=\"2\">Run</th><th rowspan=\"2\">Requests ok</th><th rowspan=\"2\">Errors</th>\
         <th colspan=\"3\">TTFT (ms)</th><th colspan=\"3\">ITL (ms)</th><th>TPOT (ms)</th><th colspan=\"2\">E2E (ms)</th>\
         <th rowspan=\"2\">Output tok/s</th><th rowspan=\"2\">Req/s</th><th rowspan=\"2\">Cache hit</th>\
         <th class=\"l\" rowspan=\"2\">Goodput</th><th class=\"l\" rowspan=\"2\">Client</th></tr>\n\
         <tr><th>p50</th><th>p90</th><th>p99</th><th>p50</th><th>p90</th><th>p99</th><th>p50</th><th>p50</th><th>p90</th></tr>\n",
    );
    for run in &report.runs {
        let errors: u64 = run.errors.iter().map(|e| e.count).sum();
        let total = errors + run.requests_ok;
        let err_cell = if errors == 0 {
            "0".to_string()
        } else {
            format!(
                "<span class=\"bad\">{}</span> <span class=\"sub\">({})</span>",
                fmt_int(errors),
                fmt_pct(errors as f64 / total as f64)
            )
        };
        let goodput = match &run.goodput {
            None => "–".to_string(),
            Some(g) => format!(
                "{}&nbsp;req/s {}<br><span class=\"sub\">{} of requests<br>{} of sessions<br>{}</span>",
                fmt_num(g.requests_per_s),
                if g.met {
                    "<span class=\"good\">met</span>"
                } else {
                    "<span class=\"bad\">missed</span>"
                },
                fmt_pct(g.request_share),
                fmt_pct(g.session_share),
                escape(&g.slo),
            ),
        };
        let c = &run.client;
        let mut client = format!(
            "{} of&nbsp;{}&nbsp;cores<br><span class=\"sub\">lag p99 {}&nbsp;ms<br>{}&nbsp;µs/token</span>",
            fmt_short(c.cpu_cores_used),
            c.cores,
            fmt_short(c.loop_lag_p99_ms),
            fmt_short(c.cpu_us_per_token)
        );
        if c.client_bound {
            client.push_str("<br><span class=\"bad\">⚠ client-bound</span>");
        }
        let _ = writeln!(
            o,
            "<tr><td class=\"l run\"><b>{label}</b><br><span class=\"sub\">{dur}&nbsp;s + {warm}&nbsp;s warm-up<br>{sess} sessions done<br>ITL from {src}</span></td>\
             <td>{ok}</td><td>{err_cell}</td><td>{t50}</td><td>{t90}</td><td>{t99}</td><td>{i50}</td><td>{i90}</td><td>{i99}</td>\
             <td>{tp50}</td><td>{e50}</td><td>{e90}</td><td>{tok}</td><td>{rps}</td><td>{cache}</td><td class=\"l\">{goodput}</td><td class=\"l\">{client}</td></tr>",
            label = escape(&run.label),
            dur = fmt_short(run.duration_s),
            warm = fmt_short(run.warmup_s),
            sess = fmt_int(run.sessions_completed),
            src = escape(&run.itl_source),
            ok = fmt_int(run.requests_ok),
            t50 = fmt_num(run.ttft_ms.p50),
            t90 = fmt_num(run.ttft_ms.p90),
            t99 = fmt_num(run.ttft_ms.p99),
            i50 = fmt_num(run.itl_ms.p50),
            i90 = fmt_num(run.itl_ms.p90),
            i99 = fmt_num(run.itl_ms.p99),
            tp50 = fmt_num(run.tpot_ms.p50),
            e50 = fmt_num(run.e2e_ms.p50),
            e90 = fmt_num(run.e2e_ms.p90),
            tok = fmt_num(run.output_tok_s),
            rps = fmt_num(run.requests_per_s),
            cache = fmt_pct(run.cache_hit_share),
        );
    }
    o.push_str("</table>\n");
}

/// The `--find-max-sessions` steps and result.
fn search_section(o: &mut String, report: &Report) {
    let Some(search) = &report.search else {
        return;
    };
    let _ = write!(
        o,
        "<h2>Search</h2>\n<p>Objective <code>{}</code>: largest session count that met it: <b>{}</b></p>\n<p class=\"steps\">Steps in order: ",
        escape(&search.slo),
        search.max_sessions
    );
    for (sessions, met) in &search.steps {
        let _ = write!(
            o,
            "<span class=\"{}\">{} {}</span>",
            if *met { "y" } else { "n" },
            sessions,
            if *met { "✓" } else { "✗" }
        );
    }
    o.push_str("</p>\n");
}

/// Every run's errors by kind, with a sample message each.
fn errors_section(o: &mut String, report: &Report) {
    o.push_str("<h2>Errors</h2>\n");
    if report.runs.iter().all(|r| r.errors.is_empty()) {
        o.push_str("<p>No errors.</p>\n");
        return;
    }
    o.push_str("<table>\n<tr><th class=\"l\">Run</th><th class=\"l\">Kind</th><th>Count</th><th class=\"l\">Sample message</th></tr>\n");
    for run in &report.runs {
        for e in &run.errors {
            let sample: String = e.sample.chars().take(300).collect();
            let _ = writeln!(
                o,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\"><code>{}</code></td></tr>",
                escape(&run.label),
                escape(&e.kind),
                fmt_int(e.count),
                escape(&sample)
            );
        }
    }
    o.push_str("</table>\n");
}

/// The charts, in page order: 5 for one run, 7 for several.
fn charts(report: &Report) -> Vec<Chart> {
    let runs = &report.runs;
    let mut charts = vec![
        cdf_chart(
            "TTFT distribution",
            "time to first token (ms, log scale)",
            runs,
            |r| &r.ttft_hist,
        ),
        cdf_chart(
            "ITL distribution",
            "inter-token latency (ms, log scale)",
            runs,
            |r| &r.itl_hist,
        ),
        timeline_chart(runs),
        turn_ttft_chart(runs),
        turn_cache_chart(runs),
    ];
    if runs.len() > 1 {
        charts.push(curve_chart(report, "TTFT", |r| {
            (r.ttft_ms.p50, r.ttft_ms.p90)
        }));
        charts.push(curve_chart(report, "ITL", |r| (r.itl_ms.p50, r.itl_ms.p90)));
    }
    charts
}

/// A cumulative distribution from (upper bound, count) buckets, one line per run.
fn cdf_chart(
    title: &str,
    x_title: &str,
    runs: &[RunReport],
    hist: impl Fn(&RunReport) -> &Vec<(f64, u64)>,
) -> Chart {
    let mut chart = Chart::new(title)
        .x_title(x_title)
        .y_title("% of samples at or below")
        .log_x()
        .y_range(0.0, 100.0);
    for (i, run) in runs.iter().enumerate() {
        let mut buckets: Vec<(f64, u64)> = hist(run)
            .iter()
            .copied()
            .filter(|(b, _)| b.is_finite())
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = buckets.iter().map(|(_, c)| c).sum();
        if total == 0 {
            continue;
        }
        let mut cum = 0u64;
        let points: Vec<(f64, f64)> = buckets
            .iter()
            .map(|&(b, c)| {
                cum += c;
                (b, 100.0 * cum as f64 / total as f64)
            })
            .collect();
        chart = chart.series(Series::line(&run.label, color(i), points));
    }
    chart
}

/// Output tokens per second over time (solid, left axis) and active sessions
/// (dashed, right axis), one colour per run; the warm-up shaded.
fn timeline_chart(runs: &[RunReport]) -> Chart {
    let mut chart = Chart::new("Throughput over time")
        .x_title("seconds since the run started")
        .y_title("output tokens/s")
        .y2_title("active sessions")
        .x_from_zero();
    if let Some(first) = runs.first() {
        chart = chart.band(0.0, first.warmup_s, "warm-up");
    }
    for (i, run) in runs.iter().enumerate() {
        if run.timeline.is_empty() {
            continue;
        }
        chart = chart
            .series(Series::line(
                &format!("{} tok/s", run.label),
                color(i),
                run.timeline.iter().map(|p| (p.t_s, p.output_tokens as f64)),
            ))
            .series(
                Series::line(
                    &format!("{} active", run.label),
                    color(i),
                    run.timeline
                        .iter()
                        .map(|p| (p.t_s, p.active_sessions as f64)),
                )
                .dashed()
                .right(),
            );
    }
    chart
}

/// TTFT p50 (solid) and p90 (dashed) by turn number: the cost of a growing context.
fn turn_ttft_chart(runs: &[RunReport]) -> Chart {
    let mut chart = Chart::new("TTFT by turn")
        .x_title("turn (request number within a session)")
        .y_title("TTFT (ms)")
        .x_from_zero();
    for (i, run) in runs.iter().enumerate() {
        if run.by_turn.is_empty() {
            continue;
        }
        chart = chart
            .series(
                Series::line(
                    &format!("{} p50", run.label),
                    color(i),
                    run.by_turn.iter().map(|t| (t.turn as f64, t.ttft_p50_ms)),
                )
                .marker(Marker::Dot),
            )
            .series(
                Series::line(
                    &format!("{} p90", run.label),
                    color(i),
                    run.by_turn.iter().map(|t| (t.turn as f64, t.ttft_p90_ms)),
                )
                .dashed(),
            );
    }
    chart
}

/// Cache-hit share (solid, left) and mean prompt tokens (dashed, right) by
/// turn number: the win from prefix caching as the context grows.
fn turn_cache_chart(runs: &[RunReport]) -> Chart {
    let mut chart = Chart::new("Prefix-cache hits by turn")
        .x_title("turn (request number within a session)")
        .y_title("% of prompt tokens cached")
        .y2_title("mean prompt tokens")
        .y_range(0.0, 100.0)
        .x_from_zero();
    for (i, run) in runs.iter().enumerate() {
        if run.by_turn.is_empty() {
            continue;
        }
        chart = chart
            .series(
                Series::line(
                    &format!("{} cached", run.label),
                    color(i),
                    run.by_turn
                        .iter()
                        .map(|t| (t.turn as f64, 100.0 * t.cache_hit_share)),
                )
                .marker(Marker::Dot),
            )
            .series(
                Series::line(
                    &format!("{} prompt", run.label),
                    color(i),
                    run.by_turn
                        .iter()
                        .map(|t| (t.turn as f64, t.prompt_tokens_mean)),
                )
                .dashed()
                .right(),
            );
    }
    chart
}

/// Latency against throughput across runs: x = output tok/s, y = p90 (with
/// labelled points) and p50 (dashed); the search's max sessions ringed.
fn curve_chart(report: &Report, what: &str, pick: impl Fn(&RunReport) -> (f64, f64)) -> Chart {
    let mut runs: Vec<&RunReport> = report.runs.iter().collect();
    runs.sort_by(|a, b| {
        a.sessions
            .cmp(&b.sessions)
            .then(a.rate.unwrap_or(0.0).total_cmp(&b.rate.unwrap_or(0.0)))
    });
    let point_label = |r: &RunReport| match r.sessions {
        Some(n) => n.to_string(),
        None => r.label.clone(),
    };
    let p90: Vec<Point> = runs
        .iter()
        .map(|r| Point {
            x: r.output_tok_s,
            y: pick(r).1,
            label: Some(point_label(r)),
        })
        .collect();
    let mut chart = Chart::new(&format!("{what} vs throughput (points: sessions)"))
        .x_title("output tokens/s (all streams)")
        .y_title(&format!("{what} (ms)"))
        .x_from_zero()
        .series(Series::points(&format!("p90 {what}"), color(0), p90).with_line())
        .series(
            Series::line(
                &format!("p50 {what}"),
                color(1),
                runs.iter().map(|r| (r.output_tok_s, pick(r).0)),
            )
            .dashed(),
        );
    if let Some(search) = &report.search {
        let best: Vec<Point> = runs
            .iter()
            .filter(|r| r.sessions == Some(search.max_sessions))
            .take(1)
            .map(|r| Point {
                x: r.output_tok_s,
                y: pick(r).1,
                label: None,
            })
            .collect();
        if !best.is_empty() {
            chart = chart.series(
                Series::points(
                    &format!(
                        "max sessions meeting the objective: {}",
                        search.max_sessions
                    ),
                    color(3),
                    best,
                )
                .marker(Marker::Ring),
            );
        }
    }
    chart
}

/// Escapes text for HTML or SVG element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for a table cell: a dash for NaN/inf, thousands separated,
/// fewer decimals the larger it is.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    if a >= 100.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        return format!("{sign}{}", fmt_int(a.round() as u64));
    }
    let decimals = if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}")
}

/// Like [`fmt_num`] without trailing zeros after the decimal point
/// (`50`, `0.8`), for durations and client figures.
pub fn fmt_short(v: f64) -> String {
    let s = fmt_num(v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// An integer with thousands separators: `12,345`.
pub fn fmt_int(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share (0..1) as a percentage with one decimal; a dash for NaN/inf.
pub fn fmt_pct(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1}%", share * 100.0)
    } else {
        "–".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{report, run};
    use crate::report::*;
    use serde_json::json;

    #[test]
    fn config_values_and_labels_are_escaped() {
        let mut r = report(vec![run("<b>bold</b> & co", 4, 1.0)]);
        r.config = json!({
            "system_prompt": "<script>alert('x')</script>",
            "nested": {"a": "\"quoted\" & more", "list": [{"k": 1}]},
        });
        r.runs[0].errors.push(ErrorCount {
            kind: "http 500".to_string(),
            count: 3,
            sample: "<html>oops</html>".to_string(),
        });
        let html = render(&r);
        assert!(!html.contains("<script"), "script tag leaked");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("nested.a"));
        assert!(html.contains("&quot;quoted&quot; &amp; more"));
        assert!(html.contains("nested.list[0].k"));
        assert!(html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; co"));
        assert!(!html.contains("<b>bold</b>"));
        assert!(html.contains("&lt;html&gt;oops&lt;/html&gt;"));
    }

    #[test]
    fn empty_report_renders_no_data_notes() {
        let mut r = report(vec![]);
        r.config = Value::Null;
        let html = render(&r);
        assert_eq!(html.matches("<svg").count(), 0);
        assert_eq!(html.matches("no data</p>").count(), 5, "{html}");
        assert!(html.contains("no runs"));
        assert!(html.ends_with("</html>\n"));

        // A run with nothing measured: no histograms, no timeline, no turns.
        let mut empty_run = run("idle", 1, 1.0);
        empty_run.ttft_hist.clear();
        empty_run.itl_hist = vec![(10.0, 0)];
        empty_run.timeline.clear();
        empty_run.by_turn.clear();
        empty_run.ttft_ms = Summary::default();
        empty_run.ttft_ms.p50 = f64::NAN;
        let html = render(&report(vec![empty_run]));
        assert_eq!(html.matches("no data</p>").count(), 5, "{html}");
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn multi_run_report_draws_every_chart() {
        let single = render(&report(vec![run("4 sessions", 4, 1.0)]));
        assert_eq!(single.matches("<svg").count(), 5);
        assert!(!single.contains("no data"));

        let mut r = report(vec![
            run("4 sessions", 4, 1.0),
            run("8 sessions", 8, 1.3),
            run("16 sessions", 16, 2.0),
        ]);
        r.search = Some(SearchReport {
            slo: "ttft=2s".to_string(),
            steps: vec![(4, true), (16, false), (8, true)],
            max_sessions: 8,
        });
        r.runs[2].client.client_bound = true;
        r.runs[1].goodput = Some(Goodput {
            slo: "ttft=2s".to_string(),
            requests_per_s: 1.5,
            request_share: 0.93,
            session_share: 0.875,
            met: true,
        });
        let html = render(&r);
        assert_eq!(html.matches("<svg").count(), 7);
        assert_eq!(
            html.matches("<figure class=\"chart\" data-series=").count(),
            7
        );
        assert!(!html.contains("no data"));
        assert!(html.contains("max sessions meeting the objective: 8"));
        assert!(html.contains("client-bound"));
        assert!(html.contains("93.0% of requests"));
        assert!(html.contains("87.5% of sessions"));
        for svg in html.split("<svg").skip(1) {
            let svg = &svg[..svg.find("</svg>").unwrap()];
            assert!(svg.contains("<polyline data-series-index=\"0\""), "{svg}");
            assert!(!svg.contains("NaN"), "{svg}");
        }
    }

    #[test]
    fn numbers_are_formatted() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.1234), "0.123");
        assert_eq!(fmt_num(4.5678), "4.57");
        assert_eq!(fmt_num(42.27), "42.3");
        assert_eq!(fmt_num(123.6), "124");
        assert_eq!(fmt_num(1_234_567.0), "1,234,567");
        assert_eq!(fmt_num(-2500.0), "-2,500");
        assert_eq!(fmt_num(f64::NAN), "–");
        assert_eq!(fmt_num(f64::INFINITY), "–");
        assert_eq!(fmt_short(50.0), "50");
        assert_eq!(fmt_short(0.8), "0.8");
        assert_eq!(fmt_short(1250.0), "1,250");
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(1000), "1,000");
        assert_eq!(fmt_pct(0.875), "87.5%");
        assert_eq!(fmt_pct(f64::NAN), "–");
    }
}
