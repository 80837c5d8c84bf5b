//! Dumps across the boundary: export, verify and restore, in our lossless NDJSON format or
//! upstream's `.blazedump` v1 (`docs/DUMPS.md`). Verification against the manifest, the
//! empty-target rule and atomic writing are the core's.

use crate::ops::{CollectionCount, StoredSchemaVersion};

/// A dump file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum DumpFormat {
    /// Upstream BlazeDB's `.blazedump` v1 (one JSON document; JSON's types only).
    UpstreamV1,
    /// BlazeDB's lossless NDJSON dump (every value kind kept; many collections).
    Lossless,
}

/// What a verified dump holds, from its header, checked against its manifest.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct DumpDescription {
    pub format: DumpFormat,
    pub format_version: u32,
    /// When it was written: Unix seconds and nanoseconds.
    pub created_secs: i64,
    pub created_nanos: u32,
    /// Upstream's `databaseName`, or our source file's name.
    pub source: String,
    /// Upstream's `databaseId`; none for lossless dumps.
    pub database_id: Option<String>,
    pub tool_version: Option<String>,
    pub schema_version: Option<StoredSchemaVersion>,
    pub record_count: u64,
    /// One entry for an upstream v1 dump, named after `source`.
    pub collections: Vec<CollectionCount>,
    pub payload_bytes: u64,
    pub header_sha256: String,
    pub payload_sha256: String,
    /// Whether the hashes cover the file's own bytes (false: a pre-2.8 upstream dump whose
    /// hashed member order was found by the verifier's search).
    pub exact_hashes: bool,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct DumpExportReport {
    pub path: String,
    pub format: DumpFormat,
    pub records: u64,
    pub collections: Vec<CollectionCount>,
    pub bytes: u64,
    pub header_sha256: String,
    pub payload_sha256: String,
}

/// What a restore wrote (after the whole dump verified).
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct DumpRestoreReport {
    pub dump: DumpDescription,
    pub collections: Vec<CollectionCount>,
    pub records: u64,
}

fn format(f: blazedb::dump::DumpFormat) -> DumpFormat {
    match f {
        blazedb::dump::DumpFormat::UpstreamV1 => DumpFormat::UpstreamV1,
        blazedb::dump::DumpFormat::Lossless => DumpFormat::Lossless,
    }
}

fn counts(cs: Vec<blazedb::dump::CollectionCount>) -> Vec<CollectionCount> {
    cs.into_iter()
        .map(|c| CollectionCount {
            name: c.name,
            records: c.records,
            soft_deleted: 0,
        })
        .collect()
}

pub(crate) fn from_info(i: blazedb::dump::DumpInfo) -> DumpDescription {
    DumpDescription {
        format: format(i.format),
        format_version: i.format_version,
        created_secs: i.created.unix_seconds(),
        created_nanos: i.created.subsec_nanos(),
        source: i.source,
        database_id: i.database_id.map(crate::value::id_string),
        tool_version: i.tool_version,
        schema_version: i.schema_version.map(Into::into),
        record_count: i.record_count,
        collections: counts(i.collections),
        payload_bytes: i.payload_bytes,
        header_sha256: i.header_sha256,
        payload_sha256: i.payload_sha256,
        exact_hashes: matches!(i.hash_check, blazedb::dump::HashCheck::Exact),
    }
}

pub(crate) fn from_export(r: blazedb::dump::ExportReport) -> DumpExportReport {
    DumpExportReport {
        path: r.path.display().to_string(),
        format: format(r.format),
        records: r.records,
        collections: counts(r.collections),
        bytes: r.bytes,
        header_sha256: r.header_sha256,
        payload_sha256: r.payload_sha256,
    }
}

pub(crate) fn from_restore(r: blazedb::dump::RestoreReport) -> DumpRestoreReport {
    DumpRestoreReport {
        dump: from_info(r.info),
        collections: counts(r.collections),
        records: r.records,
    }
}
