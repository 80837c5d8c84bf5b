//! Ownership and lifecycle: one writer per file across handles and processes, idempotent
//! close that rolls back, `Closed` after close, and data that persists across reopen.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use blazedb::{Database, Error, Options, Record, Value};

const HOLDER_ENV: &str = "BLAZEDB_LOCK_HOLDER_DB";

#[test]
fn second_open_in_this_process_is_locked_and_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.blazedb");
    let db = Database::open(&path, Options::default()).unwrap();
    let id = db.insert("c", Record::new().with("v", 1)).unwrap();
    let before = std::fs::read(&path).unwrap();
    match Database::open(&path, Options::default()) {
        Err(Error::DatabaseLocked { path: p }) => assert_eq!(p, path),
        other => panic!("expected DatabaseLocked, got {other:?}"),
    }
    // Another spelling of the same file is the same file.
    let alias = dir.path().join(".").join("locked.blazedb");
    assert!(matches!(
        Database::open(&alias, Options::default()),
        Err(Error::DatabaseLocked { .. })
    ));
    // A read-only open is refused while a writer holds the file.
    assert!(matches!(
        Database::open(&path, Options::default().read_only(true)),
        Err(Error::DatabaseLocked { .. })
    ));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "failed open touched the file"
    );
    assert!(db.get("c", id).unwrap().is_some());
    db.close().unwrap();
    // After close the file opens again.
    let again = Database::open(&path, Options::default()).unwrap();
    assert_eq!(again.count("c").unwrap(), 1);
}

#[test]
fn open_held_by_another_process_is_locked() {
    if let Ok(path) = std::env::var(HOLDER_ENV) {
        let _db = Database::open(&path, Options::default()).expect("holder open");
        println!("holding");
        std::thread::sleep(std::time::Duration::from_secs(60));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cross.blazedb");
    Database::open(&path, Options::default())
        .unwrap()
        .close()
        .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "open_held_by_another_process_is_locked",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.find_map(|l| l.ok().filter(|l| l.contains("holding")));
    assert!(first.is_some(), "holder process did not open the file");
    let r = Database::open(&path, Options::default());
    child.kill().unwrap();
    child.wait().unwrap();
    match r {
        Err(Error::DatabaseLocked { path: p }) => assert_eq!(p, path),
        other => panic!("expected DatabaseLocked, got {other:?}"),
    }
    // Once the holder is gone (killed, not closed) the file opens and is intact.
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.count("c").unwrap(), 0);
}

#[test]
fn close_is_idempotent_and_everything_after_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("c.blazedb"), Options::default()).unwrap();
    let id = db.insert("c", Record::new()).unwrap();
    let clone = db.clone();
    let snap = db.snapshot().unwrap();
    let sub = db.subscribe().unwrap();
    db.close().unwrap();
    db.close().unwrap();
    assert!(db.is_closed() && clone.is_closed());
    let checks: Vec<(&str, blazedb::Result<()>)> = vec![
        ("insert", clone.insert("c", Record::new()).map(drop)),
        ("get", db.get("c", id).map(drop)),
        ("count", db.count("c").map(drop)),
        ("all", db.all("c").map(drop)),
        ("page", db.page("c", 0, 1).map(drop)),
        ("update", db.update("c", id, Record::new())),
        ("delete", db.delete("c", id).map(drop)),
        ("collections", db.collections().map(drop)),
        ("begin", db.begin().map(drop)),
        ("snapshot", db.snapshot().map(drop)),
        ("subscribe", db.subscribe().map(drop)),
        ("snapshot get", snap.get("c", id).map(drop)),
        ("write", db.write(|_| Ok(()))),
        ("read", db.read(|_| Ok(()))),
        ("sync", db.sync()),
        ("compact", db.compact().map(drop)),
    ];
    for (what, r) in checks {
        assert!(matches!(r, Err(Error::Closed)), "{what} after close: {r:?}");
    }
    assert_eq!(sub.recv(), None);
}

