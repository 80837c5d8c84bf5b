//! Scenario: collections come and go.
//!
//! Created by the first write, listed in name order, never created by a read; renamed with
//! their records and counters; dropped with their records; bad names refused before
//! anything is written; and ids scoped to their collection.

use blazedb::{Database, Error, Options, Record, Uuid, Value};

fn fresh() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("cols.blazedb"), Options::default()).unwrap();
    (dir, db)
}

fn soft_count(db: &Database, c: &str) -> u64 {
    db.read(|tx| tx.soft_deleted_count(c)).unwrap()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn bad_names() -> Vec<String> {
    vec![
        String::new(),
        "..".into(),
        "a/b".into(),
        "a\\b".into(),
        "/".into(),
        "a\0b".into(),
        "x".repeat(256),
        "é".repeat(256),
    ]
}

fn is_invalid_input<T: std::fmt::Debug>(r: blazedb::Result<T>) -> bool {
    matches!(r, Err(Error::InvalidInput(_)))
}

#[test]
fn collections_are_created_on_first_write_and_listed_in_name_order() {
    let (_dir, db) = fresh();
    assert!(db.collections().unwrap().is_empty());
    for c in ["zeta", "alpha", "Mid", "beta", "ébène", "alpha2"] {
        db.insert(c, Record::new().with("c", c)).unwrap();
    }
    // Byte order: uppercase before lowercase, ASCII before other scripts.
    assert_eq!(
        db.collections().unwrap(),
        names(&["Mid", "alpha", "alpha2", "beta", "zeta", "ébène"])
    );
    // A second write to an existing collection adds no entry.
    db.insert("alpha", Record::new()).unwrap();
    assert_eq!(db.collections().unwrap().len(), 6);
    // Every write path creates: insert_many and upsert too.
    db.insert_many("many", vec![Record::new()]).unwrap();
    db.upsert("up", Uuid::from_u128(1), Record::new()).unwrap();
    let cols = db.collections().unwrap();
    assert!(cols.contains(&"many".to_string()) && cols.contains(&"up".to_string()));
    // Names at the limits are fine: 255 characters, in ASCII and beyond.
    db.insert(&"x".repeat(255), Record::new()).unwrap();
    db.insert(&"é".repeat(255), Record::new()).unwrap();
    assert_eq!(db.collections().unwrap().len(), 10);
}

#[test]
fn reads_of_a_missing_collection_are_empty_and_create_nothing() {
    let (_dir, db) = fresh();
    db.insert("real", Record::new()).unwrap();
    let id = Uuid::from_u128(9);
    let c = "ghost";
    assert_eq!(db.get(c, id).unwrap(), None);
    assert_eq!(db.get_many(c, &[id, id]).unwrap(), vec![None, None]);
    assert!(!db.exists(c, id).unwrap());
    assert!(db.all(c).unwrap().is_empty());
    assert!(db.page(c, 0, 10).unwrap().is_empty());
    assert_eq!(db.count(c).unwrap(), 0);
    assert_eq!(soft_count(&db, c), 0);
    // Writes that find nothing to change create nothing either.
    assert!(!db.delete(c, id).unwrap());
    assert_eq!(db.delete_many(c, &[id]).unwrap(), 0);
    assert_eq!(db.purge(c).unwrap(), 0);
    assert!(!db.drop_collection(c).unwrap());
    assert!(matches!(
        db.update(c, id, Record::new()),
        Err(Error::RecordNotFound { .. })
    ));
    assert!(matches!(
        db.update_fields(c, id, Record::new()),
        Err(Error::RecordNotFound { .. })
    ));
    assert!(matches!(
        db.soft_delete(c, id),
        Err(Error::RecordNotFound { .. })
    ));
    // Reads through a snapshot and a write transaction as well.
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.count(c).unwrap(), 0);
    drop(snap);
    db.write(|tx| {
        assert!(tx.all(c)?.is_empty());
        Ok(())
    })
    .unwrap();
    assert_eq!(db.collections().unwrap(), names(&["real"]));
}

