//! Round trips through both dump formats.
//!
//! * Lossless: export → verify → restore into a fresh database gives back every collection
//!   and every record bit for bit, across all 11 value kinds (NaN, -0.0, nanosecond dates
//!   in any year, empty vectors and keys that look like JSON tags included).
//! * Upstream v1: export → verify → restore gives back exactly what
//!   `upstream_v1::round_trip` says (the documented v1 type limits), and nothing else.

mod common;

use std::collections::BTreeMap;

use blazedb::dump::{self, DumpFormat, HashCheck, lossless, upstream_v1};
use blazedb::{Database, Options, Record, Timestamp, Uuid, Value};
use common::{any_value, calendar_value, record_with, same_bits};
use proptest::prelude::*;

fn open(dir: &std::path::Path, name: &str) -> Database {
    Database::open(dir.join(name), Options::default().stamp_fields(false)).unwrap()
}

fn with_id(mut r: Record, id: u128) -> Record {
    r.insert("id", Value::Uuid(Uuid::from_u128(id)));
    r
}

fn assert_same(a: &[Record], b: &[Record]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (
            Value::Dictionary(x.fields().clone()),
            Value::Dictionary(y.fields().clone()),
        );
        assert!(same_bits(&x, &y), "\n{x:?}\n!=\n{y:?}");
    }
}

fn every_kind() -> Record {
    let mut dict = BTreeMap::new();
    dict.insert("$date".to_string(), Value::Int(1));
    Record::new()
        .with("id", Uuid::from_u128(7))
        .with("string", "naïve 日本語 ✓ \"quoted\" \\ / \n")
        .with("int", i64::MIN)
        .with("double", 1.0)
        .with("negzero", -0.0)
        .with("nan", f64::NAN)
        .with("inf", f64::NEG_INFINITY)
        .with("bool", true)
        .with("date", Timestamp::new(-62_135_596_801, 123_456_789))
        .with("far", Timestamp::new(i64::MAX / 2, 999_999_999))
        .with("uuid", Uuid::from_u128(u128::MAX))
        .with("data", vec![0u8, 255, 1, 2])
        .with("empty_data", Vec::<u8>::new())
        .with(
            "array",
            vec![Value::Int(1), Value::Double(1.5), Value::Null],
        )
        .with("numbers", vec![Value::Int(1), Value::Int(2)])
        .with("dict", dict)
        .with("vector", vec![0.5, -0.0, f64::MAX])
        .with("empty_vector", Vec::<f64>::new())
        .with("null", Value::Null)
}

#[test]
fn every_kind_survives_a_lossless_round_trip_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let src = open(dir.path(), "src.blazedb");
    src.insert("kinds", every_kind()).unwrap();
    src.insert_many(
        "other",
        (1..=3u128)
            .map(|i| with_id(Record::new().with("n", i as i64), i))
            .collect(),
    )
    .unwrap();
    let path = dir.path().join("all.blazedump");
    let report = dump::export(&src, &path).unwrap();
    assert_eq!(report.format, DumpFormat::Lossless);
    assert_eq!(report.records, 4);

    let info = dump::verify(&path).unwrap();
    assert_eq!(info.format, DumpFormat::Lossless);
    assert_eq!(info.hash_check, HashCheck::Exact);
    assert_eq!(info.record_count, 4);
    assert_eq!(
        info.collections
            .iter()
            .map(|c| (c.name.as_str(), c.records))
            .collect::<Vec<_>>(),
        vec![("kinds", 1), ("other", 3)]
    );
    assert_eq!(info.header_sha256, report.header_sha256);
    assert_eq!(info.payload_sha256, report.payload_sha256);
    assert_eq!(info.source, "src.blazedb");

    let dst = open(dir.path(), "dst.blazedb");
    let restored = lossless::restore(&path, &dst).unwrap();
    assert_eq!(restored.records, 4);
    assert_same(&dst.all("kinds").unwrap(), &src.all("kinds").unwrap());
    assert_same(&dst.all("other").unwrap(), &src.all("other").unwrap());

    // One collection of a multi-collection dump, under another name.
    let third = open(dir.path(), "third.blazedb");
    lossless::restore_collection(&path, &third, "other", "renamed").unwrap();
    assert_eq!(third.collections().unwrap(), vec!["renamed".to_string()]);
    assert_same(&third.all("renamed").unwrap(), &src.all("other").unwrap());
    // The generic restore wants a single-collection dump.
    assert!(matches!(
        dump::restore(&path, &third, "x"),
        Err(blazedb::Error::InvalidInput(_))
    ));
}

#[test]
fn selected_collections_and_soft_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let src = open(dir.path(), "src.blazedb");
    let ids = src
        .insert_many(
            "a",
            (1..=4u128).map(|i| with_id(Record::new(), i)).collect(),
        )
        .unwrap();
    src.insert("b", with_id(Record::new(), 9)).unwrap();
    src.soft_delete("a", ids[0]).unwrap();
    let path = dir.path().join("a.blazedump");
    let report = lossless::export(&src, &["a"], &path).unwrap();
    assert_eq!(report.records, 3, "soft-deleted records are left out");
    let dst = open(dir.path(), "dst.blazedb");
    dump::restore(&path, &dst, "a2").unwrap();
    assert_eq!(dst.collections().unwrap(), vec!["a2".to_string()]);
    assert_same(&dst.all("a2").unwrap(), &src.all("a").unwrap());
}

