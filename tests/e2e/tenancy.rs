//! Multi-tenant serving end to end: a real store made by the real
//! `weir admin` CLI, a real server on loopback watching it, real HTTP.
//! Every status of the hosted API's contract, for each route; the
//! cross-tenant matrix (another project's path answers exactly as a
//! project that does not exist); revocation within a second; rate-limit
//! headers and the 429; usage recorded as the clients were told; no key in
//! the database or `/metrics`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weir::api::AppState;
use weir::tenancy::service::Tenancy;

/// The served model's real name.
const MODEL: &str = "m";

/// `weir admin` against one store.
struct Admin {
    db: PathBuf,
}

impl Admin {
    /// Run `weir admin ARGS`; stdout on success, panics with stderr otherwise.
    fn run(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_run(args);
        assert!(ok, "weir admin {args:?} failed: {err}");
        out
    }

    fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("admin")
            .args(args)
            .env("WEIR_DB", &self.db)
            .output()
            .expect("weir runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The key a `key create` / `init` printed (its own line).
    fn key(out: &str) -> String {
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with("weir_"))
            .unwrap_or_else(|| panic!("no key printed: {out}"))
            .to_string()
    }

    /// The project id a `project create` printed.
    fn project_id(out: &str) -> String {
        out.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| w.starts_with("proj_"))
            .unwrap_or_else(|| panic!("no project id printed: {out}"))
            .to_string()
    }
}

/// What the tests share: the store's tenants and a server watching it.
struct World {
    admin: Admin,
    base: String,
    http: reqwest::Client,
    a: String,
    b: String,
    key_a: String,
    key_b: String,
    admin_key: String,
    /// The engine behind the server (its per-tenant service is read back).
    engine: weir::runtime::EngineHandle,
    _dir: TempDir,
}

