//! Answers read off index keys or through narrowed candidate sets must equal the answers
//! of a plain scan: the same records live in two collections, one with indexes and one
//! without, and every aggregation, count and query is run on both and compared, through
//! inserts, updates, soft deletes, deletes, purges and a rolled-back transaction.
//!
//! Paths covered: index-only group-by counts (every kind of leading component, the
//! record-by-record fallback for numbers and dates, alias entries of uuid strings, the
//! per-value counts, checked by the integrity check after every round),
//! projected filter evaluation, index intersection, and the join's per-key lookup cache.

use blazedb::{
    Aggregate, Database, Error, Filter, IndexSpec, Join, JoinKind, Options, Order, Query, Record,
    Timestamp, Uuid, Value,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PLAIN: &str = "plain";
const INDEXED: &str = "indexed";

fn open() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path().join("index-only.blazedb"),
        Options::default().stamp_fields(false),
    )
    .unwrap();
    for spec in [
        IndexSpec::on("g"),
        IndexSpec::compound(["x", "g"]),
        IndexSpec::on("nested.t"),
        IndexSpec::on("x"),
    ] {
        db.create_index(INDEXED, spec).unwrap();
    }
    (dir, db)
}

/// A value for the group field: every kind an index component can hold, with the
/// near-collisions grouping must tell apart or merge (`3` and `3.0`, `-0.0` and `0.0`,
/// NaN, a uuid and the string holding it, a string with a NUL, null and missing).
fn group_value(rng: &mut StdRng) -> Option<Value> {
    let u = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    Some(match rng.gen_range(0..20) {
        0 => return None,
        1 => Value::Null,
        2 => Value::Bool(rng.gen_bool(0.5)),
        3 => Value::Int(3),
        4 => Value::Double(3.0),
        5 => Value::Double(-0.0),
        6 => Value::Int(0),
        7 => Value::Double(f64::NAN),
        8 => Value::Double(2.5),
        9 => Value::Date(Timestamp::new(1_700_000_000, rng.gen_range(0..3) * 400)),
        10 => Value::Uuid(u),
        11 => Value::String(u.to_string()),
        12 => Value::String(u.to_string().to_uppercase()),
        13 => Value::String("a\0b".into()),
        14 => Value::String("".into()),
        15 => Value::Array(vec![Value::Int(1), Value::String("z".into())]),
        16 => Value::Data(vec![1, 2]),
        _ => Value::String(["open", "fixed", "wontfix", "é"][rng.gen_range(0..4)].into()),
    })
}

fn random_record(rng: &mut StdRng) -> Record {
    let mut r = Record::new();
    if let Some(v) = group_value(rng) {
        r.insert("g", v);
    }
    r.insert("x", Value::Int(rng.gen_range(0..4)));
    if rng.gen_bool(0.8) {
        r.insert(
            "nested",
            Value::Dictionary(
                [("t".to_string(), Value::Bool(rng.gen_bool(0.5)))]
                    .into_iter()
                    .collect(),
            ),
        );
    }
    if rng.gen_bool(0.1) {
        // A top-level key with a dot wins over the nested reading.
        r.insert("nested.t", Value::String("dotted".into()));
    }
    r.insert(
        "body",
        Value::String(format!("word{} filler", rng.gen_range(0..10))),
    );
    r
}

