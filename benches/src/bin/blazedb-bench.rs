//! `blazedb-bench`: BlazeDB (plain and encrypted) against SQLite, SQLCipher and raw redb
//! on the same issue-tracker documents. Writes `results.json`, `table.md` and one SVG chart
//! per size into `--out`, and the generated section of docs/BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --locked -p blazedb-benches --bin blazedb-bench -- --out docs/bench
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use blazedb_benches::harness::run::{self, Budget, Plan};
use blazedb_benches::harness::{EngineKind, parse_size, report, system};
use clap::Parser;

/// Compare BlazeDB with SQLite, SQLCipher and raw redb; write a table, JSON and charts.
#[derive(Debug, Parser)]
#[command(name = "blazedb-bench", version)]
struct Args {
    /// Record counts to load, comma-separated (10k, 100k, 1M or plain numbers).
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_value = "10k,100k")]
    sizes: Vec<usize>,
    /// Also run 1M records.
    #[arg(long)]
    full: bool,
    /// Engines to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_enum)]
    engines: Vec<EngineKind>,
    /// Where results.json, table.md and the charts go (default docs/bench; with --quick,
    /// target/bench-quick).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The markdown file whose generated section is replaced (default
    /// docs/BENCHMARKS.md; with --quick, none).
    #[arg(long)]
    doc: Option<PathBuf>,
    /// Leave every markdown file alone.
    #[arg(long, conflicts_with = "doc")]
    no_doc: bool,
    /// Where the databases are created: a real disk, since fsync is part of what is
    /// measured (default: the system's temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// A smoke run: 500 records, a few samples; the figures mean nothing.
    #[arg(long)]
    quick: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Run each (engine, size) this many times, alternating the engines, and keep the
    /// best median of each figure: a slow stretch of a shared machine then has to hit
    /// every run of an engine to move its figures.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=9))]
    repeat: u16,
    /// Internal: run one engine in this process and print JSON lines.
    #[arg(long, hide = true, value_enum, requires = "child_size")]
    child: Option<EngineKind>,
    /// Internal: the record count of `--child`.
    #[arg(long, hide = true)]
    child_size: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match real_main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blazedb-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(args: Args) -> blazedb_benches::harness::Result<()> {
    let budget = if args.quick {
        Budget::QUICK
    } else {
        Budget::DEFAULT
    };
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    if let (Some(engine), Some(size)) = (args.child, args.child_size) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        return run::run_child(engine, size, budget, &work_dir, &mut out);
    }

    let mut sizes = if args.quick && args.sizes == [10_000, 100_000] {
        vec![500]
    } else {
        args.sizes.clone()
    };
    if args.full {
        sizes.push(1_000_000);
    }
    sizes.sort_unstable();
    sizes.dedup();
    let mut engines = if args.engines.is_empty() {
        EngineKind::ALL.to_vec()
    } else {
        args.engines.clone()
    };
    engines.sort_unstable();
    engines.dedup();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.quick {
            "target/bench-quick"
        } else {
            "docs/bench"
        })
    });
    let doc = match (&args.doc, args.no_doc || args.quick) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => None,
        (None, false) => Some(PathBuf::from("docs/BENCHMARKS.md")),
    };

    let plan = Plan {
        sizes,
        engines,
        budget,
        quick: args.quick,
        work_dir: work_dir.clone(),
        progress: !args.no_progress,
        repeat: usize::from(args.repeat),
    };
    let mut meta = system::machine();
    meta.command = std::iter::once("blazedb-bench".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    meta.work_dir = work_dir.display().to_string();
    meta.started = blazedb::Timestamp::now().to_rfc3339();
    let exe = std::env::current_exe()?;
    let results = run::run_all(&exe, &plan, meta)?;

    let charts = report::write_outputs(&results, &plan.budget, &out)?;
    eprintln!(
        "wrote {}, {} and {} chart(s) in {:.0} s",
        out.join("results.json").display(),
        out.join("table.md").display(),
        charts.len(),
        results.meta.wall_secs
    );
    if let Some(doc) = doc {
        report::update_doc(
            &results,
            &plan.budget,
            &doc,
            &out,
            "## 3. BlazeDB against SQLite, SQLCipher and raw redb (`blazedb-bench`)",
        )?;
        eprintln!("updated {}", doc.display());
    }
    Ok(())
}
