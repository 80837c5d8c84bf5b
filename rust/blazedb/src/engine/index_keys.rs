//! Index keys: an order-preserving byte encoding of field values.
//!
//! An index entry's key is the encoding of each indexed field's value, one component after
//! the other, followed by the record id (16 bytes, big-endian). Components are
//! self-delimiting, so comparing two keys byte by byte compares the first component, then
//! the second, then the id: exactly the order a query sort gives ([`SortKey`]'s total order
//! per field, ties by id). That is what lets the planner answer `order_by` from an index.
//!
//! Component layout (`docs/design.md` has the same table):
//!
//! | tag | kind | payload |
//! |---|---|---|
//! | `0x10` | bool | 1 byte, 0 or 1 |
//! | `0x20` | int, double, date | float 8 bytes (total order), kind 1 byte, exact 16 bytes |
//! | `0x30` | string | UTF-8 with `00` escaped as `00 FF`, then `00 00` |
//! | `0x40` | uuid | 16 bytes |
//! | `0x50` | data | length u64 BE, then the bytes |
//! | `0x60` | array | each element's component, then `00` |
//! | `0x70` | dictionary | per entry `01`, escaped key, value component; then `00` |
//! | `0x80` | vector | per element `01` + float 8 bytes; then `00` |
//! | `0xF0` | null or missing | none |
//!
//! Null and missing share one tag because a sort puts both last and breaks their ties by id
//! alone; the filters that tell them apart (`is_nil`) are rechecked on the record.
//!
//! Keys starting with [`ALIAS_TAG`] are not sort entries: a string that parses as a UUID also
//! gets an alias entry `FF` + the uuid's 16 bytes + the remaining components + id, so an
//! equality on a uuid value finds strings holding it (upstream's uuid↔string equality)
//! without scanning. Ordered walks stop before `FF`.

use uuid::Uuid;

use crate::query::{SortKey, TotalF64};
use crate::value::Value;

pub(crate) const TAG_BOOL: u8 = 0x10;
pub(crate) const TAG_NUM: u8 = 0x20;
pub(crate) const TAG_STR: u8 = 0x30;
pub(crate) const TAG_UUID: u8 = 0x40;
pub(crate) const TAG_DATA: u8 = 0x50;
const TAG_ARRAY: u8 = 0x60;
const TAG_DICT: u8 = 0x70;
const TAG_VECTOR: u8 = 0x80;
/// Null or missing.
pub(crate) const TAG_NONE: u8 = 0xF0;
/// First byte of alias entries (see the module docs).
pub(crate) const ALIAS_TAG: u8 = 0xFF;
/// Bytes of the record id at the end of every entry.
pub(crate) const ID_LEN: usize = 16;

/// Kind byte inside a numeric component; the order is [`SortKey::Num`]'s.
const KIND_INT: u8 = 0;

/// The float's bits mapped so that unsigned byte order is `TotalF64` order.
pub(crate) fn float_bytes(f: f64) -> [u8; 8] {
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let mapped = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    mapped.to_be_bytes()
}

fn i128_bytes(v: i128) -> [u8; 16] {
    ((v as u128) ^ (1 << 127)).to_be_bytes()
}

fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

/// The escaped string bytes without the terminator: a prefix of every escaped string that
/// starts with `s` (used for `starts_with` ranges).
pub(crate) fn string_prefix(s: &str) -> Vec<u8> {
    let mut out = vec![TAG_STR];
    push_escaped(&mut out, s.as_bytes());
    out
}

/// Integral doubles below 2^53 are keyed as the int of the same value, so `3` and `3.0`
/// share a key (they are equal for filters and for unique indexes). Within such a key a
/// sort still puts the int first: ordered walks sort each run of equal keys by the full
/// sort key. Larger doubles keep their own kind, where float equality no longer means
/// value equality.
fn num_parts(k: &SortKey) -> Option<(TotalF64, u8, i128)> {
    match k {
        SortKey::Num(f, kind, exact) => {
            let d = f.0;
            if *kind == 1 && d.fract() == 0.0 && d.abs() < 9_007_199_254_740_992.0 {
                Some((*f, KIND_INT, d as i128))
            } else {
                Some((*f, *kind, *exact))
            }
        }
        _ => None,
    }
}

