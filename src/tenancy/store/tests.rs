//! The store against real SQLite files in temporary directories.

use super::*;
use crate::tenancy::model::{RateLimits, Scope, UsageStatus};
use crate::tenancy::test_dir::TestDir;

fn project(id: &str, name: &str) -> Project {
    Project {
        id: ProjectId(id.into()),
        name: name.into(),
        limits: RateLimits {
            rpm: Some(60),
            tpm: None,
        },
        cache_group: Some("shared".into()),
        created_at: 100,
    }
}

fn endpoint(id: &str, project: &str, slug: &str) -> Endpoint {
    Endpoint {
        id: id.into(),
        project: ProjectId(project.into()),
        slug: slug.into(),
        model: "Qwen2.5-7B-Instruct".into(),
        aliases: vec!["my-model".into(), "other".into()],
        limits: RateLimits {
            rpm: Some(600),
            tpm: Some(200_000),
        },
        weight: 2,
        strict_model_name: true,
        created_at: 101,
    }
}

fn key(id: &str, project: Option<&str>, hash_byte: u8) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        project: project.map(|p| ProjectId(p.into())),
        prefix: format!("weir_x_{id}"),
        name: Some("laptop".into()),
        scopes: vec![Scope::Inference, Scope::Admin],
        hash: [hash_byte; 32],
        limits: RateLimits {
            rpm: None,
            tpm: Some(5),
        },
        created_at: 102,
        expires_at: Some(1_000),
        revoked_at: None,
    }
}

fn usage(id: &str, status: UsageStatus, key: &str, ep: &str, model: &str, t: i64) -> UsageRecord {
    UsageRecord {
        request_id: id.into(),
        project: Some(ProjectId("proj_a".into())),
        endpoint: Some(ep.into()),
        key_prefix: Some(key.into()),
        model: model.into(),
        prompt_tokens: 100,
        cached_tokens: 40,
        completion_tokens: 10,
        reasoning_tokens: 3,
        ttft_ms: None,
        latency_ms: 12.5,
        status,
        created_at_ms: t,
    }
}

