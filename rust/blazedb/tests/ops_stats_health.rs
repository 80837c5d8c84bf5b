//! Stats and health: real numbers from redb (records per collection, fragmentation, cache
//! hits), and health findings that follow from them.

use blazedb::ops::{HealthOptions, HealthStatus};
use blazedb::{Database, Options, Record};

fn pad(i: i64) -> Record {
    Record::new().with("i", i).with("pad", "x".repeat(300))
}

#[test]
fn stats_count_records_per_collection_and_measure_space() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    let ids = db
        .insert_many("bugs", (0..5000).map(pad).collect())
        .unwrap();
    db.insert_many("users", (0..7).map(pad).collect()).unwrap();
    db.soft_delete("bugs", ids[0]).unwrap();
    db.create_index("bugs", blazedb::IndexSpec::on("i"))
        .unwrap();
    db.create_index("users", blazedb::IndexSpec::on("i").unique())
        .unwrap();
    db.create_index("users", blazedb::IndexSpec::full_text(["pad"]))
        .unwrap();
    let s = db.stats().unwrap();
    assert_eq!(s.records, 5000 - 1 + 7);
    assert_eq!(s.soft_deleted, 1);
    let names: Vec<_> = s
        .collections
        .iter()
        .map(|c| (c.name.as_str(), c.records, c.soft_deleted))
        .collect();
    assert_eq!(names, vec![("bugs", 4999, 1), ("users", 7, 0)]);
    assert!(s.collections[0].stored_bytes > 5000 * 300);
    assert_eq!(s.file_bytes, std::fs::metadata(&p).unwrap().len());
    assert_eq!(s.logical_bytes, s.file_bytes);
    assert!(s.storage.exact);
    assert!(s.storage.allocated_pages.unwrap() > 0);
    assert_eq!((s.index_count, s.indexes_supported), (3, true));
    assert_eq!(s.schema_version, None);
    // Each tree's space: its entries, what it stores, and the pages that holds.
    let spaces: Vec<_> = s
        .collections
        .iter()
        .flat_map(|c| {
            c.indexes
                .iter()
                .map(move |i| (c.name.as_str(), i.name.as_str(), i.kind.as_str(), i.entries))
        })
        .collect();
    assert_eq!(
        spaces,
        vec![
            // The soft-deleted record is not indexed.
            ("bugs", "i", "btree", 4999),
            ("users", "fts:pad", "fulltext", spaces[1].3),
            ("users", "i", "unique", 7),
        ]
    );
    assert!(
        spaces[1].3 > 7,
        "a full-text index has posting and per-record entries"
    );
    for c in &s.collections {
        assert!(c.page_bytes >= c.stored_bytes && c.page_bytes > 0);
        for i in &c.indexes {
            assert!(
                i.stored_bytes > 0 && i.page_bytes >= i.stored_bytes,
                "{i:?}"
            );
        }
    }

    // Deleting most records leaves free pages: fragmentation rises, compact gives them back.
    db.delete_many("bugs", &ids[..4500]).unwrap();
    // A commit's freed pages are released by the next commit (docs/design.md §5): an
    // empty durable one.
    db.sync().unwrap();
    let after = db.stats().unwrap();
    assert!(after.storage.fragmented_bytes > s.storage.fragmented_bytes + 1_000_000);
    assert!(after.storage.fragmentation > 0.5, "{:?}", after.storage);
    let reclaimed = db.compact().unwrap();
    assert!(reclaimed > 0);
    let compacted = db.stats().unwrap();
    assert!(compacted.storage.fragmented_bytes < after.storage.fragmented_bytes);
    assert!(compacted.file_bytes < after.file_bytes);

    // The JSON shape the CLI prints.
    let j = serde_json::to_value(&compacted).unwrap();
    for key in [
        "path",
        "file_bytes",
        "records",
        "collections",
        "index_count",
        "storage",
        "cache",
    ] {
        assert!(j.get(key).is_some(), "missing {key}");
    }
    assert!(j["storage"]["fragmented_bytes"].is_u64());
}

