//! Compaction on a policy: compact when fragmentation passes a threshold, checked at close
//! ([`Database::close_with_policy`]), on demand ([`Database::compact_if_needed`]) or after
//! commits in the background ([`AutoCompactor`]).
//!
//! redb files grow in steps and do not shrink when records are deleted; freed pages are
//! reused by later writes. [`Database::compact`] moves pages down and truncates the file.
//! It needs a moment with no open transaction or snapshot and blocks writers and readers
//! while it runs, which is why it is never automatic unless asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Stats;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::feed::{CallbackSubscription, Notification};

/// When to compact.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactionPolicy {
    /// Compact when at least this share of the file is free or fragmented (default 0.25)...
    pub min_fragmentation: f64,
    /// ...and at least this many bytes are (default 4 MiB).
    pub min_fragmented_bytes: u64,
    /// [`AutoCompactor`]: look at the numbers after this many commits (default 1,000).
    pub check_every_commits: u64,
    /// [`AutoCompactor`]: and no more often than this (default 60 s).
    pub min_interval: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            min_fragmentation: 0.25,
            min_fragmented_bytes: 4 << 20,
            check_every_commits: 1_000,
            min_interval: Duration::from_secs(60),
        }
    }
}

impl CompactionPolicy {
    /// The defaults.
    pub fn new() -> Self {
        CompactionPolicy::default()
    }

    /// Sets [`Self::min_fragmentation`].
    pub fn min_fragmentation(mut self, share: f64) -> Self {
        self.min_fragmentation = share.clamp(0.0, 1.0);
        self
    }

    /// Sets [`Self::min_fragmented_bytes`].
    pub fn min_fragmented_bytes(mut self, bytes: u64) -> Self {
        self.min_fragmented_bytes = bytes;
        self
    }

    /// Sets [`Self::check_every_commits`].
    pub fn check_every_commits(mut self, n: u64) -> Self {
        self.check_every_commits = n.max(1);
        self
    }

    /// Sets [`Self::min_interval`].
    pub fn min_interval(mut self, d: Duration) -> Self {
        self.min_interval = d;
        self
    }

    /// Whether these numbers call for a compaction.
    pub fn wants(&self, stats: &Stats) -> bool {
        !stats.read_only
            && stats.storage.fragmented_bytes >= self.min_fragmented_bytes
            && stats.storage.fragmentation >= self.min_fragmentation
    }
}

impl Database {
    /// Compacts if `policy` says so; returns the bytes reclaimed, or `None` when it did
    /// not compact.
    pub fn compact_if_needed(&self, policy: &CompactionPolicy) -> Result<Option<u64>> {
        // The last write's freed pages are released by the next commit (see
        // `WriteTx::_reuse_pin`): an empty durable commit releases them, so the policy
        // sees them as the free space they are.
        if !self.is_read_only() {
            self.sync()?;
        }
        let stats = self.stats()?;
        if policy.wants(&stats) {
            Ok(Some(self.compact()?))
        } else {
            Ok(None)
        }
    }

    /// Compacts if `policy` says so, then closes. A compaction that cannot run (a snapshot
    /// is still open elsewhere) is skipped, never a reason not to close. Returns the bytes
    /// reclaimed, if it compacted.
    pub fn close_with_policy(&self, policy: &CompactionPolicy) -> Result<Option<u64>> {
        let reclaimed = if self.is_closed() || self.ops_options().read_only {
            None
        } else {
            match self.compact_if_needed(policy) {
                Ok(r) => r,
                Err(Error::TransactionFailed(_)) => None,
                Err(e) => {
                    self.close()?;
                    return Err(e);
                }
            }
        };
        self.close()?;
        Ok(reclaimed)
    }
}

struct AutoState {
    policy: CompactionPolicy,
    commits: AtomicU64,
    checks: AtomicU64,
    compactions: AtomicU64,
    reclaimed: AtomicU64,
    last_check: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
}

/// Compacts a database in the background when its policy says so.
///
/// It counts commits through the change feed; every [`CompactionPolicy::check_every_commits`]
/// commits, and at most once per [`CompactionPolicy::min_interval`], it reads the stats on
/// its own thread and compacts if they pass the thresholds. A compaction that cannot run
/// (a snapshot is open) is retried at the next check, and the error is kept in
/// [`Self::last_error`]. It holds no strong reference to the database: dropping the last
/// handle still closes it. Dropping the compactor (or [`Self::stop`]) ends it.
pub struct AutoCompactor {
    state: Arc<AutoState>,
    sub: Option<CallbackSubscription>,
}

impl std::fmt::Debug for AutoCompactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoCompactor")
            .field("policy", &self.state.policy)
            .field("compactions", &self.compactions())
            .finish()
    }
}

impl AutoCompactor {
    /// Starts watching `db` (a writable handle).
    pub fn start(db: &Database, policy: CompactionPolicy) -> Result<AutoCompactor> {
        if db.ops_options().read_only {
            return Err(Error::PermissionDenied(
                "automatic compaction needs a writable handle".into(),
            ));
        }
        let state = Arc::new(AutoState {
            policy,
            commits: AtomicU64::new(0),
            checks: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
            last_check: Mutex::new(None),
            last_error: Mutex::new(None),
        });
        let weak = db.ops_downgrade();
        let s = state.clone();
        let sub = db.on_change(move |n| {
            let commits = match n {
                Notification::Changes(_) => 1,
                Notification::Lagged { missed } => missed,
            };
            let total = s.commits.fetch_add(commits, Ordering::SeqCst) + commits;
            let every = s.policy.check_every_commits.max(1);
            if total / every == (total - commits) / every {
                return;
            }
            {
                let mut last = s.last_check.lock();
                if last.is_some_and(|t| t.elapsed() < s.policy.min_interval) {
                    return;
                }
                *last = Some(Instant::now());
            }
            let Some(db) = weak.upgrade() else { return };
            s.checks.fetch_add(1, Ordering::SeqCst);
            match db.compact_if_needed(&s.policy) {
                Ok(Some(bytes)) => {
                    s.compactions.fetch_add(1, Ordering::SeqCst);
                    s.reclaimed.fetch_add(bytes, Ordering::SeqCst);
                    *s.last_error.lock() = None;
                }
                Ok(None) => *s.last_error.lock() = None,
                Err(e) => *s.last_error.lock() = Some(e.to_string()),
            }
        })?;
        Ok(AutoCompactor {
            state,
            sub: Some(sub),
        })
    }

    /// Commits seen so far.
    pub fn commits_seen(&self) -> u64 {
        self.state.commits.load(Ordering::SeqCst)
    }

    /// Times it read the stats to decide.
    pub fn checks(&self) -> u64 {
        self.state.checks.load(Ordering::SeqCst)
    }

    /// Compactions it ran.
    pub fn compactions(&self) -> u64 {
        self.state.compactions.load(Ordering::SeqCst)
    }

    /// Bytes its compactions gave back.
    pub fn bytes_reclaimed(&self) -> u64 {
        self.state.reclaimed.load(Ordering::SeqCst)
    }

    /// The last check's error, if it failed (cleared by the next good check).
    pub fn last_error(&self) -> Option<String> {
        self.state.last_error.lock().clone()
    }

    /// Stops watching.
    pub fn stop(mut self) {
        if let Some(mut s) = self.sub.take() {
            s.cancel();
        }
    }
}
