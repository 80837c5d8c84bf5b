//! Database statistics: records per collection, file size, fragmentation, cache hit rate.

use std::collections::HashMap;

use redb::{ReadableTableMetadata, TableHandle};
use serde::Serialize;

use super::SchemaVersion;
use crate::db::Database;
use crate::engine::catalog::{self, CollectionInfo};
use crate::engine::indexes::{INDEXES, kind_name};
use crate::engine::{COLLECTIONS, records_table_name};
use crate::error::Result;

/// redb's page size (BlazeDB never changes it).
const PAGE_SIZE: u64 = 4096;

/// What [`Database::stats`] reports. Serializes to the JSON that `blazedb stats --json`
/// prints (`docs/CLI.md`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// The database file.
    pub path: String,
    /// The file's size on disk, in bytes.
    pub file_bytes: u64,
    /// The size redb works with: the same as `file_bytes` for a plaintext file; for an
    /// encrypted one, the pages its blocks hold (each 4 KiB page costs 4,132 bytes on disk).
    pub logical_bytes: u64,
    /// Whether the file is encrypted at rest.
    pub encrypted: bool,
    /// Whether this handle is read-only.
    pub read_only: bool,
    /// Live records in every collection together.
    pub records: u64,
    /// Soft-deleted records waiting for `purge`, every collection together.
    pub soft_deleted: u64,
    /// Each collection, in name order.
    pub collections: Vec<CollectionStats>,
    /// Indexes (B-tree, unique and full-text) over all collections, as of the snapshot.
    pub index_count: u64,
    /// Whether `index_count` is a measurement. Always true now; builds before indexes
    /// landed reported false with a count of 0, and JSON readers may still look for it.
    pub indexes_supported: bool,
    /// The schema version stored in the database, if one was set.
    pub schema_version: Option<SchemaVersion>,
    /// Space use inside the file.
    pub storage: StorageStats,
    /// The page cache of this handle since it opened.
    pub cache: CacheStats,
}

/// One collection's numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CollectionStats {
    /// The collection's name.
    pub name: String,
    /// Live records (what `count` returns).
    pub records: u64,
    /// Soft-deleted records.
    pub soft_deleted: u64,
    /// Bytes of keys and record bodies stored (redb's `stored_bytes`, tombstones included).
    pub stored_bytes: u64,
    /// B-tree pages the collection uses (leaf and branch).
    pub pages: u64,
    /// Bytes of those pages: stored bytes, branch keys, and the unused space inside them.
    pub page_bytes: u64,
    /// The collection's indexes, in name order, with the space each takes.
    pub indexes: Vec<IndexSpace>,
}

/// One index's space in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IndexSpace {
    /// The index's name.
    pub name: String,
    /// `btree`, `unique` or `fulltext`.
    pub kind: String,
    /// Entries (B-tree indexes: one per record it covers, plus uuid aliases; full-text: one
    /// per distinct word of each record, plus per-record and per-word entries).
    pub entries: u64,
    /// Bytes of its keys and values.
    pub stored_bytes: u64,
    /// Bytes of the pages its B-tree occupies. `stored_bytes / page_bytes` is how full
    /// those pages are: entries that land in the middle of the tree (an index on a field
    /// with few distinct values, full-text postings) leave pages about half full, which
    /// compaction does not change (it moves pages, it does not repack them).
    pub page_bytes: u64,
}

/// Space use inside the file, from redb.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StorageStats {
    /// Bytes per page.
    pub page_size: u64,
    /// Pages allocated in the file (`None` on a read-only handle: only a write transaction
    /// can read redb's allocator).
    pub allocated_pages: Option<u64>,
    /// Leaf pages holding user data.
    pub leaf_pages: u64,
    /// Branch pages of user-data B-trees.
    pub branch_pages: u64,
    /// Bytes of keys and values stored, without indexing overhead.
    pub stored_bytes: u64,
    /// Bytes of branch keys and other metadata.
    pub metadata_bytes: u64,
    /// Bytes lost to fragmentation: free pages and unused space inside pages. This is
    /// what [`Database::compact`] can give back, at most.
    pub fragmented_bytes: u64,
    /// `fragmented_bytes / logical_bytes`, from 0 to 1.
    pub fragmentation: f64,
    /// Whether `fragmented_bytes` is redb's exact figure (writable handle) or an upper
    /// estimate (read-only handle: every byte of the file that no table's pages account for
    /// is counted as free, which includes redb's own allocator pages).
    pub exact: bool,
    /// Deepest B-tree path, across all tables.
    pub tree_height: u32,
}

