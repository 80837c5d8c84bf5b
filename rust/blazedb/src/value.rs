//! Field values: the 11 kinds of upstream `BlazeDocumentField`.

use std::collections::BTreeMap;
use std::fmt;

use uuid::Uuid;

/// A point in time with nanosecond resolution, counted from the Unix epoch (UTC).
///
/// Seconds and nanoseconds are kept apart so that the range covers any date a calendar can
/// name (Swift's `Date.distantPast` and `distantFuture` included) and so that the value
/// round-trips through the encoding bit for bit. The invariant `nanos < 1_000_000_000` holds
/// for every value this type hands out.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Seconds between the Unix epoch and Swift's reference date, 2001-01-01T00:00:00Z.
pub const APPLE_REFERENCE_OFFSET_SECS: i64 = 978_307_200;

impl Timestamp {
    /// Builds a timestamp, carrying whole seconds out of `nanos`.
    pub fn new(secs: i64, nanos: u32) -> Self {
        let carry = i64::from(nanos / 1_000_000_000);
        Timestamp {
            secs: secs.saturating_add(carry),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp::new(d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                Timestamp::new(0, 0).minus(d.as_secs() as i64, d.subsec_nanos())
            }
        }
    }

    fn minus(self, secs: i64, nanos: u32) -> Self {
        let mut s = self.secs - secs;
        let mut n = i64::from(self.nanos) - i64::from(nanos);
        if n < 0 {
            n += 1_000_000_000;
            s -= 1;
        }
        Timestamp::new(s, n as u32)
    }

    /// Whole seconds since the Unix epoch (floor).
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// The nanoseconds past [`Self::unix_seconds`], always below one billion.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Microseconds since the Unix epoch, truncated toward negative infinity.
    pub fn unix_micros(self) -> i128 {
        i128::from(self.secs) * 1_000_000 + i128::from(self.nanos / 1000)
    }

    /// Builds a timestamp from microseconds since the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> Self {
        let secs = micros.div_euclid(1_000_000);
        let rem = micros.rem_euclid(1_000_000) as u32;
        Timestamp::new(secs, rem * 1000)
    }

    /// Builds a timestamp from milliseconds since the Unix epoch.
    pub fn from_unix_millis(millis: i64) -> Self {
        let secs = millis.div_euclid(1000);
        let rem = millis.rem_euclid(1000) as u32;
        Timestamp::new(secs, rem * 1_000_000)
    }

    /// Seconds since the Unix epoch as a float (what JavaScript, Python and Kotlin use).
    pub fn as_unix_seconds_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// Builds a timestamp from float seconds since the Unix epoch, rounding to the nearest
    /// nanosecond. Returns `None` for NaN or infinities.
    ///
    /// For dates within a few centuries of today the nearest nanosecond is far inside half a
    /// unit of the float's last place, so `as_unix_seconds_f64` gives back the same float.
    pub fn from_unix_seconds_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() || secs.abs() > 9.0e15 {
            return None;
        }
        let whole = secs.floor();
        let mut nanos = ((secs - whole) * 1e9).round() as i64;
        let mut whole = whole as i64;
        if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000;
            whole += 1;
        }
        Some(Timestamp::new(whole, nanos as u32))
    }

    /// Seconds since 2001-01-01T00:00:00Z, Swift's `timeIntervalSinceReferenceDate`.
    pub fn as_apple_reference_seconds(self) -> f64 {
        (self.secs - APPLE_REFERENCE_OFFSET_SECS) as f64 + f64::from(self.nanos) / 1e9
    }

    /// Builds a timestamp from Swift's `timeIntervalSinceReferenceDate`.
    pub fn from_apple_reference_seconds(secs: f64) -> Option<Self> {
        let t = Timestamp::from_unix_seconds_f64(secs)?;
        Some(Timestamp::new(
            t.secs.checked_add(APPLE_REFERENCE_OFFSET_SECS)?,
            t.nanos,
        ))
    }

    /// Formats as RFC 3339 in UTC, with as many fractional digits as needed (none, 3, 6 or
    /// 9). Dates outside years 0000–9999, which RFC 3339 cannot write, come out as signed
    /// decimal seconds since the Unix epoch instead (see [`Self::rfc3339`]).
    pub fn to_rfc3339(self) -> String {
        self.rfc3339().unwrap_or_else(|| self.decimal_seconds())
    }

    /// RFC 3339 in UTC, or `None` for a date outside years 0000–9999.
    pub fn rfc3339(self) -> Option<String> {
        let dt = time::OffsetDateTime::from_unix_timestamp(self.secs).ok()?;
        if !(0..=9999).contains(&dt.year()) {
            return None;
        }
        let base = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        let frac = if self.nanos == 0 {
            String::new()
        } else if self.nanos.is_multiple_of(1_000_000) {
            format!(".{:03}", self.nanos / 1_000_000)
        } else if self.nanos.is_multiple_of(1000) {
            format!(".{:06}", self.nanos / 1000)
        } else {
            format!(".{:09}", self.nanos)
        };
        Some(format!("{base}{frac}Z"))
    }

    /// Exact signed decimal seconds; the sign applies to the whole number, so 250 ns after
    /// -2 s reads `-1.999999750`.
    fn decimal_seconds(self) -> String {
        if self.secs < 0 && self.nanos > 0 {
            let whole = -(i128::from(self.secs) + 1);
            format!("-{whole}.{:09}", 1_000_000_000 - self.nanos)
        } else {
            format!("{}.{:09}", self.secs, self.nanos)
        }
    }

    /// Parses RFC 3339 (any offset; the result is UTC).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let dt =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        Some(Timestamp::new(dt.unix_timestamp(), dt.nanosecond()))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// One field value. The variants are exactly upstream `BlazeDocumentField`'s 11 cases.
