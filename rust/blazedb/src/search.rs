//! Full-text search: the query type and its hits.
//!
//! A collection gets a full-text index on some string fields; a [`SearchQuery`] asks it for
//! the records holding some words, ranked by BM25. `docs/QUERY.md` ("Full-text search")
//! states the syntax, the tokenizer rules and the ranking formula.
//!
//! ```
//! use blazedb::{Filter, SearchQuery};
//! let q = SearchQuery::new("articles", "rust embed*")
//!     .filter(Filter::eq("published", true))
//!     .offset(10)
//!     .limit(10);
//! assert_eq!(q.text(), "rust embed*");
//! ```

use redb::ReadableTable;
use uuid::Uuid;

use crate::engine::fts;
use crate::error::{Error, Result};
use crate::query::Filter;
use crate::record::Record;

/// How the words of a search combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MatchMode {
    /// A record must hold every word (a prefix word: any word starting with it). The
    /// default, as upstream's `search`.
    #[default]
    All,
    /// A record must hold at least one of the words; holding more scores higher.
    Any,
}

/// A full-text search on one collection. Build with [`SearchQuery::new`] and the chained
/// setters.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    pub(crate) collection: String,
    pub(crate) text: String,
    pub(crate) filter: Option<Filter>,
    pub(crate) offset: usize,
    pub(crate) limit: Option<usize>,
    pub(crate) index: Option<String>,
    pub(crate) mode: MatchMode,
}

impl SearchQuery {
    /// Searches `collection` for the words of `text`: whitespace-separated, a trailing `*`
    /// making a word a prefix (`embed*`).
    pub fn new(collection: impl Into<String>, text: impl Into<String>) -> Self {
        SearchQuery {
            collection: collection.into(),
            text: text.into(),
            filter: None,
            offset: 0,
            limit: None,
            index: None,
            mode: MatchMode::All,
        }
    }

    /// Keeps only hits whose record matches; several calls are ANDed, as with `Query`.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(existing) => existing.and(f),
            None => f,
        });
        self
    }

    /// Skips this many hits (after the filter).
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = n;
        self
    }

    /// Returns at most this many hits.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Names the full-text index to search, for a collection that has several.
    pub fn index(mut self, name: impl Into<String>) -> Self {
        self.index = Some(name.into());
        self
    }

    /// Matches records holding any of the words (OR) instead of all of them.
    pub fn match_any(mut self) -> Self {
        self.mode = MatchMode::Any;
        self
    }

    /// Matches records holding all of the words (AND): the default.
    pub fn match_all(mut self) -> Self {
        self.mode = MatchMode::All;
        self
    }

    /// The collection searched.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The search text, as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The combined filter, if any.
    pub fn filter_ref(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// The index named with [`SearchQuery::index`], if any.
    pub fn index_name(&self) -> Option<&str> {
        self.index.as_deref()
    }

    /// How the words combine.
    pub fn mode(&self) -> MatchMode {
        self.mode
    }

    /// Hits skipped.
    pub fn offset_value(&self) -> usize {
        self.offset
    }

    /// The hit limit, if any.
    pub fn limit_value(&self) -> Option<usize> {
        self.limit
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    /// The matching record.
    pub record: Record,
    /// Its BM25 relevance; higher is better. Comparable only within one search.
    pub score: f64,
    /// The distinct indexed words it matched (folded, as stored; a prefix word contributes
    /// each expansion found), in byte order.
    pub matched_terms: Vec<String>,
}

/// The tokens full-text search sees in `text`, in order: folded (NFKD, diacritics
/// dropped, lowercase), split at Unicode word boundaries, long words cut to 64 bytes.
pub fn tokenize(text: &str) -> Vec<String> {
    fts::tokenize(text)
}

/// Checks a search before it runs, so a malformed one fails with `InvalidQuery` up front
/// (also when its limit is 0 or the index is empty).
// Called by `run` and, once wired, by `Database::search` before it picks the index.
#[allow(dead_code)]
pub(crate) fn validate(q: &SearchQuery) -> Result<()> {
    fts::parse_query(&q.text)?;
    if let Some(f) = &q.filter
        && f.fields().iter().any(|field| field.is_empty())
    {
        return Err(Error::InvalidQuery("a filter names an empty field".into()));
    }
    if q.index.as_deref() == Some("") {
        return Err(Error::InvalidQuery("the index name is empty".into()));
    }
    Ok(())
}

/// Runs `q` on one full-text index table: ranks with [`fts::search`], fetches each hit's
/// record with `fetch` in rank order, drops hits whose record `fetch` does not return (not
/// visible, e.g. soft-deleted) or that fail the filter, then applies offset and limit.
/// Records are fetched only until the page is full.
// Unused until the integrator wires `Database::search` / `ReadTx::search` to it.
#[allow(dead_code)]
pub(crate) fn run<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    q: &SearchQuery,
    mut fetch: impl FnMut(Uuid) -> Result<Option<Record>>,
) -> Result<Vec<SearchHit>> {
    validate(q)?;
    let limit = q.limit.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut skipped = 0usize;
    for hit in fts::search(table, &q.text, q.mode)? {
        let Some(record) = fetch(hit.id)? else {
            continue;
        };
        if q.filter.as_ref().is_some_and(|f| !f.matches(&record)) {
            continue;
        }
        if skipped < q.offset {
            skipped += 1;
            continue;
        }
        out.push(SearchHit {
            record,
            score: hit.score,
            matched_terms: hit.matched_terms,
        });
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}
