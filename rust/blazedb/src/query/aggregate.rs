//! Aggregation: `count`, `sum`, `avg`, `min`, `max`, group-by, `having` and `distinct`.
//!
//! `docs/QUERY.md` ("Aggregation") is the contract; this is how it is met:
//!
//! * **Streaming.** Matches come from [`ReadTx::for_each_match`] one at a time and are
//!   folded into one accumulator per group, so memory is O(groups), never O(matches).
//! * **Group keys** are compared by [`KeyPart`]: the crate's total order [`SortKey`] plus an
//!   exact tie-break, after a top-level number is put in canonical form (a double holding
//!   an integer becomes that int), so `3` and `3.0` share a group and every other pair of
//!   keys is equal only when identical. The filters' `values_equal` cannot be used: it is
//!   not transitive (the 1 ms date↔number tolerance, `"ABC…"`/`"abc…"` both equal to one
//!   uuid but not to each other), and grouping needs an equivalence.
//! * **Sums** are exact: ints add in `i128`, doubles in Shewchuk's non-overlapping partials
//!   (the algorithm of Python's `math.fsum`), so a total is correctly rounded once at the
//!   end and does not depend on the order the planner visits records in.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use uuid::Uuid;

use super::{Filter, Order, Query, SortKey};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::transactions::ReadTx;
use crate::value::Value;

/// One aggregate function of an [`Aggregate`].
///
/// Missing fields and stored nulls are skipped by every function but [`AggregateFn::Count`]
/// (SQL's rule). `docs/QUERY.md` gives each result's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggregateFn {
    /// The number of matching records in the group (an int).
    Count,
    /// The number of records whose field is present and not null (an int).
    CountOf(String),
    /// The sum of the field's numbers: an int while every value is an int and the total
    /// fits in 64 bits, otherwise a double (correctly rounded). `0` when there is nothing to
    /// add. A value that is not a number fails the aggregation with `InvalidQuery`.
    Sum(String),
    /// The mean of the field's numbers, always a double; null when there are none. A value
    /// that is not a number fails the aggregation with `InvalidQuery`.
    Avg(String),
    /// The smallest value in [`SortKey`] order (so strings and dates work too); null when
    /// there are none.
    Min(String),
    /// The largest value in [`SortKey`] order; null when there are none.
    Max(String),
}

impl AggregateFn {
    fn field(&self) -> Option<&str> {
        match self {
            AggregateFn::Count => None,
            AggregateFn::CountOf(f)
            | AggregateFn::Sum(f)
            | AggregateFn::Avg(f)
            | AggregateFn::Min(f)
            | AggregateFn::Max(f) => Some(f),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            AggregateFn::Count => "count",
            AggregateFn::CountOf(_) => "count",
            AggregateFn::Sum(_) => "sum",
            AggregateFn::Avg(_) => "avg",
            AggregateFn::Min(_) => "min",
            AggregateFn::Max(_) => "max",
        }
    }
}

/// An aggregation over one collection: an optional filter, group-by fields, named
/// aggregates, `having`, and ordering and paging of the output rows.
///
/// Each output row is a [`Record`] holding every group-by field (under its path as written,
/// so `address.city` is a top-level key with a dot in it) and every aggregate under its
/// alias. Without group-by fields there is exactly one row, even over no records.
///
/// ```
/// use blazedb::{Aggregate, Database, Filter, Options, Order, Record, Value};
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = Database::open(dir.path().join("a.blazedb"), Options::default())?;
/// db.insert("bugs", Record::new().with("status", "open").with("priority", 3))?;
/// db.insert("bugs", Record::new().with("status", "open").with("priority", 5))?;
/// db.insert("bugs", Record::new().with("status", "fixed").with("priority", 1))?;
/// let rows = db.aggregate(
///     &Aggregate::new("bugs")
///         .group_by(["status"])
///         .count("n")
///         .sum("priority", "total")
///         .having(Filter::gte("n", 2)),
/// )?;
/// assert_eq!(rows.len(), 1);
/// assert_eq!(rows[0].get("status"), Some(&Value::from("open")));
/// assert_eq!(rows[0].get("total"), Some(&Value::Int(8)));
/// # Ok::<(), blazedb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    query: Query,
    group_by: Vec<String>,
    aggregates: Vec<(String, AggregateFn)>,
    having: Option<Filter>,
    order: Vec<(String, Order)>,
    offset: usize,
    limit: Option<usize>,
}

