//! The health report: ok, warn or error, with reasons and what to do about them.

use serde::Serialize;

use super::{SchemaVersion, Stats};
use crate::db::Database;
use crate::error::Result;

/// Overall health, as upstream's `DatabaseHealth` (serialized `"OK"`, `"WARN"`, `"ERROR"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    /// Nothing to do.
    Ok,
    /// Works, but something should be done (compact, purge, a bigger cache).
    Warn,
    /// Damage or a mismatch: do not trust the data until it is dealt with.
    Error,
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HealthStatus::Ok => "OK",
            HealthStatus::Warn => "WARN",
            HealthStatus::Error => "ERROR",
        })
    }
}

/// What [`Database::health`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthReport {
    /// The worst finding.
    pub status: HealthStatus,
    /// Each finding, in words.
    pub reasons: Vec<String>,
    /// What to do, one line per finding that has a remedy.
    pub suggested_actions: Vec<String>,
    /// One line: the status and the number of findings.
    pub summary: String,
}

impl HealthReport {
    fn new() -> Self {
        HealthReport {
            status: HealthStatus::Ok,
            reasons: Vec::new(),
            suggested_actions: Vec::new(),
            summary: String::new(),
        }
    }

    fn add(&mut self, status: HealthStatus, reason: String, action: Option<String>) {
        self.status = self.status.max(status);
        self.reasons.push(reason);
        if let Some(a) = action
            && !self.suggested_actions.contains(&a)
        {
            self.suggested_actions.push(a);
        }
    }

    fn finish(mut self) -> Self {
        self.summary = match self.reasons.len() {
            0 => format!("{}: no findings", self.status),
            1 => format!("{}: 1 finding", self.status),
            n => format!("{}: {n} findings", self.status),
        };
        self
    }
}

/// Thresholds and extra checks for [`Database::health_with`].
#[derive(Clone, Debug, PartialEq)]
pub struct HealthOptions {
    /// Warn when fragmented bytes exceed this share of the file (default 0.25)...
    pub fragmentation_warn: f64,
    /// ...and at least this many bytes (default 4 MiB: small files are not worth it).
    pub min_fragmented_bytes: u64,
    /// Warn when the cache hit rate is below this (default 0.7, upstream's threshold)...
    pub cache_hit_warn: f64,
    /// ...after at least this many page accesses (default 10,000: a cold cache misses).
    pub cache_min_accesses: u64,
    /// Warn when soft-deleted records exceed this share of the stored ones (default 0.25)...
    pub tombstone_warn: f64,
    /// ...and number at least this many (default 1,000).
    pub min_tombstones: u64,
    /// Warn when the file is at least this large (default 10 GB, upstream's "large").
    pub large_file_bytes: u64,
    /// Authenticate every block of an encrypted file (default true; a pass over the file).
    /// Damage is an error.
    pub verify_encryption: bool,
    /// Also run the integrity check ([`Database::check`]; default false). A failure is an
    /// error.
    pub check_integrity: bool,
    /// The schema version the app expects (default none); a different one is an error.
    pub expected_schema_version: Option<SchemaVersion>,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            fragmentation_warn: 0.25,
            min_fragmented_bytes: 4 << 20,
            cache_hit_warn: 0.7,
            cache_min_accesses: 10_000,
            tombstone_warn: 0.25,
            min_tombstones: 1_000,
            large_file_bytes: 10_000_000_000,
            verify_encryption: true,
            check_integrity: false,
            expected_schema_version: None,
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// The findings that follow from the numbers alone (upstream's `HealthAnalyzer.analyze`).
pub fn analyze(stats: &Stats, options: &HealthOptions) -> HealthReport {
    let mut r = HealthReport::new();
    let s = &stats.storage;
    if s.fragmented_bytes >= options.min_fragmented_bytes
        && s.fragmentation >= options.fragmentation_warn
    {
        r.add(
            HealthStatus::Warn,
            format!(
                "{} of the file ({:.0}%) is free or fragmented{}",
                mib(s.fragmented_bytes),
                s.fragmentation * 100.0,
                if s.exact { "" } else { " (estimated)" }
            ),
            Some(format!(
                "run compact (`blazedb compact {}` or Database::compact) to give it back",
                stats.path
            )),
        );
    }
    let stored = stats.records + stats.soft_deleted;
    if stats.soft_deleted >= options.min_tombstones
        && stored > 0
        && stats.soft_deleted as f64 / stored as f64 >= options.tombstone_warn
    {
        r.add(
            HealthStatus::Warn,
            format!(
                "{} of {} stored records are soft-deleted",
                stats.soft_deleted, stored
            ),
            Some("purge the collections whose soft-deleted records are no longer needed".into()),
        );
    }
    let c = &stats.cache;
    let accesses = c.read_hits + c.read_misses + c.write_hits + c.write_misses;
    if let Some(rate) = c.hit_rate
        && accesses >= options.cache_min_accesses
        && rate < options.cache_hit_warn
    {
        r.add(
            HealthStatus::Warn,
            format!(
                "page cache hit rate is {:.0}% over {accesses} accesses ({} cache)",
                rate * 100.0,
                mib(c.capacity_bytes)
            ),
            Some("raise Options::cache_size if memory allows".into()),
        );
    }
    if stats.file_bytes >= options.large_file_bytes {
        r.add(
            HealthStatus::Warn,
            format!("the file is large ({})", mib(stats.file_bytes)),
            Some("archive or drop data that is no longer needed".into()),
        );
    }
    if let Some(expected) = options.expected_schema_version
        && stats.schema_version != Some(expected)
    {
        r.add(
            HealthStatus::Error,
            format!(
                "schema version is {}, the app expects {expected}",
                stats
                    .schema_version
                    .map_or("unset".to_string(), |v| v.to_string())
            ),
            Some("run the app's migrations (ops::Migrations::run)".into()),
        );
    }
    r.finish()
}

impl Database {
    /// The health report with the default thresholds (see [`HealthOptions`]): the numbers
    /// of [`Self::stats`], and for an encrypted file the authentication of every block.
    pub fn health(&self) -> Result<HealthReport> {
        self.health_with(&HealthOptions::default())
    }

    /// The health report with explicit thresholds and checks.
    pub fn health_with(&self, options: &HealthOptions) -> Result<HealthReport> {
        let stats = self.stats()?;
        let mut r = analyze(&stats, options);
        if options.verify_encryption && self.is_encrypted() {
            let problems = self.verify_encryption()?;
            for p in &problems {
                r.add(
                    HealthStatus::Error,
                    format!("encryption: {p}"),
                    Some(
                        "restore from a backup, or copy what still reads with Database::backup"
                            .into(),
                    ),
                );
            }
        }
        if options.check_integrity {
            let report = self.check()?;
            for issue in &report.issues {
                let status = match issue.severity {
                    super::Severity::Error => HealthStatus::Error,
                    super::Severity::Warning => HealthStatus::Warn,
                };
                r.add(
                    status,
                    format!("integrity: {}", issue.message),
                    Some(if status == HealthStatus::Error {
                        "restore from a backup; `blazedb doctor` shows the details".into()
                    } else {
                        "see `blazedb check` for the details".into()
                    }),
                );
            }
        }
        Ok(r.finish())
    }
}
