//! The Rust half of the Swift-vs-Rust benchmark (`scripts/bench-swift-vs-rust.sh`).
//!
//! It runs the workload of `swift-package/Benchmarks/Sources/SwiftVsRust/main.swift` on the
//! crate directly: the same records, the same batch size, the same ids fetched and the same
//! queries, on an encrypted file opened with the same password (the Swift API always passes
//! one). The difference between the two halves is what the Swift layer and the FFI cost.
//! Both print one JSON object per operation: `{"op", "items", "median_s", "runs"}`.
//! Keep the two workloads in step: the script compares them row by row.

use std::path::Path;
use std::time::Instant;

use blazedb::{Database, Filter, Options, Order, Query, Record, Timestamp, Uuid, Value};
use clap::Parser;

/// Arguments; the defaults are the Swift half's.
#[derive(Parser)]
struct Args {
    /// Records loaded per run.
    #[arg(long, default_value_t = 20_000)]
    records: usize,
    /// Records per insert_many call.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Ids fetched one call each, and in one batch call.
    #[arg(long, default_value_t = 2_000)]
    gets: usize,
    /// Runs per operation; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const PASSWORD: &str = "BenchPass123!";
const COLLECTION: &str = blazedb::DEFAULT_COLLECTION;

/// Record `i` of the workload; main.swift's `record(i)` builds the same fields.
fn record(i: usize) -> Record {
    let n = i as i64;
    Record::new()
        .with("title", format!("Item {i}"))
        .with(
            "body",
            format!("Record number {i} of the Swift-vs-Rust benchmark, with some text to carry."),
        )
        .with("priority", n % 5)
        .with("score", n as f64 * 0.5)
        .with("done", i.is_multiple_of(2))
        .with("created", Value::Date(Timestamp::new(1_700_000_000 + n, 0)))
        .with(
            "tags",
            Value::Array(vec![
                Value::String(format!("t{}", i % 7)),
                Value::String("bench".into()),
            ]),
        )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(op: &str, items: usize, samples: Vec<f64>) {
    let runs = samples.len();
    println!(
        "{}",
        serde_json::json!({"op": op, "items": items, "median_s": median(samples), "runs": runs})
    );
}

fn open(path: &Path) -> blazedb::Result<Database> {
    Database::open(path, Options::default().password(PASSWORD))
}

/// Loads the workload into a fresh file; returns the ids and the load time.
fn load(path: &Path, args: &Args) -> blazedb::Result<(Database, Vec<Uuid>, f64)> {
    let db = open(path)?;
    let records: Vec<Record> = (0..args.records).map(record).collect();
    let t = Instant::now();
    let mut ids = Vec::with_capacity(args.records);
    for chunk in records.chunks(args.batch) {
        ids.extend(db.insert_many(COLLECTION, chunk.to_vec())?);
    }
    Ok((db, ids, t.elapsed().as_secs_f64()))
}

fn run(args: &Args) -> blazedb::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut inserts = Vec::new();
    for r in 0..args.runs {
        let (db, _, secs) = load(&dir.path().join(format!("load{r}.blazedb")), args)?;
        db.close()?;
        inserts.push(secs);
    }
    report("insert_many", args.records, inserts);

    let (db, ids, _) = load(&dir.path().join("read.blazedb"), args)?;
    // Every (records/gets)-th id: spread over the file, the same positions as the Swift half.
    let step = (args.records / args.gets).max(1);
    let picked: Vec<Uuid> = ids.iter().step_by(step).take(args.gets).copied().collect();

    let mut gets = Vec::new();
    let mut batch = Vec::new();
    let mut top = Vec::new();
    let mut all = Vec::new();
    let top_q = Query::new(COLLECTION)
        .filter(Filter::eq("priority", 3))
        .order_by("score", Order::Descending)
        .limit(100);
    let all_q = Query::new(COLLECTION).filter(Filter::eq("priority", 3));
    let mut found = 0usize;
    for _ in 0..args.runs {
        let t = Instant::now();
        for id in &picked {
            found += usize::from(db.get(COLLECTION, *id)?.is_some());
        }
        gets.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        found += db.get_many(COLLECTION, &picked)?.iter().flatten().count();
        batch.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        found += db.query(&top_q)?.len();
        top.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        found += db.query(&all_q)?.len();
        all.push(t.elapsed().as_secs_f64());
    }
    let matches = (0..args.records).filter(|i| i % 5 == 3).count();
    let want = args.runs * (2 * picked.len() + 100.min(matches) + matches);
    if found != want {
        return Err(blazedb::Error::InvalidInput(format!(
            "workload returned {found} records, expected {want}"
        )));
    }
    report("get", picked.len(), gets);
    report("get_many", picked.len(), batch);
    report("query_top100", 100.min(matches), top);
    report("query_all_matches", matches, all);
    db.close()
}

fn main() {
    let args = Args::parse();
    if args.records == 0 || args.batch == 0 || args.gets == 0 || args.runs == 0 {
        eprintln!("swift-vs-rust: every count must be at least 1");
        std::process::exit(2);
    }
    if let Err(e) = run(&args) {
        eprintln!("swift-vs-rust: {e}");
        std::process::exit(1);
    }
}
