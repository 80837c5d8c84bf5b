//! Scenario: soft deletes, purges and the O(1) counters.
//!
//! A soft-deleted record disappears from every read but stays stored until `purge`; the
//! live and soft-deleted counters agree with a full scan through any sequence of writes.

use std::collections::BTreeMap;

use blazedb::{Database, Durability, Error, Options, Record, Uuid, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const C: &str = "tasks";

fn fresh(options: Options) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("soft.blazedb"), options).unwrap();
    (dir, db)
}

fn soft_count(db: &Database, c: &str) -> u64 {
    db.read(|tx| tx.soft_deleted_count(c)).unwrap()
}

/// Stored bodies, tombstones included (redb's own table length).
fn stored_len(db: &Database, c: &str) -> u64 {
    db.write(|tx| tx.stored_len(c)).unwrap()
}

fn ids_of(records: &[Record]) -> Vec<Uuid> {
    records.iter().map(|r| r.id().unwrap()).collect()
}

fn insert_three(db: &Database) -> Vec<Uuid> {
    db.insert_many(
        C,
        (0..3)
            .map(|i| {
                Record::new()
                    .with("id", Uuid::from_u128(i + 1))
                    .with("n", i as i64)
            })
            .collect(),
    )
    .unwrap()
}

#[test]
fn soft_deleted_record_is_hidden_from_every_read() {
    let (_dir, db) = fresh(Options::default());
    let ids = insert_three(&db);
    db.soft_delete(C, ids[1]).unwrap();

    assert_eq!(db.get(C, ids[1]).unwrap(), None);
    assert!(!db.exists(C, ids[1]).unwrap());
    assert_eq!(db.count(C).unwrap(), 2);
    assert_eq!(ids_of(&db.all(C).unwrap()), vec![ids[0], ids[2]]);
    assert_eq!(ids_of(&db.page(C, 0, 10).unwrap()), vec![ids[0], ids[2]]);
    assert_eq!(ids_of(&db.page(C, 1, 10).unwrap()), vec![ids[2]]);
    assert_eq!(
        db.get_many(C, &ids)
            .unwrap()
            .iter()
            .map(Option::is_some)
            .collect::<Vec<_>>(),
        vec![true, false, true]
    );
    assert_eq!(soft_count(&db, C), 1);
    assert_eq!(stored_len(&db, C), 3, "the body is kept until purge");
    // The same holds inside a write transaction and a snapshot.
    db.write(|tx| {
        assert_eq!(tx.get(C, ids[1])?, None);
        assert_eq!(tx.count(C)?, 2);
        assert_eq!(tx.soft_deleted_count(C)?, 1);
        Ok(())
    })
    .unwrap();
    let snap = db.snapshot().unwrap();
    assert!(!snap.exists(C, ids[1]).unwrap());
    assert_eq!(snap.all(C).unwrap().len(), 2);
}

#[test]
fn purge_removes_tombstones_and_reports_how_many() {
    let (_dir, db) = fresh(Options::default());
    let ids = db
        .insert_many(C, (0..6).map(|i| Record::new().with("n", i)).collect())
        .unwrap();
    for id in &ids[..3] {
        db.soft_delete(C, *id).unwrap();
    }
    assert_eq!(soft_count(&db, C), 3);
    assert_eq!(stored_len(&db, C), 6);
    assert_eq!(db.purge(C).unwrap(), 3);
    assert_eq!(soft_count(&db, C), 0);
    assert_eq!(stored_len(&db, C), 3);
    assert_eq!(db.count(C).unwrap(), 3);
    assert_eq!(db.purge(C).unwrap(), 0, "nothing left to purge");
    assert_eq!(db.purge("missing").unwrap(), 0);
    // A purged id is free again.
    db.insert(C, Record::new().with("id", ids[0]).with("n", 100))
        .unwrap();
    assert_eq!(
        db.get(C, ids[0]).unwrap().unwrap().get("n"),
        Some(&Value::Int(100))
    );
    assert_eq!(db.count(C).unwrap(), 4);
}

#[test]
fn insert_over_a_tombstone_is_record_exists() {
    let (_dir, db) = fresh(Options::default());
    let ids = insert_three(&db);
    db.soft_delete(C, ids[0]).unwrap();
    match db.insert(C, Record::new().with("id", ids[0])) {
        Err(Error::RecordExists { id }) => assert_eq!(id, ids[0]),
        other => panic!("expected RecordExists, got {other:?}"),
    }
    assert!(matches!(
        db.insert_many(C, vec![Record::new(), Record::new().with("id", ids[0])]),
        Err(Error::RecordExists { id }) if id == ids[0]
    ));
    assert_eq!(db.count(C).unwrap(), 2);
    assert_eq!(soft_count(&db, C), 1);
    assert_eq!(stored_len(&db, C), 3);
}

