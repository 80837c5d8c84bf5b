//! The integrity check: redb's own page check plus BlazeDB's invariants.
//!
//! BlazeDB's part reads one snapshot and checks what `docs/design.md` promises:
//!
//! * the format marker and the collection-id counter in `blazedb.meta` (the counter must be
//!   above every id in use, so no id is ever reused);
//! * every catalog entry decodes, no two share an id, and each has its records table;
//! * every stored record body decodes (format, flags, every value), and its key is a
//!   record id;
//! * each collection's tombstone counter equals the soft-deleted bodies actually stored
//!   (`count()` depends on it);
//! * tables the catalog does not know (orphans, foreign tables) are reported;
//! * index invariants ([`check_indexes`]): every catalog entry decodes and has its table,
//!   every index entry is one a live record calls for, every live record has its entries,
//!   unique keys are not repeated, and no index table is orphaned.
//!
//! For an encrypted file it adds [`Database::verify_encryption`]: every block, both key
//! slots and both header copies authenticate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use redb::{MultimapTableHandle, ReadableTable, ReadableTableMetadata, TableHandle};
use serde::Serialize;
use uuid::Uuid;

use crate::db::Database;
use crate::engine::catalog::CollectionInfo;
use crate::engine::encoding::{FLAG_SOFT_DELETED, decode_record};
use crate::engine::records_def;
use crate::engine::{COLLECTIONS, FORMAT_VERSION, META, META_FORMAT, META_NEXT_COLLECTION};
use crate::error::{Error, Result};
use crate::options::Options;

/// How bad an issue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing (wasted space, a table BlazeDB does not know); the data is sound.
    Warning,
    /// Data is damaged or an invariant is broken.
    Error,
}

/// One finding of the integrity check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IntegrityIssue {
    /// How bad it is.
    pub severity: Severity,
    /// What was found, naming the collection, table or record.
    pub message: String,
}

/// The outcome of redb's own check (every page checksum, the allocator state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum StorageCheck {
    /// Every page checked out.
    Passed,
    /// redb found damage and repaired it (the file was rewritten in place).
    Repaired,
    /// redb found damage it could not repair.
    Failed {
        /// redb's error.
        error: String,
    },
    /// The check did not run.
    Skipped {
        /// Why not (a read-only handle, an open snapshot, or it was turned off).
        reason: String,
    },
}

/// One collection's findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CollectionCheck {
    /// The collection's name.
    pub name: String,
    /// Its table id.
    pub id: u64,
    /// Record bodies stored, tombstones included.
    pub stored: u64,
    /// Tombstones actually stored (soft-deleted flag set).
    pub tombstones_found: u64,
    /// The catalog's tombstone counter.
    pub tombstones_recorded: u64,
    /// Bodies that failed to decode.
    pub undecodable: u64,
}

/// What [`Database::check`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// No error-severity issue (warnings allowed).
    pub ok: bool,
    /// The file checked.
    pub path: String,
    /// redb's own check.
    pub storage: StorageCheck,
    /// Each collection's counts.
    pub collections: Vec<CollectionCheck>,
    /// Record bodies decoded.
    pub records_checked: u64,
    /// Encryption problems (`verify_encryption`); empty when sound or plaintext.
    pub encryption: Vec<String>,
    /// Whether the file is encrypted (so `encryption` was checked).
    pub encrypted: bool,
    /// Each index checked, as `collection/index: N entries` (problems are in `issues`).
    pub indexes: Vec<String>,
    /// Every finding, errors and warnings.
    pub issues: Vec<IntegrityIssue>,
}

impl IntegrityReport {
    fn error(&mut self, message: String) {
        self.issues.push(IntegrityIssue {
            severity: Severity::Error,
            message,
        });
    }

    fn warn(&mut self, message: String) {
        self.issues.push(IntegrityIssue {
            severity: Severity::Warning,
            message,
        });
    }

    fn finish(&mut self) {
        self.ok = !self.issues.iter().any(|i| i.severity == Severity::Error);
    }

    /// The error-severity issues.
    pub fn errors(&self) -> impl Iterator<Item = &IntegrityIssue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }
}

