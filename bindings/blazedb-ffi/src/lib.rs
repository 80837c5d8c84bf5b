//! UniFFI bindings of [`blazedb`]: the one native library behind the Swift package, the
//! Kotlin (JNA) bindings and the Python bindings.
//!
//! Thin on purpose: every method converts its arguments, calls the core, and converts the
//! result. No database logic lives here. Three rules hold for every exported call:
//!
//! * **Typed errors.** Every call that can fail returns `Result<_, BlazeError>`, and its body
//!   runs under [`error::guard`], so a panic in Rust arrives as `BlazeError::Internal`, never
//!   as an unwinding panic or an untyped UniFFI error.
//! * **Use after close throws.** `close_database` closes the core handle; every later call on the
//!   `Database`, its `Transaction`s and their clones returns `BlazeError::Closed` (the core
//!   guarantees this; see `docs/design.md` §4).
//! * **Batch-shaped.** A foreign call costs microseconds (JNA about 3.5 µs), so the batch
//!   calls take and return whole lists: `insert_many` returns every id, `get_many` and `page`
//!   return the whole result in one call.
//!
//! The read calls that return records also have a `…_packed` form returning the same records
//! as one byte buffer ([`packed`]), which the Swift package decodes far faster than UniFFI's
//! lifting of `BlazeRecord` maps.
//!
//! Layout: [`value`] (the value and record types), [`packed`] (the packed record codec), [`error`], [`feed`] (change listener),
//! [`query`] (query specs), [`index`], [`search`], [`aggregate`] (aggregation and joins),
//! [`ops`] (stats, health, explain, backups), [`dump`], and here the `Database` and
//! `Transaction` objects and the free functions. See `docs/BINDINGS.md`.

use std::sync::Arc;
use std::time::Duration;

pub mod aggregate;
pub mod dump;
pub mod error;
pub mod feed;
pub mod index;
pub mod ops;
pub mod packed;
pub mod query;
pub mod search;
pub mod value;

pub use aggregate::{AggregateKind, AggregateOp, AggregateSpec, JoinKind, JoinSpec, JoinedPair};
pub use dump::{DumpDescription, DumpExportReport, DumpFormat, DumpRestoreReport};
pub use error::BlazeError;
pub use feed::{Change, ChangeBatch, ChangeKind, ChangeListener, Subscription};
pub use index::{IndexDef, IndexDescription, IndexKind};
pub use ops::{
    BackupCheck, BackupReport, CollectionCount, CollectionStats, ExplainReport, HealthLevel,
    HealthSummary, StatsReport, StoredSchemaVersion,
};
pub use query::{QueryFilter, QuerySpec, SortKey};
pub use search::{SearchHit, SearchSpec};
pub use value::{BlazeRecord, BlazeValue};

use error::guard;
use value::{from_record, from_records, id_string, parse_id, parse_ids, to_record, to_records};

uniffi::setup_scaffolding!();

type Result<T, E = BlazeError> = std::result::Result<T, E>;

/// How commits reach the disk (see the core's `Durability`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Durability {
    /// Every commit is on disk when the call returns (the default).
    Immediate,
    /// Commits are visible at once and durable at the next immediate commit or `sync`.
    Relaxed,
}

/// Open options. Every field has a default, so a bare `OpenOptions()` (Swift, Kotlin,
/// Python alike) means the core's `Options::default()`.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct OpenOptions {
    /// Page cache in bytes (default 16 MiB).
    #[uniffi(default = None)]
    pub cache_size: Option<u64>,
    /// Commit durability (default immediate).
    #[uniffi(default = None)]
    pub durability: Option<Durability>,
    /// Open without write access.
    #[uniffi(default = false)]
    pub read_only: bool,
    /// Create the file if it is missing (default true).
    #[uniffi(default = true)]
    pub create: bool,
    /// The `project` stamped on inserts that lack one (default `"Default"`).
    #[uniffi(default = None)]
    pub project: Option<String>,
    /// Whether `project` is stamped at all (default true).
    #[uniffi(default = true)]
    pub stamp_project: bool,
    /// Whether `createdAt`, `updatedAt` and `project` are stamped (default true).
    #[uniffi(default = true)]
    pub stamp_fields: bool,
    /// Limit on one encoded record in bytes (default 16 MiB).
    #[uniffi(default = None)]
    pub max_record_size: Option<u64>,
    /// Limit on records or ids in one batch call (default 100,000).
    #[uniffi(default = None)]
    pub max_batch: Option<u64>,
    /// How long a write waits for the write lock, in milliseconds (default 10,000).
    #[uniffi(default = None)]
    pub busy_timeout_ms: Option<u64>,
    /// Undelivered change batches a subscription buffers (default 1024).
    #[uniffi(default = None)]
    pub feed_capacity: Option<u64>,
    /// Encrypts the file with this password (Argon2id with the file's own salt). A new file
    /// is created encrypted; an existing one must have been created with a password.
    #[uniffi(default = None)]
    pub password: Option<String>,
    /// Encrypts the file with this raw 32-byte key instead (no key derivation). Giving both
    /// `password` and `key` is `InvalidInput`.
    #[uniffi(default = None)]
    pub key: Option<Vec<u8>>,
    /// Enforce upstream's password rule (12+ characters, upper, lower, digit) at open and
    /// on password change; a failure is `PasswordTooWeak` (default false).
    #[uniffi(default = false)]
    pub password_policy: bool,
    /// Argon2id memory in KiB for new files and password changes (default 19 MiB).
    #[uniffi(default = None)]
    pub kdf_memory_kib: Option<u32>,
    /// Argon2id passes (default 2).
    #[uniffi(default = None)]
    pub kdf_iterations: Option<u32>,
    /// Argon2id lanes (default 1).
    #[uniffi(default = None)]
    pub kdf_parallelism: Option<u32>,
}

