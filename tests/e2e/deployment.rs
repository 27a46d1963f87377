//! `weir serve --config weir.toml` as a user runs it: two models in one
//! process (the demo on the CPU, a sim), a declared project whose endpoint
//! serves at once, open while the store holds no key, and auth turning on
//! within a second of `weir admin init` run beside the live server; keys
//! made and revoked after that take effect within a second.

use crate::common;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn chat(url: &str, model: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).json(&json!({
        "model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_serves_two_models_and_its_declared_endpoint() {
    let dir = std::env::temp_dir().join(format!("weir-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("weir.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let config = dir.join("weir.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
port = {port}
db = "{}"

[[models]]
name = "weir-demo"
num_kv_blocks = 128

[[models]]
name = "fast"
backend = "sim"
sim_decode_step_us = 200.0

[[projects]]
name = "acme"
id = "proj_acme01"
[[projects.endpoints]]
slug = "coder"
model = "fast"
weight = 2
"#,
            db.display()
        ),
    )
    .unwrap();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--cache-dir"])
            .arg(&dir)
            // The config names the store; a WEIR_DB in the environment
            // (scripts/test.sh sets one) would win over it.
            .env_remove("WEIR_DB")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..1200 {
        if reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "weir serve --config did not start");

    let models: Value = reqwest::get(format!("{base}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["weir-demo", "fast"]);
    let (status, v) = chat(&format!("{base}/v1/chat/completions"), "weir-demo", None).await;
    assert_eq!(
        (status, v["model"].as_str()),
        (200, Some("weir-demo")),
        "{v}"
    );
    let endpoint = format!("{base}/proj_acme01/coder/v1/chat/completions");
    let (status, v) = chat(&endpoint, "my-model", None).await;
    assert_eq!(
        (status, v["model"].as_str()),
        (200, Some("fast")),
        "the declared endpoint serves at once: {v}"
    );

    // Keys made beside the running server turn auth on within a second.
    common::weir_admin(&db, &["init"]);
    let started = Instant::now();
    loop {
        let (status, _) = chat(&endpoint, "my-model", None).await;
        if status == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "auth did not turn on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A key made after that, for the declared project, works within a
    // second, and a revoked one stops within a second.
    let created = common::weir_admin(
        &db,
        &[
            "key",
            "create",
            "--project",
            "proj_acme01",
            "--scope",
            "inference",
        ],
    );
    let key = created
        .split_whitespace()
        .find(|w| w.starts_with("weir_"))
        .unwrap_or_else(|| panic!("no key in {created:?}"))
        .to_owned();
    let started = Instant::now();
    loop {
        let (status, v) = chat(&endpoint, "my-model", Some(&key)).await;
        if status == 200 {
            assert_eq!(v["model"].as_str(), Some("fast"), "{v}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "a key made beside the running server was not picked up: {status} {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let prefix = weir::tenancy::keys::display_prefix(&key);
    common::weir_admin(&db, &["key", "revoke", &prefix]);
    let started = Instant::now();
    loop {
        let (status, v) = chat(&endpoint, "my-model", Some(&key)).await;
        if status == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "a revoked key still works: {status} {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