fn push_sort_key(out: &mut Vec<u8>, k: &SortKey) {
    match k {
        SortKey::Bool(b) => out.extend([TAG_BOOL, u8::from(*b)]),
        SortKey::Num(..) => {
            if let Some((f, kind, exact)) = num_parts(k) {
                out.push(TAG_NUM);
                out.extend(float_bytes(f.0));
                out.push(kind);
                out.extend(i128_bytes(exact));
            }
        }
        SortKey::Str(s) => {
            out.push(TAG_STR);
            push_escaped(out, s.as_bytes());
            out.extend([0, 0]);
        }
        SortKey::Uuid(u) => {
            out.push(TAG_UUID);
            out.extend(u);
        }
        SortKey::Data(len, bytes) => {
            out.push(TAG_DATA);
            out.extend((*len as u64).to_be_bytes());
            out.extend(bytes);
        }
        SortKey::Array(items) => {
            out.push(TAG_ARRAY);
            for i in items {
                push_sort_key(out, i);
            }
            out.push(0);
        }
        SortKey::Dict(entries) => {
            out.push(TAG_DICT);
            for (key, v) in entries {
                out.push(1);
                push_escaped(out, key.as_bytes());
                out.extend([0, 0]);
                push_sort_key(out, v);
            }
            out.push(0);
        }
        SortKey::Vector(fs) => {
            out.push(TAG_VECTOR);
            for f in fs {
                out.push(1);
                out.extend(float_bytes(f.0));
            }
            out.push(0);
        }
        SortKey::Null => out.push(TAG_NONE),
    }
}

/// Appends one field's component; `None` is a missing field.
pub(crate) fn push_component(out: &mut Vec<u8>, v: Option<&Value>) {
    match v {
        None | Some(Value::Null) => out.push(TAG_NONE),
        Some(v) => push_sort_key(out, &SortKey::of(v)),
    }
}

/// One component on its own.
pub(crate) fn component(v: Option<&Value>) -> Vec<u8> {
    let mut out = Vec::new();
    push_component(&mut out, v);
    out
}

/// The smallest and largest numeric components whose float lies in `[lo, hi]`.
pub(crate) fn num_range(lo: f64, hi: f64) -> (Vec<u8>, Vec<u8>) {
    let mut a = vec![TAG_NUM];
    a.extend(float_bytes(lo));
    let mut b = vec![TAG_NUM];
    b.extend(float_bytes(hi));
    b.extend([0xFF; 17]);
    (a, b)
}

/// The float a numeric-axis value sits at (ints, doubles, dates), for range bounds.
pub(crate) fn num_axis(v: &Value) -> Option<f64> {
    match SortKey::of(v) {
        SortKey::Num(f, _, _) if !f.0.is_nan() => Some(f.0),
        _ => None,
    }
}

/// Whether a value's component takes part in uniqueness: null, missing and NaN never
/// conflict, like SQL's NULL.
pub(crate) fn unique_exempt(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Double(d)) => d.is_nan(),
        _ => false,
    }
}

/// The uuid a string holds, for alias entries.
pub(crate) fn uuid_of_string(v: Option<&Value>) -> Option<Uuid> {
    match v {
        Some(Value::String(s)) if matches!(s.len(), 32 | 36 | 38 | 45) => Uuid::parse_str(s).ok(),
        _ => None,
    }
}

/// The record id at the end of an entry key.
pub(crate) fn entry_id(key: &[u8]) -> Option<Uuid> {
    let start = key.len().checked_sub(ID_LEN)?;
    let mut a = [0u8; ID_LEN];
    a.copy_from_slice(&key[start..]);
    Some(Uuid::from_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        component(Some(v))
    }

    #[test]
    fn byte_order_matches_sort_order_for_samples() {
        let vals = vec![
            Value::Bool(false),
            Value::Bool(true),
            Value::Int(-5),
            Value::Double(-0.0),
            Value::Int(0),
            Value::Double(0.5),
            Value::Int(1),
            Value::Double(f64::INFINITY),
            Value::String(String::new()),
            Value::String("a\0b".into()),
            Value::String("a".into()),
            Value::String("ab".into()),
            Value::Uuid(Uuid::from_u128(7)),
            Value::Data(vec![9]),
            Value::Data(vec![1, 2]),
            Value::Array(vec![]),
            Value::Array(vec![Value::Int(1)]),
            Value::Vector(vec![1.0]),
        ];
        for a in &vals {
            for b in &vals {
                let sk = SortKey::of(a).cmp(&SortKey::of(b));
                let bk = enc(a).cmp(&enc(b));
                // Integral doubles share the int's key; the sort still orders them.
                if bk != std::cmp::Ordering::Equal {
                    assert_eq!(sk, bk, "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn int_and_integral_double_share_a_key() {
        assert_eq!(enc(&Value::Int(3)), enc(&Value::Double(3.0)));
        assert_ne!(enc(&Value::Int(3)), enc(&Value::Double(3.5)));
    }
}
