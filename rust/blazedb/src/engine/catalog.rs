//! The collection catalog: name to table id and the tombstone counter.
//!
//! The live count is redb's O(1) table length minus the tombstone counter. The counter is
//! written in the same transaction as the tombstones it counts, so the two cannot drift:
//! both commit or neither does. Plain inserts, updates and deletes of live records do not
//! touch the catalog at all, which keeps a single insert to one B-tree.

use redb::{ReadableTable, Table};

use super::{COLLECTIONS, META, META_NEXT_COLLECTION};
use crate::error::{Error, Result};

/// One collection's catalog entry. Stored as 16 bytes: id, soft-deleted count, u64 LE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CollectionInfo {
    pub(crate) id: u64,
    pub(crate) soft_deleted: u64,
}

impl CollectionInfo {
    pub(crate) fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[0..8].copy_from_slice(&self.id.to_le_bytes());
        out[8..16].copy_from_slice(&self.soft_deleted.to_le_bytes());
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != 16 {
            return Err(Error::corrupted(format!(
                "catalog entry has {} bytes, expected 16",
                b.len()
            )));
        }
        let u = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Ok(CollectionInfo {
            id: u(0),
            soft_deleted: u(8),
        })
    }
}

/// Looks a collection up in any readable catalog table.
pub(crate) fn lookup<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    name: &str,
) -> Result<Option<CollectionInfo>> {
    match table.get(name)? {
        Some(v) => Ok(Some(CollectionInfo::decode(v.value())?)),
        None => Ok(None),
    }
}

/// Lists every collection with its entry, in name order.
pub(crate) fn list<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
) -> Result<Vec<(String, CollectionInfo)>> {
    let mut out = Vec::new();
    for item in table.iter()? {
        let (k, v) = item?;
        out.push((k.value().to_string(), CollectionInfo::decode(v.value())?));
    }
    Ok(out)
}

/// Allocates the next collection id from META.
pub(crate) fn allocate_id(txn: &redb::WriteTransaction) -> Result<u64> {
    let mut meta = txn.open_table(META)?;
    let next = match meta.get(META_NEXT_COLLECTION)? {
        Some(v) => {
            let b = v.value();
            if b.len() != 8 {
                return Err(Error::corrupted("next collection id is not 8 bytes"));
            }
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        }
        None => 1,
    };
    meta.insert(
        META_NEXT_COLLECTION,
        next.wrapping_add(1).to_le_bytes().as_slice(),
    )?;
    Ok(next)
}

/// Writes an entry back.
pub(crate) fn store(
    table: &mut Table<&'static str, &'static [u8]>,
    name: &str,
    info: &CollectionInfo,
) -> Result<()> {
    table.insert(name, info.encode().as_slice())?;
    Ok(())
}

/// Opens the catalog inside a write transaction.
pub(crate) fn open_mut(
    txn: &redb::WriteTransaction,
) -> Result<Table<'_, &'static str, &'static [u8]>> {
    Ok(txn.open_table(COLLECTIONS)?)
}
