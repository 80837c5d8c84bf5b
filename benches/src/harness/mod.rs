//! The comparison harness behind `blazedb-bench`: the same documents and the same
//! operations against BlazeDB (plain and encrypted), SQLite, SQLCipher and raw redb.
//!
//! The parent process ([`run::run_all`]) runs every (engine, size) pair in a child process
//! of its own ([`run::run_child`]), which isolates the engines' caches and makes the
//! child's peak RSS that engine's. Children print one JSON line per result; the parent
//! collects them into [`Results`] and writes the table, the JSON and the charts
//! ([`report`]).

pub mod engines;
pub mod report;
pub mod run;
pub mod system;

use std::fmt;

use serde::{Deserialize, Serialize};

/// Errors inside the harness: any engine's error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The harness's result type.
pub type Result<T> = std::result::Result<T, BoxError>;

/// What one call of an operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the number of records (or groups) it returned, 1 for a write.
    Rows(usize),
    /// This engine cannot do the operation; the reason is shown in the table.
    Unsupported(String),
}

impl Outcome {
    /// `Unsupported` with a reason.
    pub fn unsupported(reason: impl Into<String>) -> Outcome {
        Outcome::Unsupported(reason.into())
    }
}

/// The engines compared.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// BlazeDB without encryption.
    Blazedb,
    /// BlazeDB with a password (Argon2id + AES-256-GCM-SIV pages).
    BlazedbEnc,
    /// SQLite (the SQLCipher build without a key) with a JSON column.
    Sqlite,
    /// SQLCipher with a key, otherwise the same schema as SQLite.
    Sqlcipher,
    /// Raw redb, `u128 → bytes` with BlazeDB's document encoding: the floor.
    Redb,
}

impl EngineKind {
    /// Every engine, in table order.
    pub const ALL: [EngineKind; 5] = [
        EngineKind::Blazedb,
        EngineKind::BlazedbEnc,
        EngineKind::Sqlite,
        EngineKind::Sqlcipher,
        EngineKind::Redb,
    ];

    /// The name used on the command line and in the JSON.
    pub fn id(self) -> &'static str {
        match self {
            EngineKind::Blazedb => "blazedb",
            EngineKind::BlazedbEnc => "blazedb-enc",
            EngineKind::Sqlite => "sqlite",
            EngineKind::Sqlcipher => "sqlcipher",
            EngineKind::Redb => "redb",
        }
    }

    /// The column heading in the table.
    pub fn label(self) -> &'static str {
        match self {
            EngineKind::Blazedb => "BlazeDB",
            EngineKind::BlazedbEnc => "BlazeDB encrypted",
            EngineKind::Sqlite => "SQLite",
            EngineKind::Sqlcipher => "SQLCipher",
            EngineKind::Redb => "raw redb",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What a figure counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Nanoseconds per call.
    Nanos,
    /// Bytes.
    Bytes,
}

/// The operations, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Loading the collection, in transactions of 10,000 records.
    Load,
    /// One record inserted in its own durable transaction.
    InsertDurable,
    /// 1,000 records inserted in one transaction.
    Batch1k,
    /// 10,000 records inserted in one transaction.
    Batch10k,
    /// One record read by id and decoded.
    GetById,
    /// `reporter = X`, about 200 records, on an indexed field.
    IndexedEq,
    /// `priority >= 4 AND createdAt < T ORDER BY createdAt DESC LIMIT 50` (one page of a feed).
    RangeSortLimit,
    /// `body` contains a phrase, on no index.
    UnindexedFilter,
    /// Count of records per `status`.
    GroupByCount,
    /// Issues joined with their reporter's user record, filtered on both sides.
    Join,
    /// A two-term full-text query over title and body, best 50 by rank.
    FullText,
    /// One field of one record changed in its own durable transaction.
    Update,
    /// One record deleted in its own durable transaction.
    Delete,
    /// Opening the database (key derivation included) to the first record read.
    ColdOpen,
    /// Compacting the file after the run's writes.
    Compact,
    /// Bytes on disk after the load.
    FileSizeLoaded,
    /// Bytes on disk after the writes and compaction.
    FileSizeCompacted,
    /// Peak resident memory of the process that ran this engine.
    PeakRss,
}

impl Op {
    /// Every operation, in table order.
    pub const ALL: [Op; 18] = [
        Op::Load,
        Op::InsertDurable,
        Op::Batch1k,
        Op::Batch10k,
        Op::GetById,
        Op::IndexedEq,
        Op::RangeSortLimit,
        Op::UnindexedFilter,
        Op::GroupByCount,
        Op::Join,
        Op::FullText,
        Op::Update,
        Op::Delete,
        Op::ColdOpen,
        Op::Compact,
        Op::FileSizeLoaded,
        Op::FileSizeCompacted,
        Op::PeakRss,
    ];

