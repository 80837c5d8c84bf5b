//! Online backups: consistent to one commit while a writer keeps writing; keep the
//! encryption; never replace a file; verify and restore.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use blazedb::ops::{BackupOptions, restore_backup, verify_backup};
use blazedb::{Database, Error, Options, Record, Value};

const BATCH: i64 = 25;

/// The backup must hold batches 1..=k complete, for some k, and nothing else: what one
/// commit of the writer's sequence looked like.
fn assert_single_commit(db: &Database, min_batches: i64) -> i64 {
    let mut per_batch: BTreeMap<i64, i64> = BTreeMap::new();
    for r in db.all("events").unwrap() {
        let b = r.get("batch").and_then(Value::as_int).expect("batch field");
        *per_batch.entry(b).or_default() += 1;
    }
    let k = per_batch.len() as i64;
    assert!(k >= min_batches, "only {k} batches");
    for (i, (b, n)) in per_batch.iter().enumerate() {
        assert_eq!(*b, i as i64 + 1, "batches are not 1..=k: {per_batch:?}");
        assert_eq!(*n, BATCH, "batch {b} is partial ({n} of {BATCH} records)");
    }
    // The side table is written in the same commits: it must agree.
    let marks = db.count("marks").unwrap() as i64;
    assert_eq!(marks, k, "marks disagree with the batches");
    k
}

fn run_concurrent(encrypted: bool, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("live.blazedb");
    let opts = || {
        let o = Options::default().durability(blazedb::Durability::Relaxed);
        if encrypted { o.key([3u8; 32]) } else { o }
    };
    let db = Database::open(&src, opts()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (db, stop, written) = (db.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || {
            let mut batch = 0i64;
            while !stop.load(Ordering::SeqCst) {
                batch += 1;
                db.write(|tx| {
                    let recs = (0..BATCH)
                        .map(|i| {
                            Record::new()
                                .with("batch", batch)
                                .with("i", i)
                                .with("pad", "y".repeat(200))
                        })
                        .collect();
                    tx.insert_many("events", recs)?;
                    tx.insert("marks", Record::new().with("batch", batch))?;
                    Ok(())
                })
                .unwrap();
                written.store(batch as u64, Ordering::SeqCst);
            }
            batch
        })
    };
    while written.load(Ordering::SeqCst) < 20 {
        std::thread::yield_now();
    }
    let mut seen = Vec::new();
    let mut overlapped = 0;
    for round in 0..rounds {
        let dest = dir.path().join(format!("backup-{round}.blazedb"));
        let mut o = BackupOptions::new().batch(100);
        if encrypted {
            o = o.key([3u8; 32]);
        }
        let w0 = written.load(Ordering::SeqCst);
        let report = db.backup(&dest, o).unwrap();
        if written.load(Ordering::SeqCst) > w0 {
            overlapped += 1;
        }
        assert_eq!(report.encrypted, encrypted);
        let b = Database::open(&dest, opts().read_only(true)).unwrap();
        let k = assert_single_commit(&b, 20);
        assert_eq!(report.records as i64, k * BATCH + k);
        b.close().unwrap();
        seen.push(k);
    }
    stop.store(true, Ordering::SeqCst);
    let last = writer.join().unwrap();
    assert!(overlapped > 0, "no backup ran while the writer committed");
    // The writer was never blocked for long: it kept committing through the backups.
    assert!(
        last > *seen.last().unwrap(),
        "writer made no progress: {seen:?}, {last}"
    );
    db.close().unwrap();
}

#[test]
fn backup_under_concurrent_writes_is_one_commit() {
    let rounds = if std::env::var_os("BLAZEDB_SOAK").is_some() {
        40
    } else {
        4
    };
    run_concurrent(false, rounds);
}

#[test]
fn encrypted_backup_under_concurrent_writes_is_one_commit() {
    run_concurrent(true, 2);
}

