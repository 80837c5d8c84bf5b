//! Crash safety: a child process commits in a loop and is SIGKILLed at random moments.
//! After every kill the database must reopen with every acknowledged commit present and
//! no commit half there.
//!
//! The child is this same test binary, re-run with an environment variable that switches
//! the test into writer mode. `BLAZEDB_SOAK=1` runs many more rounds.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use blazedb::{Database, Options, Record, Uuid, Value};
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "BLAZEDB_KILL_TEST_DB";
/// `relaxed-sync`: the child commits with relaxed durability and calls `sync()` before it
/// acknowledges, which must make the commit just as durable.
const MODE_ENV: &str = "BLAZEDB_KILL_TEST_MODE";
const PER_COMMIT: i64 = 5;
const HEAD: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

fn child_writer(path: &str) -> ! {
    let mode = std::env::var(MODE_ENV).unwrap_or_default();
    let relaxed = mode == "relaxed-sync";
    let options = options_for(&mode);
    let db = Database::open(path, options).expect("child open");
    let mut seq = db.count("log").expect("count") as i64 / PER_COMMIT;
    let stdout = std::io::stdout();
    loop {
        seq += 1;
        let records: Vec<Record> = (0..PER_COMMIT)
            .map(|i| {
                Record::new()
                    .with("seq", seq)
                    .with("i", i)
                    .with("payload", "x".repeat(200 + (seq as usize * 37) % 900))
            })
            .collect();
        db.write(|tx| {
            tx.insert_many("log", records)?;
            tx.upsert("head", HEAD, Record::new().with("seq", seq))?;
            Ok(())
        })
        .expect("child commit");
        if relaxed {
            db.sync().expect("child sync");
        }
        // Printed only after commit returned: this is the acknowledgement.
        let mut out = stdout.lock();
        writeln!(out, "ack {seq}").expect("stdout");
        out.flush().expect("flush");
    }
}

fn options_for(mode: &str) -> Options {
    match mode {
        "relaxed-sync" => Options::default().durability(blazedb::Durability::Relaxed),
        "encrypted" => {
            Options::default()
                .password("Kill-Test-Pass-1")
                .kdf_params(blazedb::KdfParams {
                    memory_kib: 8 * 1024,
                    iterations: 1,
                    parallelism: 1,
                })
        }
        _ => Options::default(),
    }
}

fn verify(path: &std::path::Path, last_acked: i64, mode: &str) -> i64 {
    let db = Database::open(path, options_for(mode)).expect("reopen after kill");
    let log = db.all("log").expect("read log");
    let mut per_seq = std::collections::BTreeMap::<i64, Vec<i64>>::new();
    for r in &log {
        let seq = r.get("seq").and_then(Value::as_int).expect("seq field");
        let i = r.get("i").and_then(Value::as_int).expect("i field");
        per_seq.entry(seq).or_default().push(i);
    }
    let max = per_seq.keys().next_back().copied().unwrap_or(0);
    assert!(
        max >= last_acked,
        "acknowledged commit {last_acked} is missing (newest on disk: {max})"
    );
    for (n, (seq, items)) in per_seq.iter().enumerate() {
        assert_eq!(*seq, n as i64 + 1, "commits are not contiguous");
        let mut items = items.clone();
        items.sort_unstable();
        assert_eq!(
            items,
            (0..PER_COMMIT).collect::<Vec<_>>(),
            "commit {seq} is only partly on disk"
        );
    }
    assert_eq!(
        db.count("log").unwrap(),
        log.len() as u64,
        "counter drifted"
    );
    if mode == "encrypted" {
        // A kill can tear a block the interrupted transaction was writing (free space).
        // The integrity check tells those from damage and reseals them; after it every
        // block authenticates, so a kill never leaves a block that reads as tampered.
        assert!(
            db.check_integrity().unwrap(),
            "the file is sound after a kill"
        );
        assert_eq!(db.verify_encryption().unwrap(), Vec::<String>::new());
    }
    let head = db
        .get("head", HEAD)
        .unwrap()
        .map(|r| r.get("seq").and_then(Value::as_int).unwrap());
    assert_eq!(
        head.unwrap_or(0),
        max,
        "the head record and the log disagree: one commit was split"
    );
    db.close().unwrap();
    max
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    run_rounds("acknowledged_commits_survive_sigkill", "immediate");
}

#[test]
fn relaxed_commits_survive_sigkill_once_synced() {
    run_rounds(
        "relaxed_commits_survive_sigkill_once_synced",
        "relaxed-sync",
    );
}

#[test]
fn encrypted_commits_survive_sigkill() {
    run_rounds("encrypted_commits_survive_sigkill", "encrypted");
}

fn run_rounds(test_name: &str, mode: &str) {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child_writer(&path);
    }
    let rounds = if std::env::var_os("BLAZEDB_SOAK").is_some() {
        200
    } else {
        12
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.blazedb");
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xb1a2e);
    let mut on_disk = 0;
    let mut kills_mid_run = 0;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .env(MODE_ENV, mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let acked = Arc::new(Mutex::new(0i64));
        let reader = {
            let acked = acked.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(n) = line.strip_prefix("ack ") {
                        *acked.lock().unwrap() = n.trim().parse().unwrap();
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..250)));
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        if still_running {
            kills_mid_run += 1;
        }
        let last_acked = *acked.lock().unwrap();
        let max = verify(&path, last_acked, mode);
        assert!(max >= on_disk, "round {round}: commits went backwards");
        on_disk = max;
    }
    assert_eq!(
        kills_mid_run, rounds,
        "the child must be killed while writing"
    );
    assert!(on_disk > 0, "no commit ever reached the disk");
}
