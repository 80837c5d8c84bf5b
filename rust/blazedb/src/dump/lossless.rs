//! BlazeDB's lossless dump format (version 1), the default for our own exports.
//!
//! An NDJSON file: every line is one JSON value and ends with `\n`.
//!
//! 1. The header line: `{"format":"blazedb.dump","version":1,"created":"<RFC 3339>",
//!    "source":{"file":…,"tool":…},"schemaVersion":null|{"major":…,"minor":…},
//!    "collections":[{"name":…,"records":N},…],"records":N}`.
//! 2. One line per record: `{"c":<index into collections>,"r":<record>}`, the record in
//!    the tagged JSON of [`crate::json::to_tagged_json`], so data, uuid, date (to the
//!    nanosecond, any year), vector, int and double (NaN, infinities and `-0.0` included)
//!    all come back as themselves. Collections follow each other in header order, records
//!    in id order.
//! 3. The manifest line: `{"manifest":{"headerSha256":…,"payloadSha256":…,
//!    "payloadBytes":N,"records":N}}`.
//!
//! `headerSha256` covers the header line's bytes without its `\n`; `payloadSha256` covers
//! every byte from the start of the second line up to and including the `\n` before the
//! manifest line (`payloadBytes` of them). Nothing may follow the manifest line. The hashes
//! detect damage and edits; they do not authenticate (anyone can recompute them).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    CollectionCount, DumpFormat, DumpInfo, ExportReport, HashCheck, RestoreReport, SchemaVersion,
    hex, open_dump, write_atomically,
};
use crate::db::Database;
use crate::engine::names::validate_name;
use crate::error::{Error, Result};
use crate::json::{from_tagged_json, to_tagged_json};
use crate::record::{ID_FIELD, Record};
use crate::transactions::WriteTx;
use crate::value::{Timestamp, Value};

/// The format's name in the header.
pub const FORMAT_NAME: &str = "blazedb.dump";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Every lossless dump starts with these bytes.
pub const MAGIC_PREFIX: &str = "{\"format\":\"blazedb.dump\"";

const WHAT: &str = "lossless dump";
const CHUNK: usize = 1000;

fn corrupt(msg: impl std::fmt::Display) -> Error {
    Error::CorruptedData(format!("{WHAT}: {msg}"))
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::InvalidData(format!("{WHAT}: {msg}"))
}

/// Header fields for an export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// The schema version to record (default none).
    pub schema_version: Option<SchemaVersion>,
    /// The source name to record (default: the database file's name).
    pub source: Option<String>,
}

/// Exports `collections` of `db` (all of them when the slice is empty) to `path`.
///
/// Every record is read from one snapshot, so the dump is consistent to a single commit.
/// Soft-deleted records are left out. The file is written atomically.
pub fn export(db: &Database, collections: &[&str], path: impl AsRef<Path>) -> Result<ExportReport> {
    export_with(db, collections, path, &ExportOptions::default())
}

