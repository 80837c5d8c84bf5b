//! Proptest strategies shared by `encoding_props` and `json_mapping`.
//!
//! Every strategy covers all 11 value kinds. Doubles never include NaN (IEEE equality would
//! make a NaN-holding value unequal to itself); NaN has tests of its own, compared by bits.

#![allow(dead_code)]

use std::collections::BTreeMap;

use blazedb::{Record, Timestamp, Uuid, Value};
use proptest::prelude::*;

/// First second of year 0000 and last second of year 9999: the range RFC 3339 can write.
pub const RFC3339_MIN_SECS: i64 = -62_167_219_200;
pub const RFC3339_MAX_SECS: i64 = 253_402_300_799;

/// Any double but NaN: normal, subnormal, zero (both signs) and the infinities.
pub fn non_nan_f64() -> BoxedStrategy<f64> {
    use proptest::num::f64 as f;
    (f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO | f::INFINITE)
        .prop_filter("no NaN", |d| !d.is_nan())
        .boxed()
}

/// Any timestamp the type can hold: all of `i64` seconds, any nanosecond.
pub fn any_timestamp() -> BoxedStrategy<Timestamp> {
    prop_oneof![
        (any::<i64>(), 0u32..1_000_000_000),
        // Dates near today, where most real data lives.
        (1_000_000_000i64..2_000_000_000, 0u32..1_000_000_000),
    ]
    .prop_map(|(s, n)| Timestamp::new(s, n))
    .boxed()
}

/// Timestamps in years 0000 to 9999 (what RFC 3339 text can name).
pub fn calendar_timestamp() -> BoxedStrategy<Timestamp> {
    (RFC3339_MIN_SECS..=RFC3339_MAX_SECS, 0u32..1_000_000_000)
        .prop_map(|(s, n)| Timestamp::new(s, n))
        .boxed()
}

/// Arbitrary Unicode text of up to 12 characters (faster to generate than a regex).
pub fn text() -> BoxedStrategy<String> {
    prop::collection::vec(any::<char>(), 0..12)
        .prop_map(|c| c.into_iter().collect())
        .boxed()
}

/// Dictionary keys: arbitrary text, plus keys that look like tags of the JSON mapping.
pub fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => text(),
        2 => prop::sample::select(vec!["a", "b", "name", "x.y", ""]).prop_map(str::to_string),
        1 => text().prop_map(|t| format!("${t}")),
        1 => prop::sample::select(vec!["$date", "$uuid", "$data", "$vector", "$double", "$dict"])
            .prop_map(str::to_string),
    ]
    .boxed()
}

/// Scalar-ish values: every kind but array and dictionary.
pub fn leaf(dates: BoxedStrategy<Timestamp>) -> BoxedStrategy<Value> {
    prop_oneof![
        text().prop_map(Value::String),
        any::<i64>().prop_map(Value::Int),
        non_nan_f64().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Bool),
        dates.prop_map(Value::Date),
        any::<u128>().prop_map(|u| Value::Uuid(Uuid::from_u128(u))),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Data),
        prop::collection::vec(non_nan_f64(), 0..6).prop_map(Value::Vector),
        Just(Value::Null),
    ]
    .boxed()
}

/// All 11 kinds, arrays and dictionaries nested a few levels deep.
pub fn value_with(dates: BoxedStrategy<Timestamp>) -> BoxedStrategy<Value> {
    leaf(dates)
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..5).prop_map(Value::Dictionary),
            ]
        })
        .boxed()
}

/// Values with any timestamp.
pub fn any_value() -> BoxedStrategy<Value> {
    value_with(any_timestamp())
}

/// Values whose dates lie in years 0000 to 9999.
pub fn calendar_value() -> BoxedStrategy<Value> {
    value_with(calendar_timestamp())
}

/// Records of up to 6 fields; `id` shows up as a key now and then, with any value.
pub fn record_with(values: BoxedStrategy<Value>) -> BoxedStrategy<Record> {
    let field = prop_oneof![9 => key(), 1 => Just("id".to_string())];
    prop::collection::btree_map(field, values, 0..6)
        .prop_map(|m: BTreeMap<String, Value>| Record::from(m))
        .boxed()
}

/// Records built from [`any_value`].
pub fn any_record() -> BoxedStrategy<Record> {
    record_with(any_value())
}

/// `n` arrays wrapped around a null: the null sits at nesting depth `n`.
pub fn nested_arrays(n: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..n {
        v = Value::Array(vec![v]);
    }
    v
}

/// Bitwise equality of values: like `==`, but NaN equals NaN with the same bits, and
/// `0.0` differs from `-0.0`.
pub fn same_bits(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Vector(x), Value::Vector(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_bits(p, q))
        }
        (Value::Dictionary(x), Value::Dictionary(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same_bits(v1, v2))
        }
        _ => a == b,
    }
}
