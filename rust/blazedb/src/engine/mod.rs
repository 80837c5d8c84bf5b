//! The private storage engine: table layout, catalog and record encoding over redb.
//!
//! `docs/design.md` is the specification of everything in here.

pub(crate) mod catalog;
pub mod encoding;
pub(crate) mod fts;
pub(crate) mod index_keys;
pub(crate) mod indexes;
pub(crate) mod names;

use redb::TableDefinition;

/// Database-wide metadata: format version, id counters, schema version.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("blazedb.meta");
/// Collection name to its [`catalog::CollectionInfo`].
pub(crate) const COLLECTIONS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("blazedb.collections");

/// The on-disk layout version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// META key holding [`FORMAT_VERSION`] as 4 bytes little-endian.
pub(crate) const META_FORMAT: &str = "format_version";
/// META key holding the next collection id as 8 bytes little-endian.
pub(crate) const META_NEXT_COLLECTION: &str = "next_collection_id";

/// The table name that holds one collection's records.
///
/// Tables are named by a numeric id, not by the collection's name, so that a rename is one
/// catalog update and no user string ever becomes a table name.
pub(crate) fn records_table_name(collection_id: u64) -> String {
    format!("blazedb.records.{collection_id}")
}

/// The definition of the table named by [`records_table_name`].
pub(crate) fn records_def(name: &str) -> redb::TableDefinition<'_, RecordKey, &'static [u8]> {
    redb::TableDefinition::new(name)
}

/// Record keys: the UUID's 16 bytes read big-endian, so key order is the UUID's byte order,
/// which is also the order of its canonical string.
pub(crate) type RecordKey = u128;
