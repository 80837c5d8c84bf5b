//! Scenario: create, read, update and delete single records and batches.
//!
//! Every value kind round trips; ids come from the `id` field or are generated; failures
//! store nothing; the automatic fields are stamped as documented; limits are enforced; and
//! everything is still there, exactly, after a close and reopen.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use blazedb::{Database, Error, Options, Record, Timestamp, Uuid, Value, ValueKind};

const C: &str = "items";

fn path_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("crud.blazedb")
}

fn open(path: &Path) -> Database {
    Database::open(path, Options::default()).unwrap()
}

fn fresh() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&path_in(&dir));
    (dir, db)
}

fn u(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// One field of each of the 11 kinds, with the containers holding every kind again.
fn every_kind() -> Record {
    let scalars = vec![
        Value::String("ünïcødé ✓".into()),
        Value::Int(i64::MIN),
        Value::Double(-1.25e-300),
        Value::Bool(false),
        Value::Date(Timestamp::new(-1_000_000_000, 987_654_321)),
        Value::Uuid(u(0xABCD)),
        Value::Data(vec![0, 1, 2, 254, 255]),
        Value::Vector(vec![]),
        Value::Null,
    ];
    let mut inner = BTreeMap::new();
    for (i, v) in scalars.iter().enumerate() {
        inner.insert(format!("k{i}"), v.clone());
    }
    inner.insert("list".into(), Value::Array(scalars.clone()));
    Record::new()
        .with("string", "Crash on launch")
        .with("int", 42)
        .with("double", 3.5)
        .with("bool", true)
        .with("date", Timestamp::new(1_700_000_000, 123_456_789))
        .with("uuid", u(0x1234_5678))
        .with("data", vec![0xDEu8, 0xAD, 0xBE, 0xEF])
        .with("array", Value::Array(scalars))
        .with(
            "dict",
            Value::Dictionary(
                [("inner".to_string(), Value::Dictionary(inner))]
                    .into_iter()
                    .collect(),
            ),
        )
        .with("vector", vec![0.1, -0.0, f64::INFINITY, 1e308])
        .with("null", Value::Null)
}

fn assert_invalid_id(r: blazedb::Result<impl std::fmt::Debug>) {
    match r {
        Err(Error::InvalidField { field, .. }) => assert_eq!(field, "id"),
        other => panic!("expected InvalidField for id, got {other:?}"),
    }
}

fn date_of(r: &Record, field: &str) -> Timestamp {
    match r.get(field) {
        Some(Value::Date(t)) => *t,
        other => panic!("{field} should be a Date, is {other:?}"),
    }
}

#[test]
fn every_value_kind_round_trips() {
    let (_dir, db) = fresh();
    let rec = every_kind();
    let kinds: HashSet<ValueKind> = rec.iter().map(|(_, v)| v.kind()).collect();
    assert_eq!(kinds.len(), 11, "the fixture must hold all 11 kinds");

    let id = db.insert(C, rec.clone()).unwrap();
    let got = db.get(C, id).unwrap().expect("just inserted");
    for (k, v) in rec.iter() {
        assert_eq!(got.get(k), Some(v), "field {k}");
    }
    assert_eq!(got.get("id"), Some(&Value::Uuid(id)));
    assert!(got.get("createdAt").is_some() && got.get("project").is_some());
    assert_eq!(
        got.len(),
        rec.len() + 3,
        "only id, createdAt and project are added"
    );
    // Dotted paths reach into the nested dictionary and array.
    assert_eq!(
        got.get_path("dict.inner.list.5"),
        Some(&Value::Uuid(u(0xABCD)))
    );
    // A generated id is a time-ordered (v7) UUID.
    assert_eq!(id.get_version_num(), 7);
}

#[test]
fn generated_ids_ascend_in_insert_order() {
    // Ascending ids make inserts append to the B-tree's right edge (packed leaves, few
    // dirty pages) and make an unsorted query list records in insertion order.
    let (_dir, db) = fresh();
    let mut ids: Vec<Uuid> = (0..200)
        .map(|i| db.insert(C, Record::new().with("n", i)).unwrap())
        .collect();
    ids.extend(
        db.insert_many(C, (0..200).map(|i| Record::new().with("n", i)).collect())
            .unwrap(),
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids must strictly ascend"
    );
}

#[test]
fn id_comes_from_a_uuid_or_a_uuid_string() {
    let (_dir, db) = fresh();
    let a = u(0xA);
    assert_eq!(db.insert(C, Record::new().with("id", a)).unwrap(), a);
    assert_eq!(db.get(C, a).unwrap().unwrap().id(), Some(a));

    let b = Uuid::parse_str("6f1c9a52-0c3e-4e53-9d2a-1b7f0e9c4d11").unwrap();
    let got = db
        .insert(C, Record::new().with("id", b.to_string()).with("n", 1))
        .unwrap();
    assert_eq!(got, b);
    // The id is the record's key: it reads back as a uuid, whatever spelling came in.
    assert_eq!(
        db.get(C, b).unwrap().unwrap().get("id"),
        Some(&Value::Uuid(b))
    );

    let c = u(0xC0FFEE);
    let upper = c.to_string().to_uppercase();
    assert_eq!(db.insert(C, Record::new().with("id", upper)).unwrap(), c);
    // An explicit null id is "no id": one is generated.
    let g = db.insert(C, Record::new().with("id", Value::Null)).unwrap();
    assert_eq!(g.get_version_num(), 7);
    assert_eq!(db.count(C).unwrap(), 4);
}

#[test]
fn malformed_id_is_invalid_field_and_stores_nothing() {
    let (_dir, db) = fresh();
    assert_invalid_id(db.insert(C, Record::new().with("id", "not-a-uuid").with("n", 1)));
    assert_invalid_id(db.insert(C, Record::new().with("id", "")));
    assert_invalid_id(db.insert(C, Record::new().with("id", 7)));
    assert_invalid_id(db.insert(C, Record::new().with("id", 1.5)));
    assert_invalid_id(db.insert(C, Record::new().with("id", vec![1u8; 16])));
    assert_eq!(db.count(C).unwrap(), 0);
    assert!(db.all(C).unwrap().is_empty());
    assert!(
        db.collections().unwrap().is_empty(),
        "a failed insert created the collection"
    );
    // A bad id in the middle of a batch fails the whole batch.
    assert_invalid_id(db.insert_many(
        C,
        vec![
            Record::new().with("id", u(1)),
            Record::new().with("id", 99),
            Record::new().with("id", u(2)),
        ],
    ));
    assert_eq!(db.count(C).unwrap(), 0);
    assert_eq!(db.get(C, u(1)).unwrap(), None);
}

#[test]
fn duplicate_id_is_record_exists_and_keeps_the_original() {
    let (_dir, db) = fresh();
    let id = u(77);
    db.insert(C, Record::new().with("id", id).with("v", "first"))
        .unwrap();
    match db.insert(C, Record::new().with("id", id).with("v", "second")) {
        Err(Error::RecordExists { id: got }) => assert_eq!(got, id),
        other => panic!("expected RecordExists, got {other:?}"),
    }
    // The same id spelled as a string collides too.
    assert!(matches!(
        db.insert(C, Record::new().with("id", id.to_string())),
        Err(Error::RecordExists { id: got }) if got == id
    ));
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("v"), Some(&Value::String("first".into())));
    assert_eq!(db.count(C).unwrap(), 1);
}