fn raw_key(key: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(key).map_err(|_| BlazeError::InvalidInput {
        reason: format!("an encryption key is 32 bytes, not {}", key.len()),
    })
}

fn size(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The same defaults as the `#[uniffi(default = …)]` attributes above, for Rust callers
/// (the tests); keep the two in step.
impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            cache_size: None,
            durability: None,
            read_only: false,
            create: true,
            project: None,
            stamp_project: true,
            stamp_fields: true,
            max_record_size: None,
            max_batch: None,
            busy_timeout_ms: None,
            feed_capacity: None,
            password: None,
            key: None,
            password_policy: false,
            kdf_memory_kib: None,
            kdf_iterations: None,
            kdf_parallelism: None,
        }
    }
}

impl OpenOptions {
    fn to_core(&self) -> Result<blazedb::Options> {
        let mut o = blazedb::Options::default()
            .read_only(self.read_only)
            .create(self.create)
            .stamp_fields(self.stamp_fields);
        if let Some(n) = self.cache_size {
            o = o.cache_size(size(n));
        }
        if let Some(d) = self.durability {
            o = o.durability(match d {
                Durability::Immediate => blazedb::Durability::Immediate,
                Durability::Relaxed => blazedb::Durability::Relaxed,
            });
        }
        if !self.stamp_project {
            o = o.project(None);
        } else if let Some(p) = &self.project {
            o = o.project(Some(p.clone()));
        }
        if let Some(n) = self.max_record_size {
            o = o.max_record_size(size(n));
        }
        if let Some(n) = self.max_batch {
            o = o.max_batch(size(n));
        }
        if let Some(ms) = self.busy_timeout_ms {
            o = o.busy_timeout(Duration::from_millis(ms));
        }
        if let Some(n) = self.feed_capacity {
            o = o.feed_capacity(size(n));
        }
        match (&self.password, &self.key) {
            (Some(_), Some(_)) => {
                return Err(BlazeError::InvalidInput {
                    reason: "give a password or a key, not both".into(),
                });
            }
            (Some(p), None) => o = o.password(p.clone()),
            (None, Some(k)) => o = o.key(raw_key(k)?),
            (None, None) => {}
        }
        o = o.password_policy(self.password_policy);
        if self.kdf_memory_kib.is_some()
            || self.kdf_iterations.is_some()
            || self.kdf_parallelism.is_some()
        {
            let d = blazedb::KdfParams::default();
            o = o.kdf_params(blazedb::KdfParams {
                memory_kib: self.kdf_memory_kib.unwrap_or(d.memory_kib),
                iterations: self.kdf_iterations.unwrap_or(d.iterations),
                parallelism: self.kdf_parallelism.unwrap_or(d.parallelism),
            });
        }
        Ok(o)
    }
}

/// The platform directory that `Database::open_default` uses.
#[uniffi::export]
pub fn default_directory() -> Result<String> {
    guard(|| Ok(blazedb::default_directory()?.display().to_string()))
}

/// The collection the upstream one-collection API (Swift `BlazeDBClient`) reads and writes.
#[uniffi::export]
pub fn default_collection() -> String {
    blazedb::DEFAULT_COLLECTION.to_string()
}

/// A fresh record id of the kind inserts generate (a time-ordered UUIDv7), for bindings
/// that must name a record's id before writing it (Swift's `upsertMany`).
#[uniffi::export]
pub fn new_record_id() -> String {
    blazedb::new_id().to_string()
}

/// The version of the native library.
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Verifies a dump of either format against its manifest, without writing anything, and
/// describes it. A changed byte anywhere is `CorruptedData`.
#[uniffi::export]
pub fn verify_dump(path: String) -> Result<DumpDescription> {
    guard(|| Ok(dump::from_info(blazedb::dump::verify(&path)?)))
}

/// Verifies a backup file without writing to it (the full integrity check runs on a
/// private copy); `options` carries its password or key.
#[uniffi::export]
pub fn verify_backup(path: String, options: OpenOptions) -> Result<BackupCheck> {
    guard(|| {
        Ok(ops::from_verification(blazedb::ops::verify_backup(
            &path,
            options.to_core()?,
        )?))
    })
}