impl Aggregate {
    /// Aggregates every live record of `collection`.
    pub fn new(collection: impl Into<String>) -> Self {
        Aggregate::from_query(Query::new(collection))
    }

    /// Aggregates the matches of `query`. Only its collection and filter are used; a query
    /// with sort keys, an offset or a limit is refused with `InvalidQuery` when run (use
    /// [`Aggregate::order_by`], [`Aggregate::offset`] and [`Aggregate::limit`], which apply
    /// to the output rows).
    pub fn from_query(query: Query) -> Self {
        Aggregate {
            query,
            group_by: Vec::new(),
            aggregates: Vec::new(),
            having: None,
            order: Vec::new(),
            offset: 0,
            limit: None,
        }
    }

    /// Adds a filter on the input records; several calls are ANDed.
    pub fn filter(mut self, f: Filter) -> Self {
        self.query = self.query.filter(f);
        self
    }

    /// Adds group-by fields (dotted paths) after the ones already given.
    pub fn group_by<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.group_by.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Adds an aggregate under `alias`.
    pub fn aggregate(mut self, alias: impl Into<String>, f: AggregateFn) -> Self {
        self.aggregates.push((alias.into(), f));
        self
    }

    /// The number of records in each group, as `alias`.
    pub fn count(self, alias: impl Into<String>) -> Self {
        self.aggregate(alias, AggregateFn::Count)
    }

    /// The number of records whose `field` is present and not null, as `alias`.
    pub fn count_of(self, field: impl Into<String>, alias: impl Into<String>) -> Self {
        self.aggregate(alias, AggregateFn::CountOf(field.into()))
    }

    /// The sum of `field`, as `alias` (see [`AggregateFn::Sum`]).
    pub fn sum(self, field: impl Into<String>, alias: impl Into<String>) -> Self {
        self.aggregate(alias, AggregateFn::Sum(field.into()))
    }

    /// The mean of `field`, as `alias` (see [`AggregateFn::Avg`]).
    pub fn avg(self, field: impl Into<String>, alias: impl Into<String>) -> Self {
        self.aggregate(alias, AggregateFn::Avg(field.into()))
    }

    /// The smallest value of `field`, as `alias` (see [`AggregateFn::Min`]).
    pub fn min(self, field: impl Into<String>, alias: impl Into<String>) -> Self {
        self.aggregate(alias, AggregateFn::Min(field.into()))
    }

    /// The largest value of `field`, as `alias` (see [`AggregateFn::Max`]).
    pub fn max(self, field: impl Into<String>, alias: impl Into<String>) -> Self {
        self.aggregate(alias, AggregateFn::Max(field.into()))
    }

    /// Keeps only the output rows matching `f`, evaluated with [`Filter::matches`] on the
    /// row (group-by fields and aliases). Several calls are ANDed. Every field it names must
    /// be an output field (or a path inside one), else the run fails with `InvalidQuery`.
    pub fn having(mut self, f: Filter) -> Self {
        Filter::and_into(&mut self.having, f);
        self
    }

    /// Sorts the output rows by an output field, after the keys already given. Missing
    /// values and nulls sort last in both directions, as in queries; rows that tie stay in
    /// group-key order.
    pub fn order_by(mut self, field: impl Into<String>, order: Order) -> Self {
        self.order.push((field.into(), order));
        self
    }