#[test]
fn insert_many_is_all_or_nothing() {
    let (_dir, db) = fresh();
    // A duplicate inside the batch.
    let batch = vec![
        Record::new().with("id", u(1)).with("n", 1),
        Record::new().with("id", u(2)).with("n", 2),
        Record::new().with("id", u(1).to_string()).with("n", 3),
    ];
    match db.insert_many(C, batch) {
        Err(Error::RecordExists { id }) => assert_eq!(id, u(1)),
        other => panic!("expected RecordExists, got {other:?}"),
    }
    assert_eq!(db.count(C).unwrap(), 0);
    assert_eq!(db.get_many(C, &[u(1), u(2)]).unwrap(), vec![None, None]);

    // A duplicate against a stored record.
    db.insert(C, Record::new().with("id", u(10)).with("n", 10))
        .unwrap();
    let batch = vec![
        Record::new().with("id", u(11)),
        Record::new().with("id", u(12)),
        Record::new().with("id", u(10)).with("n", -1),
    ];
    match db.insert_many(C, batch) {
        Err(Error::RecordExists { id }) => assert_eq!(id, u(10)),
        other => panic!("expected RecordExists, got {other:?}"),
    }
    assert_eq!(db.count(C).unwrap(), 1);
    assert_eq!(db.get(C, u(11)).unwrap(), None);
    assert_eq!(db.get(C, u(12)).unwrap(), None);
    assert_eq!(
        db.get(C, u(10)).unwrap().unwrap().get("n"),
        Some(&Value::Int(10))
    );

    // A good batch: ids come back in input order, generated ones included.
    let ids = db
        .insert_many(
            C,
            vec![
                Record::new().with("id", u(30)).with("n", 0),
                Record::new().with("n", 1),
                Record::new().with("id", u(20)).with("n", 2),
            ],
        )
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!((ids[0], ids[2]), (u(30), u(20)));
    for (i, id) in ids.iter().enumerate() {
        let r = db.get(C, *id).unwrap().unwrap();
        assert_eq!(r.get("n"), Some(&Value::Int(i as i64)));
    }
    assert_eq!(db.count(C).unwrap(), 4);
}

