//! The full-text engine: tokenizer, inverted-index maintenance, BM25 search and checks.
//!
//! Everything here is a pure function over one redb table of type `&[u8] -> &[u8]` (one
//! full-text index of the index catalog). The caller owns the table and the transaction:
//! [`maintain`] runs inside the write transaction of the record write it mirrors, so a
//! rollback undoes the index change with the record change.
//!
//! # Tokenizer (version [`TOKENIZER_VERSION`])
//!
//! Indexed text and query text go through the same steps, in this order:
//!
//! 1. **Folding** ([`fold`]): Unicode NFKD (compatibility decomposition: full-width
//!    `ＡＢＣ１` becomes `ABC1`, the ligature `ﬁ` becomes `fi`), then the *generic combining
//!    diacritics* are dropped (the blocks U+0300–036F, U+1AB0–1AFF, U+1DC0–1DFF,
//!    U+20D0–20FF, U+FE20–FE2F: `é` → `e`, `ё` → `е`, `İ` → `i`), then every character is
//!    lowercased (`char::to_lowercase`), Greek final `ς` becomes `σ`, the typographic
//!    apostrophe U+2019 becomes `'`, and the result is recomposed to NFC (so Hangul and
//!    kana with voicing marks, whose marks are not in those blocks, come back whole).
//!    Marks of other scripts (Indic vowel signs, kana voicing, Hebrew and Arabic points)
//!    are kept: they change the word. Pure-ASCII text takes a fast path (ASCII lowercase),
//!    which gives the same result.
//! 2. **Segmentation**: Unicode word boundaries (UAX #29, `unicode-segmentation`'s
//!    `unicode_words`): only segments holding at least one letter or digit are words, so
//!    punctuation, spaces and emoji are dropped. Numbers are words, with their inner
//!    separators (`3.14`, `1,000`, `v2`); so are `don't`, `l'amour` and `snake_case`. Han
//!    ideographs and hiragana are one word per character (there is no dictionary), so a
//!    Chinese or Japanese query finds the documents holding all its characters. Thai, Lao,
//!    Khmer and Burmese have no spaces and no dictionary here: a run of them is one word.
//! 3. **Length cap**: a word longer than [`MAX_TERM_BYTES`] bytes of UTF-8 is cut at the
//!    last character boundary at or before it (not dropped), in documents and queries
//!    alike, so a long word still finds itself and prefix queries still reach it.
//!
//! There is no stemming and no stop-word list; `ß` stays `ß`. Any change to these rules,
//! including a Unicode-version upgrade of either crate, must bump [`TOKENIZER_VERSION`]:
//! [`maintain`] removes a record's old postings by re-tokenizing the old record, so an
//! index built by other rules must be rebuilt ([`needs_rebuild`]).
//!
//! # Which text is indexed
//!
//! For each indexed field path (dotted, read with [`Record::get_path`]): a string value,
//! or each string element of an array value (tags). Every other kind, including strings
//! nested deeper inside arrays or dictionaries, is ignored. All fields of a record form one
//! bag of words (no per-field weighting); a record with no words has no entries at all.
//!
//! # Storage layout (inside the index's table, keys and values are byte strings)
//!
//! | Key | Value | Meaning |
//! |---|---|---|
//! | `0x01` · term · `0x00` · id (16 bytes, big-endian) | tf: `u32` LE, ≥ 1 | posting: the record holds the term tf times |
//! | `0x02` · id (16 bytes, big-endian) | length: `u32` LE, ≥ 1 | the record's token count (sum of its tfs) |
//! | `0x03` | version `u32` LE · documents `u64` LE · tokens `u64` LE (20 bytes) | collection statistics |
//! | `0x04` · term | df: `u64` LE, ≥ 1 | the number of records holding the term |
//!
//! *term* is the UTF-8 of a token: never empty, at most [`MAX_TERM_BYTES`] bytes, never
//! containing `0x00` (NUL is a word boundary, so no token holds it). So a term's postings
//! are the contiguous key range `[0x01 term 0x00, 0x01 term 0x01)`, in id order, and the
//! `0x04` keys, one per distinct term in byte order, are the term dictionary that prefix
//! queries range over. The id is the record's UUID bytes, as the records table orders it.
//!
//! Invariants ([`verify`] checks each): every posting's record has a length entry equal to
//! the sum of its postings' tfs, and every length entry has a posting; each df equals its
//! term's posting count; the statistics equal the number of length entries and the sum of
//! their lengths. An empty index is an empty table (no statistics entry).
//!
//! # Ranking: BM25
//!
//! With `N` documents (records with at least one token), `avgdl = tokens / N`, for a
//! document `D` of length `|D|` and the set `M` of distinct index terms of the query that
//! `D` holds (each exact term, and each expansion of each prefix; a term reached twice
//! counts once):
//!
//! ```text
//! score(D) = Σ_{t ∈ M} idf(t) · tf(t,D) · (k1 + 1) / (tf(t,D) + k1 · (1 − b + b · |D| / avgdl))
//! idf(t)   = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))        k1 = 1.2, b = 0.75
//! ```
//!
//! That IDF (Lucene's) is positive for every `df ≤ N`, so a match never lowers a score.
//! Hits are ranked by score, highest first, then by id ascending. The sum runs over `M` in
//! term byte order, so equal documents get bit-identical scores.