/// Results must be identical, NaN included: compare their debug forms.
fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn check(db: &Database, tx: Option<&blazedb::ReadTx>, what: &str) {
    if tx.is_none() {
        // Entries and per-value counts agree with the live records.
        let report = db.check().unwrap();
        assert!(report.ok, "{what}: integrity check: {:#?}", report.issues);
    }
    let aggregate = |a: Aggregate| -> Vec<Record> {
        match tx {
            Some(t) => t.aggregate(&a),
            None => db.aggregate(&a),
        }
        .unwrap()
    };
    for field in ["g", "x", "nested.t", "body", "missing"] {
        let build = |c: &str| Aggregate::new(c).group_by([field]).count("n").count("m");
        let got = aggregate(build(INDEXED));
        let want = aggregate(build(PLAIN));
        assert!(
            same(&got, &want),
            "{what}: group by {field}:\n got  {got:?}\n want {want:?}"
        );
        let paged = |c: &str| {
            Aggregate::new(c)
                .group_by([field])
                .count("n")
                .having(Filter::gte("n", 2))
                .order_by("n", Order::Descending)
                .limit(3)
        };
        let got = aggregate(paged(INDEXED));
        let want = aggregate(paged(PLAIN));
        assert!(same(&got, &want), "{what}: paged group by {field}");
        let (got, want) = match tx {
            Some(t) => (
                t.distinct(&Query::new(INDEXED), field).unwrap(),
                t.distinct(&Query::new(PLAIN), field).unwrap(),
            ),
            None => (
                db.distinct(&Query::new(INDEXED), field).unwrap(),
                db.distinct(&Query::new(PLAIN), field).unwrap(),
            ),
        };
        assert!(same(&got, &want), "{what}: distinct {field}");
    }
    // A global count and an aggregation with a filter take the record path; both agree.
    for f in [
        None,
        Some(Filter::eq("g", "open")),
        Some(Filter::eq("x", 2).and(Filter::eq("nested.t", true))),
        Some(Filter::eq("x", 1).and(Filter::is_in("g", vec!["open".into(), 3.into()]))),
        Some(Filter::contains("body", "word3")),
        Some(Filter::eq("x", 3).and(Filter::contains("body", "word1").not())),
        Some(Filter::eq("id", Value::Uuid(Uuid::nil())).or(Filter::eq("x", 0))),
    ] {
        let build = |c: &str| {
            let mut a = Aggregate::new(c).group_by(["g"]).count("n");
            if let Some(f) = &f {
                a = a.filter(f.clone());
            }
            a
        };
        let got = aggregate(build(INDEXED));
        let want = aggregate(build(PLAIN));
        assert!(same(&got, &want), "{what}: filtered group by g, {f:?}");
        let q = |c: &str| {
            let mut q = Query::new(c);
            if let Some(f) = &f {
                q = q.filter(f.clone());
            }
            q
        };
        let (got, want) = match tx {
            Some(t) => (t.query(&q(INDEXED)).unwrap(), t.query(&q(PLAIN)).unwrap()),
            None => (db.query(&q(INDEXED)).unwrap(), db.query(&q(PLAIN)).unwrap()),
        };
        // The two collections hold the same records under the same ids.
        assert!(same(&got, &want), "{what}: query {f:?}");
        let (got, want) = match tx {
            Some(t) => (
                t.query_count(&q(INDEXED)).unwrap(),
                t.query_count(&q(PLAIN)).unwrap(),
            ),
            None => (
                db.query_count(&q(INDEXED)).unwrap(),
                db.query_count(&q(PLAIN)).unwrap(),
            ),
        };
        assert_eq!(got, want, "{what}: count {f:?}");
    }
}

fn both(db: &Database, f: impl Fn(&mut blazedb::WriteTx, &str) -> blazedb::Result<()>) {
    db.write(|tx| {
        f(tx, PLAIN)?;
        f(tx, INDEXED)
    })
    .unwrap();
}

