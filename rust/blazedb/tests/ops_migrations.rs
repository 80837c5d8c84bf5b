//! Schema versions and migrations (each step one transaction, all or nothing), and the
//! compaction policy.

use std::time::Duration;

use blazedb::ops::{AutoCompactor, CompactionPolicy, Migrations, open_expecting};
use blazedb::{Database, Error, Options, Record, SchemaVersion, Value};

const V1: SchemaVersion = SchemaVersion::new(1, 0);
const V2: SchemaVersion = SchemaVersion::new(1, 1);
const V3: SchemaVersion = SchemaVersion::new(2, 0);

fn steps() -> Migrations {
    Migrations::new()
        .step(V2, V3, "rename title to summary", |tx| {
            for r in tx.all("bugs")? {
                let id = r.id().unwrap();
                let mut r2 = r.clone();
                let t = r2.remove("title").unwrap_or(Value::Null);
                r2.insert("summary", t);
                tx.update("bugs", id, r2)?;
            }
            Ok(())
        })
        .step(SchemaVersion::ZERO, V1, "baseline", |_| Ok(()))
        .step(V1, V2, "default priority", |tx| {
            for r in tx.all("bugs")? {
                tx.update_fields("bugs", r.id().unwrap(), Record::new().with("priority", 3))?;
            }
            Ok(())
        })
}

#[test]
fn version_is_stored_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    assert_eq!(db.schema_version().unwrap(), None);
    assert!(matches!(
        db.check_schema_version(V1),
        Err(Error::MigrationFailed(_))
    ));
    db.set_schema_version(V2).unwrap();
    assert_eq!(db.schema_version().unwrap(), Some(V2));
    db.check_schema_version(V2).unwrap();
    let e = db.check_schema_version(V3).unwrap_err();
    assert!(
        matches!(&e, Error::MigrationFailed(m) if m.contains("1.1") && m.contains("2.0")),
        "{e}"
    );
    db.close().unwrap();
    // Survives reopening; open_expecting refuses a mismatch and leaves the file unlocked.
    assert!(matches!(
        open_expecting(&p, Options::default(), V3),
        Err(Error::MigrationFailed(_))
    ));
    let db = open_expecting(&p, Options::default(), V2).unwrap();
    assert!(db.stats().unwrap().schema_version == Some(V2));
    db.close().unwrap();
    assert_eq!(
        SchemaVersion::parse("1.2").unwrap(),
        SchemaVersion::new(1, 2)
    );
    assert_eq!(SchemaVersion::parse("3").unwrap(), SchemaVersion::new(3, 0));
    assert!(SchemaVersion::parse("x.1").is_err());
}

#[test]
fn plan_is_a_dry_run_and_run_applies_steps_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    db.insert_many(
        "bugs",
        (0..20)
            .map(|i| Record::new().with("title", format!("b{i}")))
            .collect(),
    )
    .unwrap();
    let m = steps();
    let before = db.all("bugs").unwrap();
    let plan = m.plan(&db, V3).unwrap();
    assert!(plan.is_valid, "{plan:?}");
    assert_eq!(plan.current, None);
    let path: Vec<_> = plan.steps.iter().map(|s| (s.from, s.to)).collect();
    assert_eq!(path, vec![(SchemaVersion::ZERO, V1), (V1, V2), (V2, V3)]);
    assert_eq!(
        db.all("bugs").unwrap(),
        before,
        "the dry run changed records"
    );
    assert_eq!(db.schema_version().unwrap(), None);

    let r = m.run(&db, V3).unwrap();
    assert_eq!(r.applied.len(), 3);
    assert_eq!(r.to, V3);
    assert_eq!(db.schema_version().unwrap(), Some(V3));
    for rec in db.all("bugs").unwrap() {
        assert!(rec.get("title").is_none() && rec.get("summary").is_some());
        assert_eq!(rec.get("priority").and_then(Value::as_int), Some(3));
    }
    // Nothing left to do; asking to go down is refused.
    assert!(m.plan(&db, V3).unwrap().steps.is_empty());
    let down = m.plan(&db, V1).unwrap();
    assert!(
        !down.is_valid && down.errors[0].contains("downgrade"),
        "{down:?}"
    );
    // A gap in the chain is reported, not guessed around.
    let gap = Migrations::new()
        .step(V1, V3, "x", |_| Ok(()))
        .plan_from(None, V3);
    assert!(
        !gap.is_valid && gap.errors[0].contains("no step starts at 0.0"),
        "{gap:?}"
    );
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["steps"][0]["to"]["major"], 1);
}