/// Checks a backup (opened read-only with `backup_options`) and copies it to a new file at
/// `target`, which must not exist, keyed as `target_options` says. A plaintext copy of an
/// encrypted backup needs `allow_plaintext`. Restoring over a live file is not offered:
/// close its handle and move the restored file into place.
#[uniffi::export]
pub fn restore_backup(
    backup: String,
    backup_options: OpenOptions,
    target: String,
    target_options: OpenOptions,
    allow_plaintext: bool,
) -> Result<BackupReport> {
    guard(|| {
        Ok(ops::from_backup(blazedb::ops::restore_backup(
            &backup,
            backup_options.to_core()?,
            &target,
            ops::backup_options(target_options.to_core()?, allow_plaintext),
        )?))
    })
}

/// An open database file: named collections of records. Safe to share between threads.
#[derive(uniffi::Object)]
pub struct Database {
    db: blazedb::Database,
}

impl Database {
    /// `Closed` once `close_database` ran. The calls that touch a file before the database
    /// (backup, dumps) check this first, so that after close they fail with `Closed`, not
    /// with an error about the file.
    fn ensure_open(&self) -> Result<()> {
        if self.db.is_closed() {
            Err(BlazeError::Closed)
        } else {
            Ok(())
        }
    }
}

fn usize_arg(name: &str, n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| BlazeError::InvalidInput {
        reason: format!("{name} {n} is out of range"),
    })
}

#[uniffi::export]
impl Database {
    /// Opens (or creates) the database file at `path`.
    #[uniffi::constructor]
    pub fn open(path: String, options: OpenOptions) -> Result<Arc<Self>> {
        guard(|| {
            Ok(Arc::new(Database {
                db: blazedb::Database::open(&path, options.to_core()?)?,
            }))
        })
    }

    /// Opens (or creates) the database called `name` in the platform directory, with
    /// upstream's name rules (`notes` becomes `notes.blazedb`).
    #[uniffi::constructor]
    pub fn open_default(name: String, options: OpenOptions) -> Result<Arc<Self>> {
        guard(|| {
            Ok(Arc::new(Database {
                db: blazedb::Database::open_default(&name, options.to_core()?)?,
            }))
        })
    }

    /// The file this handle opened.
    pub fn path(&self) -> String {
        self.db.path().display().to_string()
    }

    /// Closes the database (idempotent). An open transaction is rolled back. Every later
    /// call returns `Closed`. (Not named `close`: Kotlin's generated classes are
    /// `AutoCloseable`, whose `close()` frees the native object instead.)
    pub fn close_database(&self) -> Result<()> {
        guard(|| Ok(self.db.close()?))
    }