/// A failed operation leaves its transaction as it was, so a caller may catch the error
/// and commit the rest.
#[test]
fn a_caught_insert_many_failure_leaves_the_transaction_unchanged() {
    let (_dir, db) = fresh();
    db.insert(C, Record::new().with("id", u(1)).with("v", "original"))
        .unwrap();
    db.soft_delete(C, u(1)).unwrap();
    db.insert(C, Record::new().with("id", u(2)).with("v", "live"))
        .unwrap();
    db.write(|tx| {
        tx.insert(C, Record::new().with("id", u(10)))?;
        // Collides with the live record after two new ones.
        let r = tx.insert_many(
            C,
            vec![
                Record::new().with("id", u(11)),
                Record::new().with("id", u(12)),
                Record::new().with("id", u(2)).with("v", "clobbered"),
            ],
        );
        assert!(matches!(r, Err(Error::RecordExists { id }) if id == u(2)));
        // Collides with the tombstone.
        let r = tx.insert_many(
            C,
            vec![
                Record::new().with("id", u(13)),
                Record::new().with("id", u(1)).with("v", "clobbered"),
            ],
        );
        assert!(matches!(r, Err(Error::RecordExists { id }) if id == u(1)));
        // Collides with a record inserted earlier in this transaction.
        let r = tx.insert_many(C, vec![Record::new().with("id", u(10)).with("v", "x")]);
        assert!(matches!(r, Err(Error::RecordExists { id }) if id == u(10)));
        assert_eq!(tx.count(C)?, 2);
        Ok(())
    })
    .unwrap();
    assert_eq!(db.count(C).unwrap(), 2, "u(2) and u(10)");
    assert_eq!(
        db.get(C, u(2)).unwrap().unwrap().get("v"),
        Some(&Value::String("live".into()))
    );
    assert_eq!(db.get(C, u(10)).unwrap().unwrap().get("v"), None);
    for missing in [u(11), u(12), u(13)] {
        assert_eq!(db.get(C, missing).unwrap(), None);
    }
    // The tombstone is still a tombstone, with its old body.
    assert_eq!(db.get(C, u(1)).unwrap(), None);
    assert_eq!(db.read(|tx| tx.soft_deleted_count(C)).unwrap(), 1);
    assert_eq!(db.purge(C).unwrap(), 1);
    assert_eq!(db.count(C).unwrap(), 2);
}

#[test]
fn too_deep_a_value_is_refused_and_stores_nothing() {
    let (_dir, db) = fresh();
    let mut deep = Value::Null;
    for _ in 0..=blazedb::MAX_DEPTH {
        deep = Value::Array(vec![deep]);
    }
    assert!(matches!(
        db.insert(C, Record::new().with("deep", deep.clone())),
        Err(Error::InvalidInput(_))
    ));
    assert!(db.collections().unwrap().is_empty());
    let id = db.insert(C, Record::new()).unwrap();
    assert!(matches!(
        db.update_fields(C, id, Record::new().with("deep", deep)),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(db.get(C, id).unwrap().unwrap().get("deep"), None);
}

#[test]
fn insert_stamps_created_at_and_project_unless_given() {
    let (_dir, db) = fresh();
    let before = Timestamp::now();
    let id = db.insert(C, Record::new().with("title", "x")).unwrap();
    let after = Timestamp::now();
    let r = db.get(C, id).unwrap().unwrap();
    let created = date_of(&r, "createdAt");
    assert!(
        before <= created && created <= after,
        "{before} {created} {after}"
    );
    assert_eq!(r.get("project"), Some(&Value::String("Default".into())));
    assert_eq!(r.get("updatedAt"), None, "a fresh record was never updated");

    let given = Timestamp::new(1_000_000_000, 42);
    let id = db
        .insert(
            C,
            Record::new()
                .with("createdAt", given)
                .with("project", "Apollo"),
        )
        .unwrap();
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("createdAt"), Some(&Value::Date(given)));
    assert_eq!(r.get("project"), Some(&Value::String("Apollo".into())));
}

#[test]
fn project_option_changes_or_disables_the_project_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        path_in(&dir),
        Options::default().project(Some("Zeus".into())),
    )
    .unwrap();
    let id = db.insert(C, Record::new()).unwrap();
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("project"), Some(&Value::String("Zeus".into())));
    db.close().unwrap();

    let db = Database::open(path_in(&dir), Options::default().project(None)).unwrap();
    let id = db.insert(C, Record::new()).unwrap();
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("project"), None);
    assert!(r.get("createdAt").is_some(), "createdAt is still stamped");
}

