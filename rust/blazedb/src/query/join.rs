//! Equi-joins of two collections, in one database or two: inner, left, right and full.
//!
//! `docs/QUERY.md` ("Joins") is the contract. Keys match with the filters' equality
//! ([`values_equal`]); a missing or null key never matches. Two strategies give the same
//! rows:
//!
//! * **Index nested loop**, when the right snapshot can look a key up in an index
//!   (`ReadTx::lookup_eq` answers `Some`): one probe per left record. Right and full joins
//!   then find the right records nobody matched with one scan of the right side, keeping
//!   the matched ids in a set.
//! * **Hash join** otherwise: the right side is read once into a table keyed by a
//!   normalised key consistent with `values_equal` ([`HashSide`]), and every left record
//!   probes it.
//!
//! The strategy is picked at the first left record that has a key: that probe goes to the
//! index lookup, and a `None` there switches to the hash join for the rest.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Bound;

use uuid::Uuid;

use super::aggregate::check_input_query;
use super::{Filter, Query, TotalF64, values_equal};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::transactions::ReadTx;
use crate::value::Value;

/// Which rows a join keeps besides the matched pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JoinKind {
    /// Matched pairs only.
    Inner,
    /// Matched pairs, and each left record that matched nothing, with no right record.
    Left,
    /// Matched pairs, and each right record that matched nothing, with no left record.
    Right,
    /// Matched pairs, and the unmatched records of both sides.
    Full,
}

impl JoinKind {
    fn keeps_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full)
    }
    fn keeps_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }
}

/// A join of the matches of a left [`Query`] with the records of a right collection, on
/// `left_field = right_field`.
///
/// ```
/// use blazedb::{Database, Join, JoinKind, Options, Query, Record};
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = Database::open(dir.path().join("j.blazedb"), Options::default())?;
/// let ana = db.insert("users", Record::new().with("name", "ana"))?;
/// db.insert("bugs", Record::new().with("title", "Crash").with("assignee", ana))?;
/// db.insert("bugs", Record::new().with("title", "Slow"))?;
/// let rows = db.join(&Join::new(Query::new("bugs"), "assignee", "users", "id").kind(JoinKind::Left))?;
/// assert_eq!(rows.len(), 2);
/// assert_eq!(rows.iter().filter(|r| r.right.is_some()).count(), 1);
/// # Ok::<(), blazedb::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    left: Query,
    left_field: String,
    right: Query,
    right_field: String,
    kind: JoinKind,
    offset: usize,
    limit: Option<usize>,
}

impl Join {
    /// An inner join of `left`'s matches with the records of `right_collection`, pairing
    /// records whose `left_field` equals the right record's `right_field` (dotted paths).
    ///
    /// Only the left query's collection and filter are used; sort keys, an offset or a
    /// limit on it are refused with `InvalidQuery` when the join runs (use
    /// [`Join::offset`] and [`Join::limit`], which apply to the joined rows).
    pub fn new(
        left: Query,
        left_field: impl Into<String>,
        right_collection: impl Into<String>,
        right_field: impl Into<String>,
    ) -> Self {
        Join {
            left,
            left_field: left_field.into(),
            right: Query::new(right_collection),
            right_field: right_field.into(),
            kind: JoinKind::Inner,
            offset: 0,
            limit: None,
        }
    }

    /// Sets the kind of join (inner by default).
    pub fn kind(mut self, kind: JoinKind) -> Self {
        self.kind = kind;
        self
    }

    /// Restricts the right side to records matching `f`; several calls are ANDed. Right
    /// records that fail it take no part at all, not even as unmatched rows.
    pub fn right_filter(mut self, f: Filter) -> Self {
        self.right = self.right.filter(f);
        self
    }

