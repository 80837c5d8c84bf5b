//! Queries: filters, multi-key sorting, deterministic paging, a streaming cursor,
//! aggregation (`aggregate`) and joins (`join`).
//!
//! `docs/QUERY.md` states the semantics; [`plan`] picks a scan or an index for each query.

mod aggregate;
mod filter;
mod join;
pub(crate) mod plan;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use redb::ReadableTable;
use uuid::Uuid;

pub use aggregate::{Aggregate, AggregateFn};
pub use filter::{Filter, SortKey, TotalF64, compare_values, values_equal};
pub use join::{Join, JoinKind, JoinedRow};
pub use plan::{Explain, Strategy};

use crate::engine::RecordKey;
use crate::engine::encoding::{
    FLAG_SOFT_DELETED, Projection, decode_projected, decode_record, record_flags,
};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::value::Value;

/// Sort direction of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// A query on one collection. Build with [`Query::new`] and the chained setters.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub(crate) collection: String,
    pub(crate) filter: Option<Filter>,
    pub(crate) order: Vec<(String, Order)>,
    pub(crate) offset: usize,
    pub(crate) limit: Option<usize>,
}

impl Query {
    /// All live records of `collection`, in id order.
    pub fn new(collection: impl Into<String>) -> Self {
        Query {
            collection: collection.into(),
            filter: None,
            order: Vec::new(),
            offset: 0,
            limit: None,
        }
    }

    /// Adds a filter; several calls are ANDed, as upstream's chained `where` calls are.
    pub fn filter(mut self, f: Filter) -> Self {
        Filter::and_into(&mut self.filter, f);
        self
    }

    /// Adds a sort key after the ones already given. Missing values sort last in both
    /// directions; ties are broken by record id, so pages are deterministic.
    pub fn order_by(mut self, field: impl Into<String>, order: Order) -> Self {
        self.order.push((field.into(), order));
        self
    }

    /// Skips this many matches.
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = n;
        self
    }

    /// Returns at most this many matches.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// The collection queried.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The combined filter, if any.
    pub fn filter_ref(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    fn matches(&self, r: &Record) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(r))
    }
}

/// One sort position: present values in the query's direction, missing ones last.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Asc(SortKey),
    Desc(Reverse<SortKey>),
    Missing,
}

fn sort_slots(q: &Query, r: &Record) -> Vec<Slot> {
    q.order
        .iter()
        .map(|(f, o)| match r.get_path(f) {
            // A stored null sorts with the missing values.
            None | Some(Value::Null) => Slot::Missing,
            Some(v) => match o {
                Order::Ascending => Slot::Asc(SortKey::of(v)),
                Order::Descending => Slot::Desc(Reverse(SortKey::of(v))),
            },
        })
        .collect()
}

/// A heap entry ordered by its sort slots, then id; the record rides along unordered.
struct Ranked(Vec<Slot>, RecordKey, Record);

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0 && self.1 == o.1
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (&self.0, self.1).cmp(&(&o.0, o.1))
    }
}

/// How candidates are read: which filter they must pass and which fields the consumer
/// needs.
///
/// The filter is evaluated on a projected decode holding only the fields it reads
/// ([`Projection`]), so a record it rejects costs one pass over its bytes and no
/// allocation beyond those fields; only records that pass are decoded in full. A consumer
/// that reads only some fields (aggregation, counts) asks for an `output` projection and
/// gets records holding just those fields (and the filter's), decoded once.
///
/// Results are those of decoding in full and calling [`Filter::matches`]: `get_path` on a
/// projection returns what it returns on the whole record for every path the projection
/// was built from, and a projected decode fails on exactly the bodies a full decode fails
/// on.
pub(crate) struct Reading<'f> {
    filter: Option<&'f Filter>,
    /// The filter's fields; `None` when the filter reads so many fields that a projection
    /// would cost about as much as the full decode it tries to avoid.
    filter_proj: Option<Projection>,
    output: Option<Projection>,
}

/// Filters reading more distinct top-level fields than this are evaluated on the full
/// record: the projection would decode most of the body anyway.
const MAX_PROJECTED_FILTER_FIELDS: usize = 4;

impl<'f> Reading<'f> {
    /// Whole records passing `filter`.
    pub(crate) fn new(filter: Option<&'f Filter>) -> Self {
        let filter_proj = filter.and_then(|f| {
            let fields = f.fields();
            let p = Projection::of(fields.iter().copied());
            (p.len() <= MAX_PROJECTED_FILTER_FIELDS).then_some(p)
        });
        Reading {
            filter,
            filter_proj,
            output: None,
        }
    }

    /// Records passing `filter`, holding only the fields `fields` reads (and the filter's).
    pub(crate) fn projected(filter: Option<&'f Filter>, fields: &[&str]) -> Self {
        let mut all: Vec<&str> = fields.to_vec();
        if let Some(f) = filter {
            all.extend(f.fields());
        }
        Reading {
            filter,
            filter_proj: None,
            output: Some(Projection::of(all)),
        }
    }

