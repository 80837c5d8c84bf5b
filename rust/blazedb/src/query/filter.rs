//! Filters and their evaluation, with upstream BlazeDB's semantics (`docs/QUERY.md`).

use std::cmp::Ordering;

use crate::record::Record;
use crate::value::{Timestamp, Value};

/// A condition on records. Field names are dotted paths (`address.city`).
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// The field equals the value (see `docs/QUERY.md` for cross-type equality).
    Eq(String, Value),
    /// The field does not equal the value; a missing field matches.
    Ne(String, Value),
    /// The field is greater than the value.
    Gt(String, Value),
    /// The field is greater than or equal to the value.
    Gte(String, Value),
    /// The field is less than the value.
    Lt(String, Value),
    /// The field is less than or equal to the value.
    Lte(String, Value),
    /// The field is a string containing this substring (case-sensitive).
    Contains(String, String),
    /// The field is a string starting with this prefix (case-sensitive).
    StartsWith(String, String),
    /// The field equals one of the values.
    In(String, Vec<Value>),
    /// The field is absent (a stored `null` is present, as upstream).
    IsNil(String),
    /// The field is present.
    NotNil(String),
    /// Every filter matches (an empty list matches everything).
    And(Vec<Filter>),
    /// At least one filter matches (an empty list matches nothing).
    Or(Vec<Filter>),
    /// The filter does not match.
    Not(Box<Filter>),
}

impl Filter {
    /// `field == value`.
    pub fn eq(field: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::Eq(field.into(), v.into())
    }
    /// `field != value`.
    pub fn ne(field: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::Ne(field.into(), v.into())
    }
    /// `field > value`.
    pub fn gt(field: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::Gt(field.into(), v.into())
    }
    /// `field >= value`.
    pub fn gte(field: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::Gte(field.into(), v.into())
    }
    /// `field < value`.
    pub fn lt(field: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::Lt(field.into(), v.into())
    }
    /// `field <= value`.
    pub fn lte(field: impl Into<String>, v: impl Into<Value>) -> Filter {
        Filter::Lte(field.into(), v.into())
    }
    /// Substring match.
    pub fn contains(field: impl Into<String>, s: impl Into<String>) -> Filter {
        Filter::Contains(field.into(), s.into())
    }
    /// Prefix match.
    pub fn starts_with(field: impl Into<String>, s: impl Into<String>) -> Filter {
        Filter::StartsWith(field.into(), s.into())
    }
    /// Membership.
    pub fn is_in(field: impl Into<String>, vs: Vec<Value>) -> Filter {
        Filter::In(field.into(), vs)
    }
    /// Absent field.
    pub fn is_nil(field: impl Into<String>) -> Filter {
        Filter::IsNil(field.into())
    }
    /// Present field.
    pub fn not_nil(field: impl Into<String>) -> Filter {
        Filter::NotNil(field.into())
    }
    /// Both this and `other`.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut v) => {
                v.push(other);
                Filter::And(v)
            }
            f => Filter::And(vec![f, other]),
        }
    }
    /// This or `other`.
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut v) => {
                v.push(other);
                Filter::Or(v)
            }
            f => Filter::Or(vec![f, other]),
        }
    }
    /// ANDs `f` into an optional filter: the builders' rule that repeated filter calls
    /// combine rather than replace.
    pub(crate) fn and_into(slot: &mut Option<Filter>, f: Filter) {
        *slot = Some(match slot.take() {
            Some(existing) => existing.and(f),
            None => f,
        });
    }

    /// The negation.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    /// Whether `record` matches.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::Eq(f, v) => record.get_path(f).is_some_and(|x| values_equal(x, v)),
            Filter::Ne(f, v) => record.get_path(f).is_none_or(|x| !values_equal(x, v)),
            Filter::Gt(f, v) => cmp_field(record, f, v) == Some(Ordering::Greater),
            Filter::Gte(f, v) => matches!(
                cmp_field(record, f, v),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            Filter::Lt(f, v) => cmp_field(record, f, v) == Some(Ordering::Less),
            Filter::Lte(f, v) => matches!(
                cmp_field(record, f, v),
                Some(Ordering::Less | Ordering::Equal)
            ),
            Filter::Contains(f, s) => {
                matches!(record.get_path(f), Some(Value::String(x)) if x.contains(s.as_str()))
            }
            Filter::StartsWith(f, s) => {
                matches!(record.get_path(f), Some(Value::String(x)) if x.starts_with(s.as_str()))
            }
            Filter::In(f, vs) => record
                .get_path(f)
                .is_some_and(|x| vs.iter().any(|v| values_equal(x, v))),
            Filter::IsNil(f) => record.get_path(f).is_none(),
            Filter::NotNil(f) => record.get_path(f).is_some(),
            Filter::And(fs) => fs.iter().all(|x| x.matches(record)),
            Filter::Or(fs) => fs.iter().any(|x| x.matches(record)),
            Filter::Not(x) => !x.matches(record),
        }
    }

    /// Every field path the filter reads.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::Eq(f, _)
            | Filter::Ne(f, _)
            | Filter::Gt(f, _)
            | Filter::Gte(f, _)
            | Filter::Lt(f, _)
            | Filter::Lte(f, _)
            | Filter::Contains(f, _)
            | Filter::StartsWith(f, _)
            | Filter::In(f, _)
            | Filter::IsNil(f)
            | Filter::NotNil(f) => out.push(f),
            Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|x| x.collect_fields(out)),
            Filter::Not(x) => x.collect_fields(out),
        }
    }
}