    /// Skips this many joined rows (in the order `docs/QUERY.md` gives).
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = n;
        self
    }

    /// Returns at most this many joined rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// The kind of join.
    pub fn join_kind(&self) -> JoinKind {
        self.kind
    }

    fn validate(&self) -> Result<()> {
        check_input_query(&self.left, "a join's left side")?;
        if self.left_field.is_empty() || self.right_field.is_empty() {
            return Err(Error::InvalidQuery(
                "a join names an empty key field".into(),
            ));
        }
        super::validate(&self.right)?;
        Ok(())
    }
}

/// One row of a join: a left record, a right record, or both.
///
/// Inner joins fill both; `left` is `None` only for the unmatched right records of right
/// and full joins, `right` is `None` only for the unmatched left records of left and full
/// joins.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinedRow {
    /// The left record.
    pub left: Option<Record>,
    /// The right record.
    pub right: Option<Record>,
}

/// A row's position in the output order: rows with a left record first, by left id then
/// right id (an unmatched left record has no right id and is alone at its left id); then
/// unmatched right records by right id.
type Pos = (bool, Option<Uuid>, Option<Uuid>);

/// Collects rows, keeping only the first `offset + limit` by position when there is a
/// limit, so memory stays bounded by the page (plus slack) whatever the match count.
struct Rows {
    rows: Vec<(Pos, JoinedRow)>,
    keep: Option<usize>,
}

impl Rows {
    fn push(&mut self, pos: Pos, row: JoinedRow) {
        self.rows.push((pos, row));
        if let Some(keep) = self.keep
            && self.rows.len() >= keep.saturating_mul(2).max(1024)
        {
            self.prune(keep);
        }
    }

    fn prune(&mut self, keep: usize) {
        if keep < self.rows.len() {
            // Positions are unique, so the unstable selection is deterministic.
            self.rows.select_nth_unstable_by(keep, |a, b| a.0.cmp(&b.0));
            self.rows.truncate(keep);
        }
    }

    fn finish(mut self, offset: usize, limit: Option<usize>) -> Vec<JoinedRow> {
        self.rows.sort_unstable_by_key(|a| a.0);
        self.rows
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .map(|(_, r)| r)
            .collect()
    }
}

/// The key of a record: its field, unless missing or null (which never match).
fn key_of<'a>(r: &'a Record, field: &str) -> Option<&'a Value> {
    r.get_path(field).filter(|v| !v.is_null())
}

/// The id a record read from a snapshot carries in its `id` field.
fn id_of(r: &Record) -> Result<Uuid> {
    r.id()
        .ok_or_else(|| Error::corrupted("a record returned by an index lookup has no id"))
}

/// The right side of a hash join: its records, and lookups from normalised keys to them.
///
/// `values_equal` pairs are found as follows, then every candidate is confirmed with
/// `values_equal` itself (so a hash collision only costs time):
///
/// * int↔int, int↔double, double↔double: equal as doubles, so one hash of the double's
///   bits (`-0.0` as `0.0`; NaN equals nothing and is not indexed);
/// * date↔date: exact, hashed by the timestamp;
/// * date↔number within 1 ms: not a hash equality (it is not transitive), so dates and
///   numbers are also kept in ordered maps by their value in seconds since 2001-01-01, and
///   a probe reads the window ±2 ms around its own value;
/// * uuid↔string holding it (any case): a string that parses as a uuid is indexed under
///   that uuid too, in a separate space, so a uuid probe finds both uuids and such strings
///   while a string probe finds only strings equal to it and uuids;
/// * everything else: a structural hash consistent with `Value`'s `==`.
struct HashSide {
    records: Vec<(Uuid, Record)>,
    matched: Vec<bool>,
    exact: HashMap<u64, Vec<usize>>,
    dates: BTreeMap<TotalF64, Vec<usize>>,
    numbers: BTreeMap<TotalF64, Vec<usize>>,
    /// Right records with no key, kept only when unmatched right rows are wanted.
    unkeyed: Vec<(Uuid, Record)>,
}