/// [`export`] with explicit header fields.
pub fn export_with(
    db: &Database,
    collections: &[&str],
    path: impl AsRef<Path>,
    options: &ExportOptions,
) -> Result<ExportReport> {
    let path = path.as_ref();
    let source = options.source.clone().unwrap_or_else(|| {
        db.path()
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    db.read(|tx| {
        let names: Vec<String> = if collections.is_empty() {
            tx.collections()?
        } else {
            let mut seen = HashSet::new();
            for c in collections {
                validate_name("collection", c)?;
                if !seen.insert(*c) {
                    return Err(Error::InvalidInput(format!(
                        "collection {c:?} is named twice"
                    )));
                }
            }
            collections.iter().map(|c| c.to_string()).collect()
        };
        let mut counts = Vec::with_capacity(names.len());
        for n in &names {
            counts.push(CollectionCount {
                name: n.clone(),
                records: tx.count(n)?,
            });
        }
        let total: u64 = counts.iter().map(|c| c.records).sum();
        let header = header_line(
            &source,
            &counts,
            total,
            options.schema_version,
            Timestamp::now(),
        );
        let header_hash = hex(&Sha256::digest(header.as_bytes()));
        let mut payload = Sha256::new();
        let mut payload_bytes = 0u64;
        let mut line = Vec::with_capacity(512);
        let bytes = write_atomically(path, |w| {
            w.write_all(header.as_bytes())?;
            w.write_all(b"\n")?;
            for (i, n) in names.iter().enumerate() {
                let records = tx.all(n)?;
                if records.len() as u64 != counts[i].records {
                    return Err(Error::TransactionFailed(format!(
                        "collection {n:?} changed during the export"
                    )));
                }
                for r in records {
                    line.clear();
                    let body = Json::Object(
                        [
                            ("c".to_string(), Json::from(i)),
                            (
                                "r".to_string(),
                                to_tagged_json(&Value::Dictionary(r.into_fields())),
                            ),
                        ]
                        .into_iter()
                        .collect(),
                    );
                    serde_json::to_writer(&mut line, &body)
                        .map_err(|e| Error::InvalidData(format!("cannot encode a record: {e}")))?;
                    line.push(b'\n');
                    payload.update(&line);
                    payload_bytes += line.len() as u64;
                    w.write_all(&line)?;
                }
            }
            let manifest = json!({"manifest": {
                "headerSha256": header_hash,
                "payloadSha256": hex(&payload.clone().finalize()),
                "payloadBytes": payload_bytes,
                "records": total,
            }});
            serde_json::to_writer(&mut *w, &manifest)
                .map_err(|e| Error::InvalidData(format!("cannot encode the manifest: {e}")))?;
            w.write_all(b"\n")?;
            Ok(())
        })?;
        Ok(ExportReport {
            path: path.to_path_buf(),
            format: DumpFormat::Lossless,
            records: total,
            collections: counts,
            bytes,
            header_sha256: header_hash,
            payload_sha256: hex(&payload.finalize()),
        })
    })
}

fn header_line(
    source: &str,
    counts: &[CollectionCount],
    total: u64,
    schema: Option<SchemaVersion>,
    created: Timestamp,
) -> String {
    // Written by hand so that the file starts with MAGIC_PREFIX.
    let rest = json!({
        "created": created.to_rfc3339(),
        "source": {"file": source, "tool": concat!("blazedb ", env!("CARGO_PKG_VERSION"))},
        "schemaVersion": schema.map(|s| json!({"major": s.major, "minor": s.minor})),
        "collections": counts.iter().map(|c| json!({"name": c.name, "records": c.records})).collect::<Vec<_>>(),
        "records": total,
    });
    let rest = rest.to_string();
    format!(
        "{MAGIC_PREFIX},\"version\":{FORMAT_VERSION},{}",
        &rest[1..] // drop the '{' of the rest object
    )
}

/// Verifies a lossless dump (hashes, then every record's encoding and the counts) and
/// describes it.
pub fn verify(path: impl AsRef<Path>) -> Result<DumpInfo> {
    scan(path.as_ref(), &mut |_, _| Ok(()))
}

/// Restores every collection of the dump under its own name. Every target collection must
/// be empty; all records are written in one transaction, after the dump verified, and the
/// hashes are checked again as the records are written, so a file changed in between rolls
/// the transaction back.
pub fn restore(path: impl AsRef<Path>, db: &Database) -> Result<RestoreReport> {
    restore_mapped(path.as_ref(), db, &|name| Some(name.to_string()))
}

/// Restores a dump that holds exactly one collection into `collection`.
pub fn restore_into(
    path: impl AsRef<Path>,
    db: &Database,
    collection: &str,
) -> Result<RestoreReport> {
    let path = path.as_ref();
    let info = verify(path)?;
    if info.collections.len() != 1 {
        return Err(Error::InvalidInput(format!(
            "the dump holds {} collections; restore one with restore_collection, or all with restore",
            info.collections.len()
        )));
    }
    restore_mapped(path, db, &|_| Some(collection.to_string()))
}

/// Restores the dump's collection `from` into `to` (which must be empty), ignoring the
/// other collections.
pub fn restore_collection(
    path: impl AsRef<Path>,
    db: &Database,
    from: &str,
    to: &str,
) -> Result<RestoreReport> {
    let path = path.as_ref();
    let info = verify(path)?;
    if !info.collections.iter().any(|c| c.name == from) {
        return Err(Error::InvalidInput(format!(
            "the dump holds no collection {from:?}"
        )));
    }
    restore_mapped(path, db, &|name| (name == from).then(|| to.to_string()))
}

fn restore_mapped(
    path: &Path,
    db: &Database,
    map: &dyn Fn(&str) -> Option<String>,
) -> Result<RestoreReport> {
    let info = verify(path)?;
    let targets: Vec<Option<String>> = info.collections.iter().map(|c| map(&c.name)).collect();
    let mut seen = HashSet::new();
    for t in targets.iter().flatten() {
        validate_name("collection", t)?;
        if !seen.insert(t.clone()) {
            return Err(Error::InvalidInput(format!(
                "two dump collections would restore into {t:?}"
            )));
        }
    }
    let collections = db.write(|tx| {
        for t in targets.iter().flatten() {
            let stored = tx.stored_len(t)?;
            if stored > 0 {
                return Err(Error::InvalidInput(format!(
                    "cannot restore into collection {t:?}: it is not empty ({stored} stored records); restore needs an empty collection"
                )));
            }
        }
        let mut pending: Vec<Vec<Record>> = vec![Vec::new(); targets.len()];
        let mut written = vec![0u64; targets.len()];
        let again = scan(path, &mut |c, r| {
            let Some(target) = &targets[c] else {
                return Ok(());
            };
            pending[c].push(r);
            written[c] += 1;
            if pending[c].len() >= CHUNK {
                insert_chunk(tx, target, std::mem::take(&mut pending[c]))?;
            }
            Ok(())
        })?;
        if again != info {
            return Err(corrupt("the file changed while it was being restored"));
        }
        for (c, rest) in pending.into_iter().enumerate() {
            if let Some(target) = &targets[c] {
                insert_chunk(tx, target, rest)?;
            }
        }
        Ok(targets
            .iter()
            .zip(written)
            .filter_map(|(t, n)| t.as_ref().map(|t| CollectionCount { name: t.clone(), records: n }))
            .collect::<Vec<_>>())
    })?;
    let records = collections.iter().map(|c| c.records).sum();
    Ok(RestoreReport {
        info,
        collections,
        records,
    })
}

fn insert_chunk(tx: &mut WriteTx, collection: &str, chunk: Vec<Record>) -> Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    match tx.insert_many(collection, chunk.clone()) {
        Ok(_) => Ok(()),
        // The handle's batch limit is below our chunk; the refused call wrote nothing.
        Err(Error::InvalidInput(m)) if m.starts_with("batch of") => {
            for r in chunk {
                tx.insert(collection, r)?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

struct Header {
    created: Timestamp,
    source: String,
    tool: Option<String>,
    schema: Option<SchemaVersion>,
    collections: Vec<CollectionCount>,
    records: u64,
}

fn parse_header(line: &[u8]) -> Result<Header> {
    let j: Json = serde_json::from_slice(line)
        .map_err(|e| corrupt(format!("header line is not valid JSON: {e}")))?;
    let o = j
        .as_object()
        .ok_or_else(|| invalid("header must be an object"))?;
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "format"
                | "version"
                | "created"
                | "source"
                | "schemaVersion"
                | "collections"
                | "records"
        ) {
            return Err(invalid(format!("unknown header member {k:?}")));
        }
    }
    if o.get("format").and_then(Json::as_str) != Some(FORMAT_NAME) {
        return Err(invalid(format!("header format is not {FORMAT_NAME:?}")));
    }
    match o.get("version").and_then(Json::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        other => {
            return Err(invalid(format!(
                "unsupported version {other:?} (this build reads version {FORMAT_VERSION})"
            )));
        }
    }
    let created = o
        .get("created")
        .and_then(Json::as_str)
        .and_then(Timestamp::parse_rfc3339)
        .ok_or_else(|| invalid("header created must be an RFC 3339 date"))?;
    let src = o.get("source").and_then(Json::as_object);
    let source = src
        .and_then(|s| s.get("file"))
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let tool = src
        .and_then(|s| s.get("tool"))
        .and_then(Json::as_str)
        .map(str::to_string);
    let schema = match o.get("schemaVersion") {
        None | Some(Json::Null) => None,
        Some(Json::Object(s)) => Some(SchemaVersion {
            major: s
                .get("major")
                .and_then(Json::as_i64)
                .ok_or_else(|| invalid("schemaVersion.major must be an integer"))?,
            minor: s
                .get("minor")
                .and_then(Json::as_i64)
                .ok_or_else(|| invalid("schemaVersion.minor must be an integer"))?,
        }),
        Some(_) => return Err(invalid("schemaVersion must be null or an object")),
    };
    let cols = o
        .get("collections")
        .and_then(Json::as_array)
        .ok_or_else(|| invalid("header collections must be an array"))?;
    let mut collections = Vec::with_capacity(cols.len());
    let mut names = HashSet::new();
    for c in cols {
        let name = c
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid("each collection needs a name"))?;
        let records = c
            .get("records")
            .and_then(Json::as_u64)
            .ok_or_else(|| invalid("each collection needs a record count"))?;
        if !names.insert(name.to_string()) {
            return Err(invalid(format!("collection {name:?} is listed twice")));
        }
        collections.push(CollectionCount {
            name: name.to_string(),
            records,
        });
    }
    let records = o
        .get("records")
        .and_then(Json::as_u64)
        .ok_or_else(|| invalid("header records must be a count"))?;
    Ok(Header {
        created,
        source,
        tool,
        schema,
        collections,
        records,
    })
}

struct Manifest {
    header: String,
    payload: String,
    payload_bytes: u64,
    records: u64,
}

fn parse_manifest(line: &[u8]) -> Result<Manifest> {
    let j: Json = serde_json::from_slice(line)
        .map_err(|e| corrupt(format!("manifest line is not valid JSON: {e}")))?;
    let m = j
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("manifest"))
        .and_then(Json::as_object)
        .ok_or_else(|| invalid("the last line must be {\"manifest\":{…}}"))?;
    let known = ["headerSha256", "payloadSha256", "payloadBytes", "records"];
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(format!("unknown manifest member {k:?}")));
    }
    let s = |k: &str| {
        m.get(k)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("manifest lacks the string {k}")))
    };
    let n = |k: &str| {
        m.get(k)
            .and_then(Json::as_u64)
            .ok_or_else(|| invalid(format!("manifest lacks the count {k}")))
    };
    Ok(Manifest {
        header: s("headerSha256")?,
        payload: s("payloadSha256")?,
        payload_bytes: n("payloadBytes")?,
        records: n("records")?,
    })
}

