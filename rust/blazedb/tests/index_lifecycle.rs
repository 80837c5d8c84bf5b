//! Indexes: created over existing records, persisted, listed, dropped, maintained by every
//! kind of write, unique violations refused with nothing stored, rollbacks leaving no
//! entry behind.

use blazedb::{
    Database, Error, Filter, IndexKind, IndexSpec, Options, Order, Query, Record, Strategy, Uuid,
    Value,
};

fn open(dir: &tempfile::TempDir) -> Database {
    Database::open(
        dir.path().join("i.blazedb"),
        Options::default().stamp_fields(false),
    )
    .unwrap()
}

fn bug(status: &str, priority: i64) -> Record {
    Record::new()
        .with("status", status)
        .with("priority", priority)
}

fn ids_of(rows: &[Record]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id().unwrap()).collect()
}

/// Asserts the integrity check finds every index consistent with the records.
fn assert_consistent(db: &Database) {
    let report = db.check().unwrap();
    assert!(report.ok, "{:#?}", report.issues);
}

#[test]
fn an_index_is_built_over_existing_records_listed_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let mut open_ids = Vec::new();
    for i in 0..100 {
        let id = db
            .insert("bugs", bug(if i % 10 == 0 { "open" } else { "closed" }, i))
            .unwrap();
        if i % 10 == 0 {
            open_ids.push(id);
        }
    }
    let info = db.create_index("bugs", IndexSpec::on("status")).unwrap();
    assert_eq!(info.name, "status");
    assert_eq!(info.kind, IndexKind::BTree);
    assert_eq!(info.entries, 100);
    let compound = db
        .create_index("bugs", IndexSpec::compound(["status", "priority"]))
        .unwrap();
    assert_eq!(compound.name, "status+priority");

    let q = Query::new("bugs").filter(Filter::eq("status", "open"));
    let plan = db.explain(&q).unwrap();
    assert_eq!(plan.strategy, Strategy::IndexLookup, "{plan}");
    assert_eq!(plan.returned_rows, 10);
    assert_eq!(plan.estimated_rows, 10);
    open_ids.sort();
    assert_eq!(ids_of(&db.query(&q).unwrap()), open_ids);
    db.close().unwrap();

    let db = open(&dir);
    let names: Vec<String> = db
        .indexes("bugs")
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["status", "status+priority"]);
    assert_eq!(db.explain(&q).unwrap().strategy, Strategy::IndexLookup);
    assert!(db.drop_index("bugs", "status").unwrap());
    assert!(!db.drop_index("bugs", "status").unwrap());
    // The compound index still serves the leading field.
    let plan = db.explain(&q).unwrap();
    assert_eq!(plan.index.as_deref(), Some("status+priority"), "{plan}");
    assert!(db.drop_index("bugs", "status+priority").unwrap());
    let plan = db.explain(&q).unwrap();
    assert_eq!(plan.strategy, Strategy::Scan);
    assert_eq!(ids_of(&db.query(&q).unwrap()), open_ids);
    assert_consistent(&db);
}

#[test]
fn every_kind_of_write_keeps_the_index_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.create_index("bugs", IndexSpec::on("status")).unwrap();
    let a = db.insert("bugs", bug("open", 1)).unwrap();
    let b = db.insert("bugs", bug("open", 2)).unwrap();
    let many = db
        .insert_many("bugs", vec![bug("new", 3), bug("new", 4)])
        .unwrap();
    let q = |s: &str| {
        let mut v = ids_of(
            &db.query(&Query::new("bugs").filter(Filter::eq("status", s)))
                .unwrap(),
        );
        v.sort();
        v
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };
    assert_eq!(q("open"), sorted(vec![a, b]));
    db.update("bugs", a, bug("closed", 1)).unwrap();
    db.update_fields("bugs", b, Record::new().with("status", "closed"))
        .unwrap();
    assert_eq!(q("open"), Vec::<Uuid>::new());
    assert_eq!(q("closed"), sorted(vec![a, b]));
    assert!(!db.upsert("bugs", many[0], bug("open", 3)).unwrap());
    let fresh = Uuid::new_v4();
    assert!(db.upsert("bugs", fresh, bug("open", 9)).unwrap());
    assert_eq!(q("open"), sorted(vec![many[0], fresh]));
    db.soft_delete("bugs", fresh).unwrap();
    assert_eq!(q("open"), vec![many[0]]);
    // A soft-deleted record brought back by upsert is indexed again.
    assert!(db.upsert("bugs", fresh, bug("open", 10)).unwrap());
    assert_eq!(q("open"), sorted(vec![many[0], fresh]));
    assert!(db.delete("bugs", many[0]).unwrap());
    assert_eq!(db.delete_many("bugs", &[a, many[1]]).unwrap(), 2);
    assert_eq!(q("open"), vec![fresh]);
    assert_eq!(q("closed"), vec![b]);
    assert_eq!(q("new"), Vec::<Uuid>::new());
    db.soft_delete("bugs", b).unwrap();
    assert_eq!(db.purge("bugs").unwrap(), 1);
    assert_consistent(&db);
    assert_eq!(db.indexes("bugs").unwrap()[0].entries, 1);
}