/// Hash spaces of [`HashSide::exact`], so keys of different spaces never meet.
const H_NUM: u8 = 1;
const H_DATE: u8 = 2;
const H_STR: u8 = 3;
const H_UUID: u8 = 4;
const H_UUID_STRING: u8 = 5;
const H_OTHER: u8 = 6;

fn norm_bits(f: f64) -> u64 {
    if f == 0.0 { 0 } else { f.to_bits() }
}

fn hash_of(space: u8, feed: impl FnOnce(&mut DefaultHasher)) -> u64 {
    // `DefaultHasher::new()` has fixed keys: the same value hashes the same way for the
    // life of the table, which is all a join needs.
    let mut h = DefaultHasher::new();
    space.hash(&mut h);
    feed(&mut h);
    h.finish()
}

/// A hash consistent with `Value`'s derived `==` (IEEE on doubles: `-0.0 == 0.0`).
fn hash_structural(v: &Value, h: &mut DefaultHasher) {
    std::mem::discriminant(v).hash(h);
    match v {
        Value::String(s) => s.hash(h),
        Value::Int(i) => i.hash(h),
        Value::Double(d) => norm_bits(*d).hash(h),
        Value::Bool(b) => b.hash(h),
        Value::Date(t) => t.hash(h),
        Value::Uuid(u) => u.hash(h),
        Value::Data(d) => d.hash(h),
        Value::Array(a) => {
            a.len().hash(h);
            a.iter().for_each(|x| hash_structural(x, h));
        }
        Value::Dictionary(d) => {
            d.len().hash(h);
            for (k, x) in d {
                k.hash(h);
                hash_structural(x, h);
            }
        }
        Value::Vector(v) => {
            v.len().hash(h);
            v.iter().for_each(|x| norm_bits(*x).hash(h));
        }
        Value::Null => {}
    }
}

fn num_hash(f: f64) -> u64 {
    hash_of(H_NUM, |h| norm_bits(f).hash(h))
}

impl HashSide {
    fn build(tx: &ReadTx, j: &Join) -> Result<HashSide> {
        let mut side = HashSide {
            records: Vec::new(),
            matched: Vec::new(),
            exact: HashMap::new(),
            dates: BTreeMap::new(),
            numbers: BTreeMap::new(),
            unkeyed: Vec::new(),
        };
        let keep_unkeyed = j.kind.keeps_right();
        tx.for_each_match(&j.right, |id, r| {
            let Some(key) = key_of(&r, &j.right_field) else {
                if keep_unkeyed {
                    side.unkeyed.push((id, r));
                }
                return Ok(true);
            };
            let i = side.records.len();
            side.index(key, i);
            side.records.push((id, r));
            side.matched.push(false);
            Ok(true)
        })?;
        Ok(side)
    }

    fn index(&mut self, key: &Value, i: usize) {
        let mut exact = |h: u64| self.exact.entry(h).or_default().push(i);
        match key {
            Value::Int(n) => {
                let f = *n as f64;
                exact(num_hash(f));
                self.numbers.entry(TotalF64(f)).or_default().push(i);
            }
            Value::Double(d) if d.is_nan() => {}
            Value::Double(d) => {
                exact(num_hash(*d));
                self.numbers.entry(TotalF64(*d)).or_default().push(i);
            }
            Value::Date(t) => {
                exact(hash_of(H_DATE, |h| t.hash(h)));
                let secs = t.as_apple_reference_seconds();
                self.dates.entry(TotalF64(secs)).or_default().push(i);
            }
            Value::String(s) => {
                exact(hash_of(H_STR, |h| s.hash(h)));
                if let Ok(u) = Uuid::parse_str(s) {
                    exact(hash_of(H_UUID_STRING, |h| u.hash(h)));
                }
            }
            Value::Uuid(u) => exact(hash_of(H_UUID, |h| u.hash(h))),
            other => exact(hash_of(H_OTHER, |h| hash_structural(other, h))),
        }
    }