fn parse_record_line(line: &[u8], n_collections: usize) -> Result<(usize, Record)> {
    let j: Json =
        serde_json::from_slice(line).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
    let o: &Map<String, Json> = j
        .as_object()
        .filter(|o| o.len() == 2)
        .ok_or_else(|| invalid("a record line must be {\"c\":…,\"r\":…}"))?;
    let c = o
        .get("c")
        .and_then(Json::as_u64)
        .ok_or_else(|| invalid("a record line needs a collection index \"c\""))?;
    let c = usize::try_from(c)
        .ok()
        .filter(|c| *c < n_collections)
        .ok_or_else(|| invalid(format!("collection index {c} is not in the header")))?;
    let r = o
        .get("r")
        .ok_or_else(|| invalid("a record line needs \"r\""))?;
    if !r.is_object() {
        return Err(invalid("\"r\" must be an object"));
    }
    match from_tagged_json(r)? {
        Value::Dictionary(d) => Ok((c, Record::from(d))),
        _ => Err(invalid("\"r\" must be a record")),
    }
}

/// Reads the whole dump once: hashes, parses every record and hands it to `visit`, then
/// checks hashes (first) and counts. Returns what `verify` reports.
fn scan(path: &Path, visit: &mut dyn FnMut(usize, Record) -> Result<()>) -> Result<DumpInfo> {
    let file = open_dump(path)?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::with_capacity(1024);
    let read_line = |r: &mut BufReader<std::fs::File>, line: &mut Vec<u8>| -> Result<usize> {
        line.clear();
        Ok(r.read_until(b'\n', line)?)
    };
    if read_line(&mut r, &mut line)? == 0 {
        return Err(corrupt("the file is empty"));
    }
    if line.last() != Some(&b'\n') {
        return Err(corrupt("truncated: the header line is not terminated"));
    }
    line.pop();
    let header_bytes = std::mem::take(&mut line);
    let header_hash = hex(&Sha256::digest(&header_bytes));
    let header = parse_header(&header_bytes);

    let mut payload = Sha256::new();
    let mut payload_bytes = 0u64;
    let mut manifest = None;
    let mut first_error: Option<Error> = None;
    let n_collections = header.as_ref().map_or(0, |h| h.collections.len());
    let mut per_collection = vec![0u64; n_collections];
    let mut ids: Vec<HashSet<Uuid>> = vec![HashSet::new(); n_collections];
    let mut lineno = 1u64;
    loop {
        let n = read_line(&mut r, &mut line)?;
        if n == 0 {
            break;
        }
        lineno += 1;
        if manifest.is_some() {
            return Err(corrupt(format!(
                "unexpected data after the manifest (line {lineno})"
            )));
        }
        if line.last() != Some(&b'\n') {
            return Err(corrupt(format!(
                "truncated: line {lineno} is not terminated (the file ends mid-line)"
            )));
        }
        if line.starts_with(b"{\"manifest\":") {
            line.pop();
            manifest = Some(parse_manifest(&line));
            continue;
        }
        payload.update(&line);
        payload_bytes += line.len() as u64;
        if first_error.is_some() || header.is_err() {
            continue;
        }
        line.pop();
        match parse_record_line(&line, n_collections) {
            Ok((c, rec)) => {
                let id = match rec.get(ID_FIELD) {
                    Some(Value::Uuid(u)) => *u,
                    _ => {
                        first_error = Some(invalid(format!(
                            "line {lineno}: the record has no uuid \"id\""
                        )));
                        continue;
                    }
                };
                if !ids[c].insert(id) {
                    first_error = Some(invalid(format!(
                        "line {lineno}: id {id} appears twice in one collection"
                    )));
                    continue;
                }
                per_collection[c] += 1;
                visit(c, rec)?;
            }
            Err(e) => {
                first_error = Some(match e {
                    Error::CorruptedData(m) | Error::InvalidData(m) => {
                        invalid(format!("line {lineno}: {m}"))
                    }
                    other => other,
                });
            }
        }
    }
    let Some(manifest) = manifest else {
        return Err(corrupt("truncated: the manifest line is missing"));
    };
    let manifest = manifest?;
    // Hashes first: they are what tells damage from a bad writer.
    if header_hash != manifest.header {
        return Err(corrupt(format!(
            "header hash mismatch: sha256 of the header line is {header_hash}, the manifest says {}: the header was changed or damaged",
            manifest.header
        )));
    }
    let payload_hash = hex(&payload.finalize());
    if payload_hash != manifest.payload || payload_bytes != manifest.payload_bytes {
        return Err(corrupt(format!(
            "payload hash mismatch: sha256 of the {payload_bytes} payload bytes is {payload_hash}, the manifest says {} over {} bytes: records were changed, added, removed or damaged",
            manifest.payload, manifest.payload_bytes
        )));
    }
    let header = header?;
    if let Some(e) = first_error {
        return Err(e);
    }
    let total: u64 = per_collection.iter().sum();
    if total != manifest.records || total != header.records {
        return Err(invalid(format!(
            "the dump holds {total} records but its header says {} and its manifest {}",
            header.records, manifest.records
        )));
    }
    for (c, n) in header.collections.iter().zip(&per_collection) {
        if c.records != *n {
            return Err(invalid(format!(
                "collection {:?} holds {n} records but the header says {}",
                c.name, c.records
            )));
        }
    }
    Ok(DumpInfo {
        format: DumpFormat::Lossless,
        format_version: FORMAT_VERSION,
        created: header.created,
        source: header.source,
        database_id: None,
        tool_version: header.tool,
        schema_version: header.schema,
        record_count: total,
        collections: header.collections,
        payload_bytes,
        header_sha256: header_hash,
        payload_sha256: payload_hash,
        hash_check: HashCheck::Exact,
    })
}
