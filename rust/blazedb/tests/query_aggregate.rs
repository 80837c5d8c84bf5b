//! Aggregation, group-by, having and distinct (`docs/QUERY.md`, "Aggregation"): hand-worked
//! cases for each rule, and a differential test of random specs over random data against a
//! naive evaluator written here from the documented semantics.

use std::cmp::Ordering;

use blazedb::{
    Aggregate, AggregateFn, Database, Error, Filter, Options, Order, Query, Record, Timestamp,
    Value,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn open() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("agg.blazedb"), Options::default()).unwrap();
    (dir, db)
}

fn rec(fields: &[(&str, Value)]) -> Record {
    fields.iter().cloned().collect()
}

/// The tracker fixture: status, assignee, priority (ints and one double), some gaps.
fn tracker(db: &Database) {
    let rows = vec![
        rec(&[
            ("status", "open".into()),
            ("assignee", "ana".into()),
            ("priority", 3.into()),
        ]),
        rec(&[
            ("status", "open".into()),
            ("assignee", "ben".into()),
            ("priority", 5.into()),
        ]),
        rec(&[
            ("status", "open".into()),
            ("assignee", "ana".into()),
            ("priority", 2.5.into()),
        ]),
        rec(&[
            ("status", "fixed".into()),
            ("assignee", "ana".into()),
            ("priority", 1.into()),
        ]),
        rec(&[("status", "fixed".into()), ("priority", Value::Null)]),
        rec(&[("status", "wontfix".into())]),
        rec(&[("assignee", "ben".into()), ("priority", 4.into())]),
    ];
    db.insert_many("bugs", rows).unwrap();
}

fn row(fields: &[(&str, Value)]) -> Record {
    rec(fields)
}

#[test]
fn global_aggregates_over_a_collection() {
    let (_d, db) = open();
    tracker(&db);
    let rows = db
        .aggregate(
            &Aggregate::new("bugs")
                .count("n")
                .count_of("priority", "with_priority")
                .sum("priority", "total")
                .avg("priority", "mean")
                .min("priority", "lowest")
                .max("priority", "highest"),
        )
        .unwrap();
    // Priorities present and not null: 3, 5, 2.5, 1, 4 (sum 15.5, a double because 2.5 is).
    assert_eq!(
        rows,
        vec![row(&[
            ("n", 7.into()),
            ("with_priority", 5.into()),
            ("total", 15.5.into()),
            ("mean", (15.5 / 5.0).into()),
            ("lowest", 1.into()),
            ("highest", 5.into()),
        ])]
    );
}

#[test]
fn group_by_one_field_with_missing_as_its_own_group_last() {
    let (_d, db) = open();
    tracker(&db);
    let rows = db
        .aggregate(
            &Aggregate::new("bugs")
                .group_by(["status"])
                .count("n")
                .sum("priority", "total"),
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            row(&[
                ("status", "fixed".into()),
                ("n", 2.into()),
                ("total", 1.into())
            ]),
            row(&[
                ("status", "open".into()),
                ("n", 3.into()),
                ("total", 10.5.into())
            ]),
            // No priority at all: the sum of nothing is 0.
            row(&[
                ("status", "wontfix".into()),
                ("n", 1.into()),
                ("total", 0.into())
            ]),
            // The record without a status: its group key reads as null, and sorts last.
            row(&[
                ("status", Value::Null),
                ("n", 1.into()),
                ("total", 4.into())
            ]),
        ]
    );
}

