//! `info`, `stats`, `doctor`, `check`: JSON shapes, exit codes, and that they never write.

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn info_and_stats_report_collections_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let before = bytes(&db);
    let j = ok_json(cli().args(["info", "--json"]).arg(&db));
    assert_eq!(j["records"], 21);
    assert_eq!(j["soft_deleted"], 2);
    assert_eq!(j["encrypted"], false);
    assert_eq!(j["collections"][0]["name"], "bugs");
    assert_eq!(j["collections"][0]["records"], 18);
    assert_eq!(j["index_count"], 0);
    assert_eq!(j["health"]["status"], "OK");
    let j = ok_json(cli().args(["stats", "--json"]).arg(&db));
    assert!(j["storage"]["fragmented_bytes"].is_u64());
    assert!(j["cache"]["read_hits"].is_u64());
    assert_eq!(j["records"], 21);
    cli()
        .arg("info")
        .arg(&db)
        .assert()
        .success()
        .stdout(predicate::str::contains("21 live, 2 soft-deleted"));
    cli()
        .arg("stats")
        .arg(&db)
        .assert()
        .success()
        .stdout(predicate::str::contains("Fragmented:"));
    assert!(before == bytes(&db), "info/stats wrote to the database");
}

#[test]
fn doctor_never_writes_plain_or_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    for encrypted in [false, true] {
        let db = dir.path().join(format!("d{encrypted}.blazedb"));
        make_db(&db, encrypted);
        let before = bytes(&db);
        let mut c = if encrypted { cli_pw(PASSWORD) } else { cli() };
        let j = ok_json(c.args(["doctor", "--json"]).arg(&db));
        assert_eq!(j["healthy"], true, "{j}");
        let names: Vec<&str> = j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"pages") && names.contains(&"records and counters"),
            "{names:?}"
        );
        if encrypted {
            assert!(names.contains(&"encryption"));
        }
        assert_eq!(j["integrity"]["storage"]["status"], "passed");
        let mut c = if encrypted { cli_pw(PASSWORD) } else { cli() };
        c.arg("doctor")
            .arg("--quick")
            .arg(&db)
            .assert()
            .success()
            .stdout(predicate::str::contains("Result: healthy"));
        assert!(
            before == bytes(&db),
            "doctor wrote to the database (encrypted: {encrypted})"
        );
    }
}

#[test]
fn wrong_or_missing_password_exits_3_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.blazedb");
    make_db(&db, true);
    let before = bytes(&db);
    for cmd in ["info", "stats", "doctor", "check", "compact", "schema"] {
        cli_pw("Wrong-Horse-00")
            .arg(cmd)
            .arg(&db)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("wrong password or key"));
        cli()
            .arg(cmd)
            .arg(&db)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("is encrypted"));
    }
    // JSON mode reports the error as JSON too.
    let out = cli_pw("nope")
        .args(["info", "--json"])
        .arg(&db)
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_out(&out)["error"]["kind"], "password");
    assert!(before == bytes(&db), "the file changed");
}

#[test]
fn missing_file_exits_5_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.blazedb");
    for cmd in ["info", "stats", "doctor", "check", "compact", "shell"] {
        cli()
            .arg(cmd)
            .arg(&missing)
            .assert()
            .code(5)
            .stderr(predicate::str::contains("no database at"));
    }
    assert!(!missing.exists(), "a command created the missing file");
    cli()
        .args(["info"])
        .arg(dir.path())
        .assert()
        .code(5)
        .stderr(predicate::str::contains("directory"));
}

#[test]
fn garbage_and_damaged_files_fail_clearly_and_stay_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.blazedb");
    std::fs::write(&junk, vec![0xabu8; 20_000]).unwrap();
    let before = bytes(&junk);
    for cmd in ["info", "stats", "doctor", "check"] {
        let a = cli().arg(cmd).arg(&junk).assert().code(1);
        let out = String::from_utf8_lossy(&a.get_output().stdout).to_string()
            + &String::from_utf8_lossy(&a.get_output().stderr);
        assert!(
            out.contains("cannot be opened") && !out.contains("panicked"),
            "{cmd}: {out}"
        );
    }
    assert!(before == bytes(&junk), "the file changed");

    // An encrypted database with damaged blocks: doctor and check find it, exit 1.
    let good = dir.path().join("good.blazedb");
    make_db(&good, true);
    let bad = dir.path().join("bad.blazedb");
    damaged_copy(&good, &bad);
    let before = bytes(&bad);
    for cmd in ["doctor", "check"] {
        let a = cli_pw(PASSWORD).arg(cmd).arg(&bad).assert().code(1);
        let out = String::from_utf8_lossy(&a.get_output().stdout).to_string()
            + &String::from_utf8_lossy(&a.get_output().stderr);
        assert!(
            out.contains("authenticat")
                || out.contains("damaged")
                || out.contains("PROBLEMS")
                || out.contains("problems"),
            "{cmd}: {out}"
        );
    }
    assert!(before == bytes(&bad), "the file changed");
}

#[test]
fn check_reports_ok_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.blazedb");
    make_db(&db, false);
    let before = bytes(&db);
    let j = ok_json(cli().args(["check", "--json"]).arg(&db));
    assert_eq!(j["ok"], true);
    assert_eq!(j["records_checked"], 23);
    assert_eq!(j["collections"][0]["tombstones_found"], 2);
    assert!(before == bytes(&db), "the file changed");
    cli()
        .args(["check", "--in-place"])
        .arg(&db)
        .assert()
        .success()
        .stdout(predicate::str::contains("OK"));
}

#[test]
fn a_locked_database_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("l.blazedb");
    make_db(&db, false);
    let held = blazedb::Database::open(&db, blazedb::Options::default()).unwrap();
    cli()
        .arg("info")
        .arg(&db)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("open for writing"));
    cli().arg("compact").arg(&db).assert().code(4);
    held.close().unwrap();
    cli().arg("info").arg(&db).assert().success();
}

#[test]
fn usage_errors_exit_2() {
    cli().arg("frobnicate").assert().code(2);
    cli().arg("info").assert().code(2);
    cli()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
}

#[test]
fn info_and_stats_count_the_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.blazedb");
    make_db(&db, false);
    {
        let d = blazedb::Database::open(&db, options(false)).unwrap();
        d.create_index("bugs", blazedb::IndexSpec::on("status"))
            .unwrap();
        d.create_index("bugs", blazedb::IndexSpec::compound(["status", "priority"]))
            .unwrap();
        d.close().unwrap();
    }
    let out = ok_stdout(cli().args(["info", "--json"]).arg(&db));
    assert_eq!(json_out(&out)["index_count"], 2);
    for cmd in ["info", "stats"] {
        cli()
            .arg(cmd)
            .arg(&db)
            .assert()
            .success()
            .stdout(predicate::str::is_match(r"Indexes: +2\n").unwrap());
    }
    // stats lists each tree with its entries and how full its pages are.
    cli()
        .arg("stats")
        .arg(&db)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"\| bugs +\| index status \(btree\) +\| 18 +\|").unwrap())
        .stdout(predicate::str::is_match(r"\| bugs +\| records +\| 20 +\|").unwrap())
        .stdout(predicate::str::contains("| fill |"));
    let j = ok_json(cli().args(["stats", "--json"]).arg(&db));
    let ix = &j["collections"][0]["indexes"];
    assert_eq!(ix[0]["name"], "status");
    assert_eq!(ix[1]["kind"], "btree");
    assert!(ix[0]["page_bytes"].as_u64() >= ix[0]["stored_bytes"].as_u64());
}
