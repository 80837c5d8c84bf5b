//! Secondary indexes: their catalog, their entries, and their upkeep inside write
//! transactions.
//!
//! Each index is one redb table `blazedb.index.<id>` of `&[u8] → &[u8]`, written in the same
//! redb transaction as the record it describes, so a commit stores both and a rollback
//! neither. A B-tree index holds one entry per live record (key: the indexed values, then
//! the id; value: empty) plus an alias entry for a leading string that holds a UUID (see
//! [`super::index_keys`]). Soft-deleted records have no entries.
//!
//! The catalog `blazedb.indexes` maps `(collection id, index name)` to the definition, as
//! JSON (`{"id":7,"fields":["status"],"kind":"btree"}`), so a reader can list indexes without
//! knowing this build's structs.

use redb::{ReadableTable, Table, TableDefinition};
use uuid::Uuid;

use super::index_keys::{self, ALIAS_TAG, ID_LEN};
use super::{META, fts};
use crate::error::{Error, Result};
use crate::index::IndexKind;
use crate::record::Record;

/// `(collection id, index name)` to the index definition.
pub(crate) const INDEXES: TableDefinition<(u64, &str), &[u8]> =
    TableDefinition::new("blazedb.indexes");
/// META key holding the next index id as 8 bytes little-endian.
pub(crate) const META_NEXT_INDEX: &str = "next_index_id";
/// Most fields one index may cover.
pub(crate) const MAX_INDEX_FIELDS: usize = 16;

/// An index's entry table inside a write transaction.
pub(crate) type IndexTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// Per-value record counts of B-tree indexes: `(index id, leading component)` → the live
/// records whose sort entry starts with that component, and `(index id, [])` (the header)
/// → how many components are counted, or [`UNCOUNTED`]. Kept in the same transactions as
/// the entries, so a group-by count on the leading field reads one row per group instead
/// of one entry per record. An index without a header (built before counts existed) or
/// marked [`UNCOUNTED`] is answered by walking its entries.
pub(crate) const COUNTS: TableDefinition<(u64, &[u8]), u64> =
    TableDefinition::new("blazedb.index_counts");
/// Most distinct leading values an index keeps counts for. Past it the index stops being
/// counted for good (its counts are removed): a group-by over more groups than this reads
/// as many rows either way, and the counts would cost a write per distinct value.
pub(crate) const MAX_COUNTED: u64 = 1024;
/// Header value of an index that is not counted.
pub(crate) const UNCOUNTED: u64 = u64::MAX;

/// The count table inside a write transaction.
pub(crate) type CountTable<'t> = Table<'t, (u64, &'static [u8]), u64>;

/// The table that holds one index's entries.
pub(crate) fn index_table_name(id: u64) -> String {
    format!("blazedb.index.{id}")
}

/// The definition of the table named by [`index_table_name`].
pub(crate) fn entries_def(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

/// One index, as stored in the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexDef {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) fields: Vec<String>,
    pub(crate) kind: IndexKind,
}

/// The kind's name as stored in an index definition (and shown by `stats`).
pub(crate) fn kind_name(k: IndexKind) -> &'static str {
    match k {
        IndexKind::BTree => "btree",
        IndexKind::Unique => "unique",
        IndexKind::FullText => "fulltext",
    }
}