#[test]
fn backup_keeps_tombstones_schema_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    let ids = db
        .insert_many(
            "bugs",
            (0..10).map(|i| Record::new().with("i", i)).collect(),
        )
        .unwrap();
    db.soft_delete("bugs", ids[3]).unwrap();
    db.set_schema_version(blazedb::SchemaVersion::new(1, 2))
        .unwrap();
    db.insert("empty-later", Record::new()).unwrap();
    db.write(|tx| {
        tx.delete_many(
            "empty-later",
            &tx.all("empty-later")?
                .iter()
                .filter_map(|r| r.id())
                .collect::<Vec<_>>(),
        )?;
        Ok(())
    })
    .unwrap();
    let dest = dir.path().join("b.blazedb");
    let r = db.backup(&dest, BackupOptions::new()).unwrap();
    assert_eq!((r.records, r.soft_deleted), (9, 1));
    assert_eq!(r.schema_version, Some(blazedb::SchemaVersion::new(1, 2)));
    let b = Database::open(&dest, Options::default()).unwrap();
    assert_eq!(b.all("bugs").unwrap(), db.all("bugs").unwrap());
    assert_eq!(b.collections().unwrap(), db.collections().unwrap());
    assert_eq!(b.soft_deleted_count_for_test("bugs"), 1);
    // The tombstone is really there: purge finds it.
    assert_eq!(b.purge("bugs").unwrap(), 1);
    // New collections in the copy do not reuse ids.
    b.insert("fresh", Record::new()).unwrap();
    assert!(b.check().unwrap().ok);
    b.close().unwrap();
    db.close().unwrap();
}

trait TombCount {
    fn soft_deleted_count_for_test(&self, c: &str) -> u64;
}
impl TombCount for Database {
    fn soft_deleted_count_for_test(&self, c: &str) -> u64 {
        self.read(|tx| tx.soft_deleted_count(c)).unwrap()
    }
}

#[test]
fn backup_never_replaces_a_file_and_never_drops_encryption_silently() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.blazedb");
    let db = Database::open(&p, Options::default().password("Correct-Horse-42")).unwrap();
    db.insert("bugs", Record::new().with("t", "x")).unwrap();
    let existing = dir.path().join("exists.blazedb");
    std::fs::write(&existing, b"keep me").unwrap();
    let e = db
        .backup(&existing, BackupOptions::new().password("pw-Another-43"))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let dest = dir.path().join("plain.blazedb");
    let e = db.backup(&dest, BackupOptions::new()).unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput(ref m) if m.contains("encrypted")),
        "{e}"
    );
    assert!(!dest.exists());
    // Nothing left behind in the directory but the two files.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    db.backup(&dest, BackupOptions::new().allow_plaintext(true))
        .unwrap();
    assert!(!blazedb::ops::file_is_encrypted(&dest));
    let enc = dir.path().join("enc.blazedb");
    db.backup(&enc, BackupOptions::new().password("pw-Another-43"))
        .unwrap();
    assert!(blazedb::ops::file_is_encrypted(&enc));
    assert!(matches!(
        Database::open(&enc, Options::default().password("Correct-Horse-42")).unwrap_err(),
        Error::PasswordMismatch
    ));
    let v = verify_backup(&enc, Options::default().password("pw-Another-43")).unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.records, 1);
    db.close().unwrap();
}

#[test]
fn verify_and_restore_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    db.insert_many(
        "bugs",
        (0..100).map(|i| Record::new().with("i", i)).collect(),
    )
    .unwrap();
    let backup = dir.path().join("b.blazedb");
    db.backup(&backup, BackupOptions::new()).unwrap();
    db.close().unwrap();

    let before = std::fs::read(&backup).unwrap();
    let v = verify_backup(&backup, Options::default()).unwrap();
    assert!(v.ok && v.records == 100, "{v:?}");
    assert_eq!(
        before,
        std::fs::read(&backup).unwrap(),
        "verify wrote to the backup"
    );

    let restored = dir.path().join("r.blazedb");
    let r = restore_backup(&backup, Options::default(), &restored, BackupOptions::new()).unwrap();
    assert_eq!(r.records, 100);
    assert_eq!(
        before,
        std::fs::read(&backup).unwrap(),
        "restore wrote to the backup"
    );
    let e =
        restore_backup(&backup, Options::default(), &restored, BackupOptions::new()).unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)));

    // A damaged backup is refused and nothing is created.
    let mut bytes = before.clone();
    let n = bytes.len();
    for b in &mut bytes[n / 3..n / 3 + 64] {
        *b ^= 0xff;
    }
    let bad = dir.path().join("bad.blazedb");
    std::fs::write(&bad, &bytes).unwrap();
    let target = dir.path().join("from-bad.blazedb");
    // Plaintext pages have no checksums of their own where no tree points, so the damage
    // may be invisible; whenever verification refuses the file, restore must refuse it too.
    let refused = match verify_backup(&bad, Options::default()) {
        Ok(v) => !v.ok,
        Err(_) => true,
    };
    if refused {
        assert!(restore_backup(&bad, Options::default(), &target, BackupOptions::new()).is_err());
        assert!(!target.exists());
    }
}

