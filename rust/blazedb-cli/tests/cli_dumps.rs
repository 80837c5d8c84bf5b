//! `dump`, `restore`, `verify` (upstream's argument order), including upstream's own
//! fixtures, tampered and malformed dumps, and refusals that leave everything as it was.

mod common;

use blazedb::{Database, Options, Record, Value};
use common::*;
use predicates::prelude::*;

#[test]
fn dump_verify_restore_round_trip_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let before = bytes(&db);
    let dump = dir.path().join("t.blazedump");
    let j = ok_json(cli().args(["dump", "--json"]).arg(&db).arg(&dump));
    assert_eq!(j["records"], 21);
    assert_eq!(j["format"], "lossless");
    assert!(before == bytes(&db), "dump wrote to the database");

    let v = ok_json(cli().args(["verify", "--json"]).arg(&dump));
    assert_eq!(v["ok"], true);
    assert_eq!(v["record_count"], 21);
    assert_eq!(v["hash_check"]["kind"], "exact");
    cli()
        .arg("verify")
        .arg(&dump)
        .assert()
        .success()
        .stdout(predicate::str::contains("verifies"));

    let restored = dir.path().join("r.blazedb");
    cli()
        .arg("restore")
        .arg(&dump)
        .arg(&restored)
        .assert()
        .success()
        .stdout(predicate::str::contains("Restored 21 records"));
    let a = Database::open(&db, Options::default().read_only(true)).unwrap();
    let b = Database::open(&restored, Options::default().read_only(true)).unwrap();
    for c in ["bugs", "users"] {
        assert_eq!(
            a.all(c).unwrap(),
            b.all(c).unwrap(),
            "{c} differs after the round trip"
        );
    }
}

#[test]
fn upstream_format_dump_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let dump = dir.path().join("bugs.blazedump");
    // Two collections: upstream dumps hold one, so the tool asks which.
    cli()
        .args(["dump", "--format", "upstream"])
        .arg(&db)
        .arg(&dump)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--collection"));
    assert!(!dump.exists());
    cli()
        .args(["dump", "--format", "upstream", "--collection", "bugs"])
        .arg(&db)
        .arg(&dump)
        .assert()
        .success();
    let out = ok_stdout(cli().args(["verify", "--json"]).arg(&dump));
    assert_eq!(json_out(&out)["format"], "upstream-v1");
    let restored = dir.path().join("r.blazedb");
    cli()
        .args(["restore", "--collection", "issues"])
        .arg(&dump)
        .arg(&restored)
        .assert()
        .success();
    let b = Database::open(&restored, Options::default().read_only(true)).unwrap();
    assert_eq!(b.count("issues").unwrap(), 18);
}

#[test]
fn every_upstream_fixture_restores_through_the_cli() {
    let fixtures = fixtures();
    let mut found = Vec::new();
    for sub in [
        "blazedump",
        "upstream-2.8.1/small",
        "upstream-2.8.1/tracker",
    ] {
        let d = fixtures.join(sub);
        assert!(
            d.is_dir(),
            "fixtures missing at {} (set BLAZEDB_SHARED_DIR)",
            d.display()
        );
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "blazedump") {
                found.push(p);
            }
        }
    }
    assert_eq!(found.len(), 4, "{found:?}");
    let dir = tempfile::tempdir().unwrap();
    for (i, dump) in found.iter().enumerate() {
        let before = bytes(dump);
        let v = ok_json(cli().args(["verify", "--json"]).arg(dump));
        let n = v["record_count"].as_u64().unwrap();
        let target = dir.path().join(format!("f{i}.blazedb"));
        let r = ok_json(cli().args(["restore", "--json"]).arg(dump).arg(&target));
        assert_eq!(r["records"].as_u64().unwrap(), n, "{}", dump.display());
        assert_eq!(r["created"], true);
        let db = Database::open(&target, Options::default().read_only(true)).unwrap();
        assert_eq!(db.count("default").unwrap(), n, "{}", dump.display());
        // Every restored record kept a UUID id.
        assert!(
            db.all("default")
                .unwrap()
                .iter()
                .all(|r| matches!(r.get("id"), Some(Value::Uuid(_))))
        );
        if let Some(sv) = v["schema_version"].as_object()
            && (sv["major"] != 0 || sv["minor"] != 0)
        {
            let got = db
                .schema_version()
                .unwrap()
                .expect("schema version restored");
            assert_eq!(got.major, sv["major"].as_i64().unwrap());
            assert_eq!(got.minor, sv["minor"].as_i64().unwrap());
        }
        db.close().unwrap();
        let out = ok_stdout(cli().args(["info", "--json"]).arg(&target));
        assert_eq!(json_out(&out)["records"].as_u64().unwrap(), n);
        assert!(before == bytes(dump), "restore wrote to the fixture");
    }
}

