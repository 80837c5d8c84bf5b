//! Open options.

use std::time::Duration;

use crate::crypto::{KdfParams, Secret};

/// How commits reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is on disk when `commit` returns (one fsync per commit). The default.
    #[default]
    Immediate,
    /// Commits are visible at once but reach the disk only at the next immediate commit or
    /// [`crate::Database::sync`]. A crash loses the relaxed commits since the last sync, never
    /// more, and never leaves one half-applied. For bulk loads.
    Relaxed,
}

/// Default redb page cache: small enough for a phone, big enough to keep the B-tree's
/// upper levels hot.
pub const DEFAULT_CACHE_SIZE: usize = 16 * 1024 * 1024;
/// Default limit on one encoded record.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 16 * 1024 * 1024;
/// Default limit on records in one batch call (upstream's cap).
pub const DEFAULT_MAX_BATCH: usize = 100_000;
/// Default wait for the write lock before a write gives up with `TransactionFailed`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of undelivered change batches a subscription buffers.
pub const DEFAULT_FEED_CAPACITY: usize = 1024;

/// Settings for [`crate::Database::open`]. Build with `Options::default()` and the setters.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) cache_size: usize,
    pub(crate) durability: Durability,
    pub(crate) read_only: bool,
    pub(crate) create: bool,
    pub(crate) project: Option<String>,
    pub(crate) stamp_fields: bool,
    pub(crate) max_record_size: usize,
    pub(crate) max_batch: usize,
    pub(crate) busy_timeout: Duration,
    pub(crate) feed_capacity: usize,
    pub(crate) secret: Option<Secret>,
    pub(crate) password_policy: bool,
    pub(crate) kdf: KdfParams,
    pub(crate) two_phase_commit: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_size: DEFAULT_CACHE_SIZE,
            durability: Durability::Immediate,
            read_only: false,
            create: true,
            project: Some("Default".to_string()),
            stamp_fields: true,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            max_batch: DEFAULT_MAX_BATCH,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            feed_capacity: DEFAULT_FEED_CAPACITY,
            secret: None,
            password_policy: false,
            kdf: KdfParams::default(),
            two_phase_commit: false,
        }
    }
}

impl Options {
    /// The redb page cache in bytes (default 16 MiB).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = bytes;
        self
    }

    /// How commits reach the disk (default [`Durability::Immediate`]).
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// Opens without write access; writes fail with `PermissionDenied`. Several read-only
    /// handles may share a file, but not with a writer.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// Whether a missing file is created (default true). When false, a missing file is
    /// `InvalidInput`.
    pub fn create(mut self, yes: bool) -> Self {
        self.create = yes;
        self
    }

    /// The `project` value stamped on inserted records that lack one (default `"Default"`,
    /// as upstream); `None` stamps nothing.
    pub fn project(mut self, project: Option<String>) -> Self {
        self.project = project;
        self
    }

    /// Whether `createdAt`, `updatedAt` and `project` are stamped (default true).
    pub fn stamp_fields(mut self, yes: bool) -> Self {
        self.stamp_fields = yes;
        self
    }

    /// Limit on one encoded record, in bytes (default 16 MiB; at most 1 GiB).
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.max_record_size = bytes.min(1 << 30);
        self
    }

    /// Limit on records in one batch call (default 100,000).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// How long a write waits for another write transaction to finish (default 10 s).
    pub fn busy_timeout(mut self, t: Duration) -> Self {
        self.busy_timeout = t;
        self
    }

    /// Encrypts the database with a password (Argon2id with the file's own salt). A new file
    /// is created encrypted; an existing one must have been created with a password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.secret = Some(Secret::password(password));
        self
    }

    /// Encrypts the database with a raw 32-byte key the app keeps (Keychain, Keystore). No
    /// key derivation runs, so opening costs nothing extra.
    pub fn key(mut self, key: [u8; 32]) -> Self {
        self.secret = Some(Secret::key(key));
        self
    }

    /// Enforces upstream's password rule (12+ characters with upper case, lower case and a
    /// digit) at open and on password change; a failure is `PasswordTooWeak`. Off by
    /// default in Rust; the upstream-compatible Swift API turns it on.
    pub fn password_policy(mut self, yes: bool) -> Self {
        self.password_policy = yes;
        self
    }

    /// Argon2id cost for new files and password changes (default: 19 MiB, 2 passes, 1 lane).
    /// Existing files keep the cost stored in them until the password is changed.
    pub fn kdf_params(mut self, params: KdfParams) -> Self {
        self.kdf = params;
        self
    }

    /// Commits in two phases (default false): the data pages are synced before the header
    /// that points at them is written, two syncs per durable commit instead of one. Without
    /// it, a crash mid-commit is detected and rolled back by checking the newest commit's
    /// pages at the next open (redb's "1PC+C"). redb recommends two phases when an attacker
    /// may control the order in which pages reach the disk; see docs/SECURITY.md §5.
    pub fn two_phase_commit(mut self, yes: bool) -> Self {
        self.two_phase_commit = yes;
        self
    }

    /// Whether a password or key was given.
    pub fn is_encrypted(&self) -> bool {
        self.secret.is_some()
    }

    /// Undelivered batches a subscription keeps before it drops the oldest (default 1024).
    pub fn feed_capacity(mut self, n: usize) -> Self {
        self.feed_capacity = n.max(1);
        self
    }
}