    /// Whether `close_database` has run.
    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }

    /// Inserts a record and returns its id (from its `id` field, else a new UUIDv7).
    pub fn insert(&self, collection: String, record: BlazeRecord) -> Result<String> {
        guard(|| Ok(id_string(self.db.insert(&collection, to_record(record)?)?)))
    }

    /// Inserts many records in one commit, all or nothing; returns their ids in order.
    pub fn insert_many(
        &self,
        collection: String,
        records: Vec<BlazeRecord>,
    ) -> Result<Vec<String>> {
        guard(|| {
            let ids = self.db.insert_many(&collection, to_records(records)?)?;
            Ok(ids.into_iter().map(id_string).collect())
        })
    }

    /// `insert_many` taking the records packed (layout version 1, keys inline: see
    /// [`packed::WRITE_VERSION`]) and returning the ids packed, 16 bytes each in order. A
    /// malformed buffer is `InvalidInput`; nothing is written then.
    pub fn insert_many_packed(
        &self,
        collection: String,
        records: packed::Packed,
    ) -> Result<packed::Packed> {
        guard(|| {
            let ids = self
                .db
                .insert_many(&collection, packed::decode_write(&records)?)?;
            Ok(packed::pack_ids(&ids))
        })
    }

    /// The live record with this id, or none.
    pub fn get(&self, collection: String, id: String) -> Result<Option<BlazeRecord>> {
        guard(|| Ok(self.db.get(&collection, parse_id(&id)?)?.map(from_record)))
    }

    /// Many records by id, lined up with `ids` (none where missing).
    pub fn get_many(
        &self,
        collection: String,
        ids: Vec<String>,
    ) -> Result<Vec<Option<BlazeRecord>>> {
        guard(|| {
            let got = self.db.get_many(&collection, &parse_ids(&ids)?)?;
            Ok(got.into_iter().map(|r| r.map(from_record)).collect())
        })
    }

    /// Whether a live record has this id.
    pub fn exists(&self, collection: String, id: String) -> Result<bool> {
        guard(|| Ok(self.db.exists(&collection, parse_id(&id)?)?))
    }

    /// Every live record, in id order.
    pub fn all(&self, collection: String) -> Result<Vec<BlazeRecord>> {
        guard(|| Ok(from_records(self.db.all(&collection)?)))
    }

    /// A whole page of live records in id order (deterministic).
    pub fn page(&self, collection: String, offset: u64, limit: u64) -> Result<Vec<BlazeRecord>> {
        guard(|| {
            let (offset, limit) = (usize_arg("offset", offset)?, usize_arg("limit", limit)?);
            Ok(from_records(self.db.page(&collection, offset, limit)?))
        })
    }

    /// Number of live records (O(1)).
    pub fn count(&self, collection: String) -> Result<u64> {
        guard(|| Ok(self.db.count(&collection)?))
    }

    /// Runs a query; returns every match after its offset, up to its limit, in one call.
    pub fn query(&self, spec: QuerySpec) -> Result<Vec<BlazeRecord>> {
        guard(|| Ok(from_records(self.db.query(&query::to_query(spec)?)?)))
    }

    /// Number of matches of a query's filters (its offset and limit are ignored).
    pub fn query_count(&self, spec: QuerySpec) -> Result<u64> {
        guard(|| Ok(self.db.query_count(&query::to_query(spec)?)?))
    }

    /// `get` as a packed buffer (shape 1, one item; see [`packed`]).
    pub fn get_packed(&self, collection: String, id: String) -> Result<packed::Packed> {
        guard(|| {
            let id = parse_id(&id)?;
            Ok(packed::optional_views(1, |sink| {
                self.db.read(|tx| tx.get_with(&collection, id, sink))
            })?)
        })
    }

    /// `get_many` as a packed buffer (shape 1, lined up with `ids`; see [`packed`]). The
    /// ids come packed too, 16 bytes each (RFC 4122 order); any other length is
    /// `InvalidInput`.
    pub fn get_many_packed(
        &self,
        collection: String,
        ids: packed::Packed,
    ) -> Result<packed::Packed> {
        guard(|| {
            let ids = packed::ids(&ids)?;
            Ok(packed::optional_views(ids.len(), |sink| {
                self.db.read(|tx| tx.get_many_with(&collection, &ids, sink))
            })?)
        })
    }

    /// `all` as a packed buffer (shape 0; see [`packed`]).
    pub fn all_packed(&self, collection: String) -> Result<packed::Packed> {
        guard(|| {
            Ok(packed::views(|sink| {
                self.db
                    .read(|tx| tx.page_with(&collection, 0, usize::MAX, sink))
            })?)
        })
    }

    /// `page` as a packed buffer (shape 0; see [`packed`]).
    pub fn page_packed(
        &self,
        collection: String,
        offset: u64,
        limit: u64,
    ) -> Result<packed::Packed> {
        guard(|| {
            let (offset, limit) = (usize_arg("offset", offset)?, usize_arg("limit", limit)?);
            Ok(packed::views(|sink| {
                self.db
                    .read(|tx| tx.page_with(&collection, offset, limit, sink))
            })?)
        })
    }

    /// `query` as a packed buffer (shape 0; see [`packed`]).
    pub fn query_packed(&self, spec: QuerySpec) -> Result<packed::Packed> {
        guard(|| Ok(packed::records(&self.db.query(&query::to_query(spec)?)?)))
    }

    /// Number of soft-deleted records waiting for `purge`.
    pub fn soft_deleted_count(&self, collection: String) -> Result<u64> {
        guard(|| Ok(self.db.read(|tx| tx.soft_deleted_count(&collection))?))
    }

    /// Replaces a live record (`RecordNotFound` if missing); keeps `createdAt`/`project`.
    pub fn update(&self, collection: String, id: String, record: BlazeRecord) -> Result<()> {
        guard(|| {
            Ok(self
                .db
                .update(&collection, parse_id(&id)?, to_record(record)?)?)
        })
    }

    /// Merges fields into a live record and stamps `updatedAt`.
    pub fn update_fields(&self, collection: String, id: String, fields: BlazeRecord) -> Result<()> {
        guard(|| {
            Ok(self
                .db
                .update_fields(&collection, parse_id(&id)?, to_record(fields)?)?)
        })
    }

    /// Replaces the live record or inserts it under `id`; true if it inserted.
    pub fn upsert(&self, collection: String, id: String, record: BlazeRecord) -> Result<bool> {
        guard(|| {
            Ok(self
                .db
                .upsert(&collection, parse_id(&id)?, to_record(record)?)?)
        })
    }

    /// Deletes a record; true if a live one was removed. A missing id is fine.
    pub fn delete(&self, collection: String, id: String) -> Result<bool> {
        guard(|| Ok(self.db.delete(&collection, parse_id(&id)?)?))
    }

    /// Deletes many records in one commit; returns how many live ones were removed.
    pub fn delete_many(&self, collection: String, ids: Vec<String>) -> Result<u64> {
        guard(|| Ok(self.db.delete_many(&collection, &parse_ids(&ids)?)? as u64))
    }

    /// Hides a live record from reads and counts until `purge`.
    pub fn soft_delete(&self, collection: String, id: String) -> Result<()> {
        guard(|| Ok(self.db.soft_delete(&collection, parse_id(&id)?)?))
    }

    /// Removes soft-deleted records for good; returns how many.
    pub fn purge(&self, collection: String) -> Result<u64> {
        guard(|| Ok(self.db.purge(&collection)?))
    }

    /// Every collection's name, in name order.
    pub fn collections(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.db.collections()?))
    }

    /// Renames a collection.
    pub fn rename_collection(&self, from: String, to: String) -> Result<()> {
        guard(|| Ok(self.db.rename_collection(&from, &to)?))
    }

    /// Drops a collection and its records; true if it existed.
    pub fn drop_collection(&self, collection: String) -> Result<bool> {
        guard(|| Ok(self.db.drop_collection(&collection)?))
    }

    /// Begins an explicit transaction. One per handle: a second `begin` while one is open
    /// fails with `TransactionFailed`. Other writers wait while it is open.
    pub fn begin(&self) -> Result<Arc<Transaction>> {
        guard(|| {
            Ok(Arc::new(Transaction {
                tx: self.db.begin()?,
            }))
        })
    }

    /// Calls `listener` with each commit's changes until the subscription is cancelled or
    /// freed, or the database closes.
    pub fn subscribe(&self, listener: Arc<dyn ChangeListener>) -> Result<Arc<Subscription>> {
        guard(|| Subscription::start(&self.db, listener))
    }

    /// Makes relaxed commits durable (one fsync).
    pub fn sync(&self) -> Result<()> {
        guard(|| Ok(self.db.sync()?))
    }

    /// Compacts the file; returns the bytes reclaimed. Needs no open transaction.
    pub fn compact(&self) -> Result<u64> {
        guard(|| Ok(self.db.compact()?))
    }

    /// Checks every page checksum; true if the file is sound.
    pub fn check_integrity(&self) -> Result<bool> {
        guard(|| Ok(self.db.check_integrity()?))
    }

    /// Whether the file is encrypted at rest.
    pub fn is_encrypted(&self) -> bool {
        self.db.is_encrypted()
    }

    /// Authenticates every block of an encrypted file; one line per problem (empty when
    /// sound, and always empty for a plaintext file).
    pub fn verify_encryption(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.db.verify_encryption()?))
    }

    /// Changes the password of an encrypted database (atomic: after a crash the old or the
    /// new password opens it).
    pub fn change_password(&self, new_password: String) -> Result<()> {
        guard(|| Ok(self.db.change_password(&new_password)?))
    }

    /// Switches an encrypted database to a raw 32-byte key (or to a new one).
    pub fn change_key(&self, new_key: Vec<u8>) -> Result<()> {
        guard(|| Ok(self.db.rekey(blazedb::Secret::key(raw_key(&new_key)?))?))
    }

    /// Copies every collection into a new file at `path` opened with `options` (the way
    /// to encrypt, decrypt or rotate the data key); returns the records copied.
    pub fn copy_to(&self, path: String, options: OpenOptions) -> Result<u64> {
        guard(|| Ok(self.db.copy_to(&path, options.to_core()?)?))
    }

    /// Creates an index over the collection's live records (one transaction) and keeps it
    /// in step with every later write. A unique index over records that already repeat a
    /// key is refused with `UniqueViolation`, and nothing is written.
    pub fn create_index(&self, collection: String, def: IndexDef) -> Result<IndexDescription> {
        guard(|| {
            Ok(index::from_info(
                self.db.create_index(&collection, index::to_spec(def))?,
            ))
        })
    }

    /// Drops an index by name; true if it existed. Query results do not change.
    pub fn drop_index(&self, collection: String, name: String) -> Result<bool> {
        guard(|| Ok(self.db.drop_index(&collection, &name)?))
    }

    /// The collection's indexes, in name order.
    pub fn indexes(&self, collection: String) -> Result<Vec<IndexDescription>> {
        guard(|| Ok(index::from_infos(self.db.indexes(&collection)?)))
    }

    /// Full-text search: the whole page of BM25-ranked hits in one call. The collection
    /// needs a full-text index (`IndexNotFound` otherwise).
    pub fn search(&self, spec: SearchSpec) -> Result<Vec<SearchHit>> {
        guard(|| {
            let hits = self.db.search(&search::to_search(&spec)?)?;
            Ok(search::from_hits(hits, &spec.fields))
        })
    }

    /// Runs an aggregation; returns every output row (group-by fields and aliases).
    pub fn aggregate(&self, spec: AggregateSpec) -> Result<Vec<BlazeRecord>> {
        guard(|| {
            Ok(from_records(
                self.db.aggregate(&aggregate::to_aggregate(spec)?)?,
            ))
        })
    }

    /// The distinct values of `field` among the matches of `spec`'s filters, in sort
    /// order (`3` and `3.0` are one value); records without the field or with a stored
    /// null give one null, last. Sort keys, offset and limit are refused (`InvalidQuery`).
    pub fn distinct(&self, spec: QuerySpec, field: String) -> Result<Vec<BlazeValue>> {
        guard(|| {
            let q = query::to_query(spec)?;
            Ok(self
                .db
                .distinct(&q, &field)?
                .into_iter()
                .map(value::from_value)
                .collect())
        })
    }

    /// Joins the left collection of this database with the right collection of `right`
    /// (another open database), or of this database when `right` is none. Each side is
    /// read on a snapshot of its last commit.
    pub fn join(&self, spec: JoinSpec, right: Option<Arc<Database>>) -> Result<Vec<JoinedPair>> {
        guard(|| {
            let j = aggregate::to_join(spec)?;
            let rows = match &right {
                Some(r) => self.db.join_across(&r.db, &j)?,
                None => self.db.join(&j)?,
            };
            Ok(aggregate::from_rows(rows))
        })
    }

    /// How the planner runs a query (index or scan), with real row counts.
    pub fn explain(&self, spec: QuerySpec) -> Result<ExplainReport> {
        guard(|| Ok(ops::from_explain(self.db.explain(&query::to_query(spec)?)?)))
    }

    /// Records per collection, file size, fragmentation, index count and cache hit rate.
    pub fn stats(&self) -> Result<StatsReport> {
        guard(|| {
            let s = self.db.stats()?;
            Ok(ops::from_stats(s))
        })
    }

    /// The health report with the core's default thresholds (for an encrypted file it
    /// authenticates every block).
    pub fn health(&self) -> Result<HealthSummary> {
        guard(|| Ok(ops::from_health(self.db.health()?)))
    }

    /// The stored schema version; none if it was never set.
    pub fn schema_version(&self) -> Result<Option<StoredSchemaVersion>> {
        guard(|| Ok(self.db.schema_version()?.map(Into::into)))
    }

    /// Stores the schema version (one commit).
    pub fn set_schema_version(&self, version: StoredSchemaVersion) -> Result<()> {
        guard(|| Ok(self.db.set_schema_version(version.into())?))
    }

    /// Writes an online backup to a new file at `path` (which must not exist): one
    /// snapshot, consistent to a single commit while writers go on. The backup is keyed
    /// with `options`' password or key; the handle does not keep its own, so a backup of
    /// an encrypted database without one is refused unless `allow_plaintext`.
    pub fn backup(
        &self,
        path: String,
        options: OpenOptions,
        allow_plaintext: bool,
    ) -> Result<BackupReport> {
        guard(|| {
            self.ensure_open()?;
            Ok(ops::from_backup(self.db.backup(
                &path,
                ops::backup_options(options.to_core()?, allow_plaintext),
            )?))
        })
    }

    /// Exports `collections` (every collection when empty) to a lossless dump at `path`,
    /// from one snapshot, written atomically.
    pub fn export_dump(&self, path: String, collections: Vec<String>) -> Result<DumpExportReport> {
        guard(|| {
            self.ensure_open()?;
            let names: Vec<&str> = collections.iter().map(String::as_str).collect();
            Ok(dump::from_export(blazedb::dump::lossless::export(
                &self.db, &names, &path,
            )?))
        })
    }

    /// Exports one collection to an upstream `.blazedump` v1 at `path`, byte for byte as
    /// upstream writes one. `database_name` defaults to the file's stem, `schema_version`
    /// to 0.0 (upstream's for an unversioned database). Values upstream cannot write (NaN,
    /// dates outside years 0000–9999) fail with `InvalidData`.
    pub fn export_upstream_dump(
        &self,
        collection: String,
        path: String,
        database_name: Option<String>,
        schema_version: Option<StoredSchemaVersion>,
    ) -> Result<DumpExportReport> {
        guard(|| {
            self.ensure_open()?;
            let options = blazedb::dump::upstream_v1::ExportOptions {
                database_name,
                schema_version: schema_version.map(Into::into),
                ..Default::default()
            };
            Ok(dump::from_export(blazedb::dump::upstream_v1::export_with(
                &self.db,
                &collection,
                &path,
                &options,
            )?))
        })
    }

    /// Restores a dump after verifying all of it, in one transaction, into empty
    /// collections: into `collection` (an upstream v1 dump, or a lossless dump holding one
    /// collection), or, when `collection` is none, every collection of a lossless dump
    /// under its own name.
    pub fn restore_dump(
        &self,
        path: String,
        collection: Option<String>,
    ) -> Result<DumpRestoreReport> {
        guard(|| {
            self.ensure_open()?;
            let r = match collection {
                Some(c) => blazedb::dump::restore(&path, &self.db, &c)?,
                None => match blazedb::dump::detect(&path)? {
                    blazedb::dump::DumpFormat::Lossless => {
                        blazedb::dump::lossless::restore(&path, &self.db)?
                    }
                    blazedb::dump::DumpFormat::UpstreamV1 => {
                        return Err(BlazeError::InvalidInput {
                            reason: "an upstream v1 dump holds one unnamed collection; name the collection to restore it into".into(),
                        });
                    }
                },
            };
            Ok(dump::from_restore(r))
        })
    }
}

