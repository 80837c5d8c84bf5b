//! The database handle.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use crate::crypto::backend::{EncInner, EncOpen, EncryptedBackend, looks_encrypted};
use crate::crypto::{Secret, check_policy};
use crate::engine::names::database_file_name;
use crate::engine::{FORMAT_VERSION, META, META_FORMAT};
use crate::error::{Error, Result, from_open_error};
use crate::feed::{CallbackSubscription, Feed, Notification, Subscription};
use crate::options::Options;
use crate::query::{Query, QueryCursor};
use crate::record::Record;
use crate::transactions::{ReadTx, Shared, Transaction, WriteTx};

/// The collection the upstream one-collection API reads and writes.
pub const DEFAULT_COLLECTION: &str = "default";

enum Handle {
    ReadWrite(redb::Database),
    ReadOnly(redb::ReadOnlyDatabase),
}

/// Identity of an open file: device and inode where the platform has them, so two paths to
/// one file (a symlink, a hard link, `./x` and `x`) are recognised as the same database.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileId(u64, u64, PathBuf);

fn file_id(path: &Path) -> Result<FileId> {
    let canonical = std::fs::canonicalize(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&canonical)?;
        Ok(FileId(m.dev(), m.ino(), PathBuf::new()))
    }
    #[cfg(not(unix))]
    {
        Ok(FileId(0, 0, canonical))
    }
}

/// Files this process has open for writing. redb's file lock is per process on some
/// platforms, so a second open from the same process is refused here.
static OPEN_FILES: LazyLock<Mutex<HashSet<FileId>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

thread_local! {
    /// Set while this thread runs a closure write, so a nested write fails at once
    /// instead of waiting for a lock its own thread holds.
    static IN_WRITE: Cell<bool> = const { Cell::new(false) };
}

struct Inner {
    shared: Arc<Shared>,
    handle: RwLock<Option<Handle>>,
    /// The explicit transaction, if one is open, so `close` can roll it back.
    explicit: Mutex<Option<Arc<Mutex<Option<WriteTx>>>>>,
    registered: Mutex<Option<FileId>>,
    closing: AtomicBool,
    /// The encrypting backend's shared state, for integrity checks and password changes.
    /// Taken at close, so the keys are dropped (and zeroized) with the redb handle.
    encryption: Mutex<Option<Arc<EncInner>>>,
    encrypted: bool,
}

/// An open BlazeDB database: one file holding many named collections of records.
///
/// The handle is cheap to clone and `Send + Sync`: clones share one open file. Readers on
/// any number of threads run in parallel with the one writer; each read sees the last
/// commit as of its start.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.shared.path)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The platform's directory for databases opened by name.
///
/// Linux: `$XDG_DATA_HOME/blazedb` or `~/.local/share/blazedb`; Apple:
/// `~/Library/Application Support/BlazeDB`.
pub fn default_directory() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if cfg!(target_vendor = "apple") {
        let home = home.ok_or_else(|| Error::invalid_input("HOME is not set"))?;
        return Ok(home.join("Library/Application Support/BlazeDB"));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("blazedb"));
    }
    let home = home.ok_or_else(|| Error::invalid_input("HOME is not set"))?;
    Ok(home.join(".local/share/blazedb"))
}

