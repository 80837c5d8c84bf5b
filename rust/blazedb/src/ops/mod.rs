//! Operations: stats, health, integrity checks, online backups, a compaction policy, and
//! schema versions with migrations.
//!
//! Everything here is reachable as methods on [`Database`] (`db.stats()`, `db.health()`,
//! `db.check()`, `db.backup(..)`, `db.compact_if_needed(..)`, `db.schema_version()`) plus a
//! few free functions for files that are not open ([`check_file`], [`verify_backup`],
//! [`restore_backup`], [`open_expecting`]). `docs/OPERATIONS.md` is the guide; the `blazedb`
//! command-line tool (`rust/blazedb-cli`) is built on this module.
//!
//! ```
//! use blazedb::{Database, Options, Record};
//! use blazedb::ops::{BackupOptions, HealthStatus};
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path().join("app.blazedb"), Options::default())?;
//! db.insert("bugs", Record::new().with("title", "Crash"))?;
//! let stats = db.stats()?;
//! assert_eq!(stats.records, 1);
//! assert_eq!(db.health()?.status, HealthStatus::Ok);
//! assert!(db.check()?.ok);
//! let report = db.backup(dir.path().join("app.backup.blazedb"), BackupOptions::new())?;
//! assert_eq!(report.records, 1);
//! # Ok::<(), blazedb::Error>(())
//! ```
//!
//! [`Database`]: crate::Database

mod backup;
mod compaction;
mod health;
mod integrity;
mod schema;
mod stats;

pub use crate::dump::SchemaVersion;
pub use backup::{
    BackupOptions, BackupProgress, BackupReport, BackupVerification, restore_backup, verify_backup,
};
pub use compaction::{AutoCompactor, CompactionPolicy};
pub use health::{HealthOptions, HealthReport, HealthStatus, analyze};
pub use integrity::{
    CheckOptions, CollectionCheck, IntegrityIssue, IntegrityReport, Severity, StorageCheck,
    check_file,
};
pub use schema::{
    META_SCHEMA_VERSION, Migration, MigrationPlan, MigrationResult, Migrations, PlannedStep,
    open_expecting,
};
pub use stats::{CacheStats, CollectionCount, CollectionStats, IndexSpace, Stats, StorageStats};

/// Whether the file at `path` starts like an encrypted BlazeDB file (its key-slot magic),
/// so a tool knows to ask for a password before it opens it. Reads 8 bytes; `false` for a
/// missing or unreadable file.
pub fn file_is_encrypted(path: impl AsRef<std::path::Path>) -> bool {
    crate::crypto::backend::looks_encrypted(path.as_ref())
}

/// The size redb sees for a file of `physical` bytes: the same for a plaintext file; for
/// an encrypted one, the 4 KiB pages its blocks hold (`docs/SECURITY.md` §4).
pub(crate) fn logical_len(physical: u64, encrypted: bool) -> u64 {
    if !encrypted {
        return physical;
    }
    const SLOTS: u64 = 8192;
    const BLOCK: u64 = 4132;
    if physical <= SLOTS {
        return 0;
    }
    // Block 0 has two copies; every other block one.
    let blocks = ((physical - SLOTS) / BLOCK).saturating_sub(1);
    blocks * 4096
}

/// A fresh name beside `dest` for work in progress: `.<name>.<what>-<random>`.
pub(crate) fn temp_sibling(
    dest: &std::path::Path,
    what: &str,
) -> crate::Result<std::path::PathBuf> {
    let name = dest
        .file_name()
        .ok_or_else(|| crate::Error::InvalidInput(format!("{} names no file", dest.display())))?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(crate::Error::InvalidInput(format!(
            "cannot write {}: directory {} does not exist",
            dest.display(),
            dir.display()
        )));
    }
    Ok(dir.join(format!(
        ".{}.{what}-{}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    )))
}

/// Removes a file when dropped unless disarmed: work in progress never outlives a failure.
pub(crate) struct RemoveOnDrop(pub(crate) Option<std::path::PathBuf>);

impl RemoveOnDrop {
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Moves a finished file into place without ever replacing an existing one: a hard link
/// (which fails if `dest` exists) and then the removal of `tmp`. Where the file system has
/// no hard links, a rename after checking that `dest` is still absent.
pub(crate) fn publish_no_clobber(
    tmp: &std::path::Path,
    dest: &std::path::Path,
) -> crate::Result<()> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            std::fs::remove_file(tmp)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(crate::Error::InvalidInput(format!(
                "{} already exists; it was not replaced",
                dest.display()
            )));
        }
        Err(_) => {
            if dest.exists() {
                return Err(crate::Error::InvalidInput(format!(
                    "{} already exists; it was not replaced",
                    dest.display()
                )));
            }
            std::fs::rename(tmp, dest)?;
        }
    }
    sync_parent(dest);
    Ok(())
}

/// Best effort: makes a rename durable by syncing the directory (not possible everywhere).
pub(crate) fn sync_parent(path: &std::path::Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
