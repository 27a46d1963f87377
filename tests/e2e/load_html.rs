//! End to end: a fabricated `weir load` sweep report (test data, not a
//! measurement), rendered with `weir_load::html::render` and opened in
//! headless Chromium. A probe script reads back from the DOM what each chart
//! drew (its series, the elements each series drew, the axis ranges it
//! declares, the plot area), and the test checks all of it against the
//! report's own numbers: the series of each chart, every point at the pixel
//! its value maps to, and each axis spanning exactly the data's range. A
//! dropped series, a lost point or a mis-scaled axis fails it.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`, or set `CHROMIUM`);
//! scripts/test.sh installs it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_load::html;
use weir_load::report::*;

/// A deterministic pseudo-random stream (no `rand` dependency).
struct Lcg(u64);

impl Lcg {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Standard normal CDF (Abramowitz & Stegun 7.1.26 erf).
fn phi(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let erf = 1.0
        - t * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
            * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// `n` log-normal samples with this median and log-sigma, as geometric
/// (upper bound ms, count) buckets, and their summary.
fn lognormal(n: u64, median: f64, sigma: f64) -> (Vec<(f64, u64)>, Summary) {
    let mut buckets = Vec::new();
    let (mut lo, mut prev) = (0.05f64, 0.0);
    while lo < 600_000.0 {
        let hi = lo * 1.15;
        let cdf = phi((hi / median).ln() / sigma);
        let count = (n as f64 * (cdf - prev)).round() as u64;
        prev = cdf;
        if count > 0 {
            buckets.push(((hi * 100.0).round() / 100.0, count));
        }
        lo = hi;
    }
    let q = |z: f64| median * (z * sigma).exp();
    let summary = Summary {
        count: n,
        mean: median * (sigma * sigma / 2.0).exp(),
        p50: median,
        p90: q(1.2816),
        p99: q(2.3263),
        max: q(3.4),
    };
    (buckets, summary)
}

fn run(sessions: usize, load: f64, rng: &mut Lcg) -> RunReport {
    let requests = (sessions as u64) * 38;
    let (ttft_hist, ttft) = lognormal(requests, 180.0 * load, 0.7);
    let (itl_hist, itl) = lognormal(requests * 180, 18.0 * load.sqrt(), 0.35);
    let (_, tpot) = lognormal(requests, 19.0 * load.sqrt(), 0.2);
    let (_, e2e) = lognormal(requests, 4200.0 * load.sqrt(), 0.5);
    let (_, session_s) = lognormal(sessions as u64 * 3, 95.0 * load.sqrt(), 0.3);
    let (_, stream_tok_s) = lognormal(requests, 52.0 / load.sqrt(), 0.2);
    let tok_s = sessions as f64 * 48.0 / load.sqrt() * 0.55;
    let timeline = (0..60)
        .map(|t| {
            let ramp = ((t as f64 + 1.0) / 10.0).min(1.0);
            let noise = 0.85 + 0.3 * rng.next();
            TimelinePoint {
                t_s: t as f64,
                output_tokens: (tok_s * ramp * noise) as u64,
                requests: (sessions as f64 * 0.6 * ramp * noise) as u64,
                errors: u64::from(sessions >= 32 && rng.next() < 0.1),
                active_sessions: (sessions as f64 * ramp).ceil() as u64,
            }
        })
        .collect();
    let by_turn = (1..=12)
        .map(|turn| {
            let prompt = 3200.0 + 1900.0 * (turn - 1) as f64;
            // Higher load evicts more of the prefix cache.
            let cache = if turn == 1 {
                0.42
            } else {
                0.99 - 0.5 / turn as f64 - 0.03 * load
            };
            TurnStats {
                turn,
                count: (sessions * (13 - turn)) as u64 / 3 + 1,
                ttft_p50_ms: ttft.p50 * (0.6 + 0.09 * turn as f64),
                ttft_p90_ms: ttft.p90 * (0.6 + 0.11 * turn as f64),
                prompt_tokens_mean: prompt,
                cache_hit_share: cache,
            }
        })
        .collect();
    let mut errors = Vec::new();
    if sessions >= 32 {
        errors.push(ErrorCount {
            kind: "http 429".to_string(),
            count: 7,
            sample: "{\"error\":{\"message\":\"too many requests: queue > 64\"}}".to_string(),
        });
        errors.push(ErrorCount {
            kind: "timeout".to_string(),
            count: 1,
            sample: "no first token within 30s".to_string(),
        });
    }
    let prompt_tokens = requests * 12_000;
    let cached_tokens = prompt_tokens * 86 / 100;
    RunReport {
        label: format!("{sessions} sessions"),
        sessions: Some(sessions),
        rate: None,
        duration_s: 50.0,
        warmup_s: 10.0,
        requests_ok: requests,
        errors,
        sessions_completed: sessions as u64 * 3,
        ttft_ms: ttft,
        itl_ms: itl,
        tpot_ms: tpot,
        e2e_ms: e2e,
        session_s,
        stream_tok_s,
        itl_source: "usage".to_string(),
        prompt_tokens,
        cached_tokens,
        output_tokens: (tok_s * 50.0) as u64,
        cache_hit_share: cached_tokens as f64 / prompt_tokens as f64,
        output_tok_s: tok_s,
        requests_per_s: requests as f64 / 50.0,
        goodput: Some(Goodput {
            slo: "ttft=2s,itl=100ms".to_string(),
            requests_per_s: requests as f64 / 50.0 * (1.0 - 0.04 * load),
            request_share: 1.0 - 0.04 * load,
            session_share: 1.0 - 0.07 * load,
            met: load < 3.0,
        }),
        by_turn,
        timeline,
        ttft_hist,
        itl_hist,
        client: ClientHealth {
            cpu_cores_used: 0.02 * sessions as f64,
            cores: 16,
            loop_lag_p99_ms: 0.8,
            loop_lag_max_ms: 3.1,
            cpu_us_per_token: 9.5,
            client_bound: false,
        },
    }
}

fn fabricated_report() -> Report {
    let mut rng = Lcg(42);
    Report {
        tool: "weir load".to_string(),
        version: "0.1.0".to_string(),
        started_at: "2026-05-04T09:30:12Z".to_string(),
        config: serde_json::json!({
            "url": "http://127.0.0.1:8080/v1",
            "model": "qwen2.5-coder-7b-instruct",
            "sweep": [8, 16, 32],
            "duration_s": 50,
            "warmup_s": 10,
            "seed": 42,
            "slo": "ttft=2s,itl=100ms",
            "workload": {
                "kind": "agent",
                "turns": {"min": 6, "max": 12},
                "think_time_ms": {"mean": 800},
                "system_prompt": "<you are a coding agent & you \"edit\" files>",
            },
            "timeout_s": 30,
        }),
        runs: vec![
            run(8, 1.0, &mut rng),
            run(16, 1.6, &mut rng),
            run(32, 3.4, &mut rng),
        ],
        search: None,
        interrupted: None,
    }
}

/// A fresh directory under cargo's per-target temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "headless Chromium not found at {}: install Debian's chromium (scripts/test.sh does), or set CHROMIUM",
        path.display()
    );
    path
}

