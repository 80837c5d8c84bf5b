//! Upstream BlazeDB's `.blazedump` v1, read and written exactly as upstream writes it.
//!
//! A v1 dump is one JSON document, `{"header":{…},"manifest":{…},"records":[…]}`, written by
//! upstream's `JSONEncoder` with `.sortedKeys` and `.iso8601` dates. Each record is
//! `{"storage":{field: value, …}}`, the records sorted by id. The manifest holds:
//!
//! * `headerHash`: SHA-256, lowercase hex, of the header's compact JSON bytes;
//! * `payloadHash`: SHA-256 of the records array's compact JSON bytes, and `payloadSize`
//!   its length in bytes;
//! * `combinedHash`: SHA-256 of the 128 ASCII characters `headerHash + payloadHash`;
//! * `recordCount`.
//!
//! In a dump from upstream 2.8 those bytes are exactly the `"header"` and `"records"`
//! values as they stand in the file, so [`verify`] hashes the file's own bytes. Older
//! exporters hashed an encoding whose member order the file does not record; see
//! [`VerifyOptions::legacy_search_budget`] and `docs/DUMPS.md`.
//!
//! JSON has no date, uuid, bytes or vector type, so a v1 dump cannot say what type a value
//! had. [`decode_value`] types values the way upstream's own importer does, and
//! [`round_trip`] says what any of our values becomes after export and restore.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use uuid::Uuid;

use super::legacy::{self, Budget};
use super::rawjson::{self, Kind, Node};
use super::swift_json;
use super::{
    CollectionCount, DumpFormat, DumpInfo, ExportReport, HashCheck, RestoreReport, SchemaVersion,
    sha256_hex, write_all, write_atomically,
};
use crate::db::Database;
use crate::engine::encoding::MAX_DEPTH;
use crate::error::{Error, Result};
use crate::record::{ID_FIELD, Record};
use crate::value::{Timestamp, Value};

/// The only format version upstream defines.
pub const FORMAT_VERSION: u32 = 1;

/// The `toolVersion` every upstream export writes, and ours by default.
pub const UPSTREAM_TOOL_VERSION: &str = "BlazeDB-1.0";

/// Default limit on the legacy key-order search, in bytes hashed (256 MiB: a fraction of a
/// second with an optimized SHA-256).
pub const DEFAULT_LEGACY_SEARCH_BUDGET: u64 = 256 << 20;

const WHAT: &str = "upstream v1 dump";

/// Options for reading a v1 dump.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// How many bytes the legacy key-order search may hash before the dump is refused
    /// (default [`DEFAULT_LEGACY_SEARCH_BUDGET`]). Only pre-2.8 dumps, whose hashes do not
    /// cover the file's own bytes, need the search; 0 refuses them outright.
    pub legacy_search_budget: u64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            legacy_search_budget: DEFAULT_LEGACY_SEARCH_BUDGET,
        }
    }
}

/// A verified v1 dump: its description and its records, typed by [`decode_value`].
#[derive(Clone, Debug)]
pub struct V1Dump {
    /// What [`verify`] reports.
    pub info: DumpInfo,
    /// The records in file order (upstream sorts them by id).
    pub records: Vec<Record>,
}

/// Verifies a v1 dump against its manifest and describes it.
pub fn verify(path: impl AsRef<Path>) -> Result<DumpInfo> {
    Ok(read_with(path, &VerifyOptions::default())?.info)
}

/// Verifies with explicit options.
pub fn verify_with(path: impl AsRef<Path>, options: &VerifyOptions) -> Result<DumpInfo> {
    Ok(read_with(path, options)?.info)
}

/// Verifies a v1 dump and decodes its records.
pub fn read(path: impl AsRef<Path>) -> Result<V1Dump> {
    read_with(path, &VerifyOptions::default())
}

/// Verifies a v1 dump with explicit options and decodes its records.
pub fn read_with(path: impl AsRef<Path>, options: &VerifyOptions) -> Result<V1Dump> {
    let text = super::read_text(path.as_ref(), WHAT)?;
    parse_dump(&text, options)
}