/// An explicit write transaction. Its reads see its own writes; nobody else sees them until
/// `commit`. After `commit`, `rollback` or the database's `close_database`, every call returns
/// `Closed`. Freeing it without committing rolls back.
#[derive(uniffi::Object)]
pub struct Transaction {
    tx: blazedb::Transaction,
}

#[uniffi::export]
impl Transaction {
    /// Commits; the transaction is spent afterwards.
    pub fn commit(&self) -> Result<()> {
        guard(|| Ok(self.tx.commit()?))
    }

    /// Rolls back; the transaction is spent afterwards.
    pub fn rollback(&self) -> Result<()> {
        guard(|| Ok(self.tx.rollback()?))
    }

    /// Whether the transaction is still open.
    pub fn is_open(&self) -> bool {
        self.tx.is_open()
    }

    /// See `Database::insert`.
    pub fn insert(&self, collection: String, record: BlazeRecord) -> Result<String> {
        guard(|| Ok(id_string(self.tx.insert(&collection, to_record(record)?)?)))
    }

    /// See `Database::insert_many`.
    pub fn insert_many(
        &self,
        collection: String,
        records: Vec<BlazeRecord>,
    ) -> Result<Vec<String>> {
        guard(|| {
            let ids = self.tx.insert_many(&collection, to_records(records)?)?;
            Ok(ids.into_iter().map(id_string).collect())
        })
    }