    /// The indices of the right records whose key `values_equal` `key`, in ascending order.
    fn probe(&self, key: &Value, right_field: &str) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let mut exact = |h: u64| {
            if let Some(v) = self.exact.get(&h) {
                out.extend_from_slice(v);
            }
        };
        // A window wider than the 1 ms tolerance; `values_equal` decides.
        let window = |map: &BTreeMap<TotalF64, Vec<usize>>, x: f64, out: &mut Vec<usize>| {
            let lo = Bound::Included(TotalF64(x - 0.002));
            let hi = Bound::Included(TotalF64(x + 0.002));
            for (_, v) in map.range((lo, hi)) {
                out.extend_from_slice(v);
            }
        };
        match key {
            Value::Int(n) => {
                let f = *n as f64;
                exact(num_hash(f));
                window(&self.dates, f, &mut out);
            }
            Value::Double(d) if d.is_nan() => {}
            Value::Double(d) => {
                exact(num_hash(*d));
                window(&self.dates, *d, &mut out);
            }
            Value::Date(t) => {
                exact(hash_of(H_DATE, |h| t.hash(h)));
                window(&self.numbers, t.as_apple_reference_seconds(), &mut out);
            }
            Value::String(s) => {
                exact(hash_of(H_STR, |h| s.hash(h)));
                if let Ok(u) = Uuid::parse_str(s) {
                    exact(hash_of(H_UUID, |h| u.hash(h)));
                }
            }
            Value::Uuid(u) => {
                exact(hash_of(H_UUID, |h| u.hash(h)));
                exact(hash_of(H_UUID_STRING, |h| u.hash(h)));
            }
            other => exact(hash_of(H_OTHER, |h| hash_structural(other, h))),
        }
        out.sort_unstable();
        out.dedup();
        out.retain(|&i| {
            key_of(&self.records[i].1, right_field).is_some_and(|rk| values_equal(key, rk))
        });
        out
    }
}

/// How the right side is being read.
enum Strategy {
    /// No left record with a key has been seen yet.
    Undecided,
    /// Index nested loop: the ids of the right records matched so far (for right and full
    /// joins), and the pairs each cacheable key's lookup gave, for the next left record
    /// with that key.
    Index(HashSet<Uuid>, HashMap<LookupKey, Vec<(Uuid, Record)>>),
    /// Hash join.
    Hash(HashSide),
}

/// A join key whose lookup answer can be reused for every left record with the same key:
/// kinds whose equality to a stored value depends only on the value itself, exactly (a
/// date or double is not cached: the 1 ms tolerance of the date-number rule makes a
/// probe's answer depend on digits a cache key would have to reproduce bit for bit).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LookupKey {
    Str(String),
    Uuid(Uuid),
    Int(i64),
    Bool(bool),
}

impl LookupKey {
    fn of(v: &Value) -> Option<LookupKey> {
        Some(match v {
            Value::String(s) => LookupKey::Str(s.clone()),
            Value::Uuid(u) => LookupKey::Uuid(*u),
            Value::Int(i) => LookupKey::Int(*i),
            Value::Bool(b) => LookupKey::Bool(*b),
            _ => return None,
        })
    }
}

/// Most distinct keys whose lookup answers a join keeps for reuse.
const LOOKUP_CACHE_KEYS: usize = 4096;

/// The index lookup of the right side: `Some(records whose field equals the value)`, or
/// `None` when no index can answer (the arguments are collection, field, value).
pub(crate) type Lookup<'a> = dyn FnMut(&str, &str, &Value) -> Result<Option<Vec<Record>>> + 'a;

