//! What an attacker with the file sees and can do: no marker is readable without the key,
//! and a flipped byte anywhere is an error, never wrong data and never a panic.

use std::collections::BTreeMap;

use blazedb::{Database, Error, KdfParams, Options, Record, Value};

const PASSWORD: &str = "Marker-Scan-Pass-7";

fn enc() -> Options {
    Options::default().password(PASSWORD).kdf_params(KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    })
}

const MARKERS: &[&str] = &[
    "ZQXTITLEMARKER",
    "ZQXFIELDNAMEMARKER",
    "ZQXCOLLECTIONMARKER",
    "ZQXNESTEDMARKER",
    "ZQXDATAMARKER",
    "ZQXUPDATEDMARKER",
    "ZQXDELETEDMARKER",
    "ZQXPROJECTMARKER",
];

/// Writes every marker through every path a value takes: values, field names, collection
/// names, nested dictionaries, data blobs, updates, deletes, soft deletes and compaction.
fn write_markers(db: &Database) -> Vec<blazedb::Uuid> {
    let coll = "ZQXCOLLECTIONMARKER";
    let mut ids = Vec::new();
    for i in 0..300 {
        let nested: BTreeMap<String, Value> = [(
            "inner".to_string(),
            Value::from(format!("ZQXNESTEDMARKER {i}")),
        )]
        .into_iter()
        .collect();
        let r = Record::new()
            .with("title", format!("ZQXTITLEMARKER number {i}"))
            .with("ZQXFIELDNAMEMARKER", i as i64)
            .with("nested", Value::Dictionary(nested))
            .with("blob", Value::Data(b"ZQXDATAMARKER".repeat(3)))
            .with("project", "ZQXPROJECTMARKER");
        ids.push(db.insert(coll, r).unwrap());
    }
    for id in &ids[..50] {
        db.update_fields(coll, *id, Record::new().with("status", "ZQXUPDATEDMARKER"))
            .unwrap();
    }
    for id in &ids[50..100] {
        db.update(coll, *id, Record::new().with("title", "ZQXDELETEDMARKER"))
            .unwrap();
    }
    db.delete_many(coll, &ids[50..100]).unwrap();
    for id in &ids[100..120] {
        db.soft_delete(coll, *id).unwrap();
    }
    db.purge(coll).unwrap();
    db.compact().unwrap();
    ids
}

fn encodings(marker: &str) -> Vec<Vec<u8>> {
    let utf16le: Vec<u8> = marker.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be: Vec<u8> = marker.encode_utf16().flat_map(u16::to_be_bytes).collect();
    vec![marker.as_bytes().to_vec(), utf16le, utf16be]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_marker_is_readable_in_the_encrypted_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("markers.blazedb");
    let db = Database::open(&path, enc()).unwrap();
    let ids = write_markers(&db);
    db.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for m in MARKERS {
        for e in encodings(m) {
            assert!(!contains(&bytes, &e), "marker {m} readable in the file");
        }
        // Prefixes too: a marker split across a page boundary must not show either.
        assert!(
            !contains(&bytes, &m.as_bytes()[..8]),
            "prefix of {m} readable"
        );
    }
    for id in &ids {
        assert!(!contains(&bytes, id.as_bytes()), "record id {id} readable");
        assert!(!contains(&bytes, id.to_string().as_bytes()));
    }
    for name in [
        "blazedb.meta",
        "blazedb.collections",
        "blazedb.records",
        "format_version",
    ] {
        assert!(
            !contains(&bytes, name.as_bytes()),
            "table name {name} readable"
        );
    }
    // The data is all there for the key holder.
    let db = Database::open(&path, enc()).unwrap();
    assert_eq!(db.count("ZQXCOLLECTIONMARKER").unwrap(), 230);
}

#[test]
fn the_same_scan_finds_the_markers_in_a_plaintext_file() {
    // The control: proves the scan above would see a marker if one were there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.blazedb");
    let db = Database::open(&path, Options::default()).unwrap();
    write_markers(&db);
    db.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for m in [
        "ZQXTITLEMARKER",
        "ZQXFIELDNAMEMARKER",
        "ZQXCOLLECTIONMARKER",
    ] {
        assert!(contains(&bytes, m.as_bytes()), "control scan missed {m}");
    }
}