#[test]
fn group_by_several_fields_and_a_nested_path() {
    let (_d, db) = open();
    let city =
        |c: &str| Value::Dictionary([("city".to_string(), Value::from(c))].into_iter().collect());
    db.insert_many(
        "people",
        vec![
            rec(&[
                ("team", "a".into()),
                ("address", city("Oslo")),
                ("age", 30.into()),
            ]),
            rec(&[
                ("team", "a".into()),
                ("address", city("Oslo")),
                ("age", 40.into()),
            ]),
            rec(&[
                ("team", "a".into()),
                ("address", city("Rome")),
                ("age", 20.into()),
            ]),
            rec(&[
                ("team", "b".into()),
                ("address", city("Oslo")),
                ("age", 50.into()),
            ]),
            rec(&[("team", "b".into()), ("age", 60.into())]),
        ],
    )
    .unwrap();
    let rows = db
        .aggregate(
            &Aggregate::new("people")
                .group_by(["team", "address.city"])
                .count("n")
                .avg("age", "mean"),
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            row(&[
                ("team", "a".into()),
                ("address.city", "Oslo".into()),
                ("n", 2.into()),
                ("mean", 35.0.into())
            ]),
            row(&[
                ("team", "a".into()),
                ("address.city", "Rome".into()),
                ("n", 1.into()),
                ("mean", 20.0.into())
            ]),
            row(&[
                ("team", "b".into()),
                ("address.city", "Oslo".into()),
                ("n", 1.into()),
                ("mean", 50.0.into())
            ]),
            row(&[
                ("team", "b".into()),
                ("address.city", Value::Null),
                ("n", 1.into()),
                ("mean", 60.0.into())
            ]),
        ]
    );
    // `having` and `order_by` reach the dotted output key.
    let oslo = db
        .aggregate(
            &Aggregate::new("people")
                .group_by(["team", "address.city"])
                .count("n")
                .having(Filter::eq("address.city", "Oslo"))
                .order_by("n", Order::Ascending),
        )
        .unwrap();
    let teams: Vec<_> = oslo.iter().map(|r| r.get("team").cloned()).collect();
    assert_eq!(teams, vec![Some("b".into()), Some("a".into())]);
}

#[test]
fn having_filters_output_rows_and_order_offset_limit_page_them() {
    let (_d, db) = open();
    tracker(&db);
    let base = Aggregate::new("bugs").group_by(["assignee"]).count("n");
    let busy = db
        .aggregate(&base.clone().having(Filter::gte("n", 3)))
        .unwrap();
    assert_eq!(
        busy,
        vec![row(&[("assignee", "ana".into()), ("n", 3.into())])]
    );
    let named = db
        .aggregate(
            &base
                .clone()
                .having(Filter::gte("n", 2))
                .having(Filter::ne("assignee", Value::Null)),
        )
        .unwrap();
    assert_eq!(
        named,
        vec![
            row(&[("assignee", "ana".into()), ("n", 3.into())]),
            row(&[("assignee", "ben".into()), ("n", 2.into())])
        ]
    );
    // The null group can be selected with an equality on null.
    let nobody = db
        .aggregate(&base.clone().having(Filter::eq("assignee", Value::Null)))
        .unwrap();
    assert_eq!(
        nobody,
        vec![row(&[("assignee", Value::Null), ("n", 2.into())])]
    );
    // Ordering by count descending; ties (ben 2, null 2) keep group-key order (null last).
    let ordered = db
        .aggregate(&base.clone().order_by("n", Order::Descending))
        .unwrap();
    let names: Vec<_> = ordered
        .iter()
        .map(|r| r.get("assignee").cloned().unwrap())
        .collect();
    assert_eq!(names, vec!["ana".into(), "ben".into(), Value::Null]);
    let page = db
        .aggregate(&base.order_by("n", Order::Descending).offset(1).limit(1))
        .unwrap();
    assert_eq!(
        page,
        vec![row(&[("assignee", "ben".into()), ("n", 2.into())])]
    );
}

#[test]
fn filter_applies_before_grouping() {
    let (_d, db) = open();
    tracker(&db);
    let rows = db
        .aggregate(
            &Aggregate::new("bugs")
                .filter(Filter::eq("status", "open"))
                .group_by(["assignee"])
                .max("priority", "top"),
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            row(&[("assignee", "ana".into()), ("top", 3.into())]),
            row(&[("assignee", "ben".into()), ("top", 5.into())])
        ]
    );
    // The same through `from_query`.
    let q = Query::new("bugs").filter(Filter::eq("status", "open"));
    let again = db
        .aggregate(
            &Aggregate::from_query(q)
                .group_by(["assignee"])
                .max("priority", "top"),
        )
        .unwrap();
    assert_eq!(again, rows);
}

