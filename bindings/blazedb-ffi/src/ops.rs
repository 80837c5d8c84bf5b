//! Operations across the boundary: stats, health, explain, schema version and online
//! backups. Each is one call returning a plain record; the numbers and rules are the
//! core's (`docs/OPERATIONS.md`).

/// A collection's name with its live and soft-deleted records (backups, restores and
/// dumps; dumps hold no soft-deleted records, so theirs is 0).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CollectionCount {
    pub name: String,
    pub records: u64,
    pub soft_deleted: u64,
}

/// A schema version, `major.minor`. (Not named `SchemaVersion`: the Swift package has
/// upstream's type of that name.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct StoredSchemaVersion {
    pub major: i64,
    pub minor: i64,
}

impl From<blazedb::SchemaVersion> for StoredSchemaVersion {
    fn from(v: blazedb::SchemaVersion) -> Self {
        StoredSchemaVersion {
            major: v.major,
            minor: v.minor,
        }
    }
}

impl From<StoredSchemaVersion> for blazedb::SchemaVersion {
    fn from(v: StoredSchemaVersion) -> Self {
        blazedb::SchemaVersion {
            major: v.major,
            minor: v.minor,
        }
    }
}

/// One collection's numbers in [`StatsReport`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CollectionStats {
    pub name: String,
    pub records: u64,
    pub soft_deleted: u64,
    /// Bytes of keys and values stored.
    pub stored_bytes: u64,
    /// B-tree pages (leaf and branch).
    pub pages: u64,
}

/// What the core's `Database::stats` reports, flattened. (Not named `DatabaseStats`: the
/// Swift package has upstream's type of that name.)
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct StatsReport {
    pub path: String,
    /// Size on disk.
    pub file_bytes: u64,
    /// Size redb works with (smaller than `file_bytes` for an encrypted file).
    pub logical_bytes: u64,
    pub encrypted: bool,
    pub read_only: bool,
    /// Live records in every collection together.
    pub records: u64,
    pub soft_deleted: u64,
    pub collections: Vec<CollectionStats>,
    pub index_count: u64,
    pub schema_version: Option<StoredSchemaVersion>,
    pub page_size: u64,
    /// Pages allocated in the file; none on a read-only handle.
    pub allocated_pages: Option<u64>,
    pub leaf_pages: u64,
    pub branch_pages: u64,
    /// Free pages plus unused space inside pages: what `compact` can give back, at most.
    pub fragmented_bytes: u64,
    /// `fragmented_bytes / logical_bytes`.
    pub fragmentation: f64,
    /// Whether `fragmented_bytes` is exact (writable handle) or an upper estimate.
    pub fragmentation_exact: bool,
    pub cache_capacity_bytes: u64,
    /// Page-cache hits over all accesses since the handle opened; none before the first.
    pub cache_hit_rate: Option<f64>,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

pub(crate) fn from_stats(s: blazedb::Stats) -> StatsReport {
    StatsReport {
        path: s.path,
        file_bytes: s.file_bytes,
        logical_bytes: s.logical_bytes,
        encrypted: s.encrypted,
        read_only: s.read_only,
        records: s.records,
        soft_deleted: s.soft_deleted,
        collections: s
            .collections
            .into_iter()
            .map(|c| CollectionStats {
                name: c.name,
                records: c.records,
                soft_deleted: c.soft_deleted,
                stored_bytes: c.stored_bytes,
                pages: c.pages,
            })
            .collect(),
        index_count: s.index_count,
        schema_version: s.schema_version.map(Into::into),
        page_size: s.storage.page_size,
        allocated_pages: s.storage.allocated_pages,
        leaf_pages: s.storage.leaf_pages,
        branch_pages: s.storage.branch_pages,
        fragmented_bytes: s.storage.fragmented_bytes,
        fragmentation: s.storage.fragmentation,
        fragmentation_exact: s.storage.exact,
        cache_capacity_bytes: s.cache.capacity_bytes,
        cache_hit_rate: s.cache.hit_rate,
        cache_hits: s.cache.read_hits + s.cache.write_hits,
        cache_misses: s.cache.read_misses + s.cache.write_misses,
    }
}

/// Overall health (upstream's `OK`, `WARN`, `ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum HealthLevel {
    Ok,
    Warn,
    Error,
}

