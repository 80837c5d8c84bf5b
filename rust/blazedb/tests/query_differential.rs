//! Hundreds of random filters, sorts and pages over random data, checked against a naive
//! evaluator written here from `docs/QUERY.md`, independently of the engine's code.

use std::cmp::Ordering;

use blazedb::{Database, Filter, IndexSpec, Options, Order, Query, Record, Strategy, Uuid, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FIELDS: &[&str] = &["n", "x", "s", "b", "nested.k"];

fn random_value(rng: &mut StdRng, field: &str) -> Option<Value> {
    if rng.gen_bool(0.15) {
        return None; // missing
    }
    if rng.gen_bool(0.05) {
        return Some(Value::Null);
    }
    Some(match field {
        "n" => Value::Int(rng.gen_range(-5..6)),
        "x" => {
            if rng.gen_bool(0.5) {
                Value::Double(f64::from(rng.gen_range(-10..10)) / 2.0)
            } else {
                Value::Int(rng.gen_range(-5..6))
            }
        }
        "s" => {
            Value::from(["apple", "apricot", "banana", "band", "cherry", ""][rng.gen_range(0..6)])
        }
        "b" => Value::Bool(rng.gen_bool(0.5)),
        _ => Value::Int(rng.gen_range(0..4)),
    })
}

fn random_record(rng: &mut StdRng) -> Record {
    let mut r = Record::new();
    for f in ["n", "x", "s", "b"] {
        if let Some(v) = random_value(rng, f) {
            r.insert(f, v);
        }
    }
    if let Some(v) = random_value(rng, "nested.k") {
        r.insert(
            "nested",
            Value::Dictionary([("k".to_string(), v)].into_iter().collect()),
        );
    }
    r
}

fn get<'a>(r: &'a Record, f: &str) -> Option<&'a Value> {
    match f.split_once('.') {
        Some((a, b)) => match r.get(a) {
            Some(Value::Dictionary(d)) => d.get(b),
            _ => None,
        },
        None => r.get(f),
    }
}

/// The spec's equality for the kinds generated here: numbers by value, otherwise exact.
fn naive_eq(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        _ => None,
    }
}