#[test]
fn empty_and_absent_collections() {
    let (_d, db) = open();
    let global = Aggregate::new("nothing")
        .count("n")
        .sum("x", "s")
        .avg("x", "a")
        .min("x", "lo")
        .max("x", "hi");
    let expected = vec![row(&[
        ("n", 0.into()),
        ("s", 0.into()),
        ("a", Value::Null),
        ("lo", Value::Null),
        ("hi", Value::Null),
    ])];
    assert_eq!(db.aggregate(&global).unwrap(), expected);
    // A collection that exists but whose records are all gone or filtered out.
    let id = db.insert("things", rec(&[("x", 1.into())])).unwrap();
    db.delete("things", id).unwrap();
    let global_things = Aggregate::from_query(Query::new("things"))
        .count("n")
        .sum("x", "s")
        .avg("x", "a")
        .min("x", "lo")
        .max("x", "hi");
    assert_eq!(db.aggregate(&global_things).unwrap(), expected);
    // Grouped: no groups, no rows.
    assert!(
        db.aggregate(&Aggregate::new("nothing").group_by(["x"]).count("n"))
            .unwrap()
            .is_empty()
    );
    assert!(db.distinct(&Query::new("nothing"), "x").unwrap().is_empty());
}

#[test]
fn soft_deleted_records_are_not_aggregated() {
    let (_d, db) = open();
    let ids = db
        .insert_many("c", vec![rec(&[("x", 1.into())]), rec(&[("x", 10.into())])])
        .unwrap();
    db.soft_delete("c", ids[1]).unwrap();
    let rows = db
        .aggregate(&Aggregate::new("c").count("n").sum("x", "s"))
        .unwrap();
    assert_eq!(rows, vec![row(&[("n", 1.into()), ("s", 1.into())])]);
}

#[test]
fn missing_and_null_values_are_skipped_by_everything_but_count() {
    let (_d, db) = open();
    db.insert_many(
        "c",
        vec![
            rec(&[("x", 4.into())]),
            rec(&[("x", Value::Null)]),
            rec(&[]),
            rec(&[("x", 8.into())]),
        ],
    )
    .unwrap();
    let rows = db
        .aggregate(
            &Aggregate::new("c")
                .count("n")
                .count_of("x", "nx")
                .sum("x", "s")
                .avg("x", "a")
                .min("x", "lo")
                .max("x", "hi"),
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![row(&[
            ("n", 4.into()),
            ("nx", 2.into()),
            ("s", 12.into()),
            ("a", 6.0.into()),
            ("lo", 4.into()),
            ("hi", 8.into()),
        ])]
    );
}

#[test]
fn mixed_ints_and_doubles() {
    let (_d, db) = open();
    // 3 and 3.0 are one group, shown as the int; 3.5 is another.
    db.insert_many(
        "m",
        vec![
            rec(&[("k", 3.0.into()), ("v", 1.into())]),
            rec(&[("k", 3.into()), ("v", 2.into())]),
            rec(&[("k", 3.5.into()), ("v", 0.5.into())]),
            rec(&[("k", (-0.0f64).into()), ("v", i64::MAX.into())]),
            rec(&[("k", 0.0.into()), ("v", 1.into())]),
        ],
    )
    .unwrap();
    let rows = db
        .aggregate(
            &Aggregate::new("m")
                .group_by(["k"])
                .count("n")
                .sum("v", "s")
                .avg("v", "a"),
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            // -0.0 and 0.0 are one group; i64::MAX + 1 overflows 64 bits, so the sum is a
            // double (2^63, exactly), and so is every average.
            row(&[
                ("k", 0.0.into()),
                ("n", 2.into()),
                ("s", 9_223_372_036_854_775_808.0.into()),
                ("a", 4_611_686_018_427_387_904.0.into())
            ]),
            row(&[
                ("k", 3.into()),
                ("n", 2.into()),
                ("s", 3.into()),
                ("a", 1.5.into())
            ]),
            row(&[
                ("k", 3.5.into()),
                ("n", 1.into()),
                ("s", 0.5.into()),
                ("a", 0.5.into())
            ]),
        ]
    );
    assert_eq!(
        db.distinct(&Query::new("m"), "k").unwrap(),
        vec![Value::Double(0.0), Value::Int(3), Value::Double(3.5)]
    );
}