#[test]
fn close_rolls_back_an_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rb.blazedb");
    let db = Database::open(&path, Options::default()).unwrap();
    let kept = db.insert("c", Record::new().with("v", "kept")).unwrap();
    let tx = db.begin().unwrap();
    tx.insert("c", Record::new().with("v", "uncommitted"))
        .unwrap();
    tx.update("c", kept, Record::new().with("v", "changed"))
        .unwrap();
    db.close().unwrap();
    assert!(matches!(tx.commit(), Err(Error::Closed)));
    assert!(matches!(tx.insert("c", Record::new()), Err(Error::Closed)));
    drop(tx);
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.count("c").unwrap(), 1);
    let r = db.get("c", kept).unwrap().unwrap();
    assert_eq!(r.get("v"), Some(&Value::from("kept")));
}

#[test]
fn data_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.blazedb");
    let records: Vec<Record> = (0..50)
        .map(|i| {
            Record::new()
                .with("i", i)
                .with("d", blazedb::Timestamp::new(1_700_000_000 + i, 123_456_789))
                .with("f", 0.1 * i as f64)
        })
        .collect();
    let db = Database::open(&path, Options::default()).unwrap();
    let ids = db.insert_many("c", records).unwrap();
    let before = db.all("c").unwrap();
    db.close().unwrap();
    drop(db);
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.all("c").unwrap(), before);
    assert_eq!(db.count("c").unwrap(), 50);
    assert_eq!(db.collections().unwrap(), vec!["c".to_string()]);
    assert!(db.exists("c", ids[7]).unwrap());
}

#[test]
fn dropping_the_last_handle_releases_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drop.blazedb");
    {
        let db = Database::open(&path, Options::default()).unwrap();
        db.insert("c", Record::new()).unwrap();
    }
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.count("c").unwrap(), 1);
}

#[test]
fn read_only_handles_read_and_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.blazedb");
    let db = Database::open(&path, Options::default()).unwrap();
    let id = db.insert("c", Record::new().with("v", 1)).unwrap();
    db.close().unwrap();
    let before = std::fs::read(&path).unwrap();
    let ro = Database::open(&path, Options::default().read_only(true)).unwrap();
    let ro2 = Database::open(&path, Options::default().read_only(true)).unwrap();
    assert!(ro.get("c", id).unwrap().is_some());
    assert_eq!(ro2.count("c").unwrap(), 1);
    for r in [
        ro.insert("c", Record::new()).map(drop),
        ro.delete("c", id).map(drop),
        ro.begin().map(drop),
        ro.compact().map(drop),
    ] {
        assert!(matches!(r, Err(Error::PermissionDenied(_))), "{r:?}");
    }
    ro.close().unwrap();
    ro2.close().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn missing_file_with_create_off_or_read_only_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.blazedb");
    for opts in [
        Options::default().create(false),
        Options::default().read_only(true),
    ] {
        assert!(matches!(
            Database::open(&path, opts),
            Err(Error::InvalidInput(_))
        ));
    }
    assert!(!path.exists());
    assert!(matches!(
        Database::open(dir.path(), Options::default()),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn garbage_and_foreign_files_are_refused_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.blazedb");
    std::fs::write(&junk, vec![0xA5u8; 10_000]).unwrap();
    let r = Database::open(&junk, Options::default());
    assert!(
        matches!(r, Err(Error::CorruptedData(_)) | Err(Error::InvalidData(_))),
        "{r:?}"
    );
    assert_eq!(std::fs::read(&junk).unwrap(), vec![0xA5u8; 10_000]);
    // A valid redb file that BlazeDB did not write.
    let foreign = dir.path().join("foreign.redb");
    write_foreign_redb_file(&foreign);
    let r = Database::open(&foreign, Options::default());
    assert!(matches!(r, Err(Error::InvalidData(_))), "{r:?}");
    // The lock registration was released: the file can be retried.
    let r = Database::open(&foreign, Options::default());
    assert!(matches!(r, Err(Error::InvalidData(_))), "{r:?}");
}

/// A plain redb file with one table of its own and no BlazeDB marker.
fn write_foreign_redb_file(path: &std::path::Path) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("app.data");
        txn.open_table(def).unwrap().insert(1, 2).unwrap();
    }
    txn.commit().unwrap();
}
