//! Full-text search across the boundary: one call returns the whole page of ranked hits.
//! Ranking, the filter, offset and limit are the core's (`docs/QUERY.md`, "Full-text
//! search"); the only thing added here is `field_matches`, which says in which of the named
//! fields each matched word occurs, by running the core's own tokenizer over them.

use std::collections::HashMap;

use blazedb::{SearchQuery, Value};

use crate::error::BlazeError;
use crate::query::{QueryFilter, count_arg, to_filter};
use crate::value::{BlazeRecord, from_record};

/// A full-text search on one collection's full-text index.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SearchSpec {
    pub collection: String,
    /// Whitespace-separated words; a trailing `*` makes a word a prefix (`embed*`).
    pub text: String,
    /// The full-text index to search; needed only when the collection has several.
    #[uniffi(default = None)]
    pub index: Option<String>,
    /// Filters on the hits' records, ANDed (as a query's).
    #[uniffi(default = [])]
    pub filters: Vec<QueryFilter>,
    /// Any word (OR) instead of every word (AND, the default).
    #[uniffi(default = false)]
    pub match_any: bool,
    /// String fields whose matched words each hit reports in `field_matches`; none when
    /// empty. Does not change which records match.
    #[uniffi(default = [])]
    pub fields: Vec<String>,
    #[uniffi(default = None)]
    pub offset: Option<u64>,
    #[uniffi(default = None)]
    pub limit: Option<u64>,
}

/// One hit, best first.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SearchHit {
    pub record: BlazeRecord,
    /// BM25 relevance; higher is better; comparable only within one search.
    pub score: f64,
    /// The distinct indexed words it matched, folded as stored, in byte order.
    pub matched_terms: Vec<String>,
    /// For each of the spec's `fields` holding at least one matched word: those words, in
    /// byte order.
    pub field_matches: HashMap<String, Vec<String>>,
}

pub(crate) fn to_search(spec: &SearchSpec) -> Result<SearchQuery, BlazeError> {
    let mut q = SearchQuery::new(spec.collection.clone(), spec.text.clone());
    for f in spec.filters.iter().cloned() {
        q = q.filter(to_filter(f)?);
    }
    if let Some(i) = &spec.index {
        q = q.index(i.clone());
    }
    if spec.match_any {
        q = q.match_any();
    }
    if let Some(n) = spec.offset {
        q = q.offset(count_arg("offset", n)?);
    }
    if let Some(n) = spec.limit {
        q = q.limit(count_arg("limit", n)?);
    }
    Ok(q)
}

pub(crate) fn from_hits(hits: Vec<blazedb::SearchHit>, fields: &[String]) -> Vec<SearchHit> {
    hits.into_iter()
        .map(|h| {
            let mut field_matches = HashMap::new();
            for f in fields {
                let Some(text) = h.record.get_path(f).and_then(Value::as_str) else {
                    continue;
                };
                let words = blazedb::search::tokenize(text);
                let mut found: Vec<String> = h
                    .matched_terms
                    .iter()
                    .filter(|t| words.contains(t))
                    .cloned()
                    .collect();
                if !found.is_empty() {
                    found.sort();
                    field_matches.insert(f.clone(), found);
                }
            }
            SearchHit {
                record: from_record(h.record),
                score: h.score,
                matched_terms: h.matched_terms,
                field_matches,
            }
        })
        .collect()
}
