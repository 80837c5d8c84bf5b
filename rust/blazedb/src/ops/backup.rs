//! Online backups: a new database file holding exactly one commit of the source, written
//! while writers carry on.
//!
//! A backup reads one snapshot (a redb read transaction), so it is consistent to a single
//! commit whatever commits land while it runs; writers are never blocked by it. It copies
//! the stored bytes as they are: every collection with its table id, every record body
//! (soft-deleted ones too, so nothing that `purge` has not removed is lost), the catalog's
//! counters, and the META entries (the collection-id counter, the schema version). Indexes
//! keep their definitions (name, fields, kind) and are rebuilt in the backup from the copied
//! records: their tables are derived data, and a rebuild cannot carry a damaged entry over.
//! It is written to a temporary file beside the destination, synced, checked, and only then
//! linked into place; an existing file is never replaced.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use redb::{ReadableTable, ReadableTableMetadata};
use serde::Serialize;

use super::stats::{CollectionCount, read_catalog};
use super::{
    IntegrityReport, RemoveOnDrop, SchemaVersion, check_file, publish_no_clobber, temp_sibling,
};
use crate::crypto::Secret;
use crate::db::Database;
use crate::engine::catalog::{self, CollectionInfo};
use crate::engine::records_def;
use crate::engine::{META, META_FORMAT, RecordKey, records_table_name};
use crate::error::{Error, Result};
use crate::index::{IndexInfo, IndexKind, IndexSpec};
use crate::options::{Durability, Options};

/// Progress of a running backup, passed to [`BackupOptions::progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupProgress {
    /// Record bodies copied so far.
    pub copied: u64,
    /// Record bodies to copy in all (known from the snapshot before the copy starts).
    pub total: u64,
}

type ProgressFn = Arc<dyn Fn(BackupProgress) + Send + Sync>;

/// How to write a backup. The default writes a plaintext backup of a plaintext database;
/// an encrypted database needs a password or key for the backup (the handle does not keep
/// the one it was opened with), or an explicit [`Self::allow_plaintext`].
#[derive(Clone, Default)]
pub struct BackupOptions {
    target: Option<Options>,
    allow_plaintext: bool,
    batch: Option<usize>,
    skip_verify: bool,
    progress: Option<ProgressFn>,
}

impl std::fmt::Debug for BackupOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupOptions")
            .field(
                "encrypted",
                &self.target.as_ref().is_some_and(|o| o.is_encrypted()),
            )
            .field("allow_plaintext", &self.allow_plaintext)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// Records copied per write transaction into the backup file.
const DEFAULT_BATCH: usize = 5_000;

impl BackupOptions {
    /// The defaults.
    pub fn new() -> Self {
        BackupOptions::default()
    }

    /// Encrypts the backup with this password (Argon2id; the backup gets its own salt and
    /// data key).
    pub fn password(self, password: impl Into<String>) -> Self {
        let o = self.target.clone().unwrap_or_default().password(password);
        self.options(o)
    }

    /// Encrypts the backup with this raw 32-byte key.
    pub fn key(self, key: [u8; 32]) -> Self {
        let o = self.target.clone().unwrap_or_default().key(key);
        self.options(o)
    }

    /// Encrypts the backup with this secret (a password or a raw key).
    pub fn secret(mut self, secret: Secret) -> Self {
        let mut o = self.target.take().unwrap_or_default();
        o.secret = Some(secret);
        self.target = Some(o);
        self
    }

    /// Opens the backup file with these options (encryption, KDF cost, cache size).
    /// `read_only`, `create`, `stamp_fields` and `durability` are set by the backup.
    pub fn options(mut self, options: Options) -> Self {
        self.target = Some(options);
        self
    }

    /// Allows a plaintext backup of an encrypted database (default false: refused with
    /// `InvalidInput`, so a backup never silently drops the encryption).
    pub fn allow_plaintext(mut self, yes: bool) -> Self {
        self.allow_plaintext = yes;
        self
    }