/// Restores a v1 dump into `collection`, which must be empty (no live or soft-deleted
/// records). Ids and field values are kept as [`decode_value`] types them; every record is
/// written in one transaction, and nothing is written unless the whole dump verifies.
///
/// The handle's automatic fields apply: upstream records always carry `createdAt` and
/// `project`, so nothing is added to them, but a record lacking them would be stamped
/// unless the database was opened with `Options::stamp_fields(false)`.
pub fn restore(path: impl AsRef<Path>, db: &Database, collection: &str) -> Result<RestoreReport> {
    restore_with(path, db, collection, &VerifyOptions::default())
}

/// [`restore`] with explicit options.
pub fn restore_with(
    path: impl AsRef<Path>,
    db: &Database,
    collection: &str,
    options: &VerifyOptions,
) -> Result<RestoreReport> {
    let dump = read_with(path, options)?;
    let n = dump.records.len() as u64;
    let collections = write_all(db, vec![(collection.to_string(), dump.records)])?;
    Ok(RestoreReport {
        info: dump.info,
        collections,
        records: n,
    })
}

/// Header fields for an export. Unset fields get upstream's defaults.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// `databaseName` (default: the database file's name without its extension).
    pub database_name: Option<String>,
    /// `databaseId` (default: a new random UUID, as upstream does on every export).
    pub database_id: Option<Uuid>,
    /// `exportedAt` (default: now). Written in whole seconds.
    pub exported_at: Option<Timestamp>,
    /// `schemaVersion` (default 0.0, what upstream writes for an unversioned database).
    pub schema_version: Option<SchemaVersion>,
    /// `toolVersion` (default [`UPSTREAM_TOOL_VERSION`]).
    pub tool_version: Option<String>,
}

/// Exports `collection` to a v1 dump at `path`, exactly as upstream writes one.
///
/// Soft-deleted records are left out (as upstream does). Values upstream cannot write fail
/// with `InvalidData` naming the field: a NaN or infinite double (upstream's encoder throws
/// on them too) and a date outside years 0000–9999. The file is written atomically.
pub fn export(db: &Database, collection: &str, path: impl AsRef<Path>) -> Result<ExportReport> {
    export_with(db, collection, path, &ExportOptions::default())
}

/// [`export`] with explicit header fields.
pub fn export_with(
    db: &Database,
    collection: &str,
    path: impl AsRef<Path>,
    options: &ExportOptions,
) -> Result<ExportReport> {
    let path = path.as_ref();
    let records = db.read(|tx| tx.all(collection))?;
    let name = options.database_name.clone().unwrap_or_else(|| {
        db.path()
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let header = Header {
        database_id: options.database_id.unwrap_or_else(Uuid::new_v4),
        database_name: name,
        exported_at: options.exported_at.unwrap_or_else(Timestamp::now),
        schema_version: options
            .schema_version
            .unwrap_or(SchemaVersion { major: 0, minor: 0 }),
        tool_version: Some(
            options
                .tool_version
                .clone()
                .unwrap_or_else(|| UPSTREAM_TOOL_VERSION.to_string()),
        ),
    };
    let encoded = encode(&header, &records)?;
    let bytes = write_atomically(path, |w| Ok(w.write_all(encoded.text.as_bytes())?))?;
    Ok(ExportReport {
        path: path.to_path_buf(),
        format: DumpFormat::UpstreamV1,
        records: records.len() as u64,
        collections: vec![CollectionCount {
            name: collection.to_string(),
            records: records.len() as u64,
        }],
        bytes,
        header_sha256: encoded.header_hash,
        payload_sha256: encoded.payload_hash,
    })
}

/// A v1 header's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// `databaseId`.
    pub database_id: Uuid,
    /// `databaseName`.
    pub database_name: String,
    /// `exportedAt` (written in whole seconds).
    pub exported_at: Timestamp,
    /// `schemaVersion`.
    pub schema_version: SchemaVersion,
    /// `toolVersion` (`None` writes no member, as Swift omits a nil optional).
    pub tool_version: Option<String>,
}

/// A dump encoded in memory.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The whole file.
    pub text: String,
    /// Its `headerHash`.
    pub header_hash: String,
    /// Its `payloadHash`.
    pub payload_hash: String,
}