#[test]
fn sums_are_exact_whatever_the_order() {
    let (_d, db) = open();
    // Added left to right in doubles this is 0.0 or 1.0 depending on the order; exactly it
    // is 1.0. Ten times 0.1 is exactly 1.0000000000000000555..., which rounds to 1.0.
    db.insert_many(
        "e",
        [1e100, 1.0, -1e100]
            .iter()
            .map(|x| rec(&[("x", (*x).into())]))
            .collect(),
    )
    .unwrap();
    db.insert_many("t", (0..10).map(|_| rec(&[("x", 0.1.into())])).collect())
        .unwrap();
    let sum = |c: &str| {
        db.aggregate(&Aggregate::new(c).sum("x", "s")).unwrap()[0]
            .get("s")
            .cloned()
    };
    assert_eq!(sum("e"), Some(Value::Double(1.0)));
    assert_eq!(sum("t"), Some(Value::Double(1.0)));
}

#[test]
fn min_and_max_use_the_total_sort_order() {
    let (_d, db) = open();
    let t = |s: i64| Value::Date(Timestamp::new(s, 0));
    db.insert_many(
        "x",
        vec![
            rec(&[
                ("s", "pear".into()),
                ("d", t(2_000_000_000)),
                ("mix", "a".into()),
            ]),
            rec(&[
                ("s", "apple".into()),
                ("d", t(1_000_000_000)),
                ("mix", 7.into()),
            ]),
            rec(&[
                ("s", "zucchini".into()),
                ("d", t(1_500_000_000)),
                ("mix", true.into()),
            ]),
        ],
    )
    .unwrap();
    let rows = db
        .aggregate(
            &Aggregate::new("x")
                .min("s", "s_lo")
                .max("s", "s_hi")
                .min("d", "d_lo")
                .max("d", "d_hi")
                .min("mix", "m_lo")
                .max("mix", "m_hi"),
        )
        .unwrap();
    // Across kinds: bools, then numbers and dates, then strings.
    assert_eq!(
        rows,
        vec![row(&[
            ("s_lo", "apple".into()),
            ("s_hi", "zucchini".into()),
            ("d_lo", t(1_000_000_000)),
            ("d_hi", t(2_000_000_000)),
            ("m_lo", true.into()),
            ("m_hi", "a".into()),
        ])]
    );
}

