//! Conversion between [`Value`] and JSON.
//!
//! Two mappings:
//!
//! * **Plain** ([`to_json`], [`from_json`]): what a person or another tool expects. JSON has
//!   no date, uuid, bytes or vector type and no NaN, so these lose their kind on the way
//!   out: a date becomes an RFC 3339 string, a uuid its hyphenated string, data a base64
//!   string, a vector an array of numbers, and a non-finite double `null`. Reading plain JSON
//!   never guesses a kind back from a string: `"2024-01-01T00:00:00Z"` stays a string.
//!   Integers that fit `i64` become `Int`, other numbers `Double`.
//! * **Tagged** ([`to_tagged_json`], [`from_tagged_json`]): lossless, for dumps. The kinds
//!   JSON lacks are written as one-key objects: `{"$date": "…"}` (RFC 3339, or
//!   `{"$date": {"secs": s, "nanos": n}}` outside years 0000–9999), `{"$uuid": "…"}`,
//!   `{"$data": "<base64>"}`, `{"$vector": [..]}`, `{"$double": "NaN"}` (also for
//!   integral doubles, so `1.0` stays a double), and a dictionary whose only key starts
//!   with `$` is wrapped as `{"$dict": {…}}` so it cannot be mistaken for a tag.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Number, Value as Json};
use uuid::Uuid;

use crate::engine::encoding::MAX_DEPTH;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::value::{Timestamp, Value};

fn num(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// Plain JSON for a value (lossy for date, uuid, data, vector and non-finite doubles).
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::String(s) => Json::String(s.clone()),
        Value::Int(i) => Json::Number((*i).into()),
        Value::Double(d) => num(*d),
        Value::Bool(b) => Json::Bool(*b),
        Value::Date(t) => Json::String(t.to_rfc3339()),
        Value::Uuid(u) => Json::String(u.to_string()),
        Value::Data(d) => Json::String(B64.encode(d)),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Dictionary(d) => {
            Json::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        Value::Vector(v) => Json::Array(v.iter().map(|f| num(*f)).collect()),
        Value::Null => Json::Null,
    }
}

fn from_number(n: &Number) -> Value {
    match n.as_i64() {
        Some(i) => Value::Int(i),
        None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// A value from plain JSON. Fails only on nesting deeper than [`MAX_DEPTH`].
pub fn from_json(j: &Json) -> Result<Value> {
    from_json_at(j, 0)
}

fn from_json_at(j: &Json, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::InvalidData(format!(
            "JSON nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => from_number(n),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(
            a.iter()
                .map(|x| from_json_at(x, depth + 1))
                .collect::<Result<_>>()?,
        ),
        Json::Object(o) => Value::Dictionary(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), from_json_at(v, depth + 1)?)))
                .collect::<Result<_>>()?,
        ),
    })
}

/// Plain JSON object for a record.
pub fn record_to_json(r: &Record) -> Json {
    Json::Object(r.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}

/// A record from a plain JSON object; anything but an object is `InvalidData`.
pub fn record_from_json(j: &Json) -> Result<Record> {
    match from_json(j)? {
        Value::Dictionary(d) => Ok(Record::from(d)),
        _ => Err(Error::InvalidData("a record must be a JSON object".into())),
    }
}

fn tag(name: &str, v: Json) -> Json {
    let mut m = Map::with_capacity(1);
    m.insert(name.to_string(), v);
    Json::Object(m)
}

/// Lossless tagged JSON for a value.
pub fn to_tagged_json(v: &Value) -> Json {
    match v {
        Value::Double(d) => {
            if d.is_finite() && d.fract() != 0.0 {
                num(*d)
            } else if d.is_finite() {
                tag("$double", num(*d))
            } else {
                tag("$double", Json::String(d.to_string()))
            }
        }
        Value::Date(t) => match t.rfc3339() {
            Some(text) => tag("$date", Json::String(text)),
            // Beyond what RFC 3339 can write: keep the exact seconds and nanoseconds.
            None => {
                let mut m = Map::with_capacity(2);
                m.insert("secs".into(), Json::Number(t.unix_seconds().into()));
                m.insert("nanos".into(), Json::Number(t.subsec_nanos().into()));
                tag("$date", Json::Object(m))
            }
        },
        Value::Uuid(u) => tag("$uuid", Json::String(u.to_string())),
        Value::Data(d) => tag("$data", Json::String(B64.encode(d))),
        Value::Vector(vec) => tag(
            "$vector",
            Json::Array(
                vec.iter()
                    .map(|f| to_tagged_json(&Value::Double(*f)))
                    .collect(),
            ),
        ),
        Value::Array(a) => Json::Array(a.iter().map(to_tagged_json).collect()),
        Value::Dictionary(d) => {
            let obj: Map<String, Json> = d
                .iter()
                .map(|(k, v)| (k.clone(), to_tagged_json(v)))
                .collect();
            if d.len() == 1 && d.keys().all(|k| k.starts_with('$')) {
                tag("$dict", Json::Object(obj))
            } else {
                Json::Object(obj)
            }
        }
        other => to_json(other),
    }
}

fn tagged_double(j: &Json) -> Result<f64> {
    match j {
        Json::Number(n) => n
            .as_f64()
            .ok_or_else(|| Error::InvalidData("bad $double".into())),
        Json::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => s
                .parse::<f64>()
                .map_err(|_| Error::InvalidData(format!("bad $double {s:?}"))),
        },
        Json::Object(o) if o.len() == 1 => match o.get("$double") {
            Some(inner) => tagged_double(inner),
            None => Err(Error::InvalidData("bad $double".into())),
        },
        _ => Err(Error::InvalidData("bad $double".into())),
    }
}

