//! The exported API, called from Rust the way a foreign language calls it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blazedb_ffi::*;

fn rec(pairs: &[(&str, BlazeValue)]) -> BlazeRecord {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn s(v: &str) -> BlazeValue {
    BlazeValue::String { value: v.into() }
}

fn open(dir: &tempfile::TempDir) -> Arc<Database> {
    Database::open(
        dir.path().join("t.blazedb").display().to_string(),
        OpenOptions {
            busy_timeout_ms: Some(200),
            ..OpenOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn crud_batches_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let c = "bugs".to_string();
    let id = db.insert(c.clone(), rec(&[("title", s("a"))])).unwrap();
    let got = db.get(c.clone(), id.clone()).unwrap().unwrap();
    assert_eq!(got["title"], s("a"));
    assert_eq!(got["id"], BlazeValue::Uuid { value: id.clone() });
    assert_eq!(got["project"], s("Default"));
    assert!(matches!(got["createdAt"], BlazeValue::Date { .. }));

    let dup = db.insert(
        c.clone(),
        rec(&[("id", BlazeValue::Uuid { value: id.clone() })]),
    );
    assert!(matches!(dup, Err(BlazeError::RecordExists { id: d }) if d == id));

    let ids = db
        .insert_many(
            c.clone(),
            (0..10)
                .map(|i| rec(&[("n", BlazeValue::Int { value: i })]))
                .collect(),
        )
        .unwrap();
    assert_eq!(ids.len(), 10);
    assert_eq!(db.count(c.clone()).unwrap(), 11);
    let many = db
        .get_many(c.clone(), vec![ids[3].clone(), uuid_v4()])
        .unwrap();
    assert!(many[0].is_some() && many[1].is_none());
    assert_eq!(db.page(c.clone(), 5, 100).unwrap().len(), 6);

    let missing = uuid_v4();
    assert!(matches!(
        db.update(c.clone(), missing.clone(), HashMap::new()),
        Err(BlazeError::RecordNotFound { id: m }) if m == missing
    ));
    assert!(matches!(
        db.get(c.clone(), "not-a-uuid".into()),
        Err(BlazeError::InvalidInput { .. })
    ));
    db.update_fields(c.clone(), id.clone(), rec(&[("status", s("done"))]))
        .unwrap();
    let got = db.get(c.clone(), id.clone()).unwrap().unwrap();
    assert_eq!(got["title"], s("a"));
    assert!(matches!(got["updatedAt"], BlazeValue::Date { .. }));
    assert!(
        !db.upsert(c.clone(), id.clone(), rec(&[("x", BlazeValue::Null)]))
            .unwrap()
    );
    assert!(
        db.upsert(c.clone(), missing.clone(), HashMap::new())
            .unwrap()
    );
    db.soft_delete(c.clone(), ids[0].clone()).unwrap();
    assert!(db.get(c.clone(), ids[0].clone()).unwrap().is_none());
    assert_eq!(db.soft_deleted_count(c.clone()).unwrap(), 1);
    assert_eq!(db.purge(c.clone()).unwrap(), 1);
    assert_eq!(db.delete_many(c.clone(), ids[1..4].to_vec()).unwrap(), 3);
    assert!(db.delete(c.clone(), id.clone()).unwrap());
    assert!(!db.delete(c.clone(), id.clone()).unwrap());
    db.rename_collection(c.clone(), "issues".into()).unwrap();
    assert_eq!(db.collections().unwrap(), vec!["issues".to_string()]);
    assert!(db.drop_collection("issues".into()).unwrap());
}

#[test]
fn transactions_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let c = "t".to_string();
    let tx = db.begin().unwrap();
    assert!(matches!(
        db.begin(),
        Err(BlazeError::TransactionFailed { .. })
    ));
    let id = tx.insert(c.clone(), HashMap::new()).unwrap();
    assert_eq!(tx.count(c.clone()).unwrap(), 1);
    assert_eq!(
        db.count(c.clone()).unwrap(),
        0,
        "uncommitted writes are hidden"
    );
    tx.rollback().unwrap();
    assert!(matches!(tx.count(c.clone()), Err(BlazeError::Closed)));
    assert!(db.get(c.clone(), id).unwrap().is_none());

    let tx = db.begin().unwrap();
    tx.insert(c.clone(), HashMap::new()).unwrap();
    tx.commit().unwrap();
    assert!(!tx.is_open());
    assert_eq!(db.count(c.clone()).unwrap(), 1);

    let tx = db.begin().unwrap();
    db.close_database().unwrap();
    db.close_database().unwrap();
    assert!(db.is_closed());
    assert!(matches!(
        tx.insert(c.clone(), HashMap::new()),
        Err(BlazeError::Closed)
    ));
    assert!(matches!(db.count(c.clone()), Err(BlazeError::Closed)));
    assert!(matches!(
        db.insert(c, HashMap::new()),
        Err(BlazeError::Closed)
    ));
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _db = open(&dir);
    let path = dir.path().join("t.blazedb").display().to_string();
    let again = Database::open(path, OpenOptions::default());
    assert!(matches!(again, Err(BlazeError::DatabaseLocked { .. })));
}

struct Recorder(Mutex<Vec<ChangeBatch>>);

impl ChangeListener for Recorder {
    fn on_changes(&self, batch: ChangeBatch) {
        self.0.lock().unwrap().push(batch);
    }
    fn on_lagged(&self, _missed: u64) {}
}

#[test]
fn change_feed_delivers_one_batch_per_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let rec_ = Arc::new(Recorder(Mutex::new(Vec::new())));
    let sub = db.subscribe(rec_.clone()).unwrap();
    let ids = db
        .insert_many("c".into(), vec![HashMap::new(), HashMap::new()])
        .unwrap();
    db.delete("c".into(), ids[0].clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while rec_.0.lock().unwrap().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = rec_.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].changes.len(), 2);
    assert_eq!(got[0].changes[0].kind, ChangeKind::Inserted);
    assert_eq!(got[1].changes[0].kind, ChangeKind::Deleted);
    assert_eq!(got[1].changes[0].id, ids[0]);
    assert!(sub.is_active());
    sub.cancel();
    assert!(!sub.is_active());
}

