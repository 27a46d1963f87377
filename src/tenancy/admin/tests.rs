//! The admin operations against a real store in a temporary directory.

use super::*;
use crate::tenancy::test_dir::TestDir;

fn setup(tag: &str) -> (TestDir, PathBuf, NewKey) {
    let dir = TestDir::new(tag);
    let db = dir.path().join("weir.db");
    let key = init(&db).unwrap();
    (dir, db, key)
}

fn endpoint_spec(project: &str, slug: &str) -> EndpointSpec {
    EndpointSpec {
        project: project.into(),
        slug: slug.into(),
        model: "Qwen2.5-7B-Instruct".into(),
        aliases: vec![],
        limits: RateLimits::default(),
        weight: 1,
        strict_model_name: false,
    }
}

#[test]
fn durations_parse_in_days_hours_minutes_seconds() {
    assert_eq!(
        parse_duration("90d").unwrap(),
        Duration::from_secs(90 * 86_400)
    );
    assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
    assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
    assert_eq!(parse_duration("45s").unwrap(), Duration::from_secs(45));
    assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    for bad in [
        "",
        "d",
        "90",
        "1.5h",
        "-1d",
        "+1d",
        "1 d",
        "1w",
        "1dd",
        "9é",
        "é",
        "99999999999999999999d",
        "36501d",
    ] {
        let err = parse_duration(bad).unwrap_err().to_string();
        assert!(err.contains("duration"), "{bad}: {err}");
    }
}

