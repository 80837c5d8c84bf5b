//! BlazeDB: an embedded document database on [redb](https://docs.rs/redb).
//!
//! Records are maps of typed [`Value`]s stored in named collections inside one file. Every
//! write is an ACID transaction; reads see a snapshot of the last commit.
//!
//! ```
//! use blazedb::{Database, Options, Record};
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path().join("app.blazedb"), Options::default())?;
//! let id = db.insert("bugs", Record::new().with("title", "Crash on launch").with("priority", 1))?;
//! let bug = db.get("bugs", id)?.expect("just inserted");
//! assert_eq!(bug.get("title").and_then(|v| v.as_str()), Some("Crash on launch"));
//! db.close()?;
//! # Ok::<(), blazedb::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod crypto;
mod db;
pub mod dump;
mod engine;
mod error;
pub mod feed;
mod index;
pub mod json;
pub mod ops;
mod options;
pub mod query;
mod record;
pub mod search;
mod transactions;
mod value;
mod view;

pub use crypto::{KdfParams, Secret, password_policy_failures};
pub use db::{DEFAULT_COLLECTION, Database, default_directory};
pub use engine::encoding::{MAX_DEPTH, codec};
pub use error::{Error, Result};
pub use feed::{CallbackSubscription, Change, ChangeBatch, ChangeKind, Notification, Subscription};
pub use index::{IndexInfo, IndexKind, IndexSpec};
pub use ops::{
    BackupOptions, BackupReport, CompactionPolicy, HealthReport, HealthStatus, IntegrityReport,
    Migration, Migrations, SchemaVersion, Stats,
};
pub use options::{
    DEFAULT_BUSY_TIMEOUT, DEFAULT_CACHE_SIZE, DEFAULT_FEED_CAPACITY, DEFAULT_MAX_BATCH,
    DEFAULT_MAX_RECORD_SIZE, Durability, Options,
};
pub use query::{
    Aggregate, AggregateFn, Explain, Filter, Join, JoinKind, JoinedRow, Order, Query, QueryCursor,
    Strategy,
};
pub use record::{
    CREATED_AT_FIELD, ID_FIELD, IS_DELETED_FIELD, PROJECT_FIELD, Record, UPDATED_AT_FIELD, new_id,
};
pub use search::{MatchMode, SearchHit, SearchQuery};
pub use transactions::{ReadTx, Transaction, WriteTx};
pub use uuid::Uuid;
pub use value::{APPLE_REFERENCE_OFFSET_SECS, Timestamp, Value, ValueKind};
pub use view::{ArrayView, DictView, Fields, RecordView, ValueView, VectorView};