#[test]
fn update_replaces_keeps_created_at_and_stamps_updated_at() {
    let (_dir, db) = fresh();
    let id = db
        .insert(C, Record::new().with("a", 1).with("b", 2))
        .unwrap();
    let original = db.get(C, id).unwrap().unwrap();
    let created = date_of(&original, "createdAt");

    let before = Timestamp::now();
    db.update(C, id, Record::new().with("c", 3)).unwrap();
    let after = Timestamp::now();
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("a"), None, "update replaces: old fields are gone");
    assert_eq!(r.get("b"), None);
    assert_eq!(r.get("c"), Some(&Value::Int(3)));
    assert_eq!(
        date_of(&r, "createdAt"),
        created,
        "createdAt survives a replace"
    );
    assert_eq!(r.get("project"), original.get("project"));
    let updated = date_of(&r, "updatedAt");
    assert!(before <= updated && updated <= after);
    assert!(updated >= created);
    assert_eq!(r.id(), Some(id));
    assert_eq!(r.len(), 5, "id, c, createdAt, project, updatedAt: {r:?}");

    // A second update moves updatedAt forward (or keeps it, on a coarse clock).
    db.update(C, id, Record::new().with("c", 4)).unwrap();
    let r2 = db.get(C, id).unwrap().unwrap();
    assert!(date_of(&r2, "updatedAt") >= updated);
    // An id field naming the same record is fine, in either spelling.
    db.update(C, id, Record::new().with("id", id.to_string()).with("d", 1))
        .unwrap();
    assert_eq!(
        db.get(C, id).unwrap().unwrap().get("d"),
        Some(&Value::Int(1))
    );
    assert_eq!(db.count(C).unwrap(), 1);
}

#[test]
fn update_fields_merges() {
    let (_dir, db) = fresh();
    let id = db
        .insert(C, Record::new().with("a", 1).with("b", 2))
        .unwrap();
    let created = date_of(&db.get(C, id).unwrap().unwrap(), "createdAt");
    let before = Timestamp::now();
    db.update_fields(C, id, Record::new().with("b", 20).with("c", 30))
        .unwrap();
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("a"), Some(&Value::Int(1)), "untouched field kept");
    assert_eq!(r.get("b"), Some(&Value::Int(20)));
    assert_eq!(r.get("c"), Some(&Value::Int(30)));
    assert_eq!(date_of(&r, "createdAt"), created);
    assert!(date_of(&r, "updatedAt") >= before);
    // Setting a field to null keeps the field, as a null.
    db.update_fields(C, id, Record::new().with("a", Value::Null))
        .unwrap();
    assert_eq!(db.get(C, id).unwrap().unwrap().get("a"), Some(&Value::Null));
}

#[test]
fn update_of_a_missing_record_is_not_found() {
    let (_dir, db) = fresh();
    let missing = u(404);
    // Collection missing entirely.
    assert!(matches!(
        db.update(C, missing, Record::new().with("x", 1)),
        Err(Error::RecordNotFound { id }) if id == missing
    ));
    assert!(db.collections().unwrap().is_empty());
    db.insert(C, Record::new().with("id", u(1))).unwrap();
    assert!(matches!(
        db.update(C, missing, Record::new()),
        Err(Error::RecordNotFound { id }) if id == missing
    ));
    assert!(matches!(
        db.update_fields(C, missing, Record::new().with("x", 1)),
        Err(Error::RecordNotFound { id }) if id == missing
    ));
    assert_eq!(db.get(C, missing).unwrap(), None, "update must not insert");
    assert_eq!(db.count(C).unwrap(), 1);
}