/// Runs a join of `left`'s snapshot with `right`'s, probing `lookup` for an index.
pub(crate) fn run(
    left: &ReadTx,
    right: &ReadTx,
    j: &Join,
    lookup: &mut Lookup<'_>,
) -> Result<Vec<JoinedRow>> {
    j.validate()?;
    if j.limit == Some(0) {
        return Ok(Vec::new());
    }
    let mut rows = Rows {
        rows: Vec::new(),
        keep: j.limit.map(|l| j.offset.saturating_add(l)),
    };
    let mut strategy = Strategy::Undecided;
    let keeps_right = j.kind.keeps_right();
    left.for_each_match(&j.left, |lid, lrec| {
        let Some(key) = key_of(&lrec, &j.left_field) else {
            if j.kind.keeps_left() {
                let row = JoinedRow {
                    left: Some(lrec),
                    right: None,
                };
                rows.push((false, Some(lid), None), row);
            }
            return Ok(true);
        };
        if matches!(strategy, Strategy::Undecided) {
            match lookup(j.right.collection(), &j.right_field, key)? {
                Some(found) => {
                    let mut matched = HashSet::new();
                    let mut cache = HashMap::new();
                    let pairs = indexed_pairs(j, key, found)?;
                    emit_pairs(j, lid, &lrec, &pairs, &mut matched, &mut rows);
                    if let Some(k) = LookupKey::of(key) {
                        cache.insert(k, pairs);
                    }
                    strategy = Strategy::Index(matched, cache);
                    return Ok(true);
                }
                None => strategy = Strategy::Hash(HashSide::build(right, j)?),
            }
        }
        match &mut strategy {
            Strategy::Index(matched, cache) => {
                // Left records sharing a key (many issues, one reporter) share one probe.
                let ck = LookupKey::of(key);
                if let Some(pairs) = ck.as_ref().and_then(|k| cache.get(k)) {
                    emit_pairs(j, lid, &lrec, pairs, matched, &mut rows);
                    return Ok(true);
                }
                let found =
                    lookup(j.right.collection(), &j.right_field, key)?.ok_or_else(|| {
                        Error::IndexNotFound(format!(
                            "the index on {}.{} answered one lookup of this join and not the next",
                            j.right.collection(),
                            j.right_field
                        ))
                    })?;
                let pairs = indexed_pairs(j, key, found)?;
                emit_pairs(j, lid, &lrec, &pairs, matched, &mut rows);
                if let Some(k) = ck
                    && cache.len() < LOOKUP_CACHE_KEYS
                {
                    cache.insert(k, pairs);
                }
            }
            Strategy::Hash(side) => {
                let hits = side.probe(key, &j.right_field);
                if hits.is_empty() {
                    if j.kind.keeps_left() {
                        let row = JoinedRow {
                            left: Some(lrec),
                            right: None,
                        };
                        rows.push((false, Some(lid), None), row);
                    }
                } else {
                    for i in hits {
                        side.matched[i] = true;
                        let (rid, rrec) = &side.records[i];
                        let row = JoinedRow {
                            left: Some(lrec.clone()),
                            right: Some(rrec.clone()),
                        };
                        rows.push((false, Some(lid), Some(*rid)), row);
                    }
                }
            }
            Strategy::Undecided => {}
        }
        Ok(true)
    })?;

    if keeps_right {
        match strategy {
            Strategy::Hash(side) => {
                let unmatched = side
                    .records
                    .into_iter()
                    .zip(side.matched)
                    .filter(|(_, m)| !m)
                    .map(|(r, _)| r);
                for (rid, rrec) in unmatched.chain(side.unkeyed) {
                    let row = JoinedRow {
                        left: None,
                        right: Some(rrec),
                    };
                    rows.push((true, None, Some(rid)), row);
                }
            }
            Strategy::Index(matched, _) => {
                emit_unmatched_right(right, j, &matched, &mut rows)?;
            }
            Strategy::Undecided => {
                emit_unmatched_right(right, j, &HashSet::new(), &mut rows)?;
            }
        }
    }
    Ok(rows.finish(j.offset, j.limit))
}