/// Encodes records as upstream's `DatabaseDump.encode(header:records:)` does: records
/// sorted by id, every object's keys sorted, hashes over the header's and the records'
/// bytes.
pub fn encode(header: &Header, records: &[Record]) -> Result<Encoded> {
    let mut sorted: Vec<(String, &Record)> = records
        .iter()
        .map(|r| {
            // Upstream sorts by `id.uuidString` (uppercase); our ids are uuids.
            let key = r.id().map(|u| upper(&u)).unwrap_or_default();
            (key, r)
        })
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = String::new();
    h.push_str("{\"databaseId\":");
    swift_json::write_string(&mut h, &upper(&header.database_id));
    h.push_str(",\"databaseName\":");
    swift_json::write_string(&mut h, &header.database_name);
    h.push_str(",\"exportedAt\":");
    let at = swift_json::iso8601_seconds(header.exported_at)
        .ok_or_else(|| Error::InvalidData("exportedAt is outside years 0000-9999".into()))?;
    swift_json::write_string(&mut h, &at);
    h.push_str(&format!(
        ",\"formatVersion\":{FORMAT_VERSION},\"schemaVersion\":{{\"major\":{},\"minor\":{}}}",
        header.schema_version.major, header.schema_version.minor
    ));
    if let Some(t) = &header.tool_version {
        h.push_str(",\"toolVersion\":");
        swift_json::write_string(&mut h, t);
    }
    h.push('}');
    let mut p = String::with_capacity(records.len() * 256);
    p.push('[');
    for (n, (_, r)) in sorted.iter().enumerate() {
        if n > 0 {
            p.push(',');
        }
        p.push_str("{\"storage\":{");
        for (i, (k, v)) in r.iter().enumerate() {
            if i > 0 {
                p.push(',');
            }
            swift_json::write_string(&mut p, k);
            p.push(':');
            write_value(&mut p, v, k)?;
        }
        p.push_str("}}");
    }
    p.push(']');
    let header_hash = sha256_hex(h.as_bytes());
    let payload_hash = sha256_hex(p.as_bytes());
    let combined = sha256_hex(format!("{header_hash}{payload_hash}").as_bytes());
    let mut text = String::with_capacity(h.len() + p.len() + 400);
    text.push_str("{\"header\":");
    text.push_str(&h);
    text.push_str(&format!(
        ",\"manifest\":{{\"combinedHash\":\"{combined}\",\"headerHash\":\"{header_hash}\",\"payloadHash\":\"{payload_hash}\",\"payloadSize\":{},\"recordCount\":{}}},\"records\":",
        p.len(),
        sorted.len()
    ));
    text.push_str(&p);
    text.push('}');
    Ok(Encoded {
        text,
        header_hash,
        payload_hash,
    })
}

fn upper(u: &Uuid) -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    u.hyphenated().encode_upper(&mut buf).to_string()
}

/// Writes one value as upstream's `BlazeDocumentField.encode(to:)` does. `path` names the
/// field in errors.
fn write_value(out: &mut String, v: &Value, path: &str) -> Result<()> {
    let bad_double = |what: &str| {
        Error::InvalidData(format!(
            "field {path}: {what} cannot be written to an upstream v1 dump (JSON has no NaN or infinity; upstream's encoder refuses it too)"
        ))
    };
    match v {
        Value::String(s) => swift_json::write_string(out, s),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Double(d) => {
            out.push_str(&swift_json::number(*d).ok_or_else(|| bad_double("a non-finite double"))?)
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Date(t) => {
            let s = swift_json::iso8601_seconds(*t).ok_or_else(|| {
                Error::InvalidData(format!(
                    "field {path}: date {t} is outside years 0000-9999, which ISO 8601 text cannot hold"
                ))
            })?;
            swift_json::write_string(out, &s);
        }
        Value::Uuid(u) => swift_json::write_string(out, &upper(u)),
        Value::Data(d) => swift_json::write_string(out, &B64.encode(d)),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x, &format!("{path}[{i}]"))?;
            }
            out.push(']');
        }
        Value::Dictionary(d) => {
            out.push('{');
            for (i, (k, x)) in d.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                swift_json::write_string(out, k);
                out.push(':');
                write_value(out, x, &format!("{path}.{k}"))?;
            }
            out.push('}');
        }
        Value::Vector(xs) => {
            out.push('[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(
                    &swift_json::number(*x)
                        .ok_or_else(|| bad_double("a non-finite vector element"))?,
                );
            }
            out.push(']');
        }
        Value::Null => out.push_str("null"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading.

fn corrupt(msg: impl std::fmt::Display) -> Error {
    Error::CorruptedData(format!("{WHAT}: {msg}"))
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::InvalidData(format!("{WHAT}: {msg}"))
}

struct Manifest<'a> {
    header_hash: &'a str,
    payload_hash: &'a str,
    combined_hash: &'a str,
    record_count: u64,
    payload_size: u64,
}

