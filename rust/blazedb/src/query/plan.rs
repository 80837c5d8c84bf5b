//! The query planner: picks an index or a scan, and runs the choice.
//!
//! Indexes only narrow the candidates. Every candidate record is checked against the
//! query's whole filter, so a plan can change how fast a query runs but never what it
//! returns: the ranges an index contributes are supersets where the filter's cross-type
//! rules need it (an equality on a number also reads dates within 1 ms; a range reads its
//! bound inclusive).
//!
//! Three strategies:
//!
//! * **scan**: every record in id order.
//! * **index lookup**: key ranges of one index (or, for an `or`, of several) give the
//!   candidate ids; they are read in id order, so results without sort keys come out
//!   exactly as from a scan.
//! * **index order**: with sort keys and a limit, walk an index whose field (after a run of
//!   equality-bound fields) is the first sort key, in that direction, and stop once the page
//!   is full. Each run of equal keys is sorted by the remaining keys and the id, and null or
//!   missing values come last in both directions, as the sort requires.
//!
//! The choice is cached per database handle, keyed by the query's shape (collection,
//! operators, fields, sort keys; not the values) and the catalog generation, so creating
//! or dropping an index invalidates it. The cache lives in the handle's shared state: a
//! plan can never travel to another database.

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::ops::Bound;

use redb::ReadableTable;
use uuid::Uuid;

use super::{Filter, Order, Query, Reading};
use crate::engine::RecordKey;
use crate::engine::encoding::{FLAG_SOFT_DELETED, record_flags};
use crate::engine::index_keys::{self, ALIAS_TAG, TAG_NONE, TAG_NUM, TAG_STR};
use crate::engine::indexes::IndexDef;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::value::Value;

/// A key range inside one index table.
pub(crate) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// How a query reads its candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Every record of the collection, in id order.
    Scan,
    /// Candidate ids from index key ranges, read in id order.
    IndexLookup,
    /// An index walked in the first sort key's order, stopping when the page is full.
    IndexOrder,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Scan => "scan",
            Strategy::IndexLookup => "index lookup",
            Strategy::IndexOrder => "index order",
        })
    }
}

/// What the planner chose for a query and what running it cost
/// ([`crate::Database::explain`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Explain {
    /// The collection queried.
    pub collection: String,
    /// Scan or index.
    pub strategy: Strategy,
    /// The index or indexes used, by name (`None` for a scan).
    pub index: Option<String>,
    /// The index fields and ranges used, in words.
    pub detail: String,
    /// Rows the planner expected to read: index entries in the chosen ranges, or the
    /// collection's stored records for a scan.
    pub estimated_rows: u64,
    /// Records actually read and checked against the filter.
    pub examined_rows: u64,
    /// Records returned (after offset and limit).
    pub returned_rows: u64,
    /// Whether the choice came from the handle's plan cache.
    pub cached: bool,
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.strategy, self.collection)?;
        if let Some(i) = &self.index {
            write!(f, " using {i}")?;
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        write!(
            f,
            ": estimated {} rows, examined {}, returned {}{}",
            self.estimated_rows,
            self.examined_rows,
            self.returned_rows,
            if self.cached { " [cached plan]" } else { "" }
        )
    }
}

/// A chosen access path with its ranges for this query's values.
#[derive(Clone, Debug)]
pub(crate) enum Access {
    Scan,
    /// Candidate ids: the intersection of one or more unions of ranges, each range
    /// `(position of the index in the collection's list, range)`. Each union covers every
    /// record the filter can match, so their intersection does too.
    Lookup(Vec<Vec<(usize, KeyRange)>>),
    Ordered {
        index: usize,
        /// Entries with a present value of the sort field; `None` when only null or
        /// missing values can match (`is_nil`).
        values: Option<KeyRange>,
        /// Entries whose sort field is null or missing (walked last), when the filter lets
        /// such records match.
        none: Option<KeyRange>,
        /// Length of the equality-bound key prefix; the sort field's component follows.
        prefix_len: usize,
        descending: bool,
    },
}

/// A plan: the access path and what explain reports about it.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) access: Access,
    pub(crate) index: Option<String>,
    pub(crate) detail: String,
    pub(crate) estimated: Option<u64>,
    pub(crate) cached: bool,
    /// A lookup whose candidates are exactly the filter's matches ([`exact_lookup`]): they
    /// are decoded without rechecking the filter.
    pub(crate) exact: bool,
}

/// What the cache remembers: the kind of access and the indexes it used, by id.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Choice {
    Scan,
    /// The index ids of each intersected candidate.
    Lookup(Vec<Vec<u64>>),
    Ordered(u64),
}

/// Re-plan a cached shape after this many uses, so a plan chosen when the data looked
/// different does not live forever.
const REPLAN_AFTER: u32 = 256;
/// Entries kept before the cache is emptied.
const CACHE_CAPACITY: usize = 256;
/// An index lookup reading more than this share of the collection loses to a scan (random
/// reads by id against one sequential pass).
const LOOKUP_SHARE: f64 = 0.3;
/// Most key ranges one lookup may expand into (`in` lists times equality fields).
const MAX_RANGES: usize = 256;
/// A lookup whose best index yields more candidates than this is intersected with the
/// other indexes the filter's conjuncts can use (two at most), so that records only one
/// conjunct allows are never fetched.
const INTERSECT_ABOVE: u64 = 64;
/// An index joins the intersection only when it yields at most this many times the best
/// one's entries: reading an index entry costs a small fraction of fetching a record.
const INTERSECT_RATIO: u64 = 8;
/// Most candidates intersected (the best one included).
const MAX_INTERSECT: usize = 3;