#[test]
fn a_unique_violation_fails_the_write_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let info = db
        .create_index("users", IndexSpec::on("email").unique())
        .unwrap();
    assert_eq!(info.kind, IndexKind::Unique);
    let ana = db
        .insert("users", Record::new().with("email", "ana@x.org"))
        .unwrap();
    let is_violation = |r: Result<_, Error>, who: Uuid| match r {
        Err(Error::UniqueViolation {
            index, existing, ..
        }) => {
            assert_eq!(index, "email");
            assert_eq!(existing, who);
        }
        other => panic!("expected a unique violation, got {other:?}"),
    };
    is_violation(
        db.insert("users", Record::new().with("email", "ana@x.org"))
            .map(|_| ()),
        ana,
    );
    // A batch whose last record collides stores none of the batch.
    let batch = vec![
        Record::new().with("email", "ben@x.org"),
        Record::new().with("email", "ana@x.org"),
    ];
    is_violation(db.insert_many("users", batch).map(|_| ()), ana);
    assert_eq!(db.count("users").unwrap(), 1);
    // Two records of one batch colliding with each other.
    let first = Uuid::new_v4();
    let batch = vec![
        Record::new().with("id", first).with("email", "cy@x.org"),
        Record::new().with("email", "cy@x.org"),
    ];
    is_violation(db.insert_many("users", batch).map(|_| ()), first);
    assert_eq!(db.count("users").unwrap(), 1);
    // Updates and upserts onto a taken key.
    let ben = db
        .insert("users", Record::new().with("email", "ben@x.org"))
        .unwrap();
    is_violation(
        db.update("users", ben, Record::new().with("email", "ana@x.org")),
        ana,
    );
    is_violation(
        db.update_fields("users", ben, Record::new().with("email", "ana@x.org")),
        ana,
    );
    is_violation(
        db.upsert(
            "users",
            Uuid::new_v4(),
            Record::new().with("email", "ana@x.org"),
        )
        .map(|_| ()),
        ana,
    );
    assert_eq!(
        db.get("users", ben).unwrap().unwrap().get("email"),
        Some(&Value::from("ben@x.org"))
    );
    // Re-saving a record with its own key is fine; missing and null values never collide.
    db.update(
        "users",
        ana,
        Record::new().with("email", "ana@x.org").with("n", 1),
    )
    .unwrap();
    db.insert("users", Record::new()).unwrap();
    db.insert("users", Record::new()).unwrap();
    db.insert("users", Record::new().with("email", Value::Null))
        .unwrap();
    db.insert("users", Record::new().with("email", Value::Null))
        .unwrap();
    // Int 3 and double 3.0 are one key.
    db.create_index("users", IndexSpec::on("n").unique().named("n_unique"))
        .unwrap();
    match db.insert("users", Record::new().with("n", 1.0)) {
        Err(Error::UniqueViolation { existing, .. }) => assert_eq!(existing, ana),
        other => panic!("expected a violation, got {other:?}"),
    }
    // A freed key can be taken again.
    db.delete("users", ana).unwrap();
    db.insert("users", Record::new().with("email", "ana@x.org"))
        .unwrap();
    assert_consistent(&db);
    // Inside a transaction the violation is an error the caller can recover from.
    db.write(|tx| {
        let r = tx.insert("users", Record::new().with("email", "ben@x.org"));
        assert!(matches!(r, Err(Error::UniqueViolation { .. })));
        tx.insert("users", Record::new().with("email", "dee@x.org"))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        db.query_count(&Query::new("users").filter(Filter::eq("email", "dee@x.org")))
            .unwrap(),
        1
    );
    assert_consistent(&db);
}

