//! Index invariants under random writes and rollbacks: after every transaction, committed or
//! rolled back, each index holds exactly the live records' entries.
//!
//! A seeded random workload runs transactions of one to four writes (insert, insert_many,
//! update, update_fields, upsert, delete, delete_many, soft_delete, purge) over a collection
//! with a single-field, a compound, a unique and a full-text index. A third of the
//! transactions roll back, by an explicit `rollback()` or by an error returned from
//! `Database::write`. An in-memory model predicts every outcome, unique violations included.
//! After each transaction the test checks, without relying on the engine's own bookkeeping:
//! - each B-tree index has one entry per live record (no entry for a dead or rolled-back
//!   record, none missing), from `IndexInfo::entries`;
//! - an indexed query for each live record's value returns exactly the model's matches, and
//!   that record exactly once (the unique index's probe is checked to be an index lookup);
//! - a full-text search for each live record's marker word finds that record and only it;
//! - `Database::check()` (which reads every index table) reports nothing.
//!
//! `BLAZEDB_SOAK=1` runs more seeds and longer histories.

use std::collections::{BTreeMap, BTreeSet};

use blazedb::{
    Database, Error, Filter, IndexSpec, Options, Query, Record, SearchQuery, Strategy, Uuid, Value,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const C: &str = "items";
const CATS: [&str; 4] = ["red", "green", "blue", "gray"];

/// The committed (or, inside a transaction, the tentative) state.
#[derive(Clone, Default)]
struct Model {
    live: BTreeMap<Uuid, Record>,
    /// Soft-deleted ids: not live, but their ids stay taken until purge.
    tombstones: BTreeSet<Uuid>,
}

impl Model {
    /// Whether `record` under `id` would repeat another live record's unique `u`.
    fn violates(&self, id: Uuid, record: &Record) -> bool {
        match record.get("u") {
            Some(Value::Int(u)) => self
                .live
                .iter()
                .any(|(other, r)| *other != id && r.get("u") == Some(&Value::Int(*u))),
            _ => false,
        }
    }
}

/// A random record. `mark` is a word no other record has, for the full-text check.
fn random_record(rng: &mut StdRng, mark: u64) -> Record {
    let mut r = Record::new().with("text", format!("note w{} m{mark}", rng.gen_range(0..5)));
    if rng.gen_bool(0.85) {
        r.insert("cat", CATS[rng.gen_range(0..CATS.len())]);
    }
    match rng.gen_range(0..4) {
        0 => {}
        1 => {
            r.insert("n", rng.gen_range(0..6) as f64 + 0.5);
        }
        _ => {
            r.insert("n", rng.gen_range(0..6i64));
        }
    }
    // A small domain, so unique violations happen often.
    if rng.gen_bool(0.7) {
        r.insert("u", rng.gen_range(0..25i64));
    }
    r
}

/// The user fields of a stored record (the id is reported as a field on reads).
fn user_fields(r: &Record) -> BTreeMap<String, Value> {
    let mut f = r.fields().clone();
    f.remove("id");
    f
}

fn pick_live(rng: &mut StdRng, m: &Model) -> Option<Uuid> {
    if m.live.is_empty() {
        return None;
    }
    m.live.keys().nth(rng.gen_range(0..m.live.len())).copied()
}

fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::UniqueViolation { .. })
}