/// The per-handle plan cache.
#[derive(Debug, Default)]
pub(crate) struct PlanCache {
    entries: HashMap<(u64, String), (Choice, u32)>,
}

/// One handle's cache together with the catalog generation the caller's snapshot saw.
pub(crate) struct CacheRef<'a> {
    pub(crate) cache: &'a parking_lot::Mutex<PlanCache>,
    pub(crate) generation: u64,
    /// False inside a write transaction that changed the catalog: its view is not the
    /// generation's, so it must neither read nor fill the cache.
    pub(crate) usable: bool,
}

fn shape(q: &Query) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}\u{0}", q.collection);
    if let Some(f) = &q.filter {
        filter_shape(f, &mut s);
    }
    for (f, o) in &q.order {
        let _ = write!(s, "|{f}:{}", matches!(o, Order::Descending) as u8);
    }
    let _ = write!(s, "|limit:{}", q.limit.is_some());
    s
}

fn value_shape(v: &Value) -> &'static str {
    v.kind().name()
}

fn filter_shape(f: &Filter, s: &mut String) {
    match f {
        Filter::Eq(p, v) => {
            let _ = write!(s, "eq({p},{})", value_shape(v));
        }
        Filter::Ne(p, _) => {
            let _ = write!(s, "ne({p})");
        }
        Filter::Gt(p, v) | Filter::Gte(p, v) | Filter::Lt(p, v) | Filter::Lte(p, v) => {
            let op = match f {
                Filter::Gt(..) => "gt",
                Filter::Gte(..) => "gte",
                Filter::Lt(..) => "lt",
                _ => "lte",
            };
            let _ = write!(s, "{op}({p},{})", value_shape(v));
        }
        Filter::Contains(p, _) => {
            let _ = write!(s, "contains({p})");
        }
        Filter::StartsWith(p, _) => {
            let _ = write!(s, "prefix({p})");
        }
        Filter::In(p, vs) => {
            let _ = write!(s, "in({p},{})", vs.len().min(MAX_RANGES + 1));
        }
        Filter::IsNil(p) => {
            let _ = write!(s, "nil({p})");
        }
        Filter::NotNil(p) => {
            let _ = write!(s, "notnil({p})");
        }
        Filter::And(fs) | Filter::Or(fs) => {
            s.push_str(if matches!(f, Filter::And(_)) {
                "and("
            } else {
                "or("
            });
            for x in fs {
                filter_shape(x, s);
                s.push(',');
            }
            s.push(')');
        }
        Filter::Not(x) => {
            s.push_str("not(");
            filter_shape(x, s);
            s.push(')');
        }
    }
}

// ---- key-range construction -----------------------------------------------------------

/// The smallest byte string greater than every string starting with `p`, or `None` when
/// there is none (all bytes 0xFF).
fn successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// Every key starting with `p`.
pub(crate) fn prefix_range(p: Vec<u8>) -> KeyRange {
    let hi = match successor(&p) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    };
    (Bound::Included(p), hi)
}

fn with(p: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len() + tail.len());
    v.extend_from_slice(p);
    v.extend_from_slice(tail);
    v
}

/// What an equality on one value contributes at one key position.
enum Expansion {
    /// An exact component: later fields can extend it.
    Exact(Vec<u8>),
    /// A band of numeric keys (cross-type number/date equality): ends the key prefix.
    Band(Vec<u8>, Vec<u8>),
    /// Alias entries of strings holding this UUID (leading field only): `FF` + uuid.
    Alias(Vec<u8>),
}

/// The expansions covering every stored value `values_equal` to `v`, or `None` when this
/// position cannot serve the equality.
fn eq_expansions(v: &Value, leading: bool) -> Option<Vec<Expansion>> {
    use Expansion::*;
    Some(match v {
        Value::Int(_) | Value::Double(_) | Value::Date(_) => match index_keys::num_axis(v) {
            // 1 ms either side: a date equals a number within a millisecond.
            Some(f) => {
                let (lo, hi) = index_keys::num_range(f - 0.001, f + 0.001);
                vec![Band(lo, hi)]
            }
            None => Vec::new(), // NaN equals nothing
        },
        Value::String(s) => {
            let mut out = vec![Exact(index_keys::component(Some(v)))];
            if let Ok(u) = Uuid::parse_str(s) {
                out.push(Exact(index_keys::component(Some(&Value::Uuid(u)))));
            }
            out
        }
        Value::Uuid(u) => {
            if !leading {
                return None;
            }
            let mut alias = vec![ALIAS_TAG];
            alias.extend(u.as_bytes());
            vec![Exact(index_keys::component(Some(v))), Alias(alias)]
        }
        Value::Null => vec![Exact(vec![TAG_NONE])],
        _ => vec![Exact(index_keys::component(Some(v)))],
    })
}

