//! `weir load` against a real weir server (sim runner, known modelled
//! speed) on loopback: the figures match the model, sessions have the shape
//! a real agent's have (seen from the server's side through a recording
//! proxy), open loop counts queueing delay, the search finds the knee, and
//! traces replay with their shared prefixes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use weir::runner::sim::SimSpeed;
use weir::runtime::RunnerKind;
use weir_load::{self as load, LoadConfig};

fn sim_server_config(
    mode: &str,
    script: Option<std::path::PathBuf>,
    speed: SimSpeed,
) -> weir::runtime::EngineConfig {
    let mut cfg = common::config(None);
    cfg.runner = RunnerKind::Sim {
        mode: mode.into(),
        script,
        speed,
    };
    cfg.num_kv_blocks = Some(4096);
    cfg.max_num_batched_tokens = 16384;
    cfg
}

/// The tests here measure time: run them one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scripted reply of plain one-token words, so no detokenizer or parser
/// ever holds a token back and the first visible token is the first generated.
fn plain_words_script() -> std::path::PathBuf {
    let words: Vec<&str> = "alpha beta gamma delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango".split(' ').collect();
    let reply = words.join(" ");
    let path = std::env::temp_dir().join(format!("weir-load-words-{}.json", std::process::id()));
    let script = serde_json::json!({"rules": [], "default": reply});
    std::fs::write(&path, script.to_string()).expect("write script");
    path
}

/// `weir serve` as its own process (the client must not share a runtime
/// with the server it times); killed on drop.
struct ServerProcess {
    child: std::process::Child,
    base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_weir(args: &[&str]) -> ServerProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--port", &port.to_string()])
        .args(args)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("weir starts");
    let server = ServerProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{}/health", server.base)).await {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("weir serve did not become healthy on port {port}");
}