fn collections() -> impl Strategy<Value = Vec<Vec<Record>>> {
    prop::collection::vec(prop::collection::vec(record_with(any_value()), 0..6), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn lossless_round_trip_of_random_databases(cols in collections()) {
        let dir = tempfile::tempdir().unwrap();
        let src = open(dir.path(), "src.blazedb");
        let mut next = 1u128;
        for (i, recs) in cols.iter().enumerate() {
            let recs: Vec<Record> = recs.iter().cloned().map(|r| { next += 1; with_id(r, next) }).collect();
            src.insert_many(&format!("c{i}"), recs).unwrap();
        }
        let path = dir.path().join("p.blazedump");
        dump::export(&src, &path).unwrap();
        let dst = open(dir.path(), "dst.blazedb");
        lossless::restore(&path, &dst).unwrap();
        prop_assert_eq!(dst.collections().unwrap(), src.collections().unwrap());
        for c in src.collections().unwrap() {
            assert_same(&dst.all(&c).unwrap(), &src.all(&c).unwrap());
        }
    }

    #[test]
    fn upstream_v1_round_trip_changes_only_what_the_v1_limits_say(
        recs in prop::collection::vec(record_with(calendar_value()), 0..6)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let src = open(dir.path(), "src.blazedb");
        let recs: Vec<Record> = recs
            .into_iter()
            .enumerate()
            .map(|(i, r)| with_id(exportable(r), i as u128 + 1))
            .collect();
        src.insert_many("bugs", recs).unwrap();
        let path = dir.path().join("v1.blazedump");
        upstream_v1::export(&src, "bugs", &path).unwrap();
        let info = dump::verify(&path).unwrap();
        prop_assert_eq!(info.format, DumpFormat::UpstreamV1);
        prop_assert_eq!(info.hash_check, HashCheck::Exact);
        let dst = open(dir.path(), "dst.blazedb");
        dump::restore(&path, &dst, "bugs").unwrap();
        let want: Vec<Record> = src
            .all("bugs")
            .unwrap()
            .into_iter()
            .map(|r| r.into_iter().map(|(k, v)| (k, upstream_v1::round_trip(&v))).collect())
            .collect();
        assert_same(&dst.all("bugs").unwrap(), &want);
    }
}

/// Replaces what v1 cannot carry at all (non-finite doubles) with finite values.
fn exportable(r: Record) -> Record {
    fn fix(v: Value) -> Value {
        match v {
            Value::Double(d) if !d.is_finite() => Value::Double(0.25),
            Value::Vector(xs) => Value::Vector(
                xs.into_iter()
                    .map(|x| if x.is_finite() { x } else { 0.25 })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(fix).collect()),
            Value::Dictionary(d) => {
                Value::Dictionary(d.into_iter().map(|(k, v)| (k, fix(v))).collect())
            }
            other => other,
        }
    }
    r.into_iter().map(|(k, v)| (k, fix(v))).collect()
}

#[test]
fn upstream_v1_export_of_every_kind_is_what_upstream_reads() {
    let dir = tempfile::tempdir().unwrap();
    let src = open(dir.path(), "src.blazedb");
    let r = Record::new()
        .with("id", Uuid::from_u128(42))
        .with("data", vec![0u8, 255])
        .with("date", Timestamp::new(1_700_000_000, 750_000_000))
        .with("whole", 3.0)
        .with("numbers", vec![Value::Int(1), Value::Double(2.5)])
        .with("uuid_text", "6DF6CE16-570C-4012-BC6D-77D83CAF741F")
        .with("date_text", "2026-01-22T10:00:00Z")
        .with("vector", vec![0.1, 2.0]);
    src.insert("k", r).unwrap();
    let path = dir.path().join("k.blazedump");
    upstream_v1::export(&src, "k", &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\"header\":{\"databaseId\":\""), "{text}");
    assert!(text.contains("\"data\":\"AP8=\""), "{text}");
    assert!(text.contains("\"date\":\"2023-11-14T22:13:20Z\""), "{text}");
    assert!(text.contains("\"whole\":3}"), "{text}");
    assert!(text.contains("\"toolVersion\":\"BlazeDB-1.0\""), "{text}");
    let dst = open(dir.path(), "dst.blazedb");
    dump::restore(&path, &dst, "k").unwrap();
    let got = dst.get("k", Uuid::from_u128(42)).unwrap().unwrap();
    assert_eq!(got.get("data"), Some(&Value::from("AP8=")));
    assert_eq!(
        got.get("date"),
        Some(&Value::Date(Timestamp::new(1_700_000_000, 0)))
    );
    assert_eq!(got.get("whole"), Some(&Value::Int(3)));
    assert_eq!(got.get("numbers"), Some(&Value::Vector(vec![1.0, 2.5])));
    assert!(matches!(got.get("uuid_text"), Some(Value::Uuid(_))));
    assert!(matches!(got.get("date_text"), Some(Value::Date(_))));
    assert_eq!(got.get("vector"), Some(&Value::Vector(vec![0.1, 2.0])));
}