#[test]
fn min_and_max_tell_apart_what_the_sort_order_puts_level() {
    // -0.0 sorts before 0.0 and an int before the equal double, whatever the insert order.
    for order in [[0.0, -0.0], [-0.0, 0.0]] {
        let (_d, db) = open();
        let mut rows: Vec<Record> = order.iter().map(|x| rec(&[("x", (*x).into())])).collect();
        rows.push(rec(&[("y", 2.0.into())]));
        rows.push(rec(&[("y", 2.into())]));
        db.insert_many("z", rows).unwrap();
        let out = db
            .aggregate(
                &Aggregate::new("z")
                    .min("x", "lo")
                    .max("x", "hi")
                    .min("y", "ylo")
                    .max("y", "yhi"),
            )
            .unwrap();
        let bits = |k: &str| match out[0].get(k) {
            Some(Value::Double(d)) => d.to_bits(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(bits("lo"), (-0.0f64).to_bits());
        assert_eq!(bits("hi"), 0.0f64.to_bits());
        assert!(matches!(out[0].get("ylo"), Some(Value::Int(2))));
        assert!(matches!(out[0].get("yhi"), Some(Value::Double(_))));
    }
}

#[test]
fn distinct_values_and_tuples() {
    let (_d, db) = open();
    tracker(&db);
    assert_eq!(
        db.distinct(&Query::new("bugs"), "assignee").unwrap(),
        vec!["ana".into(), "ben".into(), Value::Null]
    );
    let open_only = Query::new("bugs").filter(Filter::eq("status", "open"));
    assert_eq!(
        db.distinct(&open_only, "assignee").unwrap(),
        vec!["ana".into(), "ben".into()]
    );
    assert_eq!(
        db.distinct_fields(&Query::new("bugs"), &["status", "assignee"])
            .unwrap(),
        vec![
            vec!["fixed".into(), "ana".into()],
            vec!["fixed".into(), Value::Null],
            vec!["open".into(), "ana".into()],
            vec!["open".into(), "ben".into()],
            vec!["wontfix".into(), Value::Null],
            vec![Value::Null, "ben".into()],
        ]
    );
    // The same through a snapshot.
    let snap = db.snapshot().unwrap();
    assert_eq!(
        snap.distinct(&open_only, "status").unwrap(),
        vec![Value::from("open")]
    );
}

fn invalid_query<T: std::fmt::Debug>(r: blazedb::Result<T>) -> String {
    match r {
        Err(Error::InvalidQuery(msg)) => msg,
        other => panic!("expected InvalidQuery, got {other:?}"),
    }
}

#[test]
fn bad_input_is_invalid_query() {
    let (_d, db) = open();
    tracker(&db);
    let a = || Aggregate::new("bugs");
    // Summing a string.
    let msg = invalid_query(db.aggregate(&a().sum("status", "s")));
    assert!(msg.contains("status") && msg.contains("string"), "{msg}");
    invalid_query(db.aggregate(&a().avg("status", "s")));
    // Names.
    invalid_query(db.aggregate(&a().count("")));
    invalid_query(db.aggregate(&a().sum("", "s")));
    invalid_query(db.aggregate(&a().count("n").sum("priority", "n")));
    invalid_query(db.aggregate(&a().group_by(["status"]).count("status")));
    invalid_query(db.aggregate(&a().group_by(["status", "status"])));
    invalid_query(db.aggregate(&a().group_by([""])));
    // having and order_by must name output fields.
    invalid_query(
        db.aggregate(
            &a().group_by(["status"])
                .count("n")
                .having(Filter::gt("priority", 1)),
        ),
    );
    invalid_query(db.aggregate(&a().count("n").order_by("status", Order::Ascending)));
    invalid_query(db.aggregate(&a().count("n").having(Filter::gt("", 1))));
    // A query whose sort keys or paging would be ignored.
    invalid_query(db.aggregate(&Aggregate::from_query(Query::new("bugs").limit(3)).count("n")));
    invalid_query(db.distinct(
        &Query::new("bugs").order_by("status", Order::Ascending),
        "status",
    ));
    invalid_query(db.distinct_fields(&Query::new("bugs"), &[]));
    invalid_query(db.distinct(&Query::new("bugs"), ""));
    // A bad input filter.
    invalid_query(db.aggregate(&a().filter(Filter::eq("", 1)).count("n")));
    // The builder form of each function matches the enum form.
    assert_eq!(
        db.aggregate(&a().aggregate("m", AggregateFn::Max("priority".into())))
            .unwrap(),
        db.aggregate(&a().max("priority", "m")).unwrap()
    );
}

// ---------------------------------------------------------------------------------------
// Differential test: the naive evaluator below is written from docs/QUERY.md alone.

const GROUP_FIELDS: &[&str] = &["g", "k", "nested.t"];

fn random_record(rng: &mut StdRng) -> Record {
    let mut r = Record::new();
    let pick = |rng: &mut StdRng| rng.gen_range(0..100);
    // g: a few strings, missing or null.
    match pick(rng) {
        0..=9 => {}
        10..=14 => {
            r.insert("g", Value::Null);
        }
        _ => {
            r.insert("g", ["a", "b", "c", "A"][rng.gen_range(0..4)]);
        }
    }
    // k: small ints, the same values as doubles, halves; missing.
    match pick(rng) {
        0..=9 => {}
        10..=49 => {
            r.insert("k", Value::Int(rng.gen_range(-2..3)));
        }
        50..=79 => {
            r.insert("k", Value::Double(f64::from(rng.gen_range(-2..3))));
        }
        _ => {
            r.insert("k", Value::Double(f64::from(rng.gen_range(-4..5)) / 2.0));
        }
    }
    // nested.t: a bool, sometimes.
    if rng.gen_bool(0.7) {
        r.insert(
            "nested",
            Value::Dictionary(
                [("t".to_string(), Value::Bool(rng.gen_bool(0.5)))]
                    .into_iter()
                    .collect(),
            ),
        );
    }
    // n: numbers whose sums are exact in doubles (multiples of 1/4, small).
    match pick(rng) {
        0..=9 => {}
        10..=14 => {
            r.insert("n", Value::Null);
        }
        15..=64 => {
            r.insert("n", Value::Int(rng.gen_range(-1000..1000)));
        }
        _ => {
            r.insert(
                "n",
                Value::Double(f64::from(rng.gen_range(-4000..4000)) / 4.0),
            );
        }
    }
    // m: mixed kinds, for count_of, min and max.
    match pick(rng) {
        0..=19 => {}
        20..=24 => {
            r.insert("m", Value::Null);
        }
        25..=49 => {
            r.insert("m", Value::Int(rng.gen_range(0..5)));
        }
        50..=69 => {
            r.insert("m", Value::Double(f64::from(rng.gen_range(0..10)) / 2.0));
        }
        70..=89 => {
            r.insert("m", ["x", "y", "z"][rng.gen_range(0..3)]);
        }
        _ => {
            r.insert("m", Value::Bool(rng.gen_bool(0.5)));
        }
    }
    r
}

fn get<'a>(r: &'a Record, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        Some((a, b)) => match r.get(a) {
            Some(Value::Dictionary(d)) => d.get(b),
            _ => None,
        },
        None => r.get(path),
    }
}

