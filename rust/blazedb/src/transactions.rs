//! Transactions: closure writes and reads, snapshots, and the explicit handle.
//!
//! Every write goes through a [`WriteTx`], which wraps one redb write transaction. redb gives
//! the isolation (readers see the last commit as of their start) and the atomicity (a
//! transaction commits whole or not at all); this layer adds the collection catalog, the
//! counters and the change list, all inside the same redb transaction, so rollback undoes
//! them together. Later layers (indexes, full-text postings) hook into `put_record` and
//! `remove_record` and inherit the same guarantee.
//!
//! Each operation validates everything before it writes anything, so an operation that
//! fails with a typed error leaves the transaction exactly as it was; a storage failure in
//! the middle of a write poisons the transaction and its commit is refused.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{ArcMutexGuard, Mutex, RawMutex, RwLock};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, Table};
use uuid::Uuid;

use crate::engine::catalog::{self, CollectionInfo};
use crate::engine::encoding::{
    DecodedRecord, FLAG_SOFT_DELETED, decode_record, encode_record, encode_record_into,
    record_flags,
};
use crate::engine::indexes::{self, INDEXES, IndexDef, IndexTable, MAX_INDEX_FIELDS};
use crate::engine::names::validate_name;
use crate::engine::{COLLECTIONS, RecordKey, records_def, records_table_name};
use crate::error::{Error, Result};
use crate::feed::{Change, ChangeKind, Feed};
use crate::index::{IndexInfo, IndexKind, IndexSpec};
use crate::options::Options;
use crate::query::plan::{self, CacheRef, PlanCache};
use crate::record::{
    CREATED_AT_FIELD, ID_FIELD, IS_DELETED_FIELD, PROJECT_FIELD, Record, UPDATED_AT_FIELD,
};
use crate::value::{Timestamp, Value};

type RecordTable<'t> = Table<'t, RecordKey, &'static [u8]>;

/// Collection name to table id, as of the latest commit.
///
/// Only structural commits (a collection created, renamed or dropped) change the mapping;
/// they bump `generation` while holding `Shared::structure` for writing, and every read
/// transaction notes the generation under the read side of that lock when it begins. A
/// transaction uses the cache only while the generation it noted is still current, so a
/// snapshot older than a rename never sees the new mapping.
/// Index definitions per collection id follow the same rule: creating or dropping an index
/// is a structural commit.
#[derive(Default)]
pub(crate) struct CatalogCache {
    generation: u64,
    ids: HashMap<String, u64>,
    indexes: HashMap<u64, Arc<[IndexDef]>>,
}

/// State shared by a database handle and every transaction it started.
pub(crate) struct Shared {
    pub(crate) path: std::path::PathBuf,
    /// Commit in two phases ([`crate::Options::two_phase_commit`]); otherwise redb's 1PC+C,
    /// whose crash repair the encrypted backend supports (see docs/SECURITY.md §5).
    pub(crate) two_phase: bool,
    pub(crate) options: Options,
    pub(crate) feed: Arc<Feed>,
    pub(crate) closed: AtomicBool,
    /// Serializes writers ahead of redb, so a writer can wait with a timeout instead of
    /// blocking forever inside `begin_write`.
    pub(crate) gate: Arc<Mutex<()>>,
    pub(crate) structure: RwLock<()>,
    pub(crate) cache: RwLock<CatalogCache>,
    /// Query plans by shape; see [`crate::query::plan`].
    pub(crate) plans: Mutex<PlanCache>,
}

impl Shared {
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn cached_id(&self, generation: u64, name: &str) -> Option<u64> {
        let c = self.cache.read();
        if c.generation == generation {
            c.ids.get(name).copied()
        } else {
            None
        }
    }

    fn remember_id(&self, generation: u64, name: &str, id: u64) {
        let mut c = self.cache.write();
        if c.generation == generation {
            c.ids.insert(name.to_string(), id);
        }
    }

    fn generation(&self) -> u64 {
        self.cache.read().generation
    }

    fn cached_indexes(&self, generation: u64, cid: u64) -> Option<Arc<[IndexDef]>> {
        let c = self.cache.read();
        if c.generation == generation {
            c.indexes.get(&cid).cloned()
        } else {
            None
        }
    }

    fn remember_indexes(&self, generation: u64, cid: u64, defs: Arc<[IndexDef]>) {
        let mut c = self.cache.write();
        if c.generation == generation {
            c.indexes.insert(cid, defs);
        }
    }
}

type IndexRo = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;
/// A collection's record table in a snapshot.
type RecordsRo = redb::ReadOnlyTable<RecordKey, &'static [u8]>;

fn empty_defs() -> Arc<[IndexDef]> {
    Arc::from(Vec::new())
}

fn key(id: Uuid) -> RecordKey {
    id.as_u128()
}

/// Reads one stored record, tombstones included.
fn get_raw<T: ReadableTable<RecordKey, &'static [u8]>>(
    t: &T,
    id: Uuid,
) -> Result<Option<DecodedRecord>> {
    match t.get(key(id))? {
        Some(v) => Ok(Some(decode_record(v.value(), Some(id))?)),
        None => Ok(None),
    }
}

/// Reads one live record; soft-deleted ones read as absent.
fn get_live<T: ReadableTable<RecordKey, &'static [u8]>>(t: &T, id: Uuid) -> Result<Option<Record>> {
    Ok(get_raw(t, id)?
        .filter(|d| d.flags & FLAG_SOFT_DELETED == 0)
        .map(|d| d.record))
}

/// A stored body as a view; `None` when it is soft-deleted.
fn live_view(bytes: &[u8], id: Uuid) -> Result<Option<crate::RecordView<'_>>> {
    if record_flags(bytes)? & FLAG_SOFT_DELETED != 0 {
        return Ok(None);
    }
    crate::RecordView::new(bytes, id).map(Some)
}

fn exists_live<T: ReadableTable<RecordKey, &'static [u8]>>(t: &T, id: Uuid) -> Result<bool> {
    match t.get(key(id))? {
        Some(v) => Ok(record_flags(v.value())? & FLAG_SOFT_DELETED == 0),
        None => Ok(false),
    }
}

/// Live records in id order, skipping `offset` of them and returning at most `limit`.
fn scan_page<T: ReadableTable<RecordKey, &'static [u8]>>(
    t: &T,
    offset: usize,
    limit: usize,
) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    walk_page(t, offset, limit, |id, bytes| {
        out.push(decode_record(bytes, Some(id))?.record);
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with the id and stored body of each live record of a page: id order, `offset`
/// skipped (their bodies are not read past the flags), at most `limit`.
fn walk_page<T: ReadableTable<RecordKey, &'static [u8]>>(
    t: &T,
    offset: usize,
    limit: usize,
    mut f: impl FnMut(Uuid, &[u8]) -> Result<()>,
) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    let (mut skipped, mut seen) = (0usize, 0usize);
    for item in t.iter()? {
        let (k, v) = item?;
        let bytes = v.value();
        if record_flags(bytes)? & FLAG_SOFT_DELETED != 0 {
            continue;
        }
        if skipped < offset {
            skipped += 1;
            continue;
        }
        f(Uuid::from_u128(k.value()), bytes)?;
        seen += 1;
        if seen >= limit {
            break;
        }
    }
    Ok(())
}

/// The id an insert will use: the record's `id` (a uuid, or a string holding one), else a
/// fresh UUIDv7. Anything else in `id` is refused rather than silently replaced.
fn resolve_id(record: &Record) -> Result<Uuid> {
    match record.get(ID_FIELD) {
        None | Some(Value::Null) => Ok(crate::record::new_id()),
        Some(Value::Uuid(u)) => Ok(*u),
        Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| Error::InvalidField {
            field: ID_FIELD.into(),
            reason: format!("{s:?} is not a UUID"),
        }),
        Some(other) => Err(Error::InvalidField {
            field: ID_FIELD.into(),
            reason: format!(
                "must be a uuid or a UUID string, not {}",
                other.kind().name()
            ),
        }),
    }
}