/// Page-cache counters of this handle since it opened (redb's, with its `cache_metrics`
/// feature on, so they are real counts).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CacheStats {
    /// The cache's size limit (`Options::cache_size`).
    pub capacity_bytes: u64,
    /// Bytes in the cache now.
    pub used_bytes: u64,
    /// Reads of unmodified pages served from the cache.
    pub read_hits: u64,
    /// Reads of unmodified pages that went to the file.
    pub read_misses: u64,
    /// Accesses to pages modified in a transaction, served from the cache.
    pub write_hits: u64,
    /// Accesses to pages modified in a transaction that went to the file.
    pub write_misses: u64,
    /// Pages evicted because the cache was full.
    pub evictions: u64,
    /// Hits over all accesses (reads and writes), or `None` before the first access.
    pub hit_rate: Option<f64>,
}

/// A collection name with a number of records (backups, restores).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CollectionCount {
    /// The collection's name.
    pub name: String,
    /// Its live records.
    pub records: u64,
    /// Its soft-deleted records.
    pub soft_deleted: u64,
}

/// Bytes of a table's pages: what it stores, its branch keys and the space its pages leave
/// unused (redb counts every byte of a table's pages in exactly one of the three).
fn page_bytes(s: &redb::TableStats) -> u64 {
    s.stored_bytes() + s.metadata_bytes() + s.fragmented_bytes()
}