// Nothing outside the tests calls the engine until the integrator wires
// `Database::search` and the index catalog's write path to it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use redb::{ReadableTable, Table};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::Record;
use crate::search::MatchMode;
use crate::value::Value;

/// The tokenizer rules' version, stored in the statistics entry. Bump it with any change
/// to the rules (or to the Unicode data of the two crates behind them).
pub(crate) const TOKENIZER_VERSION: u32 = 1;
/// Words longer than this many bytes of UTF-8 are cut to it (at a character boundary).
pub(crate) const MAX_TERM_BYTES: usize = 64;
/// The most words a query may have (a `u64` bit mask tracks which ones a record matched).
pub(crate) const MAX_QUERY_TERMS: usize = 64;
/// The most distinct index terms one prefix may expand to before the query is refused.
pub(crate) const MAX_PREFIX_EXPANSIONS: usize = 4096;
/// BM25 term-frequency saturation.
pub(crate) const K1: f64 = 1.2;
/// BM25 length normalization.
pub(crate) const B: f64 = 0.75;

const POSTING: u8 = 0x01;
const DOC: u8 = 0x02;
const STATS: u8 = 0x03;
const TERM: u8 = 0x04;
const STATS_KEY: [u8; 1] = [STATS];

/// Under AND, a later query word is matched by point look-ups of the surviving candidates
/// instead of a scan of its postings when candidates × this < its df (a look-up is a
/// B-tree descent, a scanned posting is a step along a leaf).
const LOOKUP_FACTOR: u64 = 8;

/// Problems [`verify`] lists before it summarises the rest as a count.
const MAX_PROBLEMS: usize = 100;

/// The table type of one full-text index.
pub(crate) type IndexTable<'txn> = Table<'txn, &'static [u8], &'static [u8]>;

// ---------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------

/// The generic combining diacritics that folding drops (see the module docs).
fn is_folded_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Step 1 of the tokenizer: NFKD, drop generic diacritics, lowercase, NFC.
pub(crate) fn fold(text: &str) -> String {
    if text.is_ascii() {
        // NFKD and NFC are the identity on ASCII, and it has no marks to drop.
        return text.to_ascii_lowercase();
    }
    text.nfkd()
        .filter(|c| !is_folded_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ς' => 'σ',
            '\u{2019}' => '\'',
            c => c,
        })
        .nfc()
        .collect()
}

/// The longest prefix of `w` of at most [`MAX_TERM_BYTES`] bytes that ends on a character
/// boundary.
fn cap(w: &str) -> &str {
    if w.len() <= MAX_TERM_BYTES {
        return w;
    }
    let mut end = MAX_TERM_BYTES;
    while !w.is_char_boundary(end) {
        end -= 1;
    }
    &w[..end]
}

/// Calls `f` with each token of `text`, in order.
pub(crate) fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let folded = fold(text);
    for w in folded.unicode_words() {
        // NUL is a word boundary (a control character), so no word holds it; the key
        // layout depends on that, so it is checked rather than assumed.
        if w.contains('\0') {
            continue;
        }
        f(cap(w));
    }
}

/// The tokens of `text`, in order, duplicates kept.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |t| out.push(t.to_owned()));
    out
}

/// One record's indexed words: term to frequency, and the token count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DocTerms {
    pub(crate) terms: BTreeMap<String, u32>,
    pub(crate) len: u32,
}

/// The words of `record`'s indexed fields (see the module docs for what counts).
pub(crate) fn doc_terms(record: &Record, fields: &[String]) -> Result<DocTerms> {
    let mut terms: BTreeMap<String, u32> = BTreeMap::new();
    let mut len: u64 = 0;
    let mut add = |text: &str| {
        for_each_token(text, |t| {
            len += 1;
            match terms.get_mut(t) {
                Some(n) => *n = n.saturating_add(1),
                None => {
                    terms.insert(t.to_owned(), 1);
                }
            }
        })
    };
    for field in fields {
        match record.get_path(field) {
            Some(Value::String(s)) => add(s),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::String(s) = item {
                        add(s);
                    }
                }
            }
            _ => {}
        }
    }
    // A tf is at most the length, so a length that fits makes every tf fit too.
    let len = u32::try_from(len).map_err(|_| {
        Error::invalid_input(format!(
            "a record has {len} words in its full-text fields; the index holds at most {}",
            u32::MAX
        ))
    })?;
    Ok(DocTerms { terms, len })
}