#[test]
fn upsert_over_a_tombstone_inserts_a_live_record() {
    let (_dir, db) = fresh(Options::default());
    let ids = insert_three(&db);
    db.soft_delete(C, ids[2]).unwrap();
    assert!(
        db.upsert(C, ids[2], Record::new().with("fresh", true))
            .unwrap()
    );
    let r = db.get(C, ids[2]).unwrap().expect("live again");
    assert_eq!(r.get("fresh"), Some(&Value::Bool(true)));
    assert_eq!(r.get("n"), None, "the tombstone's fields are not revived");
    assert!(!r.is_deleted());
    assert!(db.exists(C, ids[2]).unwrap());
    assert_eq!(db.count(C).unwrap(), 3);
    assert_eq!(soft_count(&db, C), 0);
    assert_eq!(stored_len(&db, C), 3);
    assert_eq!(
        db.purge(C).unwrap(),
        0,
        "the revived record is not a tombstone"
    );
    assert!(db.exists(C, ids[2]).unwrap());
}

#[test]
fn updates_of_a_soft_deleted_record_are_not_found() {
    let (_dir, db) = fresh(Options::default());
    let ids = insert_three(&db);
    db.soft_delete(C, ids[0]).unwrap();
    assert!(matches!(
        db.update(C, ids[0], Record::new().with("x", 1)),
        Err(Error::RecordNotFound { id }) if id == ids[0]
    ));
    assert!(matches!(
        db.update_fields(C, ids[0], Record::new().with("x", 1)),
        Err(Error::RecordNotFound { id }) if id == ids[0]
    ));
    assert_eq!(db.get(C, ids[0]).unwrap(), None);
    assert_eq!(db.count(C).unwrap(), 2);
    assert_eq!(soft_count(&db, C), 1);
}

#[test]
fn soft_delete_of_a_missing_record_is_not_found_and_twice_is_fine() {
    let (_dir, db) = fresh(Options::default());
    let missing = Uuid::from_u128(404);
    assert!(matches!(
        db.soft_delete("nowhere", missing),
        Err(Error::RecordNotFound { id }) if id == missing
    ));
    assert!(db.collections().unwrap().is_empty());
    let ids = insert_three(&db);
    assert!(matches!(
        db.soft_delete(C, missing),
        Err(Error::RecordNotFound { id }) if id == missing
    ));
    db.soft_delete(C, ids[1]).unwrap();
    db.soft_delete(C, ids[1]).unwrap();
    assert_eq!(
        db.count(C).unwrap(),
        2,
        "a second soft delete counts nothing"
    );
    assert_eq!(soft_count(&db, C), 1);
    // Hard-deleting a tombstone removes it, but no live record was deleted.
    assert!(!db.delete(C, ids[1]).unwrap());
    assert_eq!(soft_count(&db, C), 0);
    assert_eq!(stored_len(&db, C), 2);
    assert!(matches!(
        db.soft_delete(C, ids[1]),
        Err(Error::RecordNotFound { .. })
    ));
}

/// A record the size limit accepted must stay deletable: hiding it adds no user data.
#[test]
fn soft_delete_of_a_record_at_the_size_limit_succeeds() {
    let limit = 1024;
    let (_dir, db) = fresh(
        Options::default()
            .max_record_size(limit)
            .stamp_fields(false),
    );
    // The largest body the limit allows, measured with the stored encoding itself.
    let fits = |n: usize| {
        blazedb::codec::encode(&Record::new().with("body", "x".repeat(n)))
            .unwrap()
            .len()
            <= limit
    };
    let n = (0..limit).rev().find(|n| fits(*n)).unwrap();
    let id = db
        .insert(C, Record::new().with("body", "x".repeat(n)))
        .unwrap();
    assert!(matches!(
        db.insert(C, Record::new().with("body", "x".repeat(n + 1))),
        Err(Error::InvalidInput(_))
    ));

    let r = db.soft_delete(C, id);
    assert!(r.is_ok(), "soft_delete of a stored record failed: {r:?}");
    assert_eq!(db.get(C, id).unwrap(), None);
    assert_eq!(db.count(C).unwrap(), 0);
    assert_eq!(soft_count(&db, C), 1);
    assert_eq!(db.purge(C).unwrap(), 1);
}

#[test]
fn counters_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("soft.blazedb");
    let db = Database::open(&path, Options::default()).unwrap();
    let ids = insert_three(&db);
    db.soft_delete(C, ids[0]).unwrap();
    db.close().unwrap();
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.count(C).unwrap(), 2);
    assert_eq!(soft_count(&db, C), 1);
    assert_eq!(db.get(C, ids[0]).unwrap(), None);
    assert_eq!(db.purge(C).unwrap(), 1);
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Live,
    Tomb,
}

/// A reference model: what is stored, and whether it is live or a tombstone.
#[derive(Default)]
struct Model {
    stored: BTreeMap<Uuid, State>,
}

impl Model {
    fn live(&self) -> Vec<Uuid> {
        self.stored
            .iter()
            .filter(|(_, s)| **s == State::Live)
            .map(|(id, _)| *id)
            .collect()
    }
    fn tombs(&self) -> usize {
        self.stored.values().filter(|s| **s == State::Tomb).count()
    }
}