/// One random write inside `tx`, checked against and applied to `m` (the transaction's
/// tentative model).
fn random_op(tx: &mut blazedb::WriteTx, rng: &mut StdRng, m: &mut Model, mark: &mut u64) {
    *mark += 1;
    match rng.gen_range(0..100) {
        0..=24 => {
            let rec = random_record(rng, *mark);
            let violates = m.violates(Uuid::nil(), &rec);
            match tx.insert(C, rec.clone()) {
                Ok(id) => {
                    assert!(!violates, "insert of {rec:?} should have violated u");
                    m.live.insert(id, rec);
                }
                Err(e) => assert!(violates && is_unique_violation(&e), "insert: {e}"),
            }
        }
        25..=34 => {
            let n = rng.gen_range(1..5);
            let mut recs = Vec::new();
            for _ in 0..n {
                *mark += 1;
                recs.push(random_record(rng, *mark));
            }
            let mut trial = m.clone();
            let mut violates = false;
            for r in &recs {
                violates |= trial.violates(Uuid::nil(), r);
                trial.live.insert(Uuid::new_v4(), r.clone());
            }
            match tx.insert_many(C, recs.clone()) {
                Ok(ids) => {
                    assert!(!violates, "insert_many should have violated u");
                    m.live.extend(ids.into_iter().zip(recs));
                }
                Err(e) => assert!(violates && is_unique_violation(&e), "insert_many: {e}"),
            }
        }
        35..=49 => {
            let Some(id) = pick_live(rng, m) else { return };
            let rec = random_record(rng, *mark);
            let violates = m.violates(id, &rec);
            match tx.update(C, id, rec.clone()) {
                Ok(()) => {
                    assert!(!violates, "update should have violated u");
                    m.live.insert(id, rec);
                }
                Err(e) => assert!(violates && is_unique_violation(&e), "update: {e}"),
            }
        }
        50..=59 => {
            let Some(id) = pick_live(rng, m) else { return };
            let mut fields = Record::new();
            if rng.gen_bool(0.5) {
                fields.insert("cat", CATS[rng.gen_range(0..CATS.len())]);
            }
            if rng.gen_bool(0.6) {
                fields.insert("u", rng.gen_range(0..25i64));
            }
            if rng.gen_bool(0.3) {
                fields.insert("n", Value::Null);
            }
            let mut merged = m.live[&id].clone();
            merged.merge(fields.clone());
            let violates = m.violates(id, &merged);
            match tx.update_fields(C, id, fields) {
                Ok(()) => {
                    assert!(!violates, "update_fields should have violated u");
                    m.live.insert(id, merged);
                }
                Err(e) => assert!(violates && is_unique_violation(&e), "update_fields: {e}"),
            }
        }
        60..=67 => {
            // Upsert a live record or a fresh id (or a tombstone, which it replaces).
            let id = match rng.gen_range(0..3) {
                0 => pick_live(rng, m).unwrap_or_else(Uuid::new_v4),
                1 => m
                    .tombstones
                    .iter()
                    .next()
                    .copied()
                    .unwrap_or_else(Uuid::new_v4),
                _ => Uuid::new_v4(),
            };
            let rec = random_record(rng, *mark);
            let violates = m.violates(id, &rec);
            let was_live = m.live.contains_key(&id);
            match tx.upsert(C, id, rec.clone()) {
                Ok(inserted) => {
                    assert!(!violates, "upsert should have violated u");
                    assert_eq!(inserted, !was_live, "upsert's inserted flag");
                    m.tombstones.remove(&id);
                    m.live.insert(id, rec);
                }
                Err(e) => assert!(violates && is_unique_violation(&e), "upsert: {e}"),
            }
        }
        68..=79 => {
            let Some(id) = pick_live(rng, m) else { return };
            assert!(tx.delete(C, id).unwrap());
            m.live.remove(&id);
        }
        80..=85 => {
            let mut ids: Vec<Uuid> = (0..rng.gen_range(1..4))
                .filter_map(|_| pick_live(rng, m))
                .collect();
            ids.push(Uuid::new_v4()); // an unknown id is skipped, not an error
            let want: BTreeSet<Uuid> = ids
                .iter()
                .filter(|i| m.live.contains_key(i))
                .copied()
                .collect();
            assert_eq!(tx.delete_many(C, &ids).unwrap(), want.len());
            for id in want {
                m.live.remove(&id);
            }
        }
        86..=94 => {
            let Some(id) = pick_live(rng, m) else { return };
            tx.soft_delete(C, id).unwrap();
            m.live.remove(&id);
            m.tombstones.insert(id);
        }
        _ => {
            assert_eq!(tx.purge(C).unwrap(), m.tombstones.len() as u64);
            m.tombstones.clear();
        }
    }
}