    /// Skips this many output rows (after `having` and ordering).
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = n;
        self
    }

    /// Returns at most this many output rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// The input query (collection and filter).
    pub fn query(&self) -> &Query {
        &self.query
    }

    fn validate(&self) -> Result<()> {
        check_input_query(&self.query, "an aggregation")?;
        let mut outputs: Vec<&str> = Vec::new();
        for g in &self.group_by {
            if g.is_empty() {
                return Err(Error::InvalidQuery("a group-by field is empty".into()));
            }
            if outputs.contains(&g.as_str()) {
                return Err(Error::InvalidQuery(format!(
                    "group-by field {g:?} is given twice"
                )));
            }
            outputs.push(g);
        }
        for (alias, f) in &self.aggregates {
            if alias.is_empty() {
                return Err(Error::InvalidQuery(format!(
                    "a {} aggregate has an empty alias",
                    f.name()
                )));
            }
            if outputs.contains(&alias.as_str()) {
                return Err(Error::InvalidQuery(format!(
                    "output field {alias:?} is named twice (aliases must differ from each \
                     other and from the group-by fields)"
                )));
            }
            if f.field().is_some_and(str::is_empty) {
                return Err(Error::InvalidQuery(format!(
                    "aggregate {alias:?} names an empty field"
                )));
            }
            outputs.push(alias);
        }
        let is_output = |path: &str| {
            outputs.iter().any(|o| {
                path == *o
                    || path
                        .strip_prefix(*o)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        };
        if let Some(h) = &self.having {
            for f in h.fields() {
                if !is_output(f) {
                    return Err(Error::InvalidQuery(format!(
                        "having names {f:?}, which is not an output field (output fields: {})",
                        outputs.join(", ")
                    )));
                }
            }
        }
        for (f, _) in &self.order {
            if !is_output(f) {
                return Err(Error::InvalidQuery(format!(
                    "order_by names {f:?}, which is not an output field (output fields: {})",
                    outputs.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Refuses an input query whose sort keys, offset or limit would be silently ignored.
pub(crate) fn check_input_query(q: &Query, what: &str) -> Result<()> {
    if !q.order.is_empty() || q.offset != 0 || q.limit.is_some() {
        return Err(Error::InvalidQuery(format!(
            "{what} takes the query's collection and filter only; its sort keys, offset and \
             limit would be ignored, so they are refused"
        )));
    }
    Ok(())
}

/// One component of a group key: a value in canonical form with its sort key.
///
/// Ordered by the sort key, then by [`exact_cmp`]'s tie-break, so two parts are equal only
/// when their canonical values are identical (bit for bit for doubles, to the nanosecond
/// for dates). `Eq` agrees with `Ord`, which a `BTreeMap` key needs.
#[derive(Clone, Debug)]
struct KeyPart {
    sort: SortKey,
    canon: Value,
}

impl KeyPart {
    /// The part for a field: missing and null are one part (`Null`, which sorts last).
    fn of(v: Option<&Value>) -> KeyPart {
        let canon = match v {
            None | Some(Value::Null) => Value::Null,
            Some(v) => canonical(v),
        };
        KeyPart {
            sort: SortKey::of(&canon),
            canon,
        }
    }
}

impl PartialEq for KeyPart {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for KeyPart {}
impl PartialOrd for KeyPart {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for KeyPart {
    fn cmp(&self, o: &Self) -> Ordering {
        self.sort
            .cmp(&o.sort)
            .then_with(|| tie_cmp(&self.canon, &o.canon))
    }
}

/// 2^63, exactly representable as a double: the doubles in `[-2^63, 2^63)` cast to `i64`
/// exactly.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A top-level group-key value in canonical form: a double that holds an integer in `i64`
/// range becomes that int (so `3.0` groups with `3`, and `-0.0` with `0`), and every NaN
/// becomes one NaN (NaNs form one group, as SQL's nulls do). Nested values are kept as they
/// are: inside arrays and dictionaries the filters' equality is exact too.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Double(d) if d.is_nan() => Value::Double(f64::NAN),
        Value::Double(d) if d.fract() == 0.0 && *d >= -TWO_POW_63 && *d < TWO_POW_63 => {
            Value::Int(*d as i64)
        }
        other => other.clone(),
    }
}

/// A total order on values: [`SortKey`] order, then a tie-break that tells apart values the
/// sort key merges (`-0.0` before `0.0` and NaN payloads, by `f64::total_cmp`; dates within
/// one microsecond, by the nanosecond), so that only identical values compare equal. `min`
/// and `max` use it, which makes their result independent of the order records are visited
/// in.
pub(crate) fn exact_cmp(a: &Value, b: &Value) -> Ordering {
    SortKey::of(a)
        .cmp(&SortKey::of(b))
        .then_with(|| tie_cmp(a, b))
}

/// The tie-break of [`exact_cmp`], for two values whose sort keys are equal (so they are of
/// the same kind, and arrays, dictionaries and vectors have the same shape).
fn tie_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.total_cmp(y),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| tie_cmp(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        (Value::Dictionary(x), Value::Dictionary(y)) => x
            .values()
            .zip(y.values())
            .map(|(p, q)| tie_cmp(p, q))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        (Value::Vector(x), Value::Vector(y)) => x
            .iter()
            .zip(y)
            .map(|(p, q)| p.total_cmp(q))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        _ => Ordering::Equal,
    }
}

/// An exact running sum of ints and doubles.
#[derive(Clone, Debug, Default)]
struct ExactSum {
    /// The ints, exactly. `i128` cannot overflow: it would take 2^64 values of `i64`.
    ints: i128,
    /// Shewchuk's non-overlapping partials of the finite doubles: their exact sum.
    partials: Vec<f64>,
    saw_double: bool,
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
    /// Set when the running sum of finite doubles left the double range: the result is
    /// then infinite with this sign.
    overflow: Option<f64>,
    /// How many numbers were added.
    n: u64,
}

impl ExactSum {
    fn add(&mut self, v: &Value, alias: &str, field: &str, id: Uuid) -> Result<()> {
        match v {
            Value::Int(i) => self.ints += i128::from(*i),
            Value::Double(d) => {
                self.saw_double = true;
                if d.is_nan() {
                    self.nan = true;
                } else if *d == f64::INFINITY {
                    self.pos_inf = true;
                } else if *d == f64::NEG_INFINITY {
                    self.neg_inf = true;
                } else if self.overflow.is_none() {
                    self.overflow = add_partial(&mut self.partials, *d);
                }
            }
            other => {
                return Err(Error::InvalidQuery(format!(
                    "aggregate {alias:?} adds up field {field:?}, but record {id} holds a {} \
                     there, not a number",
                    other.kind().name()
                )));
            }
        }
        self.n += 1;
        Ok(())
    }

    /// The total as a double, correctly rounded (ints and doubles together).
    fn total_f64(&self) -> f64 {
        if self.nan || (self.pos_inf && self.neg_inf) {
            return f64::NAN;
        }
        if self.pos_inf {
            return f64::INFINITY;
        }
        if self.neg_inf {
            return f64::NEG_INFINITY;
        }
        if let Some(sign) = self.overflow {
            return sign * f64::INFINITY;
        }
        let mut partials = self.partials.clone();
        // Feed the int total in as doubles that are each exact: every step takes the
        // nearest double and carries the (exact, smaller) remainder, at most three steps.
        let mut rest = self.ints;
        while rest != 0 {
            let f = rest as f64;
            if let Some(sign) = add_partial(&mut partials, f) {
                return sign * f64::INFINITY;
            }
            rest = rest.saturating_sub(f as i128);
        }
        round_partials(&partials)
    }

    /// The `sum` result: an int when exact and in range, else a double.
    fn sum_value(&self) -> Value {
        if !self.saw_double
            && let Ok(i) = i64::try_from(self.ints)
        {
            return Value::Int(i);
        }
        Value::Double(self.total_f64())
    }

    /// The `avg` result: the correctly rounded total divided by the count.
    fn avg_value(&self) -> Value {
        if self.n == 0 {
            return Value::Null;
        }
        Value::Double(self.total_f64() / self.n as f64)
    }
}

/// Adds `x` to Shewchuk's partials (Python's `msum`), keeping them non-overlapping and in
/// increasing magnitude, so that their exact sum is the exact sum of everything added.
/// Returns the sign of the overflow when the running sum leaves the double range.
fn add_partial(partials: &mut Vec<f64>, mut x: f64) -> Option<f64> {
    let mut kept = 0;
    for j in 0..partials.len() {
        let mut y = partials[j];
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let hi = x + y;
        if hi.is_infinite() {
            return Some(hi.signum());
        }
        let lo = y - (hi - x);
        if lo != 0.0 {
            partials[kept] = lo;
            kept += 1;
        }
        x = hi;
    }
    partials.truncate(kept);
    partials.push(x);
    None
}

/// The exact sum of non-overlapping partials, rounded once to the nearest double (ties to
/// even), as Python's `fsum` finishes.
fn round_partials(partials: &[f64]) -> f64 {
    let Some((&last, rest)) = partials.split_last() else {
        return 0.0;
    };
    let mut hi = last;
    let mut lo = 0.0;
    let mut n = rest.len();
    // Add from the largest down until the addition is inexact.
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = rest[n];
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    // A half-way case: `lo` is exactly half an ulp of `hi`, and the partials below say which
    // way the exact sum leans, so round that way instead of to even.
    if n > 0 && ((lo < 0.0 && rest[n - 1] < 0.0) || (lo > 0.0 && rest[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

/// The running state of one aggregate in one group.
#[derive(Clone, Debug)]
enum Acc {
    Count(u64),
    Sum(ExactSum),
    Avg(ExactSum),
    Min(Option<Value>),
    Max(Option<Value>),
}

impl Acc {
    fn new(f: &AggregateFn) -> Acc {
        match f {
            AggregateFn::Count | AggregateFn::CountOf(_) => Acc::Count(0),
            AggregateFn::Sum(_) => Acc::Sum(ExactSum::default()),
            AggregateFn::Avg(_) => Acc::Avg(ExactSum::default()),
            AggregateFn::Min(_) => Acc::Min(None),
            AggregateFn::Max(_) => Acc::Max(None),
        }
    }

    fn add(&mut self, alias: &str, f: &AggregateFn, r: &Record, id: Uuid) -> Result<()> {
        let value = match f.field() {
            None => {
                if let Acc::Count(n) = self {
                    *n += 1;
                }
                return Ok(());
            }
            Some(field) => match r.get_path(field) {
                // Missing and null are skipped by every function but `Count`.
                None | Some(Value::Null) => return Ok(()),
                Some(v) => (field, v),
            },
        };
        let (field, v) = value;
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(s) | Acc::Avg(s) => s.add(v, alias, field, id)?,
            Acc::Min(best) => {
                if best
                    .as_ref()
                    .is_none_or(|b| exact_cmp(v, b) == Ordering::Less)
                {
                    *best = Some(v.clone());
                }
            }
            Acc::Max(best) => {
                if best
                    .as_ref()
                    .is_none_or(|b| exact_cmp(v, b) == Ordering::Greater)
                {
                    *best = Some(v.clone());
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Value {
        match self {
            Acc::Count(n) => Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
            Acc::Sum(s) => s.sum_value(),
            Acc::Avg(s) => s.avg_value(),
            Acc::Min(v) | Acc::Max(v) => v.unwrap_or(Value::Null),
        }
    }
}

/// One group: the value shown for each key part, and the accumulators.
struct Group {
    /// Per key part, the representative value: the smallest in [`exact_cmp`] order among
    /// the group's values (so an int `3` wins over a double `3.0`), whatever the visiting
    /// order.
    shown: Vec<Value>,
    accs: Vec<Acc>,
}

fn new_accs(a: &Aggregate) -> Vec<Acc> {
    a.aggregates.iter().map(|(_, f)| Acc::new(f)).collect()
}

/// The fields grouping and the aggregates read.
fn needed_fields(a: &Aggregate) -> Vec<&str> {
    a.group_by
        .iter()
        .map(String::as_str)
        .chain(a.aggregates.iter().filter_map(|(_, f)| f.field()))
        .collect()
}

/// Folds one matching record into its group.
fn add_record(
    a: &Aggregate,
    groups: &mut BTreeMap<Vec<KeyPart>, Group>,
    id: Uuid,
    r: &Record,
) -> Result<()> {
    let values: Vec<Option<&Value>> = a.group_by.iter().map(|g| r.get_path(g)).collect();
    let key: Vec<KeyPart> = values.iter().map(|v| KeyPart::of(*v)).collect();
    let group = groups.entry(key).or_insert_with(|| Group {
        shown: values
            .iter()
            .map(|v| v.cloned().unwrap_or(Value::Null))
            .collect(),
        accs: new_accs(a),
    });
    for (shown, v) in group.shown.iter_mut().zip(&values) {
        if let Some(v) = v
            && exact_cmp(v, shown) == Ordering::Less
        {
            *shown = (*v).clone();
        }
    }
    for (acc, (alias, f)) in group.accs.iter_mut().zip(&a.aggregates) {
        acc.add(alias, f, r, id)?;
    }
    Ok(())
}

/// The value a leading index component stands for, when the component alone determines
/// it exactly and every record under it is in one group showing that value: bools,
/// strings, uuids, and null-or-missing (one group, shown as null). Numbers are not: `3`
/// and `3.0` share a key but a group shows the int only if it holds one, and dates keep
/// more precision than their key. `None` for those and for every other kind.
fn exact_component_value(c: &[u8]) -> Option<Value> {
    use crate::engine::index_keys::{TAG_BOOL, TAG_NONE, TAG_STR, TAG_UUID};
    let (&tag, body) = c.split_first()?;
    match tag {
        TAG_BOOL => match body {
            [0] => Some(Value::Bool(false)),
            [1] => Some(Value::Bool(true)),
            _ => None,
        },
        TAG_STR => {
            let inner = body.strip_suffix(&[0, 0])?;
            let mut bytes = Vec::with_capacity(inner.len());
            let mut i = 0;
            while i < inner.len() {
                bytes.push(inner[i]);
                if inner[i] == 0 {
                    // `00` is stored escaped as `00 FF`.
                    if inner.get(i + 1) != Some(&0xFF) {
                        return None;
                    }
                    i += 1;
                }
                i += 1;
            }
            String::from_utf8(bytes).ok().map(Value::String)
        }
        TAG_UUID => Some(Value::Uuid(Uuid::from_bytes(body.try_into().ok()?))),
        TAG_NONE if body.is_empty() => Some(Value::Null),
        _ => None,
    }
}

/// Group-by counts read off an index instead of the records: with no filter, one group-by
/// field that leads an ordered index, and only `count` aggregates, each run of equal
/// leading components is one group and its length the group's count (an ordered index
/// holds exactly one sort entry per live record, under the component of
/// `get_path(field)`, the value grouping reads). Runs whose component does not determine
/// the group's value exactly ([`exact_component_value`]) are folded record by record, as
/// the scan would. An index that keeps per-value counts ([`crate::engine::indexes::COUNTS`])
/// is answered from those, one row per group, without walking its entries. Returns false,
/// having done nothing, when the shape does not fit.
fn index_only_groups(
    tx: &ReadTx,
    a: &Aggregate,
    groups: &mut BTreeMap<Vec<KeyPart>, Group>,
) -> Result<bool> {
    use crate::engine::encoding::{FLAG_SOFT_DELETED, Projection, decode_projected, record_flags};
    use crate::engine::index_keys::{ALIAS_TAG, entry_id};
    use redb::ReadableTable;

    let [field] = a.group_by.as_slice() else {
        return Ok(false);
    };
    if a.query.filter.is_some() || a.aggregates.iter().any(|(_, f)| *f != AggregateFn::Count) {
        return Ok(false);
    }
    let Some((index, records, counts)) = tx.ordered_index_led_by(&a.query.collection, field)?
    else {
        return Ok(false);
    };
    let bad = |what: &str| Error::corrupted(format!("index on {field:?}: {what}"));
    let proj = Projection::of([field.as_str()]);
    let flush = |groups: &mut BTreeMap<Vec<KeyPart>, Group>, v: Value, n: u64| {
        if n == 0 {
            return;
        }
        let group = groups
            .entry(vec![KeyPart::of(Some(&v))])
            .or_insert_with(|| Group {
                shown: vec![v],
                accs: new_accs(a),
            });
        for acc in &mut group.accs {
            if let Acc::Count(c) = acc {
                *c += n;
            }
        }
    };
    // Folds the record one entry points at, for components that do not determine the
    // group's value.
    let fold = |groups: &mut BTreeMap<Vec<KeyPart>, Group>, k: &[u8]| -> Result<()> {
        let id = entry_id(k).ok_or_else(|| bad("an entry is shorter than an id"))?;
        let live = records.get(id.as_u128())?;
        let bytes = live
            .as_ref()
            .map(|v| v.value())
            .filter(|b| record_flags(b).is_ok_and(|f| f & FLAG_SOFT_DELETED == 0))
            .ok_or_else(|| {
                bad(&format!(
                    "an entry points at record {id}, which is not live"
                ))
            })?;
        let r = decode_projected(bytes, Some(id), &proj)?;
        add_record(a, groups, id, &r)
    };
    // A counted index: one row per distinct leading component.
    if let Some(counts) = counts {
        for (comp, n) in counts {
            match exact_component_value(&comp) {
                Some(v) => flush(groups, v, n),
                None => {
                    let (lo, hi) = super::plan::prefix_range(comp);
                    let range = (super::plan::bound_ref(&lo), super::plan::bound_ref(&hi));
                    for item in index.range::<&[u8]>(range)? {
                        fold(groups, item?.0.value())?;
                    }
                }
            }
        }
        return Ok(true);
    }
    // The current run: its component, its value when exact, and its length.
    let mut run: Option<(Vec<u8>, Option<Value>, u64)> = None;
    for item in index.iter()? {
        let (k, _) = item?;
        let k = k.value();
        if k.first() == Some(&ALIAS_TAG) {
            break; // alias entries repeat records already counted
        }
        let clen = super::plan::component_len(k).ok_or_else(|| bad("a key does not parse"))?;
        let comp = &k[..clen];
        if run.as_ref().is_none_or(|(c, _, _)| c.as_slice() != comp) {
            if let Some((_, Some(v), n)) = run.take() {
                flush(groups, v, n);
            }
            run = Some((comp.to_vec(), exact_component_value(comp), 0));
        }
        let Some((_, exact, n)) = run.as_mut() else {
            continue;
        };
        if exact.is_some() {
            *n += 1;
            continue;
        }
        fold(groups, k)?;
    }
    if let Some((_, Some(v), n)) = run {
        flush(groups, v, n);
    }
    Ok(true)
}

/// Runs an aggregation on a snapshot.
pub(crate) fn run(tx: &ReadTx, a: &Aggregate) -> Result<Vec<Record>> {
    a.validate()?;
    let mut groups: BTreeMap<Vec<KeyPart>, Group> = BTreeMap::new();
    if a.group_by.is_empty() {
        // The one global group exists even when nothing matches (SQL's `count(*)` of an
        // empty table is one row holding 0).
        groups.insert(
            Vec::new(),
            Group {
                shown: Vec::new(),
                accs: new_accs(a),
            },
        );
    }
    if !index_only_groups(tx, a, &mut groups)? {
        // Records are decoded with only the fields grouping and the aggregates read.
        let needed = needed_fields(a);
        tx.for_each_match_projected(&a.query, &needed, |id, r| {
            add_record(a, &mut groups, id, &r)?;
            Ok(true)
        })?;
    }

    let mut rows: Vec<Record> = Vec::with_capacity(groups.len());
    for (_, g) in groups {
        let mut row = Record::new();
        for (field, v) in a.group_by.iter().zip(g.shown) {
            row.insert(field.clone(), v);
        }
        for ((alias, _), acc) in a.aggregates.iter().zip(g.accs) {
            row.insert(alias.clone(), acc.finish());
        }
        if a.having.as_ref().is_none_or(|h| h.matches(&row)) {
            rows.push(row);
        }
    }
    if !a.order.is_empty() {
        // Stable, so rows that tie on every key keep group-key order.
        rows.sort_by(|x, y| {
            for (field, order) in &a.order {
                let o = cmp_output(x.get_path(field), y.get_path(field), *order);
                if o.is_ne() {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    Ok(rows
        .into_iter()
        .skip(a.offset)
        .take(a.limit.unwrap_or(usize::MAX))
        .collect())
}

/// One output sort key: present values in the given direction, missing and null last.
fn cmp_output(x: Option<&Value>, y: Option<&Value>, order: Order) -> Ordering {
    fn present(v: Option<&Value>) -> Option<&Value> {
        v.filter(|v| !v.is_null())
    }
    match (present(x), present(y)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let o = SortKey::of(a).cmp(&SortKey::of(b));
            match order {
                Order::Ascending => o,
                Order::Descending => o.reverse(),
            }
        }
    }
}

/// Distinct value tuples of `fields` among the matches of `q`, in group-key order.
pub(crate) fn distinct(tx: &ReadTx, q: &Query, fields: &[&str]) -> Result<Vec<Vec<Value>>> {
    if fields.is_empty() {
        return Err(Error::InvalidQuery(
            "distinct needs at least one field".into(),
        ));
    }
    check_input_query(q, "distinct")?;
    let a = Aggregate::from_query(q.clone()).group_by(fields.iter().copied());
    let rows = run(tx, &a)?;
    Ok(rows
        .into_iter()
        .map(|mut row| {
            fields
                .iter()
                .map(|f| row.remove(f).unwrap_or(Value::Null))
                .collect()
        })
        .collect())
}

impl ReadTx {
    /// Runs an aggregation on this snapshot (see [`Aggregate`] and `docs/QUERY.md`).
    pub fn aggregate(&self, a: &Aggregate) -> Result<Vec<Record>> {
        run(self, a)
    }

    /// The distinct values of `field` among the matches of `q` (its filter; sort keys,
    /// offset and limit are refused), in sort order. Values are told apart as group keys
    /// are: `3` and `3.0` are one value, shown as the int. Records without the field, or
    /// with a stored null, contribute one `Value::Null`, last.
    pub fn distinct(&self, q: &Query, field: &str) -> Result<Vec<Value>> {
        Ok(distinct(self, q, &[field])?
            .into_iter()
            .filter_map(|mut t| t.pop())
            .collect())
    }

    /// The distinct tuples of several fields among the matches of `q`, in sort order (first
    /// field first); a missing or null field reads as `Value::Null`.
    pub fn distinct_fields(&self, q: &Query, fields: &[&str]) -> Result<Vec<Vec<Value>>> {
        distinct(self, q, fields)
    }
}

impl crate::db::Database {
    /// Runs an aggregation on the last commit (see [`Aggregate`]).
    pub fn aggregate(&self, a: &Aggregate) -> Result<Vec<Record>> {
        self.read(|tx| tx.aggregate(a))
    }

    /// The distinct values of `field` among the matches of `q` (see [`ReadTx::distinct`]).
    pub fn distinct(&self, q: &Query, field: &str) -> Result<Vec<Value>> {
        self.read(|tx| tx.distinct(q, field))
    }

    /// The distinct tuples of `fields` among the matches of `q` (see
    /// [`ReadTx::distinct_fields`]).
    pub fn distinct_fields(&self, q: &Query, fields: &[&str]) -> Result<Vec<Vec<Value>>> {
        self.read(|tx| tx.distinct_fields(q, fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fsum(xs: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        for x in xs {
            s.add(&Value::Double(*x), "s", "f", Uuid::nil()).unwrap();
        }
        s.total_f64()
    }

    #[test]
    fn exact_sum_matches_python_fsum_examples() {
        // The examples of Python's `math.fsum` documentation and test suite.
        assert_eq!(fsum(&[0.1; 10]), 1.0);
        assert_eq!(
            fsum(&[1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50]),
            1e-100
        );
        assert_eq!(
            fsum(&[2.0f64.powi(53), -0.5, -2.0f64.powi(-54)]),
            2.0f64.powi(53) - 1.0
        );
        assert_eq!(fsum(&[1.0, 1e-16, 1e-16]), 1.0000000000000002);
        assert!(fsum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(fsum(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(fsum(&[]), 0.0);
    }

    #[test]
    fn ints_and_doubles_add_exactly() {
        let mut s = ExactSum::default();
        for v in [
            Value::Int(i64::MAX),
            Value::Int(i64::MAX),
            Value::Double(0.5),
        ] {
            s.add(&v, "s", "f", Uuid::nil()).unwrap();
        }
        // 2^64 - 2 + 0.5 rounds to 2^64.
        assert_eq!(s.total_f64(), 18_446_744_073_709_551_616.0);
        let mut t = ExactSum::default();
        for v in [Value::Int(i64::MAX), Value::Int(1)] {
            t.add(&v, "s", "f", Uuid::nil()).unwrap();
        }
        assert_eq!(t.sum_value(), Value::Double(9_223_372_036_854_775_808.0));
    }

    #[test]
    fn canonical_group_keys() {
        assert_eq!(
            KeyPart::of(Some(&Value::Int(3))),
            KeyPart::of(Some(&Value::Double(3.0)))
        );
        assert_eq!(
            KeyPart::of(Some(&Value::Int(0))),
            KeyPart::of(Some(&Value::Double(-0.0)))
        );
        assert_ne!(
            KeyPart::of(Some(&Value::Int(3))),
            KeyPart::of(Some(&Value::Double(3.5)))
        );
        assert_eq!(KeyPart::of(None), KeyPart::of(Some(&Value::Null)));
        assert_eq!(
            KeyPart::of(Some(&Value::Double(f64::NAN))),
            KeyPart::of(Some(&Value::Double(-f64::NAN)))
        );
        // 2^53 + 1 is not a double: the int and the nearest double are two groups.
        assert_ne!(
            KeyPart::of(Some(&Value::Int((1 << 53) + 1))),
            KeyPart::of(Some(&Value::Double(9_007_199_254_740_992.0)))
        );
        assert_ne!(
            KeyPart::of(Some(&Value::Array(vec![Value::Int(1)]))),
            KeyPart::of(Some(&Value::Array(vec![Value::Double(1.0)])))
        );
    }
}