#[test]
fn update_cannot_change_the_id() {
    let (_dir, db) = fresh();
    let id = db.insert(C, Record::new().with("v", 1)).unwrap();
    let other = u(0xBEEF);
    assert_invalid_id(db.update(C, id, Record::new().with("id", other).with("v", 2)));
    assert_invalid_id(db.update(C, id, Record::new().with("id", "garbage")));
    assert_invalid_id(db.update_fields(C, id, Record::new().with("id", other)));
    assert_invalid_id(db.upsert(C, id, Record::new().with("id", other)));
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("v"), Some(&Value::Int(1)));
    assert_eq!(r.get("updatedAt"), None);
    assert_eq!(db.get(C, other).unwrap(), None);
    assert_eq!(db.count(C).unwrap(), 1);
}

#[test]
fn upsert_inserts_then_replaces() {
    let (_dir, db) = fresh();
    let id = u(5);
    assert!(db.upsert(C, id, Record::new().with("a", 1)).unwrap());
    let first = db.get(C, id).unwrap().unwrap();
    assert_eq!(first.get("a"), Some(&Value::Int(1)));
    assert_eq!(first.id(), Some(id));
    let created = date_of(&first, "createdAt");

    assert!(!db.upsert(C, id, Record::new().with("b", 2)).unwrap());
    let second = db.get(C, id).unwrap().unwrap();
    assert_eq!(
        second.get("a"),
        None,
        "upsert over a live record replaces it"
    );
    assert_eq!(second.get("b"), Some(&Value::Int(2)));
    assert_eq!(date_of(&second, "createdAt"), created);
    assert!(second.get("updatedAt").is_some());
    assert_eq!(db.count(C).unwrap(), 1);
    // After a delete it inserts again.
    assert!(db.delete(C, id).unwrap());
    assert!(db.upsert(C, id, Record::new().with("c", 3)).unwrap());
    assert_eq!(db.count(C).unwrap(), 1);
}

#[test]
fn delete_is_idempotent_and_delete_many_counts() {
    let (_dir, db) = fresh();
    let ids = db
        .insert_many(C, (0..5).map(|i| Record::new().with("n", i)).collect())
        .unwrap();
    assert!(db.delete(C, ids[0]).unwrap());
    assert!(!db.delete(C, ids[0]).unwrap());
    assert!(!db.delete(C, u(999)).unwrap());
    assert!(!db.delete("nowhere", ids[1]).unwrap());
    assert_eq!(db.count(C).unwrap(), 4);

    // Already-deleted, missing and repeated ids do not count.
    let n = db
        .delete_many(C, &[ids[1], ids[0], u(999), ids[2], ids[1]])
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(db.count(C).unwrap(), 2);
    assert_eq!(db.delete_many(C, &[]).unwrap(), 0);
    let left: Vec<_> = db.all(C).unwrap().iter().map(|r| r.id().unwrap()).collect();
    let mut expected = vec![ids[3], ids[4]];
    expected.sort();
    assert_eq!(left, expected);
}

#[test]
fn get_many_lines_up_with_the_input() {
    let (_dir, db) = fresh();
    let a = db.insert(C, Record::new().with("n", "a")).unwrap();
    let b = db.insert(C, Record::new().with("n", "b")).unwrap();
    let missing = u(1);
    let got = db.get_many(C, &[b, missing, a, b]).unwrap();
    let names: Vec<Option<String>> = got
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|r| r.get("n").unwrap().as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        names,
        vec![Some("b".into()), None, Some("a".into()), Some("b".into())]
    );
    assert_eq!(got[0].as_ref().unwrap().id(), Some(b));
    assert!(db.get_many(C, &[]).unwrap().is_empty());
    assert_eq!(
        db.get_many("other", &[a, b]).unwrap(),
        vec![None, None],
        "a missing collection lines up too"
    );
}

#[test]
fn exists_follows_inserts_and_deletes() {
    let (_dir, db) = fresh();
    let id = db.insert(C, Record::new()).unwrap();
    assert!(db.exists(C, id).unwrap());
    assert!(!db.exists(C, u(3)).unwrap());
    assert!(!db.exists("other", id).unwrap());
    db.delete(C, id).unwrap();
    assert!(!db.exists(C, id).unwrap());
}