    /// The same reading without its filter, for candidates known to match it.
    pub(crate) fn unfiltered(&self) -> Reading<'f> {
        Reading {
            filter: None,
            filter_proj: None,
            output: self.output.clone(),
        }
    }

    /// The record stored as `bytes` under `key` if it passes the filter, decoded as asked;
    /// `None` if the filter rejects it. The caller has checked the tombstone flag.
    pub(crate) fn read(&self, key: RecordKey, bytes: &[u8]) -> Result<Option<Record>> {
        let id = Uuid::from_u128(key);
        if let Some(p) = &self.output {
            let r = decode_projected(bytes, Some(id), p)?;
            return Ok(self.filter.is_none_or(|f| f.matches(&r)).then_some(r));
        }
        match (self.filter, &self.filter_proj) {
            (None, _) => Ok(Some(decode_record(bytes, Some(id))?.record)),
            (Some(f), Some(p)) => {
                if !f.matches(&decode_projected(bytes, Some(id), p)?) {
                    return Ok(None);
                }
                Ok(Some(decode_record(bytes, Some(id))?.record))
            }
            (Some(f), None) => {
                let r = decode_record(bytes, Some(id))?.record;
                Ok(f.matches(&r).then_some(r))
            }
        }
    }
}

/// Calls `visit` for each live record after `after` that passes `reading`'s filter, in id
/// order, until it returns `false`. Returns how many live records were read.
pub(crate) fn scan_reading<T: ReadableTable<RecordKey, &'static [u8]>>(
    t: &T,
    after: Option<RecordKey>,
    reading: &Reading<'_>,
    mut visit: impl FnMut(RecordKey, Record) -> Result<bool>,
) -> Result<u64> {
    let range = match after {
        Some(k) if k == RecordKey::MAX => return Ok(0),
        Some(k) => t.range(k + 1..)?,
        None => t.range::<RecordKey>(..)?,
    };
    let mut examined = 0;
    for item in range {
        let (k, v) = item?;
        let bytes = v.value();
        if record_flags(bytes)? & FLAG_SOFT_DELETED != 0 {
            continue;
        }
        examined += 1;
        let key = k.value();
        if let Some(record) = reading.read(key, bytes)?
            && !visit(key, record)?
        {
            break;
        }
    }
    Ok(examined)
}

/// Calls `visit` for each live record whose key is after `after`, in id order, until it
/// returns `false`.
pub(crate) fn scan<T: ReadableTable<RecordKey, &'static [u8]>>(
    t: &T,
    after: Option<RecordKey>,
    mut visit: impl FnMut(RecordKey, Record) -> Result<bool>,
) -> Result<()> {
    let range = match after {
        Some(k) if k == RecordKey::MAX => return Ok(()),
        Some(k) => t.range(k + 1..)?,
        None => t.range::<RecordKey>(..)?,
    };
    for item in range {
        let (k, v) = item?;
        let bytes = v.value();
        if record_flags(bytes)? & FLAG_SOFT_DELETED != 0 {
            continue;
        }
        let key = k.value();
        let record = decode_record(bytes, Some(Uuid::from_u128(key)))?.record;
        if !visit(key, record)? {
            break;
        }
    }
    Ok(())
}

/// Runs a plan: its candidates, the filter, the sort, offset and limit. Returns the page
/// and how many records were read.
pub(crate) fn execute<T, I>(
    plan: &plan::Plan,
    t: &T,
    defs: &[crate::engine::indexes::IndexDef],
    opener: &impl Fn(&crate::engine::indexes::IndexDef) -> Result<I>,
    q: &Query,
) -> Result<(Vec<Record>, u64)>
where
    T: ReadableTable<RecordKey, &'static [u8]>,
    I: ReadableTable<&'static [u8], &'static [u8]>,
{
    let limit = q.limit.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok((Vec::new(), 0));
    }
    let reading = Reading::new(q.filter.as_ref());
    if matches!(plan.access, plan::Access::Ordered { .. }) {
        let mut out = Vec::new();
        let mut skipped = 0;
        let examined = plan::walk_ordered(plan, t, defs, opener, q, &reading, |r| {
            if skipped < q.offset {
                skipped += 1;
            } else {
                out.push(r);
            }
            Ok(out.len() < limit)
        })?;
        return Ok((out, examined));
    }
    let mut examined = 0;
    let rows = collect(q, |visit| {
        examined = plan::candidates(plan, t, defs, opener, &reading, visit)?;
        Ok(())
    })?;
    Ok((rows, examined))
}