impl Database {
    /// Opens (or creates) the database file at `path`.
    ///
    /// Fails with `DatabaseLocked` if the file is open for writing by another handle, in
    /// this process or another; the file is not touched in that case.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Database> {
        let path = path.as_ref().to_path_buf();
        let exists = path.exists();
        if !exists && (options.read_only || !options.create) {
            return Err(Error::InvalidInput(format!(
                "no database at {}",
                path.display()
            )));
        }
        if exists && path.is_dir() {
            return Err(Error::InvalidInput(format!(
                "{} is a directory",
                path.display()
            )));
        }
        let mut registered = None;
        if !options.read_only && exists {
            let id = file_id(&path)?;
            if !OPEN_FILES.lock().insert(id.clone()) {
                return Err(Error::DatabaseLocked { path });
            }
            registered = Some(id);
        }
        // redb trusts the pages it reads, and a crafted file (an old block replayed into a
        // newer one authenticates) can reach one of its `unreachable!`s while it recovers
        // the file: that is a damaged file, not a crash of the caller. Unwinding drops what
        // was opened, so the file is left as it was and its lock is released.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::open_registered(&path, options, registered.clone())
        }))
        .unwrap_or_else(|_| {
            Err(Error::CorruptedData(format!(
                "{}: redb could not read the file's structure (damaged or tampered)",
                path.display()
            )))
        });
        if result.is_err()
            && let Some(id) = registered
        {
            OPEN_FILES.lock().remove(&id);
        }
        result
    }

    fn open_registered(
        path: &Path,
        mut options: Options,
        mut registered: Option<FileId>,
    ) -> Result<Database> {
        let mut builder = redb::Builder::new();
        builder.set_cache_size(options.cache_size);
        // The handle keeps its options for its whole life; the secret must not stay with
        // them. It is dropped (and zeroized) when this function returns.
        let secret = options.secret.take();
        let encryption = match &secret {
            Some(secret) => {
                if options.password_policy {
                    check_policy(secret)?;
                }
                Some(EncryptedBackend::open(
                    path,
                    EncOpen {
                        secret,
                        create: options.create,
                        read_only: options.read_only,
                        kdf: options.kdf,
                    },
                )?)
            }
            None => {
                if path.exists() && looks_encrypted(path) {
                    return Err(Error::PasswordMismatch);
                }
                None
            }
        };
        let enc_inner = encryption.as_ref().map(|b| b.0.clone());
        let handle = if options.read_only {
            let db = match encryption {
                Some(backend) => builder.open_read_only_with_backend(backend),
                None => builder.open_read_only(path),
            };
            end_repair(&enc_inner);
            let db = db.map_err(|e| from_open_error(e, path))?;
            check_format_ro(&db)?;
            Handle::ReadOnly(db)
        } else {
            let db = match encryption {
                Some(backend) => builder.create_with_backend(backend),
                None => builder.create(path),
            };
            end_repair(&enc_inner);
            let db = db.map_err(|e| from_open_error(e, path))?;
            if registered.is_none() {
                let id = file_id(path)?;
                if !OPEN_FILES.lock().insert(id.clone()) {
                    return Err(Error::DatabaseLocked {
                        path: path.to_path_buf(),
                    });
                }
                registered = Some(id);
            }
            if let Err(e) = init_format(&db, options.two_phase_commit) {
                if let Some(id) = &registered {
                    OPEN_FILES.lock().remove(id);
                }
                return Err(e);
            }
            Handle::ReadWrite(db)
        };
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            two_phase: options.two_phase_commit,
            feed: Arc::new(Feed::new(options.feed_capacity)),
            options,
            closed: AtomicBool::new(false),
            gate: Arc::new(Mutex::new(())),
            structure: RwLock::new(()),
            cache: RwLock::new(Default::default()),
            plans: Default::default(),
        });
        Ok(Database {
            inner: Arc::new(Inner {
                shared,
                handle: RwLock::new(Some(handle)),
                explicit: Mutex::new(None),
                registered: Mutex::new(registered),
                closing: AtomicBool::new(false),
                encrypted: enc_inner.is_some(),
                encryption: Mutex::new(enc_inner),
            }),
        })
    }

    /// Opens (or creates) the database called `name` in the platform directory (see
    /// [`default_directory`]). `name` follows upstream's rules: `notes` becomes
    /// `notes.blazedb`; empty names, `..`, separators, NUL and names over 255 characters are
    /// `InvalidInput`.
    pub fn open_default(name: &str, options: Options) -> Result<Database> {
        let file = database_file_name(name)?;
        let dir = default_directory()?;
        create_private_dir(&dir)?;
        Database::open(dir.join(file), options)
    }

    /// The file this handle opened.
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    /// Whether [`Self::close`] has run.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.load(Ordering::SeqCst)
    }

    /// Closes the database. Idempotent. An open explicit transaction is rolled back, never
    /// committed; writes in flight on other threads finish first. Every later call on this
    /// handle, its clones, its snapshots and its transactions returns `Closed`.
    pub fn close(&self) -> Result<()> {
        if self.inner.closing.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(slot) = self.inner.explicit.lock().take()
            && let Some(tx) = slot.lock().take()
        {
            tx.rollback();
        }
        // Waits for closure reads and writes in flight: they hold the read side.
        let mut guard = self.inner.handle.write();
        self.inner.shared.closed.store(true, Ordering::SeqCst);
        let handle = guard.take();
        drop(guard);
        // Dropping the redb handle closes the backend (a clean shutdown); dropping our
        // reference too frees the key material, which zeroizes itself.
        drop(handle);
        self.inner.encryption.lock().take();
        self.inner.shared.feed.close();
        if let Some(id) = self.inner.registered.lock().take() {
            OPEN_FILES.lock().remove(&id);
        }
        Ok(())
    }

    fn with_rw<T>(&self, f: impl FnOnce(&redb::Database) -> Result<T>) -> Result<T> {
        let guard = self.inner.handle.read_recursive();
        self.inner.shared.check_open()?;
        match guard.as_ref() {
            Some(Handle::ReadWrite(db)) => f(db),
            Some(Handle::ReadOnly(_)) => Err(Error::PermissionDenied(format!(
                "{} was opened read-only",
                self.path().display()
            ))),
            None => Err(Error::Closed),
        }
    }

    fn acquire_gate(&self) -> Result<parking_lot::ArcMutexGuard<parking_lot::RawMutex, ()>> {
        let shared = &self.inner.shared;
        shared
            .gate
            .try_lock_arc_for(shared.options.busy_timeout)
            .ok_or_else(|| {
                Error::TransactionFailed(format!(
                    "another write transaction held the database for {:?}",
                    shared.options.busy_timeout
                ))
            })
    }

    /// Runs `f` in a write transaction: commits if it returns `Ok`, rolls back if it returns
    /// `Err` (or panics). Only one write transaction runs at a time; others wait up to the
    /// busy timeout. A write nested inside another on the same thread fails at once with
    /// `TransactionFailed`.
    pub fn write<T>(&self, f: impl FnOnce(&mut WriteTx) -> Result<T>) -> Result<T> {
        if IN_WRITE.with(Cell::get) {
            return Err(Error::TransactionFailed(
                "a write transaction is already running on this thread".into(),
            ));
        }
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_WRITE.with(|c| c.set(false));
            }
        }
        IN_WRITE.with(|c| c.set(true));
        let _reset = Reset;
        self.with_rw(|db| {
            let gate = self.acquire_gate()?;
            self.inner.shared.check_open()?;
            let mut tx = WriteTx::begin(db, self.inner.shared.clone(), gate)?;
            match f(&mut tx) {
                Ok(v) => {
                    tx.commit()?;
                    Ok(v)
                }
                Err(e) => {
                    tx.rollback();
                    Err(e)
                }
            }
        })
    }

    /// Runs `f` on a read snapshot of the last commit.
    pub fn read<T>(&self, f: impl FnOnce(&ReadTx) -> Result<T>) -> Result<T> {
        // Held across `f`, so `close` waits for this read to finish.
        let _guard = self.inner.handle.read_recursive();
        let tx = self.snapshot()?;
        f(&tx)
    }

    /// A read snapshot that lives until dropped: its reads keep seeing the database as of
    /// this call while other threads commit. Long-lived snapshots keep old pages from being
    /// reused, so drop them when done.
    pub fn snapshot(&self) -> Result<ReadTx> {
        let guard = self.inner.handle.read_recursive();
        self.inner.shared.check_open()?;
        match guard.as_ref() {
            Some(Handle::ReadWrite(db)) => ReadTx::begin(db, self.inner.shared.clone()),
            Some(Handle::ReadOnly(db)) => ReadTx::begin(db, self.inner.shared.clone()),
            None => Err(Error::Closed),
        }
    }

    /// Begins an explicit transaction (see [`Transaction`]). Only one may be open per
    /// handle; a second `begin` while one is open fails with `TransactionFailed`, as
    /// upstream's nested `beginTransaction` does.
    pub fn begin(&self) -> Result<Transaction> {
        let mut explicit = self.inner.explicit.lock();
        if let Some(slot) = explicit.as_ref()
            && slot.lock().is_some()
        {
            return Err(Error::TransactionFailed(
                "a transaction is already in progress".into(),
            ));
        }
        let tx = self.with_rw(|db| {
            let gate = self.acquire_gate()?;
            self.inner.shared.check_open()?;
            WriteTx::begin(db, self.inner.shared.clone(), gate)
        })?;
        let (handle, slot) = Transaction::new(tx);
        *explicit = Some(slot);
        Ok(handle)
    }

    /// Makes every relaxed commit so far durable (one fsync). A no-op cost under immediate
    /// durability beyond an empty commit.
    pub fn sync(&self) -> Result<()> {
        self.with_rw(|db| {
            let _gate = self.acquire_gate()?;
            let mut txn = db.begin_write()?;
            txn.set_durability(redb::Durability::Immediate)?;
            txn.set_two_phase_commit(self.inner.shared.two_phase);
            txn.commit()?;
            Ok(())
        })
    }

    /// Subscribes to this database's commits (see [`crate::feed`]).
    pub fn subscribe(&self) -> Result<Subscription> {
        self.inner.shared.check_open()?;
        Ok(self.inner.shared.feed.subscribe())
    }

    /// Calls `f` with each commit's changes on a delivery thread of its own, until the
    /// returned handle is cancelled or dropped or the database closes.
    pub fn on_change<F>(&self, f: F) -> Result<CallbackSubscription>
    where
        F: Fn(Notification) + Send + 'static,
    {
        let sub = self.subscribe()?;
        Ok(sub.into_callback(f)?)
    }

    /// Inserts a record into `collection` (created on first write) and returns its id.
    ///
    /// The id comes from the record's `id` field (a uuid, or a string holding one), else a
    /// new UUIDv7. `createdAt` and `project` are stamped when absent. An id already stored
    /// (even soft-deleted) gives `RecordExists`.
    pub fn insert(&self, collection: &str, record: Record) -> Result<Uuid> {
        self.write(|tx| tx.insert(collection, record))
    }

    /// Inserts many records in one commit, all or nothing.
    pub fn insert_many(&self, collection: &str, records: Vec<Record>) -> Result<Vec<Uuid>> {
        self.write(|tx| tx.insert_many(collection, records))
    }

    /// The live record with this id.
    pub fn get(&self, collection: &str, id: Uuid) -> Result<Option<Record>> {
        self.read(|tx| tx.get(collection, id))
    }

    /// Many records by id, lined up with `ids` (`None` where missing).
    pub fn get_many(&self, collection: &str, ids: &[Uuid]) -> Result<Vec<Option<Record>>> {
        self.read(|tx| tx.get_many(collection, ids))
    }

    /// Many records by id without decoding them: see [`ReadTx::get_many_with`].
    pub fn get_many_with(
        &self,
        collection: &str,
        ids: &[Uuid],
        f: impl FnMut(Option<crate::RecordView<'_>>) -> Result<()>,
    ) -> Result<()> {
        self.read(|tx| tx.get_many_with(collection, ids, f))
    }

    /// Whether a live record has this id.
    pub fn exists(&self, collection: &str, id: Uuid) -> Result<bool> {
        self.read(|tx| tx.exists(collection, id))
    }

    /// Every live record in id order.
    pub fn all(&self, collection: &str) -> Result<Vec<Record>> {
        self.read(|tx| tx.all(collection))
    }

    /// A page of live records in id order; deterministic across calls.
    pub fn page(&self, collection: &str, offset: usize, limit: usize) -> Result<Vec<Record>> {
        self.read(|tx| tx.page(collection, offset, limit))
    }

    /// Number of live records, in O(1).
    pub fn count(&self, collection: &str) -> Result<u64> {
        self.read(|tx| tx.count(collection))
    }

    /// Replaces a live record; `RecordNotFound` if it is missing or soft-deleted.
    /// `createdAt` and `project` are kept unless the new record sets them; `updatedAt` is
    /// stamped.
    pub fn update(&self, collection: &str, id: Uuid, record: Record) -> Result<()> {
        self.write(|tx| tx.update(collection, id, record))
    }

    /// Merges `fields` into a live record and stamps `updatedAt`.
    pub fn update_fields(&self, collection: &str, id: Uuid, fields: Record) -> Result<()> {
        self.write(|tx| tx.update_fields(collection, id, fields))
    }

    /// Replaces the live record with this id, or inserts it; returns `true` if it inserted.
    /// A soft-deleted record is replaced by the new one (counted as an insert).
    pub fn upsert(&self, collection: &str, id: Uuid, record: Record) -> Result<bool> {
        self.write(|tx| tx.upsert(collection, id, record))
    }

    /// Deletes a record; `true` if a live record was removed. Deleting a missing id is fine.
    pub fn delete(&self, collection: &str, id: Uuid) -> Result<bool> {
        self.write(|tx| tx.delete(collection, id))
    }

    /// Deletes many records in one commit; returns how many live ones were removed.
    pub fn delete_many(&self, collection: &str, ids: &[Uuid]) -> Result<usize> {
        self.write(|tx| tx.delete_many(collection, ids))
    }

    /// Hides a record from reads, counts and queries, keeping it until [`Self::purge`].
    pub fn soft_delete(&self, collection: &str, id: Uuid) -> Result<()> {
        self.write(|tx| tx.soft_delete(collection, id))
    }

    /// Removes soft-deleted records for good; returns how many.
    pub fn purge(&self, collection: &str) -> Result<u64> {
        self.write(|tx| tx.purge(collection))
    }

    /// Runs a query on the last commit (see [`crate::Query`]).
    pub fn query(&self, q: &Query) -> Result<Vec<Record>> {
        self.read(|tx| tx.query(q))
    }

    /// Number of records matching a query's filter, ignoring its offset and limit.
    pub fn query_count(&self, q: &Query) -> Result<u64> {
        self.read(|tx| tx.query_count(q))
    }

    /// The first match of a query, if any.
    pub fn query_first(&self, q: &Query) -> Result<Option<Record>> {
        Ok(self.query(&q.clone().limit(1))?.into_iter().next())
    }

    /// A cursor over a query's matches on one snapshot, fetched in batches (see
    /// [`QueryCursor`]).
    pub fn query_cursor(&self, q: Query) -> Result<QueryCursor> {
        crate::query::validate(&q)?;
        Ok(QueryCursor {
            tx: self.snapshot()?,
            query: q,
            after: None,
            skipped: 0,
            returned: 0,
            sorted: None,
            done: false,
        })
    }

    /// What the planner chooses for a query (index or scan) with estimated and actual row
    /// counts; the query runs so the counts are real.
    pub fn explain(&self, q: &Query) -> Result<crate::query::Explain> {
        self.read(|tx| tx.explain(q))
    }

    /// Creates an index over a collection's records and maintains it from then on (see
    /// [`crate::IndexSpec`]); one transaction builds it.
    pub fn create_index(
        &self,
        collection: &str,
        spec: crate::IndexSpec,
    ) -> Result<crate::IndexInfo> {
        self.write(|tx| tx.create_index(collection, spec))
    }

    /// Drops an index by name; `true` if it existed.
    pub fn drop_index(&self, collection: &str, name: &str) -> Result<bool> {
        self.write(|tx| tx.drop_index(collection, name))
    }

    /// Full-text search on the last commit (see [`crate::search::SearchQuery`]).
    pub fn search(&self, q: &crate::search::SearchQuery) -> Result<Vec<crate::search::SearchHit>> {
        self.read(|tx| tx.search(q))
    }

    /// A collection's indexes, in name order.
    pub fn indexes(&self, collection: &str) -> Result<Vec<crate::IndexInfo>> {
        self.read(|tx| tx.indexes(collection))
    }

    /// Every collection's name.
    pub fn collections(&self) -> Result<Vec<String>> {
        self.read(|tx| tx.collections())
    }

    /// Renames a collection.
    pub fn rename_collection(&self, from: &str, to: &str) -> Result<()> {
        self.write(|tx| tx.rename_collection(from, to))
    }

    /// Drops a collection and its records; `true` if it existed.
    pub fn drop_collection(&self, collection: &str) -> Result<bool> {
        self.write(|tx| tx.drop_collection(collection))
    }

    /// Reports whether the file is sound: redb's own check walks every page checksum, then
    /// on an encrypted file every block is authenticated ([`Database::verify_encryption`]).
    /// Needs exclusive use: fails with `TransactionFailed` while a transaction or snapshot
    /// is open.
    ///
    /// After a crash it also clears what the crash left: blocks in free space that an
    /// interrupted write tore fail authentication like tampered ones, and redb's walk
    /// tells them apart (it reads every block the committed state references; the rest
    /// are free). Those are resealed as zeros; a failing referenced block is damage.
    pub fn check_integrity(&self) -> Result<bool> {
        match self.ops_redb_check() {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            // A referenced block failed authentication under redb's walk.
            Err(Error::CorruptedData(_)) if self.is_encrypted() => return Ok(false),
            Err(e) => return Err(e),
        }
        Ok(self.verify_encryption()?.is_empty())
    }

    /// Whether this database is encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.inner.encrypted
    }

    /// Authenticates every block of an encrypted file (used and free), both key slots and
    /// both copies of the header block; returns one line per problem (empty when sound).
    /// A plaintext database has nothing to authenticate and returns an empty list.
    pub fn verify_encryption(&self) -> Result<Vec<String>> {
        let _guard = self.inner.handle.read_recursive();
        self.inner.shared.check_open()?;
        let enc = self.inner.encryption.lock().clone();
        match enc {
            Some(enc) => enc.verify_all(),
            None => Ok(Vec::new()),
        }
    }

    /// Changes the password of an encrypted database. Atomic: the data key is re-wrapped
    /// under the new password into one key slot, synced, then into the other, so after a
    /// crash at any point the old or the new password opens the file; after it returns
    /// only the new one does. The Argon2id cost is `Options::kdf_params` of this handle.
    pub fn change_password(&self, new_password: &str) -> Result<()> {
        self.rekey(Secret::password(new_password))
    }

    /// Like [`Self::change_password`] for any secret: a new password or a new raw key
    /// (switching between the two is allowed).
    pub fn rekey(&self, secret: Secret) -> Result<()> {
        let _guard = self.inner.handle.read_recursive();
        self.inner.shared.check_open()?;
        let enc = self.inner.encryption.lock().clone();
        let enc = enc.ok_or_else(|| {
            Error::InvalidInput(
                "the database is not encrypted; use copy_to to write an encrypted copy".into(),
            )
        })?;
        if self.inner.shared.options.password_policy {
            check_policy(&secret)?;
        }
        enc.rewrap(&secret, self.inner.shared.options.kdf)
    }

    /// Copies every collection into a new database at `path` opened with `options`: the way
    /// to encrypt a plaintext database, decrypt an encrypted one, or rotate the data key.
    /// The copy reads one snapshot, so it is consistent to a single commit. Records keep
    /// their ids and fields exactly (no field is re-stamped). Returns the records copied.
    /// `path` must not exist yet.
    pub fn copy_to(&self, path: impl AsRef<Path>, options: Options) -> Result<u64> {
        let path = path.as_ref();
        if path.exists() {
            return Err(Error::InvalidInput(format!(
                "{} already exists; copy_to writes a new file",
                path.display()
            )));
        }
        let target = Database::open(path, options.stamp_fields(false).create(true))?;
        let result = (|| {
            let snap = self.snapshot()?;
            let mut copied = 0u64;
            for name in snap.collections()? {
                let mut offset = 0;
                loop {
                    let page = snap.page(&name, offset, 1000)?;
                    if page.is_empty() {
                        break;
                    }
                    offset += page.len();
                    copied += page.len() as u64;
                    target.insert_many(&name, page)?;
                }
            }
            Ok(copied)
        })();
        let closed = target.close();
        match (result, closed) {
            (Ok(n), Ok(())) => Ok(n),
            (Err(e), _) | (Ok(_), Err(e)) => {
                let _ = std::fs::remove_file(path);
                Err(e)
            }
        }
    }

    /// Compacts the file, returning the bytes reclaimed. Needs exclusive use, like
    /// [`Self::check_integrity`].
    pub fn compact(&self) -> Result<u64> {
        let mut guard = self.inner.handle.write();
        let _gate = self.acquire_gate()?;
        self.inner.shared.check_open()?;
        let before = std::fs::metadata(&self.inner.shared.path)?.len();
        match guard.as_mut() {
            Some(Handle::ReadWrite(db)) => while db.compact()? {},
            Some(Handle::ReadOnly(_)) => {
                return Err(Error::PermissionDenied(
                    "compaction needs a writable handle".into(),
                ));
            }
            None => return Err(Error::Closed),
        }
        let after = std::fs::metadata(&self.inner.shared.path)?.len();
        Ok(before.saturating_sub(after))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last clone is gone: release the process-wide registration.
        if let Some(id) = self.registered.lock().take() {
            OPEN_FILES.lock().remove(&id);
        }
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.feed.close();
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Writes the format marker into a new file, or checks it in an existing one.
/// Ends the encrypted backend's crash-repair window (see `EncInner::repairing`): redb's
/// open, the only code that repairs, has returned.
fn end_repair(enc: &Option<Arc<EncInner>>) {
    if let Some(enc) = enc {
        enc.end_repair();
    }
}

fn init_format(db: &redb::Database, two_phase: bool) -> Result<()> {
    {
        let rtxn = redb::ReadableDatabase::begin_read(db)?;
        match rtxn.open_table(META) {
            Ok(t) => {
                check_format_value(t.get(META_FORMAT)?.map(|v| v.value().to_vec()))?;
                drop((t, rtxn));
                return rebuild_stale_full_text(db, two_phase);
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {
                if rtxn.list_tables()?.next().is_some() {
                    return Err(Error::InvalidData(
                        "this redb file is not a BlazeDB database".into(),
                    ));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut txn = db.begin_write()?;
    txn.set_two_phase_commit(two_phase);
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(META_FORMAT, FORMAT_VERSION.to_le_bytes().as_slice())?;
        drop(txn.open_table(crate::engine::COLLECTIONS)?);
    }
    txn.commit()?;
    Ok(())
}

/// Rebuilds, in one write transaction, every full-text index whose postings another
/// tokenizer version wrote (`fts::TOKENIZER_VERSION`). Such an index can be neither queried
/// nor maintained, so without this a tokenizer change would make every write to its
/// collection fail until someone dropped and re-created the index. When nothing is stale,
/// this costs one read per full-text index and writes nothing. A read-only handle cannot
/// rebuild: its searches on a stale index fail with `CorruptedData` saying so.
fn rebuild_stale_full_text(db: &redb::Database, two_phase: bool) -> Result<()> {
    use crate::engine::indexes::{INDEXES, IndexDef, entries_def};
    use crate::engine::{fts, records_def, records_table_name};
    use crate::index::IndexKind;
    let stale: Vec<(u64, IndexDef)> = {
        let rtxn = redb::ReadableDatabase::begin_read(db)?;
        let defs = match rtxn.open_table(INDEXES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for item in redb::ReadableTable::iter(&defs)? {
            let (k, v) = item?;
            let (cid, name) = k.value();
            let def = IndexDef::decode(name, v.value())?;
            if def.kind != IndexKind::FullText {
                continue;
            }
            let entries = match rtxn.open_table(entries_def(&def.table_name())) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if fts::needs_rebuild(&entries)? {
                out.push((cid, def));
            }
        }
        out
    };
    if stale.is_empty() {
        return Ok(());
    }
    let mut txn = db.begin_write()?;
    txn.set_two_phase_commit(two_phase);
    for (cid, def) in &stale {
        let name = def.table_name();
        txn.delete_table(entries_def(&name))?;
        let mut entries = txn.open_table(entries_def(&name))?;
        let records = txn.open_table(records_def(&records_table_name(*cid)))?;
        fts::build_from_records(&mut entries, &def.fields, &records)?;
    }
    txn.commit()?;
    Ok(())
}

fn check_format_ro(db: &redb::ReadOnlyDatabase) -> Result<()> {
    let rtxn = redb::ReadableDatabase::begin_read(db)?;
    match rtxn.open_table(META) {
        Ok(t) => check_format_value(t.get(META_FORMAT)?.map(|v| v.value().to_vec())),
        Err(redb::TableError::TableDoesNotExist(_)) => Err(Error::InvalidData(
            "this redb file is not a BlazeDB database".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

fn check_format_value(v: Option<Vec<u8>>) -> Result<()> {
    match v.as_deref() {
        Some(b) if b.len() == 4 => {
            let mut a = [0u8; 4];
            a.copy_from_slice(b);
            let found = u32::from_le_bytes(a);
            if found == FORMAT_VERSION {
                Ok(())
            } else {
                Err(Error::CorruptedData(format!(
                    "database format {found} is not supported by this build (it reads {FORMAT_VERSION})"
                )))
            }
        }
        _ => Err(Error::CorruptedData(
            "database format marker is missing or malformed".into(),
        )),
    }
}

// Accessors for `crate::ops` (stats, health, integrity, backup, compaction): the few things
// that need the handle's private parts. The logic lives in `ops/`.
impl Database {
    /// The options this handle was opened with (the secret is not kept in them).
    pub(crate) fn ops_options(&self) -> &Options {
        &self.inner.shared.options
    }

    /// redb's page-cache counters (real numbers: the core enables `cache_metrics`).
    pub(crate) fn ops_cache_stats(&self) -> Result<redb::CacheStats> {
        let guard = self.inner.handle.read_recursive();
        self.inner.shared.check_open()?;
        match guard.as_ref() {
            Some(Handle::ReadWrite(db)) => Ok(redb::ReadableDatabase::cache_stats(db)),
            Some(Handle::ReadOnly(db)) => Ok(redb::ReadableDatabase::cache_stats(db)),
            None => Err(Error::Closed),
        }
    }

    /// Whether this handle was opened read-only.
    pub(crate) fn is_read_only(&self) -> bool {
        self.inner.shared.options.read_only
    }

    /// redb's storage statistics, from a write transaction that is aborted (nothing is
    /// written). `None` on a read-only handle, which cannot begin one.
    pub(crate) fn ops_storage_stats(&self) -> Result<Option<redb::DatabaseStats>> {
        if self.inner.shared.options.read_only {
            self.inner.shared.check_open()?;
            return Ok(None);
        }
        self.with_rw(|db| {
            let _gate = self.acquire_gate()?;
            let txn = db.begin_write()?;
            let stats = txn.stats()?;
            txn.abort()?;
            Ok(Some(stats))
        })
    }

    /// The encrypting backend's shared state, for the crate's own tests.
    #[cfg(test)]
    pub(crate) fn enc_inner_for_tests(&self) -> Option<Arc<EncInner>> {
        self.inner.encryption.lock().clone()
    }

    /// A reference that does not keep the handle open (for background helpers such as
    /// `ops::AutoCompactor`, which must not stop the last clone's drop from closing it).
    pub(crate) fn ops_downgrade(&self) -> WeakDatabase {
        WeakDatabase(Arc::downgrade(&self.inner))
    }

    /// redb's own check of every page checksum, without the encryption pass
    /// ([`Self::verify_encryption`] is separate). `Ok(false)` means redb found damage and
    /// repaired it. Needs a writable handle and no open transaction or snapshot.
    pub(crate) fn ops_redb_check(&self) -> Result<bool> {
        // Handle lock first, then the gate: the order every writer takes them in (`write`
        // holds the handle's read side while it waits for the gate), so a writer on another
        // thread cannot deadlock with this.
        let mut guard = self.inner.handle.write();
        let _gate = self.acquire_gate()?;
        self.inner.shared.check_open()?;
        // After a crash, record which blocks the walk reads (the referenced ones), so the
        // torn free blocks can be told from damage while nothing else can write.
        let enc = self
            .inner
            .encryption
            .lock()
            .clone()
            .filter(|e| e.crash_trace());
        match guard.as_mut() {
            Some(Handle::ReadWrite(db)) => {
                if let Some(enc) = &enc {
                    enc.track_reads(true);
                }
                let checked = db.check_integrity();
                let referenced = enc.as_ref().map(|e| e.track_reads(false));
                let clean = checked.map_err(|e| match e {
                    redb::DatabaseError::TransactionInProgress => Error::TransactionFailed(
                        "the integrity check needs a moment with no open transaction or snapshot"
                            .into(),
                    ),
                    other => from_open_error(other, &self.inner.shared.path),
                })?;
                if let (Some(enc), Some(referenced)) = (&enc, &referenced) {
                    enc.clear_torn_blocks(referenced)?;
                }
                Ok(clean)
            }
            Some(Handle::ReadOnly(_)) => Err(Error::PermissionDenied(
                "redb's integrity check needs a writable handle".into(),
            )),
            None => Err(Error::Closed),
        }
    }
}

/// A [`Database`] reference that does not keep it alive (see [`Database::ops_downgrade`]).
#[derive(Clone)]
pub(crate) struct WeakDatabase(std::sync::Weak<Inner>);

impl WeakDatabase {
    /// The handle, if a clone of it still exists.
    pub(crate) fn upgrade(&self) -> Option<Database> {
        self.0.upgrade().map(|inner| Database { inner })
    }
}