fn uint_of(text: &str, n: &Node, what: &str) -> Result<u64> {
    match n.kind {
        Kind::Number => text[n.span.clone()]
            .parse::<u64>()
            .map_err(|_| invalid(format!("manifest {what} is not a whole number"))),
        _ => Err(invalid(format!("manifest {what} must be a number"))),
    }
}

fn parse_manifest<'a>(text: &str, m: &'a Node) -> Result<Manifest<'a>> {
    let Some(members) = m.members() else {
        return Err(invalid("manifest must be an object"));
    };
    for mem in members {
        if !matches!(
            mem.key.as_str(),
            "headerHash" | "payloadHash" | "combinedHash" | "recordCount" | "payloadSize"
        ) {
            return Err(invalid(format!("unknown manifest member {:?}", mem.key)));
        }
    }
    let s = |k: &str| -> Result<&'a str> {
        m.get(k)
            .and_then(Node::as_str)
            .ok_or_else(|| invalid(format!("manifest lacks the string {k}")))
    };
    let n = |k: &str| -> Result<u64> {
        let node = m
            .get(k)
            .ok_or_else(|| invalid(format!("manifest lacks {k}")))?;
        uint_of(text, node, k)
    };
    Ok(Manifest {
        header_hash: s("headerHash")?,
        payload_hash: s("payloadHash")?,
        combined_hash: s("combinedHash")?,
        record_count: n("recordCount")?,
        payload_size: n("payloadSize")?,
    })
}

