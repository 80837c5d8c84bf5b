//! Scenario: values and records to and from JSON.
//!
//! The plain mapping loses exactly what its documentation says it loses and never guesses
//! a kind back from a string; the tagged mapping is lossless for all 11 kinds; malformed
//! tagged input and non-object records are `InvalidData`.

mod common;

use std::collections::BTreeMap;

use blazedb::json::{
    from_json, from_tagged_json, record_from_json, record_to_json, to_json, to_tagged_json,
};
use blazedb::{Error, MAX_DEPTH, Record, Timestamp, Uuid, Value, ValueKind};
use common::{calendar_value, same_bits};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value as Json, json};

const U: &str = "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9";

fn uuid() -> Uuid {
    Uuid::parse_str(U).unwrap()
}

fn dict(entries: &[(&str, Value)]) -> Value {
    Value::Dictionary(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn tagged_round_trip(v: &Value) -> Value {
    from_tagged_json(&to_tagged_json(v)).unwrap_or_else(|e| panic!("{v:?}: {e:?}"))
}

/// Through JSON text, as a dump file would carry it.
fn tagged_text_round_trip(v: &Value) -> Value {
    let text = serde_json::to_string(&to_tagged_json(v)).unwrap();
    let parsed: Json = serde_json::from_str(&text).unwrap();
    from_tagged_json(&parsed).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

fn is_invalid_data<T: std::fmt::Debug>(r: blazedb::Result<T>) -> bool {
    matches!(r, Err(Error::InvalidData(_)))
}

// --- plain mapping ----------------------------------------------------------------------

#[test]
fn plain_dates_become_rfc3339_strings() {
    // 1_700_000_000 s after the epoch is 2023-11-14T22:13:20Z.
    let cases = [
        (Timestamp::new(1_700_000_000, 0), "2023-11-14T22:13:20Z"),
        (
            Timestamp::new(1_700_000_000, 123_000_000),
            "2023-11-14T22:13:20.123Z",
        ),
        (
            Timestamp::new(1_700_000_000, 123_456_000),
            "2023-11-14T22:13:20.123456Z",
        ),
        (
            Timestamp::new(1_700_000_000, 5),
            "2023-11-14T22:13:20.000000005Z",
        ),
        (Timestamp::new(0, 0), "1970-01-01T00:00:00Z"),
        (Timestamp::new(-1, 500_000_000), "1969-12-31T23:59:59.500Z"),
    ];
    for (t, text) in cases {
        assert_eq!(to_json(&Value::Date(t)), json!(text));
        // Never sniffed back: the string stays a string.
        assert_eq!(from_json(&json!(text)).unwrap(), Value::String(text.into()));
        // The text does name the same instant.
        assert_eq!(Timestamp::parse_rfc3339(text), Some(t));
    }
}

#[test]
fn plain_uuid_data_vector_and_non_finite_lose_their_kind() {
    assert_eq!(to_json(&Value::Uuid(uuid())), json!(U));
    assert_eq!(from_json(&json!(U)).unwrap(), Value::String(U.into()));

    assert_eq!(to_json(&Value::Data(b"hello".to_vec())), json!("aGVsbG8="));
    assert_eq!(to_json(&Value::Data(vec![])), json!(""));
    assert_eq!(to_json(&Value::Data(vec![0xFF, 0x00, 0xFE])), json!("/wD+"));
    assert_eq!(
        from_json(&json!("aGVsbG8=")).unwrap(),
        Value::String("aGVsbG8=".into())
    );

    let vector = Value::Vector(vec![1.5, -0.25, 3.0]);
    let j = to_json(&vector);
    assert_eq!(j, json!([1.5, -0.25, 3.0]));
    let back = from_json(&j).unwrap();
    assert_eq!(back.kind(), ValueKind::Array);
    assert_eq!(
        back,
        Value::Array(vec![
            Value::Double(1.5),
            Value::Double(-0.25),
            Value::Double(3.0)
        ])
    );

    for d in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(to_json(&Value::Double(d)), Json::Null);
    }
    assert_eq!(
        to_json(&Value::Vector(vec![1.5, f64::NAN, f64::INFINITY])),
        json!([1.5, null, null])
    );
    assert_eq!(from_json(&Json::Null).unwrap(), Value::Null);
}

#[test]
fn plain_keeps_json_native_kinds() {
    let v = dict(&[
        ("s", Value::String("héllo \"q\"".into())),
        ("min", Value::Int(i64::MIN)),
        ("max", Value::Int(i64::MAX)),
        ("half", Value::Double(0.5)),
        ("t", Value::Bool(true)),
        ("f", Value::Bool(false)),
        ("n", Value::Null),
        (
            "nested",
            Value::Array(vec![dict(&[("x", Value::Int(1))]), Value::Array(vec![])]),
        ),
    ]);
    let j = to_json(&v);
    assert_eq!(
        j,
        json!({
            "s": "héllo \"q\"", "min": i64::MIN, "max": i64::MAX, "half": 0.5,
            "t": true, "f": false, "n": null, "nested": [{"x": 1}, []]
        })
    );
    assert_eq!(from_json(&j).unwrap(), v);
    // Integers that fit i64 are Int; the rest are Double.
    assert_eq!(from_json(&json!(42)).unwrap(), Value::Int(42));
    assert_eq!(from_json(&json!(-7)).unwrap(), Value::Int(-7));
    assert_eq!(
        from_json(&json!(u64::MAX)).unwrap(),
        Value::Double(u64::MAX as f64)
    );
    assert_eq!(from_json(&json!(2.5)).unwrap(), Value::Double(2.5));
}

#[test]
fn plain_reading_never_sniffs_strings_or_tags() {
    for s in [
        "2024-01-01T00:00:00Z",
        "2024-01-01",
        U,
        "{0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9}",
        "aGVsbG8=",
        "42",
        "1.5",
        "NaN",
        "true",
        "null",
        "",
    ] {
        assert_eq!(
            from_json(&json!(s)).unwrap(),
            Value::String(s.into()),
            "{s}"
        );
    }
    // Plain reading does not interpret tag objects either.
    let tagged = json!({"$uuid": U});
    assert_eq!(
        from_json(&tagged).unwrap(),
        dict(&[("$uuid", Value::String(U.into()))])
    );
    let tagged = json!({"$date": "2024-01-01T00:00:00Z"});
    assert_eq!(from_json(&tagged).unwrap().kind(), ValueKind::Dictionary);
}

#[test]
fn plain_nesting_deeper_than_max_depth_is_invalid_data() {
    let mut j = json!(1);
    for _ in 0..MAX_DEPTH + 10 {
        j = json!([j]);
    }
    assert!(is_invalid_data(from_json(&j)));
    assert!(is_invalid_data(from_tagged_json(&j)));
    let mut shallow = json!(1);
    for _ in 0..10 {
        shallow = json!({ "k": shallow });
    }
    assert!(from_json(&shallow).is_ok());
    assert!(from_tagged_json(&shallow).is_ok());
}

// --- records ----------------------------------------------------------------------------

#[test]
fn record_from_json_needs_an_object() {
    for j in [
        json!([]),
        json!([1, 2]),
        json!(1),
        json!("s"),
        json!(null),
        json!(true),
    ] {
        assert!(is_invalid_data(record_from_json(&j)), "{j}");
    }
    let r = record_from_json(
        &json!({"title": "x", "n": 3, "tags": ["a"], "at": "2024-01-01T00:00:00Z"}),
    )
    .unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r.get("title"), Some(&Value::String("x".into())));
    assert_eq!(r.get("n"), Some(&Value::Int(3)));
    assert_eq!(
        r.get("tags"),
        Some(&Value::Array(vec![Value::String("a".into())]))
    );
    assert_eq!(r.get("at").unwrap().kind(), ValueKind::String);
    assert_eq!(record_from_json(&json!({})).unwrap(), Record::new());
}

#[test]
fn record_to_json_maps_every_field_plainly() {
    let r = Record::new()
        .with("id", uuid())
        .with("title", "Crash")
        .with("priority", 2)
        .with("score", 0.75)
        .with("open", true)
        .with("at", Timestamp::new(1_700_000_000, 0))
        .with("blob", b"hello".to_vec())
        .with("none", Value::Null);
    assert_eq!(
        record_to_json(&r),
        json!({
            "id": U, "title": "Crash", "priority": 2, "score": 0.75, "open": true,
            "at": "2023-11-14T22:13:20Z", "blob": "aGVsbG8=", "none": null
        })
    );
    // The JSON-native fields come back as they were; the others come back as strings.
    let back = record_from_json(&record_to_json(&r)).unwrap();
    for k in ["title", "priority", "score", "open", "none"] {
        assert_eq!(back.get(k), r.get(k), "{k}");
    }
    assert_eq!(back.get("id"), Some(&Value::String(U.into())));
    assert_eq!(
        back.id(),
        Some(uuid()),
        "a string id still reads as the uuid"
    );
}

// --- tagged mapping -----------------------------------------------------------------------

#[test]
fn tagged_keeps_integral_doubles_doubles() {
    for d in [1.0, 0.0, -3.0, 1e300, -1e15, 2f64.powi(53), f64::MAX] {
        let v = Value::Double(d);
        let j = to_tagged_json(&v);
        assert!(
            !j.is_number(),
            "integral double {d} written as a bare number would read back as Int: {j}"
        );
        assert_eq!(j.as_object().map(|o| o.len()), Some(1), "{j}");
        assert!(j.get("$double").is_some(), "{j}");
        let back = tagged_round_trip(&v);
        assert_eq!(back.kind(), ValueKind::Double, "{d}");
        assert_eq!(back, v);
        assert_eq!(tagged_text_round_trip(&v), v);
    }
    // And an Int stays an Int, so 1 and 1.0 stay apart.
    assert_eq!(tagged_round_trip(&Value::Int(1)), Value::Int(1));
    assert_eq!(to_tagged_json(&Value::Int(1)), json!(1));
    // Negative zero keeps its sign.
    let back = tagged_round_trip(&Value::Double(-0.0));
    assert!(same_bits(&back, &Value::Double(-0.0)), "{back:?}");
    let back = tagged_text_round_trip(&Value::Double(-0.0));
    assert!(same_bits(&back, &Value::Double(-0.0)), "{back:?}");
}

#[test]
fn tagged_non_finite_doubles_round_trip() {
    let back = tagged_round_trip(&Value::Double(f64::NAN));
    assert!(matches!(back, Value::Double(d) if d.is_nan()), "{back:?}");
    let back = tagged_text_round_trip(&Value::Double(f64::NAN));
    assert!(matches!(back, Value::Double(d) if d.is_nan()), "{back:?}");
    for d in [f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(tagged_round_trip(&Value::Double(d)), Value::Double(d));
        assert_eq!(tagged_text_round_trip(&Value::Double(d)), Value::Double(d));
    }
    let v = Value::Vector(vec![f64::NAN, f64::INFINITY, 2.0, 0.5, f64::NEG_INFINITY]);
    match tagged_text_round_trip(&v) {
        Value::Vector(x) => {
            assert_eq!(x.len(), 5);
            assert!(x[0].is_nan());
            assert_eq!(&x[1..], &[f64::INFINITY, 2.0, 0.5, f64::NEG_INFINITY]);
        }
        other => panic!("vector came back as {other:?}"),
    }
    // Tagged JSON holds no nulls for doubles.
    assert!(!to_tagged_json(&v).to_string().contains("null"));
}

#[test]
fn tagged_round_trips_each_kind() {
    let date = Timestamp::new(1_700_000_000, 123_456_789);
    let values = [
        Value::String("plain".into()),
        Value::String("2024-01-01T00:00:00Z".into()),
        Value::String(U.into()),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::Double(0.1),
        Value::Double(5e-324),
        Value::Bool(true),
        Value::Bool(false),
        Value::Date(date),
        Value::Date(Timestamp::new(-62_135_596_800, 0)), // 0001-01-01, Swift's distantPast
        Value::Date(Timestamp::new(64_092_211_200, 0)),  // 4001-01-01, Swift's distantFuture
        Value::Uuid(uuid()),
        Value::Uuid(Uuid::nil()),
        Value::Data(vec![]),
        Value::Data((0..=255u8).collect()),
        Value::Vector(vec![]),
        Value::Vector(vec![1.0, -2.5, 3.25]),
        Value::Array(vec![]),
        Value::Dictionary(BTreeMap::new()),
        Value::Null,
    ];
    for v in &values {
        let back = tagged_round_trip(v);
        assert_eq!(&back, v);
        assert_eq!(back.kind(), v.kind());
        assert_eq!(&tagged_text_round_trip(v), v);
    }
    // All of them at once, nested in an array and a dictionary.
    let all = Value::Array(values.to_vec());
    assert_eq!(tagged_round_trip(&all), all);
    let nested = dict(&[
        ("list", all.clone()),
        ("deeper", dict(&[("again", dict(&[("v", all.clone())]))])),
    ]);
    assert_eq!(tagged_round_trip(&nested), nested);
    assert_eq!(tagged_text_round_trip(&nested), nested);
}

#[test]
fn tagged_dictionary_that_looks_like_a_tag_is_kept() {
    let cases = [
        dict(&[("$uuid", Value::String("nope".into()))]),
        dict(&[("$uuid", Value::String(U.into()))]),
        dict(&[("$date", Value::Int(5))]),
        dict(&[("$data", Value::String("!!!".into()))]),
        dict(&[("$double", Value::String("NaN".into()))]),
        dict(&[("$vector", Value::Array(vec![]))]),
        dict(&[("$dict", Value::Int(1))]),
        dict(&[("$dict", dict(&[("$dict", Value::Null)]))]),
        dict(&[("$", Value::Null)]),
        dict(&[("$custom", Value::Uuid(uuid()))]),
        // Two `$` keys are not a tag, but must come back the same too.
        dict(&[("$uuid", Value::Int(1)), ("$date", Value::Int(2))]),
        dict(&[("uuid", Value::String(U.into()))]),
    ];
    for v in &cases {
        let back = tagged_round_trip(v);
        assert_eq!(&back, v);
        assert_eq!(&tagged_text_round_trip(v), v);
    }
    // And an array of them.
    let arr = Value::Array(cases.to_vec());
    assert_eq!(tagged_round_trip(&arr), arr);
}

#[test]
fn tagged_dates_keep_nanoseconds() {
    for nanos in [0, 1, 999, 1_000, 123_456, 1_000_000, 999_999_999] {
        let v = Value::Date(Timestamp::new(1_234_567_890, nanos));
        assert_eq!(tagged_text_round_trip(&v), v, "nanos {nanos}");
    }
    // Before 1970 the nanoseconds still count forward from the second.
    let v = Value::Date(Timestamp::new(-1, 1));
    assert_eq!(tagged_round_trip(&v), v);
}

/// A stored date is any `Timestamp`; the binary codec keeps all of them. A dump must too.
#[test]
fn tagged_round_trips_dates_outside_years_0000_to_9999() {
    let dates = [
        Timestamp::new(253_402_300_800, 0), // 10000-01-01T00:00:00Z
        Timestamp::new(253_402_300_800 + 86_400, 5), // a day later, plus 5 ns
        Timestamp::new(-62_167_219_201, 0), // 1 s before 0000-01-01
        Timestamp::new(-100_000_000_000, 250), // year -1199
        Timestamp::new(i64::MAX, 999_999_999),
        Timestamp::new(i64::MIN, 0),
    ];
    for t in dates {
        let v = Value::Date(t);
        let bytes = blazedb::codec::encode_value(&v).unwrap();
        assert_eq!(blazedb::codec::decode_value(&bytes).unwrap(), v);
        let j = to_tagged_json(&v);
        match from_tagged_json(&j) {
            Ok(back) => assert_eq!(back, v, "{j}"),
            Err(e) => panic!("secs {}: {j} does not read back: {e:?}", t.unix_seconds()),
        }
    }
}

/// Tagged JSON is for dumps, which are text: every double must survive the text too.
#[test]
fn tagged_json_text_keeps_every_double_bit_for_bit() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xD0_0B1E);
    let mut lost = Vec::new();
    let mut tried = 0;
    while tried < 2_000 {
        let d = f64::from_bits(rng.r#gen::<u64>());
        if d.is_nan() {
            continue;
        }
        tried += 1;
        let v = Value::Double(d);
        let back = tagged_text_round_trip(&v);
        if !same_bits(&back, &v) {
            lost.push((d, back));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {tried} doubles changed through tagged JSON text, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
}

#[test]
fn malformed_tagged_input_is_invalid_data() {
    let bad = [
        json!({"$uuid": "nope"}),
        json!({"$uuid": 5}),
        json!({"$uuid": null}),
        json!({"$date": 5}),
        json!({"$date": "yesterday"}),
        json!({"$date": "2024-13-01T00:00:00Z"}),
        json!({"$data": "!!!"}),
        json!({"$data": "aGVsbG8"}), // padding missing
        json!({"$data": ["aGVsbG8="]}),
        json!({"$vector": "1,2"}),
        json!({"$vector": ["a"]}),
        json!({"$vector": [1, null]}),
        json!({"$double": "abc"}),
        json!({"$double": true}),
        json!({"$dict": 3}),
        json!([1, {"$uuid": "nope"}]),
        json!({"outer": {"$date": 5}}),
    ];
    for j in bad {
        assert!(is_invalid_data(from_tagged_json(&j)), "{j} was accepted");
    }
}

// --- properties --------------------------------------------------------------------------

fn kinds_in(v: &Value, out: &mut Vec<ValueKind>) {
    out.push(v.kind());
    match v {
        Value::Array(a) => a.iter().for_each(|x| kinds_in(x, out)),
        Value::Dictionary(d) => d.values().for_each(|x| kinds_in(x, out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    #[test]
    fn tagged_mapping_is_lossless(v in calendar_value()) {
        let j = to_tagged_json(&v);
        let back = from_tagged_json(&j).unwrap();
        prop_assert_eq!(&back, &v, "via {}", j);
        prop_assert!(same_bits(&back, &v), "via {}", j);
    }

    #[test]
    fn plain_mapping_gives_only_json_kinds(v in calendar_value()) {
        let back = from_json(&to_json(&v)).unwrap();
        let mut kinds = Vec::new();
        kinds_in(&back, &mut kinds);
        for k in kinds {
            prop_assert!(
                !matches!(k, ValueKind::Date | ValueKind::Uuid | ValueKind::Data | ValueKind::Vector),
                "plain JSON produced {:?}", k
            );
        }
        // Applying the plain mapping again changes nothing: it is a projection.
        prop_assert_eq!(from_json(&to_json(&back)).unwrap(), back);
    }
}