/// The bytes where a class of components starts and the byte just past it.
fn class_bounds(tag: u8) -> (Vec<u8>, Vec<u8>) {
    (vec![tag], vec![tag + 1])
}

/// Lower and upper bounds (component bytes, relative to the prefix) of a range filter, as
/// a superset: bounds are inclusive and numbers compare on their float axis.
fn range_bounds(f: &Filter) -> Option<(Vec<u8>, Vec<u8>, u8)> {
    let (v, lower) = match f {
        Filter::Gt(_, v) | Filter::Gte(_, v) => (v, true),
        Filter::Lt(_, v) | Filter::Lte(_, v) => (v, false),
        Filter::StartsWith(_, s) => {
            let p = index_keys::string_prefix(s);
            let hi = successor(&p)?;
            return Some((p, hi, TAG_STR));
        }
        Filter::IsNil(_) => {
            return Some((vec![TAG_NONE], vec![TAG_NONE + 1], TAG_NONE));
        }
        _ => return None,
    };
    let (tag, bound_lo, bound_hi) = match v {
        Value::Int(_) | Value::Double(_) | Value::Date(_) => {
            let x = index_keys::num_axis(v)?;
            let (lo, hi) = index_keys::num_range(x, x);
            // `hi` covers every key at this float; excluded end = its successor.
            (TAG_NUM, lo, successor(&hi)?)
        }
        Value::String(_) | Value::Uuid(_) | Value::Bool(_) => {
            let c = index_keys::component(Some(v));
            let tag = c[0];
            let hi = successor(&c)?;
            (tag, c, hi)
        }
        _ => return None,
    };
    let (class_lo, class_hi) = class_bounds(tag);
    Some(if lower {
        (bound_lo, class_hi, tag)
    } else {
        (class_lo, bound_hi, tag)
    })
}

fn field_of(f: &Filter) -> Option<&str> {
    match f {
        Filter::Eq(p, _)
        | Filter::Gt(p, _)
        | Filter::Gte(p, _)
        | Filter::Lt(p, _)
        | Filter::Lte(p, _)
        | Filter::StartsWith(p, _)
        | Filter::In(p, _)
        | Filter::IsNil(p) => Some(p),
        _ => None,
    }
}

/// The narrowest range on one field from the conjuncts: the first lower and the first
/// upper bound of the same kind of value.
fn field_range(conj: &[&Filter], field: &str) -> Option<(Vec<u8>, Vec<u8>, String)> {
    let mut lo: Option<(Vec<u8>, u8)> = None;
    let mut hi: Option<(Vec<u8>, u8)> = None;
    let mut words = Vec::new();
    for c in conj {
        if field_of(c) != Some(field) {
            continue;
        }
        if let Some((l, h, tag)) = range_bounds(c) {
            let two_sided = matches!(c, Filter::StartsWith(..) | Filter::IsNil(_));
            let is_lower = matches!(c, Filter::Gt(..) | Filter::Gte(..)) || two_sided;
            let is_upper = matches!(c, Filter::Lt(..) | Filter::Lte(..)) || two_sided;
            if is_lower && lo.is_none() && hi.as_ref().is_none_or(|(_, t)| *t == tag) {
                lo = Some((l, tag));
                if two_sided {
                    hi = Some((h.clone(), tag));
                }
                words.push(op_word(c));
            } else if is_upper && hi.is_none() && lo.as_ref().is_none_or(|(_, t)| *t == tag) {
                hi = Some((h, tag));
                words.push(op_word(c));
            }
        }
    }
    let tag = lo.as_ref().or(hi.as_ref()).map(|(_, t)| *t)?;
    let (class_lo, class_hi) = class_bounds(tag);
    Some((
        lo.map_or(class_lo, |(b, _)| b),
        hi.map_or(class_hi, |(b, _)| b),
        format!("{field} {}", words.join(" and ")),
    ))
}

fn op_word(f: &Filter) -> &'static str {
    match f {
        Filter::Eq(..) => "=",
        Filter::In(..) => "in",
        Filter::Gt(..) => ">",
        Filter::Gte(..) => ">=",
        Filter::Lt(..) => "<",
        Filter::Lte(..) => "<=",
        Filter::StartsWith(..) => "starts with",
        Filter::IsNil(..) => "is nil",
        _ => "?",
    }
}

/// The values an equality-like conjunct on `field` allows, if there is one.
fn eq_values<'a>(conj: &[&'a Filter], field: &str) -> Option<(Vec<&'a Value>, &'static str)> {
    for c in conj {
        match c {
            Filter::Eq(p, v) if p == field => return Some((vec![v], "=")),
            Filter::In(p, vs) if p == field => return Some((vs.iter().collect(), "in")),
            _ => {}
        }
    }
    None
}

