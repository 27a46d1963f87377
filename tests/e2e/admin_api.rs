//! The admin HTTP API end to end: a real store made by the real
//! `weir admin init`, a real server on loopback watching it, real HTTP.
//! The operator key drives the whole flow (projects, endpoints, keys,
//! rotation, revocation, usage) and its writes reach the inference routes
//! within a second; a project's key, no key, or no store never gets in;
//! bad bodies name their field; unknown ids are 404s.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weir::api::AppState;
use weir::tenancy::service::Tenancy;

/// The served model's real name.
const MODEL: &str = "m";

/// How long an admin write may take to reach the inference routes.
const PROPAGATION: Duration = Duration::from_millis(1500);

/// A temporary directory removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!(
            "weir-admin-api-{tag}-{}-{nanos}",
            std::process::id()
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

/// A server on loopback and the operator key of its store.
struct World {
    base: String,
    http: reqwest::Client,
    admin_key: String,
    _dir: Option<TempDir>,
}

/// `weir admin init` on a fresh store; its operator key.
fn init(db: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["admin", "init"])
        .env("WEIR_DB", db)
        .output()
        .expect("weir runs");
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("weir_"))
        .expect("init prints the key")
        .to_string()
}

async fn serve(tenancy: Tenancy) -> String {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    cfg.served_model_name = Some(MODEL.into());
    let engine = weir::runtime::start(cfg).await.expect("engine starts");
    let state = AppState::new(vec![engine], tenancy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(weir::api::serve_app(
        listener,
        state,
        std::future::pending(),
    ));
    base
}

async fn world(tag: &str) -> World {
    let dir = TempDir::new(tag);
    let db = dir.0.join("weir.db");
    let admin_key = init(&db);
    let base = serve(Tenancy::watch(db)).await;
    World {
        base,
        http: reqwest::Client::new(),
        admin_key,
        _dir: Some(dir),
    }
}

impl World {
    async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let mut req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url),
        };
        if !body.is_null() {
            req = req.json(&body);
        }
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// An admin call with the operator key that must answer `want`.
    async fn admin(&self, method: &str, path: &str, body: Value, want: u16) -> Value {
        let (status, v) = self
            .call(method, path, Some(&self.admin_key.clone()), body)
            .await;
        assert_eq!(status, want, "{method} {path}: {v}");
        v
    }

    /// A chat request on an endpoint's base URL; its status.
    async fn chat(&self, base: &str, key: &str) -> u16 {
        let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4});
        self.call("POST", &format!("{base}/chat/completions"), Some(key), body)
            .await
            .0
    }

    /// Wait until a chat with `key` answers `want` (within [`PROPAGATION`]).
    async fn chat_until(&self, base: &str, key: &str, want: u16) {
        let start = Instant::now();
        loop {
            let status = self.chat(base, key).await;
            if status == want {
                return;
            }
            assert!(
                start.elapsed() < PROPAGATION,
                "{base}: still {status}, not {want}, after {PROPAGATION:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_key_drives_the_whole_flow() {
    let w = world("flow").await;

    let p = w
        .admin(
            "POST",
            "/admin/v1/projects",
            json!({"name": "acme", "rpm": 100}),
            201,
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("proj_"), "{p}");
    assert_eq!(p["limits"]["rpm"], 100, "{p}");
    let list = w.admin("GET", "/admin/v1/projects", Value::Null, 200).await;
    assert_eq!(list["data"][0]["name"], "acme", "{list}");
    // The name is taken now.
    let v = w
        .admin("POST", "/admin/v1/projects", json!({"name": "acme"}), 409)
        .await;
    assert_eq!(v["error"]["code"], "conflict", "{v}");

    let ep = w
        .admin(
            "POST",
            &format!("/admin/v1/projects/{id}/endpoints"),
            json!({"slug": "coder", "model": MODEL, "weight": 2, "aliases": ["gpt-4o"]}),
            201,
        )
        .await;
    let base = format!("/{id}/coder/v1");
    assert_eq!(ep["base_url"], base, "{ep}");
    // By name as well as by id.
    let eps = w
        .admin("GET", "/admin/v1/projects/acme/endpoints", Value::Null, 200)
        .await;
    assert_eq!(eps["data"][0]["slug"], "coder", "{eps}");
    assert_eq!(eps["data"][0]["weight"], 2, "{eps}");

    let k = w
        .admin(
            "POST",
            &format!("/admin/v1/projects/{id}/keys"),
            json!({"name": "laptop", "expires": "90d"}),
            201,
        )
        .await;
    let key = k["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("weir_"), "{k}");
    assert_eq!(k["scopes"], json!(["inference"]), "{k}");
    assert_eq!(k["status"], "active", "{k}");
    assert!(k["expires_at"].as_i64().unwrap() > k["created_at"].as_i64().unwrap());
    // The new key works on its endpoint within a second.
    w.chat_until(&base, &key, 200).await;
    // Lists show the prefix, never the key.
    let keys = w
        .admin(
            "GET",
            &format!("/admin/v1/projects/{id}/keys"),
            Value::Null,
            200,
        )
        .await;
    assert!(!keys.to_string().contains(&key), "{keys}");
    assert_eq!(keys["data"][0]["prefix"], k["prefix"], "{keys}");
    assert!(keys["data"][0].get("key").is_none(), "{keys}");

    // Rotate: both keys work during the grace period.
    let r = w
        .admin(
            "POST",
            &format!("/admin/v1/keys/{}/rotate", k["id"].as_str().unwrap()),
            json!({"grace": "1h"}),
            200,
        )
        .await;
    let new_key = r["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    assert_eq!(r["replaces"]["status"], "rotating", "{r}");
    w.chat_until(&base, &new_key, 200).await;
    assert_eq!(w.chat(&base, &key).await, 200, "the old key works in grace");
    // Rotating it again is a conflict.
    w.admin(
        "POST",
        &format!("/admin/v1/keys/{}/rotate", k["id"].as_str().unwrap()),
        Value::Null,
        409,
    )
    .await;

    // Revoke the old one by its display prefix: 401 within a second, the
    // new one still works.
    let v = w
        .admin(
            "POST",
            &format!("/admin/v1/keys/{}/revoke", k["prefix"].as_str().unwrap()),
            Value::Null,
            200,
        )
        .await;
    assert_eq!(v["status"], "revoked", "{v}");
    w.chat_until(&base, &key, 401).await;
    assert_eq!(w.chat(&base, &new_key).await, 200);

    // Usage: every request that ran is counted (the writer flushes in the
    // background, so wait for it).
    let succeeded = 3;
    let start = Instant::now();
    let total = loop {
        let u = w
            .admin(
                "GET",
                &format!("/admin/v1/projects/{id}/usage?since=1h"),
                Value::Null,
                200,
            )
            .await;
        let requests = u["rows"][0]["requests"].as_u64().unwrap_or(0);
        if requests >= succeeded || start.elapsed() > Duration::from_secs(10) {
            break u;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let row = &total["rows"][0];
    assert!(row["requests"].as_u64().unwrap() >= succeeded, "{total}");
    assert!(row["total_tokens"].as_u64().unwrap() > 0, "{total}");
    assert_eq!(
        row["total_tokens"].as_u64().unwrap(),
        row["prompt_tokens"].as_u64().unwrap() + row["completion_tokens"].as_u64().unwrap(),
        "{total}"
    );
    let by_key = w
        .admin(
            "GET",
            &format!("/admin/v1/projects/{id}/usage?since=1h&by=key"),
            Value::Null,
            200,
        )
        .await;
    let groups: Vec<&str> = by_key["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["group"].as_str())
        .collect();
    assert!(groups.contains(&k["prefix"].as_str().unwrap()), "{by_key}");
    assert!(!by_key.to_string().contains(&new_key), "{by_key}");

    // Delete the endpoint: its base URL is a 404 within a second.
    let d = w
        .admin(
            "DELETE",
            &format!("/admin/v1/projects/{id}/endpoints/coder"),
            Value::Null,
            200,
        )
        .await;
    assert_eq!(d["deleted"], true, "{d}");
    w.chat_until(&base, &new_key, 404).await;
    w.admin(
        "DELETE",
        &format!("/admin/v1/projects/{id}/endpoints/coder"),
        Value::Null,
        404,
    )
    .await;
}

/// Every admin route, with a body it would accept.
fn routes(project: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        ("GET", "/admin/v1/projects".into(), Value::Null),
        ("POST", "/admin/v1/projects".into(), json!({"name": "evil"})),
        (
            "GET",
            format!("/admin/v1/projects/{project}/endpoints"),
            Value::Null,
        ),
        (
            "POST",
            format!("/admin/v1/projects/{project}/endpoints"),
            json!({"slug": "x", "model": MODEL}),
        ),
        (
            "DELETE",
            format!("/admin/v1/projects/{project}/endpoints/coder"),
            Value::Null,
        ),
        (
            "GET",
            format!("/admin/v1/projects/{project}/keys"),
            Value::Null,
        ),
        (
            "POST",
            format!("/admin/v1/projects/{project}/keys"),
            json!({}),
        ),
        ("POST", "/admin/v1/keys/key_x/revoke".into(), Value::Null),
        ("POST", "/admin/v1/keys/key_x/rotate".into(), json!({})),
        (
            "GET",
            format!("/admin/v1/projects/{project}/usage"),
            Value::Null,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_operator_key_gets_in() {
    let w = world("auth").await;
    let p = w
        .admin("POST", "/admin/v1/projects", json!({"name": "acme"}), 201)
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    w.admin(
        "POST",
        &format!("/admin/v1/projects/{id}/endpoints"),
        json!({"slug": "coder", "model": MODEL}),
        201,
    )
    .await;
    let k = w
        .admin(
            "POST",
            &format!("/admin/v1/projects/{id}/keys"),
            json!({"scopes": ["inference"]}),
            201,
        )
        .await;
    let key = k["key"].as_str().unwrap().to_string();
    // Make sure the directory has the key before asserting on its scope.
    w.chat_until(&format!("/{id}/coder/v1"), &key, 200).await;

    for (method, path, body) in routes(&id) {
        for (who, says) in [
            (Some(key.as_str()), "Missing scopes: admin"),
            (None, "didn't provide an API key"),
            (Some("not-a-key"), "Malformed API key"),
        ] {
            let (status, v) = w.call(method, &path, who, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {who:?}: {v}");
            assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{method} {path}: {message}");
            assert!(!message.contains(&key), "{message}");
        }
    }
    // Nothing was written by the refused calls.
    let list = w.admin("GET", "/admin/v1/projects", Value::Null, 200).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let eps = w
        .admin(
            "GET",
            &format!("/admin/v1/projects/{id}/endpoints"),
            Value::Null,
            200,
        )
        .await;
    assert_eq!(eps["data"].as_array().unwrap().len(), 1, "{eps}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field_and_unknown_ids_are_404() {
    let w = world("input").await;
    let p = w
        .admin("POST", "/admin/v1/projects", json!({"name": "acme"}), 201)
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let eps = format!("/admin/v1/projects/{id}/endpoints");
    let keys = format!("/admin/v1/projects/{id}/keys");
    for (path, body, field) in [
        ("/admin/v1/projects", json!({}), "name"),
        ("/admin/v1/projects", json!({"name": 7}), "name"),
        ("/admin/v1/projects", json!({"name": "Has Spaces"}), "name"),
        ("/admin/v1/projects", json!({"name": "ok", "rpm": 0}), "rpm"),
        (
            "/admin/v1/projects",
            json!({"name": "ok", "tpm": "x"}),
            "tpm",
        ),
        (
            "/admin/v1/projects",
            json!({"name": "ok", "cache_group": "Bad Group"}),
            "cache_group",
        ),
        (
            "/admin/v1/projects",
            json!({"name": "ok", "nmae": 1}),
            "nmae",
        ),
        (&eps, json!({"model": MODEL}), "slug"),
        (&eps, json!({"slug": "Bad_Slug", "model": MODEL}), "slug"),
        (&eps, json!({"slug": "s"}), "model"),
        (
            &eps,
            json!({"slug": "s", "model": MODEL, "weight": 0}),
            "weight",
        ),
        (
            &eps,
            json!({"slug": "s", "model": MODEL, "weight": 5000}),
            "weight",
        ),
        (
            &eps,
            json!({"slug": "s", "model": MODEL, "aliases": "a"}),
            "aliases",
        ),
        (
            &eps,
            json!({"slug": "s", "model": MODEL, "strict_model_name": "yes"}),
            "strict_model_name",
        ),
        (&keys, json!({"expires": "soon"}), "expires"),
        (&keys, json!({"scopes": ["root"]}), "scopes"),
        (&keys, json!({"name": ""}), "name"),
        (&keys, json!({"rpm": -1}), "rpm"),
        (
            "/admin/v1/keys/key_x/rotate",
            json!({"grace": "1y"}),
            "grace",
        ),
    ] {
        let v = w.admin("POST", path, body.clone(), 400).await;
        assert_eq!(v["error"]["param"], field, "{path} {body}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{path} {body}: {message}");
    }
    let v = w
        .admin(
            "GET",
            &format!("/admin/v1/projects/{id}/usage?by=day"),
            Value::Null,
            400,
        )
        .await;
    assert_eq!(v["error"]["param"], "by", "{v}");
    let v = w
        .admin(
            "GET",
            &format!("/admin/v1/projects/{id}/usage?since=forever"),
            Value::Null,
            400,
        )
        .await;
    assert_eq!(v["error"]["param"], "since", "{v}");
    // Not JSON at all.
    let r = w
        .http
        .post(format!("{}/admin/v1/projects", w.base))
        .header("authorization", format!("Bearer {}", w.admin_key))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Unknown project, endpoint and key: 404.
    for (method, path, body) in [
        ("GET", "/admin/v1/projects/nope/endpoints", Value::Null),
        ("GET", "/admin/v1/projects/proj_nope/keys", Value::Null),
        (
            "POST",
            "/admin/v1/projects/nope/endpoints",
            json!({"slug": "s", "model": MODEL}),
        ),
        ("POST", "/admin/v1/projects/nope/keys", json!({})),
        ("GET", "/admin/v1/projects/nope/usage", Value::Null),
        ("DELETE", "/admin/v1/projects/nope/endpoints/s", Value::Null),
        (
            "DELETE",
            &format!("/admin/v1/projects/{id}/endpoints/none"),
            Value::Null,
        ),
        ("POST", "/admin/v1/keys/key_none/revoke", Value::Null),
        ("POST", "/admin/v1/keys/key_none/rotate", Value::Null),
    ] {
        let v = w.admin(method, path, body, 404).await;
        assert_eq!(v["error"]["type"], "invalid_request_error", "{path}: {v}");
    }
    // A duplicate slug is a conflict.
    w.admin("POST", &eps, json!({"slug": "s", "model": MODEL}), 201)
        .await;
    w.admin("POST", &eps, json!({"slug": "s", "model": MODEL}), 409)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_the_admin_api_is_off() {
    let dir = TempDir::new("nostore");
    for tenancy in [Tenancy::off(), Tenancy::watch(dir.0.join("not-yet.db"))] {
        let w = World {
            base: serve(tenancy).await,
            http: reqwest::Client::new(),
            admin_key: "weir_admin_whatever".into(),
            _dir: None,
        };
        for (method, path, body) in routes("proj_x") {
            for key in [None, Some("weir_admin_guess")] {
                let (status, v) = w.call(method, &path, key, body.clone()).await;
                assert_eq!(status, 404, "{method} {path}: {v}");
                let message = v["error"]["message"].as_str().unwrap();
                assert!(message.contains("no tenancy store"), "{message}");
            }
        }
        // The inference routes are open as before (auth is off).
        let (status, _) = w.call("GET", "/v1/models", None, Value::Null).await;
        assert_eq!(status, 200);
    }
}
