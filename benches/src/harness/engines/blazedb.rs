//! BlazeDB, plain and encrypted, through its public API.

use std::path::{Path, PathBuf};

use blazedb::{Database, Filter, Options, Order, Query, Record, Timestamp, Uuid};

use super::{Engine, ISSUES, JoinParams, PASSWORD, USERS};
use crate::harness::{Outcome, Result};

/// The indexes, aggregation, join and full-text search of the workload, through the core's
/// public API.
mod features {
    use blazedb::Database;

    use crate::harness::{Outcome, Result};

    /// The indexes SQLite gets, on the same fields.
    pub fn create_indexes(db: &Database) -> Result<()> {
        use blazedb::IndexSpec;
        for spec in [
            IndexSpec::on("status"),
            IndexSpec::on("reporter"),
            IndexSpec::on("assignee"),
            IndexSpec::compound(["priority", "createdAt"]),
            IndexSpec::on("createdAt"),
            IndexSpec::full_text(["title", "body"]),
        ] {
            db.create_index(super::ISSUES, spec)?;
        }
        db.create_index(super::USERS, IndexSpec::on("team"))?;
        db.create_index(super::USERS, IndexSpec::on("name").unique())?;
        Ok(())
    }

    /// `issues` grouped by `status`, with a count.
    pub fn group_by_count(db: &Database) -> Result<Outcome> {
        let a = blazedb::Aggregate::new(super::ISSUES)
            .group_by(["status"])
            .count("n");
        Ok(Outcome::Rows(db.aggregate(&a)?.len()))
    }

    /// Issues (status, priority) joined with users (team) on
    /// `issues.reporter = users.name`.
    pub fn join(db: &Database, p: super::JoinParams<'_>) -> Result<Outcome> {
        use blazedb::{Filter, Join, Query};
        let left = Query::new(super::ISSUES)
            .filter(Filter::eq("status", p.status).and(Filter::eq("priority", p.priority)));
        let j = Join::new(left, "reporter", super::USERS, "name")
            .right_filter(Filter::eq("team", p.team));
        Ok(Outcome::Rows(db.join(&j)?.len()))
    }

    /// The top `limit` full-text hits for `text` in issues.
    pub fn full_text(db: &Database, text: &str, limit: usize) -> Result<Outcome> {
        let q = blazedb::search::SearchQuery::new(super::ISSUES, text).limit(limit);
        Ok(Outcome::Rows(db.search(&q)?.len()))
    }
}

/// A BlazeDB file in a directory of its own.
pub struct Blaze {
    path: PathBuf,
    options: Options,
    db: Option<Database>,
}

impl Blaze {
    /// Creates `issues.blazedb` in `dir`, encrypted with [`PASSWORD`] when asked.
    ///
    /// Stamping is off so the stored documents are exactly the ones every peer stores
    /// (stamping would add `updatedAt` and `project`); its cost is measured in
    /// `core_vs_redb`. Everything else is the default: 16 MiB page cache, immediate
    /// durability, Argon2id's default cost.
    pub fn create(dir: &Path, encrypted: bool) -> Result<Self> {
        let mut options = Options::default().stamp_fields(false);
        if encrypted {
            options = options.password(PASSWORD);
        }
        let path = dir.join("issues.blazedb");
        let db = Database::open(&path, options.clone())?;
        Ok(Blaze {
            path,
            options,
            db: Some(db),
        })
    }

    fn db(&self) -> Result<&Database> {
        self.db
            .as_ref()
            .ok_or_else(|| "the database is closed".into())
    }

    fn rows(&self, q: &Query) -> Result<Outcome> {
        Ok(Outcome::Rows(self.db()?.query(q)?.len()))
    }
}

impl Engine for Blaze {
    fn setup(&mut self, users: usize) -> Result<()> {
        let db = self.db()?;
        db.insert_many(USERS, (0..users).map(super::user).collect())?;
        features::create_indexes(db)
    }

    fn insert_batch(&mut self, docs: Vec<Record>) -> Result<Vec<Uuid>> {
        Ok(self.db()?.insert_many(ISSUES, docs)?)
    }

    fn insert_one(&mut self, doc: Record) -> Result<Outcome> {
        self.db()?.insert(ISSUES, doc)?;
        Ok(Outcome::Rows(1))
    }

    fn get(&mut self, id: Uuid) -> Result<Outcome> {
        let r = self.db()?.get(ISSUES, id)?;
        Ok(Outcome::Rows(usize::from(r.is_some())))
    }

    fn indexed_eq(&mut self, reporter: &str) -> Result<Outcome> {
        self.rows(&Query::new(ISSUES).filter(Filter::eq("reporter", reporter)))
    }

    fn range_sort_limit(
        &mut self,
        min_priority: i64,
        before: Timestamp,
        limit: usize,
    ) -> Result<Outcome> {
        let q = Query::new(ISSUES)
            .filter(Filter::gte("priority", min_priority).and(Filter::lt("createdAt", before)))
            .order_by("createdAt", Order::Descending)
            .limit(limit);
        self.rows(&q)
    }

    fn unindexed_filter(&mut self, phrase: &str) -> Result<Outcome> {
        self.rows(&Query::new(ISSUES).filter(Filter::contains("body", phrase)))
    }

    fn group_by_count(&mut self) -> Result<Outcome> {
        features::group_by_count(self.db()?)
    }

    fn join(&mut self, p: JoinParams<'_>) -> Result<Outcome> {
        features::join(self.db()?, p)
    }

    fn full_text(&mut self, text: &str, limit: usize) -> Result<Outcome> {
        features::full_text(self.db()?, text, limit)
    }

    fn update(&mut self, id: Uuid, status: &str) -> Result<Outcome> {
        self.db()?
            .update_fields(ISSUES, id, Record::new().with("status", status))?;
        Ok(Outcome::Rows(1))
    }

    fn delete(&mut self, id: Uuid) -> Result<Outcome> {
        Ok(Outcome::Rows(usize::from(self.db()?.delete(ISSUES, id)?)))
    }

    fn delete_many(&mut self, ids: &[Uuid]) -> Result<()> {
        self.db()?.delete_many(ISSUES, ids)?;
        Ok(())
    }

    fn compact(&mut self) -> Result<Outcome> {
        self.db()?.compact()?;
        Ok(Outcome::Rows(1))
    }

    fn close(&mut self) -> Result<()> {
        if let Some(db) = self.db.take() {
            db.close()?;
        }
        Ok(())
    }

    fn open_and_get(&mut self, id: Uuid) -> Result<Outcome> {
        let db = Database::open(&self.path, self.options.clone())?;
        let found = db.get(ISSUES, id)?.is_some();
        self.db = Some(db);
        Ok(Outcome::Rows(usize::from(found)))
    }
}