fn present<'a>(r: &'a Record, path: &str) -> Option<&'a Value> {
    get(r, path).filter(|v| !v.is_null())
}

/// The documented order for the kinds generated here: bools, numbers (by value, an int
/// before an equal double), strings; null last.
fn rank(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Int(_) | Value::Double(_) => 1,
        Value::String(_) => 2,
        Value::Null => 9,
        other => panic!("not generated: {other:?}"),
    }
}

fn naive_cmp(a: &Value, b: &Value) -> Ordering {
    let by_rank = rank(a).cmp(&rank(b));
    if by_rank.is_ne() {
        return by_rank;
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => {
            let (x, y) = (a.as_double().unwrap(), b.as_double().unwrap());
            let kind = |v: &Value| matches!(v, Value::Double(_)) as u8;
            x.partial_cmp(&y).unwrap().then(kind(a).cmp(&kind(b)))
        }
    }
}

/// Group-key equality: numbers by value, other values exactly; missing is null.
fn same_group(a: &Value, b: &Value) -> bool {
    match (a.as_double(), b.as_double()) {
        (Some(x), Some(y)) if !matches!(a, Value::Bool(_)) && !matches!(b, Value::Bool(_)) => {
            x == y
        }
        _ => a == b,
    }
}

#[derive(Clone, Debug)]
struct Spec {
    filter_min_n: Option<i64>,
    group_by: Vec<&'static str>,
    aggs: Vec<(String, AggregateFn)>,
    having_min_count: Option<i64>,
    order_desc_by_count: bool,
    offset: usize,
    limit: Option<usize>,
}