    /// The row heading in the table.
    pub fn label(self) -> &'static str {
        match self {
            Op::Load => "Load (10k records per transaction)",
            Op::InsertDurable => "Insert 1 record, durable",
            Op::Batch1k => "Batch insert 1k in 1 transaction",
            Op::Batch10k => "Batch insert 10k in 1 transaction",
            Op::GetById => "Get by id",
            Op::IndexedEq => "Indexed equality (~200 hits)",
            Op::RangeSortLimit => "Range + sort + limit 50",
            Op::UnindexedFilter => "Unindexed filter (substring)",
            Op::GroupByCount => "Group-by count",
            Op::Join => "Join issues ⋈ users",
            Op::FullText => "Full-text query, top 50",
            Op::Update => "Update 1 field, durable",
            Op::Delete => "Delete 1 record, durable",
            Op::ColdOpen => "Cold open to first read",
            Op::Compact => "Compaction",
            Op::FileSizeLoaded => "File size after load",
            Op::FileSizeCompacted => "File size after compaction",
            Op::PeakRss => "Peak RSS of the process",
        }
    }

    /// What the figure counts.
    pub fn unit(self) -> Unit {
        match self {
            Op::FileSizeLoaded | Op::FileSizeCompacted | Op::PeakRss => Unit::Bytes,
            _ => Unit::Nanos,
        }
    }
}

/// One figure from one child: an operation's median, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The operation.
    pub op: Op,
    /// `ok`, `unsupported` or `error`.
    pub status: Status,
    /// The median of `samples` (nanoseconds per call, or bytes); absent unless `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    /// Each sample: the mean over `calls_per_sample` calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
    /// Calls timed together in one sample (sub-millisecond calls are timed in batches).
    #[serde(default)]
    pub calls_per_sample: u64,
    /// Records returned by the first call, for the cross-engine check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    /// The reason (unsupported, error) or a caveat (how the engine did it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Whether a figure exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Measured.
    Ok,
    /// The engine lacks the operation.
    Unsupported,
    /// The operation failed; the note says how.
    Error,
}

impl Measurement {
    /// A measured figure.
    pub fn ok(op: Op, samples: Vec<f64>, calls_per_sample: u64, rows: Option<usize>) -> Self {
        Measurement {
            op,
            status: Status::Ok,
            median: Some(median(&samples)),
            samples,
            calls_per_sample,
            rows,
            note: None,
        }
    }

    /// No figure, with the reason.
    pub fn missing(op: Op, status: Status, reason: impl Into<String>) -> Self {
        Measurement {
            op,
            status,
            median: None,
            samples: Vec::new(),
            calls_per_sample: 0,
            rows: None,
            note: Some(reason.into()),
        }
    }
}

/// The median of `xs` (the mean of the middle two for an even count); 0 for none.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Every figure of one (engine, size) run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineRun {
    /// The engine.
    pub engine: EngineKind,
    /// Records loaded.
    pub size: usize,
    /// Wall time of the child process, in seconds.
    pub wall_secs: f64,
    /// One entry per operation, in [`Op::ALL`] order where the child got that far.
    pub measurements: Vec<Measurement>,
}

impl EngineRun {
    /// The figure for `op`, if the child reported one.
    pub fn get(&self, op: Op) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.op == op)
    }
}

/// A whole harness run: where, what with, and every figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Machine, versions, command, times.
    pub meta: system::Meta,
    /// Every (engine, size) run, sizes ascending, engines in [`EngineKind::ALL`] order.
    pub runs: Vec<EngineRun>,
}

impl Results {
    /// The sizes run, ascending.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self.runs.iter().map(|r| r.size).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// The engines run, in table order.
    pub fn engines(&self) -> Vec<EngineKind> {
        let mut e: Vec<EngineKind> = self.runs.iter().map(|r| r.engine).collect();
        e.sort_unstable();
        e.dedup();
        e
    }

    /// The run of `engine` at `size`.
    pub fn run(&self, engine: EngineKind, size: usize) -> Option<&EngineRun> {
        self.runs
            .iter()
            .find(|r| r.engine == engine && r.size == size)
    }
}

/// Parses `10k`, `100k`, `1M` or a plain number.
pub fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let (digits, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000),
        _ => (t, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("bad size {s:?}: expected e.g. 10k, 100k, 1M or 5000"))?;
    match n.checked_mul(mult) {
        Some(0) | None => Err(format!("bad size {s:?}: must be between 1 and usize::MAX")),
        Some(v) => Ok(v),
    }
}

/// `10k`, `100k`, `1M`, or the plain number when it is not a round multiple.
pub fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print_back() {
        for (s, n) in [
            ("10k", 10_000),
            ("100K", 100_000),
            ("1M", 1_000_000),
            ("750", 750),
        ] {
            assert_eq!(parse_size(s), Ok(n));
            assert_eq!(parse_size(&size_label(n)), Ok(n));
        }
        for bad in ["", "k", "0", "ten", "1.5k", "-3"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn median_against_a_sort() {
        let xs = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(median(&xs), 3.0);
        assert_eq!(median(&xs[..4]), (2.0 + 4.0) / 2.0);
        assert_eq!(median(&[]), 0.0);
    }
}