fn assert_one_line_naming(err: &StoreError, path: &Path) {
    let text = err.to_string();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn open_creates_directories_wal_and_records_migrations_once() {
    let dir = TestDir::new("store-open");
    let path = dir.path().join("a").join("b").join("weir.db");
    assert!(Store::open_existing(&path).unwrap().is_none());
    drop(Store::open(&path).unwrap());
    let store = Store::open_existing(&path).unwrap().unwrap();
    assert_eq!(store.path(), path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let applied: Vec<(i64, String)> = conn
        .prepare("SELECT version, name FROM schema_migrations")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        applied,
        vec![
            (1, "0001_tenancy".to_string()),
            (2, "0002_responses".to_string())
        ]
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TestDir::new("store-newer");
    let path = dir.path().join("weir.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'x', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap();
    assert_one_line_naming(&err, &path);
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn records_round_trip_through_the_snapshot() {
    let dir = TestDir::new("store-roundtrip");
    let store = Store::open(&dir.path().join("weir.db")).unwrap();
    let p = project("proj_a", "acme");
    let e = endpoint("ep_1", "proj_a", "coder");
    let k = key("key_1", Some("proj_a"), 7);
    let mut op = key("key_2", None, 8);
    op.scopes = vec![Scope::Admin];
    op.name = None;
    op.expires_at = None;
    op.revoked_at = Some(5);
    store.insert_project(&p).unwrap();
    store.insert_endpoint(&e).unwrap();
    store.insert_key(&k).unwrap();
    store.insert_key(&op).unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.projects, vec![p.clone()]);
    assert_eq!(snap.endpoints, vec![e.clone()]);
    assert_eq!(snap.keys, vec![k.clone(), op.clone()]);
    assert_eq!(store.project(&p.id).unwrap(), Some(p.clone()));
    assert_eq!(store.project_by_name("acme").unwrap(), Some(p.clone()));
    assert_eq!(store.project_by_name("nope").unwrap(), None);
    assert_eq!(store.endpoints(Some(&p.id)).unwrap(), vec![e]);
    assert_eq!(store.keys(Some(&p.id)).unwrap(), vec![k.clone()]);
    assert_eq!(store.key_count().unwrap(), 2);
    assert_eq!(store.key_by_hash(&[7; 32]).unwrap(), Some(k.clone()));
    assert_eq!(store.key_by_hash(&[9; 32]).unwrap(), None);
    assert_eq!(store.find_keys(&k.prefix).unwrap(), vec![k.clone()]);
    assert_eq!(store.find_keys("key_2").unwrap(), vec![op]);
}

#[test]
fn collisions_and_missing_parents_are_typed() {
    let dir = TestDir::new("store-conflict");
    let store = Store::open(&dir.path().join("weir.db")).unwrap();
    store.insert_project(&project("proj_a", "acme")).unwrap();
    let dup = store
        .insert_project(&project("proj_b", "acme"))
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    store
        .insert_endpoint(&endpoint("ep_1", "proj_a", "coder"))
        .unwrap();
    let dup = store
        .insert_endpoint(&endpoint("ep_2", "proj_a", "coder"))
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    // The same slug in another project is fine.
    store.insert_project(&project("proj_b", "beta")).unwrap();
    store
        .insert_endpoint(&endpoint("ep_3", "proj_b", "coder"))
        .unwrap();
    let orphan = store
        .insert_endpoint(&endpoint("ep_4", "proj_zz", "coder"))
        .unwrap_err();
    assert!(matches!(orphan, StoreError::NotFound(_)), "{orphan:?}");
    let orphan = store
        .insert_key(&key("key_9", Some("proj_zz"), 1))
        .unwrap_err();
    assert!(matches!(orphan, StoreError::NotFound(_)), "{orphan:?}");
    store.insert_key(&key("key_1", Some("proj_a"), 1)).unwrap();
    let same_hash = store
        .insert_key(&key("key_2", Some("proj_a"), 1))
        .unwrap_err();
    assert!(
        matches!(same_hash, StoreError::Conflict(_)),
        "{same_hash:?}"
    );
    assert!(store
        .delete_endpoint(&ProjectId("proj_a".into()), "coder")
        .unwrap()
        .is_some());
    assert!(store
        .delete_endpoint(&ProjectId("proj_a".into()), "coder")
        .unwrap()
        .is_none());
    assert_eq!(store.endpoints(None).unwrap().len(), 1);
}

#[test]
fn version_moves_with_every_change_to_projects_endpoints_and_keys_only() {
    let dir = TestDir::new("store-version");
    let path = dir.path().join("weir.db");
    let store = Store::open(&path).unwrap();
    let other = Store::open(&path).unwrap();
    let mut last = store.version().unwrap();
    let mut changed = |store: &Store| {
        let v = store.version().unwrap();
        let moved = v != last;
        last = v;
        moved
    };
    store.insert_project(&project("proj_a", "acme")).unwrap();
    assert!(changed(&other), "project insert");
    store
        .insert_endpoint(&endpoint("ep_1", "proj_a", "coder"))
        .unwrap();
    assert!(changed(&other), "endpoint insert");
    store.insert_key(&key("key_1", Some("proj_a"), 1)).unwrap();
    assert!(changed(&other), "key insert");
    store.set_key_revoked("key_1", 50).unwrap();
    assert!(changed(&other), "key revoke");
    store
        .rotate_key("key_1", 60, &key("key_2", Some("proj_a"), 2))
        .unwrap();
    assert!(changed(&other), "key rotate");
    store
        .delete_endpoint(&ProjectId("proj_a".into()), "coder")
        .unwrap();
    assert!(changed(&other), "endpoint delete");
    store
        .write_usage(&[usage("r1", UsageStatus::Completed, "k", "e", "m", 1)])
        .unwrap();
    assert!(!changed(&other), "usage must not move the version");
    assert!(!changed(&store));
}

#[test]
fn rotation_is_one_transaction() {
    let dir = TestDir::new("store-rotate");
    let store = Store::open(&dir.path().join("weir.db")).unwrap();
    store.insert_project(&project("proj_a", "acme")).unwrap();
    store.insert_key(&key("key_1", Some("proj_a"), 1)).unwrap();
    // The new key's hash collides: the old key must stay untouched.
    let err = store
        .rotate_key("key_1", 60, &key("key_2", Some("proj_a"), 1))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.find_keys("key_1").unwrap()[0].revoked_at, None);
    let err = store
        .rotate_key("key_404", 60, &key("key_3", Some("proj_a"), 3))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.key_count().unwrap(), 1);
    store
        .rotate_key("key_1", 60, &key("key_2", Some("proj_a"), 2))
        .unwrap();
    assert_eq!(store.find_keys("key_1").unwrap()[0].revoked_at, Some(60));
    assert_eq!(store.key_count().unwrap(), 2);
}

#[test]
fn usage_upserts_by_request_id_and_never_regresses_to_pending() {
    let dir = TestDir::new("store-usage");
    let store = Store::open(&dir.path().join("weir.db")).unwrap();
    let pending = usage("r1", UsageStatus::Pending, "k", "e", "m", 1);
    store.write_usage(std::slice::from_ref(&pending)).unwrap();
    let mut done = usage("r1", UsageStatus::Completed, "k", "e", "m", 1);
    done.completion_tokens = 77;
    done.ttft_ms = Some(4.25);
    store.write_usage(&[done.clone()]).unwrap();
    assert_eq!(store.usage_record("r1").unwrap(), Some(done.clone()));
    // A late write-ahead record (replayed, reordered) must not undo it.
    store.write_usage(&[pending]).unwrap();
    assert_eq!(store.usage_record("r1").unwrap(), Some(done));
    store
        .write_usage(&[
            usage("r2", UsageStatus::Pending, "k", "e", "m", 1),
            usage("r3", UsageStatus::Pending, "k", "e", "m", 1),
        ])
        .unwrap();
    assert_eq!(store.interrupt_pending().unwrap(), 2);
    assert_eq!(store.interrupt_pending().unwrap(), 0);
    assert_eq!(
        store.usage_record("r2").unwrap().unwrap().status,
        UsageStatus::Interrupted
    );
}

#[test]
fn usage_summaries_group_and_filter_by_time() {
    let dir = TestDir::new("store-summary");
    let store = Store::open(&dir.path().join("weir.db")).unwrap();
    let mut other_project = usage("x", UsageStatus::Completed, "k1", "coder", "m1", 5_000);
    other_project.project = Some(ProjectId("proj_b".into()));
    store
        .write_usage(&[
            usage("old", UsageStatus::Completed, "k1", "coder", "m1", 10),
            usage("a", UsageStatus::Completed, "k1", "coder", "m1", 2_000),
            usage("b", UsageStatus::Failed, "k2", "coder", "m2", 3_000),
            usage("c", UsageStatus::Completed, "k2", "chat", "m2", 4_000),
            other_project,
        ])
        .unwrap();
    let p = ProjectId("proj_a".into());
    let total = store.usage_summary(&p, 1_000, UsageGroupBy::Total).unwrap();
    assert_eq!(
        total,
        vec![UsageTotals {
            group: None,
            requests: 3,
            unfinished: 1,
            prompt_tokens: 300,
            cached_tokens: 120,
            completion_tokens: 30,
            reasoning_tokens: 9,
            total_tokens: 330,
        }]
    );
    let groups = |by| -> Vec<(Option<String>, u64)> {
        store
            .usage_summary(&p, 1_000, by)
            .unwrap()
            .into_iter()
            .map(|t| (t.group, t.requests))
            .collect()
    };
    let s = |x: &str| Some(x.to_string());
    assert_eq!(groups(UsageGroupBy::Key), vec![(s("k1"), 1), (s("k2"), 2)]);
    assert_eq!(
        groups(UsageGroupBy::Endpoint),
        vec![(s("chat"), 1), (s("coder"), 2)]
    );
    assert_eq!(
        groups(UsageGroupBy::Model),
        vec![(s("m1"), 1), (s("m2"), 2)]
    );
    let all = store.usage_summary(&p, 0, UsageGroupBy::Total).unwrap();
    assert_eq!(all[0].requests, 4);
    let none = store
        .usage_summary(&ProjectId("proj_zz".into()), 0, UsageGroupBy::Key)
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn a_corrupt_file_is_a_one_line_error_naming_it() {
    let dir = TestDir::new("store-corrupt");
    let path = dir.path().join("weir.db");
    let noise: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &noise).unwrap();
    assert_one_line_naming(&Store::open(&path).err().unwrap(), &path);
    assert_one_line_naming(&Store::open_existing(&path).err().unwrap(), &path);
    std::fs::write(&path, "name = \"not a database\"\n").unwrap();
    assert_one_line_naming(&Store::open(&path).err().unwrap(), &path);
    // A valid header over garbage pages: SQLite itself must refuse it.
    let mut fake = b"SQLite format 3\0".to_vec();
    fake.extend_from_slice(&noise);
    std::fs::write(&path, &fake).unwrap();
    assert_one_line_naming(&Store::open(&path).err().unwrap(), &path);
    // The bytes are left as they were: nothing is overwritten.
    assert_eq!(std::fs::read(&path).unwrap(), fake);
}

#[test]
fn a_read_only_file_or_a_directory_is_a_one_line_error() {
    let dir = TestDir::new("store-readonly");
    let path = dir.path().join("weir.db");
    drop(Store::open(&path).unwrap());
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert_one_line_naming(&err, &path);
    assert!(err.to_string().contains("read-only"), "{err}");
    let as_dir = dir.path().join("adir");
    std::fs::create_dir(&as_dir).unwrap();
    assert_one_line_naming(&Store::open(&as_dir).err().unwrap(), &as_dir);
    // A parent that is a file cannot become a directory.
    let under_file = path.join("weir.db");
    assert_one_line_naming(&Store::open(&under_file).err().unwrap(), &under_file);
}

#[test]
fn default_path_follows_xdg_then_home() {
    let p = default_db_path();
    assert!(p.ends_with("weir/weir.db"), "{}", p.display());
}

#[test]
fn responses_are_kept_per_project_and_deleted() {
    let dir = TestDir::new("store-responses");
    let store = Store::open(&dir.path().join("weir.db")).unwrap();
    let r = StoredResponse {
        id: "resp_1".into(),
        project: "proj_a".into(),
        previous_response_id: None,
        input_items: "[]".into(),
        response: "{}".into(),
        created_at_ms: 5,
    };
    store.insert_response(&r).unwrap();
    assert_eq!(store.response("proj_a", "resp_1").unwrap(), Some(r.clone()));
    assert_eq!(
        store.response("proj_b", "resp_1").unwrap(),
        None,
        "another project's"
    );
    assert!(store.insert_response(&r).is_err(), "ids are unique");
    assert!(!store.delete_response("proj_b", "resp_1").unwrap());
    assert!(store.delete_response("proj_a", "resp_1").unwrap());
    assert_eq!(store.response("proj_a", "resp_1").unwrap(), None);
}

#[test]
fn retention_drops_the_old_and_each_projects_oldest_past_the_count() {
    let dir = TestDir::new("store-retention");
    let store = Store::open(&dir.path().join("weir.db")).unwrap();
    let put = |id: &str, project: &str, at: i64| {
        store
            .insert_response(&StoredResponse {
                id: id.into(),
                project: project.into(),
                previous_response_id: None,
                input_items: "[]".into(),
                response: "{}".into(),
                created_at_ms: at,
            })
            .unwrap();
    };
    for (i, at) in [10, 20, 30, 40].into_iter().enumerate() {
        put(&format!("resp_a{i}"), "proj_a", at);
    }
    put("resp_b0", "proj_b", 15);
    put("resp_b1", "proj_b", 50);
    assert_eq!(store.response_totals().unwrap(), (6, 24));
    // Older than 12: a0; then more than 2 per project: a1.
    assert_eq!(store.sweep_responses(12, 2).unwrap(), 2);
    let kept = |id: &str, p: &str| store.response(p, id).unwrap().is_some();
    assert!(!kept("resp_a0", "proj_a") && !kept("resp_a1", "proj_a"));
    assert!(kept("resp_a2", "proj_a") && kept("resp_a3", "proj_a"));
    assert!(
        kept("resp_b0", "proj_b") && kept("resp_b1", "proj_b"),
        "a project's own count"
    );
    assert_eq!(store.sweep_responses(12, 2).unwrap(), 0);
    assert_eq!(store.sweep_responses(45, 2).unwrap(), 3);
    assert_eq!(store.response_totals().unwrap(), (1, 4));
}
