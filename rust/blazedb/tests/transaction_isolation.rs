//! Isolation and atomicity: readers never see uncommitted writes, snapshots keep their view
//! across later commits, and rollback undoes everything.

use std::sync::{Arc, Barrier};

use blazedb::{Database, Error, Options, Record, Value};

fn open(dir: &tempfile::TempDir) -> Database {
    Database::open(dir.path().join("iso.blazedb"), Options::default()).unwrap()
}

#[test]
fn reader_does_not_see_uncommitted_writes_of_an_explicit_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let tx = db.begin().unwrap();
    let id = tx.insert("c", Record::new().with("n", 1)).unwrap();
    // The transaction reads its own write...
    assert!(tx.get("c", id).unwrap().is_some());
    assert_eq!(tx.count("c").unwrap(), 1);
    // ...nobody else does, on this thread or another.
    assert_eq!(db.get("c", id).unwrap(), None);
    assert_eq!(db.count("c").unwrap(), 0);
    let db2 = db.clone();
    let seen = std::thread::spawn(move || db2.get("c", id).unwrap())
        .join()
        .unwrap();
    assert_eq!(seen, None);
    tx.commit().unwrap();
    assert!(db.get("c", id).unwrap().is_some());
    assert_eq!(db.count("c").unwrap(), 1);
}

#[test]
fn reader_does_not_see_a_closure_write_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let inserted = Arc::new(Barrier::new(2));
    let checked = Arc::new(Barrier::new(2));
    let writer = {
        let (db, inserted, checked) = (db.clone(), inserted.clone(), checked.clone());
        std::thread::spawn(move || {
            db.write(|tx| {
                tx.insert("c", Record::new().with("n", 1))?;
                inserted.wait();
                checked.wait();
                Ok(())
            })
            .unwrap();
        })
    };
    inserted.wait();
    assert_eq!(db.count("c").unwrap(), 0, "uncommitted insert visible");
    assert!(db.all("c").unwrap().is_empty());
    checked.wait();
    writer.join().unwrap();
    assert_eq!(db.count("c").unwrap(), 1);
}

#[test]
fn snapshot_keeps_its_view_after_later_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let id = db.insert("c", Record::new().with("v", "old")).unwrap();
    let snap = db.snapshot().unwrap();
    db.update("c", id, Record::new().with("v", "new")).unwrap();
    let other = db.insert("c", Record::new().with("v", "later")).unwrap();
    db.delete_many("c", &[]).unwrap();
    let old = snap.get("c", id).unwrap().unwrap();
    assert_eq!(old.get("v"), Some(&Value::from("old")));
    assert_eq!(snap.get("c", other).unwrap(), None);
    assert_eq!(snap.count("c").unwrap(), 1);
    // A fresh read sees the new state.
    let now = db.get("c", id).unwrap().unwrap();
    assert_eq!(now.get("v"), Some(&Value::from("new")));
    assert_eq!(db.count("c").unwrap(), 2);
    // The closure form behaves the same from another thread.
    let db2 = db.clone();
    let count = db2.read(|tx| tx.count("c")).unwrap();
    assert_eq!(count, 2);
}

#[test]
fn failed_closure_rolls_back_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let keep = db.insert("c", Record::new().with("v", 1)).unwrap();
    let err = db
        .write(|tx| {
            tx.insert("c", Record::new().with("v", 2))?;
            tx.insert("other", Record::new().with("v", 3))?;
            tx.update_fields("c", keep, Record::new().with("v", 99))?;
            tx.delete("c", keep)?;
            tx.rename_collection("c", "renamed")?;
            Err::<(), _>(Error::InvalidInput("abort on purpose".into()))
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert_eq!(db.collections().unwrap(), vec!["c".to_string()]);
    assert_eq!(db.count("c").unwrap(), 1);
    let r = db.get("c", keep).unwrap().unwrap();
    assert_eq!(r.get("v"), Some(&Value::Int(1)));
    assert!(!r.contains_key("updatedAt"));
}

#[test]
fn panic_inside_a_write_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let db2 = db.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db2.write(|tx| {
            tx.insert("c", Record::new().with("v", 1))?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok(())
        })
    }));
    assert!(result.is_err());
    assert_eq!(db.count("c").unwrap(), 0);
    // The write slot was released: the next write goes through.
    db.insert("c", Record::new().with("v", 2)).unwrap();
    assert_eq!(db.count("c").unwrap(), 1);
}