fn parse_dump(text: &str, options: &VerifyOptions) -> Result<V1Dump> {
    let top = rawjson::parse(text, WHAT, MAX_DEPTH + 8)?;
    let Some(members) = top.members() else {
        return Err(invalid("the document must be a JSON object"));
    };
    for m in members {
        if !matches!(m.key.as_str(), "header" | "records" | "manifest") {
            return Err(invalid(format!("unknown top-level member {:?}", m.key)));
        }
    }
    let get = |k: &str| {
        top.get(k)
            .ok_or_else(|| invalid(format!("no {k:?} member")))
    };
    let header = get("header")?;
    let records = get("records")?;
    let manifest = parse_manifest(text, get("manifest")?)?;

    // 1. The manifest is consistent with itself and with the payload's shape.
    let combined =
        sha256_hex(format!("{}{}", manifest.header_hash, manifest.payload_hash).as_bytes());
    if combined != manifest.combined_hash {
        return Err(corrupt(format!(
            "manifest combinedHash {} is not sha256(headerHash + payloadHash) = {combined}: the manifest was changed or damaged",
            manifest.combined_hash
        )));
    }
    let items = records
        .items()
        .ok_or_else(|| invalid("\"records\" must be an array"))?;
    if manifest.record_count != items.len() as u64 {
        return Err(corrupt(format!(
            "the manifest says {} records but the dump holds {}: records were added or removed",
            manifest.record_count,
            items.len()
        )));
    }
    let raw_header = &text[header.span.clone()];
    let raw_records = &text[records.span.clone()];
    if manifest.payload_size != raw_records.len() as u64 {
        return Err(corrupt(format!(
            "payload is {} bytes but the manifest's payloadSize is {}: the records were changed or damaged",
            raw_records.len(),
            manifest.payload_size
        )));
    }

    // 2. The hashes: the file's own bytes, or (pre-2.8 dumps) a key order that reproduces them.
    let mut budget = Budget {
        left: options.legacy_search_budget,
        spent: 0,
    };
    let header_actual = sha256_hex(raw_header.as_bytes());
    let header_how = if header_actual == manifest.header_hash {
        None
    } else if legacy::is_sorted(header) {
        // Written with sorted keys: the file's bytes are what was hashed.
        return Err(corrupt(format!(
            "header hash mismatch: sha256 of the header is {header_actual}, the manifest says {}: the header was changed or damaged",
            manifest.header_hash
        )));
    } else {
        match legacy::search_all_orders(text, header, manifest.header_hash, &mut budget) {
            Some(f) => Some(f.tier),
            None => {
                return Err(corrupt(format!(
                    "header hash mismatch: sha256 of the header is {header_actual}, the manifest says {} (no member order reproduces it): the header was changed or damaged",
                    manifest.header_hash
                )));
            }
        }
    };
    let payload_actual = sha256_hex(raw_records.as_bytes());
    let payload_how = if payload_actual == manifest.payload_hash {
        None
    } else if legacy::is_sorted(records) {
        return Err(corrupt(format!(
            "payload hash mismatch: sha256 of the records is {payload_actual}, the manifest says {}: the records were changed or damaged",
            manifest.payload_hash
        )));
    } else {
        match legacy::search_records(text, records, manifest.payload_hash, &mut budget) {
            Some(f) => Some(f.tier),
            None => {
                let why = if budget.left == 0 {
                    format!(
                        "no member order found within the legacy search budget of {} bytes",
                        options.legacy_search_budget
                    )
                } else {
                    "no member order reproduces it".to_string()
                };
                return Err(corrupt(format!(
                    "payload hash mismatch: sha256 of the records is {payload_actual}, the manifest says {} ({why}): the records were changed or damaged",
                    manifest.payload_hash
                )));
            }
        }
    };
    let hash_check = if header_how.is_none() && payload_how.is_none() {
        HashCheck::Exact
    } else {
        HashCheck::LegacyKeyOrder {
            header: header_how.unwrap_or("the file's own bytes").to_string(),
            payload: payload_how.unwrap_or("the file's own bytes").to_string(),
            bytes_hashed: budget.spent,
        }
    };

    // 3. The header's fields.
    let h = parse_header(text, header)?;

    // 4. The records.
    let mut out = Vec::with_capacity(items.len());
    let mut ids = HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let record = decode_record(text, item).map_err(|e| match e {
            Error::InvalidData(m) => invalid(format!("record {i}: {m}")),
            other => other,
        })?;
        let id = match record.get(ID_FIELD) {
            Some(Value::Uuid(u)) => *u,
            _ => return Err(invalid(format!("record {i} has no uuid \"id\" field"))),
        };
        if !ids.insert(id) {
            return Err(invalid(format!("record {i}: id {id} appears twice")));
        }
        out.push(record);
    }
    let info = DumpInfo {
        format: DumpFormat::UpstreamV1,
        format_version: FORMAT_VERSION,
        created: h.exported_at,
        source: h.database_name.clone(),
        database_id: Some(h.database_id),
        tool_version: h.tool_version,
        schema_version: Some(h.schema_version),
        record_count: out.len() as u64,
        collections: vec![CollectionCount {
            name: h.database_name,
            records: out.len() as u64,
        }],
        payload_bytes: manifest.payload_size,
        header_sha256: manifest.header_hash.to_string(),
        payload_sha256: manifest.payload_hash.to_string(),
        hash_check,
    };
    Ok(V1Dump { info, records: out })
}