#[test]
fn backup_progress_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("a.blazedb"), Options::default()).unwrap();
    db.insert_many(
        "bugs",
        (0..1000).map(|i| Record::new().with("i", i)).collect(),
    )
    .unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let r = db
        .backup(
            dir.path().join("b.blazedb"),
            BackupOptions::new().batch(100).progress(move |p| {
                assert_eq!(p.total, 1000);
                assert!(p.copied <= p.total);
                c.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    assert_eq!(r.records, 1000);
    assert_eq!(calls.load(Ordering::SeqCst), 11);
}

#[test]
fn backup_and_restore_keep_every_index() {
    use blazedb::{Filter, IndexKind, IndexSpec, Query, SearchQuery, Strategy};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    let words = [
        "crash on launch",
        "slow sync",
        "login fails",
        "crash in settings",
    ];
    db.insert_many(
        "bugs",
        (0..200i64)
            .map(|i| {
                Record::new()
                    .with("i", i)
                    .with("status", ["open", "closed"][(i % 2) as usize])
                    .with("prio", i % 5)
                    .with("title", words[(i % 4) as usize])
            })
            .collect(),
    )
    .unwrap();
    db.create_index("bugs", IndexSpec::on("i").unique())
        .unwrap();
    db.create_index("bugs", IndexSpec::compound(["status", "prio"]))
        .unwrap();
    db.create_index("bugs", IndexSpec::on("prio").named("by-prio"))
        .unwrap();
    db.create_index("bugs", IndexSpec::full_text(["title"]))
        .unwrap();
    let want: Vec<(String, Vec<String>, IndexKind)> = db
        .indexes("bugs")
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.fields, i.kind))
        .collect();
    let backup = dir.path().join("b.blazedb");
    db.backup(&backup, BackupOptions::new()).unwrap();
    db.close().unwrap();
    let restored = dir.path().join("r.blazedb");
    restore_backup(&backup, Options::default(), &restored, BackupOptions::new()).unwrap();

    for path in [&backup, &restored] {
        let db = Database::open(path, Options::default()).unwrap();
        let got: Vec<(String, Vec<String>, IndexKind)> = db
            .indexes("bugs")
            .unwrap()
            .into_iter()
            .map(|i| (i.name, i.fields, i.kind))
            .collect();
        assert_eq!(got, want, "{}", path.display());
        // Served by the index, with the right rows.
        let q = Query::new("bugs").filter(Filter::eq("i", 42));
        assert_eq!(db.explain(&q).unwrap().strategy, Strategy::IndexLookup);
        assert_eq!(db.query(&q).unwrap().len(), 1);
        let q = Query::new("bugs")
            .filter(Filter::eq("status", "open"))
            .filter(Filter::eq("prio", 3));
        assert_eq!(db.query(&q).unwrap().len(), 20);
        // Still unique.
        let e = db.insert("bugs", Record::new().with("i", 7)).unwrap_err();
        assert!(matches!(e, Error::UniqueViolation { .. }), "{e}");
        // Full text answers from the rebuilt postings.
        let hits = db.search(&SearchQuery::new("bugs", "crash")).unwrap();
        assert_eq!(hits.len(), 100);
        let report = db.check().unwrap();
        assert!(report.ok, "{:#?}", report.issues);
        db.close().unwrap();
    }
}