/// Runs headless Chromium with `args` and a fresh profile, killing it after
/// 60 s; returns its stdout.
fn run_chromium(dir: &Path, tag: &str, args: &[String]) -> String {
    let profile = dir.join(format!("profile-{tag}"));
    std::fs::create_dir_all(&profile).unwrap();
    let stdout_path = dir.join(format!("{tag}.stdout"));
    let stderr_path = dir.join(format!("{tag}.stderr"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ({tag}) still running after 60 s; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success(),
        "chromium ({tag}) failed: {status}\n{stderr}"
    );
    std::fs::read_to_string(&stdout_path).unwrap()
}

/// Appended to a copy of the page: walks every chart in the DOM Chromium
/// built and writes what it finds as JSON into `<pre id="drawn">`. Points
/// come from the browser's parsed geometry (`SVGPointList`, the circles'
/// animated values), not from the page's text.
const PROBE: &str = r#"<script>
const charts = [...document.querySelectorAll('figure.chart')].map(f => {
  const attrs = {};
  for (const a of f.attributes) attrs[a.name] = a.value;
  const drawn = {};
  const svg = f.querySelector('svg');
  for (const el of svg ? svg.querySelectorAll('[data-series-index]') : []) {
    const i = el.getAttribute('data-series-index');
    const d = drawn[i] || (drawn[i] = {polylines: [], circles: [], other: 0});
    if (el.tagName === 'polyline') {
      const pts = [];
      for (let k = 0; k < el.points.numberOfItems; k++) {
        const p = el.points.getItem(k);
        pts.push([p.x, p.y]);
      }
      d.polylines.push(pts);
    } else if (el.tagName === 'circle') {
      d.circles.push([el.cx.baseVal.value, el.cy.baseVal.value]);
    } else {
      d.other += 1;
    }
  }
  const legend = [...f.querySelectorAll('li[data-series-index]')].map(li => ({
    index: li.getAttribute('data-series-index'),
    name: li.textContent,
    points: Number(li.getAttribute('data-points')),
    axis: li.getAttribute('data-axis'),
  }));
  return {title: f.querySelector('figcaption').textContent, attrs, legend, drawn};
});
const pre = document.createElement('pre');
pre.id = 'drawn';
pre.textContent = JSON.stringify(charts);
document.body.append(pre);
</script>"#;

/// One series as the report's numbers say it must be drawn.
struct ExpectedSeries {
    name: String,
    points: Vec<(f64, f64)>,
    right: bool,
    line: bool,
    dots: bool,
}

/// One chart as the report's numbers say it must be drawn: its series and
/// the exact range of each axis.
struct ExpectedChart {
    title: String,
    log_x: bool,
    x: (f64, f64),
    y: (f64, f64),
    y2: Option<(f64, f64)>,
    series: Vec<ExpectedSeries>,
}

fn line(name: String, points: Vec<(f64, f64)>) -> ExpectedSeries {
    ExpectedSeries {
        name,
        points,
        right: false,
        line: true,
        dots: false,
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

impl ExpectedChart {
    /// A chart whose x axis spans the data (from zero where `x_from_zero`),
    /// whose left y axis spans zero to the data's maximum unless `y_fixed`,
    /// and whose right axis (if a series uses it) spans zero to its maximum.
    fn new(
        title: &str,
        log_x: bool,
        x_from_zero: bool,
        y_fixed: Option<(f64, f64)>,
        series: Vec<ExpectedSeries>,
    ) -> ExpectedChart {
        let all = || series.iter().flat_map(|s| s.points.iter());
        let (x_lo, x_hi) = min_max(all().map(|p| p.0));
        let x = (if x_from_zero { x_lo.min(0.0) } else { x_lo }, x_hi);
        let y_max = |right: bool| {
            let pts = series.iter().filter(|s| s.right == right);
            min_max(pts.flat_map(|s| s.points.iter().map(|p| p.1))).1
        };
        let y = y_fixed.unwrap_or((0.0, y_max(false)));
        let y2 = series.iter().any(|s| s.right).then(|| (0.0, y_max(true)));
        ExpectedChart {
            title: title.to_string(),
            log_x,
            x,
            y,
            y2,
            series,
        }
    }
}

/// The charts a report must show, in page order, from its own numbers.
fn expected_charts(report: &Report) -> Vec<ExpectedChart> {
    let runs = &report.runs;
    let cdf = |title: &str, hist: fn(&RunReport) -> &Vec<(f64, u64)>| {
        let series = runs
            .iter()
            .map(|r| {
                let mut buckets: Vec<(f64, u64)> = hist(r)
                    .iter()
                    .copied()
                    .filter(|(b, _)| b.is_finite() && *b > 0.0)
                    .collect();
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                let total: u64 = buckets.iter().map(|b| b.1).sum();
                let mut cum = 0;
                let points = buckets
                    .iter()
                    .map(|&(b, c)| {
                        cum += c;
                        (b, 100.0 * cum as f64 / total as f64)
                    })
                    .collect();
                line(r.label.clone(), points)
            })
            .collect();
        ExpectedChart::new(title, true, false, Some((0.0, 100.0)), series)
    };
    let mut charts = vec![
        cdf("TTFT distribution", |r| &r.ttft_hist),
        cdf("ITL distribution", |r| &r.itl_hist),
    ];

    let mut timeline = Vec::new();
    for r in runs {
        let at = |f: fn(&TimelinePoint) -> f64| r.timeline.iter().map(|p| (p.t_s, f(p))).collect();
        timeline.push(line(
            format!("{} tok/s", r.label),
            at(|p| p.output_tokens as f64),
        ));
        timeline.push(ExpectedSeries {
            right: true,
            ..line(
                format!("{} active", r.label),
                at(|p| p.active_sessions as f64),
            )
        });
    }
    charts.push(ExpectedChart::new(
        "Throughput over time",
        false,
        true,
        None,
        timeline,
    ));

    let by_turn = |f: fn(&TurnStats) -> f64, r: &RunReport| -> Vec<(f64, f64)> {
        r.by_turn.iter().map(|t| (t.turn as f64, f(t))).collect()
    };
    let mut ttft = Vec::new();
    let mut cache = Vec::new();
    for r in runs {
        ttft.push(ExpectedSeries {
            dots: true,
            ..line(format!("{} p50", r.label), by_turn(|t| t.ttft_p50_ms, r))
        });
        ttft.push(line(
            format!("{} p90", r.label),
            by_turn(|t| t.ttft_p90_ms, r),
        ));
        cache.push(ExpectedSeries {
            dots: true,
            ..line(
                format!("{} cached", r.label),
                by_turn(|t| 100.0 * t.cache_hit_share, r),
            )
        });
        cache.push(ExpectedSeries {
            right: true,
            ..line(
                format!("{} prompt", r.label),
                by_turn(|t| t.prompt_tokens_mean, r),
            )
        });
    }
    charts.push(ExpectedChart::new("TTFT by turn", false, true, None, ttft));
    charts.push(ExpectedChart::new(
        "Prefix-cache hits by turn",
        false,
        true,
        Some((0.0, 100.0)),
        cache,
    ));

    let mut by_sessions: Vec<&RunReport> = runs.iter().collect();
    by_sessions.sort_by_key(|r| r.sessions);
    for (what, pick) in [
        ("TTFT", (|r| &r.ttft_ms) as fn(&RunReport) -> &Summary),
        ("ITL", |r| &r.itl_ms),
    ] {
        let curve = |p: fn(&Summary) -> f64| {
            by_sessions
                .iter()
                .map(|r| (r.output_tok_s, p(pick(r))))
                .collect()
        };
        charts.push(ExpectedChart::new(
            &format!("{what} vs throughput (points: sessions)"),
            false,
            true,
            None,
            vec![
                ExpectedSeries {
                    dots: true,
                    ..line(format!("p90 {what}"), curve(|s| s.p90))
                },
                line(format!("p50 {what}"), curve(|s| s.p50)),
            ],
        ));
    }
    charts
}

/// The pixel a value maps to on an axis spanning `range` over pixels
/// `from..to` (log or linear).
fn to_px(v: f64, range: (f64, f64), log: bool, from: f64, to: f64) -> f64 {
    let f = if log {
        (v.ln() - range.0.ln()) / (range.1.ln() - range.0.ln())
    } else {
        (v - range.0) / (range.1 - range.0)
    };
    from + f * (to - from)
}

fn attr(chart: &serde_json::Value, name: &str) -> f64 {
    let text = chart["attrs"][name]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no {name}", chart["title"]));
    text.parse()
        .unwrap_or_else(|_| panic!("{}: {name}={text:?}", chart["title"]))
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Checks one chart as Chromium drew it against what the report says it
/// must show; returns every mismatch.
fn check_chart(drawn: &serde_json::Value, want: &ExpectedChart) -> Vec<String> {
    let mut bad = Vec::new();
    let title = &want.title;
    if drawn["title"] != want.title.as_str() {
        bad.push(format!("chart {title}: title is {}", drawn["title"]));
    }
    // Series: as many as the report has, named and sized from it.
    let n = attr(drawn, "data-series") as usize;
    let legend = drawn["legend"].as_array().unwrap();
    if n != want.series.len() || legend.len() != want.series.len() {
        bad.push(format!(
            "{title}: {n} series declared, {} in the legend, the report has {}",
            legend.len(),
            want.series.len()
        ));
    }
    // Axes: exactly the data's range (or the fixed one).
    let scale = drawn["attrs"]["data-x-scale"].as_str().unwrap_or("");
    if scale != if want.log_x { "log" } else { "linear" } {
        bad.push(format!("{title}: x scale {scale}"));
    }
    let mut axis = |name: &str, got: (f64, f64), want: (f64, f64)| {
        if !same(got.0, want.0) || !same(got.1, want.1) {
            bad.push(format!(
                "{title}: {name} axis spans {got:?}, the data {want:?}"
            ));
        }
    };
    let x = (attr(drawn, "data-x-min"), attr(drawn, "data-x-max"));
    let y = (attr(drawn, "data-y-min"), attr(drawn, "data-y-max"));
    axis("x", x, want.x);
    axis("y", y, want.y);
    let y2 = drawn["attrs"]
        .get("data-y2-min")
        .map(|_| (attr(drawn, "data-y2-min"), attr(drawn, "data-y2-max")));
    match (y2, want.y2) {
        (Some(got), Some(w)) => axis("right y", got, w),
        (None, None) => {}
        (got, w) => bad.push(format!("{title}: right axis {got:?}, expected {w:?}")),
    }

    // Every point at the pixel its value maps to on the declared plot area.
    let plot: Vec<f64> = drawn["attrs"]["data-plot"]
        .as_str()
        .unwrap()
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let (left, right, top, bottom) = (plot[0], plot[1], plot[2], plot[3]);
    for (i, s) in want.series.iter().enumerate() {
        let name = &s.name;
        if let Some(l) = legend.get(i) {
            if l["name"] != name.as_str() || l["points"] != s.points.len() {
                bad.push(format!(
                    "{title}: series {i} is {} with {} points, expected {name} with {}",
                    l["name"],
                    l["points"],
                    s.points.len()
                ));
            }
            if l["axis"] != if s.right { "right" } else { "left" } {
                bad.push(format!("{title}: {name} on the {} axis", l["axis"]));
            }
        }
        // plotters maps the primary axes onto the plot area's pixels less
        // the last column and row, the secondary (right) axes onto all of
        // them.
        let (y_range, inset) = match s.right {
            true => (want.y2.unwrap(), 0.0),
            false => (want.y, 1.0),
        };
        let expected_px: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|&(vx, vy)| {
                (
                    to_px(vx, want.x, want.log_x, left, right - inset),
                    to_px(vy, y_range, false, bottom - inset, top),
                )
            })
            .collect();
        let elements = &drawn["drawn"][i.to_string()];
        let polylines: Vec<Vec<(f64, f64)>> = elements["polylines"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .map(|l| {
                        l.as_array()
                            .unwrap()
                            .iter()
                            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let circles: Vec<(f64, f64)> = elements["circles"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let compare = |what: &str, got: &[(f64, f64)]| -> Option<String> {
            if got.len() != expected_px.len() {
                return Some(format!(
                    "{title}: {name} drew {} {what}, the report has {} points",
                    got.len(),
                    expected_px.len()
                ));
            }
            let (k, (g, e)) = got
                .iter()
                .zip(&expected_px)
                .enumerate()
                .find(|(_, (g, e))| (g.0 - e.0).abs() > 1.5 || (g.1 - e.1).abs() > 1.5)?;
            Some(format!(
                "{title}: {name} point {k} {:?} drawn at {g:?}, expected {e:?}",
                s.points[k]
            ))
        };
        if s.line {
            if polylines.len() != 1 {
                bad.push(format!("{title}: {name} drew {} lines", polylines.len()));
            }
            bad.extend(compare("line vertices", &polylines.concat()));
        }
        if s.dots {
            bad.extend(compare("dots", &circles));
        } else if !circles.is_empty() {
            bad.push(format!("{title}: {name} drew {} dots", circles.len()));
        }
        if elements["other"].as_u64().unwrap_or(0) != 0 {
            bad.push(format!("{title}: {name} drew unexpected elements"));
        }
    }
    if let Some(extra) = drawn["drawn"].as_object().and_then(|m| {
        m.keys()
            .find(|k| k.parse::<usize>().unwrap() >= want.series.len())
    }) {
        bad.push(format!(
            "{title}: elements of a series {extra} it should not have"
        ));
    }
    bad
}

/// `&amp;`, `&lt;`, `&gt;` and `&quot;` back to text (as `--dump-dom`
/// serializes a `<pre>`'s content).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn sweep_report_charts_draw_the_report_s_numbers() {
    let report = fabricated_report();
    let page = html::render(&report);
    // The JSON round trip the report goes through does not change the page.
    let json = serde_json::to_string(&report).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(html::render(&back), page);
    assert!(!page.contains("<script"), "the report must need no script");

    let dir = temp_dir("load_html");
    let probe_path = dir.join("report-probe.html");
    let probed = page.replace("</body>", &format!("{PROBE}</body>"));
    std::fs::write(&probe_path, &probed).unwrap();
    let url = format!("file://{}", probe_path.display());
    let dom = run_chromium(&dir, "dom", &["--dump-dom".to_string(), url]);

    assert!(dom.contains("weir load report"), "{dom}");
    assert!(dom.contains("&lt;you are a coding agent &amp; you"));
    assert!(dom.contains("http 429"));
    assert!(!dom.contains("no data"));
    let start = dom.find("<pre id=\"drawn\">").expect("the probe ran") + 16;
    let end = start + dom[start..].find("</pre>").unwrap();
    let drawn: serde_json::Value = serde_json::from_str(&unescape(&dom[start..end])).unwrap();
    let drawn = drawn.as_array().unwrap();

    // 7 charts: TTFT and ITL distributions, throughput over time, TTFT and
    // cache hits by turn, and a sweep's two latency-vs-throughput curves.
    let expected = expected_charts(&report);
    assert_eq!(expected.len(), 7);
    assert_eq!(drawn.len(), expected.len(), "charts in the page");
    let bad: Vec<String> = drawn
        .iter()
        .zip(&expected)
        .flat_map(|(d, e)| check_chart(d, e))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