    /// See `Database::insert_many_packed`.
    pub fn insert_many_packed(
        &self,
        collection: String,
        records: packed::Packed,
    ) -> Result<packed::Packed> {
        guard(|| {
            let ids = self
                .tx
                .insert_many(&collection, packed::decode_write(&records)?)?;
            Ok(packed::pack_ids(&ids))
        })
    }

    /// See `Database::get`.
    pub fn get(&self, collection: String, id: String) -> Result<Option<BlazeRecord>> {
        guard(|| Ok(self.tx.get(&collection, parse_id(&id)?)?.map(from_record)))
    }

    /// See `Database::get_many`.
    pub fn get_many(
        &self,
        collection: String,
        ids: Vec<String>,
    ) -> Result<Vec<Option<BlazeRecord>>> {
        guard(|| {
            let got = self.tx.get_many(&collection, &parse_ids(&ids)?)?;
            Ok(got.into_iter().map(|r| r.map(from_record)).collect())
        })
    }

    /// See `Database::exists`.
    pub fn exists(&self, collection: String, id: String) -> Result<bool> {
        guard(|| Ok(self.tx.exists(&collection, parse_id(&id)?)?))
    }

    /// See `Database::all`.
    pub fn all(&self, collection: String) -> Result<Vec<BlazeRecord>> {
        guard(|| Ok(from_records(self.tx.all(&collection)?)))
    }