fn parse_header(text: &str, header: &Node) -> Result<Header> {
    let Some(members) = header.members() else {
        return Err(invalid("header must be an object"));
    };
    for m in members {
        if !matches!(
            m.key.as_str(),
            "formatVersion"
                | "schemaVersion"
                | "databaseId"
                | "exportedAt"
                | "databaseName"
                | "toolVersion"
        ) {
            return Err(invalid(format!("unknown header member {:?}", m.key)));
        }
    }
    let version = header
        .get("formatVersion")
        .ok_or_else(|| invalid("header lacks formatVersion"))?;
    let v = match version.kind {
        Kind::Number => text[version.span.clone()].parse::<i64>().ok(),
        _ => None,
    };
    if v != Some(i64::from(FORMAT_VERSION)) {
        return Err(invalid(format!(
            "unsupported formatVersion {} (this build reads version {FORMAT_VERSION})",
            &text[version.span.clone()]
        )));
    }
    let sv = header
        .get("schemaVersion")
        .ok_or_else(|| invalid("header lacks schemaVersion"))?;
    let part = |k: &str| -> Result<i64> {
        match sv.get(k) {
            Some(
                n @ Node {
                    kind: Kind::Number, ..
                },
            ) => text[n.span.clone()]
                .parse::<i64>()
                .map_err(|_| invalid(format!("schemaVersion.{k} is not an integer"))),
            _ => Err(invalid(format!("schemaVersion lacks the integer {k}"))),
        }
    };
    let schema_version = SchemaVersion {
        major: part("major")?,
        minor: part("minor")?,
    };
    let database_id = header
        .get("databaseId")
        .and_then(Node::as_str)
        .and_then(uuid_shaped)
        .ok_or_else(|| invalid("header databaseId must be a UUID string"))?;
    let exported_at = header
        .get("exportedAt")
        .and_then(Node::as_str)
        .and_then(iso8601)
        .ok_or_else(|| invalid("header exportedAt must be an ISO 8601 date"))?;
    let database_name = header
        .get("databaseName")
        .and_then(Node::as_str)
        .ok_or_else(|| invalid("header databaseName must be a string"))?
        .to_string();
    let tool_version = match header.get("toolVersion") {
        None
        | Some(Node {
            kind: Kind::Null, ..
        }) => None,
        Some(n) => Some(
            n.as_str()
                .ok_or_else(|| invalid("header toolVersion must be a string"))?
                .to_string(),
        ),
    };
    Ok(Header {
        database_id,
        database_name,
        exported_at,
        schema_version,
        tool_version,
    })
}

fn decode_record(text: &str, item: &Node) -> Result<Record> {
    let members = item
        .members()
        .ok_or_else(|| Error::InvalidData("must be an object {\"storage\":{…}}".into()))?;
    if members.len() != 1 || members[0].key != "storage" {
        return Err(Error::InvalidData(
            "must be an object with the single member \"storage\"".into(),
        ));
    }
    let storage = &members[0].value;
    let fields = storage
        .members()
        .ok_or_else(|| Error::InvalidData("\"storage\" must be an object".into()))?;
    let mut rec = BTreeMap::new();
    for m in fields {
        rec.insert(m.key.clone(), decode_node(text, &m.value, 1, &m.key)?);
    }
    Ok(Record::from(rec))
}

/// Types a JSON value the way upstream's `BlazeDocumentField.init(from:)` does.
///
/// Upstream tries, in order: null; `Int` (any number whose value is a whole number that
/// fits 64 bits, so `1`, `-0` and `2.0` are ints); `Bool`; `Double`; `UUID` (a
/// `8-4-4-4-12` hex string); `Date` (an ISO 8601 date-time in whole seconds with `Z` or an
/// offset); `[Double]` (any array whose elements are all numbers, the empty array
/// included, becomes a vector); other arrays; objects; and finally string. Bytes never come
/// back: data was written as a base64 string and stays one.
pub fn decode_value(json: &str) -> Result<Value> {
    let node = rawjson::parse(json, "JSON value", MAX_DEPTH + 1)?;
    decode_node(json, &node, 0, "value")
}

fn decode_node(text: &str, n: &Node, depth: usize, path: &str) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::InvalidData(format!(
            "field {path} nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match &n.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Number => number(&text[n.span.clone()], path)?,
        Kind::String(s) => {
            if let Some(u) = uuid_shaped(s) {
                Value::Uuid(u)
            } else if let Some(t) = iso8601(s) {
                Value::Date(t)
            } else {
                Value::String(s.clone())
            }
        }
        Kind::Array(items) => {
            if items.iter().all(|i| matches!(i.kind, Kind::Number)) {
                Value::Vector(
                    items
                        .iter()
                        .map(|i| double(&text[i.span.clone()], path))
                        .collect::<Result<_>>()?,
                )
            } else {
                Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(k, i)| decode_node(text, i, depth + 1, &format!("{path}[{k}]")))
                        .collect::<Result<_>>()?,
                )
            }
        }
        Kind::Object(members) => {
            let mut d = BTreeMap::new();
            for m in members {
                d.insert(
                    m.key.clone(),
                    decode_node(text, &m.value, depth + 1, &format!("{path}.{}", m.key))?,
                );
            }
            Value::Dictionary(d)
        }
    })
}

fn double(t: &str, path: &str) -> Result<f64> {
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => Err(Error::InvalidData(format!(
            "field {path}: number {t} does not fit a 64-bit double"
        ))),
    }
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;

