//! Dumps: verified, self-describing exports of a database's records.
//!
//! Two formats:
//!
//! * [`lossless`]: ours, and the default for our own exports ([`export`]). NDJSON with a
//!   header line, one tagged-JSON record per line (every one of the 11 value kinds kept as
//!   itself) and a SHA-256 manifest line. Many collections per file.
//! * [`upstream_v1`]: upstream BlazeDB's `.blazedump` v1, read and written byte for byte as
//!   upstream writes it, with upstream's own type limits (see `docs/DUMPS.md`).
//!
//! Both are checked against their manifest before anything is written: a dump with a
//! changed byte in its header or payload is refused with [`Error::CorruptedData`] naming
//! what failed, and the target database is left exactly as it was. A restore writes every
//! record in one transaction, into collections that must be empty. Writing a dump is
//! atomic: the file is written beside the target under a temporary name, synced, and
//! renamed over it, so a failed export leaves no partial file behind.
//!
//! [`verify`] and [`restore`] tell the two formats apart by their first bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::Database;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::value::Timestamp;

mod legacy;
pub mod lossless;
mod rawjson;
mod swift_json;
pub mod upstream_v1;

/// Which dump format a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormat {
    /// Upstream BlazeDB's `.blazedump` v1 (one JSON document).
    UpstreamV1,
    /// BlazeDB's lossless NDJSON dump (see [`lossless`]).
    Lossless,
}

/// A schema version as upstream keeps it: `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVersion {
    /// The major part.
    pub major: i64,
    /// The minor part.
    pub minor: i64,
}

impl std::fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A collection and how many records a dump holds (or a restore wrote) for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionCount {
    /// The collection's name.
    pub name: String,
    /// Its number of records.
    pub records: u64,
}

/// How the manifest's hashes were matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashCheck {
    /// The hashes cover the exact bytes in the file (2.8-era upstream dumps and ours).
    Exact,
    /// A pre-2.8 upstream dump: the hashed encoding used a member order the file does not
    /// record, and the verifier found one that reproduces each hash (see `docs/DUMPS.md`).
    LegacyKeyOrder {
        /// How the header's hash was matched.
        header: String,
        /// How the records' hash was matched.
        payload: String,
        /// Bytes the search hashed (as counted against its budget).
        bytes_hashed: u64,
    },
}

/// What a verified dump holds, read from its header and checked against its manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpInfo {
    /// The file's format.
    pub format: DumpFormat,
    /// The format's version number (1 for both formats today).
    pub format_version: u32,
    /// When the dump was written.
    pub created: Timestamp,
    /// Where it came from: upstream's `databaseName`, or our source database's file name.
    pub source: String,
    /// Upstream's `databaseId` (random per export); `None` for lossless dumps.
    pub database_id: Option<Uuid>,
    /// The writing tool, if the header names one.
    pub tool_version: Option<String>,
    /// The schema version in the header (upstream writes 0.0 for an unversioned database).
    pub schema_version: Option<SchemaVersion>,
    /// Records in the dump, all collections together.
    pub record_count: u64,
    /// Each collection with its record count (one, unnamed in the file, for upstream v1:
    /// it is reported under `source`).
    pub collections: Vec<CollectionCount>,
    /// Size in bytes of the hashed payload.
    pub payload_bytes: u64,
    /// SHA-256 (lowercase hex) of the header, as the manifest holds it.
    pub header_sha256: String,
    /// SHA-256 (lowercase hex) of the payload, as the manifest holds it.
    pub payload_sha256: String,
    /// How the hashes were matched.
    pub hash_check: HashCheck,
}

/// What a restore wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct RestoreReport {
    /// The dump that was restored, as [`verify`] describes it.
    pub info: DumpInfo,
    /// Each target collection with the records written into it.
    pub collections: Vec<CollectionCount>,
    /// Records written in total.
    pub records: u64,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportReport {
    /// The file written.
    pub path: PathBuf,
    /// Its format.
    pub format: DumpFormat,
    /// Records written, all collections together.
    pub records: u64,
    /// Each collection with its record count.
    pub collections: Vec<CollectionCount>,
    /// The file's size in bytes.
    pub bytes: u64,
    /// SHA-256 (lowercase hex) of the header.
    pub header_sha256: String,
    /// SHA-256 (lowercase hex) of the payload.
    pub payload_sha256: String,
}