/// A temporary directory removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "weir-tenancy-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn world(tag: &str) -> World {
    let dir = TempDir::new(tag);
    let admin = Admin {
        db: dir.0.join("weir.db"),
    };
    let admin_key = Admin::key(&admin.run(&["init"]));
    let a = Admin::project_id(&admin.run(&["project", "create", "acme"]));
    let b = Admin::project_id(&admin.run(&["project", "create", "beta"]));
    for (project, slug, extra) in [
        (&a, "coder", &[][..]),
        (&a, "strict", &["--strict-model-name"][..]),
        (&a, "limited", &["--rpm", "3"][..]),
        (&b, "coder", &["--weight", "3"][..]),
    ] {
        let mut args = vec![
            "endpoint",
            "create",
            "--project",
            project,
            "--slug",
            slug,
            "--model",
            MODEL,
        ];
        args.extend_from_slice(extra);
        admin.run(&args);
    }
    let key_a = Admin::key(&admin.run(&[
        "key",
        "create",
        "--project",
        &a,
        "--scope",
        "inference",
        "--name",
        "laptop",
    ]));
    let key_b = Admin::key(&admin.run(&["key", "create", "--project", &b, "--scope", "inference"]));

    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    cfg.served_model_name = Some(MODEL.into());
    let engine = weir::runtime::start(cfg).await.expect("engine starts");
    let state = AppState::new(vec![engine.clone()], Tenancy::watch(admin.db.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(weir::api::serve_app(
        listener,
        state,
        std::future::pending(),
    ));
    let w = World {
        admin,
        base,
        http: reqwest::Client::new(),
        a,
        b,
        key_a,
        key_b,
        admin_key,
        engine,
        _dir: dir,
    };
    // The store was made before the server started: auth is on at once.
    let r = w
        .http
        .get(format!("{}/v1/models", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "auth is on once the store holds a key");
    w
}

impl World {
    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = format!("{}{}", self.base, path);
        let mut req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, v)
    }

    async fn raw(&self, method: &str, path: &str, key: Option<&str>, body: Value) -> (u16, String) {
        let url = format!("{}{}", self.base, path);
        let mut req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
}

fn completion_body(model: &str) -> Value {
    json!({"model": model, "prompt": "hello", "max_tokens": 4})
}

/// Every inference route of a base URL, with a body for each.
fn routes(base: &str, model: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        ("POST", format!("{base}/chat/completions"), chat_body(model)),
        (
            "POST",
            format!("{base}/completions"),
            completion_body(model),
        ),
        (
            "POST",
            format!("{base}/responses"),
            json!({"model": model, "input": "hi", "max_output_tokens": 3}),
        ),
        ("GET", format!("{base}/models"), Value::Null),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_problem_is_a_401_on_every_route() {
    let w = world("auth").await;
    let endpoint = format!("/{}/coder/v1", w.a);
    let wrong = {
        let mut k = w.key_a.clone();
        let last = k.pop().unwrap();
        k.push(if last == 'A' { 'B' } else { 'A' });
        k
    };
    for base in ["/v1".to_string(), endpoint] {
        for (method, path, body) in routes(&base, "my-model") {
            for (key, says) in [
                (None, "didn't provide an API key"),
                (Some("not-a-key"), "Malformed API key"),
                (Some(wrong.as_str()), "Incorrect API key provided"),
                (Some(w.admin_key.as_str()), "Missing scopes: inference"),
            ] {
                let (status, _, v) = w.call(method, &path, key, body.clone()).await;
                assert_eq!(status, 401, "{method} {path} with {key:?}: {v}");
                assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
                let message = v["error"]["message"].as_str().unwrap();
                assert!(message.contains(says), "{message}");
                // At most the display prefix of a key is ever shown.
                assert!(
                    !message.contains(&wrong) && !message.contains(&w.admin_key),
                    "{message}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_authorization_headers_are_refused_and_nothing_breaks() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = world("bigauth").await;
    let path = format!("/{}/coder/v1/models", w.a);
    // Over weir's own bound (512 bytes), under hyper's header buffer: an
    // OpenAI 401 naming the problem, echoing none of it.
    let long = format!("weir_{}", "x".repeat(64 * 1024));
    let (status, _, v) = w.call("GET", &path, Some(&long), Value::Null).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().len() < 300, "{v}");
    // 10 MB: hyper refuses the head itself (431 Request Header Fields Too
    // Large, no body; docs/tenancy.md) or closes the connection while it is
    // still being sent. Either way the server goes on serving.
    let addr = w.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer weir_");
    let _ = tcp.write_all(head.as_bytes()).await;
    let chunk = vec![b'y'; 64 * 1024];
    for _ in 0..160 {
        if tcp.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let (status, _, v) = w.call("GET", &path, Some(&w.key_a), Value::Null).await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_path_answers_like_no_project() {
    let w = world("cross").await;
    for (method, path, body) in routes(&format!("/{}/coder/v1", w.b), "my-model") {
        let (status, theirs) = w.raw(method, &path, Some(&w.key_a), body.clone()).await;
        let missing = path.replace(&w.b, "proj_doesnotexist1");
        let (status2, none) = w.raw(method, &missing, Some(&w.key_a), body).await;
        assert_eq!((status, status2), (404, 404), "{path}: {theirs}");
        assert_eq!(
            theirs, none,
            "{method} {path}: byte-identical to an unknown project"
        );
        let v: Value = serde_json::from_str(&theirs).unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains("/v1"),
            "{v}"
        );
    }
    // The owner reaches it, and the endpoint's model answers.
    let (status, _, v) = w
        .call(
            "POST",
            &format!("/{}/coder/v1/chat/completions", w.b),
            Some(&w.key_b),
            chat_body("x"),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, _, v) = w
        .call(
            "POST",
            &format!("/{}/coder/v1/responses", w.b),
            Some(&w.key_b),
            json!({"model": "x", "input": "hi", "max_output_tokens": 3}),
        )
        .await;
    assert_eq!((status, v["model"].as_str()), (200, Some(MODEL)), "{v}");
    assert_eq!(v["object"], "response", "{v}");
    // The stored response is the project's alone: another project's key
    // gets what a nonexistent id gets, by either route, to read, delete or
    // continue it.
    let id = v["id"].as_str().unwrap().to_string();
    let fake = format!("resp_{}", "0".repeat(id.len() - 5));
    for (method, path) in [
        ("GET", "/v1/responses/ID".to_string()),
        ("DELETE", "/v1/responses/ID".to_string()),
        ("GET", "/v1/responses/ID/input_items".to_string()),
        ("POST", "/v1/responses/ID/cancel".to_string()),
        ("GET", format!("/{}/coder/v1/responses/ID", w.a)),
        ("GET", format!("/{}/coder/v1/responses/ID/input_items", w.a)),
    ] {
        let (status, theirs) = w
            .raw(
                method,
                &path.replace("ID", &id),
                Some(&w.key_a),
                Value::Null,
            )
            .await;
        let (status2, none) = w
            .raw(
                method,
                &path.replace("ID", &fake),
                Some(&w.key_a),
                Value::Null,
            )
            .await;
        assert_eq!((status, status2), (404, 404), "{method} {path}: {theirs}");
        assert_eq!(theirs.replace(&id, &fake), none, "{method} {path}");
    }
    let continued = json!({"model": MODEL, "input": "again", "previous_response_id": id});
    let (status, theirs) = w
        .raw("POST", "/v1/responses", Some(&w.key_a), continued.clone())
        .await;
    let mut missing = continued;
    missing["previous_response_id"] = json!(fake);
    let (status2, none) = w
        .raw("POST", "/v1/responses", Some(&w.key_a), missing)
        .await;
    assert_eq!((status, status2), (400, 400), "{theirs}");
    assert_eq!(theirs.replace(&id, &fake), none);
    // Nor can its items be referenced.
    let item = format!("msg_{}i00", &id["resp_".len()..]);
    let fake_item = format!("msg_{}i00", &fake["resp_".len()..]);
    let reference =
        |item: &str| json!({"model": MODEL, "input": [{"type": "item_reference", "id": item}]});
    let (status, theirs) = w
        .raw("POST", "/v1/responses", Some(&w.key_a), reference(&item))
        .await;
    let (status2, none) = w
        .raw(
            "POST",
            "/v1/responses",
            Some(&w.key_a),
            reference(&fake_item),
        )
        .await;
    assert_eq!((status, status2), (400, 400), "{theirs}");
    assert_eq!(theirs.replace(&item, &fake_item), none);
    let (status, _) = w
        .raw(
            "POST",
            &format!("/{}/coder/v1/responses", w.b),
            Some(&w.key_b),
            reference(&item),
        )
        .await;
    assert_eq!(status, 200, "the owner's reference resolves");
    // The owner reads it back.
    let (status, _, kept) = w
        .call(
            "GET",
            &format!("/{}/coder/v1/responses/{id}", w.b),
            Some(&w.key_b),
            Value::Null,
        )
        .await;
    assert_eq!((status, &kept["id"]), (200, &json!(id)), "{kept}");
    let (status, _, items) = w
        .call(
            "GET",
            &format!("/{}/coder/v1/responses/{id}/input_items", w.b),
            Some(&w.key_b),
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, &items["data"][0]["content"][0]["text"]),
        (200, &json!("hi")),
        "{items}"
    );
    // An unknown endpoint of one's own project is named.
    let (status, _, v) = w
        .call(
            "POST",
            &format!("/{}/nope/v1/chat/completions", w.a),
            Some(&w.key_a),
            chat_body("x"),
        )
        .await;
    assert_eq!(status, 404, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`nope`"),
        "{v}"
    );
    // A base URL without /v1.
    let (status, _, v) = w
        .call(
            "POST",
            &format!("/{}/coder/chat/completions", w.a),
            Some(&w.key_a),
            chat_body("x"),
        )
        .await;
    assert_eq!(status, 404, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must end with /v1"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_serves_its_model_under_any_name_unless_strict() {
    let w = world("model").await;
    let base = format!("/{}/coder/v1", w.a);
    let (status, _, v) = w
        .call(
            "POST",
            &format!("{base}/chat/completions"),
            Some(&w.key_a),
            chat_body("my-model"),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], MODEL, "responses report the real model");
    let (status, _, v) = w
        .call(
            "GET",
            &format!("{base}/models"),
            Some(&w.key_a),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["id"], MODEL);

    let strict = format!("/{}/strict/v1/chat/completions", w.a);
    let (status, _, v) = w
        .call("POST", &strict, Some(&w.key_a), chat_body("my-model"))
        .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("serves `m`"),
        "{v}"
    );
    let (status, _, _) = w
        .call("POST", &strict, Some(&w.key_a), chat_body(MODEL))
        .await;
    assert_eq!(status, 200);

    // The plain routes pick by name among the served models.
    let (status, _, v) = w
        .call(
            "POST",
            "/v1/chat/completions",
            Some(&w.key_a),
            chat_body("nope"),
        )
        .await;
    assert_eq!(status, 404, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`m`"),
        "{v}"
    );
    let (status, _, _) = w
        .call(
            "POST",
            "/v1/chat/completions",
            Some(&w.key_a),
            chat_body(MODEL),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_count_down_then_429() {
    let w = world("limits").await;
    let path = format!("/{}/limited/v1/chat/completions", w.a);
    for left in [2, 1, 0] {
        let (status, h, v) = w.call("POST", &path, Some(&w.key_a), chat_body("x")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(h["x-ratelimit-limit-requests"], "3");
        assert_eq!(
            h["x-ratelimit-remaining-requests"],
            left.to_string().as_str()
        );
        assert!(h.contains_key("x-ratelimit-reset-requests"));
    }
    let (status, h, v) = w.call("POST", &path, Some(&w.key_a), chat_body("x")).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["error"]["type"], "requests");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("requests per min (RPM): Limit 3"),
        "{message}"
    );
    let wait: f64 = h["retry-after-ms"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0.0 && wait <= 60_000.0, "{wait}");
    assert!(h.contains_key("retry-after"));
    // Another endpoint of the project has no such limit.
    let (status, _, _) = w
        .call(
            "POST",
            &format!("/{}/coder/v1/chat/completions", w.a),
            Some(&w.key_a),
            chat_body("x"),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_within_a_second() {
    let w = world("revoke").await;
    let path = format!("/{}/coder/v1/chat/completions", w.b);
    let (status, _, _) = w.call("POST", &path, Some(&w.key_b), chat_body("x")).await;
    assert_eq!(status, 200);
    let prefix: String = w.key_b.chars().take(w.key_b.len() - 4).collect();
    let listed = w.admin.run(&["key", "list", "--project", &w.b]);
    let shown = listed
        .split_whitespace()
        .find(|t| t.starts_with("weir_") && prefix.starts_with(t.trim_end_matches('*')))
        .unwrap_or_else(|| panic!("the key's prefix is listed: {listed}"))
        .trim_end_matches('*')
        .to_string();
    assert!(!listed.contains(&w.key_b), "a list never shows a whole key");
    w.admin.run(&["key", "revoke", &shown]);
    let revoked = Instant::now();
    loop {
        let (status, _, v) = w.call("POST", &path, Some(&w.key_b), chat_body("x")).await;
        if status == 401 {
            assert!(
                v["error"]["message"].as_str().unwrap().contains("revoked"),
                "{v}"
            );
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_millis(1500),
            "still accepted after revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        revoked.elapsed() < Duration::from_secs(1),
        "revocation took {:?}",
        revoked.elapsed()
    );
    // The other tenant is untouched.
    let (status, _, _) = w
        .call(
            "POST",
            &format!("/{}/coder/v1/chat/completions", w.a),
            Some(&w.key_a),
            chat_body("x"),
        )
        .await;
    assert_eq!(status, 200);
}

/// Every file of the store (the database, its WAL, its secret's sibling).
fn store_bytes(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    let dir = db.parent().unwrap();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_file() {
            all.extend(std::fs::read(e.path()).unwrap_or_default());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_with_usage_and_no_key_is_stored_or_shown() {
    let w = world("usage").await;
    let path = format!("/{}/coder/v1/chat/completions", w.a);
    let mut body = chat_body("my-model");
    body["stream"] = json!(true);
    let (status, text) = w.raw("POST", &path, Some(&w.key_a), body).await;
    assert_eq!(status, 200);
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let last = chunks.last().unwrap();
    assert!(last["choices"][0]["finish_reason"].is_string(), "{last}");
    let usage = &last["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0, "{last}");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert!(
        usage["prompt_tokens_details"]["cached_tokens"].is_u64(),
        "{last}"
    );

    let (status, _) = w.raw("GET", "/metrics", Some(&w.key_a), Value::Null).await;
    assert_eq!(
        status, 401,
        "a project key cannot read every project's counters"
    );
    let (status, metrics) = w
        .raw("GET", "/metrics", Some(&w.admin_key), Value::Null)
        .await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!("weir:project_requests_total{{project=\"{}\"", w.a)),
        "{metrics}"
    );
    let bytes = store_bytes(&w.admin.db);
    for key in [&w.key_a, &w.key_b, &w.admin_key] {
        assert!(!contains(&bytes, key), "a key is stored in clear");
        assert!(!metrics.contains(key.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_schedules_each_project_as_its_own_tenant_with_its_endpoints_weight() {
    let w = world("tenant").await;
    for (project, key) in [(&w.a, &w.key_a), (&w.b, &w.key_b)] {
        let path = format!("/{project}/coder/v1/chat/completions");
        let (status, _, v) = w.call("POST", &path, Some(key), chat_body("x")).await;
        assert_eq!(status, 200, "{v}");
    }
    let service = w.engine.tenant_service().await.expect("scheduler answers");
    let of = |project: &str| {
        service
            .iter()
            .find(|t| t.tenant.0 == project)
            .unwrap_or_else(|| panic!("{project} is not a tenant: {service:?}"))
            .clone()
    };
    let (a, b) = (of(&w.a), of(&w.b));
    assert_eq!((a.weight, b.weight), (1, 3), "{service:?}");
    assert!(a.prefill_tokens > 0 && b.prefill_tokens > 0, "{service:?}");
    assert!(
        service
            .iter()
            .all(|t| t.tenant.0 == w.a || t.tenant.0 == w.b || t.prefill_tokens == 0),
        "only the two projects were served: {service:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_share_cached_prefixes_only_within_a_cache_group() {
    let w = world("cachegroup").await;
    let mut grouped = Vec::new();
    for name in ["gamma", "delta"] {
        let id = Admin::project_id(&w.admin.run(&[
            "project",
            "create",
            name,
            "--cache-group",
            "shared",
        ]));
        w.admin.run(&[
            "endpoint",
            "create",
            "--project",
            &id,
            "--slug",
            "coder",
            "--model",
            MODEL,
        ]);
        let key =
            Admin::key(
                &w.admin
                    .run(&["key", "create", "--project", &id, "--scope", "inference"]),
            );
        grouped.push((id, key));
    }
    // The same long prompt (many whole KV blocks), from each project.
    let text = "the quick brown fox jumps over the lazy dog ".repeat(40);
    let body = json!({"model": "x", "max_tokens": 2,
        "messages": [{"role": "user", "content": text}]});
    let cached = |v: &Value| v["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64();
    let send = |project: String, key: String| {
        let body = body.clone();
        let w = &w;
        async move {
            let path = format!("/{project}/coder/v1/chat/completions");
            // The server picks up new projects within a second.
            let started = Instant::now();
            loop {
                let (status, _, v) = w.call("POST", &path, Some(&key), body.clone()).await;
                if status == 200 {
                    return v;
                }
                assert!(started.elapsed() < Duration::from_secs(5), "{status} {v}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let first = send(grouped[0].0.clone(), grouped[0].1.clone()).await;
    let prompt = first["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 64, "{first}");
    assert_eq!(cached(&first), Some(0), "{first}");
    let second = send(grouped[1].0.clone(), grouped[1].1.clone()).await;
    assert!(
        cached(&second).unwrap() >= prompt - 16,
        "a project of the same group reuses the cached prefix: {second}"
    );
    let other = send(w.a.clone(), w.key_a.clone()).await;
    assert_eq!(
        cached(&other),
        Some(0),
        "a project outside the group never hits it: {other}"
    );
}
