//! Joins (`docs/QUERY.md`, "Joins"): each kind, across collections and databases, null and
//! cross-type keys, and a differential check of both strategies (hash join, index nested
//! loop through a supplied lookup) against a naive nested-loop join written here.

use blazedb::{
    APPLE_REFERENCE_OFFSET_SECS, Database, Error, Filter, Join, JoinKind, JoinedRow, Options,
    Order, Query, ReadTx, Record, Timestamp, Uuid, Value,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn open(name: &str) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join(name), Options::default()).unwrap();
    (dir, db)
}

fn rec(fields: &[(&str, Value)]) -> Record {
    fields.iter().cloned().collect()
}

const KINDS: [JoinKind; 4] = [
    JoinKind::Inner,
    JoinKind::Left,
    JoinKind::Right,
    JoinKind::Full,
];

// ---------------------------------------------------------------------------------------
// The naive evaluator, from the documented semantics.

/// Seconds since 2001-01-01 of a date, as the spec reads dates against numbers.
fn apple(t: &Timestamp) -> f64 {
    (t.unix_seconds() - APPLE_REFERENCE_OFFSET_SECS) as f64 + f64::from(t.subsec_nanos()) / 1e9
}

/// The filters' equality: int↔double by value, uuid↔string holding it (any case),
/// date↔number within 1 ms, otherwise exact.
fn spec_equal(a: &Value, b: &Value) -> bool {
    use Value::*;
    let num = |v: &Value| match v {
        Int(i) => Some(*i as f64),
        Double(d) => Some(*d),
        _ => None,
    };
    match (a, b) {
        (Int(x), Int(y)) => x == y,
        (Int(_) | Double(_), Int(_) | Double(_)) => num(a) == num(b),
        (Uuid(u), String(s)) | (String(s), Uuid(u)) => {
            blazedb::Uuid::parse_str(s).is_ok_and(|p| p == *u)
        }
        (Date(d), Int(_) | Double(_)) => (apple(d) - num(b).unwrap()).abs() < 0.001,
        (Int(_) | Double(_), Date(d)) => (apple(d) - num(a).unwrap()).abs() < 0.001,
        _ => a == b,
    }
}

fn id(r: &Record) -> Uuid {
    match r.get("id") {
        Some(Value::Uuid(u)) => *u,
        other => panic!("no id: {other:?}"),
    }
}

fn key<'a>(r: &'a Record, field: &str) -> Option<&'a Value> {
    r.get(field).filter(|v| !v.is_null())
}

/// A nested-loop join of two materialised sides, in the documented order: left id order
/// (then right id order within a left record), then the unmatched right records by id.
fn naive_join(
    left: &[Record],
    right: &[Record],
    lf: &str,
    rf: &str,
    kind: JoinKind,
    offset: usize,
    limit: Option<usize>,
) -> Vec<JoinedRow> {
    let mut left: Vec<&Record> = left.iter().collect();
    let mut right: Vec<&Record> = right.iter().collect();
    left.sort_by_key(|r| id(r));
    right.sort_by_key(|r| id(r));
    let mut out = Vec::new();
    let mut right_matched = vec![false; right.len()];
    for l in &left {
        let mut any = false;
        for (i, r) in right.iter().enumerate() {
            let m = match (key(l, lf), key(r, rf)) {
                (Some(a), Some(b)) => spec_equal(a, b),
                _ => false,
            };
            if m {
                any = true;
                right_matched[i] = true;
                out.push(JoinedRow {
                    left: Some((*l).clone()),
                    right: Some((*r).clone()),
                });
            }
        }
        if !any && matches!(kind, JoinKind::Left | JoinKind::Full) {
            out.push(JoinedRow {
                left: Some((*l).clone()),
                right: None,
            });
        }
    }
    if matches!(kind, JoinKind::Right | JoinKind::Full) {
        for (i, r) in right.iter().enumerate() {
            if !right_matched[i] {
                out.push(JoinedRow {
                    left: None,
                    right: Some((*r).clone()),
                });
            }
        }
    }
    out.into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect()
}

