//! Damaged, edited, truncated and missing dumps are refused with a typed error, and a
//! refused restore writes nothing; a failed export leaves no file behind.

use std::path::{Path, PathBuf};

use blazedb::dump::{self, lossless, upstream_v1};
use blazedb::{Database, Error, Options, Record, Timestamp, Uuid, Value};

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

/// A database that already holds an unrelated collection, so "nothing written" also means
/// "the collection list did not change".
fn target(dir: &Path) -> Database {
    let db = Database::open(dir.join("target.blazedb"), Options::default()).unwrap();
    db.insert("keep", Record::new().with("k", 1)).unwrap();
    db
}

fn assert_untouched(db: &Database, collection: &str) {
    assert_eq!(db.collections().unwrap(), vec!["keep".to_string()]);
    assert_eq!(db.count(collection).unwrap(), 0);
    assert_eq!(db.count("keep").unwrap(), 1);
}

/// Writes `bytes` over `path` in place when the size is unchanged. Truncating and
/// rewriting a file makes some file systems (ext4's `auto_da_alloc`) flush it, which would
/// make thousands of tampered copies slow.
fn overwrite(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    match std::fs::metadata(path) {
        Ok(m) if m.len() == bytes.len() as u64 => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            f.write_all(bytes).unwrap();
        }
        _ => std::fs::write(path, bytes).unwrap(),
    }
}

fn refused(e: &Error) -> bool {
    matches!(e, Error::CorruptedData(_) | Error::InvalidData(_))
}

/// A different byte for position `i` of `bytes`: another ASCII character for an ASCII byte
/// (a non-ASCII byte is replaced by an ASCII one, which also breaks its UTF-8 sequence).
fn flip(bytes: &[u8], i: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[i] = match b[i] {
        b'0' => b'1',
        b'a'..=b'y' | b'A'..=b'Y' | b'1'..=b'8' => b[i] + 1,
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        b'"' => b'\'',
        b' ' => b'_',
        _ => b'x',
    };
    b
}

#[test]
fn every_changed_byte_of_an_upstream_dump_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = target(dir.path());
    let original = std::fs::read(fixture("upstream-2.8.1/small/small.blazedump")).unwrap();
    let path = dir.path().join("t.blazedump");
    // A flip that puts keys out of order makes the file look like a pre-2.8 dump, which
    // starts the legacy key-order search; a small budget keeps each refusal quick. Every
    // 50th byte also goes through the default path.
    let quick = upstream_v1::VerifyOptions {
        legacy_search_budget: 1 << 20,
    };
    let mut hash_errors = 0;
    for i in 0..original.len() {
        overwrite(&path, &flip(&original, i));
        let err = upstream_v1::restore_with(&path, &db, "small", &quick)
            .expect_err(&format!("byte {i} accepted"));
        assert!(refused(&err), "byte {i}: {err:?}");
        if err.to_string().contains("hash mismatch") {
            hash_errors += 1;
        }
        if i % 50 == 0 {
            let err = dump::restore(&path, &db, "small").expect_err(&format!("byte {i} accepted"));
            assert!(refused(&err), "byte {i}: {err:?}");
        }
    }
    assert!(
        hash_errors > original.len() / 2,
        "{hash_errors} hash errors"
    );
    assert_untouched(&db, "small");
    // The untouched file still restores.
    std::fs::write(&path, &original).unwrap();
    assert_eq!(dump::restore(&path, &db, "small").unwrap().records, 20);
}

#[test]
fn a_changed_record_value_names_the_payload_hash() {
    let dir = tempfile::tempdir().unwrap();
    let db = target(dir.path());
    let text = std::fs::read_to_string(fixture("upstream-2.8.1/small/small.blazedump")).unwrap();
    let path = dir.path().join("t.blazedump");
    std::fs::write(&path, text.replace("\"age\":21", "\"age\":22")).unwrap();
    let err = dump::restore(&path, &db, "small").unwrap_err();
    assert!(
        matches!(&err, Error::CorruptedData(m) if m.contains("payload hash mismatch")),
        "{err}"
    );
    std::fs::write(
        &path,
        text.replace("\"databaseName\":\"small\"", "\"databaseName\":\"smalL\""),
    )
    .unwrap();
    let err = dump::restore(&path, &db, "small").unwrap_err();
    assert!(
        matches!(&err, Error::CorruptedData(m) if m.contains("header hash mismatch")),
        "{err}"
    );
    assert_untouched(&db, "small");
}

#[test]
fn changed_bytes_of_a_legacy_upstream_dump_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = target(dir.path());
    let original = std::fs::read(fixture("blazedump/upstream-v2.7.0.blazedump")).unwrap();
    let path = dir.path().join("t.blazedump");
    // A small search budget keeps the refusals quick; the untouched file needs far less.
    let options = upstream_v1::VerifyOptions {
        legacy_search_budget: 4 << 20,
    };
    std::fs::write(&path, &original).unwrap();
    upstream_v1::verify_with(&path, &options).unwrap();
    for i in (0..original.len()).step_by(3) {
        overwrite(&path, &flip(&original, i));
        let err = upstream_v1::restore_with(&path, &db, "hello", &options)
            .expect_err(&format!("byte {i} accepted"));
        assert!(refused(&err), "byte {i}: {err:?}");
    }
    assert_untouched(&db, "hello");
}

