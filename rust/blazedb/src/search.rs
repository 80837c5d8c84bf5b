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
        Filter::and_into(&mut self.filter, f);
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

/// Runs `q` on one full-text index table: ranks with [`fts::rank`], fetches each hit's
/// record with `fetch` in rank order, drops hits whose record `fetch` does not return (not
/// visible, e.g. soft-deleted) or that fail the filter, then applies offset and limit.
/// Records are fetched only until the page is full.
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
    // Hits come best first from a heap: only the ones looked at are named and fetched.
    for hit in fts::rank(table, &q.text, q.mode)? {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use redb::{ReadableDatabase, TableDefinition};

    use super::*;
    use crate::value::Value;

    const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("fts");

    fn fields() -> Vec<String> {
        vec!["title".into(), "body".into()]
    }

    /// An in-memory database whose index table holds `recs`.
    fn indexed(recs: &BTreeMap<Uuid, Record>) -> redb::Database {
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(T).unwrap();
            fts::build(&mut t, &fields(), recs.iter().map(|(i, r)| (*i, r))).unwrap();
        }
        w.commit().unwrap();
        db
    }

    fn corpus() -> BTreeMap<Uuid, Record> {
        let words = ["rust", "database", "search", "engine", "index", "query"];
        (0..40u128)
            .map(|i| {
                // Varied lengths and word mixes, so scores differ and some tie.
                let title: Vec<&str> = (0..(i % 4 + 1))
                    .map(|k| words[((i * 7 + k * 3) % 6) as usize])
                    .collect();
                let body: Vec<&str> = (0..(i % 9))
                    .map(|k| words[((i + k * 5) % 6) as usize])
                    .collect();
                let id = Uuid::from_u128(i * 0x1_0000_0001 + 5);
                let r = Record::new()
                    .with("id", id)
                    .with("title", title.join(" "))
                    .with("body", body.join(", "))
                    .with("published", i % 3 != 0)
                    .with("n", i as i64);
                (id, r)
            })
            .collect()
    }

    /// `run`'s contract, composed from its parts: rank, drop invisible and filtered-out
    /// records, then offset and limit.
    fn expected(
        table: &redb::ReadOnlyTable<&[u8], &[u8]>,
        recs: &BTreeMap<Uuid, Record>,
        q: &SearchQuery,
    ) -> Vec<SearchHit> {
        fts::search(table, &q.text, q.mode)
            .unwrap()
            .into_iter()
            .filter_map(|h| {
                let r = recs.get(&h.id)?.clone();
                q.filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&r))
                    .then_some(SearchHit {
                        record: r,
                        score: h.score,
                        matched_terms: h.matched_terms,
                    })
            })
            .skip(q.offset)
            .take(q.limit.unwrap_or(usize::MAX))
            .collect()
    }

    #[test]
    fn builder_sets_every_option() {
        let q = SearchQuery::new("c", "a b*")
            .filter(Filter::eq("x", 1))
            .filter(Filter::eq("y", 2))
            .offset(3)
            .limit(4)
            .index("ft")
            .match_any();
        assert_eq!(q.collection(), "c");
        assert_eq!(q.text(), "a b*");
        assert_eq!(
            q.filter_ref(),
            Some(&Filter::eq("x", 1).and(Filter::eq("y", 2)))
        );
        assert_eq!((q.offset_value(), q.limit_value()), (3, Some(4)));
        assert_eq!(q.index_name(), Some("ft"));
        assert_eq!(q.mode(), MatchMode::Any);
        assert_eq!(q.match_all().mode(), MatchMode::All);
        assert_eq!(SearchQuery::new("c", "t").mode(), MatchMode::All);
    }

    #[test]
    fn run_applies_filter_then_offset_and_limit_in_rank_order() {
        let recs = corpus();
        let db = indexed(&recs);
        let r = db.begin_read().unwrap();
        let t = r.open_table(T).unwrap();
        let filters = [
            None,
            Some(Filter::eq("published", true)),
            Some(Filter::gte("n", 20).and(Filter::ne("published", false))),
            Some(Filter::eq("n", -1)),
        ];
        let mut nonempty = 0;
        for text in ["rust", "rust database", "ind* query", "sea* eng* rust"] {
            for any in [false, true] {
                for f in &filters {
                    for (offset, limit) in [
                        (0, None),
                        (0, Some(3)),
                        (2, Some(5)),
                        (7, None),
                        (100, Some(1)),
                    ] {
                        let mut q = SearchQuery::new("c", text).offset(offset);
                        if let Some(l) = limit {
                            q = q.limit(l);
                        }
                        if let Some(f) = f {
                            q = q.filter(f.clone());
                        }
                        if any {
                            q = q.match_any();
                        }
                        let got = run(&t, &q, |id| Ok(recs.get(&id).cloned())).unwrap();
                        let want = expected(&t, &recs, &q);
                        assert_eq!(got, want, "{q:?}");
                        if let Some(f) = &q.filter {
                            assert!(got.iter().all(|h| f.matches(&h.record)));
                        }
                        assert!(got.windows(2).all(|p| p[0].score >= p[1].score));
                        nonempty += usize::from(!got.is_empty());
                    }
                }
            }
        }
        assert!(
            nonempty > 50,
            "the corpus should give real pages ({nonempty})"
        );
    }

    #[test]
    fn run_fetches_only_what_the_page_needs_and_skips_invisible_records() {
        let recs = corpus();
        let db = indexed(&recs);
        let r = db.begin_read().unwrap();
        let t = r.open_table(T).unwrap();
        let all = run(&t, &SearchQuery::new("c", "rust"), |id| {
            Ok(recs.get(&id).cloned())
        })
        .unwrap();
        assert!(all.len() > 6);
        let mut fetched = 0;
        let page = run(
            &t,
            &SearchQuery::new("c", "rust").offset(2).limit(3),
            |id| {
                fetched += 1;
                Ok(recs.get(&id).cloned())
            },
        )
        .unwrap();
        assert_eq!(fetched, 5);
        assert_eq!(page, all[2..5].to_vec());

        // A record the index still lists but the fetch does not return (soft-deleted, say)
        // is skipped; the next hit takes its place.
        let hidden = all[0].record.id().unwrap();
        let page = run(&t, &SearchQuery::new("c", "rust").limit(2), |id| {
            Ok((id != hidden).then(|| recs.get(&id).cloned()).flatten())
        })
        .unwrap();
        assert_eq!(page, all[1..3].to_vec());

        // A fetch error is returned as is.
        let err = run(&t, &SearchQuery::new("c", "rust"), |_| Err(Error::Closed));
        assert!(matches!(err, Err(Error::Closed)));
    }

    #[test]
    fn bad_searches_fail_up_front() {
        let recs = corpus();
        let db = indexed(&recs);
        let r = db.begin_read().unwrap();
        let t = r.open_table(T).unwrap();
        let fetch = |id: Uuid| Ok(recs.get(&id).cloned());
        let bad = [
            SearchQuery::new("c", ""),
            SearchQuery::new("c", "  ,, ").limit(0),
            SearchQuery::new("c", "*"),
            SearchQuery::new("c", "rust")
                .filter(Filter::eq("", 1))
                .limit(0),
            SearchQuery::new("c", "rust").index(""),
        ];
        for q in bad {
            assert!(matches!(validate(&q), Err(Error::InvalidQuery(_))), "{q:?}");
            assert!(
                matches!(run(&t, &q, fetch), Err(Error::InvalidQuery(_))),
                "{q:?}"
            );
        }
        let none = run(&t, &SearchQuery::new("c", "rust").limit(0), fetch).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn hits_carry_the_record_and_its_matched_terms() {
        let mut recs = BTreeMap::new();
        let id = Uuid::from_u128(9);
        recs.insert(
            id,
            Record::new()
                .with("title", "Ünïcode Search")
                .with("body", Value::from("searching searches")),
        );
        let db = indexed(&recs);
        let r = db.begin_read().unwrap();
        let t = r.open_table(T).unwrap();
        let hits = run(&t, &SearchQuery::new("c", "UNICODE sear*"), |i| {
            Ok(recs.get(&i).cloned())
        })
        .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].record, recs[&id]);
        assert_eq!(
            hits[0].matched_terms,
            ["search", "searches", "searching", "unicode"]
        );
        assert!(hits[0].score > 0.0);
        assert_eq!(tokenize("Ünïcode"), ["unicode"]);
    }
}