// ---------------------------------------------------------------------------------------
// Keys and values
// ---------------------------------------------------------------------------------------

fn posting_key(term: &str, id: u128) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 18);
    k.push(POSTING);
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The key range holding exactly `term`'s postings.
fn posting_range(term: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = Vec::with_capacity(term.len() + 2);
    lo.push(POSTING);
    lo.extend_from_slice(term.as_bytes());
    let mut hi = lo.clone();
    lo.push(0x00);
    hi.push(0x01);
    (lo, hi)
}

fn doc_key(id: u128) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = DOC;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn term_key(term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 1);
    k.push(TERM);
    k.extend_from_slice(term.as_bytes());
    k
}

/// The key range of the dictionary entries of every term starting with `prefix`.
fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let lo = term_key(prefix);
    let mut hi = lo.clone();
    // `prefix` is non-empty UTF-8, whose bytes are at most 0xF4, so the last byte can be
    // incremented without carrying; every key with the prefix sorts below the result.
    if let Some(last) = hi.last_mut() {
        *last += 1;
    }
    (lo, hi)
}

fn u32_of(b: &[u8], what: &str) -> Result<u32> {
    <[u8; 4]>::try_from(b)
        .map(u32::from_le_bytes)
        .map_err(|_| Error::corrupted(format!("full-text {what} has {} bytes, not 4", b.len())))
}

fn u64_of(b: &[u8], what: &str) -> Result<u64> {
    <[u8; 8]>::try_from(b)
        .map(u64::from_le_bytes)
        .map_err(|_| Error::corrupted(format!("full-text {what} has {} bytes, not 8", b.len())))
}

fn id_of(b: &[u8]) -> Option<u128> {
    <[u8; 16]>::try_from(b).ok().map(u128::from_be_bytes)
}

/// Collection statistics: documents (records with words) and their total token count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) docs: u64,
    pub(crate) tokens: u64,
}

fn encode_stats(s: Stats) -> [u8; 20] {
    let mut v = [0u8; 20];
    v[0..4].copy_from_slice(&TOKENIZER_VERSION.to_le_bytes());
    v[4..12].copy_from_slice(&s.docs.to_le_bytes());
    v[12..20].copy_from_slice(&s.tokens.to_le_bytes());
    v
}

/// Decodes a statistics value: `(tokenizer version, stats)`.
fn decode_stats(v: &[u8]) -> Result<(u32, Stats)> {
    if v.len() != 20 {
        return Err(Error::corrupted(format!(
            "full-text statistics have {} bytes, not 20",
            v.len()
        )));
    }
    let version = u32_of(&v[0..4], "statistics")?;
    let docs = u64_of(&v[4..12], "statistics")?;
    let tokens = u64_of(&v[12..20], "statistics")?;
    Ok((version, Stats { docs, tokens }))
}

fn version_error(found: u32) -> Error {
    Error::corrupted(format!(
        "full-text index was built by tokenizer version {found}; this build uses version \
         {TOKENIZER_VERSION}: rebuild the index"
    ))
}

/// The statistics of an index; zero for an empty one. An index written by another
/// tokenizer version is refused (its postings cannot be maintained or queried correctly).
pub(crate) fn stats<T: ReadableTable<&'static [u8], &'static [u8]>>(table: &T) -> Result<Stats> {
    match table.get(STATS_KEY.as_slice())? {
        None => Ok(Stats::default()),
        Some(v) => {
            let (version, s) = decode_stats(v.value())?;
            if version != TOKENIZER_VERSION {
                return Err(version_error(version));
            }
            Ok(s)
        }
    }
}

/// Whether the index was built by another tokenizer version and must be rebuilt before
/// [`maintain`] or [`search`] will use it.
pub(crate) fn needs_rebuild<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
) -> Result<bool> {
    match table.get(STATS_KEY.as_slice())? {
        None => Ok(false),
        Some(v) => Ok(decode_stats(v.value())?.0 != TOKENIZER_VERSION),
    }
}

fn out_of_step(id: Uuid, detail: impl std::fmt::Display) -> Error {
    Error::corrupted(format!(
        "full-text index out of step with record {id}: {detail}; rebuild the index"
    ))
}

// ---------------------------------------------------------------------------------------
// Maintenance
// ---------------------------------------------------------------------------------------

/// Mirrors one record write in the index: removes `old`'s words and adds `new`'s (insert:
/// `old` is `None`; delete: `new` is `None`; update: both). `old` must be the record as it
/// was indexed, i.e. the stored record before the write.
///
/// When the indexed words are unchanged (only other fields changed) nothing is read or
/// written but one statistics read. Errors: `CorruptedData` when the index disagrees with
/// `old` (a posting or length that should exist does not), in which case some of the
/// change may already be written and the caller must roll the transaction back;
/// `InvalidInput` for a record with more than `u32::MAX` words.
pub(crate) fn maintain(
    table: &mut IndexTable<'_>,
    fields: &[String],
    id: Uuid,
    old: Option<&Record>,
    new: Option<&Record>,
) -> Result<()> {
    let mut b = Builder::new(table, fields)?;
    b.apply(id, old, new)?;
    b.finish()
}