fn random_spec(rng: &mut StdRng) -> Spec {
    let mut group_by: Vec<&'static str> = GROUP_FIELDS.to_vec();
    group_by.retain(|_| rng.gen_bool(0.5));
    if rng.gen_bool(0.5) {
        group_by.reverse();
    }
    let mut aggs = vec![("count".to_string(), AggregateFn::Count)];
    let choices = [
        AggregateFn::CountOf("m".into()),
        AggregateFn::Sum("n".into()),
        AggregateFn::Avg("n".into()),
        AggregateFn::Min("m".into()),
        AggregateFn::Max("m".into()),
        AggregateFn::Min("n".into()),
        AggregateFn::Max("k".into()),
        AggregateFn::Sum("k".into()),
    ];
    for (i, f) in choices.into_iter().enumerate() {
        if rng.gen_bool(0.5) {
            aggs.push((format!("a{i}"), f));
        }
    }
    Spec {
        filter_min_n: rng.gen_bool(0.3).then(|| rng.gen_range(-500..500)),
        group_by,
        aggs,
        having_min_count: rng.gen_bool(0.3).then(|| rng.gen_range(1..6)),
        order_desc_by_count: rng.gen_bool(0.3),
        offset: if rng.gen_bool(0.3) {
            rng.gen_range(0..4)
        } else {
            0
        },
        limit: rng.gen_bool(0.3).then(|| rng.gen_range(0..6)),
    }
}

fn build(s: &Spec, collection: &str) -> Aggregate {
    let mut a = Aggregate::new(collection).group_by(s.group_by.iter().copied());
    if let Some(n) = s.filter_min_n {
        a = a.filter(Filter::gte("n", n));
    }
    for (alias, f) in &s.aggs {
        a = a.aggregate(alias.clone(), f.clone());
    }
    if let Some(c) = s.having_min_count {
        a = a.having(Filter::gte("count", c));
    }
    if s.order_desc_by_count {
        a = a.order_by("count", Order::Descending);
    }
    if let Some(l) = s.limit {
        a = a.limit(l);
    }
    a.offset(s.offset)
}