impl IndexDef {
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::json!({"id": self.id, "fields": self.fields, "kind": kind_name(self.kind)})
            .to_string()
            .into_bytes()
    }

    pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<Self> {
        let bad = || Error::corrupted(format!("index {name:?} has a malformed definition"));
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let id = v.get("id").and_then(|x| x.as_u64()).ok_or_else(bad)?;
        let fields = v
            .get("fields")
            .and_then(|x| x.as_array())
            .ok_or_else(bad)?
            .iter()
            .map(|f| f.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<Vec<_>>>()?;
        let kind = match v.get("kind").and_then(|x| x.as_str()) {
            Some("btree") => IndexKind::BTree,
            Some("unique") => IndexKind::Unique,
            Some("fulltext") => IndexKind::FullText,
            _ => return Err(bad()),
        };
        if fields.is_empty() {
            return Err(bad());
        }
        Ok(IndexDef {
            id,
            name: name.to_string(),
            fields,
            kind,
        })
    }

    /// The table holding this index's entries.
    pub(crate) fn table_name(&self) -> String {
        index_table_name(self.id)
    }

    /// Whether this is an ordered (B-tree) index the planner can use.
    pub(crate) fn is_ordered(&self) -> bool {
        matches!(self.kind, IndexKind::BTree | IndexKind::Unique)
    }

    /// The indexed values of a record as key components (the entry key without its id).
    pub(crate) fn prefix(&self, r: &Record) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        for f in &self.fields {
            index_keys::push_component(&mut out, r.get_path(f));
        }
        out
    }

    /// The leading field's key component: what the per-value counts ([`COUNTS`]) count by.
    pub(crate) fn leading(&self, r: &Record) -> Vec<u8> {
        index_keys::component(r.get_path(&self.fields[0]))
    }

    /// Whether the record is exempt from uniqueness (some indexed value is null, missing or
    /// NaN).
    pub(crate) fn unique_exempt(&self, r: &Record) -> bool {
        self.fields
            .iter()
            .any(|f| index_keys::unique_exempt(r.get_path(f)))
    }

    /// Every entry key of one record: the sort entry, and the alias entry when the leading
    /// value is a string holding a UUID.
    pub(crate) fn entry_keys(&self, r: &Record, id: Uuid) -> Vec<Vec<u8>> {
        let mut main = self.prefix(r);
        main.extend(id.as_bytes());
        let mut out = Vec::with_capacity(1);
        if let Some(u) = index_keys::uuid_of_string(r.get_path(&self.fields[0])) {
            let mut alias = vec![ALIAS_TAG];
            alias.extend(u.as_bytes());
            for f in &self.fields[1..] {
                index_keys::push_component(&mut alias, r.get_path(f));
            }
            alias.extend(id.as_bytes());
            out.push(alias);
        }
        out.insert(0, main);
        out
    }
}

