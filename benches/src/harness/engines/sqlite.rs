//! SQLite and SQLCipher through rusqlite: one JSON document column, generated columns and
//! indexes on the fields BlazeDB indexes, an FTS5 table for title and body, and a users
//! table for the join.

use std::path::{Path, PathBuf};

use blazedb::{Record, Timestamp, Uuid, json};
use rusqlite::{Connection, OptionalExtension, params};

use super::{CACHE_BYTES, Engine, JoinParams, TEAMS};
use crate::harness::{Outcome, Result};

/// The schema, exactly as run (the report prints it).
///
/// `seq` is an explicit `INTEGER PRIMARY KEY` because FTS5's external content refers to
/// rows by rowid, and `VACUUM` may renumber implicit rowids. The FTS triggers fire only
/// when title or body change, as a careful application would write them.
pub const SCHEMA: &str = "\
CREATE TABLE issues (
  seq INTEGER PRIMARY KEY,
  id BLOB NOT NULL UNIQUE,
  doc TEXT NOT NULL,
  title TEXT GENERATED ALWAYS AS (json_extract(doc, '$.title')) VIRTUAL,
  body TEXT GENERATED ALWAYS AS (json_extract(doc, '$.body')) VIRTUAL,
  status TEXT GENERATED ALWAYS AS (json_extract(doc, '$.status')) VIRTUAL,
  priority INTEGER GENERATED ALWAYS AS (json_extract(doc, '$.priority')) VIRTUAL,
  created_at TEXT GENERATED ALWAYS AS (json_extract(doc, '$.createdAt')) VIRTUAL,
  assignee TEXT GENERATED ALWAYS AS (json_extract(doc, '$.assignee')) VIRTUAL,
  reporter TEXT GENERATED ALWAYS AS (json_extract(doc, '$.reporter')) VIRTUAL
);
CREATE INDEX issues_status ON issues(status);
CREATE INDEX issues_reporter ON issues(reporter);
CREATE INDEX issues_assignee ON issues(assignee);
CREATE INDEX issues_priority_created ON issues(priority, created_at);
CREATE INDEX issues_created ON issues(created_at);
CREATE VIRTUAL TABLE issues_fts USING fts5(title, body, content='issues', content_rowid='seq');
CREATE TRIGGER issues_ai AFTER INSERT ON issues BEGIN
  INSERT INTO issues_fts(rowid, title, body) VALUES (new.seq, new.title, new.body);
END;
CREATE TRIGGER issues_ad AFTER DELETE ON issues BEGIN
  INSERT INTO issues_fts(issues_fts, rowid, title, body) VALUES ('delete', old.seq, old.title, old.body);
END;
CREATE TRIGGER issues_au AFTER UPDATE ON issues
  WHEN old.title IS NOT new.title OR old.body IS NOT new.body BEGIN
  INSERT INTO issues_fts(issues_fts, rowid, title, body) VALUES ('delete', old.seq, old.title, old.body);
  INSERT INTO issues_fts(rowid, title, body) VALUES (new.seq, new.title, new.body);
END;
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  team TEXT NOT NULL,
  email TEXT NOT NULL
);
CREATE INDEX users_team ON users(team);
";

