//! The one error type of the boundary: `blazedb::Error`, variant by variant, plus `Internal`
//! for a caught panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Every failure a binding call reports. Swift, Kotlin and Python each see it as their own
/// typed error (`BlazeError`, `BlazeException`, `BlazeError`), one case per variant.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum BlazeError {
    /// An insert named an id that is already stored (live or soft-deleted).
    #[error("record {id} already exists")]
    RecordExists { id: String },
    /// The record does not exist, or it was soft-deleted.
    #[error("record {id} not found")]
    RecordNotFound { id: String },
    /// A transaction could not start, commit or continue (also: the write lock timed out).
    #[error("transaction failed: {reason}")]
    TransactionFailed { reason: String },
    /// A query is malformed.
    #[error("invalid query: {reason}")]
    InvalidQuery { reason: String },
    /// A named index does not exist.
    #[error("index not found: {name}")]
    IndexNotFound { name: String },
    /// A field has the wrong type or violates a rule.
    #[error("invalid field {field}: {reason}")]
    InvalidField { field: String, reason: String },
    /// The disk is full; nothing of the failed write was committed.
    #[error("disk full")]
    DiskFull,
    /// The operating system refused access, or the handle is read-only.
    #[error("permission denied: {reason}")]
    PermissionDenied { reason: String },
    /// Another handle, in this process or another, holds the file open for writing.
    #[error("database {path} is locked by another open handle")]
    DatabaseLocked { path: String },
    /// Stored bytes failed a check.
    #[error("corrupted data: {reason}")]
    CorruptedData { reason: String },
    /// The password does not open this database.
    #[error("password does not match this database")]
    PasswordMismatch,
    /// The password fails the policy; one entry per failed rule.
    #[error("password too weak: missing {}", missing.join(", "))]
    PasswordTooWeak { missing: Vec<String> },
    /// Well-formed input that cannot be stored or understood.
    #[error("invalid data: {reason}")]
    InvalidData { reason: String },
    /// An argument is out of range or malformed.
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// A schema migration failed.
    #[error("migration failed: {reason}")]
    MigrationFailed { reason: String },
    /// The feature is in the API but not implemented yet.
    #[error("not implemented: {feature}")]
    NotImplemented { feature: String },
    /// The database or the transaction was closed; nothing ran.
    #[error("database is closed")]
    Closed,
    /// Any other I/O failure.
    #[error("I/O error: {reason}")]
    Io { reason: String },
    /// A bug: the call panicked inside Rust. The panic was caught at the boundary; the
    /// database handle stays usable.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl From<blazedb::Error> for BlazeError {
    fn from(e: blazedb::Error) -> Self {
        use blazedb::Error as E;
        match e {
            E::RecordExists { id } => BlazeError::RecordExists {
                id: crate::value::id_string(id),
            },
            E::RecordNotFound { id } => BlazeError::RecordNotFound {
                id: crate::value::id_string(id),
            },
            E::TransactionFailed(reason) => BlazeError::TransactionFailed { reason },
            E::InvalidQuery(reason) => BlazeError::InvalidQuery { reason },
            E::IndexNotFound(name) => BlazeError::IndexNotFound { name },
            E::InvalidField { field, reason } => BlazeError::InvalidField { field, reason },
            E::DiskFull => BlazeError::DiskFull,
            E::PermissionDenied(reason) => BlazeError::PermissionDenied { reason },
            E::DatabaseLocked { path } => BlazeError::DatabaseLocked {
                path: path.display().to_string(),
            },
            E::CorruptedData(reason) => BlazeError::CorruptedData { reason },
            E::PasswordMismatch => BlazeError::PasswordMismatch,
            E::PasswordTooWeak { missing } => BlazeError::PasswordTooWeak { missing },
            E::InvalidData(reason) => BlazeError::InvalidData { reason },
            E::InvalidInput(reason) => BlazeError::InvalidInput { reason },
            E::MigrationFailed(reason) => BlazeError::MigrationFailed { reason },
            E::NotImplemented(feature) => BlazeError::NotImplemented { feature },
            E::Closed => BlazeError::Closed,
            E::Io(io) => BlazeError::Io {
                reason: io.to_string(),
            },
            // `blazedb::Error` is non-exhaustive: a variant added to the core before it is
            // added here still arrives typed, as Io with its message.
            other => BlazeError::Io {
                reason: other.to_string(),
            },
        }
    }
}

/// A callback into the foreign language failed in a way UniFFI could not map.
impl From<uniffi::UnexpectedUniFFICallbackError> for BlazeError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        BlazeError::Internal {
            reason: format!("callback failed: {}", e.reason),
        }
    }
}

/// Runs `f`, turning a panic into `BlazeError::Internal`, so that no panic reaches the
/// boundary and every failure arrives as the typed error (UniFFI's own panic catching
/// would surface as an untyped internal error in the foreign language).
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, BlazeError>) -> Result<T, BlazeError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let reason = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "panic with a non-text payload".to_string()
            };
            Err(BlazeError::Internal { reason })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal() {
        let r: Result<(), BlazeError> = guard(|| panic!("boom"));
        assert!(matches!(r, Err(BlazeError::Internal { reason }) if reason == "boom"));
        let r: Result<(), BlazeError> = guard(|| panic!("{}", String::from("fmt")));
        assert!(matches!(r, Err(BlazeError::Internal { reason }) if reason == "fmt"));
    }

    #[test]
    fn core_errors_map_variant_by_variant() {
        let id = blazedb::Uuid::new_v4();
        assert!(matches!(
            BlazeError::from(blazedb::Error::RecordExists { id }),
            BlazeError::RecordExists { id: s } if s == id.to_string()
        ));
        assert!(matches!(
            BlazeError::from(blazedb::Error::Closed),
            BlazeError::Closed
        ));
        assert!(matches!(
            BlazeError::from(blazedb::Error::PasswordTooWeak {
                missing: vec!["a".into()]
            }),
            BlazeError::PasswordTooWeak { missing } if missing == ["a"]
        ));
        assert!(matches!(
            BlazeError::from(blazedb::Error::Io(std::io::Error::other("x"))),
            BlazeError::Io { .. }
        ));
    }
}