/// Key ranges of one index that cover every record the conjuncts can match, with a
/// description; `None` when the index does not help.
fn index_ranges(def: &IndexDef, conj: &[&Filter]) -> Option<(Vec<KeyRange>, String)> {
    if !def.is_ordered() {
        return None;
    }
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    let mut done: Vec<KeyRange> = Vec::new();
    let mut words = Vec::new();
    let mut used = 0;
    for (pos, field) in def.fields.iter().enumerate() {
        if let Some((values, op)) = eq_values(conj, field) {
            let mut exps = Vec::new();
            let mut ok = true;
            for v in values {
                match eq_expansions(v, pos == 0) {
                    Some(e) => exps.extend(e),
                    None => ok = false,
                }
            }
            if !ok || prefixes.len().saturating_mul(exps.len().max(1)) > MAX_RANGES {
                break;
            }
            words.push(format!("{field} {op}"));
            used += 1;
            let mut next = Vec::new();
            for p in &prefixes {
                for e in &exps {
                    match e {
                        Expansion::Exact(c) => next.push(with(p, c)),
                        Expansion::Band(lo, hi) => {
                            done.push((Bound::Included(with(p, lo)), Bound::Included(with(p, hi))))
                        }
                        // Only at position 0, where `p` is empty.
                        Expansion::Alias(a) => next.push(a.clone()),
                    }
                }
            }
            prefixes = next;
            if prefixes.is_empty() {
                break;
            }
            continue;
        }
        if let Some((lo, hi, w)) = field_range(conj, field) {
            words.push(w);
            used += 1;
            for p in prefixes.drain(..) {
                done.push((
                    Bound::Included(with(&p, &lo)),
                    Bound::Excluded(with(&p, &hi)),
                ));
            }
        }
        break;
    }
    if used == 0 {
        return None;
    }
    done.extend(prefixes.into_iter().map(prefix_range));
    Some((done, words.join(", ")))
}

/// Whether an index lookup for `conj` yields exactly the records the filter matches, so
/// they need not be checked against it again: one equality (or `in`) whose values are all
/// strings, booleans or uuids. Every index the lookup can use leads with that field
/// ([`index_ranges`] starts at position 0), the key components of those values are
/// injective, and their only cross-type match (a uuid and a string holding it) has entries
/// of its own (the uuid component of a uuid-shaped string, the alias entries of a uuid), so
/// the entries under the components are the matches and nothing else. Numbers and dates
/// (read as a ±1 ms band), null (its tag is shared with missing) and containers (NaN
/// elements, int and double spellings of one number) are rechecked.
fn exact_lookup(conj: &[&Filter]) -> bool {
    let exact = |v: &Value| matches!(v, Value::String(_) | Value::Bool(_) | Value::Uuid(_));
    match conj {
        [Filter::Eq(_, v)] => exact(v),
        [Filter::In(_, vs)] => vs.iter().all(exact),
        _ => false,
    }
}

/// Splits a filter into its top-level conjuncts.
fn conjuncts(f: Option<&Filter>) -> Vec<&Filter> {
    fn walk<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
        match f {
            Filter::And(fs) => fs.iter().for_each(|x| walk(x, out)),
            other => out.push(other),
        }
    }
    let mut out = Vec::new();
    if let Some(f) = f {
        walk(f, &mut out);
    }
    out
}

/// A lookup candidate: ranges per index position, the indexes' names and the words.
struct Candidate {
    parts: Vec<(usize, KeyRange)>,
    names: Vec<String>,
    ids: Vec<u64>,
    detail: String,
}

/// Lookup candidates from single conjunct groups (one per index) and from `or`s whose
/// every branch an index serves. `only` restricts the indexes (a cached choice).
fn lookup_candidates(defs: &[IndexDef], conj: &[&Filter], only: Option<&[u64]>) -> Vec<Candidate> {
    let allowed = |d: &IndexDef| only.is_none_or(|ids| ids.contains(&d.id));
    let mut out = Vec::new();
    for (i, d) in defs.iter().enumerate() {
        if !allowed(d) {
            continue;
        }
        if let Some((ranges, detail)) = index_ranges(d, conj) {
            out.push(Candidate {
                parts: ranges.into_iter().map(|r| (i, r)).collect(),
                names: vec![d.name.clone()],
                ids: vec![d.id],
                detail,
            });
        }
    }
    for c in conj {
        let Filter::Or(branches) = c else { continue };
        if branches.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        let mut names = Vec::new();
        let mut ids = Vec::new();
        let mut words = Vec::new();
        let mut all = true;
        for b in branches {
            let sub = conjuncts(Some(b));
            // Per branch, the first index that serves it (cached plans re-derive the same).
            let found = defs.iter().enumerate().find_map(|(i, d)| {
                if !allowed(d) {
                    return None;
                }
                index_ranges(d, &sub).map(|(r, w)| (i, d, r, w))
            });
            match found {
                Some((i, d, r, w)) => {
                    parts.extend(r.into_iter().map(|r| (i, r)));
                    if !names.contains(&d.name) {
                        names.push(d.name.clone());
                        ids.push(d.id);
                    }
                    words.push(w);
                }
                None => {
                    all = false;
                    break;
                }
            }
        }
        if all && parts.len() <= MAX_RANGES {
            out.push(Candidate {
                parts,
                names,
                ids,
                detail: format!("or of ({})", words.join("; ")),
            });
        }
    }
    out
}

