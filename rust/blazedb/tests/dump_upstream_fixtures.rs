//! Upstream's own `.blazedump` files: every one verifies by its manifest hashes, restores
//! with its record count, ids and values, and re-exports byte for byte.
//!
//! The fixtures live in `../shared/fixtures` beside the project (override the folder with
//! `BLAZEDB_SHARED_DIR`). `upstream-2.8.1/*/expected.json` was written by upstream itself;
//! the comparison below is exact, field by field, with one documented normalisation in
//! `matches_database_truth` (see docs/DUMPS.md, "Type mapping").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use blazedb::dump::{self, DumpFormat, HashCheck, SchemaVersion, upstream_v1};
use blazedb::{Database, Options, Record, Timestamp, Uuid, Value};
use serde_json::Value as Json;

fn shared() -> PathBuf {
    match std::env::var_os("BLAZEDB_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

fn fixture(rel: &str) -> PathBuf {
    let p = shared().join("fixtures").join(rel);
    assert!(
        p.exists(),
        "fixture {} is missing (set BLAZEDB_SHARED_DIR)",
        p.display()
    );
    p
}

fn fresh_db(dir: &Path, name: &str) -> Database {
    Database::open(dir.join(name), Options::default()).expect("open")
}

/// Our value for one tagged value of expected.json (layout in the fixture README).
fn expected_value(j: &Json) -> Value {
    let t = j["type"].as_str().expect("type");
    match t {
        "string" => Value::String(j["value"].as_str().unwrap().to_string()),
        "int" => Value::Int(j["value"].as_i64().expect("i64")),
        "double" => {
            let bits = j["bits"].as_str().unwrap().trim_start_matches("0x");
            Value::Double(f64::from_bits(u64::from_str_radix(bits, 16).unwrap()))
        }
        "bool" => Value::Bool(j["value"].as_bool().unwrap()),
        "null" => Value::Null,
        "date" => {
            let bits = j["ref_bits"].as_str().unwrap().trim_start_matches("0x");
            let r = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
            Value::Date(Timestamp::from_apple_reference_seconds(r).unwrap())
        }
        "uuid" => Value::Uuid(Uuid::parse_str(j["value"].as_str().unwrap()).unwrap()),
        "data" => Value::Data(
            base64::engine::general_purpose::STANDARD
                .decode(j["base64"].as_str().unwrap())
                .unwrap(),
        ),
        "array" => Value::Array(
            j["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(expected_value)
                .collect(),
        ),
        "dictionary" => Value::Dictionary(
            j["entries"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), expected_value(v)))
                .collect(),
        ),
        "vector" => Value::Vector(
            j["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect(),
        ),
        other => panic!("unknown tagged type {other}"),
    }
}

fn expected_records(list: &Json) -> Vec<(Uuid, Record)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let id = Uuid::parse_str(r["id"].as_str().unwrap()).unwrap();
            let fields: BTreeMap<String, Value> = r["fields"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), expected_value(v)))
                .collect();
            (id, Record::from(fields))
        })
        .collect()
}

/// Exact comparison: same kinds, doubles and vector elements bit for bit. Returns the
/// first difference as a path.
fn diff(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) if x.to_bits() == y.to_bits() => None,
        (Value::Vector(x), Value::Vector(y))
            if x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()) =>
        {
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| diff(&format!("{path}[{i}]"), p, q)),
        (Value::Dictionary(x), Value::Dictionary(y)) => {
            if x.keys().ne(y.keys()) {
                return Some(format!("{path}: keys {:?} vs {:?}", x.keys(), y.keys()));
            }
            x.iter()
                .zip(y)
                .find_map(|((k, p), (_, q))| diff(&format!("{path}.{k}"), p, q))
        }
        (Value::Double(_) | Value::Vector(_) | Value::Array(_), _) => {
            Some(format!("{path}: {a:?} vs {b:?}"))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a:?} vs {b:?}")),
    }
}

fn assert_same_records(what: &str, ours: &[Record], expected: &[(Uuid, Record)]) {
    assert_eq!(ours.len(), expected.len(), "{what}: record count");
    let mut fields = 0;
    for (r, (id, e)) in ours.iter().zip(expected) {
        assert_eq!(r.id(), Some(*id), "{what}: records in id order");
        let a = Value::Dictionary(r.fields().clone());
        let b = Value::Dictionary(e.fields().clone());
        if let Some(d) = diff(&format!("{id}"), &a, &b) {
            panic!("{what}: {d}");
        }
        fields += r.len();
    }
    assert!(fields > ours.len(), "{what}: compared real fields");
}