#[test]
fn rename_keeps_records_and_counts() {
    let (_dir, db) = fresh();
    let ids = db
        .insert_many("old", (0..4).map(|i| Record::new().with("n", i)).collect())
        .unwrap();
    db.soft_delete("old", ids[0]).unwrap();
    let before = db.all("old").unwrap();
    db.insert("other", Record::new()).unwrap();

    db.rename_collection("old", "new").unwrap();
    assert_eq!(db.collections().unwrap(), names(&["new", "other"]));
    assert_eq!(db.all("new").unwrap(), before);
    assert_eq!(db.count("new").unwrap(), 3);
    assert_eq!(soft_count(&db, "new"), 1);
    assert!(db.all("old").unwrap().is_empty());
    assert_eq!(db.count("old").unwrap(), 0);
    assert_eq!(db.get("old", ids[1]).unwrap(), None);
    assert_eq!(
        db.get("new", ids[1]).unwrap().unwrap().get("n"),
        Some(&Value::Int(1))
    );
    // The tombstone moved too: it still blocks its id and still purges.
    assert!(matches!(
        db.insert("new", Record::new().with("id", ids[0])),
        Err(Error::RecordExists { .. })
    ));
    assert_eq!(db.purge("new").unwrap(), 1);
    // The old name is free for a new, empty collection.
    db.insert("old", Record::new()).unwrap();
    assert_eq!(db.count("old").unwrap(), 1);
    assert_eq!(db.count("new").unwrap(), 3);
    // Writes keep working under the new name.
    db.update_fields("new", ids[2], Record::new().with("moved", true))
        .unwrap();
    assert_eq!(
        db.get("new", ids[2]).unwrap().unwrap().get("moved"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn rename_refuses_a_missing_source_or_an_existing_target() {
    let (_dir, db) = fresh();
    db.insert("a", Record::new().with("v", "a")).unwrap();
    db.insert("b", Record::new().with("v", "b")).unwrap();
    assert!(is_invalid_input(db.rename_collection("missing", "c")));
    assert!(is_invalid_input(db.rename_collection("a", "b")));
    assert_eq!(db.collections().unwrap(), names(&["a", "b"]));
    assert_eq!(
        db.all("a").unwrap()[0].get("v"),
        Some(&Value::String("a".into()))
    );
    assert_eq!(
        db.all("b").unwrap()[0].get("v"),
        Some(&Value::String("b".into()))
    );
    assert_eq!(db.count("a").unwrap() + db.count("b").unwrap(), 2);
}

#[test]
fn drop_removes_records_and_the_name() {
    let (_dir, db) = fresh();
    let ids = db
        .insert_many(
            "doomed",
            (0..5).map(|i| Record::new().with("n", i)).collect(),
        )
        .unwrap();
    db.soft_delete("doomed", ids[0]).unwrap();
    db.insert("kept", Record::new()).unwrap();
    assert!(db.drop_collection("doomed").unwrap());
    assert_eq!(db.collections().unwrap(), names(&["kept"]));
    assert_eq!(db.count("doomed").unwrap(), 0);
    assert_eq!(soft_count(&db, "doomed"), 0);
    assert_eq!(db.get("doomed", ids[1]).unwrap(), None);
    assert!(!db.drop_collection("doomed").unwrap());
    // Re-created under the same name it starts empty; the old ids, tombstone included,
    // are free.
    db.insert("doomed", Record::new().with("id", ids[0]))
        .unwrap();
    db.insert("doomed", Record::new().with("id", ids[1]))
        .unwrap();
    assert_eq!(db.count("doomed").unwrap(), 2);
    assert_eq!(db.count("kept").unwrap(), 1);
}

#[test]
fn bad_names_are_refused_and_create_nothing() {
    let (_dir, db) = fresh();
    db.insert("good", Record::new()).unwrap();
    for name in bad_names() {
        let shown = name.chars().take(12).collect::<String>();
        assert!(
            is_invalid_input(db.insert(&name, Record::new())),
            "insert {shown:?}"
        );
        assert!(
            is_invalid_input(db.insert_many(&name, vec![Record::new()])),
            "insert_many {shown:?}"
        );
        assert!(
            is_invalid_input(db.upsert(&name, Uuid::from_u128(1), Record::new())),
            "upsert {shown:?}"
        );
        assert!(
            is_invalid_input(db.rename_collection("good", &name)),
            "rename to {shown:?}"
        );
        assert!(
            is_invalid_input(db.rename_collection(&name, "fine")),
            "rename from {shown:?}"
        );
    }
    assert_eq!(db.collections().unwrap(), names(&["good"]));
    assert_eq!(db.count("good").unwrap(), 1);
}

#[test]
fn the_same_id_lives_independently_in_two_collections() {
    let (_dir, db) = fresh();
    let id = Uuid::from_u128(0x5A5E);
    db.insert("a", Record::new().with("id", id).with("v", 1))
        .unwrap();
    db.insert("b", Record::new().with("id", id).with("v", 2))
        .unwrap();
    assert_eq!(
        db.get("a", id).unwrap().unwrap().get("v"),
        Some(&Value::Int(1))
    );
    assert_eq!(
        db.get("b", id).unwrap().unwrap().get("v"),
        Some(&Value::Int(2))
    );
    db.update_fields("a", id, Record::new().with("v", 10))
        .unwrap();
    assert_eq!(
        db.get("b", id).unwrap().unwrap().get("v"),
        Some(&Value::Int(2))
    );
    db.soft_delete("b", id).unwrap();
    assert!(db.exists("a", id).unwrap());
    assert!(!db.exists("b", id).unwrap());
    assert!(db.delete("a", id).unwrap());
    assert_eq!(soft_count(&db, "b"), 1, "b's tombstone is untouched");
    assert_eq!(db.purge("a").unwrap(), 0);
    assert_eq!(db.purge("b").unwrap(), 1);
    assert_eq!((db.count("a").unwrap(), db.count("b").unwrap()), (0, 0));
}

#[test]
fn lifecycle_changes_inside_one_transaction() {
    let (_dir, db) = fresh();
    let old = db.insert("a", Record::new().with("gen", 1)).unwrap();
    // Read "a" first, so any cached mapping is warm, then drop and re-create it.
    assert_eq!(db.count("a").unwrap(), 1);
    db.write(|tx| {
        assert_eq!(tx.count("a")?, 1);
        assert!(tx.drop_collection("a")?);
        assert_eq!(tx.count("a")?, 0);
        assert_eq!(tx.get("a", old)?, None);
        tx.insert("a", Record::new().with("gen", 2))?;
        assert_eq!(tx.count("a")?, 1);
        Ok(())
    })
    .unwrap();
    assert_eq!(db.count("a").unwrap(), 1);
    assert_eq!(db.get("a", old).unwrap(), None);
    assert_eq!(db.all("a").unwrap()[0].get("gen"), Some(&Value::Int(2)));

    // Rename, then reuse the old name, in one transaction.
    db.write(|tx| {
        tx.rename_collection("a", "b")?;
        assert_eq!(tx.count("a")?, 0);
        assert_eq!(tx.count("b")?, 1);
        tx.insert("a", Record::new().with("gen", 3))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(db.collections().unwrap(), names(&["a", "b"]));
    assert_eq!(db.all("a").unwrap()[0].get("gen"), Some(&Value::Int(3)));
    assert_eq!(db.all("b").unwrap()[0].get("gen"), Some(&Value::Int(2)));

    // A rolled-back rename and drop leave everything, including later reads, as it was.
    let r: blazedb::Result<()> = db.write(|tx| {
        tx.rename_collection("a", "c")?;
        tx.drop_collection("b")?;
        tx.insert("d", Record::new())?;
        assert_eq!(tx.collections()?, names(&["c", "d"]));
        Err(Error::InvalidInput("roll back".into()))
    });
    assert!(r.is_err());
    assert_eq!(db.collections().unwrap(), names(&["a", "b"]));
    assert_eq!(db.all("a").unwrap()[0].get("gen"), Some(&Value::Int(3)));
    assert_eq!(db.all("b").unwrap()[0].get("gen"), Some(&Value::Int(2)));
    assert_eq!(db.count("c").unwrap(), 0);
    db.insert("a", Record::new()).unwrap();
    assert_eq!(db.count("a").unwrap(), 2);
}

/// A snapshot taken before a rename keeps reading the collections as they were.
#[test]
fn a_snapshot_does_not_see_a_later_rename_or_drop() {
    let (_dir, db) = fresh();
    db.insert("a", Record::new().with("v", "a")).unwrap();
    db.insert("b", Record::new().with("v", "b")).unwrap();
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.count("a").unwrap(), 1);
    db.drop_collection("a").unwrap();
    db.rename_collection("b", "a").unwrap();
    // Now "a" holds what was "b"; the snapshot still sees the old "a" and "b".
    assert_eq!(
        db.all("a").unwrap()[0].get("v"),
        Some(&Value::String("b".into()))
    );
    assert_eq!(
        snap.all("a").unwrap()[0].get("v"),
        Some(&Value::String("a".into()))
    );
    assert_eq!(
        snap.all("b").unwrap()[0].get("v"),
        Some(&Value::String("b".into()))
    );
    assert_eq!(snap.collections().unwrap(), names(&["a", "b"]));
    drop(snap);
    assert_eq!(db.collections().unwrap(), names(&["a"]));
    assert_eq!(db.count("b").unwrap(), 0);
}

#[test]
fn collections_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cols.blazedb");
    let db = Database::open(&path, Options::default()).unwrap();
    db.insert("one", Record::new()).unwrap();
    db.insert("two", Record::new()).unwrap();
    db.insert("three", Record::new()).unwrap();
    db.rename_collection("two", "deux").unwrap();
    db.drop_collection("three").unwrap();
    db.close().unwrap();
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.collections().unwrap(), names(&["deux", "one"]));
    assert_eq!(db.count("deux").unwrap(), 1);
    // A collection created after reopen does not collide with the dropped one's table.
    db.insert("four", Record::new()).unwrap();
    assert_eq!(db.count("four").unwrap(), 1);
    assert_eq!(db.count("deux").unwrap(), 1);
    assert_eq!(db.count("one").unwrap(), 1);
}