#[test]
fn counts_match_a_full_scan_through_random_writes() {
    let (_dir, db) = fresh(Options::default().durability(Durability::Relaxed));
    let mut rng = StdRng::seed_from_u64(0x5EED_50F7);
    let mut model = Model::default();
    // Ids ever used, so operations hit live records, tombstones and deleted ids alike.
    let mut pool: Vec<Uuid> = Vec::new();
    fn pick(rng: &mut StdRng, pool: &mut Vec<Uuid>) -> Uuid {
        if pool.is_empty() || rng.gen_bool(0.25) {
            let id = Uuid::from_u128(rng.r#gen());
            pool.push(id);
            id
        } else {
            pool[rng.gen_range(0..pool.len())]
        }
    }

    for step in 0..500i64 {
        let op = rng.gen_range(0..100);
        let id = pick(&mut rng, &mut pool);
        let state = model.stored.get(&id).copied();
        let what = match op {
            0..=29 => {
                let r = db.insert(C, Record::new().with("id", id).with("step", step));
                match state {
                    None => {
                        assert_eq!(r.unwrap(), id);
                        model.stored.insert(id, State::Live);
                    }
                    Some(_) => assert!(
                        matches!(r, Err(Error::RecordExists { id: e }) if e == id),
                        "step {step}: insert over {state:?} gave {r:?}"
                    ),
                }
                "insert"
            }
            30..=34 => {
                // A batch of two fresh ids and, sometimes, one already stored.
                let a = pick(&mut rng, &mut pool);
                let fresh1 = Uuid::from_u128(rng.r#gen());
                let fresh2 = Uuid::from_u128(rng.r#gen());
                pool.extend([fresh1, fresh2]);
                let batch = vec![
                    Record::new().with("id", fresh1),
                    Record::new().with("id", a),
                    Record::new().with("id", fresh2),
                ];
                let r = db.insert_many(C, batch);
                if model.stored.contains_key(&a) {
                    assert!(matches!(r, Err(Error::RecordExists { .. })), "{r:?}");
                } else {
                    assert_eq!(r.unwrap(), vec![fresh1, a, fresh2]);
                    for x in [fresh1, a, fresh2] {
                        model.stored.insert(x, State::Live);
                    }
                }
                "insert_many"
            }
            35..=49 => {
                let r = db.soft_delete(C, id);
                match state {
                    None => assert!(
                        matches!(r, Err(Error::RecordNotFound { .. })),
                        "step {step}: {r:?}"
                    ),
                    Some(_) => {
                        r.unwrap();
                        model.stored.insert(id, State::Tomb);
                    }
                }
                "soft_delete"
            }
            50..=64 => {
                let removed = db.delete(C, id).unwrap();
                assert_eq!(removed, state == Some(State::Live), "step {step}");
                model.stored.remove(&id);
                "delete"
            }
            65..=69 => {
                let others: Vec<Uuid> = (0..3).map(|_| pick(&mut rng, &mut pool)).collect();
                let mut uniq = others.clone();
                uniq.sort();
                uniq.dedup();
                let expect = uniq
                    .iter()
                    .filter(|x| model.stored.get(x) == Some(&State::Live))
                    .count();
                assert_eq!(db.delete_many(C, &others).unwrap(), expect, "step {step}");
                for x in uniq {
                    model.stored.remove(&x);
                }
                "delete_many"
            }
            70..=89 => {
                let inserted = db.upsert(C, id, Record::new().with("step", step)).unwrap();
                assert_eq!(inserted, state != Some(State::Live), "step {step}");
                model.stored.insert(id, State::Live);
                "upsert"
            }
            90..=94 => {
                let r = db.update_fields(C, id, Record::new().with("touched", step));
                match state {
                    Some(State::Live) => r.unwrap(),
                    _ => assert!(matches!(r, Err(Error::RecordNotFound { .. })), "{r:?}"),
                }
                "update_fields"
            }
            _ => {
                let purged = db.purge(C).unwrap();
                assert_eq!(purged, model.tombs() as u64, "step {step}");
                model.stored.retain(|_, s| *s == State::Live);
                "purge"
            }
        };

        let live = model.live();
        let all = db.all(C).unwrap();
        assert_eq!(
            db.count(C).unwrap(),
            live.len() as u64,
            "step {step} ({what})"
        );
        assert_eq!(all.len(), live.len(), "step {step} ({what})");
        assert_eq!(ids_of(&all), live, "step {step} ({what})");
        assert_eq!(
            soft_count(&db, C),
            model.tombs() as u64,
            "step {step} ({what})"
        );
        if step % 25 == 0 {
            assert_eq!(stored_len(&db, C), model.stored.len() as u64, "step {step}");
        }
    }
    assert!(!model.live().is_empty() && model.tombs() + model.live().len() > 10);
}
