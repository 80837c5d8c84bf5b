//! Secondary indexes: what to index, and what an index looks like from outside.
//!
//! An index is created over the records already stored, persisted in the database file,
//! and kept in step with every write in the same transaction (a rollback leaves no entry
//! behind). The query planner picks indexes by itself; `Database::explain` shows its choice.
//!
//! ```
//! use blazedb::{Database, Filter, IndexSpec, Options, Query, Record};
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path().join("app.blazedb"), Options::default())?;
//! db.insert("bugs", Record::new().with("status", "open").with("priority", 2))?;
//! db.create_index("bugs", IndexSpec::on("status"))?;
//! db.create_index("bugs", IndexSpec::compound(["status", "priority"]))?;
//! let plan = db.explain(&Query::new("bugs").filter(Filter::eq("status", "open")))?;
//! assert!(plan.index.is_some());
//! # Ok::<(), blazedb::Error>(())
//! ```

/// The kind of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// An ordered index on one or more fields: equality, `in`, ranges, prefixes and sorts.
    BTree,
    /// An ordered index whose key (all its fields together) at most one live record may
    /// hold. Records with a null, missing or NaN indexed value are exempt, as in SQL.
    Unique,
    /// A full-text index over string fields (see `blazedb::search`).
    FullText,
}

/// What to index. Build with [`IndexSpec::on`], [`IndexSpec::compound`] or
/// [`IndexSpec::full_text`], then optionally [`IndexSpec::unique`] and [`IndexSpec::named`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSpec {
    pub(crate) fields: Vec<String>,
    pub(crate) full_text: bool,
    pub(crate) unique: bool,
    pub(crate) name: Option<String>,
}

impl IndexSpec {
    /// An index on one field (a dotted path).
    pub fn on(field: impl Into<String>) -> Self {
        IndexSpec {
            fields: vec![field.into()],
            full_text: false,
            unique: false,
            name: None,
        }
    }

    /// An index on several fields, compared in the order given: it serves equality on a
    /// leading run of them, then a range or a sort on the next.
    pub fn compound<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        IndexSpec {
            fields: fields.into_iter().map(Into::into).collect(),
            full_text: false,
            unique: false,
            name: None,
        }
    }

    /// A full-text index over the words of these string fields.
    pub fn full_text<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        IndexSpec {
            fields: fields.into_iter().map(Into::into).collect(),
            full_text: true,
            unique: false,
            name: None,
        }
    }

    /// Makes the index unique (not meaningful for full-text indexes, which refuse it).
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Names the index. The default is upstream's: the fields joined with `+`
    /// (`status+priority`), with a `fts:` prefix for full-text indexes.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The fields indexed.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The kind of index.
    pub fn kind(&self) -> IndexKind {
        if self.full_text {
            IndexKind::FullText
        } else if self.unique {
            IndexKind::Unique
        } else {
            IndexKind::BTree
        }
    }

    /// The name the index will have.
    pub fn name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None if self.full_text => format!("fts:{}", self.fields.join("+")),
            None => self.fields.join("+"),
        }
    }
}

/// An existing index, as [`crate::Database::indexes`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexInfo {
    /// The index's name, unique within its collection.
    pub name: String,
    /// The collection it covers.
    pub collection: String,
    /// The fields, in key order.
    pub fields: Vec<String>,
    /// Its kind.
    pub kind: IndexKind,
    /// Entries stored (for B-tree indexes one per live record, plus one alias per record
    /// whose leading value is a string holding a UUID).
    pub entries: u64,
}
