//! Usage survives a crash: `weir serve` (its own process, debug logging)
//! serves streamed requests through an endpoint route while it is killed
//! with SIGKILL, then restarts on the same store. Every usage object a
//! client received has its `completed` record with the same numbers, no
//! request is counted twice, what was in flight is `interrupted` (never left
//! `pending`), and no key appears in the server's debug log.

use crate::common;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use weir::tenancy::model::{ProjectId, UsageStatus};
use weir::tenancy::store::{Store, UsageGroupBy};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(db: &Path, log: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--backend", "sim", "--port", &port.to_string()])
        .args([
            "--sim-mode",
            "random",
            "--sim-decode-step-us",
            "20000",
            "--num-kv-blocks",
            "4096",
        ])
        .env("WEIR_DB", db)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..600 {
        if let Ok(r) = reqwest::get(format!("{}/health", server.base)).await {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("weir did not start");
}

/// One streamed request: its response id and the usage of its last chunk,
/// or `None` if the stream broke first.
async fn stream(url: String, key: String, max_tokens: u64) -> Option<(String, Value)> {
    let body = json!({"model": "my-model", "stream": true, "max_tokens": max_tokens,
                      "messages": [{"role": "user", "content": format!("count to {max_tokens}")}]});
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let mut bytes = r.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = bytes.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.ok()?));
    }
    if !text.contains("data: [DONE]") {
        return None;
    }
    let last: Value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .rfind(|c| c.get("usage").is_some_and(|u| u.is_object()))?;
    Some((last["id"].as_str()?.to_string(), last["usage"].clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_across_a_kill_9() {
    let dir: PathBuf = std::env::temp_dir().join(format!("weir-usage-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("weir.db");
    let log = dir.join("server.log");
    common::weir_admin(&db, &["init"]);
    let created = common::weir_admin(&db, &["project", "create", "acme"]);
    let project = created
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("proj_"))
        .unwrap()
        .to_string();
    common::weir_admin(
        &db,
        &[
            "endpoint",
            "create",
            "--project",
            &project,
            "--slug",
            "coder",
            "--model",
            "weir-demo",
        ],
    );
    let key_out = common::weir_admin(
        &db,
        &[
            "key",
            "create",
            "--project",
            &project,
            "--scope",
            "inference",
        ],
    );
    let key = key_out
        .lines()
        .find(|l| l.starts_with("weir_"))
        .unwrap()
        .trim()
        .to_string();

    let mut received: HashMap<String, Value> = HashMap::new();
    let server = serve(&db, &log).await;
    let url = format!("{}/{project}/coder/v1/chat/completions", server.base);
    // Short requests finish before the kill; long ones are cut by it.
    let tasks: Vec<_> = (0..24u64)
        .map(|i| {
            tokio::spawn(stream(
                url.clone(),
                key.clone(),
                if i % 2 == 0 { 3 + i } else { 400 },
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(server); // SIGKILL
    let mut cut = 0;
    for t in tasks {
        match t.await.unwrap() {
            Some((id, usage)) => {
                received.insert(id, usage);
            }
            None => cut += 1,
        }
    }
    assert!(
        !received.is_empty() && cut > 0,
        "some finished ({}) and some were cut ({cut})",
        received.len()
    );

    // The restarted server marks the cut ones interrupted and goes on.
    let server = serve(&db, &log).await;
    let url = format!("{}/{project}/coder/v1/chat/completions", server.base);
    for i in 0..4 {
        let (id, usage) = stream(url.clone(), key.clone(), 2 + i)
            .await
            .expect("served after restart");
        received.insert(id, usage);
    }
    drop(server);

    let store = Store::open_existing(&db)
        .unwrap()
        .expect("the store exists");
    for (id, usage) in &received {
        let rec = store
            .usage_record(id)
            .unwrap()
            .unwrap_or_else(|| panic!("no record of {id}"));
        assert_eq!(rec.status, UsageStatus::Completed, "{id}");
        assert_eq!(
            rec.prompt_tokens,
            usage["prompt_tokens"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            rec.completion_tokens,
            usage["completion_tokens"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            rec.cached_tokens,
            usage["prompt_tokens_details"]["cached_tokens"]
                .as_u64()
                .unwrap(),
            "{id}"
        );
    }
    let total = &store
        .usage_summary(&ProjectId(project.clone()), 0, UsageGroupBy::Total)
        .unwrap()[0];
    assert_eq!(
        total.requests - total.unfinished,
        received.len() as u64,
        "every completed record is one a client received, counted once"
    );
    assert!(
        total.unfinished >= cut as u64,
        "the cut requests are recorded as unfinished"
    );

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("DEBUG"), "the server logged at debug level");
    assert!(!log.contains(&key), "the key is in the server's log");
    let _ = std::fs::remove_dir_all(&dir);
}