///
/// `PartialEq` is IEEE equality on doubles, so `Double(NaN) != Double(NaN)`, as in Swift.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// UTF-8 text.
    String(String),
    /// A 64-bit signed integer (Swift `Int` on 64-bit platforms).
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// A point in time.
    Date(Timestamp),
    /// A UUID.
    Uuid(Uuid),
    /// Raw bytes.
    Data(Vec<u8>),
    /// An ordered list of values of any kinds.
    Array(Vec<Value>),
    /// String keys to values, kept sorted by key.
    Dictionary(BTreeMap<String, Value>),
    /// A dense vector of floats (embeddings).
    Vector(Vec<f64>),
    /// An explicit null.
    Null,
}

/// The kind of a [`Value`], without its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueKind {
    /// See [`Value::String`].
    String,
    /// See [`Value::Int`].
    Int,
    /// See [`Value::Double`].
    Double,
    /// See [`Value::Bool`].
    Bool,
    /// See [`Value::Date`].
    Date,
    /// See [`Value::Uuid`].
    Uuid,
    /// See [`Value::Data`].
    Data,
    /// See [`Value::Array`].
    Array,
    /// See [`Value::Dictionary`].
    Dictionary,
    /// See [`Value::Vector`].
    Vector,
    /// See [`Value::Null`].
    Null,
}

impl ValueKind {
    /// The kind's name as upstream spells the enum case.
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::String => "string",
            ValueKind::Int => "int",
            ValueKind::Double => "double",
            ValueKind::Bool => "bool",
            ValueKind::Date => "date",
            ValueKind::Uuid => "uuid",
            ValueKind::Data => "data",
            ValueKind::Array => "array",
            ValueKind::Dictionary => "dictionary",
            ValueKind::Vector => "vector",
            ValueKind::Null => "null",
        }
    }
}

impl Value {
    /// The value's kind.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::String(_) => ValueKind::String,
            Value::Int(_) => ValueKind::Int,
            Value::Double(_) => ValueKind::Double,
            Value::Bool(_) => ValueKind::Bool,
            Value::Date(_) => ValueKind::Date,
            Value::Uuid(_) => ValueKind::Uuid,
            Value::Data(_) => ValueKind::Data,
            Value::Array(_) => ValueKind::Array,
            Value::Dictionary(_) => ValueKind::Dictionary,
            Value::Vector(_) => ValueKind::Vector,
            Value::Null => ValueKind::Null,
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Upstream `intValue`: an int, or a finite double truncated toward zero.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Double(d) if d.is_finite() && *d >= i64::MIN as f64 && *d < i64::MAX as f64 => {
                Some(d.trunc() as i64)
            }
            _ => None,
        }
    }

    /// Upstream `doubleValue`: a double, or an int widened.
    pub fn as_double(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Upstream `boolValue`: a bool, or an int that is not zero.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }

    /// Upstream `dateValue`: a date, a number of seconds since 2001-01-01, or an RFC 3339
    /// string.
    pub fn as_date(&self) -> Option<Timestamp> {
        match self {
            Value::Date(t) => Some(*t),
            Value::Double(d) => Timestamp::from_apple_reference_seconds(*d),
            Value::Int(i) => Timestamp::from_apple_reference_seconds(*i as f64),
            Value::String(s) => Timestamp::parse_rfc3339(s),
            _ => None,
        }
    }

    /// Upstream `uuidValue`: a uuid, or a string that parses as one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Value::Uuid(u) => Some(*u),
            Value::String(s) => Uuid::parse_str(s).ok(),
            _ => None,
        }
    }

    /// The bytes, if this is data.
    pub fn as_data(&self) -> Option<&[u8]> {
        match self {
            Value::Data(d) => Some(d),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, if this is a dictionary.
    pub fn as_dictionary(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Dictionary(d) => Some(d),
            _ => None,
        }
    }

    /// The floats, if this is a vector.
    pub fn as_vector(&self) -> Option<&[f64]> {
        match self {
            Value::Vector(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

macro_rules! impl_from {
    ($t:ty, $variant:ident) => {
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v.into())
            }
        }
    };
}

impl_from!(String, String);
impl_from!(&str, String);
impl_from!(i64, Int);
impl_from!(i32, Int);
impl_from!(u32, Int);
impl_from!(f64, Double);
impl_from!(bool, Bool);
impl_from!(Timestamp, Date);
impl_from!(Uuid, Uuid);
impl_from!(Vec<u8>, Data);
impl_from!(Vec<Value>, Array);
impl_from!(BTreeMap<String, Value>, Dictionary);
impl_from!(Vec<f64>, Vector);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