/// Batches many [`maintain`] steps: postings and lengths are written as each record is
/// applied, document frequencies and statistics are accumulated in memory and written
/// once by [`Builder::finish`]. Building an index over existing records is
/// `apply(id, None, Some(record))` per record, then `finish`.
///
/// `finish` must be called: a builder dropped without it (after an error, say) leaves the
/// frequencies and statistics behind the postings, so the transaction must then be rolled
/// back.
pub(crate) struct Builder<'a, 'txn> {
    table: &'a mut IndexTable<'txn>,
    fields: &'a [String],
    df: HashMap<String, i64>,
    docs: i64,
    tokens: i64,
}

impl<'a, 'txn> Builder<'a, 'txn> {
    /// A builder over `table` for an index on `fields`. Fails if the index was built by
    /// another tokenizer version.
    pub(crate) fn new(table: &'a mut IndexTable<'txn>, fields: &'a [String]) -> Result<Self> {
        stats(&*table)?;
        Ok(Builder {
            table,
            fields,
            df: HashMap::new(),
            docs: 0,
            tokens: 0,
        })
    }

    /// Indexes a new record (no entry for `id` may exist yet).
    pub(crate) fn insert(&mut self, id: Uuid, record: &Record) -> Result<()> {
        self.apply(id, None, Some(record))
    }

    /// Mirrors one write, as [`maintain`] does.
    pub(crate) fn apply(
        &mut self,
        id: Uuid,
        old: Option<&Record>,
        new: Option<&Record>,
    ) -> Result<()> {
        let old_d = old
            .map(|r| doc_terms(r, self.fields))
            .transpose()?
            .unwrap_or_default();
        let new_d = new
            .map(|r| doc_terms(r, self.fields))
            .transpose()?
            .unwrap_or_default();
        if old_d == new_d {
            return Ok(());
        }
        let key = id.as_u128();
        let dkey = doc_key(key);

        // Check before writing anything that the index holds what `old` says it does, so
        // a caller's mistake (a second insert of one id, a wrong `old`) changes nothing.
        let stored = self
            .table
            .get(dkey.as_slice())?
            .map(|v| u32_of(v.value(), "document length"))
            .transpose()?;
        let expected = (old_d.len > 0).then_some(old_d.len);
        if stored != expected {
            return Err(out_of_step(
                id,
                format_args!(
                    "the index holds {} words for it, the old record has {}",
                    stored.unwrap_or(0),
                    old_d.len
                ),
            ));
        }

        for term in old_d.terms.keys() {
            if !new_d.terms.contains_key(term) {
                if self
                    .table
                    .remove(posting_key(term, key).as_slice())?
                    .is_none()
                {
                    return Err(out_of_step(id, format_args!("no posting for {term:?}")));
                }
                *self.df.entry(term.clone()).or_insert(0) -= 1;
            }
        }
        for (term, &tf) in &new_d.terms {
            let old_tf = old_d.terms.get(term).copied();
            if old_tf == Some(tf) {
                continue;
            }
            let prev = self
                .table
                .insert(
                    posting_key(term, key).as_slice(),
                    tf.to_le_bytes().as_slice(),
                )?
                .is_some();
            if prev != old_tf.is_some() {
                return Err(out_of_step(
                    id,
                    format_args!("posting for {term:?} present: {prev}"),
                ));
            }
            if old_tf.is_none() {
                *self.df.entry(term.clone()).or_insert(0) += 1;
            }
        }
        if new_d.len > 0 {
            self.table
                .insert(dkey.as_slice(), new_d.len.to_le_bytes().as_slice())?;
        } else {
            self.table.remove(dkey.as_slice())?;
        }
        self.docs += i64::from(new_d.len > 0) - i64::from(old_d.len > 0);
        self.tokens += i64::from(new_d.len) - i64::from(old_d.len);
        Ok(())
    }