/// The right records an index lookup returned for `key` that pass the right filter and
/// really are equal (the lookup is trusted for speed, not for correctness), by id, each
/// once.
fn indexed_pairs(j: &Join, key: &Value, found: Vec<Record>) -> Result<Vec<(Uuid, Record)>> {
    let mut pairs: Vec<(Uuid, Record)> = Vec::with_capacity(found.len());
    for r in found {
        let equal = key_of(&r, &j.right_field).is_some_and(|rk| values_equal(key, rk));
        if equal && j.right.matches(&r) {
            pairs.push((id_of(&r)?, r));
        }
    }
    // One record may come back twice from a multi-valued index; pair it once.
    pairs.sort_unstable_by_key(|(id, _)| *id);
    pairs.dedup_by_key(|(id, _)| *id);
    Ok(pairs)
}

/// Emits the pairs of one left record with its [`indexed_pairs`], or the left record alone
/// when there are none and the join keeps it.
fn emit_pairs(
    j: &Join,
    lid: Uuid,
    lrec: &Record,
    pairs: &[(Uuid, Record)],
    matched: &mut HashSet<Uuid>,
    rows: &mut Rows,
) {
    if pairs.is_empty() {
        if j.kind.keeps_left() {
            let row = JoinedRow {
                left: Some(lrec.clone()),
                right: None,
            };
            rows.push((false, Some(lid), None), row);
        }
        return;
    }
    for (rid, rrec) in pairs {
        if j.kind.keeps_right() {
            matched.insert(*rid);
        }
        let row = JoinedRow {
            left: Some(lrec.clone()),
            right: Some(rrec.clone()),
        };
        rows.push((false, Some(lid), Some(*rid)), row);
    }
}

/// Emits every right record (passing the right filter) whose id is not in `matched`.
fn emit_unmatched_right(
    right: &ReadTx,
    j: &Join,
    matched: &HashSet<Uuid>,
    rows: &mut Rows,
) -> Result<()> {
    right.for_each_match(&j.right, |rid, rrec| {
        if !matched.contains(&rid) {
            let row = JoinedRow {
                left: None,
                right: Some(rrec),
            };
            rows.push((true, None, Some(rid)), row);
        }
        Ok(true)
    })
}

impl ReadTx {
    /// Joins two collections of this snapshot (see [`Join`] and `docs/QUERY.md`).
    pub fn join(&self, j: &Join) -> Result<Vec<JoinedRow>> {
        self.join_with(self, j)
    }

    /// Joins the left query on this snapshot with the right collection on `right`, which
    /// may be a snapshot of another database.
    pub fn join_with(&self, right: &ReadTx, j: &Join) -> Result<Vec<JoinedRow>> {
        run(self, right, j, &mut |c, f, v| right.lookup_eq(c, f, v))
    }

    /// [`ReadTx::join_with`] with the right side's index lookup supplied by the caller:
    /// `lookup(collection, field, value)` returns the live right records whose field
    /// equals the value, or `None` for "no index" (then the join hashes the right side).
    ///
    /// Not a stable API: it exists so the tests can run the index nested-loop path before
    /// the engine has indexes of its own.
    #[doc(hidden)]
    pub fn join_with_lookup(
        &self,
        right: &ReadTx,
        j: &Join,
        mut lookup: impl FnMut(&str, &str, &Value) -> Result<Option<Vec<Record>>>,
    ) -> Result<Vec<JoinedRow>> {
        run(self, right, j, &mut lookup)
    }
}

impl crate::db::Database {
    /// Joins two collections of this database on its last commit (see [`Join`]).
    pub fn join(&self, j: &Join) -> Result<Vec<JoinedRow>> {
        self.read(|tx| tx.join(j))
    }

    /// Joins the left query on this database with the right collection of `right`, each
    /// read on a snapshot of its last commit.
    pub fn join_across(&self, right: &crate::db::Database, j: &Join) -> Result<Vec<JoinedRow>> {
        self.read(|l| right.read(|r| l.join_with(r, j)))
    }
}
