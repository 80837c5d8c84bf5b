//! `backup`, `verify-backup`, `compact`, `schema`, key files, and `demo`.

mod common;

use blazedb::{Database, Options, Record};
use common::*;
use predicates::prelude::*;

#[test]
fn backup_keeps_encryption_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.blazedb");
    make_db(&db, true);
    let before = bytes(&db);
    let backup = dir.path().join("e.backup.blazedb");
    let j = ok_json(
        cli_pw(PASSWORD)
            .args(["backup", "--json"])
            .arg(&db)
            .arg(&backup),
    );
    assert_eq!(
        (
            j["records"].as_u64(),
            j["soft_deleted"].as_u64(),
            j["encrypted"].as_bool()
        ),
        (Some(21), Some(2), Some(true))
    );
    assert!(before == bytes(&db), "backup wrote to the source");
    assert!(blazedb::ops::file_is_encrypted(&backup));
    let b = Database::open(&backup, options(true).read_only(true)).unwrap();
    assert_eq!(b.count("bugs").unwrap(), 18);
    b.close().unwrap();
    let bb = bytes(&backup);
    let v = ok_json(
        cli_pw(PASSWORD)
            .args(["verify-backup", "--json"])
            .arg(&backup),
    );
    assert_eq!(v["ok"], true);
    assert_eq!(v["integrity"]["storage"]["status"], "passed");
    assert!(bb == bytes(&backup), "verify-backup wrote to the backup");
    // Never over an existing file; wrong password refused.
    cli_pw(PASSWORD)
        .arg("backup")
        .arg(&db)
        .arg(&backup)
        .assert()
        .code(5);
    cli_pw("Wrong-Horse-00")
        .arg("verify-backup")
        .arg(&backup)
        .assert()
        .code(3);
    // A plaintext backup only when asked.
    let plain = dir.path().join("plain.blazedb");
    cli_pw(PASSWORD)
        .args(["backup", "--plaintext"])
        .arg(&db)
        .arg(&plain)
        .assert()
        .success();
    assert!(!blazedb::ops::file_is_encrypted(&plain));
    cli()
        .arg("verify-backup")
        .arg(&plain)
        .assert()
        .success()
        .stdout(predicate::str::contains("sound"));
    // A damaged backup fails verification.
    let bad = dir.path().join("bad.blazedb");
    damaged_copy(&backup, &bad);
    let b4 = bytes(&bad);
    cli_pw(PASSWORD)
        .arg("verify-backup")
        .arg(&bad)
        .assert()
        .code(1);
    assert!(b4 == bytes(&bad), "the file changed");
}

#[test]
fn compact_reports_reclaimed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.blazedb");
    {
        let db = Database::open(&p, Options::default()).unwrap();
        let ids = db
            .insert_many(
                "bugs",
                (0..3000)
                    .map(|i| Record::new().with("i", i).with("pad", "q".repeat(500)))
                    .collect(),
            )
            .unwrap();
        db.delete_many("bugs", &ids[..2900]).unwrap();
        db.close().unwrap();
    }
    let j = ok_json(cli().args(["compact", "--json"]).arg(&p));
    assert!(j["bytes_reclaimed"].as_u64().unwrap() > 0, "{j}");
    assert!(j["bytes_after"].as_u64() < j["bytes_before"].as_u64());
    let db = Database::open(&p, Options::default().read_only(true)).unwrap();
    assert_eq!(db.count("bugs").unwrap(), 100);
}

#[test]
fn schema_version_can_be_read_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.blazedb");
    make_db(&p, false);
    cli()
        .arg("schema")
        .arg(&p)
        .assert()
        .success()
        .stdout("unset\n");
    cli()
        .args(["schema", "--set", "1.2"])
        .arg(&p)
        .assert()
        .success();
    let out = ok_stdout(cli().args(["schema", "--json"]).arg(&p));
    assert_eq!(json_out(&out)["schema_version"]["minor"], 2);
    let before = bytes(&p);
    cli()
        .args(["schema", "--set", "one.two"])
        .arg(&p)
        .assert()
        .code(2);
    assert!(before == bytes(&p), "the file changed");
    let out = ok_stdout(cli().args(["info", "--json"]).arg(&p));
    assert_eq!(json_out(&out)["schema_version"]["major"], 1);
}

#[test]
fn key_files_raw_hex_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let key = [0x42u8; 32];
    let p = dir.path().join("k.blazedb");
    {
        let db = Database::open(&p, Options::default().key(key)).unwrap();
        db.insert("bugs", Record::new().with("t", "x")).unwrap();
        db.close().unwrap();
    }
    let raw = dir.path().join("raw.key");
    std::fs::write(&raw, key).unwrap();
    cli()
        .args(["info", "--key-file"])
        .arg(&raw)
        .arg(&p)
        .assert()
        .success();
    let hex = dir.path().join("hex.key");
    std::fs::write(&hex, format!("{}\n", "42".repeat(32))).unwrap();
    cli()
        .args(["info", "--key-file"])
        .arg(&hex)
        .arg(&p)
        .assert()
        .success();
    // The same bytes read as a password do not open it.
    cli()
        .args(["info", "--key-format", "password", "--key-file"])
        .arg(&hex)
        .arg(&p)
        .assert()
        .code(3);
    let short = dir.path().join("short.key");
    std::fs::write(&short, [1u8; 7]).unwrap();
    cli()
        .args(["info", "--key-format", "raw", "--key-file"])
        .arg(&short)
        .arg(&p)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("32"));
    cli()
        .args(["info", "--key-file"])
        .arg(dir.path().join("nokey"))
        .arg(&p)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("key file"));
    // A password file for a password database; the key file wins over BLAZEDB_PASSWORD.
    let pw_db = dir.path().join("pw.blazedb");
    make_db(&pw_db, true);
    let pwf = dir.path().join("pw.txt");
    std::fs::write(&pwf, format!("{PASSWORD}\n")).unwrap();
    cli_pw("wrong")
        .args(["info", "--key-file"])
        .arg(&pwf)
        .arg(&pw_db)
        .assert()
        .success();
    // There is no password argument at all.
    cli()
        .args(["info", "--password", PASSWORD])
        .arg(&pw_db)
        .assert()
        .code(2);
}

#[test]
fn demo_builds_a_sample_database() {
    let dir = tempfile::tempdir().unwrap();
    let j = ok_json(
        cli()
            .args(["demo", "--json", "--issues", "120", "--dir"])
            .arg(dir.path()),
    );
    assert_eq!(j["backup_ok"], true);
    assert_eq!(j["integrity_ok"], true);
    let db = std::path::PathBuf::from(j["database"].as_str().unwrap());
    cli().arg("doctor").arg(&db).assert().success();
    cli()
        .arg("verify")
        .arg(j["dump"].as_str().unwrap())
        .assert()
        .success();
    cli()
        .args(["demo", "--dir"])
        .arg(dir.path())
        .assert()
        .code(5);
    cli()
        .args(["demo", "--issues", "60", "--dir"])
        .arg(dir.path().join("again"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Open issues with priority >= 4")
                .and(predicate::str::contains("Health: OK")),
        );
}