/// Checks every index against the model (see the module comment).
fn check(db: &Database, m: &Model, context: &str) {
    let report = db.check().unwrap();
    assert!(
        report.ok,
        "{context}: integrity check: {:#?}",
        report.issues
    );

    for info in db.indexes(C).unwrap() {
        if info.kind != blazedb::IndexKind::FullText {
            assert_eq!(
                info.entries,
                m.live.len() as u64,
                "{context}: index {} has {} entries for {} live records",
                info.name,
                info.entries,
                m.live.len()
            );
        }
    }

    let stored = db.all(C).unwrap();
    let stored: BTreeMap<Uuid, BTreeMap<String, Value>> = stored
        .iter()
        .map(|r| (r.id().unwrap(), user_fields(r)))
        .collect();
    let want: BTreeMap<Uuid, BTreeMap<String, Value>> =
        m.live.iter().map(|(id, r)| (*id, user_fields(r))).collect();
    assert_eq!(
        stored, want,
        "{context}: stored records differ from the model"
    );

    for (id, r) in &m.live {
        let mut probes = Vec::new();
        if let Some(cat) = r.get("cat") {
            probes.push(Filter::eq("cat", cat.clone()));
            if let Some(n) = r.get("n") {
                probes.push(Filter::eq("cat", cat.clone()).and(Filter::eq("n", n.clone())));
            }
        }
        if let Some(u) = r.get("u") {
            // Unique: at most one hit, so the planner always takes the index (a lookup
            // over more than 30% of the collection may become a scan, by design).
            let q = Query::new(C).filter(Filter::eq("u", u.clone()));
            let plan = db.explain(&q).unwrap();
            assert_eq!(plan.strategy, Strategy::IndexLookup, "{context}: {plan}");
            probes.push(Filter::eq("u", u.clone()));
        }
        for f in probes {
            let q = Query::new(C).filter(f.clone());
            let got: Vec<Uuid> = db
                .query(&q)
                .unwrap()
                .iter()
                .map(|r| r.id().unwrap())
                .collect();
            assert_eq!(
                got.iter().filter(|g| *g == id).count(),
                1,
                "{context}: {f:?} must return {id} exactly once, got {got:?}"
            );
            let expect: BTreeSet<Uuid> = m
                .live
                .iter()
                .filter(|(_, other)| f.matches(other))
                .map(|(i, _)| *i)
                .collect();
            assert_eq!(
                got.iter().copied().collect::<BTreeSet<_>>(),
                expect,
                "{context}: {f:?}"
            );
            assert_eq!(
                got.len(),
                expect.len(),
                "{context}: {f:?} repeated a record"
            );
        }
        let mark = r
            .get("text")
            .and_then(Value::as_str)
            .and_then(|t| t.split(' ').next_back())
            .unwrap()
            .to_string();
        let hits = db.search(&SearchQuery::new(C, mark.clone())).unwrap();
        let hit_ids: Vec<Uuid> = hits.iter().map(|h| h.record.id().unwrap()).collect();
        assert_eq!(hit_ids, vec![*id], "{context}: search {mark}");
    }
}

fn run_seed(seed: u64, transactions: usize) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path().join("r.blazedb"),
        Options::default().stamp_fields(false),
    )
    .unwrap();
    db.create_index(C, IndexSpec::on("cat")).unwrap();
    db.create_index(C, IndexSpec::compound(["cat", "n"]))
        .unwrap();
    db.create_index(C, IndexSpec::on("u").unique()).unwrap();
    db.create_index(C, IndexSpec::full_text(["text"])).unwrap();

    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut mark = 0u64;
    for t in 0..transactions {
        let ops = rng.gen_range(1..5);
        let mode = rng.gen_range(0..6); // 0-3 commit, 4 explicit rollback, 5 error rollback
        let mut tentative = model.clone();
        match mode {
            4 => {
                let tx = db.begin().unwrap();
                tx.with(|w| {
                    for _ in 0..ops {
                        random_op(w, &mut rng, &mut tentative, &mut mark);
                    }
                    Ok(())
                })
                .unwrap();
                tx.rollback().unwrap();
            }
            _ => {
                let r = db.write(|tx| {
                    for _ in 0..ops {
                        random_op(tx, &mut rng, &mut tentative, &mut mark);
                    }
                    if mode == 5 {
                        return Err(Error::InvalidInput("roll back".into()));
                    }
                    Ok(())
                });
                assert_eq!(r.is_ok(), mode != 5, "seed {seed} tx {t}: {r:?}");
                if mode != 5 {
                    model = tentative;
                }
            }
        }
        check(&db, &model, &format!("seed {seed} tx {t} mode {mode}"));
    }
    // And after a reopen: the committed indexes are what was persisted.
    drop(db);
    let db = Database::open(
        dir.path().join("r.blazedb"),
        Options::default().stamp_fields(false),
    )
    .unwrap();
    check(&db, &model, &format!("seed {seed} after reopen"));
}

#[test]
fn indexes_match_the_live_records_after_random_writes_and_rollbacks() {
    let soak = std::env::var_os("BLAZEDB_SOAK").is_some();
    let (seeds, transactions) = if soak { (40, 120) } else { (12, 60) };
    for seed in 0..seeds {
        run_seed(0xB1A2E + seed, transactions);
    }
}
