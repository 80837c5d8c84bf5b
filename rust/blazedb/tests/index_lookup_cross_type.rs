//! An equality answered from an index returns exactly what a scan returns, for every value
//! kind the cross-type rules touch. Equalities on strings, booleans and uuids are trusted
//! to the index (the filter is not rechecked); numbers, dates and null are rechecked, and
//! these records are the ones a trusted index would get wrong. Counts of trusted lookups
//! are read off the index without fetching records, and must agree too.

use blazedb::{
    Database, Filter, IndexSpec, Options, Query, Record, Strategy, Timestamp, Uuid, Value,
};

const INDEXED: &str = "indexed";
const PLAIN: &str = "plain";

fn values() -> Vec<Option<Value>> {
    let u = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    vec![
        Some(Value::from("abc")),
        Some(Value::from("ABC")),
        Some(Value::Uuid(u)),
        Some(Value::from(u.to_string())),
        Some(Value::from(u.braced().to_string().to_uppercase())),
        Some(Value::from(u.simple().to_string())),
        Some(Value::Int(5)),
        Some(Value::Double(5.0)),
        // Inside the ±1 ms band an equality on 5 reads, but not equal to 5.
        Some(Value::Double(5.0005)),
        Some(Value::Date(
            Timestamp::from_apple_reference_seconds(5.0).expect("in range"),
        )),
        Some(Value::Bool(true)),
        Some(Value::Bool(false)),
        Some(Value::Int(1)),
        Some(Value::Null),
        // Missing: shares the index's null tag, and fails an equality on null.
        None,
        Some(Value::Array(vec![Value::from("abc")])),
        Some(Value::Array(vec![Value::Double(f64::NAN)])),
    ]
}

fn fill(db: &Database) {
    db.create_index(INDEXED, IndexSpec::on("f")).unwrap();
    for (i, v) in values().into_iter().enumerate() {
        for c in [INDEXED, PLAIN] {
            let mut r = Record::new().with("i", i as i64);
            if let Some(v) = &v {
                r.insert("f", v.clone());
            }
            db.insert(c, r).unwrap();
        }
    }
}

fn positions(db: &Database, c: &str, f: &Filter) -> Vec<i64> {
    let mut out: Vec<i64> = db
        .query(&Query::new(c).filter(f.clone()))
        .unwrap()
        .iter()
        .map(|r| match r.get("i") {
            Some(Value::Int(i)) => *i,
            other => panic!("no position: {other:?}"),
        })
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn an_indexed_equality_returns_what_a_scan_returns() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("x.blazedb"), Options::default()).unwrap();
    fill(&db);
    let u = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let mut probes: Vec<Value> = values().into_iter().flatten().collect();
    probes.extend([
        Value::Uuid(u),
        Value::from(u.hyphenated().to_string().to_uppercase()),
        Value::Double(5.0004),
        Value::from("missing"),
    ]);
    let mut checked = 0;
    for v in &probes {
        let mut filters = vec![Filter::eq("f", v.clone())];
        filters.push(Filter::is_in("f", vec![v.clone(), Value::from("abc")]));
        for f in filters {
            let plan = db.explain(&Query::new(INDEXED).filter(f.clone())).unwrap();
            let expected = positions(&db, PLAIN, &f);
            let got = positions(&db, INDEXED, &f);
            assert_eq!(got, expected, "{f:?} ({plan})");
            // A count of an exact lookup is read off the index alone: still the same.
            let count = db
                .query_count(&Query::new(INDEXED).filter(f.clone()))
                .unwrap();
            assert_eq!(count, expected.len() as u64, "count of {f:?}");
            if plan.strategy == Strategy::IndexLookup {
                checked += 1;
            }
        }
    }
    // Most probes must have gone through the index, or this test checks nothing.
    assert!(
        checked * 4 >= probes.len() * 2 * 3,
        "only {checked} lookups"
    );
}

#[test]
fn a_number_equality_on_an_index_still_rechecks_the_band() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("x.blazedb"), Options::default()).unwrap();
    fill(&db);
    let f = Filter::eq("f", 5i64);
    // 5, 5.0 and the date 5 s after 2001-01-01: not 5.0005.
    assert_eq!(positions(&db, INDEXED, &f), vec![6, 7, 9]);
    let f = Filter::eq("f", Value::Null);
    assert_eq!(positions(&db, INDEXED, &f), vec![13]);
}