#[test]
fn a_failing_step_rolls_back_whole_and_keeps_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.blazedb");
    let db = Database::open(&p, Options::default()).unwrap();
    db.insert_many(
        "bugs",
        (0..10).map(|i| Record::new().with("n", i)).collect(),
    )
    .unwrap();
    let before = db.all("bugs").unwrap();
    let m = Migrations::new()
        .step(SchemaVersion::ZERO, V1, "ok", |_| Ok(()))
        .step(V1, V2, "half then fail", |tx| {
            for r in tx.all("bugs")?.into_iter().take(5) {
                tx.update_fields("bugs", r.id().unwrap(), Record::new().with("touched", true))?;
            }
            tx.insert("audit", Record::new().with("step", "1.1"))?;
            Err(Error::InvalidData("step refuses record 6".into()))
        });
    let e = m.run(&db, V2).unwrap_err();
    match &e {
        Error::MigrationFailed(msg) => {
            assert!(
                msg.contains("1.0 -> 1.1")
                    && msg.contains("stays at 1.0")
                    && msg.contains("record 6"),
                "{msg}"
            )
        }
        other => panic!("{other}"),
    }
    // The first step committed; the failed one left no trace.
    assert_eq!(db.schema_version().unwrap(), Some(V1));
    assert_eq!(db.all("bugs").unwrap(), before);
    assert!(!db.collections().unwrap().contains(&"audit".to_string()));
}

#[test]
fn compaction_policy_at_close_and_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.blazedb");
    let pad = |i: i64| Record::new().with("i", i).with("pad", "z".repeat(400));
    let policy = CompactionPolicy::new()
        .min_fragmented_bytes(256 << 10)
        .min_fragmentation(0.3);

    // Nothing to do on a fresh file.
    let db = Database::open(&p, Options::default()).unwrap();
    assert_eq!(db.compact_if_needed(&policy).unwrap(), None);
    let ids = db
        .insert_many("bugs", (0..3000).map(pad).collect())
        .unwrap();
    db.delete_many("bugs", &ids[..2900]).unwrap();
    let big = std::fs::metadata(&p).unwrap().len();
    let reclaimed = db.close_with_policy(&policy).unwrap();
    assert!(reclaimed.unwrap() > 0);
    assert!(db.is_closed());
    assert!(std::fs::metadata(&p).unwrap().len() < big);

    // In the background, after commits.
    let db = Database::open(&p, Options::default()).unwrap();
    let auto = AutoCompactor::start(
        &db,
        policy
            .clone()
            .check_every_commits(5)
            .min_interval(Duration::ZERO),
    )
    .unwrap();
    let ids = db
        .insert_many("bugs", (0..3000).map(pad).collect())
        .unwrap();
    db.delete_many("bugs", &ids).unwrap();
    for i in 0..10 {
        db.insert("tick", Record::new().with("i", i)).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while auto.compactions() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        auto.compactions() >= 1,
        "checks {} error {:?}",
        auto.checks(),
        auto.last_error()
    );
    assert!(auto.bytes_reclaimed() > 0);
    assert!(auto.commits_seen() >= 10);
    auto.stop();
    assert_eq!(db.count("tick").unwrap(), 10);
    // Dropping every handle still closes the file although a compactor ran on it.
    let a2 = AutoCompactor::start(&db, CompactionPolicy::new()).unwrap();
    drop(db);
    let reopened = Database::open(&p, Options::default()).unwrap();
    drop(a2);
    reopened.close().unwrap();
}