#[test]
fn cache_hit_rate_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.blazedb");
    {
        let db = Database::open(&p, Options::default()).unwrap();
        db.insert_many("bugs", (0..2000).map(pad).collect())
            .unwrap();
        db.close().unwrap();
    }
    let db = Database::open(&p, Options::default().read_only(true)).unwrap();
    let cold = db.stats().unwrap().cache;
    for _ in 0..5 {
        assert_eq!(db.all("bugs").unwrap().len(), 2000);
    }
    let warm = db.stats().unwrap().cache;
    assert!(warm.read_misses >= cold.read_misses);
    assert!(
        warm.read_hits > cold.read_hits + 100,
        "{cold:?} -> {warm:?}"
    );
    let rate = warm.hit_rate.unwrap();
    assert!(rate > 0.5 && rate <= 1.0, "{rate}");
    assert!(warm.used_bytes > 0);
    assert_eq!(warm.capacity_bytes, blazedb::DEFAULT_CACHE_SIZE as u64);
}

#[test]
fn read_only_stats_estimate_fragmentation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.blazedb");
    {
        let db = Database::open(&p, Options::default()).unwrap();
        let ids = db
            .insert_many("bugs", (0..4000).map(pad).collect())
            .unwrap();
        db.delete_many("bugs", &ids[..3500]).unwrap();
        db.close().unwrap();
    }
    let before = std::fs::read(&p).unwrap();
    let db = Database::open(&p, Options::default().read_only(true)).unwrap();
    let s = db.stats().unwrap();
    assert!(s.read_only && !s.storage.exact);
    assert_eq!(s.storage.allocated_pages, None);
    assert_eq!(s.records, 500);
    assert!(s.storage.fragmented_bytes > 0 && s.storage.fragmentation > 0.3);
    db.close().unwrap();
    assert_eq!(
        before,
        std::fs::read(&p).unwrap(),
        "read-only stats wrote to the file"
    );
}

#[test]
fn health_warns_on_fragmentation_and_suggests_compact() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    assert_eq!(db.health().unwrap().status, HealthStatus::Ok);
    let ids = db
        .insert_many("bugs", (0..6000).map(pad).collect())
        .unwrap();
    db.delete_many("bugs", &ids[..5900]).unwrap();
    let opts = HealthOptions {
        min_fragmented_bytes: 1 << 20,
        ..HealthOptions::default()
    };
    let h = db.health_with(&opts).unwrap();
    assert_eq!(h.status, HealthStatus::Warn, "{h:?}");
    assert!(h.reasons[0].contains("fragmented"), "{h:?}");
    assert!(
        h.suggested_actions.iter().any(|a| a.contains("compact")),
        "{h:?}"
    );
    db.compact().unwrap();
    assert_eq!(db.health_with(&opts).unwrap().status, HealthStatus::Ok);

    // A schema mismatch is an error.
    let h = db
        .health_with(&HealthOptions {
            expected_schema_version: Some(blazedb::SchemaVersion::new(2, 0)),
            ..HealthOptions::default()
        })
        .unwrap();
    assert_eq!(h.status, HealthStatus::Error);
    let j = serde_json::to_value(&h).unwrap();
    assert_eq!(j["status"], "ERROR");
    assert!(j["suggested_actions"].is_array());
}

#[test]
fn health_reports_encrypted_damage_as_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("e.blazedb");
    let opts = || Options::default().key([7u8; 32]);
    {
        let db = Database::open(&p, opts()).unwrap();
        let ids = db.insert_many("bugs", (0..300).map(pad).collect()).unwrap();
        db.delete_many("bugs", &ids[..290]).unwrap();
        db.compact().unwrap();
        db.close().unwrap();
    }
    // Flip a byte in the last block (free or used): authentication must catch it.
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x40;
    std::fs::write(&p, &bytes).unwrap();
    match Database::open(&p, opts().read_only(true)) {
        Ok(db) => {
            let h = db.health().unwrap_or_else(|e| panic!("health failed: {e}"));
            assert_eq!(h.status, HealthStatus::Error, "{h:?}");
            assert!(h.reasons.iter().any(|r| r.contains("encryption")), "{h:?}");
        }
        Err(e) => assert!(matches!(e, blazedb::Error::CorruptedData(_)), "{e}"),
    }
}