/// An "index" for the index nested-loop path: a scan of the right side with the spec's
/// equality, returned in a scrambled order (an index's order is its own).
fn scan_lookup(
    tx: &ReadTx,
) -> impl FnMut(&str, &str, &Value) -> blazedb::Result<Option<Vec<Record>>> + '_ {
    move |collection, field, value| {
        let mut hits: Vec<Record> = tx
            .query(&Query::new(collection))?
            .into_iter()
            .filter(|r| key(r, field).is_some_and(|k| spec_equal(value, k)))
            .collect();
        hits.reverse();
        Ok(Some(hits))
    }
}

/// Compares joined rows field by field, reporting the first difference compactly (ids and keys).
fn assert_rows_eq(got: &[JoinedRow], want: &[JoinedRow], what: &str) {
    let short = |r: Option<&JoinedRow>| {
        r.map(|r| {
            let side = |x: &Option<Record>| x.as_ref().map(|x| (id(x), x.get("k").cloned()));
            (side(&r.left), side(&r.right))
        })
    };
    // Compared through `Debug`, because a NaN key makes a record unequal to itself.
    let same = |a: Option<&JoinedRow>, b: Option<&JoinedRow>| format!("{a:?}") == format!("{b:?}");
    if let Some(at) = (0..got.len().max(want.len())).find(|&i| !same(got.get(i), want.get(i))) {
        panic!(
            "{what}: {} rows, expected {}; first difference at row {at}:\n got  {:?}\n want {:?}",
            got.len(),
            want.len(),
            short(got.get(at)),
            short(want.get(at))
        );
    }
}

/// Runs a join on `left`/`right` three ways (the public path, which hashes while there are
/// no indexes; the index path; a lookup that says "no index") and checks each against the
/// naive join of `left_records`/`right_records`.
fn check_all_paths(left: &ReadTx, right: &ReadTx, j: &Join, expected: &[JoinedRow], what: &str) {
    let public = left.join_with(right, j).unwrap();
    assert_rows_eq(&public, expected, &format!("public path, {what}"));
    let indexed = left.join_with_lookup(right, j, scan_lookup(right)).unwrap();
    assert_rows_eq(&indexed, expected, &format!("index path, {what}"));
    let hashed = left.join_with_lookup(right, j, |_, _, _| Ok(None)).unwrap();
    assert_rows_eq(&hashed, expected, &format!("hash path, {what}"));
}

// ---------------------------------------------------------------------------------------

/// Users and bugs. Bug keys: a uuid, the same uuid as an upper-case string, a uuid nobody
/// has, null, missing.
fn tracker(db: &Database) -> (Uuid, Uuid) {
    let ana = db.insert("users", rec(&[("name", "ana".into())])).unwrap();
    let ben = db.insert("users", rec(&[("name", "ben".into())])).unwrap();
    db.insert("users", rec(&[("name", "cid".into())])).unwrap();
    db.insert_many(
        "bugs",
        vec![
            rec(&[("title", "crash".into()), ("assignee", ana.into())]),
            rec(&[
                ("title", "slow".into()),
                ("assignee", ana.to_string().to_uppercase().into()),
            ]),
            rec(&[("title", "typo".into()), ("assignee", ben.into())]),
            rec(&[
                ("title", "ghost".into()),
                ("assignee", Uuid::new_v4().into()),
            ]),
            rec(&[("title", "null".into()), ("assignee", Value::Null)]),
            rec(&[("title", "missing".into())]),
        ],
    )
    .unwrap();
    (ana, ben)
}