#[test]
fn record_size_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(path_in(&dir), Options::default().max_record_size(1024)).unwrap();
    let big = "x".repeat(2000);
    assert!(matches!(
        db.insert(C, Record::new().with("body", big.clone())),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(db.count(C).unwrap(), 0);
    assert!(db.collections().unwrap().is_empty());
    // One oversized record sinks its batch.
    assert!(matches!(
        db.insert_many(
            C,
            vec![
                Record::new().with("body", "small"),
                Record::new().with("body", big.clone())
            ]
        ),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(db.count(C).unwrap(), 0);

    // Under the limit is fine; growing past it by update is refused and changes nothing.
    let id = db
        .insert(C, Record::new().with("body", "x".repeat(500)))
        .unwrap();
    assert!(matches!(
        db.update(C, id, Record::new().with("body", big.clone())),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        db.update_fields(C, id, Record::new().with("more", big.clone())),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        db.upsert(C, u(8), Record::new().with("body", big)),
        Err(Error::InvalidInput(_))
    ));
    let r = db.get(C, id).unwrap().unwrap();
    assert_eq!(r.get("body").unwrap().as_str().unwrap().len(), 500);
    assert_eq!(r.get("more"), None);
    assert_eq!(db.count(C).unwrap(), 1);
}

#[test]
fn batch_size_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(path_in(&dir), Options::default().max_batch(10)).unwrap();
    let batch = |n: usize| (0..n).map(|i| Record::new().with("i", i as i64)).collect();
    assert!(matches!(
        db.insert_many(C, batch(11)),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(db.count(C).unwrap(), 0);
    assert!(db.collections().unwrap().is_empty());
    let ids = db.insert_many(C, batch(10)).unwrap();
    assert_eq!(ids.len(), 10);
    assert_eq!(db.count(C).unwrap(), 10);
}

#[test]
fn stamp_fields_false_stamps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(path_in(&dir), Options::default().stamp_fields(false)).unwrap();
    let rec = Record::new().with("title", "plain");
    let id = db.insert(C, rec.clone()).unwrap();
    assert_eq!(db.get(C, id).unwrap().unwrap(), rec.clone().with("id", id));
    db.update(C, id, Record::new().with("title", "replaced"))
        .unwrap();
    assert_eq!(
        db.get(C, id).unwrap().unwrap(),
        Record::new().with("title", "replaced").with("id", id)
    );
    db.update_fields(C, id, Record::new().with("n", 1)).unwrap();
    assert_eq!(
        db.get(C, id).unwrap().unwrap(),
        Record::new()
            .with("title", "replaced")
            .with("n", 1)
            .with("id", id)
    );
    let other = u(9);
    db.upsert(C, other, Record::new()).unwrap();
    assert_eq!(
        db.get(C, other).unwrap().unwrap(),
        Record::new().with("id", other)
    );
}

#[test]
fn data_persists_exactly_across_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = path_in(&dir);
    let db = open(&path);
    let mut ids = vec![db.insert(C, every_kind()).unwrap()];
    ids.extend(
        db.insert_many(
            C,
            (0..20)
                .map(|i| {
                    Record::new().with("i", i).with(
                        "at",
                        Timestamp::new(1_700_000_000 + i64::from(i), 1 + i as u32),
                    )
                })
                .collect(),
        )
        .unwrap(),
    );
    db.update_fields(C, ids[3], Record::new().with("touched", true))
        .unwrap();
    db.delete(C, ids[4]).unwrap();
    db.insert("second", Record::new().with("x", 1)).unwrap();
    let before_all = db.all(C).unwrap();
    let before_second = db.all("second").unwrap();
    assert_eq!(before_all.len(), 20);
    db.close().unwrap();
    assert!(matches!(db.get(C, ids[0]), Err(Error::Closed)));

    let db = open(&path);
    assert_eq!(
        db.all(C).unwrap(),
        before_all,
        "records differ after reopen"
    );
    assert_eq!(db.all("second").unwrap(), before_second);
    assert_eq!(db.count(C).unwrap(), 20);
    assert_eq!(db.get(C, ids[4]).unwrap(), None);
    let first = db.get(C, ids[0]).unwrap().unwrap();
    for (k, v) in every_kind().iter() {
        assert_eq!(first.get(k), Some(v), "field {k} after reopen");
    }
    // Nanoseconds survive, on stamped and on given dates alike.
    let r = db.get(C, ids[1]).unwrap().unwrap();
    assert_eq!(date_of(&r, "at").subsec_nanos(), 1);
    assert_eq!(
        date_of(&r, "createdAt"),
        date_of(
            before_all.iter().find(|x| x.id() == Some(ids[1])).unwrap(),
            "createdAt"
        )
    );
    assert_eq!(
        db.collections().unwrap(),
        vec![C.to_string(), "second".into()]
    );
}