    /// See `Database::page`.
    pub fn page(&self, collection: String, offset: u64, limit: u64) -> Result<Vec<BlazeRecord>> {
        guard(|| {
            let (offset, limit) = (usize_arg("offset", offset)?, usize_arg("limit", limit)?);
            Ok(from_records(self.tx.page(&collection, offset, limit)?))
        })
    }

    /// See `Database::count`.
    pub fn count(&self, collection: String) -> Result<u64> {
        guard(|| Ok(self.tx.count(&collection)?))
    }

    /// See `Database::query`; sees this transaction's own writes.
    pub fn query(&self, spec: QuerySpec) -> Result<Vec<BlazeRecord>> {
        guard(|| {
            let q = query::to_query(spec)?;
            Ok(from_records(self.tx.with(|tx| tx.query(&q))?))
        })
    }

    /// See `Database::query_count`.
    pub fn query_count(&self, spec: QuerySpec) -> Result<u64> {
        guard(|| {
            let q = query::to_query(spec)?;
            Ok(self.tx.with(|tx| tx.query_count(&q))?)
        })
    }

    /// `get` as a packed buffer (shape 1, one item; see [`packed`]).
    pub fn get_packed(&self, collection: String, id: String) -> Result<packed::Packed> {
        guard(|| {
            let id = parse_id(&id)?;
            Ok(packed::optional_views(1, |sink| {
                self.tx.with(|tx| tx.get_with(&collection, id, sink))
            })?)
        })
    }

    /// `get_many` as a packed buffer (shape 1, lined up with `ids`; see [`packed`]). The
    /// ids come packed too, 16 bytes each (RFC 4122 order); any other length is
    /// `InvalidInput`.
    pub fn get_many_packed(
        &self,
        collection: String,
        ids: packed::Packed,
    ) -> Result<packed::Packed> {
        guard(|| {
            let ids = packed::ids(&ids)?;
            Ok(packed::optional_views(ids.len(), |sink| {
                self.tx.with(|tx| tx.get_many_with(&collection, &ids, sink))
            })?)
        })
    }

    /// `all` as a packed buffer (shape 0; see [`packed`]).
    pub fn all_packed(&self, collection: String) -> Result<packed::Packed> {
        guard(|| {
            Ok(packed::views(|sink| {
                self.tx
                    .with(|tx| tx.page_with(&collection, 0, usize::MAX, sink))
            })?)
        })
    }

