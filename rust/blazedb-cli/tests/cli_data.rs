//! `import`, `export`, `query` and `shell`: formats, the filter language, bad input.

mod common;

use blazedb::{Database, Options, Value};
use common::*;
use predicates::prelude::*;

/// `blazedb export … | head` closes the pipe early: the CLI must end quietly (killed by
/// SIGPIPE, as `cat` is), not print an internal error about a panic.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("big.blazedb");
    let db = Database::open(&db_path, Options::default()).unwrap();
    let body = "x".repeat(200);
    db.insert_many(
        "notes",
        (0..3000)
            .map(|i| {
                blazedb::Record::new()
                    .with("n", i)
                    .with("body", body.as_str())
            })
            .collect(),
    )
    .unwrap();
    db.close().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blazedb"))
        .env_remove("BLAZEDB_PASSWORD")
        .args(["--no-prompt", "export"])
        .arg(&db_path)
        .arg("notes")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The read end is closed here; ~700 KB of output remain to be written.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

#[test]
fn export_and_import_json_ndjson_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let before = bytes(&db);
    for (ext, tagged) in [
        ("json", false),
        ("ndjson", false),
        ("csv", false),
        ("ndjson", true),
    ] {
        let out = dir.path().join(format!("bugs-{tagged}.{ext}"));
        let mut c = cli();
        c.args(["export", "--json"]).arg(&db).arg("bugs").arg(&out);
        if tagged {
            c.arg("--tagged");
        }
        let j = ok_json(&mut c);
        assert_eq!(j["records"], 18, "{ext}");
        let target = dir.path().join(format!("imported-{ext}-{tagged}.blazedb"));
        let mut c = cli();
        c.args(["import", "--json"])
            .arg(&target)
            .arg("bugs")
            .arg(&out);
        if tagged {
            c.arg("--tagged");
        }
        let j = ok_json(&mut c);
        assert_eq!(
            (j["records"].as_u64(), j["created"].as_bool()),
            (Some(18), Some(true))
        );
        let src = Database::open(&db, Options::default().read_only(true)).unwrap();
        let dst = Database::open(&target, Options::default().read_only(true)).unwrap();
        let (a, b) = (src.all("bugs").unwrap(), dst.all("bugs").unwrap());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.id(), y.id(), "{ext}: ids kept");
            assert_eq!(x.get("title"), y.get("title"));
            assert_eq!(
                x.get("priority").and_then(Value::as_int),
                y.get("priority").and_then(Value::as_int)
            );
            if tagged {
                assert_eq!(x, y, "tagged NDJSON keeps every value exactly");
            }
        }
        src.close().unwrap();
        dst.close().unwrap();
    }
    // To standard output, filtered.
    let out = ok_stdout(
        cli()
            .args(["export", "--format", "ndjson", "--where", "priority >= 4"])
            .arg(&db)
            .arg("bugs"),
    );
    let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let j: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(j["priority"].as_i64().unwrap() >= 4);
    }
    assert!(before == bytes(&db), "export wrote to the database");
}

#[test]
fn csv_import_types_cells() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "title,priority,estimate,done,note\nA,3,1.5,true,\nB,x,2,false,hi\n",
    )
    .unwrap();
    let db = dir.path().join("c.blazedb");
    cli()
        .arg("import")
        .arg(&db)
        .arg("t")
        .arg(&csv)
        .assert()
        .success();
    let d = Database::open(&db, Options::default().read_only(true)).unwrap();
    let rows = d
        .query(&blazedb::Query::new("t").order_by("title", blazedb::Order::Ascending))
        .unwrap();
    assert_eq!(rows[0].get("priority"), Some(&Value::Int(3)));
    assert_eq!(rows[0].get("estimate"), Some(&Value::Double(1.5)));
    assert_eq!(rows[0].get("done"), Some(&Value::Bool(true)));
    assert!(rows[0].get("note").is_none(), "an empty cell is no field");
    assert_eq!(rows[1].get("priority"), Some(&Value::String("x".into())));
}