/// The statements each operation runs, exactly as run (the report prints them).
pub mod queries {
    /// Pragmas at every open, after the key for SQLCipher.
    pub const OPEN: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                            PRAGMA cache_size=-16384;";
    /// Insert (one per record; batches wrap them in one transaction).
    pub const INSERT: &str = "INSERT INTO issues (id, doc) VALUES (?1, ?2)";
    /// Get by id.
    pub const GET: &str = "SELECT doc FROM issues WHERE id = ?1";
    /// Indexed equality.
    pub const INDEXED_EQ: &str = "SELECT doc FROM issues WHERE reporter = ?1";
    /// Range + sort + limit.
    pub const RANGE: &str = "SELECT doc FROM issues WHERE priority >= ?1 AND created_at < ?2 \
                             ORDER BY created_at DESC LIMIT ?3";
    /// Unindexed filter (`instr` is a case-sensitive substring test, like BlazeDB's
    /// `contains`; `LIKE` would fold case).
    pub const UNINDEXED: &str = "SELECT doc FROM issues WHERE instr(body, ?1) > 0";
    /// Group-by count.
    pub const GROUP: &str = "SELECT status, count(*) FROM issues GROUP BY status";
    /// Join.
    pub const JOIN: &str = "SELECT i.doc, u.name, u.team FROM issues i \
                            JOIN users u ON u.name = i.reporter \
                            WHERE i.status = ?1 AND i.priority = ?2 AND u.team = ?3";
    /// Full text: the best `?2` by FTS5's bm25 rank.
    pub const FULL_TEXT: &str = "SELECT i.doc FROM (SELECT rowid, rank FROM issues_fts \
                                 WHERE issues_fts MATCH ?1 ORDER BY rank LIMIT ?2) f \
                                 JOIN issues i ON i.seq = f.rowid ORDER BY f.rank";
    /// Update one field.
    pub const UPDATE: &str = "UPDATE issues SET doc = json_set(doc, '$.status', ?2) WHERE id = ?1";
    /// Delete.
    pub const DELETE: &str = "DELETE FROM issues WHERE id = ?1";
    /// Compaction.
    pub const COMPACT: &str = "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);";

    /// Every statement with its operation, for the report.
    pub const ALL: &[(&str, &str)] = &[
        ("open", OPEN),
        ("insert", INSERT),
        ("get by id", GET),
        ("indexed equality", INDEXED_EQ),
        ("range + sort + limit", RANGE),
        ("unindexed filter", UNINDEXED),
        ("group-by count", GROUP),
        ("join", JOIN),
        ("full text", FULL_TEXT),
        ("update", UPDATE),
        ("delete", DELETE),
        ("compaction", COMPACT),
    ];
}

/// SQLCipher's version, when the linked library is SQLCipher.
pub fn cipher_version() -> Option<String> {
    let c = Connection::open_in_memory().ok()?;
    c.query_row("PRAGMA cipher_version", [], |r| r.get::<_, String>(0))
        .optional()
        .ok()
        .flatten()
}

/// A SQLite (or, with a key, SQLCipher) file in a directory of its own.
pub struct Sqlite {
    path: PathBuf,
    key: Option<&'static str>,
    conn: Option<Connection>,
}

fn open(path: &Path, key: Option<&str>) -> Result<Connection> {
    let c = Connection::open(path)?;
    if let Some(k) = key {
        c.pragma_update(None, "key", k)?;
    }
    debug_assert_eq!(CACHE_BYTES, 16 * 1024 * 1024, "queries::OPEN sets 16 MiB");
    c.execute_batch(queries::OPEN)?;
    Ok(c)
}

fn decode(doc: &str) -> Result<Record> {
    Ok(json::record_from_json(&serde_json::from_str(doc)?)?)
}

/// Runs `sql` with `params` and decodes the first column of every row as a document.
fn docs(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Outcome> {
    let mut st = c.prepare_cached(sql)?;
    let mut rows = st.query(p)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row.get_ref(0)?.as_str()?)?);
    }
    Ok(Outcome::Rows(out.len()))
}

/// The text SQLite compares `createdAt` with: the RFC 3339 string BlazeDB's plain JSON
/// writes for a date, so the comparison is the string order of those strings.
fn date_text(t: Timestamp) -> String {
    t.to_rfc3339()
}

impl Sqlite {
    /// Creates `issues.db` in `dir`, keyed (SQLCipher) when `key` is given.
    pub fn create(dir: &Path, key: Option<&'static str>) -> Result<Self> {
        let path = dir.join("issues.db");
        let conn = open(&path, key)?;
        Ok(Sqlite {
            path,
            key,
            conn: Some(conn),
        })
    }

    fn conn(&mut self) -> Result<&mut Connection> {
        self.conn
            .as_mut()
            .ok_or_else(|| "the database is closed".into())
    }
}

