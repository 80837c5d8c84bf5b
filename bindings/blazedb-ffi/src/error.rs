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
    /// A write would give two live records the same key in a unique index; nothing of it
    /// was stored. `existing` is the id of the record that already holds the key.
    #[error("unique index {index:?} on {collection:?} already holds this key (record {existing})")]
    UniqueViolation {
        index: String,
        collection: String,
        existing: String,
    },
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
            E::UniqueViolation {
                index,
                collection,
                existing,
            } => BlazeError::UniqueViolation {
                index,
                collection,
                existing: crate::value::id_string(existing),
            },
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
            // `blazedb::Error` is non-exhaustive, so the compiler demands this arm although
            // every variant the core has today is mapped above (the test
            // `core_errors_map_variant_by_variant` goes through each). A variant added to
            // the core before it is added here still arrives typed, as Io with its message.
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
        use blazedb::Error as E;
        let id = blazedb::Uuid::new_v4();
        let ids = id.to_string();
        // One entry per core variant: none may fall into the fallback arm (which gives Io
        // for anything but `E::Io`).
        type Check = fn(&BlazeError, &str) -> bool;
        let cases: Vec<(E, Check)> = vec![
            (
                E::RecordExists { id },
                |e, i| matches!(e, BlazeError::RecordExists { id } if id == i),
            ),
            (
                E::RecordNotFound { id },
                |e, i| matches!(e, BlazeError::RecordNotFound { id } if id == i),
            ),
            (
                E::TransactionFailed("t".into()),
                |e, _| matches!(e, BlazeError::TransactionFailed { reason } if reason == "t"),
            ),
            (
                E::InvalidQuery("q".into()),
                |e, _| matches!(e, BlazeError::InvalidQuery { reason } if reason == "q"),
            ),
            (
                E::IndexNotFound("n".into()),
                |e, _| matches!(e, BlazeError::IndexNotFound { name } if name == "n"),
            ),
            (
                E::UniqueViolation {
                    index: "email".into(),
                    collection: "users".into(),
                    existing: id,
                },
                |e, i| {
                    matches!(e, BlazeError::UniqueViolation { index, collection, existing }
                    if index == "email" && collection == "users" && existing == i)
                },
            ),
            (
                E::InvalidField {
                    field: "f".into(),
                    reason: "r".into(),
                },
                |e, _| matches!(e, BlazeError::InvalidField { field, reason } if field == "f" && reason == "r"),
            ),
            (E::DiskFull, |e, _| matches!(e, BlazeError::DiskFull)),
            (
                E::PermissionDenied("p".into()),
                |e, _| matches!(e, BlazeError::PermissionDenied { reason } if reason == "p"),
            ),
            (
                E::DatabaseLocked {
                    path: "/x/db".into(),
                },
                |e, _| matches!(e, BlazeError::DatabaseLocked { path } if path == "/x/db"),
            ),
            (
                E::CorruptedData("c".into()),
                |e, _| matches!(e, BlazeError::CorruptedData { reason } if reason == "c"),
            ),
            (E::PasswordMismatch, |e, _| {
                matches!(e, BlazeError::PasswordMismatch)
            }),
            (
                E::PasswordTooWeak {
                    missing: vec!["a".into()],
                },
                |e, _| matches!(e, BlazeError::PasswordTooWeak { missing } if missing == &["a"]),
            ),
            (
                E::InvalidData("d".into()),
                |e, _| matches!(e, BlazeError::InvalidData { reason } if reason == "d"),
            ),
            (
                E::InvalidInput("i".into()),
                |e, _| matches!(e, BlazeError::InvalidInput { reason } if reason == "i"),
            ),
            (
                E::MigrationFailed("m".into()),
                |e, _| matches!(e, BlazeError::MigrationFailed { reason } if reason == "m"),
            ),
            (
                E::NotImplemented("x".into()),
                |e, _| matches!(e, BlazeError::NotImplemented { feature } if feature == "x"),
            ),
            (E::Closed, |e, _| matches!(e, BlazeError::Closed)),
            (
                E::Io(std::io::Error::other("x")),
                |e, _| matches!(e, BlazeError::Io { reason } if reason == "x"),
            ),
        ];
        for (core, check) in cases {
            let shown = format!("{core:?}");
            let mapped = BlazeError::from(core);
            assert!(check(&mapped, &ids), "{shown} mapped to {mapped:?}");
        }
    }
}