fn cmp_field(record: &Record, field: &str, v: &Value) -> Option<Ordering> {
    record.get_path(field).and_then(|x| compare_values(x, v))
}

/// A date as Swift's `timeIntervalSinceReferenceDate`, the number upstream compares with.
fn apple_seconds(t: &Timestamp) -> f64 {
    t.as_apple_reference_seconds()
}

/// Upstream's `fieldsEqual`: exact equality, plus int↔double by value, uuid↔string holding
/// that uuid, and date↔number (seconds since 2001-01-01) within one millisecond.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    use Value::*;
    match (a, b) {
        (Int(x), Double(y)) | (Double(y), Int(x)) => (*x as f64) == *y,
        (Uuid(u), String(s)) | (String(s), Uuid(u)) => {
            uuid::Uuid::parse_str(s).is_ok_and(|p| p == *u)
        }
        (Date(d), Double(n)) | (Double(n), Date(d)) => (apple_seconds(d) - n).abs() < 0.001,
        (Date(d), Int(n)) | (Int(n), Date(d)) => (apple_seconds(d) - *n as f64).abs() < 0.001,
        _ => a == b,
    }
}

/// Upstream's `compareFields`: an order within int, double, string, date, bool
/// (false < true), uuid (by its string) and data (by length), plus int↔double and
/// date↔number. `None` when the two cannot be compared, which fails every range filter.
pub fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Double(x), Double(y)) => x.partial_cmp(y),
        (Int(x), Double(y)) => (*x as f64).partial_cmp(y),
        (Double(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (String(x), String(y)) => Some(x.cmp(y)),
        (Date(x), Date(y)) => Some(x.cmp(y)),
        (Date(d), Double(n)) => apple_seconds(d).partial_cmp(n),
        (Date(d), Int(n)) => apple_seconds(d).partial_cmp(&(*n as f64)),
        (Double(n), Date(d)) => n.partial_cmp(&apple_seconds(d)),
        (Int(n), Date(d)) => (*n as f64).partial_cmp(&apple_seconds(d)),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        // Byte order of a UUID is the order of its hex string, upper or lower case.
        (Uuid(x), Uuid(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Data(x), Data(y)) => Some(x.len().cmp(&y.len())),
        _ => None,
    }
}

/// A value turned into a key with a total order, for sorting.
///
/// Filters use [`compare_values`], which is upstream's partial order. A sort needs a
/// total one (Rust's sort may panic on an inconsistent comparator, and no public call may
/// panic), so each value maps to this key: booleans, then numbers and dates on one axis
/// (dates as seconds since 2001-01-01, upstream's date↔number rule), then strings, uuids,
/// data (by length, then bytes), arrays, dictionaries, vectors, null. Numbers that are
/// equal as floats are ordered by kind and exact value, and NaN sorts after every number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    /// `false < true`.
    Bool(bool),
    /// A number or date: the float (total order), then kind, then the exact integer.
    Num(TotalF64, u8, i128),
    /// A string.
    Str(String),
    /// A uuid by its bytes (the order of its hex string).
    Uuid([u8; 16]),
    /// Data by length, then bytes (upstream orders data by byte count).
    Data(usize, Vec<u8>),
    /// An array, element by element.
    Array(Vec<SortKey>),
    /// A dictionary, entry by entry in key order.
    Dict(Vec<(String, SortKey)>),
    /// A vector, element by element.
    Vector(Vec<TotalF64>),
    /// A stored null.
    Null,
}

/// An `f64` ordered by `total_cmp` (NaN last among positives).
#[derive(Clone, Copy, Debug)]
pub struct TotalF64(pub f64);

impl PartialEq for TotalF64 {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for TotalF64 {}
impl PartialOrd for TotalF64 {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TotalF64 {
    fn cmp(&self, o: &Self) -> Ordering {
        // -0.0 and 0.0 compare equal, as they do as numbers.
        let norm = |f: f64| if f == 0.0 { 0.0 } else { f };
        norm(self.0).total_cmp(&norm(o.0))
    }
}

impl SortKey {
    /// The key of a value.
    pub fn of(v: &Value) -> SortKey {
        match v {
            Value::Bool(b) => SortKey::Bool(*b),
            Value::Int(i) => SortKey::Num(TotalF64(*i as f64), 0, i128::from(*i)),
            Value::Double(d) => SortKey::Num(TotalF64(*d), 1, 0),
            Value::Date(t) => SortKey::Num(TotalF64(apple_seconds(t)), 2, t.unix_micros()),
            Value::String(s) => SortKey::Str(s.clone()),
            Value::Uuid(u) => SortKey::Uuid(*u.as_bytes()),
            Value::Data(d) => SortKey::Data(d.len(), d.clone()),
            Value::Array(a) => SortKey::Array(a.iter().map(SortKey::of).collect()),
            Value::Dictionary(d) => {
                SortKey::Dict(d.iter().map(|(k, v)| (k.clone(), SortKey::of(v))).collect())
            }
            Value::Vector(v) => SortKey::Vector(v.iter().map(|f| TotalF64(*f)).collect()),
            Value::Null => SortKey::Null,
        }
    }
}