    /// Records per write transaction in the backup file (default 5,000).
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = Some(n.max(1));
        self
    }

    /// Skips the reopen-and-compare step after writing (default: done; it is cheap).
    pub fn skip_verify(mut self, yes: bool) -> Self {
        self.skip_verify = yes;
        self
    }

    /// Called after every batch with the progress so far.
    pub fn progress(mut self, f: impl Fn(BackupProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

/// What a backup wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackupReport {
    /// The backup file.
    pub path: String,
    /// Live records copied.
    pub records: u64,
    /// Soft-deleted records copied.
    pub soft_deleted: u64,
    /// Each collection.
    pub collections: Vec<CollectionCount>,
    /// The backup file's size.
    pub bytes: u64,
    /// Whether the backup is encrypted.
    pub encrypted: bool,
    /// The schema version copied with it.
    pub schema_version: Option<SchemaVersion>,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// What [`verify_backup`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackupVerification {
    /// Whether the backup is sound (the integrity report has no errors).
    pub ok: bool,
    /// The backup file.
    pub path: String,
    /// Each collection with its records.
    pub collections: Vec<CollectionCount>,
    /// Live records in all.
    pub records: u64,
    /// Its schema version.
    pub schema_version: Option<SchemaVersion>,
    /// The full integrity report (run on a private copy: the backup is not written).
    pub integrity: IntegrityReport,
}

/// One collection as the snapshot holds it.
struct Layout {
    name: String,
    info: CollectionInfo,
    raw_entry: Vec<u8>,
    stored: u64,
    indexes: Vec<IndexInfo>,
}

/// The definition that re-creates `info` under its own name.
fn spec_of(info: &IndexInfo) -> IndexSpec {
    let spec = match info.kind {
        IndexKind::FullText => IndexSpec::full_text(info.fields.iter().cloned()),
        IndexKind::Unique => IndexSpec::compound(info.fields.iter().cloned()).unique(),
        IndexKind::BTree => IndexSpec::compound(info.fields.iter().cloned()),
    };
    spec.named(info.name.clone())
}

fn collection_counts(layout: &[Layout]) -> Vec<CollectionCount> {
    layout
        .iter()
        .map(|l| CollectionCount {
            name: l.name.clone(),
            records: l.stored.saturating_sub(l.info.soft_deleted),
            soft_deleted: l.info.soft_deleted,
        })
        .collect()
}

impl Database {
    /// Writes a backup of this database to a new file at `path` (see the module docs): one
    /// snapshot, consistent to a single commit while writers keep writing. `path` must not
    /// exist; nothing is left behind on failure. The backup opens like any database, with
    /// the password or key of [`BackupOptions`].
    pub fn backup(&self, path: impl AsRef<Path>, options: BackupOptions) -> Result<BackupReport> {
        let started = Instant::now();
        let dest = path.as_ref();
        if dest.exists() {
            return Err(Error::InvalidInput(format!(
                "{} already exists; a backup writes a new file",
                dest.display()
            )));
        }
        let target_options = options.target.clone().unwrap_or_default();
        if self.is_encrypted() && !target_options.is_encrypted() && !options.allow_plaintext {
            return Err(Error::InvalidInput(
                "the database is encrypted: give the backup a password or key (BackupOptions::password / key / options), or allow a plaintext backup explicitly".into(),
            ));
        }
        let tmp = temp_sibling(dest, "backup")?;
        let mut cleanup = RemoveOnDrop(Some(tmp.clone()));

        let snap = self.snapshot()?;
        let raw = snap.raw()?;
        let mut layout = Vec::new();
        {
            let cat = raw.open_table(crate::engine::COLLECTIONS)?;
            for (name, info) in read_catalog(raw)? {
                let raw_entry = cat
                    .get(name.as_str())?
                    .map(|v| v.value().to_vec())
                    .unwrap_or_else(|| info.encode().to_vec());
                let stored = match raw.open_table(records_def(&records_table_name(info.id))) {
                    Ok(t) => t.len()?,
                    Err(redb::TableError::TableDoesNotExist(_)) => 0,
                    Err(e) => return Err(e.into()),
                };
                let indexes = snap.indexes(&name)?;
                layout.push(Layout {
                    name,
                    info,
                    raw_entry,
                    stored,
                    indexes,
                });
            }
        }
        let mut meta_entries = Vec::new();
        {
            let meta = raw.open_table(META)?;
            for item in meta.iter()? {
                let (k, v) = item?;
                if k.value() != META_FORMAT {
                    meta_entries.push((k.value().to_string(), v.value().to_vec()));
                }
            }
        }
        let schema_version = super::schema::read_version(raw)?;
        let total: u64 = layout.iter().map(|l| l.stored).sum();
        let batch = options.batch.unwrap_or(DEFAULT_BATCH);
        let encrypted = target_options.is_encrypted();

        let target = Database::open(
            &tmp,
            target_options
                .clone()
                .read_only(false)
                .create(true)
                .stamp_fields(false)
                .durability(Durability::Relaxed),
        )?;
        let copied = (|| -> Result<()> {
            // The catalog and META first, in one commit.
            target.write(|tx| {
                tx.mark_structural();
                let w = tx.raw()?;
                {
                    let mut meta = w.open_table(META)?;
                    for (k, v) in &meta_entries {
                        meta.insert(k.as_str(), v.as_slice())?;
                    }
                }
                let mut cat = catalog::open_mut(w)?;
                for l in &layout {
                    cat.insert(l.name.as_str(), l.raw_entry.as_slice())?;
                    drop(w.open_table(records_def(&records_table_name(l.info.id)))?);
                }
                Ok(())
            })?;
            let mut copied = 0u64;
            let report = |copied| {
                if let Some(p) = &options.progress {
                    p(BackupProgress { copied, total });
                }
            };
            report(0);
            for l in &layout {
                let table_name = records_table_name(l.info.id);
                let src = match raw.open_table(records_def(&table_name)) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
                let mut pending: Vec<(RecordKey, Vec<u8>)> = Vec::with_capacity(batch);
                let mut iter = src.iter()?;
                loop {
                    let next = iter.next();
                    let done = next.is_none();
                    if let Some(item) = next {
                        let (k, v) = item?;
                        pending.push((k.value(), v.value().to_vec()));
                    }
                    if pending.len() >= batch || (done && !pending.is_empty()) {
                        target.write(|tx| {
                            let mut t = tx.raw()?.open_table(records_def(&table_name))?;
                            for (k, v) in &pending {
                                t.insert(*k, v.as_slice())?;
                            }
                            Ok(())
                        })?;
                        copied += pending.len() as u64;
                        pending.clear();
                        report(copied);
                    }
                    if done {
                        break;
                    }
                }
            }
            for l in &layout {
                for i in &l.indexes {
                    target.create_index(&l.name, spec_of(i))?;
                }
            }
            target.sync()?;
            Ok(())
        })();
        let closed = target.close();
        drop(snap);
        copied?;
        closed?;

        if !options.skip_verify {
            let check = Database::open(&tmp, target_options.read_only(true).create(false))?;
            let verdict = compare_layout(&check, &layout, schema_version);
            let _ = check.close();
            verdict?;
        }
        let bytes = std::fs::metadata(&tmp)?.len();
        if let Ok(f) = std::fs::File::open(&tmp) {
            let _ = f.sync_all();
        }
        publish_no_clobber(&tmp, dest)?;
        cleanup.disarm();
        let collections = collection_counts(&layout);
        Ok(BackupReport {
            path: dest.display().to_string(),
            records: collections.iter().map(|c| c.records).sum(),
            soft_deleted: collections.iter().map(|c| c.soft_deleted).sum(),
            collections,
            bytes,
            encrypted,
            schema_version,
            millis: started.elapsed().as_millis() as u64,
        })
    }
}

/// The written file must hold what the snapshot held: the same collections, ids, stored
/// bodies and counters, and the same schema version.
fn compare_layout(db: &Database, layout: &[Layout], schema: Option<SchemaVersion>) -> Result<()> {
    let snap = db.snapshot()?;
    let raw = snap.raw()?;
    let got = read_catalog(raw)?;
    let mismatch = |what: String| Error::CorruptedData(format!("backup verification: {what}"));
    if got.len() != layout.len() {
        return Err(mismatch(format!(
            "{} collections written, {} expected",
            got.len(),
            layout.len()
        )));
    }
    for ((name, info), l) in got.iter().zip(layout) {
        if *name != l.name || *info != l.info {
            return Err(mismatch(format!(
                "collection {name:?} differs from the source"
            )));
        }
        let stored = raw
            .open_table(records_def(&records_table_name(info.id)))?
            .len()?;
        if stored != l.stored {
            return Err(mismatch(format!(
                "collection {name:?} holds {stored} records, the source {}",
                l.stored
            )));
        }
        let indexes = snap.indexes(name)?;
        let same = indexes.len() == l.indexes.len()
            && indexes.iter().zip(&l.indexes).all(|(a, b)| {
                // A full-text index's entry count depends on its history (terms whose
                // postings emptied), so only B-tree counts must match exactly.
                a.name == b.name
                    && a.fields == b.fields
                    && a.kind == b.kind
                    && (a.kind == IndexKind::FullText || a.entries == b.entries)
            });
        if !same {
            return Err(mismatch(format!(
                "collection {name:?} has other indexes than the source"
            )));
        }
    }
    if super::schema::read_version(raw)? != schema {
        return Err(mismatch("the schema version differs".into()));
    }
    Ok(())
}

/// Verifies a backup without writing to it: the full integrity check on a private copy
/// (see [`check_file`]) and its collections and counts. `options` carries its password or
/// key.
pub fn verify_backup(path: impl AsRef<Path>, options: Options) -> Result<BackupVerification> {
    let path = path.as_ref();
    let (collections, schema_version) = {
        let db = Database::open(path, options.clone().read_only(true).create(false))?;
        let stats = db.stats();
        let _ = db.close();
        let stats = stats?;
        (
            stats
                .collections
                .iter()
                .map(|c| CollectionCount {
                    name: c.name.clone(),
                    records: c.records,
                    soft_deleted: c.soft_deleted,
                })
                .collect::<Vec<_>>(),
            stats.schema_version,
        )
    };
    let integrity = check_file(path, options)?;
    Ok(BackupVerification {
        ok: integrity.ok,
        path: path.display().to_string(),
        records: collections.iter().map(|c| c.records).sum(),
        collections,
        schema_version,
        integrity,
    })
}

/// Restores a backup into a new database file at `target` (which must not exist): checks
/// the backup (every record decodes, the counters agree, every encrypted block
/// authenticates), then copies it like [`Database::backup`]. The backup is opened
/// read-only with `backup_options` and is not written. `options` says how the restored
/// file is keyed.
pub fn restore_backup(
    backup: impl AsRef<Path>,
    backup_options: Options,
    target: impl AsRef<Path>,
    options: BackupOptions,
) -> Result<BackupReport> {
    let backup = backup.as_ref();
    let target: PathBuf = target.as_ref().to_path_buf();
    if target.exists() {
        return Err(Error::InvalidInput(format!(
            "{} already exists; restore writes a new file",
            target.display()
        )));
    }
    let db = Database::open(backup, backup_options.read_only(true).create(false))?;
    let result = (|| {
        let report = db.check_with(&super::CheckOptions {
            storage: false,
            records: true,
            encryption: true,
        })?;
        if let Some(e) = report.errors().next() {
            return Err(Error::CorruptedData(format!(
                "{} failed its check: {}",
                backup.display(),
                e.message
            )));
        }
        db.backup(&target, options)
    })();
    let _ = db.close();
    result
}