/// The spec's ordering: numbers with numbers, strings with strings, bools with bools.
fn naive_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x.partial_cmp(&y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn naive_match(f: &Filter, r: &Record) -> bool {
    match f {
        Filter::Eq(k, v) => get(r, k).is_some_and(|x| naive_eq(x, v)),
        Filter::Ne(k, v) => !get(r, k).is_some_and(|x| naive_eq(x, v)),
        Filter::Gt(k, v) => get(r, k).and_then(|x| naive_cmp(x, v)) == Some(Ordering::Greater),
        Filter::Gte(k, v) => get(r, k)
            .and_then(|x| naive_cmp(x, v))
            .is_some_and(|o| o != Ordering::Less),
        Filter::Lt(k, v) => get(r, k).and_then(|x| naive_cmp(x, v)) == Some(Ordering::Less),
        Filter::Lte(k, v) => get(r, k)
            .and_then(|x| naive_cmp(x, v))
            .is_some_and(|o| o != Ordering::Greater),
        Filter::Contains(k, s) => {
            matches!(get(r, k), Some(Value::String(x)) if x.contains(s.as_str()))
        }
        Filter::StartsWith(k, s) => {
            matches!(get(r, k), Some(Value::String(x)) if x.starts_with(s.as_str()))
        }
        Filter::In(k, vs) => get(r, k).is_some_and(|x| vs.iter().any(|v| naive_eq(x, v))),
        Filter::IsNil(k) => get(r, k).is_none(),
        Filter::NotNil(k) => get(r, k).is_some(),
        Filter::And(fs) => fs.iter().all(|g| naive_match(g, r)),
        Filter::Or(fs) => fs.iter().any(|g| naive_match(g, r)),
        Filter::Not(g) => !naive_match(g, r),
    }
}

fn random_filter(rng: &mut StdRng, depth: u32) -> Filter {
    let field = FIELDS[rng.gen_range(0..FIELDS.len())];
    let value = random_value(rng, field).unwrap_or(Value::Int(0));
    match rng.gen_range(0..if depth > 2 { 11 } else { 14 }) {
        0 => Filter::eq(field, value),
        1 => Filter::ne(field, value),
        2 => Filter::gt(field, value),
        3 => Filter::gte(field, value),
        4 => Filter::lt(field, value),
        5 => Filter::lte(field, value),
        6 => Filter::contains(field, ["an", "ap", "", "z"][rng.gen_range(0..4)]),
        7 => Filter::starts_with(field, ["a", "ba", "ch", ""][rng.gen_range(0..4)]),
        8 => Filter::is_in(
            field,
            (0..rng.gen_range(0..3))
                .filter_map(|_| random_value(rng, field))
                .collect(),
        ),
        9 => Filter::is_nil(field),
        10 => Filter::not_nil(field),
        11 => Filter::And(
            (0..rng.gen_range(0..3))
                .map(|_| random_filter(rng, depth + 1))
                .collect(),
        ),
        12 => Filter::Or(
            (0..rng.gen_range(0..3))
                .map(|_| random_filter(rng, depth + 1))
                .collect(),
        ),
        _ => random_filter(rng, depth + 1).not(),
    }
}

/// Sort key for the naive side: present values by the spec's order, missing or null last.
fn naive_sort(rows: &mut [(Uuid, Record)], keys: &[(&str, Order)]) {
    rows.sort_by(|(ia, a), (ib, b)| {
        for (k, o) in keys {
            let va = get(a, k).filter(|v| !v.is_null());
            let vb = get(b, k).filter(|v| !v.is_null());
            let ord = match (va, vb) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let base = match naive_cmp(x, y) {
                        Some(o) => o,
                        // Different kinds: booleans, then numbers, then strings.
                        None => rank(x).cmp(&rank(y)),
                    };
                    let base = if base == Ordering::Equal && num(x).is_some() {
                        // Equal numbers: ints before doubles, as the engine's total order.
                        rank_exact(x).cmp(&rank_exact(y))
                    } else {
                        base
                    };
                    if *o == Order::Descending {
                        base.reverse()
                    } else {
                        base
                    }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        ia.as_bytes().cmp(ib.as_bytes())
    });
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Int(_) | Value::Double(_) => 1,
        Value::String(_) => 2,
        _ => 3,
    }
}

fn rank_exact(v: &Value) -> u8 {
    matches!(v, Value::Double(_)) as u8
}

#[test]
fn random_queries_agree_with_the_naive_evaluator() {
    let used = run_differential(0x0ddba11, &[]);
    assert_eq!(used, 0, "no index exists, so every plan is a scan");
}

/// The same queries with indexes on every field (single and compound, one created before
/// the data and the rest after): the planner's choices must not change a single row, and
/// enough queries must actually use an index for this to test the index paths.
#[test]
fn random_queries_agree_with_the_naive_evaluator_through_indexes() {
    let specs = [
        IndexSpec::on("n"),
        IndexSpec::on("x"),
        IndexSpec::on("s"),
        IndexSpec::on("b"),
        IndexSpec::on("nested.k"),
        IndexSpec::compound(["s", "n"]),
        IndexSpec::compound(["b", "x"]),
    ];
    let used = run_differential(0x005e_ed1d, &specs);
    let cases = cases();
    assert!(
        used * 4 >= cases,
        "only {used} of {cases} queries used an index"
    );
}

fn cases() -> usize {
    if std::env::var_os("BLAZEDB_SOAK").is_some() {
        5000
    } else {
        400
    }
}

/// Runs the random cases; returns how many used an index.
fn run_differential(seed: u64, specs: &[IndexSpec]) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path().join("q.blazedb"),
        Options::default().stamp_fields(false),
    )
    .unwrap();
    if let Some(first) = specs.first() {
        db.create_index("c", first.clone()).unwrap();
    }
    let records: Vec<Record> = (0..400).map(|_| random_record(&mut rng)).collect();
    let ids = db.insert_many("c", records).unwrap();
    for s in specs.iter().skip(1) {
        db.create_index("c", s.clone()).unwrap();
    }
    // Updates move records between index keys.
    for id in &ids[20..60] {
        db.update("c", *id, random_record(&mut rng)).unwrap();
    }
    // Soft-deleted records must never show up.
    for id in &ids[..20] {
        db.soft_delete("c", *id).unwrap();
    }
    let live: Vec<(Uuid, Record)> = db
        .all("c")
        .unwrap()
        .into_iter()
        .map(|r| (r.id().unwrap(), r))
        .collect();
    assert_eq!(live.len(), 380);
    let mut used = 0;
    for case in 0..cases() {
        let filter = random_filter(&mut rng, 0);
        let mut keys: Vec<(&str, Order)> = Vec::new();
        for _ in 0..rng.gen_range(0..3) {
            let f = FIELDS[rng.gen_range(0..FIELDS.len())];
            keys.push((
                f,
                if rng.gen_bool(0.5) {
                    Order::Ascending
                } else {
                    Order::Descending
                },
            ));
        }
        let offset = if rng.gen_bool(0.3) {
            rng.gen_range(0..50)
        } else {
            0
        };
        let limit = if rng.gen_bool(0.6) {
            Some(rng.gen_range(0..60))
        } else {
            None
        };

        let mut q = Query::new("c").filter(filter.clone()).offset(offset);
        for (k, o) in &keys {
            q = q.order_by(*k, *o);
        }
        if let Some(l) = limit {
            q = q.limit(l);
        }
        let got: Vec<Uuid> = db
            .query(&q)
            .unwrap()
            .iter()
            .map(|r| r.id().unwrap())
            .collect();

        let mut expected: Vec<(Uuid, Record)> = live
            .iter()
            .filter(|(_, r)| naive_match(&filter, r))
            .cloned()
            .collect();
        let total = expected.len() as u64;
        naive_sort(&mut expected, &keys);
        let expected: Vec<Uuid> = expected
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            got, expected,
            "case {case}: {filter:?} {keys:?} offset {offset} limit {limit:?}"
        );
        assert_eq!(db.query_count(&q).unwrap(), total, "case {case}: count");
        let plan = db.explain(&q).unwrap();
        assert_eq!(
            plan.returned_rows as usize,
            expected.len(),
            "case {case}: {plan}"
        );
        if plan.strategy != Strategy::Scan {
            used += 1;
        }
        // The cursor returns the same rows in the same order, in small batches.
        if case % 10 == 0 {
            let mut cursor = db.query_cursor(q.clone()).unwrap();
            let mut via_cursor = Vec::new();
            loop {
                let b = cursor.next_batch(7).unwrap();
                if b.is_empty() {
                    break;
                }
                via_cursor.extend(b.iter().map(|r| r.id().unwrap()));
            }
            assert_eq!(via_cursor, expected, "case {case}: cursor");
        }
    }
    if !specs.is_empty() {
        let report = db.check().unwrap();
        assert!(report.ok, "{:?}", report.issues);
    }
    used
}

#[test]
fn empty_field_names_are_invalid_queries() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("e.blazedb"), Options::default()).unwrap();
    db.insert("c", Record::new()).unwrap();
    for q in [
        Query::new("c").filter(Filter::eq("", 1)),
        Query::new("c").order_by("", Order::Ascending),
    ] {
        assert!(matches!(db.query(&q), Err(blazedb::Error::InvalidQuery(_))));
    }
    assert!(db.query(&Query::new("missing")).unwrap().is_empty());
}
