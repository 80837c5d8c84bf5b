//! The one error type every public call returns.
//!
//! The variants mirror upstream Swift `BlazeDBError` case by case so that the bindings can
//! rebuild the exact upstream error, plus `Closed` and `Io`. redb's per-operation errors are
//! mapped here and nowhere else, so the mapping is reviewed in one place.

use std::path::PathBuf;

use uuid::Uuid;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure BlazeDB reports. No public call panics; each failure is one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An insert named an id that is already stored (live or soft-deleted).
    #[error("record {id} already exists")]
    RecordExists {
        /// The id that collided.
        id: Uuid,
    },
    /// The record does not exist, or it was soft-deleted.
    #[error("record {id} not found")]
    RecordNotFound {
        /// The id that was looked up.
        id: Uuid,
    },
    /// A transaction could not start, commit or continue.
    #[error("transaction failed: {0}")]
    TransactionFailed(String),
    /// A query is malformed or asks for something impossible.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A named index does not exist.
    #[error("index not found: {0}")]
    IndexNotFound(String),
    /// A write would give two live records the same key in a unique index; nothing of
    /// that write was stored.
    #[error("unique index {index:?} on {collection:?} already holds this key (record {existing})")]
    UniqueViolation {
        /// The unique index.
        index: String,
        /// Its collection.
        collection: String,
        /// The record that already holds the key.
        existing: Uuid,
    },
    /// A field has the wrong type or violates a rule.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The field (a dotted path) at fault.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// The disk or file system is full; nothing of the failed write was committed.
    #[error("disk full")]
    DiskFull,
    /// The operating system refused access, or the handle is read-only.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Another handle, in this process or another, holds the file open for writing.
    #[error("database {} is locked by another open handle", path.display())]
    DatabaseLocked {
        /// The file that is locked.
        path: PathBuf,
    },
    /// Stored bytes failed a check: a bad checksum, a malformed encoding, a truncated file.
    #[error("corrupted data: {0}")]
    CorruptedData(String),
    /// The password or key does not open this database.
    #[error("password does not match this database")]
    PasswordMismatch,
    /// The password fails the configured policy.
    #[error("password too weak: missing {}", missing.join(", "))]
    PasswordTooWeak {
        /// Each rule the password failed, in words.
        missing: Vec<String>,
    },
    /// Well-formed input that cannot be stored or understood (a bad dump, a bad JSON value).
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// An argument is out of range or malformed (a bad name, a negative limit, a size limit).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A schema migration step failed; its transaction was rolled back.
    #[error("migration failed: {0}")]
    MigrationFailed(String),
    /// The feature exists in the API but is not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// The database (or the transaction) was closed; nothing ran.
    #[error("database is closed")]
    Closed,
    /// Any other operating-system I/O failure.
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
}

impl Error {
    /// Builds an [`Error::InvalidInput`] from anything printable.
    pub(crate) fn invalid_input(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    /// Builds an [`Error::CorruptedData`] from anything printable.
    pub(crate) fn corrupted(msg: impl Into<String>) -> Self {
        Error::CorruptedData(msg.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
                Error::PermissionDenied(e.to_string())
            }
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Error::DiskFull,
            ErrorKind::InvalidData | ErrorKind::UnexpectedEof => {
                Error::CorruptedData(e.to_string())
            }
            _ => Error::Io(e),
        }
    }
}

impl From<redb::StorageError> for Error {
    fn from(e: redb::StorageError) -> Self {
        match e {
            redb::StorageError::Corrupted(msg) => Error::CorruptedData(msg),
            redb::StorageError::ValueTooLarge(n) => {
                Error::InvalidInput(format!("value of {n} bytes is too large to store"))
            }
            redb::StorageError::Io(io) => io.into(),
            redb::StorageError::DatabaseClosed => Error::Closed,
            redb::StorageError::PreviousIo => Error::Io(std::io::Error::other(
                "an earlier I/O error left the database unusable; reopen it",
            )),
            other => Error::Io(std::io::Error::other(other.to_string())),
        }
    }
}

impl From<redb::TableError> for Error {
    fn from(e: redb::TableError) -> Self {
        match e {
            redb::TableError::Storage(s) => s.into(),
            other => Error::CorruptedData(format!("table layout: {other}")),
        }
    }
}

impl From<redb::TransactionError> for Error {
    fn from(e: redb::TransactionError) -> Self {
        match e {
            redb::TransactionError::Storage(s) => s.into(),
            other => Error::TransactionFailed(other.to_string()),
        }
    }
}

impl From<redb::CommitError> for Error {
    fn from(e: redb::CommitError) -> Self {
        match e {
            redb::CommitError::Storage(s) => s.into(),
            other => Error::TransactionFailed(other.to_string()),
        }
    }
}

impl From<redb::CompactionError> for Error {
    fn from(e: redb::CompactionError) -> Self {
        match e {
            redb::CompactionError::Storage(s) => s.into(),
            other => Error::TransactionFailed(format!("compaction: {other}")),
        }
    }
}

impl From<redb::SetDurabilityError> for Error {
    fn from(e: redb::SetDurabilityError) -> Self {
        Error::TransactionFailed(e.to_string())
    }
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Corrupted(msg) => Error::CorruptedData(msg),
            redb::Error::Io(io) => io.into(),
            redb::Error::DatabaseClosed => Error::Closed,
            redb::Error::ValueTooLarge(n) => {
                Error::InvalidInput(format!("value of {n} bytes is too large to store"))
            }
            other => Error::Io(std::io::Error::other(other.to_string())),
        }
    }
}

/// Maps a redb open failure, naming the file for the lock case.
pub(crate) fn from_open_error(e: redb::DatabaseError, path: &std::path::Path) -> Error {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::DatabaseLocked {
            path: path.to_path_buf(),
        },
        redb::DatabaseError::Storage(s) => s.into(),
        redb::DatabaseError::UpgradeRequired(v) => Error::CorruptedData(format!(
            "{} uses redb file format {v}, which this build cannot read",
            path.display()
        )),
        other => Error::Io(std::io::Error::other(other.to_string())),
    }
}
