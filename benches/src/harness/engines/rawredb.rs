//! Raw redb, the floor: one table `u128 → bytes` holding each document in BlazeDB's own
//! encoding ([`blazedb::codec`]), and only what a key-value store can do without a query
//! layer: writes, get by id, and a full scan with a filter.

use std::path::{Path, PathBuf};

use blazedb::{Filter, Record, Timestamp, Uuid, Value, codec};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{CACHE_BYTES, Engine, JoinParams};
use crate::harness::{Outcome, Result};

const ISSUES: TableDefinition<u128, &[u8]> = TableDefinition::new("issues");
const NO_QUERY_LAYER: &str = "key-value store: no query layer";

/// A redb file in a directory of its own.
pub struct RawRedb {
    path: PathBuf,
    db: Option<redb::Database>,
}

fn open(path: &Path) -> Result<redb::Database> {
    Ok(redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)?)
}

impl RawRedb {
    /// Creates `issues.redb` in `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        let path = dir.join("issues.redb");
        let db = open(&path)?;
        Ok(RawRedb { path, db: Some(db) })
    }

    fn db(&self) -> Result<&redb::Database> {
        self.db
            .as_ref()
            .ok_or_else(|| "the database is closed".into())
    }

    fn get_record(&self, id: Uuid) -> Result<Option<Record>> {
        let txn = self.db()?.begin_read()?;
        let t = txn.open_table(ISSUES)?;
        match t.get(id.as_u128())? {
            Some(v) => Ok(Some(codec::decode(v.value())?)),
            None => Ok(None),
        }
    }
}

impl Engine for RawRedb {
    fn setup(&mut self, _users: usize) -> Result<()> {
        // Create the table so that reads before the first write find it.
        let txn = self.db()?.begin_write()?;
        txn.open_table(ISSUES)?;
        txn.commit()?;
        Ok(())
    }

    fn insert_batch(&mut self, docs: Vec<Record>) -> Result<Vec<Uuid>> {
        let txn = self.db()?.begin_write()?;
        let mut ids = Vec::with_capacity(docs.len());
        {
            let mut t = txn.open_table(ISSUES)?;
            for d in &docs {
                let id = Uuid::new_v4();
                t.insert(id.as_u128(), codec::encode(d)?.as_slice())?;
                ids.push(id);
            }
        }
        txn.commit()?;
        Ok(ids)
    }

    fn insert_one(&mut self, doc: Record) -> Result<Outcome> {
        self.insert_batch(vec![doc])?;
        Ok(Outcome::Rows(1))
    }

    fn get(&mut self, id: Uuid) -> Result<Outcome> {
        Ok(Outcome::Rows(usize::from(self.get_record(id)?.is_some())))
    }

    fn indexed_eq(&mut self, _reporter: &str) -> Result<Outcome> {
        Ok(Outcome::unsupported("no secondary indexes"))
    }

    fn range_sort_limit(&mut self, _: i64, _: Timestamp, _: usize) -> Result<Outcome> {
        Ok(Outcome::unsupported(NO_QUERY_LAYER))
    }

    fn unindexed_filter(&mut self, phrase: &str) -> Result<Outcome> {
        let f = Filter::contains("body", phrase);
        let txn = self.db()?.begin_read()?;
        let t = txn.open_table(ISSUES)?;
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            let r = codec::decode(v.value())?;
            if f.matches(&r) {
                out.push(r);
            }
        }
        Ok(Outcome::Rows(out.len()))
    }

    fn group_by_count(&mut self) -> Result<Outcome> {
        Ok(Outcome::unsupported(NO_QUERY_LAYER))
    }

    fn join(&mut self, _p: JoinParams<'_>) -> Result<Outcome> {
        Ok(Outcome::unsupported(NO_QUERY_LAYER))
    }

    fn full_text(&mut self, _text: &str, _limit: usize) -> Result<Outcome> {
        Ok(Outcome::unsupported("no full-text index"))
    }

    fn update(&mut self, id: Uuid, status: &str) -> Result<Outcome> {
        let txn = self.db()?.begin_write()?;
        let found = {
            let mut t = txn.open_table(ISSUES)?;
            let old = t.get(id.as_u128())?.map(|v| codec::decode(v.value()));
            match old {
                Some(r) => {
                    let mut r = r?;
                    r.insert("status", Value::from(status));
                    t.insert(id.as_u128(), codec::encode(&r)?.as_slice())?;
                    1
                }
                None => 0,
            }
        };
        txn.commit()?;
        Ok(Outcome::Rows(found))
    }

    fn delete(&mut self, id: Uuid) -> Result<Outcome> {
        let txn = self.db()?.begin_write()?;
        let found = txn.open_table(ISSUES)?.remove(id.as_u128())?.is_some();
        txn.commit()?;
        Ok(Outcome::Rows(usize::from(found)))
    }

    fn delete_many(&mut self, ids: &[Uuid]) -> Result<()> {
        let txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_table(ISSUES)?;
            for id in ids {
                t.remove(id.as_u128())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn compact(&mut self) -> Result<Outcome> {
        let db = self
            .db
            .as_mut()
            .ok_or_else(|| -> crate::harness::BoxError { "the database is closed".into() })?;
        while db.compact()? {}
        Ok(Outcome::Rows(1))
    }

    fn close(&mut self) -> Result<()> {
        self.db = None;
        Ok(())
    }

    fn open_and_get(&mut self, id: Uuid) -> Result<Outcome> {
        self.db = Some(open(&self.path)?);
        self.get(id)
    }
}