/// A value from tagged JSON (see the module docs).
pub fn from_tagged_json(j: &Json) -> Result<Value> {
    from_tagged_at(j, 0)
}

fn str_of<'a>(j: &'a Json, what: &str) -> Result<&'a str> {
    j.as_str()
        .ok_or_else(|| Error::InvalidData(format!("{what} must be a string")))
}

fn from_tagged_at(j: &Json, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::InvalidData(format!(
            "JSON nests deeper than {MAX_DEPTH} levels"
        )));
    }
    match j {
        Json::Array(a) => Ok(Value::Array(
            a.iter()
                .map(|x| from_tagged_at(x, depth + 1))
                .collect::<Result<_>>()?,
        )),
        Json::Object(o) => {
            if o.len() == 1 {
                let (k, inner) = o.iter().next().expect("len is 1");
                match k.as_str() {
                    "$double" => return Ok(Value::Double(tagged_double(inner)?)),
                    "$date" if inner.is_object() => {
                        let field = |k: &str| inner.get(k).and_then(Json::as_i64);
                        return match (field("secs"), field("nanos")) {
                            (Some(secs), Some(nanos)) if (0..1_000_000_000).contains(&nanos) => {
                                Ok(Value::Date(Timestamp::new(secs, nanos as u32)))
                            }
                            _ => Err(Error::InvalidData(
                                "a $date object needs integer secs and nanos".into(),
                            )),
                        };
                    }
                    "$date" => {
                        let s = str_of(inner, "$date")?;
                        return Timestamp::parse_rfc3339(s)
                            .map(Value::Date)
                            .ok_or_else(|| Error::InvalidData(format!("bad $date {s:?}")));
                    }
                    "$uuid" => {
                        let s = str_of(inner, "$uuid")?;
                        return Uuid::parse_str(s)
                            .map(Value::Uuid)
                            .map_err(|_| Error::InvalidData(format!("bad $uuid {s:?}")));
                    }
                    "$data" => {
                        let s = str_of(inner, "$data")?;
                        return B64
                            .decode(s)
                            .map(Value::Data)
                            .map_err(|_| Error::InvalidData("bad base64 in $data".into()));
                    }
                    "$vector" => {
                        let arr = inner
                            .as_array()
                            .ok_or_else(|| Error::InvalidData("$vector must be an array".into()))?;
                        return Ok(Value::Vector(
                            arr.iter().map(tagged_double).collect::<Result<_>>()?,
                        ));
                    }
                    "$dict" => {
                        let m = inner
                            .as_object()
                            .ok_or_else(|| Error::InvalidData("$dict must be an object".into()))?;
                        return dict_from(m, depth);
                    }
                    _ => {}
                }
            }
            dict_from(o, depth)
        }
        other => from_json_at(other, depth),
    }
}

fn dict_from(m: &Map<String, Json>, depth: usize) -> Result<Value> {
    let mut d = BTreeMap::new();
    for (k, v) in m {
        d.insert(k.clone(), from_tagged_at(v, depth + 1)?);
    }
    Ok(Value::Dictionary(d))
}