/// Every index of one collection, in name order.
pub(crate) fn list<T: ReadableTable<(u64, &'static str), &'static [u8]>>(
    table: &T,
    collection_id: u64,
) -> Result<Vec<IndexDef>> {
    let mut out = Vec::new();
    for item in table.range((collection_id, "")..)? {
        let (k, v) = item?;
        let (cid, name) = k.value();
        if cid != collection_id {
            break;
        }
        out.push(IndexDef::decode(name, v.value())?);
    }
    Ok(out)
}

/// Allocates the next index id from META.
pub(crate) fn allocate_id(txn: &redb::WriteTransaction) -> Result<u64> {
    let mut meta = txn.open_table(META)?;
    let next = match meta.get(META_NEXT_INDEX)? {
        Some(v) => {
            let b: [u8; 8] = v
                .value()
                .try_into()
                .map_err(|_| Error::corrupted("next index id is not 8 bytes"))?;
            u64::from_le_bytes(b)
        }
        None => 1,
    };
    meta.insert(
        META_NEXT_INDEX,
        next.wrapping_add(1).to_le_bytes().as_slice(),
    )?;
    Ok(next)
}

/// The live record, other than `own`, that already holds this key prefix, if any.
///
/// Components are self-delimiting, so every entry starting with a whole prefix is that
/// prefix followed by a 16-byte id: the scan below reads exactly the holders of the key.
pub(crate) fn holder<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    prefix: &[u8],
    own: Uuid,
) -> Result<Option<Uuid>> {
    let mut lo = prefix.to_vec();
    lo.extend([0u8; ID_LEN]);
    let mut hi = prefix.to_vec();
    hi.extend([0xFFu8; ID_LEN]);
    for item in table.range(lo.as_slice()..=hi.as_slice())? {
        let (k, _) = item?;
        if let Some(id) = index_keys::entry_id(k.value())
            && id != own
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Changes in per-component live-record counts, keyed by leading component.
pub(crate) type CountDeltas = std::collections::BTreeMap<Vec<u8>, i64>;

/// Adds one record change to `deltas`: `old` leaves its component, `new` joins its own.
pub(crate) fn add_delta(
    deltas: &mut CountDeltas,
    def: &IndexDef,
    old: Option<&Record>,
    new: Option<&Record>,
) {
    let (o, n) = (old.map(|r| def.leading(r)), new.map(|r| def.leading(r)));
    if o == n {
        return;
    }
    if let Some(o) = o {
        *deltas.entry(o).or_insert(0) -= 1;
    }
    if let Some(n) = n {
        *deltas.entry(n).or_insert(0) += 1;
    }
}

/// Starts counting a new B-tree index (unique ones hold one record per key and are not
/// counted) over the records it was built from, whose changes are `deltas`.
pub(crate) fn start_counts(
    counts: &mut CountTable<'_>,
    def: &IndexDef,
    deltas: &CountDeltas,
) -> Result<()> {
    if def.kind != IndexKind::BTree {
        return Ok(());
    }
    apply_counts(counts, def, 0, deltas)
}

/// Removes every count row of index `id` (its header too).
pub(crate) fn drop_counts(counts: &mut CountTable<'_>, id: u64) -> Result<()> {
    let lo: (u64, &[u8]) = (id, &[]);
    match id.checked_add(1) {
        Some(next) => {
            let hi: (u64, &[u8]) = (next, &[]);
            counts.retain_in(lo..hi, |_, _| false)?;
        }
        None => counts.retain_in(lo.., |_, _| false)?,
    }
    Ok(())
}

/// Brings a counted index's counts up to date with a batch of record changes; an
/// uncounted index costs one lookup of its header.
pub(crate) fn maintain_counts(
    counts: &mut CountTable<'_>,
    def: &IndexDef,
    changes: &[(Uuid, Option<&Record>, Option<&Record>)],
) -> Result<()> {
    if def.kind != IndexKind::BTree {
        return Ok(());
    }
    let Some(distinct) = counted(counts, def.id)? else {
        return Ok(());
    };
    let mut deltas = CountDeltas::new();
    for (_, old, new) in changes {
        add_delta(&mut deltas, def, *old, *new);
    }
    // Changes that leave every count as it was write nothing, not even the header.
    if deltas.values().all(|d| *d == 0) {
        return Ok(());
    }
    apply_counts(counts, def, distinct, &deltas)
}

/// The number of values a counted index counts; `None` when it is not counted.
fn counted<T: ReadableTable<(u64, &'static [u8]), u64>>(
    counts: &T,
    id: u64,
) -> Result<Option<u64>> {
    let header = counts.get((id, [].as_slice()))?.map(|v| v.value());
    Ok(header.filter(|n| *n != UNCOUNTED))
}

/// Stops counting an index: its rows go and its header says [`UNCOUNTED`].
fn give_up_counts(counts: &mut CountTable<'_>, id: u64) -> Result<()> {
    drop_counts(counts, id)?;
    counts.insert((id, [].as_slice()), UNCOUNTED)?;
    Ok(())
}

/// Applies `deltas` to a counted index that counts `distinct` values now, and writes its
/// header. A count going negative means the counts and the entries disagree:
/// `CorruptedData`.
fn apply_counts(
    counts: &mut CountTable<'_>,
    def: &IndexDef,
    mut distinct: u64,
    deltas: &CountDeltas,
) -> Result<()> {
    // Every value gaining records ends with a row: more of them than the limit ends the
    // counting without writing rows only to remove them.
    if deltas.values().filter(|d| **d > 0).count() as u64 > MAX_COUNTED {
        return give_up_counts(counts, def.id);
    }
    for (comp, d) in deltas {
        if *d == 0 {
            continue;
        }
        let key = (def.id, comp.as_slice());
        let old = counts.get(key)?.map_or(0, |v| v.value());
        let new = i128::from(old) + i128::from(*d);
        if new < 0 {
            return Err(Error::corrupted(format!(
                "index {:?}: its value counts are out of step with its entries",
                def.name
            )));
        }
        if new == 0 {
            counts.remove(key)?;
            distinct = distinct.saturating_sub(1);
        } else {
            counts.insert(key, new as u64)?;
            if old == 0 {
                distinct += 1;
            }
        }
        if distinct > MAX_COUNTED {
            return give_up_counts(counts, def.id);
        }
    }
    counts.insert((def.id, [].as_slice()), distinct)?;
    Ok(())
}

/// Per-value counts of one index: `(leading component, live records)`, in key order.
pub(crate) type ValueCounts = Vec<(Vec<u8>, u64)>;

/// The per-component counts of a counted index, in key order; `None` when it is not
/// counted.
pub(crate) fn read_counts<T: ReadableTable<(u64, &'static [u8]), u64>>(
    counts: &T,
    id: u64,
) -> Result<Option<ValueCounts>> {
    if counted(counts, id)?.is_none() {
        return Ok(None);
    }
    count_rows(counts, id).map(Some)
}

/// Every count row of index `id` but its header, whatever the header says.
fn count_rows<T: ReadableTable<(u64, &'static [u8]), u64>>(
    counts: &T,
    id: u64,
) -> Result<ValueCounts> {
    let lo: (u64, &[u8]) = (id, &[0u8]);
    let mut out = Vec::new();
    // Rows of later indexes follow: stop at the first one.
    for item in counts.range(lo..)? {
        let (k, v) = item?;
        let (owner, comp) = k.value();
        if owner != id {
            break;
        }
        out.push((comp.to_vec(), v.value()));
    }
    Ok(out)
}

/// Checks a B-tree index's counts against its live records: a counted index must have
/// exactly one row per leading component its records have, holding their number, and a
/// header naming how many rows there are; an uncounted one must have no rows.
pub(crate) fn verify_counts<T: ReadableTable<(u64, &'static [u8]), u64>>(
    def: &IndexDef,
    live: &[(Uuid, Record)],
    counts: &T,
) -> Result<Vec<String>> {
    if def.kind != IndexKind::BTree {
        return Ok(Vec::new());
    }
    let header = counts.get((def.id, [].as_slice()))?.map(|v| v.value());
    let stored = read_counts(counts, def.id)?;
    let Some(stored) = stored else {
        let rows = count_rows(counts, def.id)?.len();
        return Ok(if rows > 0 {
            vec![format!("it is not counted but has {rows} count rows")]
        } else {
            Vec::new()
        });
    };
    let mut expected: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
    for (_, r) in live {
        *expected.entry(def.leading(r)).or_insert(0) += 1;
    }
    let mut problems = Vec::new();
    if header != Some(stored.len() as u64) {
        problems.push(format!(
            "its count header says {:?} values but {} are counted",
            header,
            stored.len()
        ));
    }
    let stored: std::collections::BTreeMap<Vec<u8>, u64> = stored.into_iter().collect();
    if stored != expected {
        let wrong = expected
            .iter()
            .filter(|(k, n)| stored.get(*k) != Some(*n))
            .count()
            + stored.keys().filter(|k| !expected.contains_key(*k)).count();
        problems.push(format!(
            "{wrong} of its value counts disagree with its live records"
        ));
    }
    Ok(problems)
}

/// Brings one index up to date with one record change: `old` is what the index describes
/// now (`None` for an insert), `new` what it must describe (`None` for a delete).
pub(crate) fn apply(
    table: &mut IndexTable<'_>,
    def: &IndexDef,
    id: Uuid,
    old: Option<&Record>,
    new: Option<&Record>,
) -> Result<()> {
    if def.kind == IndexKind::FullText {
        return fts::maintain(table, &def.fields, id, old, new);
    }
    let old_keys = old.map(|r| def.entry_keys(r, id)).unwrap_or_default();
    let new_keys = new.map(|r| def.entry_keys(r, id)).unwrap_or_default();
    if old_keys == new_keys {
        return Ok(());
    }
    for k in &old_keys {
        table.remove(k.as_slice())?;
    }
    for k in &new_keys {
        table.insert(k.as_slice(), [].as_slice())?;
    }
    Ok(())
}

/// Checks one B-tree index against the live records it covers: every entry must be one a
/// live record calls for (so it points at a live record, under that record's current
/// values), every live record must have each of its entries (so it appears exactly once
/// in the sort order), and a unique index must not repeat a key. Returns the problems
/// found, at most a few named per kind.
pub(crate) fn verify<T: ReadableTable<&'static [u8], &'static [u8]>>(
    def: &IndexDef,
    live: &[(Uuid, Record)],
    entries: &T,
) -> Result<Vec<String>> {
    use std::collections::{BTreeSet, HashMap};
    const NAMED: usize = 5;
    let mut problems = Vec::new();
    let mut expected: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut owners: HashMap<Vec<u8>, Uuid> = HashMap::new();
    for (id, r) in live {
        for k in def.entry_keys(r, *id) {
            expected.insert(k);
        }
        if def.kind == IndexKind::Unique && !def.unique_exempt(r) {
            let p = def.prefix(r);
            if let Some(other) = owners.insert(p, *id)
                && problems.len() < NAMED
            {
                problems.push(format!("unique key held by both {other} and {id}"));
            }
        }
    }
    let mut stray = 0u64;
    let mut named = Vec::new();
    for item in entries.iter()? {
        let (k, v) = item?;
        let k = k.value();
        if !v.value().is_empty() || !expected.remove(k) {
            stray += 1;
            if named.len() < NAMED {
                named.push(match index_keys::entry_id(k) {
                    Some(id) => id.to_string(),
                    None => format!("{} bytes", k.len()),
                });
            }
        }
    }
    if stray > 0 {
        problems.push(format!(
            "{stray} entries no live record calls for (records {})",
            named.join(", ")
        ));
    }
    if !expected.is_empty() {
        let ids: Vec<String> = expected
            .iter()
            .take(NAMED)
            .filter_map(|k| index_keys::entry_id(k).map(|u| u.to_string()))
            .collect();
        problems.push(format!(
            "{} entries are missing (records {})",
            expected.len(),
            ids.join(", ")
        ));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Aggregate, Database, IndexSpec, Options, Value};
    use redb::ReadableTableMetadata;

    fn open() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("c.blazedb"), Options::default()).unwrap();
        (dir, db)
    }

    /// The counts the group-by path would read for the index led by `field`.
    fn counts(db: &Database, field: &str) -> Option<ValueCounts> {
        db.read(|tx| Ok(tx.ordered_index_led_by("c", field)?.and_then(|(_, _, c)| c)))
            .unwrap()
    }

    fn count_rows(db: &Database) -> u64 {
        db.read(|tx| Ok(tx.raw()?.open_table(COUNTS)?.len()?))
            .unwrap()
    }

    fn comp(v: &str) -> Vec<u8> {
        index_keys::component(Some(&Value::from(v)))
    }

    fn groups(db: &Database) -> Vec<crate::Record> {
        db.aggregate(&Aggregate::new("c").group_by(["s"]).count("n"))
            .unwrap()
    }

    #[test]
    fn counts_follow_inserts_updates_deletes_and_rollbacks() {
        let (_d, db) = open();
        db.create_index("c", IndexSpec::on("s")).unwrap();
        let ids = db
            .insert_many(
                "c",
                ["a", "b", "a", "a"]
                    .iter()
                    .map(|s| Record::new().with("s", *s))
                    .collect(),
            )
            .unwrap();
        assert_eq!(counts(&db, "s"), Some(vec![(comp("a"), 3), (comp("b"), 1)]));
        db.update_fields("c", ids[0], Record::new().with("s", "b"))
            .unwrap();
        db.delete("c", ids[1]).unwrap();
        db.soft_delete("c", ids[2]).unwrap();
        assert_eq!(counts(&db, "s"), Some(vec![(comp("a"), 1), (comp("b"), 1)]));
        let r: crate::Result<()> = db.write(|tx| {
            tx.insert("c", Record::new().with("s", "z"))?;
            Err(crate::Error::InvalidInput("roll back".into()))
        });
        assert!(r.is_err());
        assert_eq!(counts(&db, "s"), Some(vec![(comp("a"), 1), (comp("b"), 1)]));
        db.delete("c", ids[0]).unwrap();
        // A value whose last record went is no longer listed.
        assert_eq!(counts(&db, "s"), Some(vec![(comp("a"), 1)]));
        assert!(db.check().unwrap().ok);
    }

    #[test]
    fn an_index_built_over_records_is_counted_and_a_unique_one_is_not() {
        let (_d, db) = open();
        db.insert_many(
            "c",
            (0..10)
                .map(|i| {
                    Record::new()
                        .with("s", ["x", "y"][i % 2])
                        .with("u", i as i64)
                })
                .collect(),
        )
        .unwrap();
        db.create_index("c", IndexSpec::on("s")).unwrap();
        db.create_index("c", IndexSpec::on("u").unique()).unwrap();
        assert_eq!(counts(&db, "s"), Some(vec![(comp("x"), 5), (comp("y"), 5)]));
        assert_eq!(counts(&db, "u"), None);
        assert_eq!(count_rows(&db), 3, "a header and two values");
        // Dropping the index drops its counts.
        assert!(db.drop_index("c", "s").unwrap());
        assert_eq!(count_rows(&db), 0);
        assert!(db.check().unwrap().ok);
    }

    #[test]
    fn too_many_values_stop_the_counting_for_good() {
        let (_d, db) = open();
        db.create_index("c", IndexSpec::on("s")).unwrap();
        let n = MAX_COUNTED as usize + 1;
        db.insert_many(
            "c",
            (0..n)
                .map(|i| Record::new().with("s", format!("v{i}")))
                .collect(),
        )
        .unwrap();
        assert_eq!(counts(&db, "s"), None);
        // Deleting back under the limit does not restart it; group-by still walks entries.
        let all = db.all("c").unwrap();
        db.delete_many("c", &[all[0].id().unwrap()]).unwrap();
        assert_eq!(counts(&db, "s"), None);
        assert_eq!(groups(&db).len(), n - 1);
        assert!(db.check().unwrap().ok);
    }

    #[test]
    fn the_integrity_check_catches_a_wrong_count() {
        let (_d, db) = open();
        db.create_index("c", IndexSpec::on("s")).unwrap();
        db.insert_many("c", vec![Record::new().with("s", "a"); 3])
            .unwrap();
        // The only counted index's header is the table's first row.
        let id = db
            .read(|tx| {
                let t = tx.raw()?.open_table(COUNTS)?;
                let first = t.iter()?.next().expect("a header")?;
                Ok(first.0.value().0)
            })
            .unwrap();
        db.write(|tx| {
            let mut t = tx.raw()?.open_table(COUNTS)?;
            t.insert((id, comp("a").as_slice()), 2)?;
            Ok(())
        })
        .unwrap();
        let report = db.check().unwrap();
        assert!(!report.ok, "a wrong count went unnoticed");
        assert!(
            report
                .issues
                .iter()
                .any(|i| i.message.contains("value counts")),
            "{:?}",
            report.issues
        );
    }
}
