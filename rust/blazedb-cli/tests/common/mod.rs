//! Helpers for the CLI tests: run the binary, build databases, compare files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use blazedb::{Database, Options, Record, Timestamp, Value};

pub const PASSWORD: &str = "Correct-Horse-42";

/// The `blazedb` binary with a clean environment for secrets and no terminal prompts.
pub fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blazedb"));
    c.env_remove("BLAZEDB_PASSWORD").arg("--no-prompt");
    c
}

/// Like [`cli`] with `BLAZEDB_PASSWORD` set.
pub fn cli_pw(pw: &str) -> Command {
    let mut c = cli();
    c.env("BLAZEDB_PASSWORD", pw);
    c
}

pub fn options(encrypted: bool) -> Options {
    if encrypted {
        Options::default().password(PASSWORD)
    } else {
        Options::default()
    }
}

/// A small tracker database: `bugs` (20 records, 2 soft-deleted) and `users` (3).
pub fn make_db(path: &Path, encrypted: bool) {
    let db = Database::open(path, options(encrypted)).unwrap();
    let bugs: Vec<Record> = (0..20)
        .map(|i| {
            let mut r = Record::new()
                .with("title", format!("Bug {i}"))
                .with("status", if i % 3 == 0 { "closed" } else { "open" })
                .with("priority", i % 5 + 1)
                .with("estimate", i as f64 / 4.0)
                .with(
                    "due",
                    Value::Date(Timestamp::new(1_767_225_600 + i * 86_400, 0)),
                )
                .with("tags", Value::Array(vec!["ios".into(), Value::Int(i)]));
            if i % 4 != 0 {
                r.insert("assignee", if i % 2 == 0 { "ana" } else { "ben" });
            }
            r
        })
        .collect();
    let ids = db.insert_many("bugs", bugs).unwrap();
    db.soft_delete("bugs", ids[1]).unwrap();
    db.soft_delete("bugs", ids[2]).unwrap();
    db.insert_many(
        "users",
        ["ana", "ben", "cy"]
            .iter()
            .map(|n| Record::new().with("name", *n))
            .collect(),
    )
    .unwrap();
    db.close().unwrap();
}

pub fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

pub fn json_out(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

/// Runs `c`, asserts it succeeded, and returns its standard output.
pub fn ok_stdout(c: &mut Command) -> Vec<u8> {
    c.assert().success().get_output().stdout.clone()
}

/// Runs `c`, asserts it succeeded, and parses its standard output as JSON.
pub fn ok_json(c: &mut Command) -> serde_json::Value {
    json_out(&ok_stdout(c))
}

/// The shared fixtures folder (`../../../shared/fixtures`, or `$BLAZEDB_SHARED_DIR/fixtures`).
pub fn fixtures() -> PathBuf {
    let shared = match std::env::var_os("BLAZEDB_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    shared.join("fixtures")
}

/// Flips bytes in the middle of a copy of `src` (a damaged file).
pub fn damaged_copy(src: &Path, dest: &Path) {
    let mut b = bytes(src);
    let n = b.len();
    for x in &mut b[n / 2..n / 2 + 32] {
        *x ^= 0x5a;
    }
    std::fs::write(dest, b).unwrap();
}