/// An ordered-walk candidate for the first sort key, if an index provides that order.
fn ordered_candidate(
    defs: &[IndexDef],
    conj: &[&Filter],
    q: &Query,
    only: Option<u64>,
) -> Option<(usize, Access, String)> {
    let (sort_field, order) = q.order.first()?;
    q.limit?;
    let descending = *order == Order::Descending;
    for (i, d) in defs.iter().enumerate() {
        if !d.is_ordered() || only.is_some_and(|id| id != d.id) {
            continue;
        }
        let mut prefix = Vec::new();
        let mut words = Vec::new();
        let mut pos = 0;
        while pos < d.fields.len() && d.fields[pos] != *sort_field {
            // Leading fields must be pinned to one exact key for the walk to be in order.
            let Some((values, _)) = eq_values(conj, &d.fields[pos]) else {
                break;
            };
            let exact = match (values.as_slice(), values.first()) {
                ([_], Some(v)) => match eq_expansions(v, pos == 0) {
                    Some(e) if e.len() == 1 => match &e[0] {
                        Expansion::Exact(c) => Some(c.clone()),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            let Some(c) = exact else { break };
            prefix.extend(c);
            words.push(format!("{} =", d.fields[pos]));
            pos += 1;
        }
        if d.fields.get(pos) != Some(sort_field) {
            continue;
        }
        let (values, none) = match field_range(conj, sort_field) {
            Some((lo, hi, w)) => {
                words.push(w);
                let none = lo.first() == Some(&TAG_NONE);
                if none {
                    // An `is nil` range: only null or missing values can match.
                    (None, Some(prefix_range(with(&prefix, &[TAG_NONE]))))
                } else {
                    let r = (
                        Bound::Included(with(&prefix, &lo)),
                        Bound::Excluded(with(&prefix, &hi)),
                    );
                    (Some(r), None)
                }
            }
            None => {
                let lo = if prefix.is_empty() {
                    Bound::Unbounded
                } else {
                    Bound::Included(prefix.clone())
                };
                let r = (lo, Bound::Excluded(with(&prefix, &[TAG_NONE])));
                (Some(r), Some(prefix_range(with(&prefix, &[TAG_NONE]))))
            }
        };
        words.push(format!(
            "order by {sort_field} {}",
            if descending { "desc" } else { "asc" }
        ));
        return Some((
            i,
            Access::Ordered {
                index: i,
                values,
                none,
                prefix_len: prefix.len(),
                descending,
            },
            words.join(", "),
        ));
    }
    None
}

/// A borrowed view of an owned bound, for redb's range calls.
pub(crate) fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn is_empty_range(r: &KeyRange) -> bool {
    match (&r.0, &r.1) {
        (Bound::Included(a), Bound::Excluded(b)) | (Bound::Excluded(a), Bound::Excluded(b)) => {
            a >= b
        }
        (Bound::Included(a), Bound::Included(b)) | (Bound::Excluded(a), Bound::Included(b)) => {
            a > b
        }
        _ => false,
    }
}

/// Entries in a range, counting no further than `cap`.
fn count_range<I: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &I,
    r: &KeyRange,
    cap: u64,
) -> Result<u64> {
    if is_empty_range(r) {
        return Ok(0);
    }
    let mut n = 0;
    for item in t.range::<&[u8]>((bound_ref(&r.0), bound_ref(&r.1)))? {
        item?;
        n += 1;
        if n >= cap {
            break;
        }
    }
    Ok(n)
}

/// Opens each index table the plan needs, once.
struct Tables<I> {
    open: Vec<Option<I>>,
}

impl<I: ReadableTable<&'static [u8], &'static [u8]>> Tables<I> {
    fn new(n: usize) -> Self {
        Tables {
            open: (0..n).map(|_| None).collect(),
        }
    }

    fn get(
        &mut self,
        i: usize,
        defs: &[IndexDef],
        opener: &impl Fn(&IndexDef) -> Result<I>,
    ) -> Result<&I> {
        if self.open[i].is_none() {
            self.open[i] = Some(opener(&defs[i])?);
        }
        self.open[i]
            .as_ref()
            .ok_or_else(|| Error::corrupted("index table vanished"))
    }
}

/// Chooses the access path for a query.
pub(crate) fn choose<I: ReadableTable<&'static [u8], &'static [u8]>>(
    cache: &CacheRef<'_>,
    stored: u64,
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
    q: &Query,
    always_estimate: bool,
) -> Result<Plan> {
    if defs.iter().all(|d| !d.is_ordered()) {
        return Ok(Plan {
            access: Access::Scan,
            index: None,
            detail: String::new(),
            estimated: Some(stored),
            cached: false,
            exact: false,
        });
    }
    let conj = conjuncts(q.filter.as_ref());
    let key = (cache.generation, shape(q));
    if cache.usable && !always_estimate {
        let hit = {
            let mut c = cache.cache.lock();
            match c.entries.get_mut(&key) {
                Some((choice, uses)) if *uses < REPLAN_AFTER => {
                    *uses += 1;
                    Some(choice.clone())
                }
                _ => None,
            }
        };
        if let Some(choice) = hit
            && let Some(mut plan) = replay(&choice, defs, &conj, q, stored)
        {
            plan.cached = true;
            return Ok(plan);
        }
    }
    let mut tables = Tables::new(defs.len());
    let budget = ((stored as f64) * LOOKUP_SHARE).ceil() as u64 + 1;
    let mut best: Option<(u64, Candidate)> = None;
    for cand in lookup_candidates(defs, &conj, None) {
        let cap = best.as_ref().map_or(budget, |(n, _)| (*n).min(budget));
        let mut n = 0;
        for (i, r) in &cand.parts {
            n += count_range(
                tables.get(*i, defs, opener)?,
                r,
                cap.saturating_sub(n).max(1),
            )?;
            if n >= cap {
                break;
            }
        }
        if n < cap {
            best = Some((n, cand));
        }
    }
    let page = q.offset.saturating_add(q.limit.unwrap_or(0)) as u64;
    let ordered = ordered_candidate(defs, &conj, q, None);
    let (access, choice, index, detail, estimated) = match (best, ordered) {
        (Some((n, c)), ordered) if ordered.is_none() || n <= page.saturating_mul(4) + 1000 => {
            let mut chosen = vec![c];
            if n > INTERSECT_ABOVE {
                let cap = n.saturating_mul(INTERSECT_RATIO).min(budget);
                let mut more: Vec<(u64, Candidate)> = Vec::new();
                for other in lookup_candidates(defs, &conj, None) {
                    if other.ids.iter().any(|id| chosen[0].ids.contains(id)) {
                        continue;
                    }
                    let mut m = 0;
                    for (i, r) in &other.parts {
                        m += count_range(tables.get(*i, defs, opener)?, r, cap - m.min(cap))?;
                        if m >= cap {
                            break;
                        }
                    }
                    if m < cap {
                        more.push((m, other));
                    }
                }
                more.sort_by_key(|(m, _)| *m);
                let mut used: Vec<u64> = chosen[0].ids.clone();
                for (_, other) in more {
                    if chosen.len() >= MAX_INTERSECT {
                        break;
                    }
                    if other.ids.iter().all(|id| !used.contains(id)) {
                        used.extend(&other.ids);
                        chosen.push(other);
                    }
                }
            }
            let index = chosen
                .iter()
                .map(|c| c.names.join(", "))
                .collect::<Vec<_>>()
                .join(" & ");
            let detail = chosen
                .iter()
                .map(|c| c.detail.as_str())
                .collect::<Vec<_>>()
                .join(" & ");
            (
                Access::Lookup(
                    chosen
                        .iter_mut()
                        .map(|c| std::mem::take(&mut c.parts))
                        .collect(),
                ),
                Choice::Lookup(chosen.iter().map(|c| c.ids.clone()).collect()),
                Some(index),
                detail,
                Some(n),
            )
        }
        (_, Some((i, access, detail))) => {
            let est = if always_estimate {
                Some(estimate_ordered(&access, tables.get(i, defs, opener)?)?)
            } else {
                None
            };
            (
                access,
                Choice::Ordered(defs[i].id),
                Some(defs[i].name.clone()),
                detail,
                est,
            )
        }
        _ => (
            Access::Scan,
            Choice::Scan,
            None,
            String::new(),
            Some(stored),
        ),
    };
    if cache.usable {
        let mut c = cache.cache.lock();
        if c.entries.len() >= CACHE_CAPACITY {
            c.entries.clear();
        }
        c.entries.insert(key, (choice, 0));
    }
    let exact = matches!(access, Access::Lookup(_)) && exact_lookup(&conj);
    Ok(Plan {
        access,
        index,
        detail,
        estimated,
        cached: false,
        exact,
    })
}

fn estimate_ordered<I: ReadableTable<&'static [u8], &'static [u8]>>(
    a: &Access,
    t: &I,
) -> Result<u64> {
    let Access::Ordered { values, none, .. } = a else {
        return Ok(0);
    };
    let mut n = match values {
        Some(r) => count_range(t, r, u64::MAX)?,
        None => 0,
    };
    if let Some(r) = none {
        n += count_range(t, r, u64::MAX)?;
    }
    Ok(n)
}

/// Rebuilds a cached choice's ranges for this query's values.
fn replay(
    choice: &Choice,
    defs: &[IndexDef],
    conj: &[&Filter],
    q: &Query,
    stored: u64,
) -> Option<Plan> {
    match choice {
        Choice::Scan => Some(Plan {
            access: Access::Scan,
            index: None,
            detail: String::new(),
            estimated: Some(stored),
            cached: true,
            exact: false,
        }),
        Choice::Lookup(members) => {
            let mut parts = Vec::with_capacity(members.len());
            let mut names = Vec::with_capacity(members.len());
            let mut details = Vec::with_capacity(members.len());
            for ids in members {
                let c = lookup_candidates(defs, conj, Some(ids))
                    .into_iter()
                    .find(|c| &c.ids == ids)?;
                parts.push(c.parts);
                names.push(c.names.join(", "));
                details.push(c.detail);
            }
            Some(Plan {
                access: Access::Lookup(parts),
                index: Some(names.join(" & ")),
                detail: details.join(" & "),
                estimated: None,
                cached: true,
                exact: exact_lookup(conj),
            })
        }
        Choice::Ordered(id) => {
            let (i, access, detail) = ordered_candidate(defs, conj, q, Some(*id))?;
            Some(Plan {
                access,
                index: Some(defs[i].name.clone()),
                detail,
                estimated: None,
                cached: true,
                exact: false,
            })
        }
    }
}

// ---- execution --------------------------------------------------------------------------

/// Reads the live record stored under `key` as `reading` asks (`None`: its filter rejects
/// it); an index entry pointing at nothing or at a tombstone breaks the index invariant
/// and is reported as corruption.
fn fetch<T: ReadableTable<RecordKey, &'static [u8]>>(
    t: &T,
    key: RecordKey,
    reading: &Reading<'_>,
) -> Result<Option<Record>> {
    let bad = || {
        Error::corrupted(format!(
            "an index entry points at record {}, which is not live",
            Uuid::from_u128(key)
        ))
    };
    let v = t.get(key)?.ok_or_else(bad)?;
    let bytes = v.value();
    if record_flags(bytes)? & FLAG_SOFT_DELETED != 0 {
        return Err(bad());
    }
    reading.read(key, bytes)
}

/// Candidate ids of one union of ranges, deduplicated, in id order.
fn lookup_ids<I: ReadableTable<&'static [u8], &'static [u8]>>(
    parts: &[(usize, KeyRange)],
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
) -> Result<Vec<RecordKey>> {
    let mut tables = Tables::new(defs.len());
    let mut ids = Vec::new();
    for (i, r) in parts {
        if is_empty_range(r) {
            continue;
        }
        let t = tables.get(*i, defs, opener)?;
        for item in t.range::<&[u8]>((bound_ref(&r.0), bound_ref(&r.1)))? {
            let (k, _) = item?;
            let id = index_keys::entry_id(k.value())
                .ok_or_else(|| Error::corrupted("an index entry is shorter than an id"))?;
            ids.push(id.as_u128());
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Candidate ids of a lookup: the intersection of its unions, in id order.
fn intersect_ids<I: ReadableTable<&'static [u8], &'static [u8]>>(
    members: &[Vec<(usize, KeyRange)>],
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
) -> Result<Vec<RecordKey>> {
    let Some((first, rest)) = members.split_first() else {
        return Ok(Vec::new());
    };
    let mut ids = lookup_ids(first, defs, opener)?;
    for m in rest {
        if ids.is_empty() {
            break;
        }
        let other = lookup_ids(m, defs, opener)?;
        let mut j = 0;
        ids.retain(|id| {
            j += other[j..].partition_point(|o| o < id);
            other.get(j) == Some(id)
        });
    }
    Ok(ids)
}

/// Feeds candidates to `visit` (in id order for scans and lookups) until it returns false;
/// returns how many records were read. The ordered strategy is handled by [`walk_ordered`].
pub(crate) fn candidates<T, I>(
    plan: &Plan,
    t: &T,
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
    reading: &Reading<'_>,
    mut visit: impl FnMut(RecordKey, Record) -> Result<bool>,
) -> Result<u64>
where
    T: ReadableTable<RecordKey, &'static [u8]>,
    I: ReadableTable<&'static [u8], &'static [u8]>,
{
    let mut examined = 0u64;
    match &plan.access {
        Access::Lookup(members) => {
            let unfiltered;
            let reading = if plan.exact {
                unfiltered = reading.unfiltered();
                &unfiltered
            } else {
                reading
            };
            for key in intersect_ids(members, defs, opener)? {
                examined += 1;
                if let Some(r) = fetch(t, key, reading)?
                    && !visit(key, r)?
                {
                    break;
                }
            }
        }
        // An ordered plan visited without its order (counts, aggregation): a scan is the
        // cheapest way to see every match.
        Access::Scan | Access::Ordered { .. } => {
            examined = super::scan_reading(t, None, reading, visit)?;
        }
    }
    Ok(examined)
}

/// The number of matches of an exact lookup ([`Plan::exact`]), read off the index without
/// fetching a record; `None` for any other plan.
pub(crate) fn exact_count<I: ReadableTable<&'static [u8], &'static [u8]>>(
    plan: &Plan,
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
) -> Result<Option<u64>> {
    match &plan.access {
        Access::Lookup(members) if plan.exact => {
            Ok(Some(intersect_ids(members, defs, opener)?.len() as u64))
        }
        _ => Ok(None),
    }
}

/// Walks an ordered plan, handing matches to `emit` in the query's order until it returns
/// false; returns how many records were read.
pub(crate) fn walk_ordered<T, I>(
    plan: &Plan,
    t: &T,
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
    q: &Query,
    reading: &Reading<'_>,
    mut emit: impl FnMut(Record) -> Result<bool>,
) -> Result<u64>
where
    T: ReadableTable<RecordKey, &'static [u8]>,
    I: ReadableTable<&'static [u8], &'static [u8]>,
{
    let Access::Ordered {
        index,
        values,
        none,
        prefix_len,
        descending,
    } = &plan.access
    else {
        return Err(Error::InvalidQuery("not an ordered plan".into()));
    };
    let table = opener(&defs[*index])?;
    let mut examined = 0u64;
    let mut group: Vec<super::Ranked> = Vec::new();
    let mut group_key: Option<Vec<u8>> = None;
    // Sorts and emits one run of equal sort-field keys; false once `emit` is satisfied.
    let mut flush = |group: &mut Vec<super::Ranked>| -> Result<bool> {
        group.sort_unstable();
        for super::Ranked(_, _, r) in group.drain(..) {
            if !emit(r)? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let mut run =
        |range: &KeyRange, reverse: bool, group: &mut Vec<super::Ranked>| -> Result<bool> {
            if is_empty_range(range) {
                return Ok(true);
            }
            let iter = table.range::<&[u8]>((bound_ref(&range.0), bound_ref(&range.1)))?;
            let iter: Box<dyn Iterator<Item = _>> = if reverse {
                Box::new(iter.rev())
            } else {
                Box::new(iter)
            };
            for item in iter {
                let (k, _) = item?;
                let k = k.value();
                let rest = &k[(*prefix_len).min(k.len())..];
                let clen = component_len(rest)
                    .ok_or_else(|| Error::corrupted("an index key does not parse"))?;
                if group_key.as_deref() != Some(&rest[..clen]) {
                    if !flush(group)? {
                        return Ok(false);
                    }
                    group_key = Some(rest[..clen].to_vec());
                }
                let id = index_keys::entry_id(k)
                    .ok_or_else(|| Error::corrupted("an index entry is shorter than an id"))?
                    .as_u128();
                examined += 1;
                if let Some(r) = fetch(t, id, reading)? {
                    group.push(super::Ranked(super::sort_slots(q, &r), id, r));
                }
            }
            flush(group)
        };
    let walked = match values {
        Some(r) => run(r, *descending, &mut group)?,
        None => true,
    };
    if walked && let Some(n) = none {
        run(n, false, &mut group)?;
    }
    Ok(examined)
}

/// Length of the key component at the start of `b`; `None` when it does not parse.
pub(crate) fn component_len(b: &[u8]) -> Option<usize> {
    let tag = *b.first()?;
    let body = &b[1..];
    let n = match tag {
        0x10 => 1,
        0x20 => 8 + 1 + 16,
        0x30 => escaped_len(body)?,
        0x40 => 16,
        0x50 => {
            let len = u64::from_be_bytes(body.get(..8)?.try_into().ok()?) as usize;
            8usize.checked_add(len)?
        }
        0x60 => {
            let mut i = 0;
            while *body.get(i)? != 0 {
                i += component_len(&body[i..])?;
            }
            i + 1
        }
        0x70 => {
            let mut i = 0;
            while *body.get(i)? == 1 {
                i += 1;
                i += escaped_len(&body[i..])?;
                i += component_len(&body[i..])?;
            }
            if *body.get(i)? != 0 {
                return None;
            }
            i + 1
        }
        0x80 => {
            let mut i = 0;
            while *body.get(i)? == 1 {
                i += 9;
            }
            if *body.get(i)? != 0 {
                return None;
            }
            i + 1
        }
        0xF0 => 0,
        _ => return None,
    };
    let total = 1 + n;
    (total <= b.len()).then_some(total)
}

/// Length of an escaped string including its `00 00` terminator.
fn escaped_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        match *b.get(i)? {
            0 => match *b.get(i + 1)? {
                0 => return Some(i + 2),
                0xFF => i += 2,
                _ => return None,
            },
            _ => i += 1,
        }
    }
}

/// Fills in what explain reports.
pub(crate) fn explain(
    q: &Query,
    plan: &Plan,
    estimated: u64,
    examined: u64,
    returned: u64,
) -> Explain {
    Explain {
        collection: q.collection.clone(),
        strategy: match plan.access {
            Access::Scan => Strategy::Scan,
            Access::Lookup(_) => Strategy::IndexLookup,
            Access::Ordered { .. } => Strategy::IndexOrder,
        },
        index: plan.index.clone(),
        detail: plan.detail.clone(),
        estimated_rows: estimated,
        examined_rows: examined,
        returned_rows: returned,
        cached: plan.cached,
    }
}

/// Estimated rows of a plan, computing them if the plan came without.
pub(crate) fn estimate<I: ReadableTable<&'static [u8], &'static [u8]>>(
    plan: &Plan,
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
    stored: u64,
) -> Result<u64> {
    if let Some(n) = plan.estimated {
        return Ok(n);
    }
    match &plan.access {
        Access::Scan => Ok(stored),
        // An intersection is estimated by its first (smallest) member.
        Access::Lookup(members) => {
            let mut tables = Tables::new(defs.len());
            let mut n = 0;
            for (i, r) in members.first().map_or(&[][..], Vec::as_slice) {
                n += count_range(tables.get(*i, defs, opener)?, r, u64::MAX)?;
            }
            Ok(n)
        }
        a @ Access::Ordered { index, .. } => estimate_ordered(a, &opener(&defs[*index])?),
    }
}

/// Ids of live records whose `field` equals `value` through an index led by `field`, or
/// `None` when no index serves it (for joins).
pub(crate) fn lookup_eq_ids<I: ReadableTable<&'static [u8], &'static [u8]>>(
    defs: &[IndexDef],
    opener: &impl Fn(&IndexDef) -> Result<I>,
    field: &str,
    value: &Value,
) -> Result<Option<BTreeSet<RecordKey>>> {
    let f = Filter::Eq(field.to_string(), value.clone());
    let conj = [&f];
    for (i, d) in defs.iter().enumerate() {
        if d.is_ordered()
            && d.fields[0] == field
            && let Some((ranges, _)) = index_ranges(d, &conj)
        {
            let parts: Vec<_> = ranges.into_iter().map(|r| (i, r)).collect();
            return Ok(Some(
                lookup_ids(&parts, defs, opener)?.into_iter().collect(),
            ));
        }
    }
    Ok(None)
}
