//! `weir admin` end to end: the real binary against a real store in a
//! temporary directory, through init, projects, endpoints, keys (create,
//! list, rotate, revoke) and usage; no printed key ever reaches the
//! database files; corrupt, read-only and missing stores and bad input
//! are one-line errors with exit code 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use weir::tenancy::store::Store;
use weir::tenancy::{ProjectId, UsageRecord, UsageStatus};

/// A fresh directory, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "weir-admin-cli-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `weir admin --db DB ARGS...` with a clean environment.
fn admin(db: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.arg("admin").arg("--db").arg(db).args(args);
    cmd.env_remove("WEIR_DB")
        .env_remove("WEIR_SECRET_FILE")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    cmd.output().unwrap()
}

/// Run and expect success; returns stdout.
fn ok(db: &Path, args: &[&str]) -> String {
    let out = admin(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "weir admin {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Run and expect the one-line error contract: exit 1, nothing on stdout,
/// one line on stderr, no panic. Returns that line.
fn fails(db: &Path, args: &[&str]) -> String {
    let out = admin(db, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", out.stdout);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// The one line on stdout (a key or an id).
fn line(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    lines[0].to_string()
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every byte of the database and its WAL and shared-memory files.
fn db_bytes(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_os_string();
        p.push(suffix);
        if let Ok(b) = std::fs::read(PathBuf::from(p)) {
            all.extend(b);
        }
    }
    all
}

fn usage(
    id: &str,
    project: &str,
    key: &str,
    ep: &str,
    model: &str,
    completion: u64,
) -> UsageRecord {
    UsageRecord {
        request_id: id.into(),
        project: Some(ProjectId(project.into())),
        endpoint: Some(ep.into()),
        key_prefix: Some(key.into()),
        model: model.into(),
        prompt_tokens: 100,
        cached_tokens: 25,
        completion_tokens: completion,
        reasoning_tokens: 0,
        ttft_ms: Some(5.0),
        latency_ms: 50.0,
        status: UsageStatus::Completed,
        created_at_ms: chrono::Utc::now().timestamp_millis(),
    }
}

#[test]
fn the_whole_admin_flow_keeps_keys_out_of_the_database() {
    let dir = Dir::new("flow");
    let db = dir.0.join("data").join("weir.db");
    let mut printed_keys = Vec::new();

    // init: one key on stdout, the note on stderr; a second init refuses.
    let out = admin(&db, &["init"]);
    assert!(out.status.success());
    let operator = line(&String::from_utf8(out.stdout).unwrap());
    assert!(operator.starts_with("weir_admin_"), "{operator}");
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.contains("shown only now"), "{note}");
    assert!(!note.contains(&operator), "{note}");
    printed_keys.push(operator.clone());
    let again = fails(&db, &["init"]);
    assert!(again.contains("key create --admin"), "{again}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = dir.0.join("data").join("weir.db.secret");
        let mode = std::fs::metadata(secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Projects.
    let project = line(&ok(&db, &["project", "create", "acme", "--rpm", "100"]));
    assert!(
        project.starts_with("proj_") && project.len() == 17,
        "{project}"
    );
    fails(&db, &["project", "create", "acme"]);
    let projects = json(&ok(&db, &["project", "list", "--json"]));
    assert_eq!(projects[0]["id"], project.as_str());
    assert_eq!(projects[0]["name"], "acme");
    assert_eq!(projects[0]["limits"]["rpm"], 100);
    assert!(ok(&db, &["project", "list"]).contains("acme"));

    // Endpoints.
    let base = line(&ok(
        &db,
        &[
            "endpoint",
            "create",
            "--project",
            &project,
            "--slug",
            "coder",
            "--model",
            "Qwen2.5-7B-Instruct",
            "--rpm",
            "600",
            "--tpm",
            "200000",
            "--weight",
            "2",
            "--alias",
            "my-model",
            "--alias",
            "coder-model",
            "--strict-model-name",
        ],
    ));
    assert_eq!(base, format!("/{project}/coder/v1"));
    ok(
        &db,
        &[
            "endpoint",
            "create",
            "--project",
            "acme",
            "--slug",
            "chat",
            "--model",
            "m2",
        ],
    );
    fails(
        &db,
        &[
            "endpoint",
            "create",
            "--project",
            "acme",
            "--slug",
            "chat",
            "--model",
            "m2",
        ],
    );
    let eps = json(&ok(
        &db,
        &["endpoint", "list", "--project", &project, "--json"],
    ));
    assert_eq!(eps.as_array().unwrap().len(), 2);
    let coder = eps
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["slug"] == "coder")
        .unwrap();
    assert_eq!(
        coder["aliases"],
        serde_json::json!(["my-model", "coder-model"])
    );
    assert_eq!(coder["strict_model_name"], true);
    assert_eq!(coder["weight"], 2);
    assert_eq!(coder["limits"]["tpm"], 200000);
    ok(
        &db,
        &[
            "endpoint",
            "delete",
            "--project",
            &project,
            "--slug",
            "chat",
        ],
    );
    fails(
        &db,
        &[
            "endpoint",
            "delete",
            "--project",
            &project,
            "--slug",
            "chat",
        ],
    );
    assert_eq!(
        json(&ok(&db, &["endpoint", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Keys.
    let out = admin(
        &db,
        &[
            "key",
            "create",
            "--project",
            &project,
            "--scope",
            "inference",
            "--name",
            "laptop",
            "--expires",
            "90d",
            "--tpm",
            "5000",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let laptop = line(&String::from_utf8(out.stdout).unwrap());
    assert!(
        laptop.starts_with(&format!("weir_{}_", &project[5..])),
        "{laptop}"
    );
    printed_keys.push(laptop.clone());
    let operator2 = line(&ok(&db, &["key", "create", "--admin", "--name", "ci"]));
    assert!(operator2.starts_with("weir_admin_"));
    printed_keys.push(operator2);

    let keys = json(&ok(&db, &["key", "list", "--project", &project, "--json"]));
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let laptop_prefix = keys[0]["prefix"].as_str().unwrap().to_string();
    assert!(laptop.starts_with(&laptop_prefix) && laptop_prefix.len() < laptop.len());
    assert_eq!(keys[0]["name"], "laptop");
    assert_eq!(keys[0]["scopes"], serde_json::json!(["inference"]));
    assert_eq!(keys[0]["status"], "active");
    assert!(keys[0]["expires_at"].as_i64().unwrap() > keys[0]["created_at"].as_i64().unwrap());
    assert!(keys[0].get("hash").is_none());
    assert_eq!(
        json(&ok(&db, &["key", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let table = ok(&db, &["key", "list"]);
    assert!(
        table.contains("PREFIX") && table.contains(&laptop_prefix),
        "{table}"
    );

    // Rotate: a new key printed once; the old one is rotating.
    let rotated = line(&ok(
        &db,
        &["key", "rotate", &laptop_prefix, "--grace", "1h"],
    ));
    assert!(rotated.starts_with(&format!("weir_{}_", &project[5..])) && rotated != laptop);
    printed_keys.push(rotated.clone());
    let keys = json(&ok(&db, &["key", "list", "--project", "acme", "--json"]));
    let status_of = |prefix: &str| -> String {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["prefix"] == prefix)
            .map(|k| k["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status_of(&laptop_prefix), "rotating");
    let rotated_prefix = weir::tenancy::keys::display_prefix(&rotated);
    assert_eq!(status_of(&rotated_prefix), "active");
    fails(&db, &["key", "rotate", &laptop_prefix]);

    // Revoke.
    let out = ok(&db, &["key", "revoke", &rotated_prefix]);
    assert!(out.contains("revoked"), "{out}");
    let keys = json(&ok(&db, &["key", "list", "--project", "acme", "--json"]));
    let revoked = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["prefix"] == rotated_prefix.as_str())
        .unwrap();
    assert_eq!(revoked["status"], "revoked");
    let missing = fails(&db, &["key", "revoke", "weir_nope_AbCd"]);
    assert!(missing.contains("no key"), "{missing}");

    // Usage, written through the store as the server writes it.
    {
        let store = Store::open(&db).unwrap();
        store
            .write_usage(&[
                usage(
                    "chatcmpl-1",
                    &project,
                    &laptop_prefix,
                    "coder",
                    "Qwen2.5-7B-Instruct",
                    10,
                ),
                usage(
                    "chatcmpl-2",
                    &project,
                    &laptop_prefix,
                    "coder",
                    "Qwen2.5-7B-Instruct",
                    20,
                ),
                usage(
                    "chatcmpl-3",
                    &project,
                    &rotated_prefix,
                    "coder",
                    "Qwen2.5-7B-Instruct",
                    30,
                ),
                usage(
                    "chatcmpl-4",
                    "proj_someoneelse",
                    "weir_x_AbCd",
                    "coder",
                    "m",
                    999,
                ),
            ])
            .unwrap();
    }
    let total = json(&ok(
        &db,
        &["usage", "--project", &project, "--since", "24h", "--json"],
    ));
    assert_eq!(total["rows"][0]["requests"], 3);
    assert_eq!(total["rows"][0]["prompt_tokens"], 300);
    assert_eq!(total["rows"][0]["cached_tokens"], 75);
    assert_eq!(total["rows"][0]["completion_tokens"], 60);
    assert_eq!(total["rows"][0]["total_tokens"], 360);
    let by_key = json(&ok(
        &db,
        &[
            "usage",
            "--project",
            "acme",
            "--since",
            "24h",
            "--by",
            "key",
            "--json",
        ],
    ));
    let rows = by_key["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let row = rows
        .iter()
        .find(|r| r["group"] == laptop_prefix.as_str())
        .unwrap();
    assert_eq!(row["requests"], 2);
    assert_eq!(row["completion_tokens"], 30);
    let by_model = ok(&db, &["usage", "--project", "acme", "--by", "model"]);
    assert!(
        by_model.contains("Qwen2.5-7B-Instruct") && by_model.contains("360"),
        "{by_model}"
    );
    fails(
        &db,
        &["usage", "--project", "proj_nothere", "--since", "24h"],
    );

    // No key in clear anywhere in the database files; the prefixes are
    // there (so this reads the right bytes).
    let bytes = db_bytes(&db);
    assert!(contains(&bytes, &laptop_prefix));
    for key in &printed_keys {
        assert!(!contains(&bytes, key), "a key is stored in clear");
        let random = &key[key.rfind('_').unwrap() + 1..];
        assert!(
            !contains(&bytes, random),
            "a key's random part is stored in clear"
        );
    }
}

#[test]
fn bad_input_is_refused_with_one_line() {
    let dir = Dir::new("bad");
    let db = dir.0.join("weir.db");
    ok(&db, &["init"]);
    let project = line(&ok(&db, &["project", "create", "acme"]));
    // `--slug=VALUE`: a value starting with `-` is still a value.
    for slug in ["Bad_Slug", "-x", "a/b", "..", "%2e%2e", "", "é"] {
        let err = fails(
            &db,
            &[
                "endpoint",
                "create",
                "--project",
                &project,
                &format!("--slug={slug}"),
                "--model",
                "m",
            ],
        );
        assert!(err.contains("slug"), "{slug}: {err}");
    }
    for name in ["Acme", "a b", "proj_x", "../x"] {
        fails(&db, &["project", "create", name]);
    }
    for d in ["90x", "d", "1.5h", "-1d", "999999999999999999999d"] {
        let err = fails(
            &db,
            &[
                "key",
                "create",
                "--project",
                &project,
                &format!("--expires={d}"),
            ],
        );
        assert!(err.contains("duration"), "{d}: {err}");
        fails(
            &db,
            &["usage", "--project", &project, &format!("--since={d}")],
        );
    }
    fails(&db, &["key", "rotate", "key_nothere", "--grace", "1y"]);
    fails(&db, &["project", "create", "zero", "--rpm", "0"]);
    fails(
        &db,
        &[
            "endpoint",
            "create",
            "--project",
            &project,
            "--slug",
            "x",
            "--model",
            "m",
            "--weight",
            "0",
        ],
    );
    fails(
        &db,
        &[
            "endpoint",
            "create",
            "--project",
            "proj_nothere",
            "--slug",
            "x",
            "--model",
            "m",
        ],
    );
    fails(&db, &["key", "create", "--project", "nothere"]);
    // Nothing was created by any refused command.
    assert_eq!(
        json(&ok(&db, &["project", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(json(&ok(&db, &["endpoint", "list", "--json"]))
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        json(&ok(&db, &["key", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn corrupt_read_only_and_missing_stores_are_one_line_errors() {
    let dir = Dir::new("broken");
    // Random bytes.
    let corrupt = dir.0.join("corrupt.db");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..16384)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&corrupt, &noise).unwrap();
    for args in [
        &["project", "list"][..],
        &["init"],
        &["key", "list", "--json"],
    ] {
        let err = fails(&corrupt, args);
        assert!(err.contains("corrupt.db"), "{err}");
    }
    assert_eq!(
        std::fs::read(&corrupt).unwrap(),
        noise,
        "the file was changed"
    );

    // A read-only store.
    let ro = dir.0.join("ro.db");
    ok(&ro, &["init"]);
    ok(&ro, &["project", "create", "acme"]);
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&ro, perms).unwrap();
    let err = fails(&ro, &["project", "create", "beta"]);
    assert!(err.contains("ro.db") && err.contains("read-only"), "{err}");
    fails(&ro, &["project", "list"]);

    // No store yet: every command but init says to run init, and creates
    // nothing.
    let missing = dir.0.join("none").join("weir.db");
    let err = fails(&missing, &["project", "list"]);
    assert!(err.contains("weir admin init"), "{err}");
    assert!(!missing.exists());

    // A directory where the file should be.
    fails(&dir.0, &["project", "list"]);
}

#[test]
fn the_store_path_comes_from_weir_db_too() {
    let dir = Dir::new("env");
    let db = dir.0.join("env.db");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["admin", "init"])
        .env("WEIR_DB", &db)
        .env_remove("WEIR_SECRET_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
    // WEIR_SECRET_FILE moves the secret.
    let db2 = dir.0.join("other.db");
    let secret = dir.0.join("secrets").join("k");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["admin", "--db"])
        .arg(&db2)
        .arg("init")
        .env("WEIR_SECRET_FILE", &secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(secret.exists());
    assert!(!dir.0.join("other.db.secret").exists());
}
