//! End to end: a realistic fabricated `weir load` sweep report, rendered with
//! `weir_load::html::render`, opened in headless Chromium: the DOM must hold
//! every chart with drawn data, and a screenshot must show a substantial page.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`, or set `CHROMIUM`);
//! scripts/test.sh installs it. `WEIR_LOAD_REPORT_PNG=docs/load-report.png`
//! saves the screenshot (that is how docs/load-report.png is made).

use std::fs::File;
use std::io::BufReader;
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

/// Whether a `points="..."` or `d="..."` attribute in `svg` holds coordinates.
fn has_drawn_data(svg: &str) -> bool {
    svg.split("points=\"").skip(1).any(|rest| {
        let value = &rest[..rest.find('"').unwrap_or(0)];
        value.split(' ').filter(|xy| xy.contains(',')).count() >= 2
            && value.chars().any(|c| c.is_ascii_digit())
    })
}

#[test]
fn sweep_report_renders_in_headless_chromium() {
    let report = fabricated_report();
    let page = html::render(&report);
    // The JSON round trip the report goes through does not change the page.
    let json = serde_json::to_string(&report).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(html::render(&back), page);

    let dir = temp_dir("load_html");
    let html_path = dir.join("report.html");
    std::fs::write(&html_path, &page).unwrap();
    let url = format!("file://{}", html_path.display());

    // (a) The DOM as Chromium parsed it: 7 charts (TTFT and ITL CDFs,
    // throughput over time, TTFT and cache hits by turn, and the two
    // latency-vs-throughput curves of a sweep), each with drawn data.
    let dom = run_chromium(&dir, "dom", &["--dump-dom".to_string(), url.clone()]);
    assert!(dom.contains("weir load report"), "{dom}");
    let svgs: Vec<&str> = dom
        .split("<svg")
        .skip(1)
        .map(|s| &s[..s.find("</svg>").expect("closed svg")])
        .collect();
    assert_eq!(svgs.len(), 7, "expected 7 charts");
    for (i, svg) in svgs.iter().enumerate() {
        assert!(has_drawn_data(svg), "chart {i} has no drawn data: {svg}");
        assert!(svg.contains("<text"), "chart {i} has no text");
    }
    assert!(!dom.contains("no data"));
    assert!(!dom.contains("<script"), "config value was not escaped");
    assert!(dom.contains("&lt;you are a coding agent &amp; you"));
    assert!(dom.contains("http 429"));

    // (b) A screenshot: a real, mostly drawn page.
    let shot = dir.join("shot.png");
    run_chromium(
        &dir,
        "shot",
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".to_string(),
            url,
        ],
    );
    let size = std::fs::metadata(&shot).expect("screenshot written").len();
    assert!(size > 20_000, "screenshot is only {size} bytes");
    let decoder = png::Decoder::new(BufReader::new(File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2400));
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let non_white = pixels
        .chunks(channels)
        .filter(|px| px.iter().take(3).any(|&c| c < 235))
        .count();
    let total = (info.width * info.height) as usize;
    assert!(
        non_white > total / 50,
        "only {non_white} of {total} pixels are not white"
    );

    if let Some(dest) = std::env::var_os("WEIR_LOAD_REPORT_PNG") {
        std::fs::copy(&shot, &dest).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