    /// Writes the accumulated document frequencies and statistics.
    pub(crate) fn finish(self) -> Result<()> {
        let mut deltas: Vec<(String, i64)> = self.df.into_iter().filter(|(_, d)| *d != 0).collect();
        // Key order: neighbouring writes land on neighbouring B-tree pages.
        deltas.sort_unstable();
        for (term, delta) in deltas {
            let k = term_key(&term);
            let cur = self
                .table
                .get(k.as_slice())?
                .map(|v| u64_of(v.value(), "document frequency"))
                .transpose()?
                .unwrap_or(0);
            let next = i128::from(cur) + i128::from(delta);
            if next < 0 {
                return Err(Error::corrupted(format!(
                    "full-text document frequency of {term:?} would drop below zero; \
                     rebuild the index"
                )));
            }
            if next == 0 {
                self.table.remove(k.as_slice())?;
            } else {
                let n = u64::try_from(next).unwrap_or(u64::MAX);
                self.table
                    .insert(k.as_slice(), n.to_le_bytes().as_slice())?;
            }
        }
        if self.docs == 0 && self.tokens == 0 {
            return Ok(());
        }
        let s = stats(&*self.table)?;
        let docs = i128::from(s.docs) + i128::from(self.docs);
        let tokens = i128::from(s.tokens) + i128::from(self.tokens);
        let (Ok(docs), Ok(tokens)) = (u64::try_from(docs), u64::try_from(tokens)) else {
            return Err(Error::corrupted(
                "full-text statistics would drop below zero; rebuild the index",
            ));
        };
        if docs == 0 {
            if tokens != 0 {
                return Err(Error::corrupted(
                    "full-text statistics: tokens left with no documents; rebuild the index",
                ));
            }
            self.table.remove(STATS_KEY.as_slice())?;
        } else {
            self.table.insert(
                STATS_KEY.as_slice(),
                encode_stats(Stats { docs, tokens }).as_slice(),
            )?;
        }
        Ok(())
    }
}

/// Builds an index over `records` into an empty table (a rebuild drops and recreates the
/// table first). Refuses a table that is not empty, since inserting into a populated index
/// would double-count.
pub(crate) fn build<'r>(
    table: &mut IndexTable<'_>,
    fields: &[String],
    records: impl IntoIterator<Item = (Uuid, &'r Record)>,
) -> Result<()> {
    if table.first()?.is_some() {
        return Err(Error::invalid_input(
            "a full-text index can only be built into an empty table",
        ));
    }
    let mut b = Builder::new(table, fields)?;
    for (id, r) in records {
        b.insert(id, r)?;
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------

/// One word of a parsed query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueryTerm {
    /// The folded token.
    pub(crate) text: String,
    /// Whether it matches every term starting with `text` (it ended in `*`).
    pub(crate) prefix: bool,
}

/// Parses query text: whitespace-separated pieces, each tokenized like document text. A
/// piece ending in `*` is a prefix: its last token matches every term starting with it;
/// any tokens before that one (`e-mail*` is `e` and `mail*`) are exact. Repeated words
/// count once. Refused with `InvalidQuery`: no words at all, a `*` with no letter or digit
/// before it, more than [`MAX_QUERY_TERMS`] words.
pub(crate) fn parse_query(query: &str) -> Result<Vec<QueryTerm>> {
    let mut out: Vec<QueryTerm> = Vec::new();
    for piece in query.split_whitespace() {
        let body = piece.trim_end_matches('*');
        let prefix = body.len() != piece.len();
        let mut tokens = tokenize(body);
        if prefix && tokens.is_empty() {
            return Err(Error::InvalidQuery(format!(
                "{piece:?}: a prefix search needs at least one letter or digit before '*'"
            )));
        }
        let last = tokens.pop();
        let terms = tokens
            .into_iter()
            .map(|text| QueryTerm {
                text,
                prefix: false,
            })
            .chain(last.map(|text| QueryTerm { text, prefix }));
        for t in terms {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidQuery(format!(
            "search text {query:?} has no words to search for"
        )));
    }
    if out.len() > MAX_QUERY_TERMS {
        return Err(Error::InvalidQuery(format!(
            "search text has {} words; at most {MAX_QUERY_TERMS} are allowed",
            out.len()
        )));
    }
    Ok(out)
}

/// One ranked match.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FtsHit {
    /// The record.
    pub(crate) id: Uuid,
    /// Its BM25 score (see the module docs).
    pub(crate) score: f64,
    /// The distinct index terms it matched, in byte order.
    pub(crate) matched_terms: Vec<String>,
}

/// BM25's IDF, in the variant that stays positive (`df ≤ n`).
pub(crate) fn idf(n: f64, df: f64) -> f64 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// One term's BM25 contribution for a document of length `dl`.
pub(crate) fn bm25_term(idf: f64, tf: f64, dl: f64, avgdl: f64) -> f64 {
    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / avgdl))
}

/// Calls `f(id, tf)` for each posting of `term`, in id order.
fn scan_postings<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    term: &str,
    mut f: impl FnMut(u128, u32),
) -> Result<()> {
    let (lo, hi) = posting_range(term);
    let want = lo.len() + 16;
    for item in table.range::<&[u8]>(lo.as_slice()..hi.as_slice())? {
        let (k, v) = item?;
        let k = k.value();
        let id = (k.len() == want)
            .then(|| id_of(&k[lo.len()..]))
            .flatten()
            .ok_or_else(|| {
                Error::corrupted(format!(
                    "full-text posting key of {} bytes for term {term:?}",
                    k.len()
                ))
            })?;
        f(id, u32_of(v.value(), "term frequency")?);
    }
    Ok(())
}