/// Tells the two formats apart: a lossless dump's first line is its header object, which
/// starts with `{"format":"blazedb.dump"`; anything else is treated as upstream v1.
pub fn detect(path: impl AsRef<Path>) -> Result<DumpFormat> {
    let path = path.as_ref();
    let mut f = open_dump(path)?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match std::io::Read::read(&mut f, &mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(
        if head[..n].starts_with(lossless::MAGIC_PREFIX.as_bytes()) {
            DumpFormat::Lossless
        } else {
            DumpFormat::UpstreamV1
        },
    )
}

/// Verifies a dump of either format against its manifest and describes it.
pub fn verify(path: impl AsRef<Path>) -> Result<DumpInfo> {
    let path = path.as_ref();
    match detect(path)? {
        DumpFormat::Lossless => lossless::verify(path),
        DumpFormat::UpstreamV1 => upstream_v1::verify(path),
    }
}

/// Restores a dump of either format into `collection`, which must be empty.
///
/// An upstream v1 dump holds one collection; a lossless dump must hold exactly one too
/// (use [`lossless::restore`] for a multi-collection dump, which keeps every collection's
/// own name). Nothing is written unless the whole dump verifies.
pub fn restore(path: impl AsRef<Path>, db: &Database, collection: &str) -> Result<RestoreReport> {
    let path = path.as_ref();
    match detect(path)? {
        DumpFormat::Lossless => lossless::restore_into(path, db, collection),
        DumpFormat::UpstreamV1 => upstream_v1::restore(path, db, collection),
    }
}

/// Exports every collection of `db` to a lossless dump at `path` (our default format).
pub fn export(db: &Database, path: impl AsRef<Path>) -> Result<ExportReport> {
    lossless::export(db, &[], path)
}

/// Exports `collection` to an upstream `.blazedump` v1 at `path`, exactly as upstream
/// writes one (see [`upstream_v1::export`]).
pub fn export_upstream_v1(
    db: &Database,
    collection: &str,
    path: impl AsRef<Path>,
) -> Result<ExportReport> {
    upstream_v1::export(db, collection, path)
}

// ---------------------------------------------------------------------------------------
// Shared helpers.

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Opens a dump for reading; a missing file is `InvalidInput`, like a missing database.
pub(crate) fn open_dump(path: &Path) -> Result<File> {
    if path.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is a directory, not a dump",
            path.display()
        )));
    }
    match File::open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::InvalidInput(format!(
            "no dump file at {}",
            path.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Reads a whole dump as UTF-8 text.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String> {
    let mut f = open_dump(path)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut bytes)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::CorruptedData(format!(
            "{what}: not valid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Writes a file atomically: into a temporary file beside `path`, synced, then renamed over
/// `path` (and the directory synced). On any error the temporary file is removed and `path`
/// is left as it was.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&File>) -> Result<()>,
) -> Result<u64> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{} is a directory",
            path.display()
        )));
    }
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} names no file", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        Uuid::new_v4().simple()
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::InvalidInput(format!(
                "cannot write {}: directory {} does not exist",
                path.display(),
                dir.display()
            )),
            _ => e.into(),
        })?;
    struct Cleanup<'a>(Option<&'a Path>);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if let Some(p) = self.0 {
                let _ = fs::remove_file(p);
            }
        }
    }
    let mut cleanup = Cleanup(Some(&tmp));
    {
        let mut w = BufWriter::with_capacity(1 << 16, &file);
        fill(&mut w)?;
        w.flush()?;
    }
    file.sync_all()?;
    let len = file.metadata()?.len();
    drop(file);
    fs::rename(&tmp, path)?;
    cleanup.0 = None;
    #[cfg(unix)]
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(len)
}

/// Largest batch handed to one `insert_many` call during a restore.
const RESTORE_CHUNK: usize = 1000;

/// Writes `plan` (collection, records) in one transaction. Every target must be empty
/// (no live and no soft-deleted records); otherwise nothing is written.
pub(crate) fn write_all(
    db: &Database,
    plan: Vec<(String, Vec<Record>)>,
) -> Result<Vec<CollectionCount>> {
    db.write(|tx| {
        for (name, _) in &plan {
            let stored = tx.stored_len(name)?;
            if stored > 0 {
                return Err(Error::InvalidInput(format!(
                    "cannot restore into collection {name:?}: it is not empty ({stored} stored records); restore needs an empty collection"
                )));
            }
        }
        let mut out = Vec::with_capacity(plan.len());
        for (name, records) in plan {
            let n = records.len() as u64;
            let mut records = records.into_iter().peekable();
            while records.peek().is_some() {
                let chunk: Vec<Record> = records.by_ref().take(RESTORE_CHUNK).collect();
                match tx.insert_many(&name, chunk.clone()) {
                    Ok(_) => {}
                    // The handle's batch limit is below our chunk: the refused call wrote
                    // nothing, so go one record at a time.
                    Err(Error::InvalidInput(m)) if m.starts_with("batch of") => {
                        for r in chunk {
                            tx.insert(&name, r)?;
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            out.push(CollectionCount { name, records: n });
        }
        Ok(out)
    })
}
