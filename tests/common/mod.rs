//! Shared end-to-end test support: a real weir engine and HTTP server on a
//! loopback port, in-process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use weir::runner::sim::SimSpeed;
use weir::runtime::{EngineConfig, RunnerKind};

/// A running server (cheap to clone: clones share the connection pool).
#[derive(Clone)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The served model name.
    pub model: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The engine behind the server.
    pub engine: weir::runtime::EngineHandle,
}

/// The repository's tests/models/NAME.
pub fn model_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/models")
        .join(name)
}

/// Engine defaults for tests: small cache, CPU runner.
pub fn config(model: Option<PathBuf>) -> EngineConfig {
    EngineConfig {
        model,
        served_model_name: None,
        runner: RunnerKind::Cpu(Default::default()),
        kv_cache_gib: None,
        num_kv_blocks: Some(512),
        block_size: 16,
        max_num_seqs: 64,
        max_num_batched_tokens: 256,
        max_model_len: None,
        cache_dir: std::env::temp_dir().join("weir-test-cache"),
        prefix_caching: true,
        tool_call_parser: "auto".into(),
        reasoning_parser: "auto".into(),
        chat_template: None,
        limits: Default::default(),
    }
}

/// A sim runner config with a fast modelled speed.
pub fn sim(mode: &str) -> RunnerKind {
    RunnerKind::Sim {
        mode: mode.into(),
        script: None,
        speed: SimSpeed {
            prefill_us_per_token: 1.0,
            decode_step_us: 200.0,
            decode_us_per_seq: 1.0,
        },
    }
}

/// A sim runner that replies from a script of rules (`--sim-mode script`),
/// at a fast modelled speed.
pub fn sim_script(script: PathBuf) -> RunnerKind {
    RunnerKind::Sim {
        mode: "script".into(),
        script: Some(script),
        speed: SimSpeed {
            prefill_us_per_token: 0.0,
            decode_step_us: 50.0,
            decode_us_per_seq: 0.0,
        },
    }
}

/// Start an engine and serve it on 127.0.0.1:0.
pub async fn start(cfg: EngineConfig) -> TestServer {
    let engine = weir::runtime::start(cfg).await.expect("engine starts");
    let model = engine.model_name().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    // The production path (TCP_NODELAY on every connection): without it,
    // Nagle plus delayed ACKs hold small SSE writes back by tens of ms.
    let served = engine.clone();
    tokio::spawn(async move {
        weir::api::serve_on(listener, served, std::future::pending())
            .await
            .expect("server runs");
    });
    TestServer {
        base: format!("http://{addr}"),
        model,
        http: reqwest::Client::new(),
        engine,
    }
}

impl TestServer {
    /// The Prometheus text of /metrics.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics request")
            .text()
            .await
            .expect("metrics body")
    }

    /// Polls /metrics until nothing runs, nothing waits, no KV block is
    /// held and the waiting room is empty; panics after `within`. Returns
    /// the last /metrics text.
    pub async fn wait_until_idle(&self, within: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let m = self.metrics().await;
            if Self::metric(&m, "vllm:num_requests_running") == 0.0
                && Self::metric(&m, "vllm:num_requests_waiting") == 0.0
                && Self::metric(&m, "vllm:kv_cache_usage_perc") == 0.0
                && self.engine.waiting_requests() == 0
            {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the engine did not become idle within {within:?} (admission holds {}):\n{m}",
                self.engine.waiting_requests()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// A metric's value from /metrics text (NaN when absent).
    pub fn metric(text: &str, name: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// POST JSON, return the whole body as text (a stream's SSE frames).
    pub async fn post_text(&self, path: &str, body: &serde_json::Value) -> String {
        self.http
            .post(format!("{}{}", self.base, path))
            .json(body)
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("body read")
    }

    /// POST JSON, return (status, body as JSON).
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}{}", self.base, path))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body read");
        let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, v)
    }
}

/// `weir admin ARGS` against the tenancy store at `db`; its stdout. Panics
/// with its stderr if it fails.
pub fn weir_admin(db: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("admin")
        .args(args)
        .env("WEIR_DB", db)
        .output()
        .expect("weir runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