fn titles(rows: &[JoinedRow]) -> Vec<(Option<String>, Option<String>)> {
    let s = |r: &Option<Record>, f: &str| {
        r.as_ref()
            .and_then(|r| r.get(f))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut v: Vec<_> = rows
        .iter()
        .map(|r| (s(&r.left, "title"), s(&r.right, "name")))
        .collect();
    v.sort();
    v
}

fn pair(l: Option<&str>, r: Option<&str>) -> (Option<String>, Option<String>) {
    (l.map(str::to_string), r.map(str::to_string))
}

#[test]
fn each_join_kind_between_two_collections() {
    let (_d, db) = open("j.blazedb");
    tracker(&db);
    let j = |k| Join::new(Query::new("bugs"), "assignee", "users", "id").kind(k);
    let matched = vec![
        pair(Some("crash"), Some("ana")),
        pair(Some("slow"), Some("ana")),
        pair(Some("typo"), Some("ben")),
    ];
    assert_eq!(titles(&db.join(&j(JoinKind::Inner)).unwrap()), matched);

    let mut left = matched.clone();
    left.extend([
        pair(Some("ghost"), None),
        pair(Some("missing"), None),
        pair(Some("null"), None),
    ]);
    left.sort();
    assert_eq!(titles(&db.join(&j(JoinKind::Left)).unwrap()), left);

    let mut right = matched.clone();
    right.push(pair(None, Some("cid")));
    right.sort();
    assert_eq!(titles(&db.join(&j(JoinKind::Right)).unwrap()), right);

    let mut full = left.clone();
    full.push(pair(None, Some("cid")));
    full.sort();
    assert_eq!(titles(&db.join(&j(JoinKind::Full)).unwrap()), full);

    // The same against the naive join and on every path, ordered.
    let snap = db.snapshot().unwrap();
    let (bugs, users) = (db.all("bugs").unwrap(), db.all("users").unwrap());
    for k in KINDS {
        let want = naive_join(&bugs, &users, "assignee", "id", k, 0, None);
        check_all_paths(&snap, &snap, &j(k), &want, &format!("{k:?}"));
    }
}

#[test]
fn output_order_is_left_then_right_id_then_unmatched_right() {
    let (_d, db) = open("o.blazedb");
    tracker(&db);
    let rows = db
        .join(&Join::new(Query::new("bugs"), "assignee", "users", "id").kind(JoinKind::Full))
        .unwrap();
    let pos: Vec<(bool, Option<Uuid>, Option<Uuid>)> = rows
        .iter()
        .map(|r| {
            (
                r.left.is_none(),
                r.left.as_ref().map(id),
                r.right.as_ref().map(id),
            )
        })
        .collect();
    let mut sorted = pos.clone();
    sorted.sort();
    assert_eq!(pos, sorted);
    assert!(rows.last().is_some_and(|r| r.left.is_none()));
}

#[test]
fn filters_on_both_sides_and_paging() {
    let (_d, db) = open("f.blazedb");
    tracker(&db);
    let bugs: Vec<Record> = db
        .query(&Query::new("bugs").filter(Filter::ne("title", "slow")))
        .unwrap();
    let users: Vec<Record> = db
        .query(&Query::new("users").filter(Filter::ne("name", "ben")))
        .unwrap();
    let snap = db.snapshot().unwrap();
    for k in KINDS {
        for (offset, limit) in [
            (0, None),
            (0, Some(0)),
            (1, Some(2)),
            (3, None),
            (100, Some(5)),
        ] {
            let mut j = Join::new(
                Query::new("bugs").filter(Filter::ne("title", "slow")),
                "assignee",
                "users",
                "id",
            )
            .right_filter(Filter::ne("name", "ben"))
            .kind(k)
            .offset(offset);
            if let Some(l) = limit {
                j = j.limit(l);
            }
            let want = naive_join(&bugs, &users, "assignee", "id", k, offset, limit);
            check_all_paths(
                &snap,
                &snap,
                &j,
                &want,
                &format!("{k:?} {offset} {limit:?}"),
            );
        }
    }
}

#[test]
fn join_across_two_databases() {
    let (_d1, bugs_db) = open("bugs.blazedb");
    let (_d2, users_db) = open("users.blazedb");
    let ana = users_db
        .insert("users", rec(&[("name", "ana".into())]))
        .unwrap();
    users_db
        .insert("users", rec(&[("name", "ben".into())]))
        .unwrap();
    bugs_db
        .insert(
            "bugs",
            rec(&[("title", "crash".into()), ("assignee", ana.into())]),
        )
        .unwrap();
    bugs_db
        .insert("bugs", rec(&[("title", "slow".into())]))
        .unwrap();
    // The same collection name in the left database must not be read as the right side.
    bugs_db
        .insert("users", rec(&[("name", "impostor".into())]))
        .unwrap();
    for k in KINDS {
        let j = Join::new(Query::new("bugs"), "assignee", "users", "id").kind(k);
        let want = naive_join(
            &bugs_db.all("bugs").unwrap(),
            &users_db.all("users").unwrap(),
            "assignee",
            "id",
            k,
            0,
            None,
        );
        assert_eq!(bugs_db.join_across(&users_db, &j).unwrap(), want, "{k:?}");
        let (l, r) = (bugs_db.snapshot().unwrap(), users_db.snapshot().unwrap());
        check_all_paths(&l, &r, &j, &want, &format!("across, {k:?}"));
    }
    let inner = bugs_db
        .join_across(
            &users_db,
            &Join::new(Query::new("bugs"), "assignee", "users", "id"),
        )
        .unwrap();
    assert_eq!(titles(&inner), vec![pair(Some("crash"), Some("ana"))]);
}

#[test]
fn null_and_missing_keys_never_match_but_outer_joins_keep_them() {
    let (_d, db) = open("n.blazedb");
    db.insert_many(
        "l",
        vec![
            rec(&[("k", Value::Null)]),
            rec(&[]),
            rec(&[("k", 1.into())]),
        ],
    )
    .unwrap();
    db.insert_many(
        "r",
        vec![
            rec(&[("k", Value::Null)]),
            rec(&[]),
            rec(&[("k", 1.into())]),
        ],
    )
    .unwrap();
    let j = |k| Join::new(Query::new("l"), "k", "r", "k").kind(k);
    let count = |k| db.join(&j(k)).unwrap().len();
    assert_eq!(count(JoinKind::Inner), 1);
    assert_eq!(count(JoinKind::Left), 3);
    assert_eq!(count(JoinKind::Right), 3);
    assert_eq!(count(JoinKind::Full), 5);
    let snap = db.snapshot().unwrap();
    for k in KINDS {
        let want = naive_join(
            &db.all("l").unwrap(),
            &db.all("r").unwrap(),
            "k",
            "k",
            k,
            0,
            None,
        );
        check_all_paths(&snap, &snap, &j(k), &want, &format!("{k:?}"));
    }
}

#[test]
fn cross_type_keys_match_as_filters_do() {
    let (_d, db) = open("x.blazedb");
    let u = Uuid::new_v4();
    let t = Timestamp::new(1_700_000_000, 250_000_000);
    let secs = apple(&t);
    let left = vec![
        rec(&[("name", "int 3".into()), ("k", 3.into())]),
        rec(&[("name", "uuid".into()), ("k", u.into())]),
        rec(&[("name", "date".into()), ("k", t.into())]),
        rec(&[("name", "string 3".into()), ("k", "3".into())]),
        rec(&[
            ("name", "array".into()),
            ("k", Value::Array(vec![1.into(), "a".into()])),
        ]),
    ];
    let right = vec![
        rec(&[("name", "double 3.0".into()), ("k", 3.0.into())]),
        rec(&[
            ("name", "lower uuid string".into()),
            ("k", u.to_string().into()),
        ]),
        rec(&[
            ("name", "upper uuid string".into()),
            ("k", u.to_string().to_uppercase().into()),
        ]),
        rec(&[
            ("name", "seconds +0.4ms".into()),
            ("k", (secs + 0.0004).into()),
        ]),
        rec(&[
            ("name", "seconds -2ms".into()),
            ("k", (secs - 0.002).into()),
        ]),
        rec(&[("name", "same date".into()), ("k", t.into())]),
        rec(&[("name", "data 3".into()), ("k", Value::Data(b"3".to_vec()))]),
        rec(&[
            ("name", "same array".into()),
            ("k", Value::Array(vec![1.into(), "a".into()])),
        ]),
        rec(&[
            ("name", "array of double".into()),
            ("k", Value::Array(vec![1.0.into(), "a".into()])),
        ]),
    ];
    db.insert_many("l", left).unwrap();
    db.insert_many("r", right).unwrap();
    let rows = db.join(&Join::new(Query::new("l"), "k", "r", "k")).unwrap();
    let mut pairs: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let n = |x: &Option<Record>| {
                x.as_ref()
                    .unwrap()
                    .get("name")
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            };
            (n(&r.left), n(&r.right))
        })
        .collect();
    pairs.sort();
    let mut want: Vec<(String, String)> = [
        ("array", "same array"),
        ("date", "same date"),
        ("date", "seconds +0.4ms"),
        ("int 3", "double 3.0"),
        ("uuid", "lower uuid string"),
        ("uuid", "upper uuid string"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    assert_eq!(pairs, want);
    let snap = db.snapshot().unwrap();
    for k in KINDS {
        let want = naive_join(
            &db.all("l").unwrap(),
            &db.all("r").unwrap(),
            "k",
            "k",
            k,
            0,
            None,
        );
        check_all_paths(
            &snap,
            &snap,
            &Join::new(Query::new("l"), "k", "r", "k").kind(k),
            &want,
            &format!("{k:?}"),
        );
        // And the other way round.
        let back = naive_join(
            &db.all("r").unwrap(),
            &db.all("l").unwrap(),
            "k",
            "k",
            k,
            0,
            None,
        );
        check_all_paths(
            &snap,
            &snap,
            &Join::new(Query::new("r"), "k", "l", "k").kind(k),
            &back,
            &format!("reversed {k:?}"),
        );
    }
}

#[test]
fn a_sloppy_index_cannot_add_wrong_rows() {
    // The index path confirms each returned record: a lookup that returns every right
    // record (or the same one twice) still gives exactly the naive join.
    let (_d, db) = open("s.blazedb");
    tracker(&db);
    let snap = db.snapshot().unwrap();
    let everything = |c: &str, _: &str, _: &Value| -> blazedb::Result<Option<Vec<Record>>> {
        let mut all = snap.all(c)?;
        all.extend(snap.all(c)?);
        Ok(Some(all))
    };
    let (bugs, users) = (db.all("bugs").unwrap(), db.all("users").unwrap());
    for k in KINDS {
        let j = Join::new(Query::new("bugs"), "assignee", "users", "id").kind(k);
        assert_eq!(
            snap.join_with_lookup(&snap, &j, everything).unwrap(),
            naive_join(&bugs, &users, "assignee", "id", k, 0, None),
            "{k:?}"
        );
    }
}

#[test]
fn bad_joins_are_invalid_query() {
    let (_d, db) = open("b.blazedb");
    tracker(&db);
    let bad = |j: Join| match db.join(&j) {
        Err(Error::InvalidQuery(_)) => {}
        other => panic!("expected InvalidQuery for {j:?}, got {other:?}"),
    };
    bad(Join::new(Query::new("bugs"), "", "users", "id"));
    bad(Join::new(Query::new("bugs"), "assignee", "users", ""));
    bad(Join::new(
        Query::new("bugs").limit(1),
        "assignee",
        "users",
        "id",
    ));
    bad(Join::new(
        Query::new("bugs").offset(1),
        "assignee",
        "users",
        "id",
    ));
    bad(Join::new(
        Query::new("bugs").order_by("title", Order::Ascending),
        "assignee",
        "users",
        "id",
    ));
    bad(Join::new(
        Query::new("bugs").filter(Filter::eq("", 1)),
        "assignee",
        "users",
        "id",
    ));
    bad(Join::new(Query::new("bugs"), "assignee", "users", "id").right_filter(Filter::eq("", 1)));
    // Absent collections are empty sides, not errors.
    let rows = db
        .join(&Join::new(Query::new("nope"), "k", "users", "id").kind(JoinKind::Full))
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        db.join(&Join::new(Query::new("bugs"), "assignee", "nope", "id"))
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Differential: random keys of many kinds on both sides.

fn random_key(rng: &mut StdRng, uuids: &[Uuid], dates: &[Timestamp]) -> Option<Value> {
    Some(match rng.gen_range(0..100) {
        0..=7 => return None,
        8..=12 => Value::Null,
        13..=27 => Value::Int(rng.gen_range(0..6)),
        28..=37 => Value::Double(f64::from(rng.gen_range(0..12)) / 2.0),
        38..=47 => Value::from(["a", "b", "3", ""][rng.gen_range(0..4)]),
        48..=57 => Value::Uuid(uuids[rng.gen_range(0..uuids.len())]),
        58..=65 => {
            let s = uuids[rng.gen_range(0..uuids.len())].to_string();
            Value::from(if rng.gen_bool(0.5) {
                s.to_uppercase()
            } else {
                s
            })
        }
        66..=75 => Value::Date(dates[rng.gen_range(0..dates.len())]),
        76..=85 => {
            // A number near one of the dates: within the 1 ms tolerance, or just outside.
            let base = apple(&dates[rng.gen_range(0..dates.len())]);
            let off = [0.0, 0.0003, -0.0009, 0.0015, -0.004][rng.gen_range(0..5)];
            Value::Double(base + off)
        }
        86..=90 => Value::Bool(rng.gen_bool(0.5)),
        91..=95 => Value::Array(vec![Value::Int(rng.gen_range(0..2)), Value::from("x")]),
        _ => Value::Double(f64::NAN),
    })
}

fn random_side(rng: &mut StdRng, n: usize, uuids: &[Uuid], dates: &[Timestamp]) -> Vec<Record> {
    (0..n)
        .map(|_| {
            let mut r = Record::new();
            if let Some(k) = random_key(rng, uuids, dates) {
                r.insert("k", k);
            }
            r.insert("w", Value::Int(rng.gen_range(0..4)));
            r
        })
        .collect()
}

#[test]
fn random_joins_match_a_naive_nested_loop_on_both_strategies() {
    let (_d1, db) = open("r1.blazedb");
    let (_d2, other) = open("r2.blazedb");
    let mut rng = StdRng::seed_from_u64(0x5EED_F015);
    let uuids: Vec<Uuid> = (0..4).map(|_| Uuid::from_u128(rng.r#gen())).collect();
    // Small ints are small date offsets too: 2001-01-01 plus 0..6 s, so ints and dates meet.
    let dates: Vec<Timestamp> = [0.0, 1.0, 2.5, 3.0004, 86_400.25]
        .iter()
        .map(|s| Timestamp::from_apple_reference_seconds(*s).unwrap())
        .collect();
    db.insert_many("left", random_side(&mut rng, 120, &uuids, &dates))
        .unwrap();
    db.insert_many("right", random_side(&mut rng, 90, &uuids, &dates))
        .unwrap();
    other
        .insert_many("right", random_side(&mut rng, 90, &uuids, &dates))
        .unwrap();
    let snap = db.snapshot().unwrap();
    let osnap = other.snapshot().unwrap();
    let mut matched_rows = 0;
    for i in 0..80 {
        let kind = KINDS[rng.gen_range(0..4)];
        let lw = rng.gen_bool(0.3).then(|| rng.gen_range(0..4));
        let rw = rng.gen_bool(0.3).then(|| rng.gen_range(0..4));
        let offset = if rng.gen_bool(0.3) {
            rng.gen_range(0..30)
        } else {
            0
        };
        let limit = rng.gen_bool(0.3).then(|| rng.gen_range(0..40));
        let across = rng.gen_bool(0.3);
        let mut lq = Query::new("left");
        if let Some(w) = lw {
            lq = lq.filter(Filter::ne("w", w));
        }
        let mut j = Join::new(lq.clone(), "k", "right", "k")
            .kind(kind)
            .offset(offset);
        if let Some(w) = rw {
            j = j.right_filter(Filter::ne("w", w));
        }
        if let Some(l) = limit {
            j = j.limit(l);
        }
        let right_db = if across { &other } else { &db };
        let mut rq = Query::new("right");
        if let Some(w) = rw {
            rq = rq.filter(Filter::ne("w", w));
        }
        let lrecs = db.query(&lq).unwrap();
        let rrecs = right_db.query(&rq).unwrap();
        let want = naive_join(&lrecs, &rrecs, "k", "k", kind, offset, limit);
        matched_rows += want
            .iter()
            .filter(|r| r.left.is_some() && r.right.is_some())
            .count();
        let what = format!("#{i}: {kind:?} lw={lw:?} rw={rw:?} {offset}/{limit:?} across={across}");
        let rsnap = if across { &osnap } else { &snap };
        check_all_paths(&snap, rsnap, &j, &want, &what);
        if across {
            assert_rows_eq(&db.join_across(&other, &j).unwrap(), &want, &what);
        } else {
            assert_rows_eq(&db.join(&j).unwrap(), &want, &what);
        }
    }
    assert!(
        matched_rows > 500,
        "only {matched_rows} matched pairs: the data rarely joins"
    );
}

#[test]
fn paging_a_large_join_keeps_exactly_the_requested_rows() {
    // 40 × 40 pairs on one key plus unmatched rows on both sides: more rows than the
    // collector holds before it trims to offset + limit, so trimming is exercised too.
    let (_d, db) = open("big.blazedb");
    let mut left: Vec<Record> = (0..40)
        .map(|i| rec(&[("k", 1.into()), ("i", i.into())]))
        .collect();
    left.extend((0..10).map(|i| rec(&[("k", 2.into()), ("i", i.into())])));
    let mut right: Vec<Record> = (0..40)
        .map(|i| rec(&[("k", 1.0.into()), ("j", i.into())]))
        .collect();
    right.extend((0..10).map(|i| rec(&[("k", 3.into()), ("j", i.into())])));
    db.insert_many("l", left).unwrap();
    db.insert_many("r", right).unwrap();
    let (ls, rs) = (db.all("l").unwrap(), db.all("r").unwrap());
    let snap = db.snapshot().unwrap();
    for k in KINDS {
        for (offset, limit) in [
            (0, Some(7)),
            (1590, Some(20)),
            (3, Some(1200)),
            (1605, None),
        ] {
            let mut j = Join::new(Query::new("l"), "k", "r", "k")
                .kind(k)
                .offset(offset);
            if let Some(l) = limit {
                j = j.limit(l);
            }
            let want = naive_join(&ls, &rs, "k", "k", k, offset, limit);
            check_all_paths(
                &snap,
                &snap,
                &j,
                &want,
                &format!("{k:?} {offset}/{limit:?}"),
            );
        }
    }
}

/// With a real index on the right side's join field the public join takes the index path
/// (`lookup_eq`); its rows must equal the hash join's on the same data, for every kind.
#[test]
fn a_real_index_on_the_right_side_gives_the_same_rows() {
    let (_d, db) = open("ix.blazedb");
    let names = ["ana", "ben", "cid", "dee"];
    for (i, n) in names.iter().enumerate() {
        db.insert(
            "users",
            rec(&[("name", (*n).into()), ("n", (i as i64).into())]),
        )
        .unwrap();
    }
    db.insert("users", rec(&[("name", "ana".into())])).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let bugs: Vec<Record> = (0..60)
        .map(|i| {
            let mut r = rec(&[("title", format!("b{i}").into())]);
            match rng.gen_range(0..6) {
                0 => {}
                1 => {
                    r.insert("owner", Value::Null);
                }
                k => {
                    r.insert("owner", ["ana", "ben", "eve", "cid", "dee"][k - 1]);
                }
            }
            r
        })
        .collect();
    db.insert_many("bugs", bugs).unwrap();
    for kind in [
        JoinKind::Inner,
        JoinKind::Left,
        JoinKind::Right,
        JoinKind::Full,
    ] {
        let j = Join::new(Query::new("bugs"), "owner", "users", "name").kind(kind);
        let hashed = db.join(&j).unwrap();
        db.create_index("users", blazedb::IndexSpec::on("name"))
            .unwrap();
        let indexed = db.join(&j).unwrap();
        db.drop_index("users", "name").unwrap();
        assert_rows_eq(&indexed, &hashed, &format!("{kind:?}"));
        assert!(!hashed.is_empty());
    }
}