#[test]
fn a_unique_index_over_duplicates_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let a = db.insert("t", Record::new().with("k", "x")).unwrap();
    db.insert("t", Record::new().with("k", "y")).unwrap();
    db.insert("t", Record::new().with("k", "x")).unwrap();
    match db.create_index("t", IndexSpec::on("k").unique()) {
        Err(Error::UniqueViolation { index, .. }) => assert_eq!(index, "k"),
        other => panic!("expected a violation, got {other:?}"),
    }
    assert!(db.indexes("t").unwrap().is_empty());
    let _ = a;
    // The same fields as a plain index are fine.
    db.create_index("t", IndexSpec::on("k")).unwrap();
    assert_consistent(&db);
}

#[test]
fn a_rolled_back_write_leaves_no_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.create_index("t", IndexSpec::on("k")).unwrap();
    let keep = db.insert("t", Record::new().with("k", "a")).unwrap();
    let r: Result<(), Error> = db.write(|tx| {
        tx.insert("t", Record::new().with("k", "a"))?;
        tx.update("t", keep, Record::new().with("k", "b"))?;
        tx.delete("t", keep)?;
        Err(Error::InvalidInput("roll back".into()))
    });
    assert!(r.is_err());
    let tx = db.begin().unwrap();
    tx.insert("t", Record::new().with("k", "a")).unwrap();
    tx.rollback().unwrap();
    // An index created in a rolled-back transaction never existed.
    let r: Result<(), Error> = db.write(|tx| {
        tx.create_index("t", IndexSpec::on("other"))?;
        Err(Error::InvalidInput("roll back".into()))
    });
    assert!(r.is_err());
    let infos = db.indexes("t").unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].entries, 1);
    assert_eq!(
        ids_of(
            &db.query(&Query::new("t").filter(Filter::eq("k", "a")))
                .unwrap()
        ),
        vec![keep]
    );
    assert_consistent(&db);
}

#[test]
fn bad_index_requests_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.create_index("t", IndexSpec::on("k")).unwrap();
    let invalid = |r: Result<blazedb::IndexInfo, Error>| {
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
    };
    invalid(db.create_index("t", IndexSpec::on("k")));
    invalid(db.create_index("t", IndexSpec::on("")));
    invalid(db.create_index("t", IndexSpec::compound(Vec::<String>::new())));
    invalid(db.create_index("t", IndexSpec::compound(["a", "a"])));
    invalid(db.create_index("t", IndexSpec::compound((0..17).map(|i| format!("f{i}")))));
    invalid(db.create_index("t", IndexSpec::full_text(["a"]).unique()));
    invalid(db.create_index("t", IndexSpec::on("k").named("a/b")));
    invalid(db.create_index("", IndexSpec::on("k")));
    assert_eq!(db.indexes("t").unwrap().len(), 1);
    assert!(!db.drop_index("missing", "k").unwrap());
}

#[test]
fn dropping_a_collection_drops_its_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.create_index("t", IndexSpec::on("k")).unwrap();
    db.insert("t", Record::new().with("k", 1)).unwrap();
    assert!(db.drop_collection("t").unwrap());
    assert!(db.indexes("t").unwrap().is_empty());
    db.insert("t", Record::new().with("k", 1)).unwrap();
    assert_eq!(
        db.explain(&Query::new("t").filter(Filter::eq("k", 1)))
            .unwrap()
            .strategy,
        Strategy::Scan
    );
    let report = db.check().unwrap();
    assert!(report.ok, "{:?}", report.issues);
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    // Renames keep indexes (they hang off the collection id).
    db.create_index("t", IndexSpec::on("k")).unwrap();
    db.rename_collection("t", "u").unwrap();
    assert_eq!(db.indexes("u").unwrap().len(), 1);
    assert_eq!(
        db.explain(
            &Query::new("u")
                .filter(Filter::eq("k", 1))
                .order_by("k", Order::Ascending)
        )
        .unwrap()
        .strategy,
        Strategy::IndexLookup
    );
}

#[test]
fn encrypted_databases_index_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.blazedb");
    let db = Database::open(
        &path,
        Options::default()
            .password("Correct-Horse-9")
            .kdf_params(blazedb::KdfParams {
                memory_kib: 8 * 1024,
                iterations: 1,
                parallelism: 1,
            }),
    )
    .unwrap();
    db.create_index("t", IndexSpec::on("secret")).unwrap();
    db.insert("t", Record::new().with("secret", "INDEXMARKER-42"))
        .unwrap();
    db.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !bytes
            .windows(b"INDEXMARKER".len())
            .any(|w| w == b"INDEXMARKER"),
        "an index key is readable on disk"
    );
}
