//! Profiling aid: one operation of `blazedb-bench`, repeated, on a database that is kept
//! between runs (so a profile need not pay for the load each time).
//!
//! ```text
//! cargo run --release -p blazedb-benches --example one_op -- blazedb 100000 indexed-eq 2000
//! ```
//!
//! Arguments: engine (`blazedb`, `blazedb-enc`, `sqlite`, `sqlcipher`), record count,
//! operation (`get`, `indexed-eq`, `range`, `group-by`, `join`, `full-text`, `scan`),
//! calls. The database lives in `$BLAZEDB_ONE_OP_DIR` (default
//! `/tmp/blazedb-one-op/<engine>-<count>`); delete it to load afresh. Prints the mean time
//! per call; not a benchmark (no warm-up discipline, no peer in the same run).

use std::path::PathBuf;
use std::time::Instant;

use blazedb::Uuid;
use blazedb_benches::IssueStream;
use blazedb_benches::harness::engines;
use blazedb_benches::harness::run::{self, DOCS_PER_REPORTER, LOAD_CHUNK, SEED};
use blazedb_benches::harness::{EngineKind, Op as HarnessOp, Result};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Op {
    Get,
    IndexedEq,
    Range,
    GroupBy,
    Join,
    FullText,
    Scan,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(value_enum)]
    engine: EngineKind,
    size: usize,
    #[arg(value_enum)]
    op: Op,
    calls: u64,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let dir = std::env::var_os("BLAZEDB_ONE_OP_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/blazedb-one-op/{}-{}", a.engine, a.size)));
    let ids_file = dir.join("ids.bin");
    let users = (a.size / DOCS_PER_REPORTER).max(1);
    let fresh = !ids_file.exists();
    if fresh {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
    }
    let mut e = engines::create(a.engine, &dir)?;
    let ids: Vec<Uuid> = if fresh {
        e.setup(users)?;
        let mut stream = IssueStream::new(SEED).with_reporters(users, SEED);
        let mut ids = Vec::with_capacity(a.size);
        let t = Instant::now();
        while ids.len() < a.size {
            ids.extend(e.insert_batch(stream.chunk(LOAD_CHUNK.min(a.size - ids.len())))?);
        }
        eprintln!("loaded {} in {:?}", a.size, t.elapsed());
        let bytes: Vec<u8> = ids.iter().flat_map(|u| *u.as_bytes()).collect();
        std::fs::write(&ids_file, bytes)?;
        ids
    } else {
        std::fs::read(&ids_file)?
            .chunks_exact(16)
            .map(|c| Uuid::from_slice(c).expect("16 bytes"))
            .collect()
    };
    if std::env::var_os("BLAZEDB_ONE_OP_WRITE_FIRST").is_some() {
        // One durable single-record write before timing, to measure reads after a write.
        let doc = IssueStream::new(SEED + 7)
            .with_reporters(users, SEED + 7)
            .chunk(1);
        e.insert_batch(doc)?;
    }
    let op = match a.op {
        Op::Get => HarnessOp::GetById,
        Op::IndexedEq => HarnessOp::IndexedEq,
        Op::Range => HarnessOp::RangeSortLimit,
        Op::GroupBy => HarnessOp::GroupByCount,
        Op::Join => HarnessOp::Join,
        Op::FullText => HarnessOp::FullText,
        Op::Scan => HarnessOp::UnindexedFilter,
    };
    let t = Instant::now();
    let mut rows = 0;
    for i in 0..a.calls {
        let out = run::read_call(e.as_mut(), op, i, &ids, users)?;
        if let blazedb_benches::harness::Outcome::Rows(r) = out {
            rows = r;
        }
    }
    let per = t.elapsed() / a.calls.max(1) as u32;
    println!(
        "{:?} {:?}: {per:?} per call, {rows} rows on the last",
        a.engine, a.op
    );
    e.close()
}