/// Everything a reader can see: every collection's records.
fn snapshot(db: &Database) -> blazedb::Result<Vec<(String, Vec<Record>)>> {
    let mut out = Vec::new();
    for c in db.collections()? {
        let all = db.all(&c)?;
        out.push((c, all));
    }
    Ok(out)
}

#[test]
fn a_flipped_byte_anywhere_is_an_error_never_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tamper.blazedb");
    let db = Database::open(&path, enc()).unwrap();
    let ids = db
        .insert_many(
            "c",
            (0..2000)
                .map(|i| {
                    Record::new()
                        .with("i", i as i64)
                        .with("pad", "p".repeat(100))
                })
                .collect(),
        )
        .unwrap();
    // Free some pages so the file holds unreferenced blocks too.
    db.delete_many("c", &ids[..1500]).unwrap();
    db.insert("d", Record::new().with("x", 1)).unwrap();
    let expected = snapshot(&db).unwrap();
    db.close().unwrap();
    let original = std::fs::read(&path).unwrap();
    let len = original.len();
    let block = 4096 + 36;
    let data_start = 8192 + 2 * block;
    let mut offsets = vec![
        0,
        5,
        11,
        16,
        30,
        50,
        70,
        100,
        200,
        4000,
        4095, // key slot A
        4096,
        4106,
        4200,
        8000,
        8191, // key slot B
        8192,
        8200,
        8192 + 30,
        8192 + 500,
        8192 + block - 1, // block 0, copy A
        8192 + block,
        8192 + block + 40,
        8192 + 2 * block - 1, // block 0, copy B
        data_start,
        data_start + 13,
        data_start + 25,
        data_start + 40,
        len - 1,
    ];
    let step = (len - data_start) / 40;
    offsets.extend((0..40).map(|i| data_start + 7 + i * step));
    let tampered = dir.path().join("t.blazedb");
    let mut outcomes = BTreeMap::<&str, usize>::new();
    for &off in &offsets {
        let mut bytes = original.clone();
        bytes[off] ^= 0x40;
        std::fs::write(&tampered, &bytes).unwrap();
        let outcome = match Database::open(&tampered, enc()) {
            Err(Error::CorruptedData(_)) => "refused at open",
            Err(other) => panic!("offset {off}: open failed with a vague error: {other:?}"),
            Ok(db) => {
                let read = snapshot(&db);
                let outcome = match read {
                    Err(Error::CorruptedData(_)) => "error on access",
                    Err(other) => panic!("offset {off}: read failed with {other:?}"),
                    Ok(seen) => {
                        assert_eq!(seen, expected, "offset {off}: tampering changed data");
                        let problems = db.verify_encryption().unwrap();
                        assert!(
                            !problems.is_empty(),
                            "offset {off}: a flipped byte went unnoticed"
                        );
                        assert!(!db.check_integrity().unwrap());
                        "found by the integrity check"
                    }
                };
                let _ = db.close();
                outcome
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    assert_eq!(outcomes.values().sum::<usize>(), offsets.len());
    assert!(outcomes.contains_key("refused at open"), "{outcomes:?}");
    assert!(
        outcomes.contains_key("found by the integrity check"),
        "{outcomes:?}"
    );
}

#[test]
fn truncated_and_extended_files_are_corrupted_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trunc.blazedb");
    let db = Database::open(&path, enc()).unwrap();
    db.insert("c", Record::new().with("v", 1)).unwrap();
    db.close().unwrap();
    let original = std::fs::read(&path).unwrap();
    for cut in [100, 5000, original.len() - 1] {
        let p = dir.path().join(format!("cut{cut}.blazedb"));
        std::fs::write(&p, &original[..cut]).unwrap();
        assert!(
            matches!(Database::open(&p, enc()), Err(Error::CorruptedData(_))),
            "cut at {cut}"
        );
    }
    let p = dir.path().join("ext.blazedb");
    let mut longer = original.clone();
    longer.extend_from_slice(&[0u8; 10]);
    std::fs::write(&p, &longer).unwrap();
    assert!(matches!(
        Database::open(&p, enc()),
        Err(Error::CorruptedData(_))
    ));
}
