//! The change feed across the boundary: a foreign listener called with one batch per commit.

use std::sync::Arc;

use blazedb::{CallbackSubscription, ChangeKind as CoreKind, Notification};
use parking::Mutex;

use crate::value::id_string;

/// Mutex without poisoning (a panicking holder must not wedge later calls).
mod parking {
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub(crate) fn new(v: T) -> Self {
            Mutex(std::sync::Mutex::new(v))
        }
        pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }
}

/// What a commit did to one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeKind {
    /// Inserted (insert, insert_many, upsert that inserted).
    Inserted,
    /// Replaced or merged (update, update_fields, upsert that replaced).
    Updated,
    /// Deleted, soft-deleted, or its collection dropped.
    Deleted,
}

/// One record's change.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Change {
    /// The collection the record is in.
    pub collection: String,
    /// The record's id.
    pub id: String,
    /// What happened.
    pub kind: ChangeKind,
}

/// Everything one commit changed, in the order the transaction did it.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct ChangeBatch {
    /// Commit sequence number within the open handle, from 1.
    pub seq: u64,
    /// The changes.
    pub changes: Vec<Change>,
}

/// Implemented in Swift, Kotlin or Python; called on a delivery thread of its own, one call
/// per commit. Calls never overlap. A slow listener never blocks writers: when its queue
/// (`OpenOptions::feed_capacity` batches) overflows, the oldest batches are dropped and
/// `on_lagged` says how many, so the listener knows to re-read.
#[uniffi::export(with_foreign)]
pub trait ChangeListener: Send + Sync {
    /// One commit's changes.
    fn on_changes(&self, batch: ChangeBatch);
    /// `missed` batches were dropped because the listener fell behind.
    fn on_lagged(&self, missed: u64);
}

/// A live subscription. Delivery stops at `cancel`, when the object is freed, or when the
/// database closes.
#[derive(uniffi::Object)]
pub struct Subscription {
    inner: Mutex<Option<CallbackSubscription>>,
}

impl Subscription {
    pub(crate) fn start(
        db: &blazedb::Database,
        listener: Arc<dyn ChangeListener>,
    ) -> Result<Arc<Self>, crate::BlazeError> {
        let sub = db.on_change(move |n| match n {
            Notification::Changes(batch) => listener.on_changes(ChangeBatch {
                seq: batch.seq,
                changes: batch
                    .changes
                    .iter()
                    .map(|c| Change {
                        collection: c.collection.to_string(),
                        id: id_string(c.id),
                        kind: match c.kind {
                            CoreKind::Inserted => ChangeKind::Inserted,
                            CoreKind::Updated => ChangeKind::Updated,
                            CoreKind::Deleted => ChangeKind::Deleted,
                        },
                    })
                    .collect(),
            }),
            Notification::Lagged { missed } => listener.on_lagged(missed),
        })?;
        Ok(Arc::new(Subscription {
            inner: Mutex::new(Some(sub)),
        }))
    }
}

#[uniffi::export]
impl Subscription {
    /// Stops delivery and waits for a callback in flight to return (unless called from the
    /// listener itself). Idempotent.
    pub fn cancel(&self) {
        let sub = self.inner.lock().take();
        drop(sub);
    }

    /// Whether `cancel` has not been called yet. (A closed database also ends delivery.)
    pub fn is_active(&self) -> bool {
        self.inner.lock().is_some()
    }
}
