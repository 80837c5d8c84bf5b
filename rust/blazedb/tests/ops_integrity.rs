//! The integrity check: redb's page check plus BlazeDB's invariants, each broken on purpose
//! with raw redb writes to show that it is caught.

use blazedb::ops::{Severity, StorageCheck, check_file};
use blazedb::{Database, Options, Record};
use redb::{ReadableTable, TableDefinition};

const COLLECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("blazedb.collections");

fn make(p: &std::path::Path) {
    let db = Database::open(p, Options::default()).unwrap();
    let ids = db
        .insert_many(
            "bugs",
            (0..50).map(|i| Record::new().with("i", i)).collect(),
        )
        .unwrap();
    db.soft_delete("bugs", ids[0]).unwrap();
    db.soft_delete("bugs", ids[1]).unwrap();
    db.insert("users", Record::new().with("name", "ana"))
        .unwrap();
    db.close().unwrap();
}

#[test]
fn a_sound_database_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.blazedb");
    make(&p);
    let db = Database::open(&p, Options::default()).unwrap();
    let r = db.check().unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(r.storage, StorageCheck::Passed);
    assert_eq!(r.records_checked, 51);
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let bugs = &r.collections[0];
    assert_eq!(
        (bugs.stored, bugs.tombstones_found, bugs.tombstones_recorded),
        (50, 2, 2)
    );
    assert!(r.indexes.is_empty());
    db.close().unwrap();

    // Read-only: BlazeDB's checks run, redb's is skipped and says why.
    let db = Database::open(&p, Options::default().read_only(true)).unwrap();
    let r = db.check().unwrap();
    assert!(r.ok);
    assert!(matches!(r.storage, StorageCheck::Skipped { .. }));
    db.close().unwrap();

    // check_file runs everything on a copy and leaves the file alone.
    let before = std::fs::read(&p).unwrap();
    let r = check_file(&p, Options::default()).unwrap();
    assert!(r.ok && r.storage == StorageCheck::Passed, "{r:?}");
    assert_eq!(before, std::fs::read(&p).unwrap());
}

#[test]
fn a_wrong_tombstone_counter_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("counter.blazedb");
    make(&p);
    {
        let raw = redb::Database::open(&p).unwrap();
        let tx = raw.begin_write().unwrap();
        {
            let mut t = tx.open_table(COLLECTIONS).unwrap();
            let mut entry = t.get("bugs").unwrap().unwrap().value().to_vec();
            entry[8] = 5; // the tombstone counter, u64 LE at offset 8
            t.insert("bugs", entry.as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let db = Database::open(&p, Options::default()).unwrap();
    let r = db.check().unwrap();
    assert!(!r.ok);
    let e: Vec<_> = r.errors().map(|i| i.message.clone()).collect();
    assert!(
        e.iter()
            .any(|m| m.contains("soft-deleted") && m.contains("off by 3")),
        "{e:?}"
    );
}

#[test]
fn an_undecodable_body_and_an_orphan_table_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("body.blazedb");
    make(&p);
    {
        let raw = redb::Database::open(&p).unwrap();
        let tx = raw.begin_write().unwrap();
        {
            let entry = tx
                .open_table(COLLECTIONS)
                .unwrap()
                .get("bugs")
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            let id = u64::from_le_bytes(entry[..8].try_into().unwrap());
            let name = format!("blazedb.records.{id}");
            let def: TableDefinition<u128, &[u8]> = TableDefinition::new(&name);
            let mut t = tx.open_table(def).unwrap();
            t.insert(42u128, [0x01u8, 0x00, 0x05, 0xff].as_slice())
                .unwrap();
            let orphan: TableDefinition<u128, &[u8]> = TableDefinition::new("blazedb.records.999");
            tx.open_table(orphan)
                .unwrap()
                .insert(1u128, [0x01u8, 0, 0].as_slice())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let db = Database::open(&p, Options::default()).unwrap();
    let r = db.check().unwrap();
    assert!(!r.ok);
    assert_eq!(r.collections[0].undecodable, 1);
    assert!(
        r.errors().any(|i| i.message.contains("do not decode")),
        "{:?}",
        r.issues
    );
    assert!(
        r.issues
            .iter()
            .any(|i| i.severity == Severity::Warning && i.message.contains("blazedb.records.999")),
        "{:?}",
        r.issues
    );
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["storage"]["status"], "passed");
}

#[test]
fn encrypted_damage_is_found_by_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("enc.blazedb");
    let opts = || Options::default().password("Correct-Horse-42");
    {
        let db = Database::open(&p, opts()).unwrap();
        db.insert_many(
            "bugs",
            (0..200).map(|i| Record::new().with("i", i)).collect(),
        )
        .unwrap();
        db.close().unwrap();
    }
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 50] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    if let Ok(db) = Database::open(&p, opts().read_only(true)) {
        let r = db.check().unwrap();
        assert!(!r.ok);
        assert!(!r.encryption.is_empty());
        db.close().unwrap();
    }
    // Either way the file on disk is exactly as we left it.
    assert_eq!(bytes, std::fs::read(&p).unwrap());
}