    /// `page` as a packed buffer (shape 0; see [`packed`]).
    pub fn page_packed(
        &self,
        collection: String,
        offset: u64,
        limit: u64,
    ) -> Result<packed::Packed> {
        guard(|| {
            let (offset, limit) = (usize_arg("offset", offset)?, usize_arg("limit", limit)?);
            Ok(packed::views(|sink| {
                self.tx
                    .with(|tx| tx.page_with(&collection, offset, limit, sink))
            })?)
        })
    }

    /// `query` as a packed buffer (shape 0; see [`packed`]); sees this transaction's writes.
    pub fn query_packed(&self, spec: QuerySpec) -> Result<packed::Packed> {
        guard(|| {
            let q = query::to_query(spec)?;
            Ok(packed::records(&self.tx.with(|tx| tx.query(&q))?))
        })
    }

    /// See `Database::update`.
    pub fn update(&self, collection: String, id: String, record: BlazeRecord) -> Result<()> {
        guard(|| {
            Ok(self
                .tx
                .update(&collection, parse_id(&id)?, to_record(record)?)?)
        })
    }

    /// See `Database::update_fields`.
    pub fn update_fields(&self, collection: String, id: String, fields: BlazeRecord) -> Result<()> {
        guard(|| {
            Ok(self
                .tx
                .update_fields(&collection, parse_id(&id)?, to_record(fields)?)?)
        })
    }

    /// See `Database::upsert`.
    pub fn upsert(&self, collection: String, id: String, record: BlazeRecord) -> Result<bool> {
        guard(|| {
            Ok(self
                .tx
                .upsert(&collection, parse_id(&id)?, to_record(record)?)?)
        })
    }

    /// See `Database::delete`.
    pub fn delete(&self, collection: String, id: String) -> Result<bool> {
        guard(|| Ok(self.tx.delete(&collection, parse_id(&id)?)?))
    }

    /// See `Database::delete_many`.
    pub fn delete_many(&self, collection: String, ids: Vec<String>) -> Result<u64> {
        guard(|| Ok(self.tx.delete_many(&collection, &parse_ids(&ids)?)? as u64))
    }

    /// See `Database::soft_delete`.
    pub fn soft_delete(&self, collection: String, id: String) -> Result<()> {
        guard(|| Ok(self.tx.soft_delete(&collection, parse_id(&id)?)?))
    }

    /// See `Database::purge`.
    pub fn purge(&self, collection: String) -> Result<u64> {
        guard(|| Ok(self.tx.purge(&collection)?))
    }

    /// Every collection's name as this transaction sees them.
    pub fn collections(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.tx.with(|tx| tx.collections())?))
    }

    /// See `Database::rename_collection`.
    pub fn rename_collection(&self, from: String, to: String) -> Result<()> {
        guard(|| Ok(self.tx.with(|tx| tx.rename_collection(&from, &to))?))
    }

    /// See `Database::drop_collection`.
    pub fn drop_collection(&self, collection: String) -> Result<bool> {
        guard(|| Ok(self.tx.with(|tx| tx.drop_collection(&collection))?))
    }

    /// See `Database::create_index`; the index commits or rolls back with the transaction.
    pub fn create_index(&self, collection: String, def: IndexDef) -> Result<IndexDescription> {
        guard(|| {
            let spec = index::to_spec(def);
            Ok(index::from_info(
                self.tx.with(|tx| tx.create_index(&collection, spec))?,
            ))
        })
    }

    /// See `Database::drop_index`.
    pub fn drop_index(&self, collection: String, name: String) -> Result<bool> {
        guard(|| Ok(self.tx.with(|tx| tx.drop_index(&collection, &name))?))
    }

    /// See `Database::indexes`; includes this transaction's own changes.
    pub fn indexes(&self, collection: String) -> Result<Vec<IndexDescription>> {
        guard(|| {
            Ok(index::from_infos(
                self.tx.with(|tx| tx.indexes(&collection))?,
            ))
        })
    }

    /// See `Database::search`; sees this transaction's own writes.
    pub fn search(&self, spec: SearchSpec) -> Result<Vec<SearchHit>> {
        guard(|| {
            let q = search::to_search(&spec)?;
            let hits = self.tx.with(|tx| tx.search(&q))?;
            Ok(search::from_hits(hits, &spec.fields))
        })
    }

    /// See `Database::schema_version`; sees this transaction's own change.
    pub fn schema_version(&self) -> Result<Option<StoredSchemaVersion>> {
        guard(|| Ok(self.tx.with(|tx| tx.schema_version())?.map(Into::into)))
    }

    /// Sets the schema version; it commits or rolls back with the transaction.
    pub fn set_schema_version(&self, version: StoredSchemaVersion) -> Result<()> {
        guard(|| Ok(self.tx.with(|tx| tx.set_schema_version(version.into()))?))
    }
}
