//! Open options: cache size, relaxed durability with an explicit sync, and defaults.

use blazedb::{Database, Durability, Options, Record};

#[test]
fn a_tiny_cache_still_reads_and_writes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.blazedb");
    let db = Database::open(&path, Options::default().cache_size(64 * 1024)).unwrap();
    let ids = db
        .insert_many(
            "c",
            (0..3000)
                .map(|i| {
                    Record::new()
                        .with("i", i as i64)
                        .with("pad", "x".repeat(200))
                })
                .collect(),
        )
        .unwrap();
    // Far more data than the cache holds: every read goes to the file.
    for (n, id) in ids.iter().enumerate().step_by(97) {
        let r = db.get("c", *id).unwrap().unwrap();
        assert_eq!(r.get("i").and_then(|v| v.as_int()), Some(n as i64));
    }
    assert_eq!(db.all("c").unwrap().len(), 3000);
}

#[test]
fn relaxed_commits_are_visible_at_once_and_durable_after_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relaxed.blazedb");
    let db = Database::open(&path, Options::default().durability(Durability::Relaxed)).unwrap();
    let id = db.insert("c", Record::new().with("v", 1)).unwrap();
    assert!(
        db.get("c", id).unwrap().is_some(),
        "relaxed commit not visible"
    );
    let other = db.clone();
    assert_eq!(other.count("c").unwrap(), 1);
    db.sync().unwrap();
    db.insert("c", Record::new().with("v", 2)).unwrap();
    db.close().unwrap();
    // A clean close makes everything durable too.
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.count("c").unwrap(), 2);
}

#[test]
fn defaults_are_the_documented_ones() {
    let o = Options::default();
    assert!(!o.is_encrypted());
    assert_eq!(blazedb::DEFAULT_CACHE_SIZE, 16 * 1024 * 1024);
    assert_eq!(blazedb::DEFAULT_MAX_BATCH, 100_000);
    assert_eq!(blazedb::DEFAULT_MAX_RECORD_SIZE, 16 * 1024 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("d.blazedb"), o).unwrap();
    let id = db.insert("c", Record::new()).unwrap();
    let r = db.get("c", id).unwrap().unwrap();
    // Upstream's stamped fields, with upstream's default project.
    assert_eq!(r.get("project").and_then(|v| v.as_str()), Some("Default"));
    assert!(r.get("createdAt").and_then(|v| v.as_date()).is_some());
    assert_eq!(r.id(), Some(id));
}