fn uuid_v4() -> String {
    blazedb::Uuid::new_v4().to_string()
}

#[test]
fn encryption_password_policy_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.blazedb").display().to_string();
    let with = |p: &str| OpenOptions {
        password: Some(p.to_string()),
        password_policy: true,
        ..OpenOptions::default()
    };
    assert!(matches!(
        Database::open(path.clone(), with("weak")),
        Err(BlazeError::PasswordTooWeak { missing }) if !missing.is_empty()
    ));
    let db = Database::open(path.clone(), with("DemoPass123!")).unwrap();
    assert!(db.is_encrypted());
    let id = db.insert("c".into(), rec(&[("secret", s("x"))])).unwrap();
    db.close_database().unwrap();
    assert!(matches!(
        Database::open(path.clone(), with("OtherPass123!")),
        Err(BlazeError::PasswordMismatch)
    ));
    let db = Database::open(path.clone(), with("DemoPass123!")).unwrap();
    assert_eq!(db.get("c".into(), id).unwrap().unwrap()["secret"], s("x"));
    assert!(db.verify_encryption().unwrap().is_empty());
    db.change_password("NewPass4567!".into()).unwrap();
    db.close_database().unwrap();
    assert!(Database::open(path.clone(), with("NewPass4567!")).is_ok());
    let bad_key = OpenOptions {
        key: Some(vec![1; 31]),
        ..OpenOptions::default()
    };
    assert!(matches!(
        Database::open(dir.path().join("k.blazedb").display().to_string(), bad_key),
        Err(BlazeError::InvalidInput { .. })
    ));
    let both = OpenOptions {
        key: Some(vec![1; 32]),
        ..with("DemoPass123!")
    };
    assert!(matches!(
        Database::open(dir.path().join("k.blazedb").display().to_string(), both),
        Err(BlazeError::InvalidInput { .. })
    ));
}

#[test]
fn queries_filter_sort_and_page_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let c = "q".to_string();
    let recs = (0..20)
        .map(|n| {
            rec(&[
                ("n", BlazeValue::Int { value: n }),
                ("status", s(if n % 2 == 0 { "open" } else { "closed" })),
            ])
        })
        .collect();
    db.insert_many(c.clone(), recs).unwrap();
    let spec = QuerySpec {
        collection: c.clone(),
        filters: vec![
            QueryFilter::Eq {
                field: "status".into(),
                value: s("open"),
            },
            QueryFilter::Gte {
                field: "n".into(),
                value: BlazeValue::Int { value: 4 },
            },
        ],
        order_by: vec![SortKey {
            field: "n".into(),
            descending: true,
        }],
        offset: Some(1),
        limit: Some(3),
    };
    let got: Vec<BlazeValue> = db
        .query(spec.clone())
        .unwrap()
        .into_iter()
        .map(|r| r["n"].clone())
        .collect();
    assert_eq!(
        got,
        [16, 14, 12].map(|value| BlazeValue::Int { value }).to_vec()
    );
    assert_eq!(db.query_count(spec.clone()).unwrap(), 8);
    let none = QuerySpec {
        filters: vec![QueryFilter::Not {
            filters: vec![QueryFilter::NotNil { field: "n".into() }],
        }],
        ..spec.clone()
    };
    assert!(db.query(none).unwrap().is_empty());
    let tx = db.begin().unwrap();
    tx.insert(
        c.clone(),
        rec(&[("status", s("open")), ("n", BlazeValue::Int { value: 99 })]),
    )
    .unwrap();
    assert_eq!(
        tx.query_count(spec.clone()).unwrap(),
        9,
        "a transaction queries its own writes"
    );
    assert_eq!(db.query_count(spec).unwrap(), 8);
    tx.rollback().unwrap();
}
