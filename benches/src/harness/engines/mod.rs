//! One adapter per engine behind the [`Engine`] trait: each method is one operation of
//! the table, returning what it did or [`Outcome::Unsupported`] with the reason.

mod blazedb;
mod rawredb;
mod sqlite;

use std::path::Path;

use ::blazedb::{Record, Timestamp, Uuid};

use super::{EngineKind, Outcome, Result};

pub use self::sqlite::SCHEMA as SQLITE_SCHEMA;
pub use self::sqlite::queries as sqlite_queries;

/// The collection (table) the issues live in.
pub const ISSUES: &str = "issues";
/// The collection (table) of users the join reads.
pub const USERS: &str = "users";
/// The password of the encrypted engines.
pub const PASSWORD: &str = "Bench-Password-2026";
/// The teams users belong to (user `k` is in `TEAMS[k % TEAMS.len()]`).
pub const TEAMS: &[&str] = &["ios", "android", "web", "backend", "infra"];
/// Every engine's page cache, so that none wins by caching more (BlazeDB's default).
pub const CACHE_BYTES: usize = ::blazedb::DEFAULT_CACHE_SIZE;

/// One user record of the join's second collection.
pub fn user(k: usize) -> Record {
    let name = crate::reporter_name(k);
    Record::new()
        .with("email", format!("{name}@example.com"))
        .with("team", TEAMS[k % TEAMS.len()])
        .with("name", name)
}

/// The join's parameters: issues with this status and priority whose reporter is in
/// this team.
#[derive(Clone, Copy, Debug)]
pub struct JoinParams<'a> {
    /// `issues.status = ..`
    pub status: &'a str,
    /// `issues.priority = ..`
    pub priority: i64,
    /// `users.team = ..`
    pub team: &'a str,
}

/// The operations of the table, one method each, on one open database. Timing is the
/// caller's: a method does the operation and decodes what it returns into [`Record`]s,
/// as an application would, so every engine pays for getting documents back.
pub trait Engine {
    /// Creates the schema (indexes, the users collection with `users` records); untimed.
    fn setup(&mut self, users: usize) -> Result<()>;
    /// Inserts `docs` in one transaction and returns their ids, in order.
    fn insert_batch(&mut self, docs: Vec<Record>) -> Result<Vec<Uuid>>;
    /// Inserts one record in its own durable transaction.
    fn insert_one(&mut self, doc: Record) -> Result<Outcome>;
    /// Reads and decodes one record.
    fn get(&mut self, id: Uuid) -> Result<Outcome>;
    /// `reporter = reporter`, on an index.
    fn indexed_eq(&mut self, reporter: &str) -> Result<Outcome>;
    /// `priority >= min_priority AND createdAt < before ORDER BY createdAt DESC LIMIT limit`.
    fn range_sort_limit(
        &mut self,
        min_priority: i64,
        before: Timestamp,
        limit: usize,
    ) -> Result<Outcome>;
    /// Records whose `body` contains `phrase`, on no index.
    fn unindexed_filter(&mut self, phrase: &str) -> Result<Outcome>;
    /// The number of records per `status`; returns the number of groups.
    fn group_by_count(&mut self) -> Result<Outcome>;
    /// Issues joined with their reporter's user record.
    fn join(&mut self, p: JoinParams<'_>) -> Result<Outcome>;
    /// Records matching every term of `text` in title or body, best `limit` by rank.
    fn full_text(&mut self, text: &str, limit: usize) -> Result<Outcome>;
    /// Sets `status` of one record in its own durable transaction.
    fn update(&mut self, id: Uuid, status: &str) -> Result<Outcome>;
    /// Deletes one record in its own durable transaction.
    fn delete(&mut self, id: Uuid) -> Result<Outcome>;
    /// Deletes `ids` in one transaction; untimed clean-up after the batch inserts.
    fn delete_many(&mut self, ids: &[Uuid]) -> Result<()>;
    /// Compacts the file (SQLite: `VACUUM`).
    fn compact(&mut self) -> Result<Outcome>;
    /// Closes the database; a later [`Self::open_and_get`] reopens it.
    fn close(&mut self) -> Result<()>;
    /// Opens the closed database (key derivation included) and reads one record.
    fn open_and_get(&mut self, id: Uuid) -> Result<Outcome>;
    /// How this engine does `op` when a reader should know (e.g. "full scan: no index").
    fn note(&self, op: super::Op) -> Option<String> {
        let _ = op;
        None
    }
}

/// Creates `kind`'s database in the empty directory `dir`.
pub fn create(kind: EngineKind, dir: &Path) -> Result<Box<dyn Engine>> {
    Ok(match kind {
        EngineKind::Blazedb => Box::new(blazedb::Blaze::create(dir, false)?),
        EngineKind::BlazedbEnc => Box::new(blazedb::Blaze::create(dir, true)?),
        EngineKind::Sqlite => Box::new(sqlite::Sqlite::create(dir, None)?),
        EngineKind::Sqlcipher => Box::new(sqlite::Sqlite::create(dir, Some(PASSWORD))?),
        EngineKind::Redb => Box::new(rawredb::RawRedb::create(dir)?),
    })
}

/// The versions of the peers linked in: SQLite's and SQLCipher's as the library reports
/// them, redb's as pinned in the workspace.
pub fn peer_versions() -> Vec<(String, String)> {
    let mut v = vec![
        ("blazedb".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("redb".to_string(), REDB_VERSION.to_string()),
        ("rusqlite".to_string(), RUSQLITE_VERSION.to_string()),
        ("sqlite".to_string(), rusqlite::version().to_string()),
    ];
    if let Some(c) = sqlite::cipher_version() {
        v.push(("sqlcipher".to_string(), c));
    }
    v
}

/// redb as pinned (`=4.6.0`) in the workspace's Cargo.toml; keep in step with it.
pub const REDB_VERSION: &str = "4.6.0";
/// rusqlite as required in benches/Cargo.toml; keep in step with it.
pub const RUSQLITE_VERSION: &str = "0.43 (bundled-sqlcipher-vendored-openssl)";