/// Sorts and pages the matches a source feeds in id order (the source has applied the
/// filter).
fn collect(
    q: &Query,
    source: impl FnOnce(&mut dyn FnMut(RecordKey, Record) -> Result<bool>) -> Result<()>,
) -> Result<Vec<Record>> {
    let limit = q.limit.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    if q.order.is_empty() {
        // Id order: stream, keeping only the page.
        let mut out = Vec::new();
        let mut skipped = 0;
        source(&mut |_, r| {
            if skipped < q.offset {
                skipped += 1;
            } else {
                out.push(r);
            }
            Ok(out.len() < limit)
        })?;
        return Ok(out);
    }
    let keep = q.offset.saturating_add(limit);
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();
    let mut all: Vec<Ranked> = Vec::new();
    let bounded = q.limit.is_some();
    source(&mut |k, r| {
        let entry = Ranked(sort_slots(q, &r), k, r);
        if bounded {
            // Top-k: memory stays at offset + limit entries whatever the match count.
            if heap.len() < keep {
                heap.push(entry);
            } else if heap.peek().is_some_and(|worst| entry < *worst) {
                heap.pop();
                heap.push(entry);
            }
        } else {
            all.push(entry);
        }
        Ok(true)
    })?;
    let mut sorted = if bounded { heap.into_vec() } else { all };
    sorted.sort_unstable();
    Ok(sorted
        .into_iter()
        .skip(q.offset)
        .take(limit)
        .map(|Ranked(_, _, r)| r)
        .collect())
}

/// Checks a query before it runs, so a malformed one fails with `InvalidQuery` up front.
pub(crate) fn validate(q: &Query) -> Result<()> {
    if let Some(f) = &q.filter {
        for field in f.fields() {
            if field.is_empty() {
                return Err(Error::InvalidQuery("a filter names an empty field".into()));
            }
        }
    }
    for (field, _) in &q.order {
        if field.is_empty() {
            return Err(Error::InvalidQuery(
                "a sort key names an empty field".into(),
            ));
        }
    }
    Ok(())
}

/// A cursor over a query's matches, fetched in batches from one snapshot.
///
/// Without sort keys it streams: each batch resumes the id-order scan after the last
/// record it returned, so memory stays at one batch however many records match. With sort
/// keys and a limit it keeps `offset + limit` entries; with sort keys and no limit it must
/// sort every match first (until an index can supply the order).
pub struct QueryCursor {
    pub(crate) tx: crate::transactions::ReadTx,
    pub(crate) query: Query,
    pub(crate) after: Option<RecordKey>,
    pub(crate) skipped: usize,
    pub(crate) returned: usize,
    pub(crate) sorted: Option<std::vec::IntoIter<Record>>,
    pub(crate) done: bool,
}

impl std::fmt::Debug for QueryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryCursor")
            .field("query", &self.query)
            .field("returned", &self.returned)
            .finish()
    }
}

impl QueryCursor {
    /// The next batch of at most `size` matches; empty when the cursor is exhausted.
    pub fn next_batch(&mut self, size: usize) -> Result<Vec<Record>> {
        if self.done || size == 0 {
            return Ok(Vec::new());
        }
        let limit = self.query.limit.unwrap_or(usize::MAX);
        let want = size.min(limit.saturating_sub(self.returned));
        if want == 0 {
            // `limit(0)`, or the limit reached: the scan below would take one record first.
            self.done = true;
            return Ok(Vec::new());
        }
        if !self.query.order.is_empty() {
            if self.sorted.is_none() {
                self.sorted = Some(self.tx.query(&self.query)?.into_iter());
            }
            let batch: Vec<Record> = self
                .sorted
                .as_mut()
                .map(|it| it.by_ref().take(want).collect())
                .unwrap_or_default();
            self.returned += batch.len();
            if batch.len() < want {
                self.done = true;
            }
            return Ok(batch);
        }
        let mut batch = Vec::with_capacity(want.min(4096));
        let mut last = self.after;
        let (q, skipped) = (&self.query, &mut self.skipped);
        let mut exhausted = true;
        self.tx.scan_collection(&q.collection, self.after, |k, r| {
            last = Some(k);
            if q.matches(&r) {
                if *skipped < q.offset {
                    *skipped += 1;
                } else {
                    batch.push(r);
                }
            }
            if batch.len() >= want {
                exhausted = false;
                return Ok(false);
            }
            Ok(true)
        })?;
        self.after = last;
        self.returned += batch.len();
        if exhausted || self.returned >= limit {
            self.done = true;
        }
        Ok(batch)
    }
}

impl Iterator for QueryCursor {
    type Item = Result<Record>;

    /// Record by record; an unsorted cursor resumes its scan at each call.
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(it) = self.sorted.as_mut()
            && let Some(r) = it.next()
        {
            return Some(Ok(r));
        }
        match self.next_batch(1) {
            Ok(mut b) => b.pop().map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