fn naive(records: &[Record], s: &Spec) -> Vec<Record> {
    let matching: Vec<&Record> = records
        .iter()
        .filter(|r| match s.filter_min_n {
            None => true,
            Some(min) => present(r, "n")
                .and_then(Value::as_double)
                .is_some_and(|x| x >= min as f64),
        })
        .collect();
    // Groups: a list of (key, members), found by linear search with `same_group`.
    let mut groups: Vec<(Vec<Value>, Vec<&Record>)> = Vec::new();
    if s.group_by.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    for r in matching {
        let key: Vec<Value> = s
            .group_by
            .iter()
            .map(|f| present(r, f).cloned().unwrap_or(Value::Null))
            .collect();
        match groups
            .iter_mut()
            .find(|(k, _)| k.iter().zip(&key).all(|(a, b)| same_group(a, b)))
        {
            Some((k, members)) => {
                // The key shown is the smallest member value (an int before an equal double).
                for (shown, v) in k.iter_mut().zip(&key) {
                    if naive_cmp(v, shown) == Ordering::Less {
                        *shown = v.clone();
                    }
                }
                members.push(r);
            }
            None => groups.push((key, vec![r])),
        }
    }
    // Groups sort by key, numbers by value alone (3 and 3.0 are one group anyway).
    let key_cmp = |x: &Value, y: &Value| {
        if same_group(x, y) {
            Ordering::Equal
        } else {
            naive_cmp(x, y)
        }
    };
    groups.sort_by(|(a, _), (b, _)| {
        a.iter()
            .zip(b)
            .map(|(x, y)| key_cmp(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    let mut rows: Vec<Record> = Vec::new();
    for (key, members) in groups {
        let mut row = Record::new();
        for (f, v) in s.group_by.iter().zip(key) {
            row.insert(*f, v);
        }
        for (alias, f) in &s.aggs {
            let values = |field: &str| -> Vec<Value> {
                members
                    .iter()
                    .filter_map(|r| present(r, field).cloned())
                    .collect()
            };
            let out = match f {
                AggregateFn::Count => Value::Int(members.len() as i64),
                AggregateFn::CountOf(field) => Value::Int(values(field).len() as i64),
                AggregateFn::Sum(field) | AggregateFn::Avg(field) => {
                    let vs = values(field);
                    let all_ints = vs.iter().all(|v| matches!(v, Value::Int(_)));
                    let total: f64 = vs.iter().map(|v| v.as_double().unwrap()).sum();
                    match f {
                        AggregateFn::Sum(_) if all_ints => {
                            Value::Int(vs.iter().map(|v| v.as_int().unwrap()).sum())
                        }
                        AggregateFn::Sum(_) => Value::Double(total),
                        _ if vs.is_empty() => Value::Null,
                        _ => Value::Double(total / vs.len() as f64),
                    }
                }
                AggregateFn::Min(field) => values(field)
                    .into_iter()
                    .min_by(naive_cmp)
                    .unwrap_or(Value::Null),
                AggregateFn::Max(field) => values(field)
                    .into_iter()
                    .max_by(naive_cmp)
                    .unwrap_or(Value::Null),
            };
            row.insert(alias.clone(), out);
        }
        rows.push(row);
    }
    if let Some(c) = s.having_min_count {
        rows.retain(|r| {
            r.get("count")
                .and_then(Value::as_int)
                .is_some_and(|n| n >= c)
        });
    }
    if s.order_desc_by_count {
        rows.sort_by_key(|r| std::cmp::Reverse(r.get("count").and_then(Value::as_int)));
    }
    rows.into_iter()
        .skip(s.offset)
        .take(s.limit.unwrap_or(usize::MAX))
        .collect()
}

#[test]
fn random_aggregations_match_a_naive_evaluator() {
    let (_d, db) = open();
    let mut rng = StdRng::seed_from_u64(0xA66_2E6A);
    let records: Vec<Record> = (0..400).map(|_| random_record(&mut rng)).collect();
    db.insert_many("r", records).unwrap();
    let stored = db.all("r").unwrap();
    let mut nonempty = 0;
    for i in 0..300 {
        let spec = random_spec(&mut rng);
        let got = db.aggregate(&build(&spec, "r")).unwrap();
        let want = naive(&stored, &spec);
        if let Some(at) = (0..got.len().max(want.len())).find(|&k| got.get(k) != want.get(k)) {
            panic!(
                "spec #{i}: {spec:?}\n{} rows, expected {}; first difference at row {at}:\n got  {:?}\n want {:?}",
                got.len(),
                want.len(),
                got.get(at),
                want.get(at)
            );
        }
        nonempty += usize::from(!got.is_empty());
        // distinct over the same fields gives the group keys, in the same order.
        if !spec.group_by.is_empty() && spec.filter_min_n.is_none() {
            let tuples = db
                .distinct_fields(&Query::new("r"), &spec.group_by)
                .unwrap();
            let mut keys_spec = spec.clone();
            keys_spec.aggs.clear();
            keys_spec.having_min_count = None;
            keys_spec.order_desc_by_count = false;
            keys_spec.offset = 0;
            keys_spec.limit = None;
            let keys: Vec<Vec<Value>> = naive(&stored, &keys_spec)
                .into_iter()
                .map(|r| {
                    spec.group_by
                        .iter()
                        .map(|f| r.get(f).cloned().unwrap())
                        .collect()
                })
                .collect();
            assert_eq!(tuples, keys, "distinct of {:?}", spec.group_by);
        }
    }
    // The specs must actually produce rows most of the time, or the test proves little.
    assert!(nonempty > 150, "only {nonempty} specs gave rows");
}