#[test]
fn bad_import_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let before = bytes(&db);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"a\": 1}, {\"a\": ").unwrap();
    cli()
        .arg("import")
        .arg(&db)
        .arg("bugs")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not valid JSON"));
    let notobj = dir.path().join("n.ndjson");
    std::fs::write(&notobj, "{\"a\":1}\n42\n").unwrap();
    cli()
        .arg("import")
        .arg(&db)
        .arg("bugs")
        .arg(&notobj)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 2"));
    // Duplicate ids: refused before anything is written.
    let id = "6f1c2a4e-0000-4000-8000-000000000001";
    let dup = dir.path().join("dup.ndjson");
    std::fs::write(&dup, format!("{{\"id\":\"{id}\"}}\n{{\"id\":\"{id}\"}}\n")).unwrap();
    cli()
        .arg("import")
        .arg(&db)
        .arg("bugs")
        .arg(&dup)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("twice"));
    // An id already stored.
    let existing = Database::open(&db, Options::default().read_only(true))
        .unwrap()
        .all("bugs")
        .unwrap()[0]
        .id()
        .unwrap();
    let clash = dir.path().join("clash.json");
    std::fs::write(&clash, format!("[{{\"id\":\"{existing}\"}}]")).unwrap();
    cli()
        .arg("import")
        .arg(&db)
        .arg("bugs")
        .arg(&clash)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    cli()
        .arg("import")
        .arg(&db)
        .arg("bugs")
        .arg(dir.path().join("missing.json"))
        .assert()
        .code(5);
    let noext = dir.path().join("data");
    std::fs::write(&noext, "[]").unwrap();
    cli()
        .arg("import")
        .arg(&db)
        .arg("bugs")
        .arg(&noext)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format"));
    assert!(
        before == bytes(&db),
        "a refused import changed the database"
    );
    // A new database is not created by a refused import.
    let fresh = dir.path().join("fresh.blazedb");
    cli()
        .arg("import")
        .arg(&fresh)
        .arg("bugs")
        .arg(&bad)
        .assert()
        .code(1);
    assert!(!fresh.exists());
    // Export refuses to replace a file.
    let out = dir.path().join("out.json");
    std::fs::write(&out, "keep").unwrap();
    cli()
        .arg("export")
        .arg(&db)
        .arg("bugs")
        .arg(&out)
        .assert()
        .code(5);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
    cli()
        .arg("export")
        .arg(&db)
        .arg("nope")
        .arg(dir.path().join("x.json"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no collection"));
}

#[test]
fn query_filters_orders_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let run = |args: &[&str]| -> serde_json::Value {
        ok_json(
            cli()
                .arg("query")
                .arg("--json")
                .arg(&db)
                .arg("bugs")
                .args(args),
        )
    };
    let all = run(&[]);
    assert_eq!(all.as_array().unwrap().len(), 18);
    let open_hi = run(&[
        r#"status == "open" and priority >= 3"#,
        "--order",
        "priority:desc",
        "--order",
        "title",
    ]);
    let rows = open_hi.as_array().unwrap();
    assert!(!rows.is_empty());
    let prios: Vec<i64> = rows
        .iter()
        .map(|r| r["priority"].as_i64().unwrap())
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    assert!(rows.iter().all(|r| r["status"] == "open"));
    // `or not assignee?`: records without an assignee come in too.
    let with_or = run(&[r#"status == "open" and priority >= 3 or not assignee?"#]);
    assert!(
        with_or
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("assignee").is_none())
    );
    assert!(with_or.as_array().unwrap().len() > rows.len());
    let page = run(&["--order", "title", "--limit", "5", "--offset", "5"]);
    assert_eq!(page.as_array().unwrap().len(), 5);
    let count = run(&["--count", "tags.0 == \"ios\" and estimate < 2.5"]);
    assert_eq!(count["count"], 8, "i < 10, less the two soft-deleted");
    let inlist = run(&["--count", r#"assignee in ["ana", "zed"]"#]);
    assert!(inlist["count"].as_u64().unwrap() > 0);
    // Table output and a bad expression.
    cli()
        .arg("query")
        .arg(&db)
        .arg("bugs")
        .arg("priority == 5")
        .args(["--fields", "title,priority"])
        .assert()
        .success()
        .stdout(predicate::str::contains("| title").and(predicate::str::contains("record(s)")));
    cli()
        .arg("query")
        .arg(&db)
        .arg("bugs")
        .arg("priority === 5")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("column"));
    cli()
        .arg("query")
        .arg(&db)
        .arg("bugs")
        .arg("status == open")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("quote"));
    cli()
        .arg("query")
        .arg(&db)
        .arg("bugs")
        .args(["--order", ":desc"])
        .assert()
        .code(2);
}

#[test]
fn shell_runs_scripted_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.blazedb");
    make_db(&db, false);
    let script = "collections\nuse bugs\ncount status == \"open\"\nfind priority >= 5 order title limit 2\ninsert {\"title\": \"From the shell\", \"priority\": 9}\ncount priority == 9\nstats\nhealth\nexit\n";
    let out = ok_stdout(cli().arg("shell").arg(&db).write_stdin(script));
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("| bugs"), "{text}");
    assert!(text.contains("2 record(s)"), "{text}");
    assert!(text.contains("OK"), "{text}");
    let d = Database::open(&db, Options::default().read_only(true)).unwrap();
    assert_eq!(d.count("bugs").unwrap(), 19);
    d.close().unwrap();
    // Errors are reported and make the exit code 1; read-only refuses writes.
    cli()
        .arg("shell")
        .arg(&db)
        .write_stdin("frob\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown command"));
    let before = bytes(&db);
    cli()
        .args(["shell", "--read-only", "--collection", "bugs"])
        .arg(&db)
        .write_stdin("insert {\"a\":1}\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("read-only"));
    cli()
        .args(["shell", "--read-only"])
        .arg(&db)
        .write_stdin("find status == oops\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bare word"));
    assert!(before == bytes(&db), "a read-only shell wrote");
}