fn load_config(base: &str, model: &str) -> LoadConfig {
    LoadConfig {
        base_url: format!("{base}/v1"),
        api_key: None,
        model: model.into(),
        sessions: vec![1],
        rate: None,
        max_concurrency: None,
        duration: None,
        turns_per_session: None,
        ramp_up: Duration::ZERO,
        warmup: None,
        profile: "opencode".into(),
        trace: None,
        trace_block_size: 512,
        trace_speedup: 1.0,
        seed: 7,
        max_tokens: Some(16),
        temperature: None,
        think_scale: 0.0,
        api: weir_load::client::Api::Chat,
        continuous_usage: true,
        ignore_eos: true,
        tokenizer: None,
        slo: None,
        find_max_sessions: false,
        max_sessions: 64,
        request_timeout: Duration::from_secs(60),
        quiet: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_ttft_and_itl_match_the_modelled_speed() {
    // One step costs 20 ms plus 20 us per prompt token computed; the whole
    // prompt fits one step, so TTFT = 20 ms + 20 us x uncached tokens and
    // every later token takes 20 ms.
    let _serial = SERIAL.lock().await;
    let script = plain_words_script();
    let server = spawn_weir(&[
        "--backend",
        "sim",
        "--sim-mode",
        "script",
        "--sim-script",
        script.to_str().expect("utf-8 temp path"),
        "--sim-prefill-us-per-token",
        "20",
        "--sim-decode-step-us",
        "20000",
        "--sim-decode-us-per-seq",
        "0",
        "--max-num-batched-tokens",
        "16384",
        "--num-kv-blocks",
        "4096",
    ])
    .await;
    let mut cfg = load_config(&server.base, "weir-demo");
    // The chat profile sends no tools, so no tool parser holds text back.
    cfg.profile = "chat".into();
    cfg.ignore_eos = false;
    cfg.turns_per_session = Some(4);
    let report = load::run(&cfg, load::Stop::never()).await.expect("run");
    let r = &report.runs[0];
    assert_eq!(r.requests_ok, 4, "{:?}", r.errors);
    assert_eq!(r.itl_source, "usage");
    assert_eq!(r.output_tokens, 4 * 16);
    // ITL: 15 intervals per request of 20 ms each.
    assert_eq!(r.itl_ms.count, 4 * 15);
    assert!(
        (r.itl_ms.p50 - 20.0).abs() < 2.0 && r.itl_ms.p90 < 25.0,
        "ITL {:?} vs modelled 20 ms",
        r.itl_ms
    );
    // TTFT per turn against the model, from the server-reported prompt and
    // cached token counts (each turn is one request of one session).
    assert_eq!(r.by_turn.len(), 4);
    for t in &r.by_turn {
        let uncached = t.prompt_tokens_mean * (1.0 - t.cache_hit_share);
        let modelled = 20.0 + 0.020 * uncached;
        let got = t.ttft_p50_ms;
        // Slack above: scheduling noise on a busy 2-core machine (the first
        // turn once measured 44.7 ms against a modelled 21.6 in a full
        // test run; 22-26 ms alone). Below: nothing can come faster.
        assert!(
            got >= modelled - 2.0 && got <= modelled * 1.25 + 30.0,
            "turn {}: TTFT {got:.1} ms vs modelled {modelled:.1} ms ({uncached:.0} uncached tokens)",
            t.turn
        );
    }
    // Later turns resend the same prefix: the server says most of it is cached.
    assert!(r.by_turn[3].cache_hit_share > 0.5, "{:?}", r.by_turn[3]);
    // The report survives JSON and compares with itself.
    let json = serde_json::to_string(&report).expect("serialize");
    let back: load::report::Report = serde_json::from_str(&json).expect("parse back");
    assert_eq!(back.runs[0].requests_ok, 4);
    assert_eq!(back.config["seed"], 7);
    assert!(back.config.get("api_key").is_some_and(|v| v.is_null()));
    let diff = load::summary::compare(&report, &back);
    assert!(
        diff.contains("output tok/s") && diff.contains("+0.0%"),
        "{diff}"
    );
    let text = load::summary::render(&report);
    assert!(
        text.contains("TTFT ms") && text.contains("from the server's running usage"),
        "{text}"
    );
}

/// A proxy on loopback that records each request body and forwards it to
/// `upstream`, streaming the answer back unchanged.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (sink, http, upstream) = (sink.clone(), http.clone(), upstream.clone());
        async move {
            let path = req.uri().path().to_owned();
            let body = axum::body::to_bytes(req.into_body(), 64 << 20)
                .await
                .expect("body");
            sink.lock().expect("lock").push(body.clone());
            let resp = http
                .post(format!("{upstream}{path}"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("upstream");
            let status = resp.status();
            axum::response::Response::builder()
                .status(status.as_u16())
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(resp.bytes_stream()))
                .expect("response")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("proxy runs") });
    (format!("http://{addr}"), seen)
}

const SHAPE_PROFILE: &str = r#"
name = "shape"
system_prompt = "You are a test agent working in a repository."
max_tokens = 64
turns_per_session = 5

[[tools]]
type = "function"
[tools.function]
name = "read"
description = "Read a file."
[tools.function.parameters]
type = "object"
required = ["filePath"]
[tools.function.parameters.properties.filePath]
type = "string"
description = "Path of the file"

[[tools]]
type = "function"
[tools.function]
name = "grep"
description = "Search file contents."
[tools.function.parameters]
type = "object"
required = ["pattern"]
[tools.function.parameters.properties.pattern]
type = "string"

[tool_think]
dist = "zero"
[user_think]
dist = "zero"

[[tasks]]
prompt = "Please read the notes"
[[tasks.steps]]
kind = "user"
text = "Now search for functions"
[[tasks.steps]]
kind = "tool"
name = "grep"
arguments = { pattern = "fn " }
"#;

const SHAPE_SCRIPT: &str = r#"{
  "rules": [
    {"match": "read the notes", "role": "user",
     "reply": "Reading.\n<tool_call>\n{\"name\": \"read\", \"arguments\": {\"filePath\": \"README.md\"}}\n</tool_call>"},
    {"match": ".", "role": "tool", "reply": "I read it."}
  ],
  "default": "OK."
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_have_an_agents_shape_seen_from_the_server() {
    let _serial = SERIAL.lock().await;
    let dir = scratch_dir("shape");
    let (profile, script) = (dir.join("profile.toml"), dir.join("script.json"));
    std::fs::write(&profile, SHAPE_PROFILE).expect("write profile");
    std::fs::write(&script, SHAPE_SCRIPT).expect("write script");
    let speed = SimSpeed {
        prefill_us_per_token: 1.0,
        decode_step_us: 500.0,
        decode_us_per_seq: 1.0,
    };
    let server = common::start(sim_server_config("script", Some(script), speed)).await;
    let (proxy, seen) = recording_proxy(server.base.clone()).await;
    let mut cfg = load_config(&proxy, &server.model);
    cfg.profile = profile.display().to_string();
    cfg.max_tokens = None;
    cfg.ignore_eos = false;
    cfg.continuous_usage = false;
    let report = load::run(&cfg, load::Stop::never()).await.expect("run");
    assert_eq!(report.runs[0].requests_ok, 5, "{:?}", report.runs[0].errors);
    assert_eq!(report.runs[0].sessions_completed, 1);

    let bodies = seen.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 5, "one request per turn");
    type Raw = std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>;
    let raw: Vec<Raw> = bodies
        .iter()
        .map(|b| serde_json::from_slice(b).expect("JSON body"))
        .collect();
    let parsed: Vec<serde_json::Value> = bodies
        .iter()
        .map(|b| serde_json::from_slice(b).expect("JSON body"))
        .collect();
    // The tools array: byte-identical on every turn.
    let tools0 = raw[0]["tools"].get();
    assert!(tools0.contains("\"grep\""));
    for r in &raw {
        assert_eq!(r["tools"].get(), tools0);
    }
    for p in &parsed {
        assert_eq!(p["max_tokens"], 64, "max_tokens on every turn");
        assert_eq!(p["stream"], true);
        assert_eq!(p["tool_choice"], "auto");
        assert_eq!(p["stream_options"]["include_usage"], true);
        assert!(p["stream_options"].get("continuous_usage_stats").is_none());
    }
    // Every turn's prompt starts with the previous turn's prompt.
    let msgs: Vec<&Vec<serde_json::Value>> = parsed
        .iter()
        .map(|p| p["messages"].as_array().expect("messages"))
        .collect();
    for w in msgs.windows(2) {
        assert!(w[1].len() > w[0].len());
        assert_eq!(&w[1][..w[0].len()], &w[0][..], "history is append-only");
    }
    // Turn 2 answers the model's call: assistant tool_calls then a tool
    // message with the same id; later turns follow the script.
    let m = msgs[1];
    let assistant = &m[m.len() - 2];
    let tool = &m[m.len() - 1];
    let call_id = assistant["tool_calls"][0]["id"].as_str().expect("call id");
    assert!(call_id.starts_with("call_"));
    assert_eq!(assistant["tool_calls"][0]["function"]["name"], "read");
    assert_eq!(
        assistant["content"].as_str().map(str::trim),
        Some("Reading.")
    );
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], call_id);
    assert!(!tool["content"].as_str().unwrap_or("").is_empty());
    // Turn 3: the model's reply kept, then the scripted user step.
    let m = msgs[2];
    assert_eq!(m[m.len() - 2]["content"], "I read it.");
    assert_eq!(m[m.len() - 1]["content"], "Now search for functions");
    // Turn 4: the scripted grep, run against the workspace, as a user message.
    let m = msgs[3];
    assert_eq!(m[m.len() - 2]["content"], "OK.");
    let grep = m[m.len() - 1]["content"].as_str().expect("text");
    assert!(grep.contains("grep"), "{grep}");
    // Turn 5: the next task starts.
    assert_eq!(
        msgs[4].last().expect("msg")["content"],
        "Please read the notes"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_latency_includes_the_queue() {
    let _serial = SERIAL.lock().await;
    // Each request takes ~10 x 20 ms; sessions arrive at 20/s but the
    // client may run only one at a time, so later arrivals wait seconds.
    // TTFT counted from the intended send time shows that wait; the
    // server's own TTFT stays ~20 ms.
    let speed = SimSpeed {
        prefill_us_per_token: 0.0,
        decode_step_us: 20_000.0,
        decode_us_per_seq: 0.0,
    };
    let server = common::start(sim_server_config("random", None, speed)).await;
    let mut cfg = load_config(&server.base, &server.model);
    cfg.rate = Some(20.0);
    cfg.max_concurrency = Some(1);
    cfg.duration = Some(Duration::from_secs(1));
    cfg.warmup = Some(Duration::ZERO);
    cfg.turns_per_session = Some(1);
    cfg.max_tokens = Some(10);
    let report = load::run(&cfg, load::Stop::never()).await.expect("run");
    let r = &report.runs[0];
    assert!(r.requests_ok >= 8, "{} requests", r.requests_ok);
    assert!(
        r.prompt_tokens / r.requests_ok > 3000,
        "OpenCode-sized prompts: {} tokens per request",
        r.prompt_tokens / r.requests_ok
    );
    // OpenCode's title request went out beside each session's first turn.
    let titles = r
        .by_turn
        .iter()
        .find(|t| t.turn == 0)
        .map_or(0, |t| t.count);
    let firsts = r
        .by_turn
        .iter()
        .find(|t| t.turn == 1)
        .map_or(0, |t| t.count);
    assert!(
        titles > 0 && titles == firsts,
        "{titles} titles, {firsts} first turns"
    );
    let m = server.metrics().await;
    let server_ttft = common::TestServer::metric(&m, "vllm:time_to_first_token_seconds_sum")
        / common::TestServer::metric(&m, "vllm:time_to_first_token_seconds_count");
    assert!(server_ttft < 0.1, "server-side TTFT {server_ttft}");
    assert!(
        r.ttft_ms.p90 > 1000.0,
        "client TTFT p90 {} ms must include the queueing delay",
        r.ttft_ms.p90
    );
    assert!(r.ttft_ms.max > 10.0 * server_ttft * 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_the_most_sessions_meeting_the_slo() {
    let _serial = SERIAL.lock().await;
    // ITL grows 30 ms per decoding sequence: 4 sessions ~120 ms, 5 ~150 ms.
    let speed = SimSpeed {
        prefill_us_per_token: 0.0,
        decode_step_us: 0.0,
        decode_us_per_seq: 30_000.0,
    };
    let server = common::start(sim_server_config("random", None, speed)).await;
    let mut cfg = load_config(&server.base, &server.model);
    // The chat profile: no title request beside the first turn, so the
    // number of decoding sequences is the number of sessions.
    cfg.profile = "chat".into();
    cfg.find_max_sessions = true;
    cfg.slo = Some("itl=135ms".into());
    cfg.duration = Some(Duration::from_millis(1500));
    cfg.warmup = Some(Duration::from_millis(500));
    cfg.max_sessions = 16;
    let report = load::run(&cfg, load::Stop::never()).await.expect("run");
    let search = report.search.expect("search report");
    assert!(
        (3..=4).contains(&search.max_sessions),
        "max {} from steps {:?}",
        search.max_sessions,
        search.steps
    );
    for &(n, met) in &search.steps {
        assert_eq!(met, n <= search.max_sessions, "steps {:?}", search.steps);
    }
    assert_eq!(report.runs.len(), search.steps.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_replay_keeps_shared_prefixes() {
    let _serial = SERIAL.lock().await;
    let speed = SimSpeed {
        prefill_us_per_token: 1.0,
        decode_step_us: 1000.0,
        decode_us_per_seq: 1.0,
    };
    let server = common::start(sim_server_config("random", None, speed)).await;
    let dir = scratch_dir("trace");
    let trace = dir.join("trace.jsonl");
    std::fs::write(
        &trace,
        concat!(
            "{\"timestamp\": 0, \"input_length\": 300, \"output_length\": 4, \"hash_ids\": [11, 12, 13]}\n",
            "{\"timestamp\": 150, \"input_length\": 300, \"output_length\": 4, \"hash_ids\": [11, 12, 14]}\n",
            "{\"timestamp\": 300, \"input_length\": 300, \"output_length\": 4, \"hash_ids\": [21, 22, 23]}\n",
        ),
    )
    .expect("write trace");
    let mut cfg = load_config(&server.base, &server.model);
    cfg.trace = Some(trace);
    cfg.trace_block_size = 100;
    let report = load::run(&cfg, load::Stop::never()).await.expect("run");
    let r = &report.runs[0];
    assert_eq!(r.requests_ok, 3, "{:?}", r.errors);
    assert_eq!(r.output_tokens, 12);
    // The second request shares ~200 of its ~300 prompt tokens with the
    // first; the third shares nothing but the chat template's few tokens.
    assert!(r.cached_tokens >= 150, "cached {}", r.cached_tokens);
    assert!(r.cached_tokens <= 260, "cached {}", r.cached_tokens);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `weir serve --backend sim` (random tokens) as its own process, 20 ms a
/// step: for tests that run the `weir load` binary against it.
async fn sim_at_20ms_a_step() -> ServerProcess {
    spawn_weir(&[
        "--backend",
        "sim",
        "--sim-mode",
        "random",
        "--sim-decode-step-us",
        "20000",
    ])
    .await
}

/// A fresh directory for one test's files.
fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-load-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

/// `weir load`'s exit status, for scripts and CI jobs that gate on a run:
/// 0 measured (and met a single run's `--slo`), 4 missed it, 3 nothing
/// succeeded; the JSON report is written in each case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_status_says_whether_the_run_measured_and_met_its_slo() {
    let _serial = SERIAL.lock().await;
    // Every step takes 20 ms, so no first token comes within 1 ms.
    let server = sim_at_20ms_a_step().await;
    let dir = scratch_dir("exit");
    let load = |base: String, slo: &'static str, name: &'static str| {
        let report = dir.join(name);
        tokio::task::spawn_blocking(move || {
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
                .args([
                    "load",
                    "--base-url",
                    &format!("{base}/v1"),
                    "--model",
                    "weir-demo",
                ])
                .args([
                    "--profile",
                    "chat",
                    "--sessions",
                    "1",
                    "--turns-per-session",
                    "1",
                ])
                .args(["--max-tokens", "4", "--quiet", "--slo", slo, "--output"])
                .arg(&report)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("weir load runs");
            let text = std::fs::read_to_string(&report).expect("the report is written");
            let parsed: serde_json::Value = serde_json::from_str(&text).expect("report parses");
            (status.code(), parsed["runs"][0]["requests_ok"].as_u64())
        })
    };
    let met = load(server.base.clone(), "ttft=30s", "met.json")
        .await
        .expect("join");
    assert_eq!(met, (Some(0), Some(1)));
    let missed = load(server.base.clone(), "ttft=1ms", "missed.json")
        .await
        .expect("join");
    assert_eq!(missed, (Some(4), Some(1)));
    // A port nothing listens on: the one just freed by a closed listener.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let refused = load(format!("http://{closed}"), "ttft=30s", "refused.json")
        .await
        .expect("join");
    assert_eq!(refused, (Some(3), Some(0)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C (SIGINT) drains a run: no request starts after it, the ones in
/// flight finish and count, and the report is still written (exit 130).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_the_run_and_still_reports() {
    let _serial = SERIAL.lock().await;
    // 20 ms a step: a 50-token reply takes about a second.
    let server = sim_at_20ms_a_step().await;
    let dir = scratch_dir("sigint");
    let report = dir.join("report.json");
    let mut load = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["load", "--base-url", &format!("{}/v1", server.base)])
        .args([
            "--model",
            "weir-demo",
            "--profile",
            "chat",
            "--sessions",
            "2",
        ])
        .args(["--duration", "60s", "--warmup", "0s", "--max-tokens", "50"])
        .args(["--ignore-eos", "--think-scale", "0", "--quiet", "--output"])
        .arg(&report)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("weir load starts");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sent = std::process::Command::new("kill")
        .args(["-INT", &load.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let mut status = None;
    for _ in 0..200 {
        status = load.try_wait().expect("wait");
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        let _ = load.kill();
        panic!("weir load still running 20 s after Ctrl-C");
    };
    assert_eq!(status.code(), Some(130));
    let text = std::fs::read_to_string(&report).expect("the report is written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("report parses");
    assert_eq!(v["interrupted"], "drain");
    let run = &v["runs"][0];
    // Two sessions, about a request a second each, for 2.5 s, and the two
    // in flight at Ctrl-C finished: at least 4 requests, none failed.
    assert!(run["requests_ok"].as_u64().expect("count") >= 4, "{run}");
    assert_eq!(run["errors"], serde_json::json!([]));
    assert!(run["duration_s"].as_f64().expect("seconds") < 20.0, "{run}");
    let _ = std::fs::remove_dir_all(&dir);
}