fn load(rel: &str) -> Json {
    serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

#[test]
fn every_fixture_verifies_against_its_manifest_hashes() {
    let cases = [
        (
            "blazedump/upstream-v0.1.3.blazedump",
            "hello",
            3,
            (0, 0),
            false,
        ),
        (
            "blazedump/upstream-v2.7.0.blazedump",
            "hello",
            3,
            (0, 0),
            false,
        ),
        (
            "upstream-2.8.1/small/small.blazedump",
            "small",
            20,
            (0, 0),
            true,
        ),
        (
            "upstream-2.8.1/tracker/tracker.blazedump",
            "tracker",
            300,
            (1, 2),
            true,
        ),
    ];
    for (rel, name, count, (major, minor), exact) in cases {
        let path = fixture(rel);
        let info = dump::verify(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let raw: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(info.format, DumpFormat::UpstreamV1, "{rel}");
        assert_eq!(info.format_version, 1, "{rel}");
        assert_eq!(info.source, name, "{rel}");
        assert_eq!(info.record_count, count, "{rel}");
        assert_eq!(
            info.schema_version,
            Some(SchemaVersion { major, minor }),
            "{rel}"
        );
        assert_eq!(info.tool_version.as_deref(), Some("BlazeDB-1.0"), "{rel}");
        assert_eq!(info.header_sha256, raw["manifest"]["headerHash"], "{rel}");
        assert_eq!(info.payload_sha256, raw["manifest"]["payloadHash"], "{rel}");
        assert_eq!(
            info.payload_bytes,
            raw["manifest"]["payloadSize"].as_u64().unwrap()
        );
        assert_eq!(
            info.database_id
                .map(|u| u.to_string().to_uppercase())
                .as_deref(),
            raw["header"]["databaseId"].as_str(),
            "{rel}"
        );
        assert_eq!(
            info.created.to_rfc3339(),
            raw["header"]["exportedAt"].as_str().unwrap(),
            "{rel}"
        );
        if exact {
            assert_eq!(info.hash_check, HashCheck::Exact, "{rel}");
        } else {
            // Pre-2.8 exporters hashed an encoding in a member order the file does not
            // keep; the verifier found one that reproduces both hashes.
            assert!(
                matches!(info.hash_check, HashCheck::LegacyKeyOrder { .. }),
                "{rel}: {:?}",
                info.hash_check
            );
        }
    }
}

#[test]
fn legacy_fixtures_restore_with_their_ids_and_values() {
    for rel in [
        "blazedump/upstream-v0.1.3.blazedump",
        "blazedump/upstream-v2.7.0.blazedump",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_db(dir.path(), "legacy.blazedb");
        let report = dump::restore(fixture(rel), &db, "people").unwrap();
        assert_eq!(report.records, 3);
        let raw: Json = serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap();
        for r in raw["records"].as_array().unwrap() {
            let s = &r["storage"];
            let id = Uuid::parse_str(s["id"].as_str().unwrap()).unwrap();
            let got = db.get("people", id).unwrap().expect("restored with its id");
            assert_eq!(got.len(), 6, "{rel}: no field added or lost");
            assert_eq!(got.get("name").and_then(Value::as_str), s["name"].as_str());
            assert_eq!(
                got.get("age"),
                Some(&Value::Int(s["age"].as_i64().unwrap()))
            );
            assert_eq!(
                got.get("active"),
                Some(&Value::Bool(s["active"].as_bool().unwrap()))
            );
            assert_eq!(got.get("project"), Some(&Value::from("Default")));
            let created = Timestamp::parse_rfc3339(s["createdAt"].as_str().unwrap()).unwrap();
            assert_eq!(got.get("createdAt"), Some(&Value::Date(created)));
        }
        assert_eq!(db.count("people").unwrap(), 3);
    }
}

fn restore_281(name: &str) -> (tempfile::TempDir, Database, Vec<Record>) {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(dir.path(), &format!("{name}.blazedb"));
    let path = fixture(&format!("upstream-2.8.1/{name}/{name}.blazedump"));
    let report = dump::restore(&path, &db, name).unwrap();
    let restored = db.all(name).unwrap();
    assert_eq!(report.records, restored.len() as u64);
    (dir, db, restored)
}

#[test]
fn restores_match_what_upstream_decodes_field_by_field() {
    for name in ["small", "tracker"] {
        let (_dir, db, restored) = restore_281(name);
        let e = load(&format!("upstream-2.8.1/{name}/expected.json"));
        assert_eq!(
            e["dump"]["record_count"].as_u64(),
            Some(restored.len() as u64)
        );
        assert_eq!(e["live_record_count"].as_u64(), Some(restored.len() as u64));
        let expected = expected_records(&e["dump"]["records_as_upstream_decodes"]);
        assert_same_records(name, &restored, &expected);
        assert_eq!(db.count(name).unwrap(), restored.len() as u64);
    }
}

#[test]
fn restores_match_the_database_up_to_the_documented_v1_type_limits() {
    // expected.json's `records` is what upstream's database held; the dump could not carry
    // every type. The one normalisation: pass the database's value through
    // `upstream_v1::round_trip`, the documented v1 type limits (data becomes its base64
    // string, dates lose their fraction, whole doubles become ints, number arrays become
    // vectors, UUID- and date-shaped strings get their types back). Everything else must be
    // equal bit for bit, including the corrupted vectors, which the dump holds as upstream
    // read them back.
    for name in ["small", "tracker"] {
        let (_dir, _db, restored) = restore_281(name);
        let e = load(&format!("upstream-2.8.1/{name}/expected.json"));
        let expected: Vec<(Uuid, Record)> = expected_records(&e["records"])
            .into_iter()
            .map(|(id, r)| {
                let fields = r
                    .into_iter()
                    .map(|(k, v)| (k, upstream_v1::round_trip(&v)))
                    .collect::<BTreeMap<_, _>>();
                (id, Record::from(fields))
            })
            .collect();
        assert_same_records(name, &restored, &expected);
    }
}

#[test]
fn reexport_reproduces_upstreams_bytes_exactly() {
    for name in ["small", "tracker"] {
        let (dir, db, _) = restore_281(name);
        let path = fixture(&format!("upstream-2.8.1/{name}/{name}.blazedump"));
        let original = std::fs::read(&path).unwrap();
        let info = upstream_v1::verify(&path).unwrap();
        let options = upstream_v1::ExportOptions {
            database_name: Some(info.source.clone()),
            database_id: info.database_id,
            exported_at: Some(info.created),
            schema_version: info.schema_version,
            tool_version: info.tool_version.clone(),
        };
        let out = dir.path().join("again.blazedump");
        let report = upstream_v1::export_with(&db, name, &out, &options).unwrap();
        let again = std::fs::read(&out).unwrap();
        assert_eq!(report.bytes, again.len() as u64);
        if again != original {
            let at = again
                .iter()
                .zip(&original)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let lo = at.saturating_sub(80);
            panic!(
                "{name}: re-export differs at byte {at}:\n ours: {}\n upstream: {}",
                String::from_utf8_lossy(&again[lo..(at + 80).min(again.len())]),
                String::from_utf8_lossy(&original[lo..(at + 80).min(original.len())])
            );
        }
        assert_eq!(report.header_sha256, info.header_sha256);
        assert_eq!(report.payload_sha256, info.payload_sha256);
    }
}

#[test]
fn corrupted_vectors_can_be_repaired_towards_what_the_writer_meant() {
    let e = load("upstream-2.8.1/tracker/expected.json");
    let mut checked = 0;
    for r in e["dump"]["records_as_upstream_decodes"].as_array().unwrap() {
        let Some(v) = r["fields"].get("embedding") else {
            continue;
        };
        let values = v["values"].as_array().unwrap();
        let meant = v["high32_as_double"].as_array().unwrap();
        for (x, m) in values.iter().zip(meant) {
            let got = upstream_v1::upstream_vector_high32(x.as_f64().unwrap());
            assert_eq!(got.to_bits(), m.as_f64().unwrap().to_bits(), "{x} -> {m}");
            checked += 1;
        }
    }
    assert!(checked > 1000, "checked {checked} elements");
}

#[test]
fn restore_refuses_a_collection_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(dir.path(), "busy.blazedb");
    let id = db.insert("small", Record::new().with("x", 1)).unwrap();
    let err = dump::restore(
        fixture("upstream-2.8.1/small/small.blazedump"),
        &db,
        "small",
    )
    .unwrap_err();
    assert!(
        matches!(&err, blazedb::Error::InvalidInput(m) if m.contains("not empty")),
        "{err}"
    );
    assert_eq!(db.count("small").unwrap(), 1);
    assert!(db.get("small", id).unwrap().is_some());
    // A soft-deleted record also makes it non-empty.
    db.soft_delete("small", id).unwrap();
    assert!(
        dump::restore(
            fixture("upstream-2.8.1/small/small.blazedump"),
            &db,
            "small"
        )
        .is_err()
    );
    assert_eq!(db.collections().unwrap(), vec!["small".to_string()]);
}