#[test]
fn explicit_rollback_and_drop_undo_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let tx = db.begin().unwrap();
    tx.insert("c", Record::new().with("v", 1)).unwrap();
    tx.rollback().unwrap();
    assert_eq!(db.count("c").unwrap(), 0);
    assert!(matches!(tx.insert("c", Record::new()), Err(Error::Closed)));
    assert!(matches!(tx.commit(), Err(Error::Closed)));
    {
        let tx = db.begin().unwrap();
        tx.insert("c", Record::new().with("v", 2)).unwrap();
    } // dropped without commit
    assert_eq!(db.count("c").unwrap(), 0);
    assert!(db.collections().unwrap().is_empty());
}

#[test]
fn nested_begin_fails_like_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let tx = db.begin().unwrap();
    match db.begin() {
        Err(Error::TransactionFailed(msg)) => assert!(msg.contains("already")),
        other => panic!("expected TransactionFailed, got {other:?}"),
    }
    tx.commit().unwrap();
    // Once the first has ended a new one may begin.
    db.begin().unwrap().rollback().unwrap();
}

#[test]
fn nested_closure_write_on_one_thread_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let started = std::time::Instant::now();
    let r = db.write(|_tx| db.insert("c", Record::new()));
    assert!(matches!(r, Err(Error::TransactionFailed(_))), "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(db.count("c").unwrap(), 0);
}

#[test]
fn busy_writer_times_out_with_transaction_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path().join("busy.blazedb"),
        Options::default().busy_timeout(std::time::Duration::from_millis(100)),
    )
    .unwrap();
    let tx = db.begin().unwrap();
    let db2 = db.clone();
    let r = std::thread::spawn(move || db2.insert("c", Record::new()))
        .join()
        .unwrap();
    assert!(matches!(r, Err(Error::TransactionFailed(_))), "{r:?}");
    tx.commit().unwrap();
    db.insert("c", Record::new()).unwrap();
}

#[test]
fn failing_operation_inside_a_transaction_leaves_it_usable_and_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let id = db.insert("c", Record::new().with("v", 1)).unwrap();
    let tx = db.begin().unwrap();
    tx.insert("c", Record::new().with("v", 2)).unwrap();
    // A batch with one bad record stores none of it, inside the transaction too.
    let batch = vec![
        Record::new().with("v", 3),
        Record::new().with("id", id.to_string()),
    ];
    assert!(matches!(
        tx.insert_many("c", batch),
        Err(Error::RecordExists { .. })
    ));
    assert_eq!(tx.count("c").unwrap(), 2);
    tx.commit().unwrap();
    assert_eq!(db.count("c").unwrap(), 2);
}

#[test]
fn many_readers_run_while_one_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let ids = db
        .insert_many(
            "c",
            (0..100)
                .map(|i| Record::new().with("i", i as i64))
                .collect(),
        )
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let (db, ids, stop) = (db.clone(), ids.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = ids[(reads as usize * 7 + t) % ids.len()];
                    // Each snapshot is internally consistent: count matches what it lists.
                    db.read(|tx| {
                        let n = tx.count("c")?;
                        assert_eq!(n as usize, tx.all("c")?.len());
                        assert!(tx.get("c", id)?.is_some());
                        Ok(())
                    })
                    .unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 0..50 {
        db.insert("c", Record::new().with("w", i as i64)).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(total > 0);
    assert_eq!(db.count("c").unwrap(), 150);
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn handles_are_send_and_sync() {
    assert_send_sync::<Database>();
    assert_send_sync::<blazedb::Transaction>();
    assert_send_sync::<blazedb::ReadTx>();
}

#[test]
fn snapshot_older_than_a_rename_keeps_the_old_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let old = db.insert("a", Record::new().with("v", "old")).unwrap();
    assert!(db.get("a", old).unwrap().is_some()); // warm the id cache
    let snap = db.snapshot().unwrap();
    assert!(snap.get("a", old).unwrap().is_some());
    db.rename_collection("a", "b").unwrap();
    let new = db.insert("a", Record::new().with("v", "new")).unwrap();
    // The old snapshot still maps "a" to the first collection.
    assert_eq!(
        snap.get("a", old).unwrap().unwrap().get("v"),
        Some(&Value::from("old"))
    );
    assert_eq!(snap.get("a", new).unwrap(), None);
    assert_eq!(snap.collections().unwrap(), vec!["a".to_string()]);
    // Fresh reads see the new mapping.
    assert_eq!(db.get("a", old).unwrap(), None);
    assert!(db.get("b", old).unwrap().is_some());
    assert_eq!(
        db.get("a", new).unwrap().unwrap().get("v"),
        Some(&Value::from("new"))
    );
    // Dropping and re-creating a name never reaches the dropped records.
    db.drop_collection("b").unwrap();
    let again = db.insert("b", Record::new()).unwrap();
    assert_eq!(db.get("b", old).unwrap(), None);
    assert_eq!(db.count("b").unwrap(), 1);
    assert!(db.exists("b", again).unwrap());
}