fn tampered(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let db = dir.join("t.blazedb");
    make_db(&db, false);
    let dump = dir.join("t.blazedump");
    cli().arg("dump").arg(&db).arg(&dump).assert().success();
    let text = std::fs::read_to_string(&dump).unwrap();
    let edited = text.replacen("Bug 7", "Bug 8", 1);
    assert_ne!(text, edited);
    let bad = dir.join("tampered.blazedump");
    std::fs::write(&bad, edited).unwrap();
    (db, bad)
}

#[test]
fn a_tampered_dump_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bad) = tampered(dir.path());
    cli()
        .arg("verify")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("refused").and(predicate::str::contains("hash")));
    let target = dir.path().join("new.blazedb");
    cli()
        .arg("restore")
        .arg(&bad)
        .arg(&target)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("refused"));
    assert!(!target.exists(), "a refused restore created the database");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // Into an existing (empty) database: unchanged, byte for byte.
    let existing = dir.path().join("existing.blazedb");
    Database::open(&existing, Options::default())
        .unwrap()
        .close()
        .unwrap();
    let before = bytes(&existing);
    cli()
        .arg("restore")
        .arg(&bad)
        .arg(&existing)
        .assert()
        .code(1);
    assert!(before == bytes(&existing), "the file changed");
}

#[test]
fn malformed_missing_and_upstream_tampered_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.blazedump");
    std::fs::write(&junk, b"{\"header\": not json").unwrap();
    cli()
        .arg("verify")
        .arg(&junk)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("refused"));
    let empty = dir.path().join("empty.blazedump");
    std::fs::write(&empty, b"").unwrap();
    cli().arg("verify").arg(&empty).assert().code(1);
    cli()
        .arg("verify")
        .arg(dir.path().join("missing.blazedump"))
        .assert()
        .code(5)
        .stderr(predicate::str::contains("no dump at"));
    let target = dir.path().join("x.blazedb");
    cli()
        .arg("restore")
        .arg(dir.path().join("missing.blazedump"))
        .arg(&target)
        .assert()
        .code(5);
    assert!(!target.exists());

    // An upstream fixture with one byte changed.
    let small = fixtures().join("upstream-2.8.1/small/small.blazedump");
    let mut b = bytes(&small);
    let pos = b.windows(9).position(|w| w == b"\"storage\"").unwrap() + 20;
    b[pos] = if b[pos] == b'a' { b'b' } else { b'a' };
    let bad = dir.path().join("small-bad.blazedump");
    std::fs::write(&bad, &b).unwrap();
    cli().arg("verify").arg(&bad).assert().code(1);
    cli().arg("restore").arg(&bad).arg(&target).assert().code(1);
    assert!(!target.exists());
}

#[test]
fn restore_refuses_a_non_empty_target_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let dump = dir.path().join("t.blazedump");
    cli().arg("dump").arg(&db).arg(&dump).assert().success();
    let before = bytes(&db);
    cli()
        .arg("restore")
        .arg(&dump)
        .arg(&db)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not empty"));
    assert!(before == bytes(&db), "the file changed");
    // dump refuses to replace a file unless --force.
    cli()
        .arg("dump")
        .arg(&db)
        .arg(&dump)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("--force"));
    cli()
        .args(["dump", "--force"])
        .arg(&db)
        .arg(&dump)
        .assert()
        .success();
}

#[test]
fn restore_into_a_new_encrypted_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, true);
    let dump = dir.path().join("t.blazedump");
    cli_pw(PASSWORD)
        .arg("dump")
        .arg(&db)
        .arg(&dump)
        .assert()
        .success();
    let target = dir.path().join("enc.blazedb");
    // --encrypt without a password and no terminal: refused, nothing created.
    cli()
        .args(["restore", "--encrypt"])
        .arg(&dump)
        .arg(&target)
        .assert()
        .code(3);
    assert!(!target.exists());
    let keyfile = dir.path().join("key.txt");
    std::fs::write(&keyfile, "Another-Horse-43\n").unwrap();
    cli()
        .args(["restore", "--key-file"])
        .arg(&keyfile)
        .arg(&dump)
        .arg(&target)
        .assert()
        .success();
    assert!(blazedb::ops::file_is_encrypted(&target));
    let b = Database::open(
        &target,
        Options::default()
            .password("Another-Horse-43")
            .read_only(true),
    )
    .unwrap();
    assert_eq!(b.count("bugs").unwrap(), 18);
    assert!(b.insert("bugs", Record::new()).is_err());
}