impl Engine for Sqlite {
    fn setup(&mut self, users: usize) -> Result<()> {
        let c = self.conn()?;
        let fts: bool =
            c.query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
                r.get(0)
            })?;
        if !fts {
            return Err("this SQLite is built without FTS5".into());
        }
        c.execute_batch(SCHEMA)?;
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare("INSERT INTO users (name, team, email) VALUES (?1, ?2, ?3)")?;
            for k in 0..users {
                let name = crate::reporter_name(k);
                st.execute(params![
                    name,
                    TEAMS[k % TEAMS.len()],
                    format!("{name}@example.com")
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn insert_batch(&mut self, docs: Vec<Record>) -> Result<Vec<Uuid>> {
        let tx = self.conn()?.transaction()?;
        let mut ids = Vec::with_capacity(docs.len());
        {
            let mut st = tx.prepare_cached(queries::INSERT)?;
            for d in &docs {
                let id = Uuid::new_v4();
                st.execute(params![
                    id.as_bytes().as_slice(),
                    json::record_to_json(d).to_string()
                ])?;
                ids.push(id);
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn insert_one(&mut self, doc: Record) -> Result<Outcome> {
        let c = self.conn()?;
        let id = Uuid::new_v4();
        c.prepare_cached(queries::INSERT)?.execute(params![
            id.as_bytes().as_slice(),
            json::record_to_json(&doc).to_string()
        ])?;
        Ok(Outcome::Rows(1))
    }

    fn get(&mut self, id: Uuid) -> Result<Outcome> {
        docs(self.conn()?, queries::GET, [id.as_bytes().as_slice()])
    }

    fn indexed_eq(&mut self, reporter: &str) -> Result<Outcome> {
        docs(self.conn()?, queries::INDEXED_EQ, [reporter])
    }

    fn range_sort_limit(
        &mut self,
        min_priority: i64,
        before: Timestamp,
        limit: usize,
    ) -> Result<Outcome> {
        let limit = i64::try_from(limit)?;
        docs(
            self.conn()?,
            queries::RANGE,
            params![min_priority, date_text(before), limit],
        )
    }

    fn unindexed_filter(&mut self, phrase: &str) -> Result<Outcome> {
        docs(self.conn()?, queries::UNINDEXED, [phrase])
    }

    fn group_by_count(&mut self) -> Result<Outcome> {
        let c = self.conn()?;
        let mut st = c.prepare_cached(queries::GROUP)?;
        let groups = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Outcome::Rows(groups.len()))
    }

    fn join(&mut self, p: JoinParams<'_>) -> Result<Outcome> {
        let c = self.conn()?;
        let mut st = c.prepare_cached(queries::JOIN)?;
        let mut rows = st.query(params![p.status, p.priority, p.team])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let issue = decode(row.get_ref(0)?.as_str()?)?;
            let name: String = row.get(1)?;
            let team: String = row.get(2)?;
            out.push((issue, name, team));
        }
        Ok(Outcome::Rows(out.len()))
    }

    fn full_text(&mut self, text: &str, limit: usize) -> Result<Outcome> {
        let limit = i64::try_from(limit)?;
        docs(self.conn()?, queries::FULL_TEXT, params![text, limit])
    }

    fn update(&mut self, id: Uuid, status: &str) -> Result<Outcome> {
        let n = self
            .conn()?
            .prepare_cached(queries::UPDATE)?
            .execute(params![id.as_bytes().as_slice(), status])?;
        Ok(Outcome::Rows(n))
    }

    fn delete(&mut self, id: Uuid) -> Result<Outcome> {
        let n = self
            .conn()?
            .prepare_cached(queries::DELETE)?
            .execute([id.as_bytes().as_slice()])?;
        Ok(Outcome::Rows(n))
    }

    fn delete_many(&mut self, ids: &[Uuid]) -> Result<()> {
        let tx = self.conn()?.transaction()?;
        {
            let mut st = tx.prepare_cached(queries::DELETE)?;
            for id in ids {
                st.execute([id.as_bytes().as_slice()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn compact(&mut self) -> Result<Outcome> {
        self.conn()?.execute_batch(queries::COMPACT)?;
        Ok(Outcome::Rows(1))
    }

    fn close(&mut self) -> Result<()> {
        if let Some(c) = self.conn.take() {
            c.close().map_err(|(_, e)| e)?;
        }
        Ok(())
    }

    fn open_and_get(&mut self, id: Uuid) -> Result<Outcome> {
        let c = open(&self.path, self.key)?;
        let r = docs(&c, queries::GET, [id.as_bytes().as_slice()]);
        self.conn = Some(c);
        r
    }
}