fn number(t: &str, path: &str) -> Result<Value> {
    if let Ok(i) = t.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    let f = double(t, path)?;
    if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) {
        Ok(Value::Int(f as i64))
    } else {
        Ok(Value::Double(f))
    }
}

/// A string in the canonical `8-4-4-4-12` hex form, either case (what `UUID(uuidString:)`
/// accepts).
fn uuid_shaped(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            *c == b'-'
        } else {
            c.is_ascii_hexdigit()
        };
        if !ok {
            return None;
        }
    }
    Uuid::parse_str(s).ok()
}

/// An ISO 8601 internet date-time in whole seconds: `YYYY-MM-DDTHH:MM:SS` then `Z` or
/// `±HH:MM` (what the `.iso8601` strategy parses). A fraction is not accepted, as upstream
/// does not accept one.
fn iso8601(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 20 && b.len() != 25 {
        return None;
    }
    for (i, c) in b[..19].iter().enumerate() {
        let ok = match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return None;
        }
    }
    let zone_ok = match &b[19..] {
        [b'Z'] => true,
        [s, h1, h2, b':', m1, m2] => {
            matches!(s, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    };
    if !zone_ok {
        return None;
    }
    Timestamp::parse_rfc3339(s)
}

/// What `value` becomes after an export to v1 and a restore (the v1 type limits):
///
/// | ours | after the round trip |
/// |---|---|
/// | string | uuid if it is `8-4-4-4-12` hex, date if it is an ISO 8601 date-time in whole seconds, else string |
/// | int | int |
/// | double | int when it is a whole number in the 64-bit range (`1.0`, `-0.0`), else double |
/// | bool, null, uuid | unchanged |
/// | date | date floored to the second |
/// | data | string (base64) |
/// | vector | vector |
/// | array | vector of doubles if every element is an int or double (`[]` too), else an array of round-tripped elements |
/// | dictionary | dictionary of round-tripped values |
///
/// Values that cannot be exported at all (NaN, infinities, dates outside years 0000–9999)
/// are returned unchanged.
pub fn round_trip(value: &Value) -> Value {
    match value {
        Value::String(s) => {
            if let Some(u) = uuid_shaped(s) {
                Value::Uuid(u)
            } else if let Some(t) = iso8601(s) {
                Value::Date(t)
            } else {
                value.clone()
            }
        }
        Value::Double(d) if d.is_finite() && d.fract() == 0.0 && (-TWO_63..TWO_63).contains(d) => {
            Value::Int(*d as i64)
        }
        Value::Date(t) => Value::Date(Timestamp::new(t.unix_seconds(), 0)),
        Value::Data(d) => Value::String(B64.encode(d)),
        Value::Array(items) => {
            if items
                .iter()
                .all(|i| matches!(i, Value::Int(_) | Value::Double(_)))
            {
                Value::Vector(
                    items
                        .iter()
                        .map(|i| match i {
                            Value::Int(n) => *n as f64,
                            Value::Double(d) => *d,
                            _ => unreachable!("checked above"),
                        })
                        .collect(),
                )
            } else {
                Value::Array(items.iter().map(round_trip).collect())
            }
        }
        Value::Dictionary(d) => {
            Value::Dictionary(d.iter().map(|(k, v)| (k.clone(), round_trip(v))).collect())
        }
        other => other.clone(),
    }
}

/// Undoes upstream's vector corruption for one element, as far as it can be undone.
///
/// Upstream 2.8.1 stores each vector element as only the first 4 bytes of its big-endian
/// f64 and reads them back byte-swapped as an f32, so the value in a dump (and in the
/// database) is `f32::from_bits(swap(high32(x)))`. This inverts that: it takes the f32
/// bits, swaps them back, and puts them in the high half of an f64 with the low half zero.
/// The result equals what the writer meant when its low 32 bits were zero (values an f32
/// holds exactly, such as `-0.53515625`), and is within about 1e-7 relative of it
/// otherwise. Apply it only to fields that were stored as vectors upstream: number arrays
/// that decode as vectors were never corrupted.
pub fn upstream_vector_high32(dumped: f64) -> f64 {
    let bits = (dumped as f32).to_bits().swap_bytes();
    f64::from_bits(u64::from(bits) << 32)
}