/// What [`Database::check_with`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Run redb's check of every page (default true). It needs a writable handle and a
    /// moment with no open transaction or snapshot, and may repair the file in place; on a
    /// read-only handle it is skipped (use [`check_file`] to run it on a copy).
    pub storage: bool,
    /// Decode every stored record body (default true).
    pub records: bool,
    /// Authenticate every block of an encrypted file (default true).
    pub encryption: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            storage: true,
            records: true,
            encryption: true,
        }
    }
}

/// At most this many record ids are named per collection and kind of failure.
const MAX_NAMED: usize = 5;

impl Database {
    /// The full integrity check with the default options (see [`CheckOptions`]).
    pub fn check(&self) -> Result<IntegrityReport> {
        self.check_with(&CheckOptions::default())
    }

    /// The integrity check. Problems in the data are findings in the report, not errors:
    /// an `Err` means the check itself could not run (the database is closed, the disk
    /// failed).
    pub fn check_with(&self, options: &CheckOptions) -> Result<IntegrityReport> {
        let mut report = IntegrityReport {
            ok: true,
            path: self.path().display().to_string(),
            storage: StorageCheck::Skipped {
                reason: "not requested".into(),
            },
            collections: Vec::new(),
            records_checked: 0,
            encryption: Vec::new(),
            encrypted: self.is_encrypted(),
            indexes: Vec::new(),
            issues: Vec::new(),
        };
        {
            let snap = self.snapshot()?;
            check_snapshot(snap.raw()?, options.records, &mut report)?;
        }
        if options.storage {
            report.storage = if self.ops_options().read_only {
                StorageCheck::Skipped {
                    reason: "read-only handle (redb's check needs a writable one; check a copy with ops::check_file)".into(),
                }
            } else {
                match self.ops_redb_check() {
                    Ok(true) => StorageCheck::Passed,
                    Ok(false) => {
                        report.error("redb found damaged pages and repaired them".into());
                        StorageCheck::Repaired
                    }
                    Err(Error::TransactionFailed(reason)) => {
                        report.warn(format!("redb's page check did not run: {reason}"));
                        StorageCheck::Skipped { reason }
                    }
                    Err(Error::Closed) => return Err(Error::Closed),
                    Err(e) => {
                        report.error(format!("redb's page check failed: {e}"));
                        StorageCheck::Failed {
                            error: e.to_string(),
                        }
                    }
                }
            };
        }
        // After redb's walk: on a file that crashed, the walk is what tells torn free
        // blocks (cleared by it) from damage.
        if options.encryption && self.is_encrypted() {
            report.encryption = self.verify_encryption()?;
            for p in report.encryption.clone() {
                report.error(format!("encryption: {p}"));
            }
        }
        report.finish();
        Ok(report)
    }
}