#[test]
fn slugs_and_names_are_checked() {
    for good in ["coder", "a", "0-x", &"a".repeat(63)] {
        validate_slug(good).unwrap();
    }
    for bad in [
        "",
        "-a",
        "Coder",
        "a_b",
        "a.b",
        "a/b",
        "..",
        "%2e",
        &"a".repeat(64),
        "é",
    ] {
        assert!(validate_slug(bad).is_err(), "{bad}");
    }
    validate_name("project name", "acme_co.v2-x").unwrap();
    for bad in ["", "_acme", "Acme", "a b", "a/b"] {
        assert!(validate_name("project name", bad).is_err(), "{bad}");
    }
    let err = validate_slug("bad\nslug").unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn init_makes_an_operator_key_once() {
    let (_dir, db, key) = setup("admin-init");
    assert!(key.key.starts_with("weir_admin_"));
    assert_eq!(key.record.scopes, vec![Scope::Admin]);
    assert_eq!(key.record.project, None);
    let secret = keys::load_secret(&keys::secret_path(&db)).unwrap();
    assert!(hashes_match(&KeyHasher::new(secret), &key));
    let again = init(&db).unwrap_err().to_string();
    assert!(again.contains("key create --admin"), "{again}");
    // Only the first init's key exists.
    let admin = Admin::open(&db).unwrap();
    assert_eq!(admin.keys(None).unwrap().len(), 1);
}

fn hashes_match(hasher: &KeyHasher, key: &NewKey) -> bool {
    keys::hashes_equal(&hasher.hash(&key.key), &key.record.hash)
}

#[test]
fn open_refuses_a_missing_store() {
    let dir = TestDir::new("admin-missing");
    let err = Admin::open(&dir.path().join("nope.db")).err().unwrap();
    assert!(matches!(err, AdminError::NotInitialized(_)), "{err:?}");
    assert!(!dir.path().join("nope.db").exists());
}

#[test]
fn projects_endpoints_and_keys_are_created_and_resolved_by_id_or_name() {
    let (_dir, db, _) = setup("admin-create");
    let admin = Admin::open(&db).unwrap();
    let p = admin
        .create_project(&ProjectSpec {
            name: "acme".into(),
            limits: RateLimits {
                rpm: Some(10),
                tpm: None,
            },
            cache_group: None,
        })
        .unwrap();
    assert!(p.id.0.starts_with("proj_") && p.id.0.len() == 17);
    let dup = admin.create_project(&ProjectSpec {
        name: "acme".into(),
        ..ProjectSpec::default()
    });
    assert!(matches!(
        dup,
        Err(AdminError::Store(StoreError::Conflict(_)))
    ));
    assert_eq!(admin.project("acme").unwrap(), p);
    assert_eq!(admin.project(&p.id.0).unwrap(), p);
    assert!(matches!(
        admin.project("proj_nothere"),
        Err(AdminError::NotFound(_))
    ));
    let ep = admin
        .create_endpoint(&endpoint_spec("acme", "coder"))
        .unwrap();
    assert_eq!(ep.project, p.id);
    let dup = admin.create_endpoint(&endpoint_spec(&p.id.0, "coder"));
    assert!(dup.is_err());
    let mut bad = endpoint_spec("acme", "chat");
    bad.weight = 0;
    assert!(matches!(
        admin.create_endpoint(&bad),
        Err(AdminError::Invalid(_))
    ));
    assert_eq!(admin.endpoints(Some("acme")).unwrap(), vec![ep.clone()]);
    assert_eq!(admin.delete_endpoint("acme", "coder").unwrap(), ep);
    assert!(matches!(
        admin.delete_endpoint("acme", "coder"),
        Err(AdminError::NotFound(_))
    ));

    let key = admin
        .create_key(&KeySpec {
            project: Some("acme".into()),
            expires_in: Some(Duration::from_secs(3600)),
            ..KeySpec::default()
        })
        .unwrap();
    assert!(key.key.starts_with(&format!("weir_{}_", &p.id.0[5..])));
    assert_eq!(key.record.scopes, vec![Scope::Inference]);
    assert_eq!(key.record.prefix, keys::display_prefix(&key.key));
    assert!(key.record.expires_at.unwrap() > now());
    // Found by id, by prefix and by the key itself.
    assert_eq!(admin.find_key(&key.record.id).unwrap(), key.record);
    assert_eq!(admin.find_key(&key.record.prefix).unwrap(), key.record);
    assert_eq!(admin.find_key(&key.key).unwrap(), key.record);
    let not_found = admin
        .find_key(&format!(
            "{}zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            key.record.prefix
        ))
        .unwrap_err()
        .to_string();
    assert!(!not_found.contains("zzzz"), "{not_found}");
    // An operator key has only the admin scope.
    let op = admin.create_key(&KeySpec {
        scopes: vec![Scope::Inference],
        ..KeySpec::default()
    });
    assert!(matches!(op, Err(AdminError::Invalid(_))));
    let op = admin.create_key(&KeySpec::default()).unwrap();
    assert!(op.key.starts_with("weir_admin_"));
}

#[test]
fn revoke_and_rotate_move_keys_through_their_states() {
    let (_dir, db, _) = setup("admin-rotate");
    let admin = Admin::open(&db).unwrap();
    admin
        .create_project(&ProjectSpec {
            name: "acme".into(),
            ..ProjectSpec::default()
        })
        .unwrap();
    let spec = KeySpec {
        project: Some("acme".into()),
        scopes: vec![Scope::Inference, Scope::Admin],
        name: Some("laptop".into()),
        ..KeySpec::default()
    };
    let a = admin.create_key(&spec).unwrap();
    let status = |id: &str| {
        admin
            .keys(Some("acme"))
            .unwrap()
            .into_iter()
            .find(|v| v.key.id == id)
            .unwrap()
            .status
    };
    assert_eq!(status(&a.record.id), KeyStatus::Active);
    let r = admin.rotate_key(&a.record.prefix, DEFAULT_GRACE).unwrap();
    assert_eq!(status(&a.record.id), KeyStatus::Rotating);
    assert_eq!(status(&r.new.record.id), KeyStatus::Active);
    assert_eq!(r.new.record.scopes, a.record.scopes);
    assert_eq!(r.new.record.name, a.record.name);
    assert_eq!(r.new.record.project, a.record.project);
    assert_ne!(r.new.key, a.key);
    let again = admin.rotate_key(&a.record.id, DEFAULT_GRACE).unwrap_err();
    assert!(again.to_string().contains("rotating"), "{again}");
    // Revoking a rotating key ends its grace now.
    admin.revoke_key(&a.record.id).unwrap();
    assert_eq!(status(&a.record.id), KeyStatus::Revoked);
    let revoked_at = admin.find_key(&a.record.id).unwrap().revoked_at;
    admin.revoke_key(&a.record.id).unwrap();
    assert_eq!(admin.find_key(&a.record.id).unwrap().revoked_at, revoked_at);
    // A zero grace revokes at once.
    let r2 = admin.rotate_key(&r.new.record.id, Duration::ZERO).unwrap();
    assert_eq!(status(&r.new.record.id), KeyStatus::Revoked);
    assert_eq!(status(&r2.new.record.id), KeyStatus::Active);
}

#[test]
fn key_status_reads_the_clock() {
    let mut k = KeyRecord {
        id: "key_x".into(),
        project: None,
        prefix: "weir_admin_AbCd".into(),
        name: None,
        scopes: vec![Scope::Admin],
        hash: [0; 32],
        limits: RateLimits::default(),
        created_at: 0,
        expires_at: Some(100),
        revoked_at: None,
    };
    assert_eq!(key_status(&k, 99), KeyStatus::Active);
    assert_eq!(key_status(&k, 100), KeyStatus::Expired);
    k.revoked_at = Some(50);
    assert_eq!(key_status(&k, 49), KeyStatus::Rotating);
    assert_eq!(key_status(&k, 50), KeyStatus::Revoked);
    assert_eq!(key_status(&k, 200), KeyStatus::Revoked);
}

#[test]
fn a_lost_secret_is_not_silently_replaced() {
    let (_dir, db, _) = setup("admin-secret");
    std::fs::remove_file(keys::secret_path(&db)).unwrap();
    let admin = Admin::open(&db).unwrap();
    let err = admin.create_key(&KeySpec::default()).unwrap_err();
    assert!(err.to_string().contains("secret"), "{err}");
    assert!(!keys::secret_path(&db).exists());
}