#[test]
fn index_only_answers_match_scans_through_every_kind_of_write() {
    let (_d, db) = open();
    let mut rng = StdRng::seed_from_u64(0x1DE_0011);
    let mut ids: Vec<Uuid> = Vec::new();
    for round in 0..6 {
        let batch: Vec<Record> = (0..150)
            .map(|_| {
                let id = Uuid::from_u128(rng.r#gen());
                ids.push(id);
                random_record(&mut rng).with("id", id)
            })
            .collect();
        both(&db, |tx, c| tx.insert_many(c, batch.clone()).map(|_| ()));
        check(&db, None, &format!("round {round} after inserts"));

        let snapshot = db.snapshot().unwrap();
        // Updates, soft deletes and deletes, the same on both sides.
        let picks: Vec<(Uuid, u8, Record)> = (0..60)
            .map(|_| {
                (
                    ids[rng.gen_range(0..ids.len())],
                    rng.gen_range(0..4),
                    random_record(&mut rng),
                )
            })
            .collect();
        both(&db, |tx, c| {
            for (id, op, r) in &picks {
                if tx.get(c, *id)?.is_none() {
                    continue;
                }
                match op {
                    0 => tx.update(c, *id, r.clone())?,
                    1 => tx.update_fields(c, *id, Record::new().with("g", "open"))?,
                    2 => tx.soft_delete(c, *id)?,
                    _ => {
                        tx.delete(c, *id)?;
                    }
                }
            }
            Ok(())
        });
        check(&db, None, &format!("round {round} after changes"));
        // The snapshot taken before the changes still answers as of then, on both sides.
        check(
            &db,
            Some(&snapshot),
            &format!("round {round}, older snapshot"),
        );
        drop(snapshot);

        // A transaction that fails rolls back its index entries with its records.
        let r = db.write(|tx| -> blazedb::Result<()> {
            tx.insert_many(INDEXED, (0..50).map(|_| random_record(&mut rng)).collect())?;
            tx.update_fields(INDEXED, ids[0], Record::new().with("g", "rolled back"))
                .ok();
            Err(Error::InvalidInput("roll back".into()))
        });
        assert!(r.is_err());
        check(&db, None, &format!("round {round} after a rollback"));

        if round % 2 == 1 {
            both(&db, |tx, c| tx.purge(c).map(|_| ()));
            check(&db, None, &format!("round {round} after purge"));
        }
    }
}

#[test]
fn intersected_lookups_read_fewer_records_and_return_the_same_rows() {
    let (_d, db) = open();
    let mut rng = StdRng::seed_from_u64(7);
    let records: Vec<Record> = (0..2000)
        .map(|i| {
            Record::new()
                .with("id", Uuid::from_u128(i + 1))
                .with(
                    "g",
                    ["open", "fixed", "new", "wontfix"][rng.gen_range(0..4)],
                )
                .with("x", rng.gen_range(0..4))
                .with("body", "text")
        })
        .collect();
    db.insert_many(INDEXED, records.clone()).unwrap();
    db.insert_many(PLAIN, records).unwrap();
    let f = Filter::eq("g", "open").and(Filter::eq("x", 1));
    let got = db.query(&Query::new(INDEXED).filter(f.clone())).unwrap();
    let want = db.query(&Query::new(PLAIN).filter(f.clone())).unwrap();
    assert_eq!(got, want);
    let plan = db.explain(&Query::new(INDEXED).filter(f)).unwrap();
    assert_eq!(plan.strategy, blazedb::Strategy::IndexLookup);
    assert!(
        plan.index.as_deref().is_some_and(|i| i.contains(" & ")),
        "{plan}"
    );
    // Only the records both indexes allow are read.
    assert_eq!(plan.examined_rows, plan.returned_rows, "{plan}");
}

#[test]
fn joins_reuse_lookups_per_key_and_match_the_hash_join() {
    let (_d, db) = open();
    db.create_index("users", IndexSpec::on("name")).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let users: Vec<Record> = (0..40)
        .map(|i| {
            Record::new()
                .with("id", Uuid::from_u128(1000 + i as u128))
                .with("name", format!("u{}", i % 30))
                .with("team", ["a", "b"][i % 2])
        })
        .collect();
    db.insert_many("users", users.clone()).unwrap();
    db.insert_many("users_plain", users).unwrap();
    let issues: Vec<Record> = (0..600)
        .map(|_| {
            let mut r = random_record(&mut rng);
            r.insert("reporter", format!("u{}", rng.gen_range(0..35)));
            r
        })
        .collect();
    db.insert_many(PLAIN, issues).unwrap();
    for kind in [
        JoinKind::Inner,
        JoinKind::Left,
        JoinKind::Right,
        JoinKind::Full,
    ] {
        let j = |right: &str| {
            Join::new(
                Query::new(PLAIN).filter(Filter::ne("x", 0)),
                "reporter",
                right,
                "name",
            )
            .kind(kind)
            .right_filter(Filter::eq("team", "a"))
        };
        let indexed = db.join(&j("users")).unwrap();
        let hashed = db.join(&j("users_plain")).unwrap();
        assert_eq!(indexed.len(), hashed.len(), "{kind:?}");
        // NaN group values: compare debug forms.
        assert!(same(&indexed, &hashed), "{kind:?}");
    }
}