fn check_snapshot(
    raw: &redb::ReadTransaction,
    decode: bool,
    report: &mut IntegrityReport,
) -> Result<()> {
    // META.
    let mut next_id: Option<u64> = None;
    match raw.open_table(META) {
        Ok(meta) => {
            match meta.get(META_FORMAT)?.map(|v| v.value().to_vec()) {
                Some(b) if b.len() == 4 && b == FORMAT_VERSION.to_le_bytes() => {}
                Some(b) => {
                    report.error(format!("format marker is {b:?}, expected {FORMAT_VERSION}"))
                }
                None => report.error("format marker is missing".into()),
            }
            match meta.get(META_NEXT_COLLECTION)?.map(|v| v.value().to_vec()) {
                Some(b) if b.len() == 8 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&b);
                    next_id = Some(u64::from_le_bytes(a));
                }
                Some(b) => report.error(format!(
                    "next collection id has {} bytes, expected 8",
                    b.len()
                )),
                None => next_id = Some(1),
            }
            if let Some(v) = meta.get(super::META_SCHEMA_VERSION)?
                && v.value().len() != 16
            {
                report.error(format!(
                    "stored schema version has {} bytes, expected 16",
                    v.value().len()
                ));
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {
            report.error("the blazedb.meta table is missing".into());
        }
        Err(e) => return Err(e.into()),
    }

    // Catalog, read entry by entry so one bad entry does not hide the others.
    let mut entries: Vec<(String, CollectionInfo)> = Vec::new();
    match raw.open_table(COLLECTIONS) {
        Ok(t) => {
            for item in t.iter()? {
                let (k, v) = item?;
                match CollectionInfo::decode(v.value()) {
                    Ok(info) => entries.push((k.value().to_string(), info)),
                    Err(e) => report.error(format!("catalog entry {:?}: {e}", k.value())),
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {
            report.error("the blazedb.collections table is missing".into());
        }
        Err(e) => return Err(e.into()),
    }
    let mut by_id: BTreeMap<u64, &str> = BTreeMap::new();
    for (name, info) in &entries {
        if let Some(other) = by_id.insert(info.id, name) {
            report.error(format!(
                "collections {other:?} and {name:?} share table id {}",
                info.id
            ));
        }
        if let Some(next) = next_id
            && info.id >= next
        {
            report.error(format!(
                "collection {name:?} has id {} but the next id to allocate is {next}: a new collection would reuse it",
                info.id
            ));
        }
    }

    // Every table in the file.
    let mut record_tables: BTreeSet<u64> = BTreeSet::new();
    let mut index_tables: BTreeMap<u64, String> = BTreeMap::new();
    for handle in raw.list_tables()? {
        let name = handle.name().to_string();
        if name == "blazedb.meta" || name == "blazedb.collections" {
            continue;
        }
        if let Some(id) = name.strip_prefix("blazedb.records.") {
            match id.parse::<u64>() {
                Ok(id) => {
                    record_tables.insert(id);
                    if !by_id.contains_key(&id) {
                        let t = raw.open_untyped_table(handle)?;
                        report.warn(format!(
                            "table {name} ({} records) belongs to no collection; compact does not remove it",
                            t.len()?
                        ));
                    }
                }
                Err(_) => report.warn(format!("table {name} is not one BlazeDB writes")),
            }
        } else if let Some(id) = name.strip_prefix("blazedb.index.") {
            index_tables.insert(id.parse::<u64>().unwrap_or(u64::MAX), name.clone());
        } else if name == "blazedb.indexes" || name == "blazedb.index_counts" {
            continue;
        } else {
            report.warn(format!("table {name} is not a BlazeDB table"));
        }
    }
    for handle in raw.list_multimap_tables()? {
        report.warn(format!(
            "multimap table {} is not a BlazeDB table",
            handle.name()
        ));
    }

    // Each collection's records.
    for (name, info) in &entries {
        let mut c = CollectionCheck {
            name: name.clone(),
            id: info.id,
            stored: 0,
            tombstones_found: 0,
            tombstones_recorded: info.soft_deleted,
            undecodable: 0,
        };
        let table_name = crate::engine::records_table_name(info.id);
        if !record_tables.contains(&info.id) {
            report.error(format!(
                "collection {name:?}: its table {table_name} is missing"
            ));
            report.collections.push(c);
            continue;
        }
        let t = match raw.open_table(records_def(&table_name)) {
            Ok(t) => t,
            Err(e) => {
                report.error(format!("collection {name:?}: table {table_name}: {e}"));
                report.collections.push(c);
                continue;
            }
        };
        c.stored = t.len()?;
        let mut named = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            let bytes = v.value();
            let id = Uuid::from_u128(k.value());
            if decode {
                report.records_checked += 1;
                match decode_record(bytes, Some(id)) {
                    Ok(d) => {
                        if d.flags & FLAG_SOFT_DELETED != 0 {
                            c.tombstones_found += 1;
                        }
                    }
                    Err(e) => {
                        c.undecodable += 1;
                        if named.len() < MAX_NAMED {
                            named.push(format!("{id}: {e}"));
                        }
                    }
                }
            } else {
                match bytes.get(1) {
                    Some(f) if f & FLAG_SOFT_DELETED != 0 => c.tombstones_found += 1,
                    Some(_) => {}
                    None => c.undecodable += 1,
                }
            }
        }
        if c.undecodable > 0 {
            report.error(format!(
                "collection {name:?}: {} of {} record bodies do not decode ({}{})",
                c.undecodable,
                c.stored,
                named.join("; "),
                if c.undecodable as usize > named.len() {
                    "; …"
                } else {
                    ""
                }
            ));
        }
        if c.tombstones_found != c.tombstones_recorded {
            report.error(format!(
                "collection {name:?}: the catalog counts {} soft-deleted records but {} are stored, so count() is off by {}",
                c.tombstones_recorded,
                c.tombstones_found,
                c.tombstones_found.abs_diff(c.tombstones_recorded)
            ));
        }
        report.collections.push(c);
    }
    check_indexes(raw, &entries, index_tables, report)
}

/// Index invariants, per collection: each index definition decodes and has its table, and
/// [`crate::engine::indexes::verify`] finds its entries exactly those its live records call
/// for. Index tables no definition names are reported.
fn check_indexes(
    raw: &redb::ReadTransaction,
    collections: &[(String, CollectionInfo)],
    mut tables: BTreeMap<u64, String>,
    report: &mut IntegrityReport,
) -> Result<()> {
    use crate::engine::indexes::{self, INDEXES, entries_def};
    let catalog = match raw.open_table(INDEXES) {
        Ok(t) => Some(t),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let counts = match raw.open_table(indexes::COUNTS) {
        Ok(t) => Some(t),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(catalog) = &catalog {
        for (name, info) in collections {
            let defs = match indexes::list(catalog, info.id) {
                Ok(d) => d,
                Err(e) => {
                    report.error(format!("collection {name:?}: index catalog: {e}"));
                    continue;
                }
            };
            if defs.is_empty() {
                continue;
            }
            let table_name = crate::engine::records_table_name(info.id);
            let mut live = Vec::new();
            if let Ok(t) = raw.open_table(records_def(&table_name)) {
                for item in t.iter()? {
                    let (k, v) = item?;
                    let id = Uuid::from_u128(k.value());
                    // Undecodable bodies were reported above.
                    if let Ok(d) = decode_record(v.value(), Some(id))
                        && d.flags & FLAG_SOFT_DELETED == 0
                    {
                        live.push((id, d.record));
                    }
                }
            }
            for def in defs {
                let label = format!("{name}/{}", def.name);
                if tables.remove(&def.id).is_none() {
                    report.error(format!(
                        "index {label}: its table {} is missing",
                        def.table_name()
                    ));
                    continue;
                }
                let tname = def.table_name();
                let t = raw.open_table(entries_def(&tname))?;
                let problems = if def.kind == crate::index::IndexKind::FullText {
                    if crate::engine::fts::needs_rebuild(&t)? {
                        report.warn(format!(
                            "index {label} was built by another tokenizer version: \
                             opening the database for writing rebuilds it"
                        ));
                        continue;
                    }
                    let mut p = crate::engine::fts::verify(&t)?;
                    if p.is_empty() {
                        p = crate::engine::fts::verify_against(
                            &t,
                            &def.fields,
                            live.iter().map(|(id, r)| (*id, r)),
                        )?;
                    }
                    p
                } else {
                    let mut p = indexes::verify(&def, &live, &t)?;
                    if let Some(c) = &counts {
                        p.extend(indexes::verify_counts(&def, &live, c)?);
                    }
                    p
                };
                for p in &problems {
                    report.error(format!("index {label}: {p}"));
                }
                report
                    .indexes
                    .push(format!("{label}: {} entries", t.len()?));
            }
        }
    }
    for (_, name) in tables {
        report.warn(format!(
            "table {name} is an index table no index definition names"
        ));
    }
    Ok(())
}

/// Checks a database file without writing to it: opens it read-only (which also proves the
/// password and takes the file's shared lock), copies it to a private temporary file, and
/// runs the whole check, redb's page check included, on the copy. The copy is removed
/// afterwards. Needs free space for one copy of the file in the system's temporary
/// directory (or `BLAZEDB_TMPDIR`).
///
/// `options` carries the password or key of an encrypted file; `read_only` and `create`
/// are set here.
pub fn check_file(path: impl AsRef<Path>, options: Options) -> Result<IntegrityReport> {
    let path = path.as_ref();
    let dir = match std::env::var_os("BLAZEDB_TMPDIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir(),
    };
    let copy = dir.join(format!(
        ".blazedb-check-{}.blazedb",
        Uuid::new_v4().simple()
    ));
    let _cleanup = super::RemoveOnDrop(Some(copy.clone()));
    {
        let ro = Database::open(path, options.clone().read_only(true).create(false))?;
        std::fs::copy(path, &copy)?;
        ro.close()?;
    }
    let db = Database::open(&copy, options.read_only(false).create(false))?;
    let result = db.check();
    let _ = db.close();
    let mut report = result?;
    report.path = path.display().to_string();
    Ok(report)
}
