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

fn kind_name(k: IndexKind) -> &'static str {
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
