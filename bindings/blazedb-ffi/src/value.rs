//! Values and records as they cross the boundary, and their conversions to the core types.

use std::collections::{BTreeMap, HashMap};

use blazedb::{Record, Timestamp, Uuid, Value};

use crate::error::BlazeError;

/// One field value: the 11 kinds of upstream `BlazeDocumentField`, one variant each.
///
/// * `Date` is exact: whole seconds since 1970-01-01T00:00:00Z (floor, so negative before
///   1970) plus nanoseconds `0..1_000_000_000`, the core's own representation. Swift adds
///   Apple's reference-date offset itself (see `docs/BINDINGS.md`).
/// * `Uuid` is the canonical text form; the core hands out lowercase, and accepts any case.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum BlazeValue {
    /// UTF-8 text.
    String { value: String },
    /// A 64-bit signed integer.
    Int { value: i64 },
    /// A 64-bit float (NaN and -0.0 round-trip).
    Double { value: f64 },
    /// A boolean.
    Bool { value: bool },
    /// A point in time: `secs` since the Unix epoch (floor) and `nanos` past them.
    Date { secs: i64, nanos: u32 },
    /// A UUID as text.
    Uuid { value: String },
    /// Raw bytes.
    Data { value: Vec<u8> },
    /// An ordered list of values of any kinds.
    Array { values: Vec<BlazeValue> },
    /// String keys to values.
    Dictionary {
        entries: HashMap<String, BlazeValue>,
    },
    /// A dense vector of floats (embeddings).
    Vector { values: Vec<f64> },
    /// An explicit null.
    Null,
}

/// A record: field names to values. `id` comes back as a `Uuid` value.
pub type BlazeRecord = HashMap<String, BlazeValue>;

pub(crate) fn parse_id(id: &str) -> Result<Uuid, BlazeError> {
    Uuid::parse_str(id).map_err(|_| BlazeError::InvalidInput {
        reason: format!("{id:?} is not a UUID"),
    })
}

pub(crate) fn parse_ids(ids: &[String]) -> Result<Vec<Uuid>, BlazeError> {
    ids.iter().map(|s| parse_id(s)).collect()
}

pub(crate) fn id_string(id: Uuid) -> String {
    id.hyphenated().to_string()
}

pub(crate) fn to_value(v: BlazeValue, field: &str) -> Result<Value, BlazeError> {
    Ok(match v {
        BlazeValue::String { value } => Value::String(value),
        BlazeValue::Int { value } => Value::Int(value),
        BlazeValue::Double { value } => Value::Double(value),
        BlazeValue::Bool { value } => Value::Bool(value),
        BlazeValue::Date { secs, nanos } => {
            if nanos >= 1_000_000_000 {
                return Err(BlazeError::InvalidField {
                    field: field.to_string(),
                    reason: format!("date nanoseconds {nanos} are not below one billion"),
                });
            }
            Value::Date(Timestamp::new(secs, nanos))
        }
        BlazeValue::Uuid { value } => {
            Value::Uuid(
                Uuid::parse_str(&value).map_err(|_| BlazeError::InvalidField {
                    field: field.to_string(),
                    reason: format!("{value:?} is not a UUID"),
                })?,
            )
        }
        BlazeValue::Data { value } => Value::Data(value),
        BlazeValue::Array { values } => Value::Array(
            values
                .into_iter()
                .map(|v| to_value(v, field))
                .collect::<Result<_, _>>()?,
        ),
        BlazeValue::Dictionary { entries } => Value::Dictionary(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let path = format!("{field}.{k}");
                    Ok((k, to_value(v, &path)?))
                })
                .collect::<Result<BTreeMap<_, _>, BlazeError>>()?,
        ),
        BlazeValue::Vector { values } => Value::Vector(values),
        BlazeValue::Null => Value::Null,
    })
}

pub(crate) fn from_value(v: Value) -> BlazeValue {
    match v {
        Value::String(value) => BlazeValue::String { value },
        Value::Int(value) => BlazeValue::Int { value },
        Value::Double(value) => BlazeValue::Double { value },
        Value::Bool(value) => BlazeValue::Bool { value },
        Value::Date(t) => BlazeValue::Date {
            secs: t.unix_seconds(),
            nanos: t.subsec_nanos(),
        },
        Value::Uuid(u) => BlazeValue::Uuid {
            value: id_string(u),
        },
        Value::Data(value) => BlazeValue::Data { value },
        Value::Array(a) => BlazeValue::Array {
            values: a.into_iter().map(from_value).collect(),
        },
        Value::Dictionary(d) => BlazeValue::Dictionary {
            entries: d.into_iter().map(|(k, v)| (k, from_value(v))).collect(),
        },
        Value::Vector(values) => BlazeValue::Vector { values },
        Value::Null => BlazeValue::Null,
    }
}

pub(crate) fn to_record(r: BlazeRecord) -> Result<Record, BlazeError> {
    r.into_iter()
        .map(|(k, v)| {
            let v = to_value(v, &k)?;
            Ok((k, v))
        })
        .collect()
}

pub(crate) fn to_records(rs: Vec<BlazeRecord>) -> Result<Vec<Record>, BlazeError> {
    rs.into_iter().map(to_record).collect()
}

pub(crate) fn from_record(r: Record) -> BlazeRecord {
    let mut out = HashMap::with_capacity(r.len());
    for (k, v) in r {
        out.insert(k, from_value(v));
    }
    out
}

pub(crate) fn from_records(rs: Vec<Record>) -> Vec<BlazeRecord> {
    rs.into_iter().map(from_record).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let id = Uuid::new_v4();
        let mut inner = HashMap::new();
        inner.insert("k".to_string(), BlazeValue::Int { value: -3 });
        let values = vec![
            BlazeValue::String { value: "é".into() },
            BlazeValue::Int { value: i64::MIN },
            BlazeValue::Double { value: -0.0 },
            BlazeValue::Bool { value: true },
            BlazeValue::Date {
                secs: -1,
                nanos: 999_999_999,
            },
            BlazeValue::Uuid {
                value: id_string(id),
            },
            BlazeValue::Data {
                value: vec![0, 255],
            },
            BlazeValue::Array {
                values: vec![BlazeValue::Null, BlazeValue::Bool { value: false }],
            },
            BlazeValue::Dictionary { entries: inner },
            BlazeValue::Vector {
                values: vec![1.5, f64::INFINITY],
            },
            BlazeValue::Null,
        ];
        for v in values {
            let back = from_value(to_value(v.clone(), "f").unwrap());
            assert_eq!(back, v);
        }
    }

    #[test]
    fn bad_uuid_and_nanos_are_invalid_field() {
        let e = to_value(BlazeValue::Uuid { value: "x".into() }, "a").unwrap_err();
        assert!(matches!(e, BlazeError::InvalidField { field, .. } if field == "a"));
        let e = to_value(
            BlazeValue::Date {
                secs: 0,
                nanos: 1_000_000_000,
            },
            "d",
        )
        .unwrap_err();
        assert!(matches!(e, BlazeError::InvalidField { .. }));
    }

    #[test]
    fn uppercase_uuid_is_accepted() {
        let id = Uuid::new_v4();
        let up = id.hyphenated().to_string().to_uppercase();
        assert_eq!(parse_id(&up).unwrap(), id);
        assert!(matches!(
            parse_id("nope"),
            Err(BlazeError::InvalidInput { .. })
        ));
    }
}