/// Refuses a record whose `id` field names a different record than `id`.
fn check_same_id(record: &Record, id: Uuid) -> Result<()> {
    match record.get(ID_FIELD) {
        None | Some(Value::Null) => Ok(()),
        Some(_) => {
            let theirs = resolve_id(record)?;
            if theirs == id {
                Ok(())
            } else {
                Err(Error::InvalidField {
                    field: ID_FIELD.into(),
                    reason: format!("cannot change the id of record {id} to {theirs}"),
                })
            }
        }
    }
}

fn check_batch(options: &Options, n: usize) -> Result<()> {
    if n > options.max_batch {
        Err(Error::InvalidInput(format!(
            "batch of {n} exceeds the limit of {} records per call",
            options.max_batch
        )))
    } else {
        Ok(())
    }
}

/// Read-only operations shared by snapshots and write transactions. Each type provides
/// `check_batch`, `info`, `catalog` and `records_ro`.
macro_rules! read_ops {
    () => {
        /// The live record with this id, or `None` (soft-deleted records read as absent).
        pub fn get(&self, collection: &str, id: Uuid) -> Result<Option<Record>> {
            match self.records_ro(collection)? {
                Some(t) => get_live(&t, id),
                None => Ok(None),
            }
        }

        /// Looks up many ids at once; the result lines up with `ids`.
        pub fn get_many(&self, collection: &str, ids: &[Uuid]) -> Result<Vec<Option<Record>>> {
            self.check_batch(ids.len())?;
            match self.records_ro(collection)? {
                Some(t) => ids.iter().map(|id| get_live(&t, *id)).collect(),
                None => Ok(vec![None; ids.len()]),
            }
        }

        /// [`get`](Self::get) without decoding: `f` sees the live record (or `None`) as a
        /// [`RecordView`](crate::RecordView) over its stored bytes, and its result is
        /// returned.
        pub fn get_with<T>(
            &self,
            collection: &str,
            id: Uuid,
            f: impl FnOnce(Option<crate::RecordView<'_>>) -> Result<T>,
        ) -> Result<T> {
            match self.records_ro(collection)? {
                Some(t) => match t.get(key(id))? {
                    Some(v) => f(live_view(v.value(), id)?),
                    None => f(None),
                },
                None => f(None),
            }
        }

        /// [`get_many`](Self::get_many) without decoding: `f` is called once per id, in
        /// order, with the live record (or `None`) as a [`RecordView`](crate::RecordView).
        /// The first error, from the store or from `f`, stops the walk and is returned.
        pub fn get_many_with(
            &self,
            collection: &str,
            ids: &[Uuid],
            mut f: impl FnMut(Option<crate::RecordView<'_>>) -> Result<()>,
        ) -> Result<()> {
            self.check_batch(ids.len())?;
            let Some(t) = self.records_ro(collection)? else {
                return ids.iter().try_for_each(|_| f(None));
            };
            for &id in ids {
                match t.get(key(id))? {
                    Some(v) => f(live_view(v.value(), id)?)?,
                    None => f(None)?,
                }
            }
            Ok(())
        }

        /// [`page`](Self::page) without decoding: `f` sees each live record of the page, in
        /// id order, as a [`RecordView`](crate::RecordView). The first error stops the walk.
        pub fn page_with(
            &self,
            collection: &str,
            offset: usize,
            limit: usize,
            mut f: impl FnMut(crate::RecordView<'_>) -> Result<()>,
        ) -> Result<()> {
            match self.records_ro(collection)? {
                Some(t) => walk_page(&t, offset, limit, |id, bytes| {
                    f(crate::RecordView::new(bytes, id)?)
                }),
                None => Ok(()),
            }
        }

        /// Whether a live record has this id.
        pub fn exists(&self, collection: &str, id: Uuid) -> Result<bool> {
            match self.records_ro(collection)? {
                Some(t) => exists_live(&t, id),
                None => Ok(false),
            }
        }

        /// Every live record, in id order.
        pub fn all(&self, collection: &str) -> Result<Vec<Record>> {
            self.page(collection, 0, usize::MAX)
        }

        /// Live records in id order: `limit` of them after skipping `offset`. The order is
        /// stable across calls, so pages never overlap or skip.
        pub fn page(&self, collection: &str, offset: usize, limit: usize) -> Result<Vec<Record>> {
            match self.records_ro(collection)? {
                Some(t) => scan_page(&t, offset, limit),
                None => Ok(Vec::new()),
            }
        }

        /// Number of live records: redb's O(1) table length less the tombstone counter.
        pub fn count(&self, collection: &str) -> Result<u64> {
            let Some(info) = self.info(collection)? else {
                return Ok(0);
            };
            let stored = match self.records_ro(collection)? {
                Some(t) => t.len()?,
                None => 0,
            };
            Ok(stored.saturating_sub(info.soft_deleted))
        }

        /// Number of soft-deleted records waiting for `purge`.
        pub fn soft_deleted_count(&self, collection: &str) -> Result<u64> {
            Ok(self.info(collection)?.map_or(0, |i| i.soft_deleted))
        }

        /// Number of stored record bodies, tombstones included (for integrity checks).
        pub fn stored_len(&self, collection: &str) -> Result<u64> {
            match self.records_ro(collection)? {
                Some(t) => Ok(t.len()?),
                None => Ok(0),
            }
        }

        /// Runs a query: filter, sort, offset, limit (see [`crate::Query`]). The planner
        /// picks an index or a scan by itself.
        pub fn query(&self, q: &crate::query::Query) -> Result<Vec<Record>> {
            Ok(self.run_query(q, false)?.0)
        }

        /// What the planner chooses for a query and what running it costs: the query is
        /// run (and its rows dropped) so the actual row counts are real.
        pub fn explain(&self, q: &crate::query::Query) -> Result<crate::query::Explain> {
            self.run_query(q, true)?
                .1
                .ok_or_else(|| Error::corrupted("explain produced no plan"))
        }

        /// Runs a query; with `explain`, also what explain reports (built only then, so
        /// plain queries allocate nothing for it).
        fn run_query(
            &self,
            q: &crate::query::Query,
            explain: bool,
        ) -> Result<(Vec<Record>, Option<crate::query::Explain>)> {
            crate::query::validate(q)?;
            let empty = || crate::query::Explain {
                collection: q.collection().to_string(),
                strategy: crate::query::Strategy::Scan,
                index: None,
                detail: String::new(),
                estimated_rows: 0,
                examined_rows: 0,
                returned_rows: 0,
                cached: false,
            };
            let Some(cid) = self.collection_id(q.collection())? else {
                return Ok((Vec::new(), explain.then(empty)));
            };
            let Some(t) = self.records_ro(q.collection())? else {
                return Ok((Vec::new(), explain.then(empty)));
            };
            let defs = self.index_defs(cid)?;
            let opener = |d: &IndexDef| self.index_table(d);
            let stored = t.len()?;
            let plan = plan::choose(&self.plan_cache(), stored, &defs, &opener, q, explain)?;
            let (rows, examined) = crate::query::execute(&plan, &t, &defs, &opener, q)?;
            if !explain {
                return Ok((rows, None));
            }
            let est = plan::estimate(&plan, &defs, &opener, stored)?;
            let ex = plan::explain(q, &plan, est, examined, rows.len() as u64);
            Ok((rows, Some(ex)))
        }

        /// Number of records matching the query's filter (offset and limit ignored).
        /// Without a filter it is [`Self::count`], O(1); with one, matches are counted on
        /// projected decodes holding only the filter's fields.
        pub fn query_count(&self, q: &crate::query::Query) -> Result<u64> {
            if q.filter_ref().is_none() {
                crate::query::validate(q)?;
                return self.count(q.collection());
            }
            let mut n = 0u64;
            // An exact index lookup is counted off the index, without reading records.
            let mut counted = None;
            self.for_each_match_reading(q, Some(&[]), Some(&mut counted), |_, _| {
                n += 1;
                Ok(true)
            })?;
            Ok(counted.unwrap_or(n))
        }

        /// Visits every live record of the query's collection that matches its filter,
        /// until `visit` returns false. Sort keys, offset and limit are ignored and the
        /// visiting order is unspecified; the planner may use an index.
        #[allow(dead_code)] // joins run on snapshots; write transactions share the macro
        pub(crate) fn for_each_match(
            &self,
            q: &crate::query::Query,
            visit: impl FnMut(Uuid, Record) -> Result<bool>,
        ) -> Result<()> {
            self.for_each_match_reading(q, None, None, visit)
        }

        /// [`Self::for_each_match`] handing `visit` records that hold only the fields
        /// `fields` reads (dotted paths; see `Projection`), for consumers such as
        /// aggregation and counts that never look at the rest.
        #[allow(dead_code)] // aggregation runs on snapshots; write transactions share the macro
        pub(crate) fn for_each_match_projected(
            &self,
            q: &crate::query::Query,
            fields: &[&str],
            visit: impl FnMut(Uuid, Record) -> Result<bool>,
        ) -> Result<()> {
            self.for_each_match_reading(q, Some(fields), None, visit)
        }

        /// With `count`, a plan whose candidates are exactly the matches
        /// ([`plan::exact_count`]) stores their number there and visits nothing.
        fn for_each_match_reading(
            &self,
            q: &crate::query::Query,
            fields: Option<&[&str]>,
            count: Option<&mut Option<u64>>,
            mut visit: impl FnMut(Uuid, Record) -> Result<bool>,
        ) -> Result<()> {
            crate::query::validate(q)?;
            let Some(cid) = self.collection_id(q.collection())? else {
                return Ok(());
            };
            let Some(t) = self.records_ro(q.collection())? else {
                return Ok(());
            };
            let defs = self.index_defs(cid)?;
            let opener = |d: &IndexDef| self.index_table(d);
            let unordered = crate::query::Query {
                order: Vec::new(),
                limit: None,
                offset: 0,
                ..q.clone()
            };
            let plan = plan::choose(
                &self.plan_cache(),
                t.len()?,
                &defs,
                &opener,
                &unordered,
                false,
            )?;
            if let Some(slot) = count
                && let Some(n) = plan::exact_count(&plan, &defs, &opener)?
            {
                *slot = Some(n);
                return Ok(());
            }
            let reading = match fields {
                Some(fields) => crate::query::Reading::projected(unordered.filter_ref(), fields),
                None => crate::query::Reading::new(unordered.filter_ref()),
            };
            plan::candidates(&plan, &t, &defs, &opener, &reading, |k, r| {
                visit(Uuid::from_u128(k), r)
            })?;
            Ok(())
        }

        /// The live records whose `field` equals `value` (with the filter's cross-type
        /// equality), found through an index whose leading field is `field`; `None` when
        /// no such index exists, so the caller can fall back to a scan or a hash join.
        #[allow(dead_code)] // joins run on snapshots; write transactions share the macro
        pub(crate) fn lookup_eq(
            &self,
            collection: &str,
            field: &str,
            value: &Value,
        ) -> Result<Option<Vec<Record>>> {
            let Some(cid) = self.collection_id(collection)? else {
                return Ok(None);
            };
            let defs = self.index_defs(cid)?;
            let opener = |d: &IndexDef| self.index_table(d);
            let Some(ids) = plan::lookup_eq_ids(&defs, &opener, field, value)? else {
                return Ok(None);
            };
            let Some(t) = self.records_ro(collection)? else {
                return Ok(Some(Vec::new()));
            };
            let f = crate::query::Filter::Eq(field.to_string(), value.clone());
            let mut out = Vec::new();
            for k in ids {
                if let Some(r) = get_live(&t, Uuid::from_u128(k))?
                    && f.matches(&r)
                {
                    out.push(r);
                }
            }
            Ok(Some(out))
        }

        /// Full-text search (see [`crate::search::SearchQuery`]): BM25-ranked hits with
        /// their scores and matched terms, then the filter, offset and limit.
        pub fn search(
            &self,
            q: &crate::search::SearchQuery,
        ) -> Result<Vec<crate::search::SearchHit>> {
            crate::search::validate(q)?;
            let Some(cid) = self.collection_id(q.collection())? else {
                return Err(Error::IndexNotFound(format!(
                    "collection {:?} has no full-text index",
                    q.collection()
                )));
            };
            let defs = self.index_defs(cid)?;
            let fts: Vec<&IndexDef> = defs
                .iter()
                .filter(|d| d.kind == IndexKind::FullText)
                .collect();
            let def = match (q.index_name(), fts.as_slice()) {
                (Some(n), _) => fts.iter().find(|d| d.name == n).copied().ok_or_else(|| {
                    Error::IndexNotFound(format!(
                        "collection {:?} has no full-text index named {n:?}",
                        q.collection()
                    ))
                })?,
                (None, [one]) => *one,
                (None, []) => {
                    return Err(Error::IndexNotFound(format!(
                        "collection {:?} has no full-text index",
                        q.collection()
                    )));
                }
                (None, _) => {
                    return Err(Error::InvalidQuery(format!(
                        "collection {:?} has several full-text indexes; name one with .index()",
                        q.collection()
                    )));
                }
            };
            let table = self.index_table(def)?;
            let Some(t) = self.records_ro(q.collection())? else {
                return Ok(Vec::new());
            };
            crate::search::run(&table, q, |id| get_live(&t, id))
        }

        /// The collection's indexes, in name order.
        pub fn indexes(&self, collection: &str) -> Result<Vec<IndexInfo>> {
            let Some(cid) = self.collection_id(collection)? else {
                return Ok(Vec::new());
            };
            let defs = self.index_defs(cid)?;
            let mut out = Vec::with_capacity(defs.len());
            for d in defs.iter() {
                out.push(IndexInfo {
                    name: d.name.clone(),
                    collection: collection.to_string(),
                    fields: d.fields.clone(),
                    kind: d.kind,
                    entries: self.index_table(d)?.len()?,
                });
            }
            Ok(out)
        }

        /// Every collection's name, in name order.
        pub fn collections(&self) -> Result<Vec<String>> {
            Ok(self.catalog()?.into_iter().map(|(n, _)| n).collect())
        }
    };
}

/// A read snapshot: every read sees the database as of the moment it began, whatever
/// commits later.
pub struct ReadTx {
    txn: redb::ReadTransaction,
    shared: Arc<Shared>,
    generation: u64,
}

impl ReadTx {
    pub(crate) fn begin(db: &impl ReadableDatabase, shared: Arc<Shared>) -> Result<Self> {
        let (txn, generation) = {
            let _structure = shared.structure.read();
            (db.begin_read()?, shared.generation())
        };
        Ok(ReadTx {
            txn,
            shared,
            generation,
        })
    }

    fn check_batch(&self, n: usize) -> Result<()> {
        check_batch(&self.shared.options, n)
    }

    fn info(&self, collection: &str) -> Result<Option<CollectionInfo>> {
        self.shared.check_open()?;
        match self.txn.open_table(COLLECTIONS) {
            Ok(t) => catalog::lookup(&t, collection),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn catalog(&self) -> Result<Vec<(String, CollectionInfo)>> {
        self.shared.check_open()?;
        match self.txn.open_table(COLLECTIONS) {
            Ok(t) => catalog::list(&t),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn collection_id(&self, collection: &str) -> Result<Option<u64>> {
        self.shared.check_open()?;
        if let Some(id) = self.shared.cached_id(self.generation, collection) {
            return Ok(Some(id));
        }
        let id = self.info(collection)?.map(|i| i.id);
        if let Some(id) = id {
            self.shared.remember_id(self.generation, collection, id);
        }
        Ok(id)
    }

    fn records_ro(
        &self,
        collection: &str,
    ) -> Result<Option<redb::ReadOnlyTable<RecordKey, &'static [u8]>>> {
        let Some(id) = self.collection_id(collection)? else {
            return Ok(None);
        };
        let name = records_table_name(id);
        match self.txn.open_table(records_def(&name)) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    read_ops!();

    fn index_defs(&self, cid: u64) -> Result<Arc<[IndexDef]>> {
        if let Some(d) = self.shared.cached_indexes(self.generation, cid) {
            return Ok(d);
        }
        let defs: Arc<[IndexDef]> = match self.txn.open_table(INDEXES) {
            Ok(t) => indexes::list(&t, cid)?.into(),
            Err(redb::TableError::TableDoesNotExist(_)) => empty_defs(),
            Err(e) => return Err(e.into()),
        };
        self.shared
            .remember_indexes(self.generation, cid, defs.clone());
        Ok(defs)
    }

    fn index_table(&self, def: &IndexDef) -> Result<IndexRo> {
        self.shared.check_open()?;
        let name = def.table_name();
        Ok(self.txn.open_table(indexes::entries_def(&name))?)
    }

    fn plan_cache(&self) -> CacheRef<'_> {
        CacheRef {
            cache: &self.shared.plans,
            generation: self.generation,
            usable: true,
        }
    }

    /// The entry table of an ordered (B-tree or unique) index of `collection` whose
    /// leading field is exactly `field`, with the collection's record table and the
    /// index's per-value counts when it keeps them ([`indexes::COUNTS`]), for answers
    /// read off the index (index-only aggregation); `None` when there is no such index.
    #[allow(clippy::type_complexity)]
    pub(crate) fn ordered_index_led_by(
        &self,
        collection: &str,
        field: &str,
    ) -> Result<Option<(IndexRo, RecordsRo, Option<indexes::ValueCounts>)>> {
        let Some(cid) = self.collection_id(collection)? else {
            return Ok(None);
        };
        let defs = self.index_defs(cid)?;
        let Some(def) = defs.iter().find(|d| d.is_ordered() && d.fields[0] == field) else {
            return Ok(None);
        };
        let Some(records) = self.records_ro(collection)? else {
            return Ok(None);
        };
        let counts = match self.txn.open_table(indexes::COUNTS) {
            Ok(t) => indexes::read_counts(&t, def.id)?,
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Some((self.index_table(def)?, records, counts)))
    }

    /// Visits live records after `after` in id order until `visit` returns false.
    pub(crate) fn scan_collection(
        &self,
        collection: &str,
        after: Option<RecordKey>,
        visit: impl FnMut(RecordKey, Record) -> Result<bool>,
    ) -> Result<()> {
        match self.records_ro(collection)? {
            Some(t) => crate::query::scan(&t, after, visit),
            None => Ok(()),
        }
    }
}

/// A write transaction. Changes are visible to this transaction's own reads at once and to
/// everyone else only after commit.
pub struct WriteTx {
    txn: Option<redb::WriteTransaction>,
    shared: Arc<Shared>,
    changes: Vec<Change>,
    poisoned: bool,
    /// This transaction created, renamed or dropped a collection, so the shared id cache
    /// no longer describes what it sees, and its commit must bump the cache generation.
    structural: bool,
    generation: u64,
    /// A read of the commit this transaction starts from, held until it has committed.
    ///
    /// Why: after a durable commit that freed pages, redb 4.6 frees them at once in a
    /// second, non-durable "epilogue" commit. That commit leaves a flag set in redb's page
    /// cache until the next durable commit, and while it is set every cache miss of every
    /// reader sweeps all 131 write-buffer stripes (about 2.5 µs). After any write, reads
    /// that miss the cache ran ~50% slower (an indexed equality on 1M records: 1.26 ms
    /// against 0.83 ms). Pinning the previous commit makes those pages unreachable-but-
    /// referenced, so the epilogue has nothing to free and does not run; the pages are
    /// reused one commit later instead, by the next commit's own durable pass. File sizes
    /// measured the same (a 100k load, and eight rewrites of 20k records).
    _reuse_pin: Option<redb::ReadTransaction>,
    _gate: ArcMutexGuard<RawMutex, ()>,
}

impl WriteTx {
    pub(crate) fn begin(
        db: &redb::Database,
        shared: Arc<Shared>,
        gate: ArcMutexGuard<RawMutex, ()>,
    ) -> Result<Self> {
        // Before the write begins, so it reads the commit this transaction starts from.
        let reuse_pin = redb::ReadableDatabase::begin_read(db).ok();
        let mut txn = db.begin_write()?;
        if shared.options.durability == crate::options::Durability::Relaxed {
            txn.set_durability(redb::Durability::None)?;
        }
        txn.set_two_phase_commit(shared.two_phase);
        // Writers are serialized by the gate, so no structural commit can land while this
        // transaction runs: the generation read now stays current until it commits.
        let generation = shared.generation();
        Ok(WriteTx {
            txn: Some(txn),
            shared,
            changes: Vec::new(),
            poisoned: false,
            structural: false,
            generation,
            _reuse_pin: reuse_pin,
            _gate: gate,
        })
    }

    fn txn(&self) -> Result<&redb::WriteTransaction> {
        self.shared.check_open()?;
        self.txn.as_ref().ok_or(Error::Closed)
    }

    fn check_batch(&self, n: usize) -> Result<()> {
        check_batch(&self.shared.options, n)
    }

    fn info(&self, collection: &str) -> Result<Option<CollectionInfo>> {
        let t = self.txn()?.open_table(COLLECTIONS)?;
        catalog::lookup(&t, collection)
    }

    fn catalog(&self) -> Result<Vec<(String, CollectionInfo)>> {
        let t = self.txn()?.open_table(COLLECTIONS)?;
        catalog::list(&t)
    }

    fn save_info(&self, collection: &str, info: &CollectionInfo) -> Result<()> {
        let mut t = catalog::open_mut(self.txn()?)?;
        catalog::store(&mut t, collection, info)
    }

    fn collection_id(&self, collection: &str) -> Result<Option<u64>> {
        self.txn()?;
        if !self.structural
            && let Some(id) = self.shared.cached_id(self.generation, collection)
        {
            return Ok(Some(id));
        }
        let id = self.info(collection)?.map(|i| i.id);
        if !self.structural
            && let Some(id) = id
        {
            self.shared.remember_id(self.generation, collection, id);
        }
        Ok(id)
    }

    /// The collection's records table inside this transaction, if the collection exists.
    /// Reads go through the write transaction so they see its own uncommitted writes.
    fn records_ro(&self, collection: &str) -> Result<Option<RecordTable<'_>>> {
        match self.collection_id(collection)? {
            Some(id) => Ok(Some(self.records_of(id)?)),
            None => Ok(None),
        }
    }

    fn records_of(&self, collection_id: u64) -> Result<RecordTable<'_>> {
        let name = records_table_name(collection_id);
        Ok(self.txn()?.open_table(records_def(&name))?)
    }

    /// The collection's index definitions as this transaction sees them.
    fn index_defs(&self, cid: u64) -> Result<Arc<[IndexDef]>> {
        if !self.structural
            && let Some(d) = self.shared.cached_indexes(self.generation, cid)
        {
            return Ok(d);
        }
        let defs: Arc<[IndexDef]> = {
            let t = self.txn()?.open_table(INDEXES)?;
            indexes::list(&t, cid)?.into()
        };
        if !self.structural {
            self.shared
                .remember_indexes(self.generation, cid, defs.clone());
        }
        Ok(defs)
    }

    fn index_table(&self, def: &IndexDef) -> Result<IndexTable<'_>> {
        let name = def.table_name();
        Ok(self.txn()?.open_table(indexes::entries_def(&name))?)
    }

    fn plan_cache(&self) -> CacheRef<'_> {
        CacheRef {
            cache: &self.shared.plans,
            generation: self.generation,
            usable: !self.structural,
        }
    }

    /// Refuses a write that would give `record` a unique key another live record holds.
    /// `batch` holds the keys earlier records of the same call took. Runs before anything
    /// is written, so a violation leaves the transaction untouched.
    fn check_unique(
        &self,
        collection: &str,
        defs: &[IndexDef],
        id: Uuid,
        record: &Record,
        old: Option<&Record>,
        batch: &mut HashMap<(u64, Vec<u8>), Uuid>,
    ) -> Result<()> {
        for d in defs.iter().filter(|d| d.kind == IndexKind::Unique) {
            if d.unique_exempt(record) {
                continue;
            }
            let prefix = d.prefix(record);
            let violation = |existing| Error::UniqueViolation {
                index: d.name.clone(),
                collection: collection.to_string(),
                existing,
            };
            if let Some(other) = batch.get(&(d.id, prefix.clone())) {
                return Err(violation(*other));
            }
            // An update that keeps its key cannot conflict with itself.
            let unchanged = old.is_some_and(|o| !d.unique_exempt(o) && d.prefix(o) == prefix);
            if !unchanged && let Some(other) = indexes::holder(&self.index_table(d)?, &prefix, id)?
            {
                return Err(violation(other));
            }
            batch.insert((d.id, prefix), id);
        }
        Ok(())
    }

    /// Applies record changes `(id, old, new)` to every index of the collection: each
    /// index table is opened once per call, and a full-text index takes the whole batch
    /// through one builder, so its statistics are written once.
    fn update_indexes(
        &self,
        defs: &[IndexDef],
        changes: &[(Uuid, Option<&Record>, Option<&Record>)],
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut counts = None;
        for d in defs {
            let mut entries = self.index_table(d)?;
            if d.kind == IndexKind::FullText {
                let mut b = crate::engine::fts::Builder::new(&mut entries, &d.fields)?;
                for (id, old, new) in changes {
                    b.apply(*id, *old, *new)?;
                }
                b.finish()?;
            } else {
                for (id, old, new) in changes {
                    indexes::apply(&mut entries, d, *id, *old, *new)?;
                }
                if d.kind == IndexKind::BTree {
                    if counts.is_none() {
                        counts = Some(self.txn()?.open_table(indexes::COUNTS)?);
                    }
                    if let Some(c) = counts.as_mut() {
                        indexes::maintain_counts(c, d, changes)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn defs_for(&self, collection: &str) -> Result<Arc<[IndexDef]>> {
        match self.collection_id(collection)? {
            Some(cid) => self.index_defs(cid),
            None => Ok(empty_defs()),
        }
    }

    fn create_collection(&mut self, collection: &str) -> Result<u64> {
        validate_name("collection", collection)?;
        self.structural = true;
        let id = catalog::allocate_id(self.txn()?)?;
        let info = CollectionInfo {
            id,
            soft_deleted: 0,
        };
        self.save_info(collection, &info)?;
        drop(self.records_of(id)?);
        Ok(id)
    }

    fn id_or_create(&mut self, collection: &str) -> Result<u64> {
        match self.collection_id(collection)? {
            Some(id) => Ok(id),
            None => self.create_collection(collection),
        }
    }

    /// Adjusts the tombstone counter by `delta`.
    fn add_soft_deleted(&self, collection: &str, delta: i64) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        let mut info = self
            .info(collection)?
            .ok_or_else(|| Error::corrupted(format!("collection {collection:?} vanished")))?;
        info.soft_deleted = info.soft_deleted.saturating_add_signed(delta);
        self.save_info(collection, &info)
    }

    /// Runs the writing half of an operation; any failure there poisons the transaction,
    /// since redb may have applied part of it.
    fn apply<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.poisoned {
            return Err(Error::TransactionFailed(
                "an earlier write in this transaction failed; roll it back".into(),
            ));
        }
        let r = f(self);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn encode_checked(&self, record: &Record, flags: u8) -> Result<Vec<u8>> {
        let bytes = encode_record(record, flags)?;
        let max = self.shared.options.max_record_size;
        if bytes.len() > max {
            return Err(Error::InvalidInput(format!(
                "record of {} bytes exceeds the limit of {max} bytes",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// The one place a record body is written; returns the body it replaced. Index
    /// maintenance hooks in here.
    fn put_record(table: &mut RecordTable<'_>, id: Uuid, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(table
            .insert(key(id), bytes)?
            .map(|old| old.value().to_vec()))
    }

    /// The one place a record body is removed; returns the removed body's flags, and,
    /// when `decode_live` is set and the body was live, its record (what the indexes
    /// must forget), read from the removed bytes rather than a second lookup.
    fn remove_record(
        table: &mut RecordTable<'_>,
        id: Uuid,
        decode_live: bool,
    ) -> Result<Option<(u8, Option<Record>)>> {
        match table.remove(key(id))? {
            Some(old) => {
                let flags = record_flags(old.value())?;
                let record = if decode_live && flags & FLAG_SOFT_DELETED == 0 {
                    Some(decode_record(old.value(), Some(id))?.record)
                } else {
                    None
                };
                Ok(Some((flags, record)))
            }
            None => Ok(None),
        }
    }

    fn stamp_insert(&self, record: &mut Record, now: Timestamp) {
        let o = &self.shared.options;
        if !o.stamp_fields {
            return;
        }
        if !record.contains_key(CREATED_AT_FIELD) {
            record.insert(CREATED_AT_FIELD, Value::Date(now));
        }
        if let Some(p) = &o.project
            && !record.contains_key(PROJECT_FIELD)
        {
            record.insert(PROJECT_FIELD, Value::String(p.clone()));
        }
    }

    fn stamp_update(&self, record: &mut Record, old: &Record, now: Timestamp) {
        if !self.shared.options.stamp_fields {
            return;
        }
        // A replace keeps the automatic fields the caller did not pass, so createdAt and
        // project survive an update (upstream's legacy update lost them).
        for f in [CREATED_AT_FIELD, PROJECT_FIELD] {
            if !record.contains_key(f)
                && let Some(v) = old.get(f)
            {
                record.insert(f, v.clone());
            }
        }
        record.insert(UPDATED_AT_FIELD, Value::Date(now));
    }

    /// Records changes for the feed; the collection name is shared by all of them.
    fn note(&mut self, collection: &str, kind: ChangeKind, ids: impl IntoIterator<Item = Uuid>) {
        let name: Arc<str> = Arc::from(collection);
        self.changes.extend(ids.into_iter().map(|id| Change {
            collection: name.clone(),
            id,
            kind,
        }));
    }

    read_ops!();

    /// Inserts a record and returns its id (see [`crate::Database::insert`]).
    pub fn insert(&mut self, collection: &str, record: Record) -> Result<Uuid> {
        let ids = self.insert_many(collection, vec![record])?;
        Ok(ids[0])
    }

    /// Inserts records all or nothing: on any error none of them is written.
    pub fn insert_many(&mut self, collection: &str, records: Vec<Record>) -> Result<Vec<Uuid>> {
        validate_name("collection", collection)?;
        self.check_batch(records.len())?;
        if records.is_empty() {
            // Nothing to store: in particular, no empty collection is created.
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let records_len = records.len();
        let mut seen = HashSet::with_capacity(if records_len > 1 { records_len } else { 0 });
        // One buffer for the whole batch: one allocation instead of one per record.
        let mut arena = Vec::with_capacity(records.len() * 320);
        let mut prepared = Vec::with_capacity(records.len());
        let max = self.shared.options.max_record_size;
        let defs = self.defs_for(collection)?;
        let mut kept: Vec<Record> = Vec::new();
        let mut unique_keys = HashMap::new();
        for mut r in records {
            let id = resolve_id(&r)?;
            if records_len > 1 && !seen.insert(id) {
                return Err(Error::RecordExists { id });
            }
            self.stamp_insert(&mut r, now);
            let start = arena.len();
            encode_record_into(&mut arena, &r, 0)?;
            if arena.len() - start > max {
                return Err(Error::InvalidInput(format!(
                    "record of {} bytes exceeds the limit of {max} bytes",
                    arena.len() - start
                )));
            }
            prepared.push((id, start..arena.len()));
            if !defs.is_empty() {
                self.check_unique(collection, &defs, id, &r, None, &mut unique_keys)?;
                kept.push(r);
            }
        }
        drop(seen);
        let conflict = self.apply(|tx| {
            let cid = tx.id_or_create(collection)?;
            let mut t = tx.records_of(cid)?;
            // The existence check rides on the insert itself (redb hands back the body it
            // replaced), so the common case costs one B-tree descent per record. On a
            // conflict the batch is undone below, before anyone can see it.
            for (n, (id, range)) in prepared.iter().enumerate() {
                if let Some(old) = Self::put_record(&mut t, *id, &arena[range.clone()])? {
                    Self::put_record(&mut t, *id, &old)?;
                    for (undo, _) in &prepared[..n] {
                        Self::remove_record(&mut t, *undo, false)?;
                    }
                    return Ok(Some(*id));
                }
            }
            drop(t);
            let changes: Vec<_> = kept
                .iter()
                .zip(&prepared)
                .map(|(r, (id, _))| (*id, None, Some(r)))
                .collect();
            tx.update_indexes(&defs, &changes)?;
            Ok(None)
        })?;
        // A new collection cannot conflict (duplicates inside the batch were refused
        // above), so a conflict always leaves the catalog as it was.
        if let Some(id) = conflict {
            return Err(Error::RecordExists { id });
        }
        let ids: Vec<Uuid> = prepared.iter().map(|(id, _)| *id).collect();
        self.note(collection, ChangeKind::Inserted, ids.iter().copied());
        Ok(ids)
    }

    fn live_or_not_found(&self, collection: &str, id: Uuid) -> Result<(u64, Record)> {
        let cid = self
            .collection_id(collection)?
            .ok_or(Error::RecordNotFound { id })?;
        let t = self.records_of(cid)?;
        let old = get_live(&t, id)?.ok_or(Error::RecordNotFound { id })?;
        Ok((cid, old))
    }

    #[allow(clippy::too_many_arguments)]
    fn write_update(
        &mut self,
        collection: &str,
        cid: u64,
        id: Uuid,
        bytes: Vec<u8>,
        old: &Record,
        new: &Record,
    ) -> Result<()> {
        let defs = self.index_defs(cid)?;
        if !defs.is_empty() {
            self.check_unique(collection, &defs, id, new, Some(old), &mut HashMap::new())?;
        }
        self.apply(|tx| {
            let mut t = tx.records_of(cid)?;
            Self::put_record(&mut t, id, &bytes)?;
            drop(t);
            tx.update_indexes(&defs, &[(id, Some(old), Some(new))])
        })?;
        self.note(collection, ChangeKind::Updated, [id]);
        Ok(())
    }

    /// Replaces a live record (see [`crate::Database::update`]).
    pub fn update(&mut self, collection: &str, id: Uuid, mut record: Record) -> Result<()> {
        check_same_id(&record, id)?;
        let (cid, old) = self.live_or_not_found(collection, id)?;
        self.stamp_update(&mut record, &old, Timestamp::now());
        let bytes = self.encode_checked(&record, 0)?;
        self.write_update(collection, cid, id, bytes, &old, &record)
    }

    /// Merges fields into a live record (see [`crate::Database::update_fields`]).
    pub fn update_fields(&mut self, collection: &str, id: Uuid, fields: Record) -> Result<()> {
        check_same_id(&fields, id)?;
        let (cid, mut merged) = self.live_or_not_found(collection, id)?;
        let old = merged.clone();
        merged.merge(fields);
        self.stamp_update(&mut merged, &old, Timestamp::now());
        let bytes = self.encode_checked(&merged, 0)?;
        self.write_update(collection, cid, id, bytes, &old, &merged)
    }

    /// Replaces the record if it is live, else inserts it under `id`; returns whether it
    /// inserted (see [`crate::Database::upsert`]).
    pub fn upsert(&mut self, collection: &str, id: Uuid, mut record: Record) -> Result<bool> {
        check_same_id(&record, id)?;
        validate_name("collection", collection)?;
        let existing = match self.records_ro(collection)? {
            Some(t) => get_raw(&t, id)?,
            None => None,
        };
        match existing {
            Some(d) if d.flags & FLAG_SOFT_DELETED == 0 => {
                self.stamp_update(&mut record, &d.record, Timestamp::now());
                let bytes = self.encode_checked(&record, 0)?;
                let cid = self
                    .collection_id(collection)?
                    .ok_or(Error::RecordNotFound { id })?;
                self.write_update(collection, cid, id, bytes, &d.record, &record)?;
                Ok(false)
            }
            tombstone => {
                self.stamp_insert(&mut record, Timestamp::now());
                let bytes = self.encode_checked(&record, 0)?;
                let replaced_tombstone = tombstone.is_some();
                let defs = self.defs_for(collection)?;
                if !defs.is_empty() {
                    self.check_unique(collection, &defs, id, &record, None, &mut HashMap::new())?;
                }
                self.apply(|tx| {
                    let cid = tx.id_or_create(collection)?;
                    let mut t = tx.records_of(cid)?;
                    Self::put_record(&mut t, id, &bytes)?;
                    drop(t);
                    // A tombstone has no index entries, so this is an insert for them.
                    tx.update_indexes(&defs, &[(id, None, Some(&record))])?;
                    if replaced_tombstone {
                        tx.add_soft_deleted(collection, -1)?;
                    }
                    Ok(())
                })?;
                self.note(collection, ChangeKind::Inserted, [id]);
                Ok(true)
            }
        }
    }

    /// Deletes a record; returns whether a live record was removed. Idempotent.
    pub fn delete(&mut self, collection: &str, id: Uuid) -> Result<bool> {
        Ok(self.delete_many(collection, &[id])? == 1)
    }

    /// Deletes many records in this transaction; returns how many live ones were removed.
    pub fn delete_many(&mut self, collection: &str, ids: &[Uuid]) -> Result<usize> {
        self.check_batch(ids.len())?;
        let Some(cid) = self.collection_id(collection)? else {
            return Ok(0);
        };
        let defs = self.index_defs(cid)?;
        let removed = self.apply(|tx| {
            let mut removed = Vec::new();
            let mut tombstones = 0i64;
            let mut gone = Vec::new();
            {
                let mut t = tx.records_of(cid)?;
                for id in ids {
                    match Self::remove_record(&mut t, *id, !defs.is_empty())? {
                        Some((flags, _)) if flags & FLAG_SOFT_DELETED != 0 => tombstones += 1,
                        Some((_, record)) => {
                            removed.push(*id);
                            if let Some(r) = record {
                                gone.push((*id, r));
                            }
                        }
                        None => {}
                    }
                }
            }
            let changes: Vec<_> = gone.iter().map(|(id, r)| (*id, Some(r), None)).collect();
            tx.update_indexes(&defs, &changes)?;
            tx.add_soft_deleted(collection, -tombstones)?;
            Ok(removed)
        })?;
        let n = removed.len();
        self.note(collection, ChangeKind::Deleted, removed);
        Ok(n)
    }

    /// Marks a live record deleted but keeps its fields until `purge`. Reads, counts and
    /// queries no longer see it. Idempotent for a record already soft-deleted.
    pub fn soft_delete(&mut self, collection: &str, id: Uuid) -> Result<()> {
        let cid = self
            .collection_id(collection)?
            .ok_or(Error::RecordNotFound { id })?;
        let existing = get_raw(&self.records_of(cid)?, id)?.ok_or(Error::RecordNotFound { id })?;
        if existing.flags & FLAG_SOFT_DELETED != 0 {
            return Ok(());
        }
        let defs = self.index_defs(cid)?;
        let live = if defs.is_empty() {
            None
        } else {
            Some(existing.record.clone())
        };
        let mut record = existing.record;
        record.insert(IS_DELETED_FIELD, Value::Bool(true));
        // No size check: the record was within the limit when stored, and hiding it must
        // never fail because the marker field made it a few bytes longer.
        let bytes = encode_record(&record, existing.flags | FLAG_SOFT_DELETED)?;
        self.apply(|tx| {
            let mut t = tx.records_of(cid)?;
            Self::put_record(&mut t, id, &bytes)?;
            drop(t);
            // Tombstones are invisible to queries, so they leave every index.
            tx.update_indexes(&defs, &[(id, live.as_ref(), None)])?;
            tx.add_soft_deleted(collection, 1)
        })?;
        self.note(collection, ChangeKind::Deleted, [id]);
        Ok(())
    }

    /// Removes every soft-deleted record for good; returns how many. Emits no changes: the
    /// records were reported deleted when they were soft-deleted.
    pub fn purge(&mut self, collection: &str) -> Result<u64> {
        let Some(info) = self.info(collection)? else {
            return Ok(0);
        };
        if info.soft_deleted == 0 {
            return Ok(0);
        }
        self.apply(|tx| {
            let mut purged = 0u64;
            {
                let mut t = tx.records_of(info.id)?;
                t.retain(|_, v| {
                    // A body whose flags cannot be read is kept: purge must never delete
                    // what it cannot prove is a tombstone.
                    let tomb = record_flags(v).is_ok_and(|f| f & FLAG_SOFT_DELETED != 0);
                    if tomb {
                        purged += 1;
                    }
                    !tomb
                })?;
            }
            tx.add_soft_deleted(collection, -(purged as i64))?;
            Ok(purged)
        })
    }

    /// Renames a collection. Its records stay where they are (tables are keyed by id).
    pub fn rename_collection(&mut self, from: &str, to: &str) -> Result<()> {
        validate_name("collection", to)?;
        let info = self
            .info(from)?
            .ok_or_else(|| Error::InvalidInput(format!("no collection named {from:?}")))?;
        if from == to {
            return Ok(());
        }
        if self.info(to)?.is_some() {
            return Err(Error::InvalidInput(format!(
                "a collection named {to:?} already exists"
            )));
        }
        self.apply(|tx| {
            tx.structural = true;
            let mut t = catalog::open_mut(tx.txn()?)?;
            t.remove(from)?;
            catalog::store(&mut t, to, &info)
        })
    }

    /// Drops a collection and all its records; returns whether it existed. Each live
    /// record is reported deleted.
    pub fn drop_collection(&mut self, collection: &str) -> Result<bool> {
        let Some(info) = self.info(collection)? else {
            return Ok(false);
        };
        let ids: Vec<Uuid> = if self.shared.feed.has_subscribers() {
            let t = self.records_of(info.id)?;
            let mut ids = Vec::new();
            for item in t.iter()? {
                let (k, v) = item?;
                if record_flags(v.value())? & FLAG_SOFT_DELETED == 0 {
                    ids.push(Uuid::from_u128(k.value()));
                }
            }
            ids
        } else {
            Vec::new()
        };
        let defs = self.index_defs(info.id)?;
        self.apply(|tx| {
            tx.structural = true;
            let name = records_table_name(info.id);
            tx.txn()?.delete_table(records_def(&name))?;
            catalog::open_mut(tx.txn()?)?.remove(collection)?;
            let mut cat = tx.txn()?.open_table(INDEXES)?;
            let mut counts = tx.txn()?.open_table(indexes::COUNTS)?;
            for d in defs.iter() {
                cat.remove((info.id, d.name.as_str()))?;
                let n = d.table_name();
                tx.txn()?.delete_table(indexes::entries_def(&n))?;
                indexes::drop_counts(&mut counts, d.id)?;
            }
            Ok(())
        })?;
        self.note(collection, ChangeKind::Deleted, ids);
        Ok(true)
    }

    /// Creates an index over the collection's live records and keeps it in step with
    /// every later write (see [`crate::IndexSpec`]). Creates the collection if it does not
    /// exist yet. A unique index over records that already repeat a key is refused with
    /// `UniqueViolation` and nothing is written.
    pub fn create_index(&mut self, collection: &str, spec: IndexSpec) -> Result<IndexInfo> {
        validate_name("collection", collection)?;
        let name = spec.name();
        validate_name("index", &name)?;
        if spec.fields.is_empty() || spec.fields.len() > MAX_INDEX_FIELDS {
            return Err(Error::InvalidInput(format!(
                "an index covers 1 to {MAX_INDEX_FIELDS} fields, not {}",
                spec.fields.len()
            )));
        }
        for (i, f) in spec.fields.iter().enumerate() {
            if f.is_empty() {
                return Err(Error::InvalidInput("an index names an empty field".into()));
            }
            if spec.fields[..i].contains(f) {
                return Err(Error::InvalidInput(format!(
                    "an index names the field {f:?} twice"
                )));
            }
        }
        if spec.full_text && spec.unique {
            return Err(Error::InvalidInput(
                "a full-text index cannot be unique".into(),
            ));
        }
        let kind = spec.kind();
        if let Some(cid) = self.collection_id(collection)?
            && self.index_defs(cid)?.iter().any(|d| d.name == name)
        {
            return Err(Error::InvalidInput(format!(
                "collection {collection:?} already has an index named {name:?}"
            )));
        }
        let mut def = IndexDef {
            id: 0,
            name,
            fields: spec.fields,
            kind,
        };
        if kind == IndexKind::Unique
            && let Some(t) = self.records_ro(collection)?
        {
            // Checked in full before anything is written, so a refusal leaves no trace.
            let mut seen: HashMap<Vec<u8>, Uuid> = HashMap::new();
            crate::query::scan(&t, None, |k, r| {
                if def.unique_exempt(&r) {
                    return Ok(true);
                }
                let id = Uuid::from_u128(k);
                match seen.insert(def.prefix(&r), id) {
                    Some(existing) => Err(Error::UniqueViolation {
                        index: def.name.clone(),
                        collection: collection.to_string(),
                        existing,
                    }),
                    None => Ok(true),
                }
            })?;
        }
        self.apply(|tx| {
            tx.structural = true;
            let cid = tx.id_or_create(collection)?;
            def.id = indexes::allocate_id(tx.txn()?)?;
            tx.txn()?
                .open_table(INDEXES)?
                .insert((cid, def.name.as_str()), def.encode().as_slice())?;
            let t = tx.records_of(cid)?;
            let mut entries = tx.index_table(&def)?;
            if kind == IndexKind::FullText {
                crate::engine::fts::build_from_records(&mut entries, &def.fields, &t)?;
            } else {
                let mut deltas = indexes::CountDeltas::new();
                crate::query::scan(&t, None, |k, r| {
                    indexes::apply(&mut entries, &def, Uuid::from_u128(k), None, Some(&r))?;
                    if def.kind == IndexKind::BTree {
                        indexes::add_delta(&mut deltas, &def, None, Some(&r));
                    }
                    Ok(true)
                })?;
                let mut counts = tx.txn()?.open_table(indexes::COUNTS)?;
                indexes::start_counts(&mut counts, &def, &deltas)?;
            }
            Ok(IndexInfo {
                name: def.name.clone(),
                collection: collection.to_string(),
                fields: def.fields.clone(),
                kind,
                entries: entries.len()?,
            })
        })
    }

    /// Drops an index by name; returns whether it existed. Queries fall back to other
    /// indexes or a scan; their results do not change.
    pub fn drop_index(&mut self, collection: &str, name: &str) -> Result<bool> {
        let Some(cid) = self.collection_id(collection)? else {
            return Ok(false);
        };
        let Some(def) = self
            .index_defs(cid)?
            .iter()
            .find(|d| d.name == name)
            .cloned()
        else {
            return Ok(false);
        };
        self.apply(|tx| {
            tx.structural = true;
            tx.txn()?.open_table(INDEXES)?.remove((cid, name))?;
            let n = def.table_name();
            tx.txn()?.delete_table(indexes::entries_def(&n))?;
            indexes::drop_counts(&mut tx.txn()?.open_table(indexes::COUNTS)?, def.id)?;
            Ok(true)
        })
    }

    /// Commits; on success the change feed gets this transaction's batch.
    pub(crate) fn commit(mut self) -> Result<()> {
        if self.poisoned {
            self.rollback();
            return Err(Error::TransactionFailed(
                "a write in this transaction failed; it was rolled back".into(),
            ));
        }
        self.shared.check_open()?;
        let txn = self.txn.take().ok_or(Error::Closed)?;
        if self.structural {
            // Readers begin under the read side of `structure`, so none can start between
            // this commit and the generation bump with a stale generation in hand.
            let _structure = self.shared.structure.write();
            txn.commit()?;
            let mut cache = self.shared.cache.write();
            cache.generation += 1;
            cache.ids.clear();
            cache.indexes.clear();
        } else {
            txn.commit()?;
        }
        let changes = std::mem::take(&mut self.changes);
        self.shared.feed.publish(changes);
        Ok(())
    }

    /// Rolls back everything this transaction did. Dropping a `WriteTx` does the same.
    pub(crate) fn rollback(mut self) {
        if let Some(txn) = self.txn.take() {
            let _ = txn.abort();
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(txn) = self.txn.take() {
            let _ = txn.abort();
        }
    }
}

/// An explicit transaction for callers that cannot use a closure (the upstream Swift API's
/// `beginTransaction` / `commitTransaction` / `rollbackTransaction`).
///
/// While it is open it holds the database's single write slot: other writers wait (up to
/// the busy timeout). Dropping it without committing rolls back. Closing the database rolls
/// it back too; after that every call returns `Closed`.
pub struct Transaction {
    slot: Arc<Mutex<Option<WriteTx>>>,
}

macro_rules! delegate {
    ($( $(#[$m:meta])* fn $name:ident(&mut self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $(
            $(#[$m])*
            pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                self.with(|tx| tx.$name($($arg),*))
            }
        )*
    };
}

impl Transaction {
    pub(crate) fn new(tx: WriteTx) -> (Self, Arc<Mutex<Option<WriteTx>>>) {
        let slot = Arc::new(Mutex::new(Some(tx)));
        (Transaction { slot: slot.clone() }, slot)
    }

    /// Runs `f` on the open transaction; `Closed` once it has ended.
    pub fn with<T>(&self, f: impl FnOnce(&mut WriteTx) -> Result<T>) -> Result<T> {
        let mut g = self.slot.lock();
        match g.as_mut() {
            Some(tx) => f(tx),
            None => Err(Error::Closed),
        }
    }

    delegate! {
        /// See [`WriteTx::insert`].
        fn insert(&mut self, collection: &str, record: Record) -> Uuid;
        /// See [`WriteTx::insert_many`].
        fn insert_many(&mut self, collection: &str, records: Vec<Record>) -> Vec<Uuid>;
        /// See [`WriteTx::get`].
        fn get(&mut self, collection: &str, id: Uuid) -> Option<Record>;
        /// See [`WriteTx::get_many`].
        fn get_many(&mut self, collection: &str, ids: &[Uuid]) -> Vec<Option<Record>>;
        /// See [`WriteTx::exists`].
        fn exists(&mut self, collection: &str, id: Uuid) -> bool;
        /// See [`WriteTx::all`].
        fn all(&mut self, collection: &str) -> Vec<Record>;
        /// See [`WriteTx::page`].
        fn page(&mut self, collection: &str, offset: usize, limit: usize) -> Vec<Record>;
        /// See [`WriteTx::count`].
        fn count(&mut self, collection: &str) -> u64;
        /// See [`WriteTx::update`].
        fn update(&mut self, collection: &str, id: Uuid, record: Record) -> ();
        /// See [`WriteTx::update_fields`].
        fn update_fields(&mut self, collection: &str, id: Uuid, fields: Record) -> ();
        /// See [`WriteTx::upsert`].
        fn upsert(&mut self, collection: &str, id: Uuid, record: Record) -> bool;
        /// See [`WriteTx::delete`].
        fn delete(&mut self, collection: &str, id: Uuid) -> bool;
        /// See [`WriteTx::delete_many`].
        fn delete_many(&mut self, collection: &str, ids: &[Uuid]) -> usize;
        /// See [`WriteTx::soft_delete`].
        fn soft_delete(&mut self, collection: &str, id: Uuid) -> ();
        /// See [`WriteTx::purge`].
        fn purge(&mut self, collection: &str) -> u64;
    }

    /// Commits. Afterwards the handle is spent and further calls return `Closed`.
    pub fn commit(&self) -> Result<()> {
        let tx = self.slot.lock().take().ok_or(Error::Closed)?;
        tx.commit()
    }

    /// Rolls back. Afterwards the handle is spent and further calls return `Closed`.
    pub fn rollback(&self) -> Result<()> {
        let tx = self.slot.lock().take().ok_or(Error::Closed)?;
        tx.rollback();
        Ok(())
    }

    /// Whether the transaction is still open.
    pub fn is_open(&self) -> bool {
        self.slot.lock().is_some()
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("open", &self.is_open())
            .finish()
    }
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx")
            .field("changes", &self.changes.len())
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl std::fmt::Debug for ReadTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadTx")
            .field("path", &self.shared.path)
            .finish()
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(tx) = self.slot.lock().take() {
            tx.rollback();
        }
    }
}

// Raw access for `crate::ops` (integrity checks, backups, the schema version in META).
impl ReadTx {
    /// The redb read transaction under this snapshot.
    pub(crate) fn raw(&self) -> Result<&redb::ReadTransaction> {
        self.shared.check_open()?;
        Ok(&self.txn)
    }
}

impl WriteTx {
    /// The redb write transaction under this one. A caller that changes the catalog through
    /// it must call [`Self::mark_structural`].
    pub(crate) fn raw(&self) -> Result<&redb::WriteTransaction> {
        self.txn()
    }

    /// Notes that this transaction changed the collection catalog directly, so its commit
    /// invalidates the handle's id cache.
    pub(crate) fn mark_structural(&mut self) {
        self.structural = true;
    }
}