/// What the core's `Database::health` found.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HealthSummary {
    /// The worst finding.
    pub status: HealthLevel,
    /// Each finding, in words.
    pub reasons: Vec<String>,
    /// What to do, one line per finding that has a remedy.
    pub suggested_actions: Vec<String>,
    /// One line: the status and the number of findings.
    pub summary: String,
}

pub(crate) fn from_health(h: blazedb::HealthReport) -> HealthSummary {
    HealthSummary {
        status: match h.status {
            blazedb::HealthStatus::Ok => HealthLevel::Ok,
            blazedb::HealthStatus::Warn => HealthLevel::Warn,
            blazedb::HealthStatus::Error => HealthLevel::Error,
        },
        reasons: h.reasons,
        suggested_actions: h.suggested_actions,
        summary: h.summary,
    }
}

/// How a query would run, with the real row counts (the query runs to count them).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ExplainReport {
    pub collection: String,
    /// `scan`, `index lookup` or `index order`.
    pub strategy: String,
    /// The index or indexes used, by name; none for a scan.
    pub index: Option<String>,
    /// The index fields and ranges used, in words.
    pub detail: String,
    pub estimated_rows: u64,
    pub examined_rows: u64,
    pub returned_rows: u64,
    /// Whether the plan came from the handle's plan cache.
    pub cached: bool,
    /// The whole plan in one line, as the core prints it.
    pub text: String,
}

pub(crate) fn from_explain(e: blazedb::Explain) -> ExplainReport {
    ExplainReport {
        text: e.to_string(),
        collection: e.collection,
        strategy: e.strategy.to_string(),
        index: e.index,
        detail: e.detail,
        estimated_rows: e.estimated_rows,
        examined_rows: e.examined_rows,
        returned_rows: e.returned_rows,
        cached: e.cached,
    }
}

/// What an online backup (or a backup restore) wrote.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct BackupReport {
    pub path: String,
    /// Live records copied.
    pub records: u64,
    /// Soft-deleted records copied (a backup keeps them).
    pub soft_deleted: u64,
    pub collections: Vec<CollectionCount>,
    /// The backup file's size.
    pub bytes: u64,
    pub encrypted: bool,
    pub schema_version: Option<StoredSchemaVersion>,
    pub millis: u64,
}

fn counts(cs: Vec<blazedb::ops::CollectionCount>) -> Vec<CollectionCount> {
    cs.into_iter()
        .map(|c| CollectionCount {
            name: c.name,
            records: c.records,
            soft_deleted: c.soft_deleted,
        })
        .collect()
}

pub(crate) fn from_backup(r: blazedb::BackupReport) -> BackupReport {
    BackupReport {
        path: r.path,
        records: r.records,
        soft_deleted: r.soft_deleted,
        collections: counts(r.collections),
        bytes: r.bytes,
        encrypted: r.encrypted,
        schema_version: r.schema_version.map(Into::into),
        millis: r.millis,
    }
}

/// What `verify_backup` found. `issues` holds the integrity check's findings as
/// `"error: …"` or `"warning: …"`; `ok` is false when any is an error.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct BackupCheck {
    pub ok: bool,
    pub path: String,
    pub records: u64,
    pub collections: Vec<CollectionCount>,
    pub schema_version: Option<StoredSchemaVersion>,
    pub issues: Vec<String>,
}

pub(crate) fn from_verification(v: blazedb::ops::BackupVerification) -> BackupCheck {
    BackupCheck {
        ok: v.ok,
        path: v.path,
        records: v.records,
        collections: counts(v.collections),
        schema_version: v.schema_version.map(Into::into),
        issues: v
            .integrity
            .issues
            .iter()
            .map(|i| match i.severity {
                blazedb::ops::Severity::Error => format!("error: {}", i.message),
                blazedb::ops::Severity::Warning => format!("warning: {}", i.message),
            })
            .collect(),
    }
}

/// The backup options for a target opened with `options`: the backup is keyed with its
/// password or key; a plaintext backup of an encrypted source needs `allow_plaintext`.
pub(crate) fn backup_options(
    options: blazedb::Options,
    allow_plaintext: bool,
) -> blazedb::BackupOptions {
    blazedb::BackupOptions::new()
        .options(options)
        .allow_plaintext(allow_plaintext)
}
