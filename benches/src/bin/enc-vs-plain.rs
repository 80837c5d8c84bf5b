//! `enc-vs-plain`: encrypted against plaintext BlazeDB, **interleaved**: each round runs
//! one sample of the plain handle and one of the encrypted handle back to back, so a slow
//! stretch of this shared machine lands on both sides instead of on whichever criterion
//! group happened to run during it. Prints a markdown table of per-operation medians and
//! their ratio (docs/BENCHMARKS.md section 2).
//!
//! ```text
//! cargo run --release --locked -p blazedb-benches --bin enc-vs-plain -- --rounds 9
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use blazedb::{Database, Options, Record, Uuid};
use blazedb_benches::issues;
use clap::Parser;

/// Encrypted against plain BlazeDB, one sample of each per round.
#[derive(Debug, Parser)]
#[command(name = "enc-vs-plain")]
struct Args {
    /// Rounds (samples per side); the first is a warm-up and is dropped.
    #[arg(long, default_value_t = 9)]
    rounds: usize,
    /// Records of the uncached get and scan databases (~2x the 16 MiB cache at 50k).
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    /// Gets per sample.
    #[arg(long, default_value_t = 20_000)]
    gets: usize,
}

const PASSWORD: &str = "Bench-Password-2026";

fn options(encrypted: bool) -> Options {
    let o = Options::default();
    if encrypted { o.password(PASSWORD) } else { o }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

/// One row: runs `sample(encrypted)` alternately and returns the two medians.
fn interleave(rounds: usize, mut sample: impl FnMut(bool) -> Duration) -> (Duration, Duration) {
    let (mut plain, mut enc) = (Vec::new(), Vec::new());
    for round in 0..rounds.max(2) {
        // Alternate which side goes first, so neither always follows the other.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for e in order {
            let t = sample(e);
            if round > 0 {
                if e { enc.push(t) } else { plain.push(t) }
            }
        }
    }
    (median(plain), median(enc))
}

/// The mean time of `n` gets of ids spread over `db`'s records, from `cursor` on.
fn gets((db, ids): &(Database, Vec<Uuid>), cursor: &mut usize, n: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        *cursor = (*cursor + 7919) % ids.len();
        black_box(db.get("issues", ids[*cursor]).unwrap().unwrap());
    }
    t.elapsed() / n as u32
}

fn row(name: &str, unit_div: f64, unit: &str, (p, e): (Duration, Duration)) {
    println!(
        "| {name} | {:.2} {unit} | {:.2} {unit} | **{:.2}×** |",
        p.as_secs_f64() / unit_div,
        e.as_secs_f64() / unit_div,
        e.as_secs_f64() / p.as_secs_f64()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let dir = tempfile::tempdir()?;
    println!(
        "| Operation (median of {} interleaved rounds) | plain | encrypted | enc / plain |",
        a.rounds - 1
    );
    println!("|---|---|---|---|");

    // Batch insert: 10k records in one durable commit, into a fresh file each time.
    let batch = issues(10_000, 11);
    let mut n = 0;
    let r = interleave(a.rounds, |e| {
        n += 1;
        let db = Database::open(dir.path().join(format!("b{n}.blazedb")), options(e)).unwrap();
        let t = Instant::now();
        db.insert_many("issues", batch.clone()).unwrap();
        let d = t.elapsed();
        db.close().unwrap();
        d
    });
    row("`insert_many` 10,000 in one commit", 1e-3, "ms", r);

    // Reads: one database per side, loaded once.
    let docs = issues(a.records, 12);
    let dbs: Vec<(Database, Vec<Uuid>)> = [false, true]
        .into_iter()
        .map(|e| {
            let db = Database::open(dir.path().join(format!("r{e}.blazedb")), options(e)).unwrap();
            let ids = db.insert_many("issues", docs.clone()).unwrap();
            (db, ids)
        })
        .collect();
    let mut cursor = [0usize; 2];
    let r = interleave(a.rounds, |e| {
        gets(&dbs[usize::from(e)], &mut cursor[usize::from(e)], a.gets)
    });
    row(
        &format!("Get by id, {} records (beyond the 16 MiB cache)", a.records),
        1e-6,
        "µs",
        r,
    );
    let r = interleave(a.rounds, |e| {
        let t = Instant::now();
        black_box(dbs[usize::from(e)].0.all("issues").unwrap().len());
        t.elapsed()
    });
    row(
        &format!("Full scan of {} records, decoded", a.records),
        1e-3,
        "ms",
        r,
    );
    drop(dbs);

    // Cached gets: 10k records fit the cache; the cipher is off the path.
    let small: Vec<Record> = issues(10_000, 14);
    let dbs: Vec<(Database, Vec<Uuid>)> = [false, true]
        .into_iter()
        .map(|e| {
            let db = Database::open(dir.path().join(format!("c{e}.blazedb")), options(e)).unwrap();
            let ids = db.insert_many("issues", small.clone()).unwrap();
            for id in &ids {
                black_box(db.get("issues", *id).unwrap());
            }
            (db, ids)
        })
        .collect();
    let r = interleave(a.rounds, |e| {
        gets(&dbs[usize::from(e)], &mut cursor[usize::from(e)], a.gets)
    });
    row("Get by id, 10,000 records (fits the cache)", 1e-6, "µs", r);
    Ok(())
}