/// The catalog as of one snapshot.
pub(crate) fn read_catalog(raw: &redb::ReadTransaction) -> Result<Vec<(String, CollectionInfo)>> {
    match raw.open_table(COLLECTIONS) {
        Ok(t) => catalog::list(&t),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

impl Database {
    /// Records per collection, file size, fragmentation, index count and the page cache's
    /// hit rate. Reads one snapshot for the collections; on a writable handle it also
    /// begins (and aborts) a write transaction for redb's exact space figures, so it waits
    /// for a running writer. Walks every B-tree page, so it costs about one pass over the
    /// tree structure (not the records).
    pub fn stats(&self) -> Result<Stats> {
        let path = self.path().to_path_buf();
        let file_bytes = std::fs::metadata(&path)?.len();
        let encrypted = self.is_encrypted();
        let logical_bytes = super::logical_len(file_bytes, encrypted);
        let read_only = self.ops_options().read_only;

        let snap = self.snapshot()?;
        let raw = snap.raw()?;
        let mut collections = Vec::new();
        let mut index_count = 0u64;
        // Every tree of the file, walked once: redb's table stats visit every page, and
        // the collections, their indexes and the read-only estimate all read from here.
        let mut trees: HashMap<String, (u64, redb::TableStats)> = HashMap::new();
        for handle in raw.list_tables()? {
            let name = handle.name().to_string();
            let t = raw.open_untyped_table(handle)?;
            trees.insert(name, (t.len()?, t.stats()?));
        }
        let index_defs = match raw.open_table(INDEXES) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        for (name, info) in read_catalog(raw)? {
            let (stored, ts) = trees
                .get(&records_table_name(info.id))
                .map_or((0, None), |(len, s)| (*len, Some(s)));
            let mut indexes = Vec::new();
            for def in match &index_defs {
                Some(t) => crate::engine::indexes::list(t, info.id)?,
                None => Vec::new(),
            } {
                let (entries, space) = trees
                    .get(&def.table_name())
                    .map_or((0, None), |(len, s)| (*len, Some(s)));
                indexes.push(IndexSpace {
                    name: def.name.clone(),
                    kind: kind_name(def.kind).to_string(),
                    entries,
                    stored_bytes: space.map_or(0, |s| s.stored_bytes()),
                    page_bytes: space.map_or(0, page_bytes),
                });
            }
            index_count += indexes.len() as u64;
            collections.push(CollectionStats {
                name,
                records: stored.saturating_sub(info.soft_deleted),
                soft_deleted: info.soft_deleted,
                stored_bytes: ts.map_or(0, |s| s.stored_bytes()),
                pages: ts.map_or(0, |s| s.leaf_pages() + s.branch_pages()),
                page_bytes: ts.map_or(0, page_bytes),
                indexes,
            });
        }
        let schema_version = super::schema::read_version(raw)?;
        // Read-only: sum what every table's pages account for; the rest is counted free.
        let estimate = if read_only {
            let mut leaf = 0u64;
            let mut branch = 0u64;
            let mut stored = 0u64;
            let mut metadata = 0u64;
            let mut fragmented = 0u64;
            let mut height = 0u32;
            for (_, s) in trees.values() {
                leaf += s.leaf_pages();
                branch += s.branch_pages();
                stored += s.stored_bytes();
                metadata += s.metadata_bytes();
                fragmented += s.fragmented_bytes();
                height = height.max(s.tree_height());
            }
            Some((leaf, branch, stored, metadata, fragmented, height))
        } else {
            None
        };
        drop(snap);

        let storage = match (self.ops_storage_stats()?, estimate) {
            (Some(s), _) => StorageStats {
                page_size: s.page_size() as u64,
                allocated_pages: Some(s.allocated_pages()),
                leaf_pages: s.leaf_pages(),
                branch_pages: s.branch_pages(),
                stored_bytes: s.stored_bytes(),
                metadata_bytes: s.metadata_bytes(),
                fragmented_bytes: s.fragmented_bytes(),
                fragmentation: ratio(s.fragmented_bytes(), logical_bytes),
                exact: true,
                tree_height: s.tree_height(),
            },
            (None, Some((leaf, branch, stored, metadata, fragmented, height))) => {
                let used = (leaf + branch) * PAGE_SIZE;
                let free = logical_bytes.saturating_sub(used);
                let fragmented_bytes = free + fragmented;
                StorageStats {
                    page_size: PAGE_SIZE,
                    allocated_pages: None,
                    leaf_pages: leaf,
                    branch_pages: branch,
                    stored_bytes: stored,
                    metadata_bytes: metadata,
                    fragmented_bytes,
                    fragmentation: ratio(fragmented_bytes, logical_bytes),
                    exact: false,
                    tree_height: height,
                }
            }
            (None, None) => unreachable_storage(),
        };

        let c = self.ops_cache_stats()?;
        let accesses = c.read_hits() + c.read_misses() + c.write_hits() + c.write_misses();
        let cache = CacheStats {
            capacity_bytes: self.ops_options().cache_size as u64,
            used_bytes: c.used_bytes() as u64,
            read_hits: c.read_hits(),
            read_misses: c.read_misses(),
            write_hits: c.write_hits(),
            write_misses: c.write_misses(),
            evictions: c.evictions(),
            hit_rate: (accesses > 0)
                .then(|| (c.read_hits() + c.write_hits()) as f64 / accesses as f64),
        };

        Ok(Stats {
            path: path.display().to_string(),
            file_bytes,
            logical_bytes,
            encrypted,
            read_only,
            records: collections.iter().map(|c| c.records).sum(),
            soft_deleted: collections.iter().map(|c| c.soft_deleted).sum(),
            collections,
            index_count,
            indexes_supported: true,
            schema_version,
            storage,
            cache,
        })
    }
}

/// A writable handle always has exact stats and a read-only one an estimate; this is the
/// impossible remainder, answered with zeros rather than a panic.
fn unreachable_storage() -> StorageStats {
    StorageStats {
        page_size: PAGE_SIZE,
        allocated_pages: None,
        leaf_pages: 0,
        branch_pages: 0,
        stored_bytes: 0,
        metadata_bytes: 0,
        fragmented_bytes: 0,
        fragmentation: 0.0,
        exact: false,
        tree_height: 0,
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64).clamp(0.0, 1.0)
    }
}