fn lossless_dump(dir: &Path) -> PathBuf {
    let src = Database::open(dir.join("src.blazedb"), Options::default()).unwrap();
    src.insert_many(
        "bugs",
        (0..5)
            .map(|i| {
                Record::new()
                    .with("title", format!("bug {i} ✓"))
                    .with("when", Timestamp::new(1_700_000_000 + i, 5))
                    .with("blob", vec![i as u8; 3])
                    .with("emb", vec![0.5, f64::from(i as i32)])
                    .with("ref", Uuid::from_u128(i as u128))
            })
            .collect(),
    )
    .unwrap();
    src.insert("notes", Record::new().with("n", Value::Null))
        .unwrap();
    let path = dir.join("src.blazedump");
    dump::export(&src, &path).unwrap();
    path
}

#[test]
fn every_changed_byte_of_a_lossless_dump_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(lossless_dump(dir.path())).unwrap();
    let db = target(dir.path());
    let path = dir.path().join("t.blazedump");
    for i in 0..original.len() {
        overwrite(&path, &flip(&original, i));
        let err = lossless::restore(&path, &db).expect_err(&format!("byte {i} accepted"));
        assert!(refused(&err), "byte {i}: {err:?}");
    }
    assert_untouched(&db, "bugs");
    assert_eq!(db.count("notes").unwrap(), 0);
    std::fs::write(&path, &original).unwrap();
    assert_eq!(lossless::restore(&path, &db).unwrap().records, 6);
}

#[test]
fn lossless_errors_name_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(lossless_dump(dir.path())).unwrap();
    let db = target(dir.path());
    let path = dir.path().join("t.blazedump");
    let cases = [
        (text.replacen("bug 1", "bug 7", 1), "payload hash mismatch"),
        (
            text.replacen("\"bugs\"", "\"bugz\"", 1),
            "header hash mismatch",
        ),
        (text[..text.len() - 1].to_string(), "truncated"),
        (text[..text.len() / 2].to_string(), "truncated"),
        (format!("{text}{{\"c\":0}}\n"), "after the manifest"),
    ];
    for (bad, want) in cases {
        std::fs::write(&path, bad).unwrap();
        let err = lossless::restore(&path, &db).unwrap_err();
        assert!(
            matches!(&err, Error::CorruptedData(m) if m.contains(want)),
            "want {want:?}, got {err}"
        );
    }
    // Two copies of one record line (and counts edited to match) is caught too: the
    // manifest still covers the old payload.
    let line = text.lines().nth(1).unwrap();
    std::fs::write(&path, text.replacen(line, &format!("{line}\n{line}"), 1)).unwrap();
    assert!(lossless::restore(&path, &db).is_err());
    assert_untouched(&db, "bugs");
}

#[test]
fn truncated_malformed_and_missing_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = target(dir.path());
    let path = dir.path().join("t.blazedump");
    let upstream = std::fs::read(fixture("upstream-2.8.1/small/small.blazedump")).unwrap();
    let ours = std::fs::read(lossless_dump(dir.path())).unwrap();
    for original in [&upstream, &ours] {
        for cut in (0..original.len()).step_by(37) {
            std::fs::write(&path, &original[..cut]).unwrap();
            let err = dump::verify(&path).expect_err("truncated file accepted");
            assert!(refused(&err), "cut {cut}: {err:?}");
            assert!(dump::restore(&path, &db, "t").is_err());
        }
    }
    for junk in [
        &b""[..],
        b"not json",
        b"{}",
        b"[]",
        b"null",
        b"{\"header\":1,\"records\":[],\"manifest\":{}}",
        b"{\"format\":\"blazedb.dump\"}\n",
        b"{\"format\":\"blazedb.dump\",\"version\":2}\n{\"manifest\":{}}\n",
        &[0xff, 0xfe, 0x00, 0x7b],
        &[b'['; 100_000],
    ] {
        std::fs::write(&path, junk).unwrap();
        let err = dump::verify(&path).expect_err("junk accepted");
        assert!(refused(&err), "{junk:?}: {err:?}");
        assert!(dump::restore(&path, &db, "t").is_err());
    }
    let missing = dir.path().join("nope.blazedump");
    assert!(
        matches!(dump::verify(&missing), Err(Error::InvalidInput(m)) if m.contains("no dump file"))
    );
    assert!(matches!(
        dump::restore(&missing, &db, "t"),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        dump::verify(dir.path()),
        Err(Error::InvalidInput(_))
    ));
    assert_untouched(&db, "t");
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

#[test]
fn a_failed_export_leaves_no_partial_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db.blazedb"), Options::default()).unwrap();
    db.insert("c", Record::new().with("x", 1.5)).unwrap();
    let out = dir.path().join("out.blazedump");

    // Replacing an existing dump: the old bytes stay until the new file is complete.
    upstream_v1::export(&db, "c", &out).unwrap();
    let before = std::fs::read(&out).unwrap();
    db.insert("c", Record::new().with("bad", f64::NAN)).unwrap();
    let err = upstream_v1::export(&db, "c", &out).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidData(m) if m.contains("bad")),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert!(leftovers(dir.path()).is_empty());

    // The lossless format takes the NaN, and replaces the old file whole.
    let report = dump::export(&db, &out).unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(dump::verify(&out).unwrap().record_count, 2);

    // A directory in the way, or no directory at all: an error and nothing left behind.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    assert!(dump::export(&db, &blocked).is_err());
    assert!(blocked.is_dir());
    let nowhere = dir.path().join("missing/dir/out.blazedump");
    assert!(matches!(
        dump::export(&db, &nowhere),
        Err(Error::InvalidInput(_))
    ));
    assert!(!nowhere.exists());
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}