/// A candidate document: which query words it matched, and its (term, tf) pairs.
#[derive(Default)]
struct Candidate {
    mask: u64,
    hits: Vec<(usize, u32)>,
}

/// Runs a query against the index and returns every match, ranked (see the module docs).
///
/// `MatchMode::All`: a record must match every query word (a prefix word matches if any
/// expansion does); `MatchMode::Any`: at least one. Query errors are `InvalidQuery`
/// ([`parse_query`], and a prefix with more than [`MAX_PREFIX_EXPANSIONS`] expansions).
pub(crate) fn search<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    query: &str,
    mode: MatchMode,
) -> Result<Vec<FtsHit>> {
    let words = parse_query(query)?;
    let st = stats(table)?;
    if st.docs == 0 {
        return Ok(Vec::new());
    }

    // Expand each word to the index terms it matches: (term, df, mask of words).
    let mut terms: Vec<(String, u64, u64)> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut word_terms: Vec<Vec<usize>> = vec![Vec::new(); words.len()];
    for (w, qt) in words.iter().enumerate() {
        let mut found: Vec<(String, u64)> = Vec::new();
        if qt.prefix {
            let (lo, hi) = prefix_range(&qt.text);
            for item in table.range::<&[u8]>(lo.as_slice()..hi.as_slice())? {
                let (k, v) = item?;
                if found.len() == MAX_PREFIX_EXPANSIONS {
                    return Err(Error::InvalidQuery(format!(
                        "{}* matches more than {MAX_PREFIX_EXPANSIONS} words; use a longer prefix",
                        qt.text
                    )));
                }
                let term = std::str::from_utf8(&k.value()[1..])
                    .map_err(|_| Error::corrupted("full-text term is not UTF-8"))?;
                found.push((term.to_owned(), u64_of(v.value(), "document frequency")?));
            }
        } else if let Some(v) = table.get(term_key(&qt.text).as_slice())? {
            found.push((qt.text.clone(), u64_of(v.value(), "document frequency")?));
        }
        for (term, df) in found {
            let i = *slot.entry(term.clone()).or_insert_with(|| {
                terms.push((term, df, 0));
                terms.len() - 1
            });
            terms[i].2 |= 1 << w;
            word_terms[w].push(i);
        }
    }

    let mut cands: HashMap<u128, Candidate> = HashMap::new();
    match mode {
        MatchMode::Any => {
            for (i, (term, _, mask)) in terms.iter().enumerate() {
                scan_postings(table, term, |id, tf| {
                    let c = cands.entry(id).or_default();
                    c.mask |= mask;
                    c.hits.push((i, tf));
                })?;
            }
        }
        MatchMode::All => {
            if word_terms.iter().any(Vec::is_empty) {
                return Ok(Vec::new());
            }
            // Rarest word first: it bounds the candidates every later word narrows.
            let mut order: Vec<usize> = (0..words.len()).collect();
            order.sort_by_key(|&w| word_terms[w].iter().map(|&i| terms[i].1).sum::<u64>());
            let mut done = vec![false; terms.len()];
            for (step, &w) in order.iter().enumerate() {
                for &i in &word_terms[w] {
                    if std::mem::replace(&mut done[i], true) {
                        continue;
                    }
                    let (term, df, mask) = (&terms[i].0, terms[i].1, terms[i].2);
                    if step == 0 {
                        scan_postings(table, term, |id, tf| {
                            let c = cands.entry(id).or_default();
                            c.mask |= mask;
                            c.hits.push((i, tf));
                        })?;
                    } else if (cands.len() as u64).saturating_mul(LOOKUP_FACTOR) < df {
                        let ids: Vec<u128> = cands.keys().copied().collect();
                        for id in ids {
                            if let Some(v) = table.get(posting_key(term, id).as_slice())? {
                                let tf = u32_of(v.value(), "term frequency")?;
                                if let Some(c) = cands.get_mut(&id) {
                                    c.mask |= mask;
                                    c.hits.push((i, tf));
                                }
                            }
                        }
                    } else {
                        scan_postings(table, term, |id, tf| {
                            if let Some(c) = cands.get_mut(&id) {
                                c.mask |= mask;
                                c.hits.push((i, tf));
                            }
                        })?;
                    }
                }
                let bit = 1u64 << w;
                cands.retain(|_, c| c.mask & bit != 0);
                if cands.is_empty() {
                    return Ok(Vec::new());
                }
            }
        }
    }

    let n = st.docs as f64;
    let avgdl = st.tokens as f64 / n;
    let idfs: Vec<f64> = terms.iter().map(|t| idf(n, t.1 as f64)).collect();
    let mut out = Vec::with_capacity(cands.len());
    for (id, mut c) in cands {
        let dl = table
            .get(doc_key(id).as_slice())?
            .map(|v| u32_of(v.value(), "document length"))
            .transpose()?
            .ok_or_else(|| {
                Error::corrupted(format!(
                    "full-text posting for record {} has no length entry",
                    Uuid::from_u128(id)
                ))
            })?;
        c.hits
            .sort_unstable_by(|a, b| terms[a.0].0.cmp(&terms[b.0].0));
        let mut score = 0.0;
        for &(i, tf) in &c.hits {
            score += bm25_term(idfs[i], f64::from(tf), f64::from(dl), avgdl);
        }
        out.push(FtsHit {
            id: Uuid::from_u128(id),
            score,
            matched_terms: c.hits.iter().map(|&(i, _)| terms[i].0.clone()).collect(),
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Integrity checks
// ---------------------------------------------------------------------------------------

/// Problems found, capped at [`MAX_PROBLEMS`] with a count of the rest.
struct Problems {
    list: Vec<String>,
    more: usize,
}

impl Problems {
    fn new() -> Self {
        Problems {
            list: Vec::new(),
            more: 0,
        }
    }
    fn push(&mut self, p: String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(p);
        } else {
            self.more += 1;
        }
    }
    fn into_vec(mut self) -> Vec<String> {
        if self.more > 0 {
            self.list
                .push(format!("... and {} more problems", self.more));
        }
        self.list
    }
}

/// A term read from a key, checked against the layout's rules.
fn check_term(bytes: &[u8]) -> std::result::Result<&str, String> {
    let t = std::str::from_utf8(bytes).map_err(|_| format!("term {bytes:?} is not UTF-8"))?;
    if t.is_empty() {
        return Err("empty term".into());
    }
    if t.len() > MAX_TERM_BYTES {
        return Err(format!("term {t:?} is longer than {MAX_TERM_BYTES} bytes"));
    }
    if t.contains('\0') {
        return Err(format!("term {t:?} contains NUL"));
    }
    Ok(t)
}

/// Checks the index's internal invariants (see the module docs) and returns each problem
/// found, in words; an empty list means the index is consistent. Only storage errors are
/// `Err`.
pub(crate) fn verify<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
) -> Result<Vec<String>> {
    let mut p = Problems::new();
    let mut doc_sums: HashMap<u128, u64> = HashMap::new();
    let mut postings_per_term: BTreeMap<String, u64> = BTreeMap::new();
    let mut lengths: BTreeMap<u128, u32> = BTreeMap::new();
    let mut dfs: BTreeMap<String, u64> = BTreeMap::new();
    let mut stats_entry: Option<(u32, Stats)> = None;

    for item in table.range::<&[u8]>(..)? {
        let (k, v) = item?;
        let (k, v) = (k.value(), v.value());
        match k.first() {
            Some(&POSTING) => {
                // 0x01 term 0x00 id16: the separator is 17 bytes from the end.
                if k.len() < 19 || k[k.len() - 17] != 0 {
                    p.push(format!("malformed posting key {k:?}"));
                    continue;
                }
                let term = match check_term(&k[1..k.len() - 17]) {
                    Ok(t) => t,
                    Err(e) => {
                        p.push(format!("posting: {e}"));
                        continue;
                    }
                };
                let Some(id) = id_of(&k[k.len() - 16..]) else {
                    continue;
                };
                match u32_of(v, "term frequency") {
                    Ok(0) => p.push(format!(
                        "posting {term:?} of {} has frequency 0",
                        Uuid::from_u128(id)
                    )),
                    Ok(tf) => *doc_sums.entry(id).or_insert(0) += u64::from(tf),
                    Err(e) => p.push(e.to_string()),
                }
                *postings_per_term.entry(term.to_owned()).or_insert(0) += 1;
            }
            Some(&DOC) => {
                let Some(id) = id_of(&k[1..]) else {
                    p.push(format!("malformed document key {k:?}"));
                    continue;
                };
                match u32_of(v, "document length") {
                    Ok(0) => p.push(format!("record {} has length 0", Uuid::from_u128(id))),
                    Ok(n) => {
                        lengths.insert(id, n);
                    }
                    Err(e) => p.push(e.to_string()),
                }
            }
            Some(&STATS) if k.len() == 1 => match decode_stats(v) {
                Ok(s) => stats_entry = Some(s),
                Err(e) => p.push(e.to_string()),
            },
            Some(&TERM) => match check_term(&k[1..]) {
                Ok(t) => match u64_of(v, "document frequency") {
                    Ok(n) => {
                        dfs.insert(t.to_owned(), n);
                    }
                    Err(e) => p.push(e.to_string()),
                },
                Err(e) => p.push(format!("dictionary: {e}")),
            },
            _ => p.push(format!("unknown key {k:?}")),
        }
    }

    for (id, sum) in &doc_sums {
        let uuid = Uuid::from_u128(*id);
        match lengths.get(id) {
            None => p.push(format!("postings for record {uuid} but no length entry")),
            Some(&n) if u64::from(n) != *sum => p.push(format!(
                "record {uuid}: length {n} but its postings' frequencies sum to {sum}"
            )),
            Some(_) => {}
        }
    }
    for id in lengths.keys() {
        if !doc_sums.contains_key(id) {
            p.push(format!(
                "record {} has a length entry but no postings",
                Uuid::from_u128(*id)
            ));
        }
    }
    for (term, n) in &postings_per_term {
        match dfs.get(term) {
            None => p.push(format!(
                "term {term:?} has postings but no dictionary entry"
            )),
            Some(df) if df != n => p.push(format!(
                "term {term:?}: document frequency {df} but {n} postings"
            )),
            Some(_) => {}
        }
    }
    for (term, df) in &dfs {
        if !postings_per_term.contains_key(term) {
            p.push(format!(
                "term {term:?} has document frequency {df} but no postings"
            ));
        }
    }
    let docs = lengths.len() as u64;
    let tokens: u64 = lengths.values().map(|&n| u64::from(n)).sum();
    match stats_entry {
        None if docs > 0 => p.push(format!("no statistics entry for {docs} records")),
        None => {}
        Some((version, s)) => {
            if version != TOKENIZER_VERSION {
                p.push(format!(
                    "built by tokenizer version {version}, this build uses {TOKENIZER_VERSION}"
                ));
            }
            if s.docs == 0 {
                p.push("statistics entry for an empty index".into());
            }
            if s.docs != docs || s.tokens != tokens {
                p.push(format!(
                    "statistics say {} records and {} tokens; the entries hold {docs} and {tokens}",
                    s.docs, s.tokens
                ));
            }
        }
    }
    Ok(p.into_vec())
}

/// Every entry an index on `fields` over `records` holds, computed in one pass in memory.
fn expected_entries<'r>(
    fields: &[String],
    records: impl IntoIterator<Item = (Uuid, &'r Record)>,
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut dfs: BTreeMap<String, u64> = BTreeMap::new();
    let mut st = Stats::default();
    for (id, r) in records {
        let d = doc_terms(r, fields)?;
        if d.len == 0 {
            continue;
        }
        let key = id.as_u128();
        for (term, tf) in &d.terms {
            out.insert(posting_key(term, key), tf.to_le_bytes().to_vec());
            *dfs.entry(term.clone()).or_insert(0) += 1;
        }
        out.insert(doc_key(key).to_vec(), d.len.to_le_bytes().to_vec());
        st.docs += 1;
        st.tokens += u64::from(d.len);
    }
    for (term, df) in dfs {
        out.insert(term_key(&term), df.to_le_bytes().to_vec());
    }
    if st.docs > 0 {
        out.insert(STATS_KEY.to_vec(), encode_stats(st).to_vec());
    }
    Ok(out)
}

/// Names a key of the layout for a problem report.
fn describe_key(k: &[u8]) -> String {
    match k.first() {
        Some(&POSTING) if k.len() >= 19 => format!(
            "posting {:?} of record {}",
            String::from_utf8_lossy(&k[1..k.len() - 17]),
            id_of(&k[k.len() - 16..]).map_or_else(String::new, |i| Uuid::from_u128(i).to_string())
        ),
        Some(&DOC) => format!(
            "length entry of record {}",
            id_of(&k[1..]).map_or_else(|| format!("{k:?}"), |i| Uuid::from_u128(i).to_string())
        ),
        Some(&STATS) => "statistics".into(),
        Some(&TERM) => format!("dictionary entry {:?}", String::from_utf8_lossy(&k[1..])),
        _ => format!("key {k:?}"),
    }
}

/// Checks that the index is exactly what indexing `records` (every live record of the
/// collection) on `fields` gives: it lists each missing, extra or different entry. Holds
/// the expected index in memory, so it is for integrity checks, not the write path.
pub(crate) fn verify_against<'r, T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    fields: &[String],
    records: impl IntoIterator<Item = (Uuid, &'r Record)>,
) -> Result<Vec<String>> {
    let expected = expected_entries(fields, records)?;
    let mut p = Problems::new();
    let mut exp = expected.iter().peekable();
    for item in table.range::<&[u8]>(..)? {
        let (k, v) = item?;
        let (k, v) = (k.value(), v.value());
        while let Some((ek, _)) = exp.next_if(|(ek, _)| ek.as_slice() < k) {
            p.push(format!("missing {}", describe_key(ek)));
        }
        match exp.next_if(|(ek, _)| ek.as_slice() == k) {
            Some((_, ev)) if ev.as_slice() != v => p.push(format!(
                "{}: stored {v:?}, expected {ev:?}",
                describe_key(k)
            )),
            Some(_) => {}
            None => p.push(format!("extra {}", describe_key(k))),
        }
    }
    for (ek, _) in exp {
        p.push(format!("missing {}", describe_key(ek)));
    }
    Ok(p.into_vec())
}
