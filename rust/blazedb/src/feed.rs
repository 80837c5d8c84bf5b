//! Change feed: one batch per commit to each subscriber of that database.
//!
//! Delivery never blocks the writer. Each subscription has a bounded queue; when a slow
//! subscriber lets it fill, the oldest batch is dropped and the subscriber's next receive
//! reports [`Notification::Lagged`] with how many it missed, so it knows to re-read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use uuid::Uuid;

/// What a commit did to one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The record was inserted.
    Inserted,
    /// The record was replaced or merged.
    Updated,
    /// The record was deleted, soft-deleted, or its collection dropped.
    Deleted,
}

/// One record's change in a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The collection the record lives in (shared by every change of one operation).
    pub collection: Arc<str>,
    /// The record's id.
    pub id: Uuid,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// Everything one commit changed, in the order the transaction did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeBatch {
    /// Commit sequence number within this open handle, starting at 1.
    pub seq: u64,
    /// The changes.
    pub changes: Vec<Change>,
}

/// What a subscription receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// One commit's changes.
    Changes(Arc<ChangeBatch>),
    /// The queue overflowed and this many batches were dropped (the oldest first).
    Lagged {
        /// Number of dropped batches.
        missed: u64,
    },
}

struct Queue {
    items: VecDeque<Arc<ChangeBatch>>,
    missed: u64,
}

pub(crate) struct SubShared {
    queue: Mutex<Queue>,
    ready: Condvar,
    capacity: usize,
    cancelled: AtomicBool,
}

impl SubShared {
    fn push(&self, batch: &Arc<ChangeBatch>) {
        let mut q = self.queue.lock();
        if q.items.len() >= self.capacity {
            q.items.pop_front();
            q.missed += 1;
        }
        q.items.push_back(batch.clone());
        drop(q);
        self.ready.notify_all();
    }

    fn stop(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let _q = self.queue.lock();
        self.ready.notify_all();
    }
}

/// The per-database registry of subscribers.
pub(crate) struct Feed {
    subs: Mutex<Vec<Arc<SubShared>>>,
    seq: AtomicU64,
    capacity: usize,
}

impl Feed {
    pub(crate) fn new(capacity: usize) -> Self {
        Feed {
            subs: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
            capacity,
        }
    }

    pub(crate) fn subscribe(self: &Arc<Self>) -> Subscription {
        let shared = Arc::new(SubShared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                missed: 0,
            }),
            ready: Condvar::new(),
            capacity: self.capacity,
            cancelled: AtomicBool::new(false),
        });
        self.subs.lock().push(shared.clone());
        Subscription {
            shared,
            feed: Arc::downgrade(self),
        }
    }

    /// Called after a commit succeeded; never blocks on a subscriber.
    pub(crate) fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let batch = Arc::new(ChangeBatch { seq, changes });
        let subs = self.subs.lock();
        for s in subs.iter() {
            if !s.cancelled.load(Ordering::SeqCst) {
                s.push(&batch);
            }
        }
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        !self.subs.lock().is_empty()
    }

    /// Ends every subscription (the database closed); queued batches stay receivable.
    pub(crate) fn close(&self) {
        let subs = std::mem::take(&mut *self.subs.lock());
        for s in subs {
            s.stop();
        }
    }

    fn remove(&self, target: &Arc<SubShared>) {
        self.subs.lock().retain(|s| !Arc::ptr_eq(s, target));
    }
}

/// A live subscription to one database's commits. Dropping it cancels it.
pub struct Subscription {
    shared: Arc<SubShared>,
    feed: std::sync::Weak<Feed>,
}

impl Subscription {
    fn take(&self, q: &mut Queue) -> Option<Notification> {
        if q.missed > 0 {
            let missed = std::mem::take(&mut q.missed);
            return Some(Notification::Lagged { missed });
        }
        q.items.pop_front().map(Notification::Changes)
    }

    /// Returns a pending notification without waiting.
    pub fn try_recv(&self) -> Option<Notification> {
        let mut q = self.shared.queue.lock();
        self.take(&mut q)
    }

    /// Waits for the next notification. `None` once the subscription is cancelled or the
    /// database closed and the queue is drained.
    pub fn recv(&self) -> Option<Notification> {
        self.recv_until(None)
    }

    /// Like [`Self::recv`], giving up after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Notification> {
        self.recv_until(Some(std::time::Instant::now() + timeout))
    }

    fn recv_until(&self, deadline: Option<std::time::Instant>) -> Option<Notification> {
        let mut q = self.shared.queue.lock();
        loop {
            if let Some(n) = self.take(&mut q) {
                return Some(n);
            }
            if self.shared.cancelled.load(Ordering::SeqCst) {
                return None;
            }
            match deadline {
                None => self.shared.ready.wait(&mut q),
                Some(d) => {
                    if self.shared.ready.wait_until(&mut q, d).timed_out() {
                        return self.take(&mut q);
                    }
                }
            }
        }
    }

    /// Stops delivery; later receives drain what is queued, then return `None`.
    pub fn cancel(&self) {
        self.shared.stop();
        if let Some(feed) = self.feed.upgrade() {
            feed.remove(&self.shared);
        }
    }

    /// Whether the subscription was cancelled or its database closed.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Moves delivery onto a thread of its own that calls `f` for each notification, until
    /// the returned handle is cancelled or dropped, or the database closes.
    pub(crate) fn into_callback<F>(self, f: F) -> std::io::Result<CallbackSubscription>
    where
        F: Fn(Notification) + Send + 'static,
    {
        let inner = Subscription {
            shared: self.shared.clone(),
            feed: self.feed.clone(),
        };
        let sub = self;
        let thread = std::thread::Builder::new()
            .name("blazedb-feed".into())
            .spawn(move || {
                while let Some(n) = sub.recv() {
                    // A panicking callback must not take the delivery thread's owner down
                    // with it; the notification is dropped and delivery goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(n)));
                }
            })?;
        Ok(CallbackSubscription {
            inner,
            thread: Some(thread),
        })
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl std::fmt::Debug for CallbackSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSubscription")
            .field("cancelled", &self.inner.is_cancelled())
            .finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A subscription delivered to a callback on its own thread. Dropping it cancels delivery
/// and waits for the thread to finish the callback in flight.
pub struct CallbackSubscription {
    inner: Subscription,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CallbackSubscription {
    /// Stops delivery and waits for the delivery thread (unless called from it).
    pub fn cancel(&mut self) {
        self.inner.cancel();
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Drop for CallbackSubscription {
    fn drop(&mut self) {
        self.cancel();
    }
}
