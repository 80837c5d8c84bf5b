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
//!    Chinese or Japanese query finds the documents holding all its characters (katakana
//!    and hangul runs stay whole). Thai, Lao, Khmer and Burmese, written without spaces,
//!    have no dictionary here either and come out one character (with its marks) a word.
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
         {TOKENIZER_VERSION}: opening the database for writing rebuilds it"
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
/// [`maintain`] or [`search`] will use it (a writable open does that: `db.rs`,
/// `rebuild_stale_full_text`).
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

/// Batches many [`maintain`] steps. Document frequencies and statistics are accumulated in
/// memory and written once by [`Builder::finish`]; the postings of records that had no
/// words before (inserts) are buffered, up to [`PENDING_POSTINGS`], and written in key
/// order, which roughly halves the cost of building an index (consecutive inserts land on
/// the same B-tree leaves instead of random ones). Lengths and the postings of updates and
/// deletes are written as each record is applied. Building an index over existing records
/// is `insert(id, record)` per record, then `finish`.
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
    /// New postings (key, tf) not yet written; none of their keys is in the table.
    pending: Vec<(Vec<u8>, u32)>,
}

/// Buffered postings at which a [`Builder`] writes them out (about 50 bytes each). Small
/// under test, so the tests cross the threshold many times.
const PENDING_POSTINGS: usize = if cfg!(test) { 64 } else { 1 << 18 };

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
            pending: Vec::new(),
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

        if old_d.len == 0 {
            // Nothing to remove: buffer the new postings.
            for (term, &tf) in &new_d.terms {
                self.pending.push((posting_key(term, key), tf));
                *self.df.entry(term.clone()).or_insert(0) += 1;
            }
            self.table
                .insert(dkey.as_slice(), new_d.len.to_le_bytes().as_slice())?;
            self.docs += 1;
            self.tokens += i64::from(new_d.len);
            if self.pending.len() >= PENDING_POSTINGS {
                self.flush()?;
            }
            return Ok(());
        }
        // The record's current postings may still be buffered.
        self.flush()?;
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

    /// Writes the buffered postings, in key order.
    fn flush(&mut self) -> Result<()> {
        self.pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, tf) in self.pending.drain(..) {
            if self
                .table
                .insert(k.as_slice(), tf.to_le_bytes().as_slice())?
                .is_some()
            {
                return Err(Error::corrupted(format!(
                    "full-text index holds {} of a record it has no length for; rebuild the index",
                    describe_key(&k)
                )));
            }
        }
        Ok(())
    }

    /// Writes the buffered postings, the accumulated document frequencies and statistics.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.flush()?;
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

/// Builds an index over the live records of a collection's records table into `table`,
/// with one [`Builder`], so the statistics are written once. Serves `create_index` and the
/// rebuild of a stale index at open, both into an empty table.
pub(crate) fn build_from_records<T: ReadableTable<crate::engine::RecordKey, &'static [u8]>>(
    table: &mut IndexTable<'_>,
    fields: &[String],
    records: &T,
) -> Result<()> {
    let mut b = Builder::new(table, fields)?;
    crate::query::scan(records, None, |k, r| {
        b.insert(Uuid::from_u128(k), &r)?;
        Ok(true)
    })?;
    b.finish()
}

/// Builds an index over `records` into an empty table (a rebuild drops and recreates the
/// table first). Refuses a table that is not empty, since inserting into a populated index
/// would double-count.
#[cfg(test)]
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

/// Reads `term`'s postings, in id order, as `(id, term index, tf)` onto `out`.
fn scan_postings<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    term: &str,
    i: u32,
    out: &mut Vec<(u128, u32, u32)>,
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
        out.push((id, i, u32_of(v.value(), "term frequency")?));
    }
    Ok(())
}

/// The candidates of a query while it is evaluated, in structure-of-arrays form so a
/// candidate costs no allocation of its own: ids in ascending order, the query words each
/// matched (a bit mask), the indexes of the ones still in the running, and every
/// (candidate, term, tf) hit in one flat list.
#[derive(Default)]
struct Candidates {
    ids: Vec<u128>,
    masks: Vec<u64>,
    live: Vec<u32>,
    hits: Vec<(u32, u32, u32)>,
}

impl Candidates {
    /// Builds the candidates from postings (any order): one per distinct id.
    fn from_postings(mut postings: Vec<(u128, u32, u32)>, terms: &[(String, u64, u64)]) -> Self {
        postings.sort_unstable_by_key(|p| p.0);
        let mut c = Candidates::default();
        for (id, i, tf) in postings {
            if c.ids.last() != Some(&id) {
                c.live.push(c.ids.len() as u32);
                c.ids.push(id);
                c.masks.push(0);
            }
            let at = c.ids.len() - 1;
            c.masks[at] |= terms[i as usize].2;
            c.hits.push((at as u32, i, tf));
        }
        c
    }

    /// Records postings of term `i` (in id order) for the candidates still live.
    fn add_sorted(&mut self, postings: &[(u128, u32, u32)], mask: u64) {
        let mut pos = 0;
        for &(id, i, tf) in postings {
            let ids = &self.ids;
            pos += self.live[pos..].partition_point(|&c| ids[c as usize] < id);
            let Some(&c) = self.live.get(pos) else {
                return;
            };
            if self.ids[c as usize] == id {
                self.masks[c as usize] |= mask;
                self.hits.push((c, i, tf));
            }
        }
    }

    /// Keeps the live candidates whose mask has `bit`.
    fn require(&mut self, bit: u64) {
        let masks = &self.masks;
        self.live.retain(|&c| masks[c as usize] & bit != 0);
    }
}

/// A full-text query's matches, ranked: [`Iterator::next`] yields them best first
/// (highest score, then lowest id), scoring every match but naming the matched terms of
/// only the hits actually taken, so a caller that wants a page pays for a page.
pub(crate) struct Ranking {
    terms: Vec<String>,
    /// Per live candidate (in `ids` order), its range in `hits`.
    spans: Vec<(u32, u32)>,
    /// Term indexes of each candidate's hits, in term byte order.
    hits: Vec<u32>,
    heap: std::collections::BinaryHeap<Scored>,
}

/// A scored candidate; the heap's greatest is the best hit.
struct Scored {
    score: f64,
    id: u128,
    cand: u32,
}

impl PartialEq for Scored {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Higher score first, then lower id: the search order.
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.id.cmp(&self.id))
    }
}

impl Ranking {
    fn empty() -> Ranking {
        Ranking {
            terms: Vec::new(),
            spans: Vec::new(),
            hits: Vec::new(),
            heap: std::collections::BinaryHeap::new(),
        }
    }
}

impl Iterator for Ranking {
    type Item = FtsHit;

    fn next(&mut self) -> Option<FtsHit> {
        let s = self.heap.pop()?;
        let (from, to) = self.spans[s.cand as usize];
        Some(FtsHit {
            id: Uuid::from_u128(s.id),
            score: s.score,
            matched_terms: self.hits[from as usize..to as usize]
                .iter()
                .map(|&i| self.terms[i as usize].clone())
                .collect(),
        })
    }
}

/// Candidates at or above this share of the index's documents (1 in this many) read their
/// lengths by walking the length entries in id order, not one look-up each.
const LENGTH_SCAN_SHARE: usize = 16;

/// Runs a query against the index and returns every match, ranked (see the module docs).
#[cfg(test)]
pub(crate) fn search<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    query: &str,
    mode: MatchMode,
) -> Result<Vec<FtsHit>> {
    Ok(rank(table, query, mode)?.collect())
}

/// Runs a query against the index: every match, scored, to be taken best first.
///
/// `MatchMode::All`: a record must match every query word (a prefix word matches if any
/// expansion does); `MatchMode::Any`: at least one. Query errors are `InvalidQuery`
/// ([`parse_query`], and a prefix with more than [`MAX_PREFIX_EXPANSIONS`] expansions).
pub(crate) fn rank<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    query: &str,
    mode: MatchMode,
) -> Result<Ranking> {
    let words = parse_query(query)?;
    let st = stats(table)?;
    if st.docs == 0 {
        return Ok(Ranking::empty());
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

    let cands = match mode {
        MatchMode::Any => {
            let mut postings = Vec::new();
            for (i, (term, _, _)) in terms.iter().enumerate() {
                scan_postings(table, term, i as u32, &mut postings)?;
            }
            Candidates::from_postings(postings, &terms)
        }
        MatchMode::All => {
            if word_terms.iter().any(Vec::is_empty) {
                return Ok(Ranking::empty());
            }
            // Rarest word first: it bounds the candidates every later word narrows.
            let mut order: Vec<usize> = (0..words.len()).collect();
            order.sort_by_key(|&w| word_terms[w].iter().map(|&i| terms[i].1).sum::<u64>());
            let mut done = vec![false; terms.len()];
            let mut cands = Candidates::default();
            for (step, &w) in order.iter().enumerate() {
                if step == 0 {
                    let mut postings = Vec::new();
                    for &i in &word_terms[w] {
                        done[i] = true;
                        scan_postings(table, &terms[i].0, i as u32, &mut postings)?;
                    }
                    cands = Candidates::from_postings(postings, &terms);
                } else {
                    let mut postings = Vec::new();
                    for &i in &word_terms[w] {
                        if std::mem::replace(&mut done[i], true) {
                            continue;
                        }
                        let (term, df, mask) = (&terms[i].0, terms[i].1, terms[i].2);
                        if (cands.live.len() as u64).saturating_mul(LOOKUP_FACTOR) < df {
                            for k in 0..cands.live.len() {
                                let c = cands.live[k];
                                let id = cands.ids[c as usize];
                                if let Some(v) = table.get(posting_key(term, id).as_slice())? {
                                    let tf = u32_of(v.value(), "term frequency")?;
                                    cands.masks[c as usize] |= mask;
                                    cands.hits.push((c, i as u32, tf));
                                }
                            }
                        } else {
                            postings.clear();
                            scan_postings(table, term, i as u32, &mut postings)?;
                            cands.add_sorted(&postings, mask);
                        }
                    }
                }
                cands.require(1u64 << w);
                if cands.live.is_empty() {
                    return Ok(Ranking::empty());
                }
            }
            cands
        }
    };

    // Document lengths of the live candidates, in their (id) order.
    let missing = |id: u128| {
        Error::corrupted(format!(
            "full-text posting for record {} has no length entry",
            Uuid::from_u128(id)
        ))
    };
    let mut lengths: Vec<u32> = Vec::with_capacity(cands.live.len());
    if cands.live.len().saturating_mul(LENGTH_SCAN_SHARE) >= st.docs as usize {
        let (Some(&first), Some(&last)) = (cands.live.first(), cands.live.last()) else {
            return Ok(Ranking::empty());
        };
        let (lo, hi) = (
            doc_key(cands.ids[first as usize]),
            doc_key(cands.ids[last as usize]),
        );
        let mut want = cands.live.iter().map(|&c| cands.ids[c as usize]).peekable();
        for item in table.range::<&[u8]>(lo.as_slice()..=hi.as_slice())? {
            let Some(&next) = want.peek() else { break };
            let (k, v) = item?;
            let id = id_of(&k.value()[1..])
                .ok_or_else(|| Error::corrupted("full-text length key is not 17 bytes"))?;
            if id < next {
                continue;
            }
            if id > next {
                return Err(missing(next));
            }
            lengths.push(u32_of(v.value(), "document length")?);
            want.next();
        }
        if let Some(next) = want.next() {
            return Err(missing(next));
        }
    } else {
        for &c in &cands.live {
            let id = cands.ids[c as usize];
            let dl = table
                .get(doc_key(id).as_slice())?
                .map(|v| u32_of(v.value(), "document length"))
                .transpose()?
                .ok_or_else(|| missing(id))?;
            lengths.push(dl);
        }
    }

    // Each live candidate's hits, grouped and in term byte order (the order scores are
    // summed in, so equal documents get bit-identical scores).
    let mut rank_of = vec![0u32; terms.len()];
    {
        let mut by_text: Vec<usize> = (0..terms.len()).collect();
        by_text.sort_unstable_by(|&a, &b| terms[a].0.cmp(&terms[b].0));
        for (r, i) in by_text.into_iter().enumerate() {
            rank_of[i] = r as u32;
        }
    }
    let mut slot_of = vec![u32::MAX; cands.ids.len()];
    for (s, &c) in cands.live.iter().enumerate() {
        slot_of[c as usize] = s as u32;
    }
    let mut hits: Vec<(u32, u32, u32)> = cands
        .hits
        .iter()
        .filter(|h| slot_of[h.0 as usize] != u32::MAX)
        .map(|&(c, i, tf)| (slot_of[c as usize], i, tf))
        .collect();
    hits.sort_unstable_by_key(|&(s, i, _)| (u64::from(s) << 32) | u64::from(rank_of[i as usize]));

    let n = st.docs as f64;
    let avgdl = st.tokens as f64 / n;
    let idfs: Vec<f64> = terms.iter().map(|t| idf(n, t.1 as f64)).collect();
    let mut spans = Vec::with_capacity(cands.live.len());
    let mut scored = Vec::with_capacity(cands.live.len());
    let mut at = 0usize;
    for (s, &c) in cands.live.iter().enumerate() {
        let from = at;
        let dl = f64::from(lengths[s]);
        let mut score = 0.0;
        while at < hits.len() && hits[at].0 == s as u32 {
            let (_, i, tf) = hits[at];
            score += bm25_term(idfs[i as usize], f64::from(tf), dl, avgdl);
            at += 1;
        }
        spans.push((from as u32, at as u32));
        scored.push(Scored {
            score,
            id: cands.ids[c as usize],
            cand: s as u32,
        });
    }
    Ok(Ranking {
        terms: terms.into_iter().map(|t| t.0).collect(),
        spans,
        hits: hits.into_iter().map(|h| h.1).collect(),
        heap: scored.into(),
    })
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use redb::{ReadableDatabase, TableDefinition};

    use super::*;

    const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("fts");

    fn mem_db() -> redb::Database {
        redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap()
    }

    fn fields() -> Vec<String> {
        ["title", "body", "tags", "meta.note"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn doc(title: &str, body: &str) -> Record {
        Record::new().with("title", title).with("body", body)
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Runs `f` on the index table inside one committed write transaction.
    fn write<R>(db: &redb::Database, f: impl FnOnce(&mut IndexTable<'_>) -> R) -> R {
        let w = db.begin_write().unwrap();
        let out = {
            let mut t = w.open_table(T).unwrap();
            f(&mut t)
        };
        w.commit().unwrap();
        out
    }

    fn read<R>(db: &redb::Database, f: impl FnOnce(&redb::ReadOnlyTable<&[u8], &[u8]>) -> R) -> R {
        let r = db.begin_read().unwrap();
        let t = r.open_table(T).unwrap();
        f(&t)
    }

    fn entries<Tb: ReadableTable<&'static [u8], &'static [u8]>>(t: &Tb) -> Vec<(Vec<u8>, Vec<u8>)> {
        t.range::<&[u8]>(..)
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                (k.value().to_vec(), v.value().to_vec())
            })
            .collect()
    }

    fn toks(s: &str) -> Vec<String> {
        tokenize(s)
    }

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    // --- tokenizer: expectations written from the documented rules ---

    #[test]
    fn tokenizer_splits_on_punctuation_and_lowercases() {
        assert_eq!(toks("Hello, World!"), v(&["hello", "world"]));
        assert_eq!(
            toks("  MiXeD\tcase\nLINES "),
            v(&["mixed", "case", "lines"])
        );
        assert_eq!(toks("!!! --- ... 🎉"), Vec::<String>::new());
        assert_eq!(toks("🎉party🎉"), v(&["party"]));
        assert_eq!(toks("e-mail foo@bar"), v(&["e", "mail", "foo", "bar"]));
        assert_eq!(toks("snake_case don't"), v(&["snake_case", "don't"]));
        assert_eq!(toks(""), Vec::<String>::new());
    }

    #[test]
    fn tokenizer_folds_accents_and_compatibility_forms() {
        assert_eq!(toks("Café crème BRÛLÉE"), v(&["cafe", "creme", "brulee"]));
        assert_eq!(toks("naïve İstanbul"), v(&["naive", "istanbul"]));
        // The same word typed precomposed and decomposed gives one token.
        assert_eq!(toks("e\u{0301}cole"), toks("\u{00e9}cole"));
        assert_eq!(toks("ＡＢＣ１２３ ﬁle x²"), v(&["abc123", "file", "x2"]));
        // The typographic apostrophe is the ASCII one.
        assert_eq!(toks("don\u{2019}t"), v(&["don't"]));
    }

    #[test]
    fn tokenizer_handles_cyrillic_greek_and_cjk() {
        assert_eq!(toks("Привет, МИР"), v(&["привет", "мир"]));
        assert_eq!(toks("Ёлка"), v(&["елка"]));
        // Greek: accents dropped, final sigma folded, upper and lower case meet.
        assert_eq!(toks("ΛΌΓΟΣ"), toks("λόγος"));
        assert_eq!(toks("λόγος"), v(&["λογοσ"]));
        // Han ideographs and hiragana are one token per character; katakana runs stay whole.
        assert_eq!(toks("東京タワーに"), v(&["東", "京", "タワー", "に"]));
        // Kana voicing marks and Hangul syllables survive folding (NFC recomposes them).
        assert_eq!(toks("ガギグ 한국어"), v(&["ガギグ", "한국어"]));
        // Indic vowel signs and viramas are not generic diacritics: kept.
        assert_eq!(toks("हिन्दी"), v(&["हिन्दी"]));
    }

    #[test]
    fn tokenizer_keeps_numbers() {
        assert_eq!(
            toks("v2 costs 1,000 or 3.14 in 2024 at 192.168.0.1"),
            v(&[
                "v2",
                "costs",
                "1,000",
                "or",
                "3.14",
                "in",
                "2024",
                "at",
                "192.168.0.1"
            ])
        );
        assert_eq!(toks("12:30"), v(&["12", "30"]));
    }

    #[test]
    fn tokenizer_caps_long_words_at_a_char_boundary() {
        let long = "a".repeat(100);
        assert_eq!(toks(&long), vec!["a".repeat(MAX_TERM_BYTES)]);
        // 33 two-byte letters are 66 bytes: cut to 32 letters (64 bytes), never mid-letter.
        let cyr = "ж".repeat(33);
        assert_eq!(toks(&cyr), vec!["ж".repeat(32)]);
        // 22 three-byte characters are 66 bytes: 21 fit (63 bytes).
        let kata = "タ".repeat(22);
        assert_eq!(toks(&kata), vec!["タ".repeat(21)]);
    }

    #[test]
    fn tokenizer_never_yields_nul() {
        assert_eq!(toks("a\0b"), v(&["a", "b"]));
    }

    #[test]
    fn doc_terms_reads_strings_and_string_arrays_only() {
        let mut meta = BTreeMap::new();
        meta.insert("note".to_string(), Value::from("Nested note"));
        let r = Record::new()
            .with("title", "Hello hello")
            .with("body", 42)
            .with(
                "tags",
                Value::Array(vec![
                    Value::from("Rust"),
                    Value::from(7),
                    Value::Array(vec![Value::from("deep")]),
                    Value::from("hello"),
                ]),
            )
            .with("meta", Value::Dictionary(meta))
            .with("other", "not indexed");
        let d = doc_terms(&r, &fields()).unwrap();
        let want: BTreeMap<String, u32> = [("hello", 3), ("rust", 1), ("nested", 1), ("note", 1)]
            .iter()
            .map(|(t, n)| (t.to_string(), *n))
            .collect();
        assert_eq!(d.terms, want);
        assert_eq!(d.len, 6);
        assert_eq!(
            doc_terms(&Record::new(), &fields()).unwrap(),
            DocTerms::default()
        );
    }

    // --- maintenance ---

    /// Reads the df of a term, the length of a record, and the statistics.
    fn df_of<Tb: ReadableTable<&'static [u8], &'static [u8]>>(t: &Tb, term: &str) -> Option<u64> {
        t.get(term_key(term).as_slice())
            .unwrap()
            .map(|v| u64::from_le_bytes(v.value().try_into().unwrap()))
    }

    #[test]
    fn maintain_insert_update_delete_keeps_stats_exact() {
        let db = mem_db();
        let f = fields();
        write(&db, |t| {
            maintain(t, &f, id(1), None, Some(&doc("red apple", "red"))).unwrap();
            maintain(t, &f, id(2), None, Some(&doc("green apple", ""))).unwrap();
            maintain(t, &f, id(3), None, Some(&doc("!!!", ""))).unwrap(); // no words
        });
        read(&db, |t| {
            assert_eq!(stats(t).unwrap(), Stats { docs: 2, tokens: 5 });
            assert_eq!(df_of(t, "apple"), Some(2));
            assert_eq!(df_of(t, "red"), Some(1));
            assert_eq!(df_of(t, "green"), Some(1));
            assert!(verify(t).unwrap().is_empty());
        });
        // Update: record 1 loses "red" entirely, gains "pie".
        write(&db, |t| {
            maintain(
                t,
                &f,
                id(1),
                Some(&doc("red apple", "red")),
                Some(&doc("apple pie", "")),
            )
            .unwrap()
        });
        read(&db, |t| {
            assert_eq!(stats(t).unwrap(), Stats { docs: 2, tokens: 4 });
            assert_eq!(df_of(t, "red"), None);
            assert_eq!(df_of(t, "pie"), Some(1));
            assert_eq!(df_of(t, "apple"), Some(2));
            assert!(verify(t).unwrap().is_empty());
        });
        // Record 3 gains words; record 2 loses all of its words; record 1 is deleted.
        write(&db, |t| {
            maintain(
                t,
                &f,
                id(3),
                Some(&doc("!!!", "")),
                Some(&doc("pie", "pie pie")),
            )
            .unwrap();
            maintain(
                t,
                &f,
                id(2),
                Some(&doc("green apple", "")),
                Some(&doc("", "")),
            )
            .unwrap();
            maintain(t, &f, id(1), Some(&doc("apple pie", "")), None).unwrap();
        });
        read(&db, |t| {
            assert_eq!(stats(t).unwrap(), Stats { docs: 1, tokens: 3 });
            assert_eq!(df_of(t, "apple"), None);
            assert_eq!(df_of(t, "pie"), Some(1));
            assert!(verify(t).unwrap().is_empty());
        });
        write(&db, |t| {
            maintain(t, &f, id(3), Some(&doc("pie", "pie pie")), None).unwrap()
        });
        // The last delete leaves an empty table, statistics included.
        read(&db, |t| assert!(entries(t).is_empty()));
    }

    #[test]
    fn maintain_with_unchanged_words_writes_nothing() {
        let db = mem_db();
        let f = fields();
        let a = doc("Same words", "here").with("other", 1);
        let b = doc("SAME, words!", "Here").with("other", 2); // same tokens, other field
        write(&db, |t| maintain(t, &f, id(1), None, Some(&a)).unwrap());
        // Remove the length entry behind the engine's back: an update that really touched
        // the index would notice (it checks the entry first); a skipped one cannot.
        write(&db, |t| {
            t.remove(doc_key(1).as_slice()).unwrap();
        });
        let before = read(&db, |t| entries(t));
        write(&db, |t| maintain(t, &f, id(1), Some(&a), Some(&b)).unwrap());
        assert_eq!(read(&db, |t| entries(t)), before);
        let changed = doc("other words", "");
        let err = write(&db, |t| maintain(t, &f, id(1), Some(&a), Some(&changed)));
        assert!(matches!(err, Err(Error::CorruptedData(_))), "{err:?}");
    }

    #[test]
    fn maintain_refuses_a_second_insert_without_writing() {
        let db = mem_db();
        let f = fields();
        write(&db, |t| {
            maintain(t, &f, id(1), None, Some(&doc("one", ""))).unwrap()
        });
        let before = read(&db, |t| entries(t));
        let err = write(&db, |t| maintain(t, &f, id(1), None, Some(&doc("two", ""))));
        assert!(matches!(err, Err(Error::CorruptedData(_))), "{err:?}");
        // A wrong `old` is refused too.
        let err = write(&db, |t| {
            maintain(t, &f, id(1), Some(&doc("one two", "")), None)
        });
        assert!(matches!(err, Err(Error::CorruptedData(_))), "{err:?}");
        assert_eq!(read(&db, |t| entries(t)), before);
    }

    #[test]
    fn rollback_undoes_maintenance() {
        let db = mem_db();
        let f = fields();
        write(&db, |t| {
            maintain(t, &f, id(1), None, Some(&doc("kept", ""))).unwrap()
        });
        let before = read(&db, |t| entries(t));
        {
            let w = db.begin_write().unwrap();
            {
                let mut t = w.open_table(T).unwrap();
                maintain(&mut t, &f, id(2), None, Some(&doc("dropped", ""))).unwrap();
            }
            w.abort().unwrap();
        }
        assert_eq!(read(&db, |t| entries(t)), before);
    }

    #[test]
    fn build_matches_incremental_inserts_and_refuses_a_populated_table() {
        let f = fields();
        let mut rng = StdRng::seed_from_u64(7);
        let recs: Vec<(Uuid, Record)> = (0..3000u128)
            .map(|i| (id(i * 7919 + 1), random_record(&mut rng)))
            .collect();
        let a = mem_db();
        write(&a, |t| {
            build(t, &f, recs.iter().map(|(i, r)| (*i, r))).unwrap()
        });
        let b = mem_db();
        write(&b, |t| {
            for (i, r) in &recs {
                maintain(t, &f, *i, None, Some(r)).unwrap();
            }
        });
        let ea = read(&a, |t| entries(t));
        assert!(!ea.is_empty());
        assert_eq!(ea, read(&b, |t| entries(t)));
        read(&a, |t| {
            assert_eq!(verify(t).unwrap(), Vec::<String>::new());
            let got = verify_against(t, &f, recs.iter().map(|(i, r)| (*i, r))).unwrap();
            assert_eq!(got, Vec::<String>::new());
        });
        let err = write(&a, |t| build(t, &f, std::iter::empty()));
        assert!(matches!(err, Err(Error::InvalidInput(_))), "{err:?}");
    }

    #[test]
    fn verify_reports_tampering() {
        let f = fields();
        let db = mem_db();
        let recs = [
            (id(1), doc("alpha beta", "beta")),
            (id(2), doc("beta gamma", "")),
        ];
        write(&db, |t| {
            build(t, &f, recs.iter().map(|(i, r)| (*i, r))).unwrap()
        });
        let clean = read(&db, |t| entries(t));
        type Tamper = Box<dyn Fn(&mut IndexTable<'_>)>;
        let tamper: Vec<Tamper> = vec![
            Box::new(|t| {
                t.remove(term_key("beta").as_slice()).unwrap();
            }),
            Box::new(|t| {
                t.insert(doc_key(1).as_slice(), 9u32.to_le_bytes().as_slice())
                    .unwrap();
            }),
            Box::new(|t| {
                t.insert(
                    posting_key("zeta", 3).as_slice(),
                    1u32.to_le_bytes().as_slice(),
                )
                .unwrap();
            }),
            Box::new(|t| {
                t.remove(STATS_KEY.as_slice()).unwrap();
            }),
            Box::new(|t| {
                t.insert(term_key("gamma").as_slice(), 5u64.to_le_bytes().as_slice())
                    .unwrap();
            }),
            Box::new(|t| {
                t.insert([0x7fu8].as_slice(), [].as_slice()).unwrap();
            }),
        ];
        for (n, f_t) in tamper.iter().enumerate() {
            let db = mem_db();
            write(&db, |t| {
                for (k, v) in &clean {
                    t.insert(k.as_slice(), v.as_slice()).unwrap();
                }
                f_t(t);
            });
            read(&db, |t| {
                let a = verify(t).unwrap();
                assert!(!a.is_empty(), "tampering {n} went unnoticed by verify");
                let b = verify_against(t, &f, recs.iter().map(|(i, r)| (*i, r))).unwrap();
                assert!(
                    !b.is_empty(),
                    "tampering {n} went unnoticed by verify_against"
                );
            });
        }
        // verify_against also sees an index that is consistent but stale.
        read(&db, |t| {
            let stale = [(id(1), doc("alpha", ""))];
            assert!(
                !verify_against(t, &f, stale.iter().map(|(i, r)| (*i, r)))
                    .unwrap()
                    .is_empty()
            );
        });
    }

    #[test]
    fn another_tokenizer_version_needs_a_rebuild() {
        let f = fields();
        let db = mem_db();
        write(&db, |t| {
            maintain(t, &f, id(1), None, Some(&doc("word", ""))).unwrap()
        });
        read(&db, |t| assert!(!needs_rebuild(t).unwrap()));
        write(&db, |t| {
            let mut v = encode_stats(Stats { docs: 1, tokens: 1 });
            v[0..4].copy_from_slice(&(TOKENIZER_VERSION + 1).to_le_bytes());
            t.insert(STATS_KEY.as_slice(), v.as_slice()).unwrap();
        });
        read(&db, |t| {
            assert!(needs_rebuild(t).unwrap());
            assert!(matches!(
                search(t, "word", MatchMode::All),
                Err(Error::CorruptedData(_))
            ));
        });
        let err = write(&db, |t| maintain(t, &f, id(2), None, Some(&doc("x", ""))));
        assert!(matches!(err, Err(Error::CorruptedData(_))), "{err:?}");
    }

    // --- queries ---

    #[test]
    fn bad_queries_are_invalid_query() {
        let db = mem_db();
        write(&db, |t| {
            maintain(t, &fields(), id(1), None, Some(&doc("some words", ""))).unwrap()
        });
        let many = (0..=MAX_QUERY_TERMS)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        read(&db, |t| {
            for q in ["", "   ", "!!! ---", "*", "foo -*", "🎉", many.as_str()] {
                let r = search(t, q, MatchMode::All);
                assert!(matches!(r, Err(Error::InvalidQuery(_))), "{q:?}: {r:?}");
                let r = search(t, q, MatchMode::Any);
                assert!(matches!(r, Err(Error::InvalidQuery(_))), "{q:?}: {r:?}");
            }
        });
        // An empty index still refuses a bad query, and answers a good one with nothing.
        let empty = mem_db();
        write(&empty, |_| ());
        read(&empty, |t| {
            assert!(matches!(
                search(t, "", MatchMode::All),
                Err(Error::InvalidQuery(_))
            ));
            assert_eq!(search(t, "word", MatchMode::All).unwrap(), vec![]);
        });
    }

    #[test]
    fn parse_query_splits_prefixes_and_dedupes() {
        let q = parse_query("Foo  e-mail* foo BAR*  bar* x**").unwrap();
        let want = [
            ("foo", false),
            ("e", false),
            ("mail", true),
            ("bar", true),
            ("x", true),
        ];
        let got: Vec<(&str, bool)> = q.iter().map(|t| (t.text.as_str(), t.prefix)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_prefix_with_too_many_expansions_is_refused() {
        let db = mem_db();
        let text = (0..=MAX_PREFIX_EXPANSIONS)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        write(&db, |t| {
            maintain(t, &fields(), id(1), None, Some(&doc(&text, ""))).unwrap()
        });
        read(&db, |t| {
            assert!(matches!(
                search(t, "t*", MatchMode::All),
                Err(Error::InvalidQuery(_))
            ));
            // A narrower prefix is fine: t1, t10..t19, t100..t199, t1000..t1999 = 1111 terms.
            let hits = search(t, "t1*", MatchMode::All).unwrap();
            assert_eq!(hits.len(), 1);
            assert_eq!(hits[0].matched_terms.len(), 1111);
        });
    }

    /// A small fixed corpus used by the query tests below.
    fn corpus() -> Vec<(Uuid, Record)> {
        vec![
            (id(1), doc("Apple pie recipe", "An apple a day")),
            (id(2), doc("Application design", "apply the pattern")),
            (id(3), doc("Banana bread", "no apples here, only bananas")),
            (id(4), doc("Café au lait", "coffee and milk")),
            (
                id(5),
                doc("APPLE", "apple apple apple apple apple apple apple apple"),
            ),
            (id(6), doc("Ecology", "École de la forêt")),
            (
                id(7),
                Record::new().with("tags", Value::Array(vec!["apple".into(), "fruit".into()])),
            ),
        ]
    }

    fn indexed(recs: &[(Uuid, Record)]) -> redb::Database {
        let db = mem_db();
        write(&db, |t| {
            for (i, r) in recs {
                maintain(t, &fields(), *i, None, Some(r)).unwrap();
            }
        });
        db
    }

    fn ids(hits: &[FtsHit]) -> BTreeSet<u128> {
        hits.iter().map(|h| h.id.as_u128()).collect()
    }

    #[test]
    fn prefix_queries_expand_to_every_matching_term() {
        let recs = corpus();
        let db = indexed(&recs);
        read(&db, |t| {
            let h = search(t, "app*", MatchMode::All).unwrap();
            assert_eq!(ids(&h), BTreeSet::from([1, 2, 3, 5, 7]));
            let two = h.iter().find(|x| x.id == id(2)).unwrap();
            assert_eq!(two.matched_terms, v(&["application", "apply"]));
            let three = h.iter().find(|x| x.id == id(3)).unwrap();
            assert_eq!(three.matched_terms, v(&["apples"]));
            // Accents fold in the prefix as in the text.
            assert_eq!(
                ids(&search(t, "CAF*", MatchMode::All).unwrap()),
                BTreeSet::from([4])
            );
            assert_eq!(
                ids(&search(t, "éco*", MatchMode::All).unwrap()),
                BTreeSet::from([6])
            );
            // An exact word does not match longer ones.
            assert_eq!(
                ids(&search(t, "apple", MatchMode::All).unwrap()),
                BTreeSet::from([1, 5, 7])
            );
            assert_eq!(search(t, "zzz*", MatchMode::All).unwrap(), vec![]);
        });
    }

    #[test]
    fn all_requires_every_word_and_any_one() {
        let recs = corpus();
        let db = indexed(&recs);
        read(&db, |t| {
            assert_eq!(
                ids(&search(t, "apple pie", MatchMode::All).unwrap()),
                BTreeSet::from([1])
            );
            assert_eq!(
                ids(&search(t, "apple pie", MatchMode::Any).unwrap()),
                BTreeSet::from([1, 5, 7])
            );
            assert_eq!(search(t, "apple nothere", MatchMode::All).unwrap(), vec![]);
            assert_eq!(
                ids(&search(t, "apple nothere", MatchMode::Any).unwrap()),
                BTreeSet::from([1, 5, 7])
            );
            assert_eq!(
                ids(&search(t, "banana* bread coffee", MatchMode::Any).unwrap()),
                BTreeSet::from([3, 4])
            );
            // Under ANY, a record holding both words outranks its peers holding one.
            let h = search(t, "fruit apple", MatchMode::Any).unwrap();
            assert_eq!(h[0].id, id(7));
            assert_eq!(h[0].matched_terms, v(&["apple", "fruit"]));
        });
    }

    // --- the naive evaluator the engine is checked against ---

    /// The text a record contributes, by the documented rule, tokenized.
    fn naive_tokens(r: &Record, fields: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for f in fields {
            match r.get_path(f) {
                Some(Value::String(s)) => out.extend(tokenize(s)),
                Some(Value::Array(a)) => {
                    for x in a {
                        if let Value::String(s) = x {
                            out.extend(tokenize(s));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// BM25 over the raw records, straight from the formula in the module docs: no index.
    fn naive_search(
        recs: &BTreeMap<Uuid, Record>,
        fields: &[String],
        words: &[(String, bool)],
        mode: MatchMode,
    ) -> BTreeMap<Uuid, (f64, Vec<String>)> {
        let docs: BTreeMap<Uuid, Vec<String>> = recs
            .iter()
            .map(|(i, r)| (*i, naive_tokens(r, fields)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        let n = docs.len() as f64;
        let total: usize = docs.values().map(Vec::len).sum();
        let avgdl = total as f64 / n;
        let vocab: BTreeSet<&String> = docs.values().flatten().collect();
        let df = |t: &str| docs.values().filter(|d| d.iter().any(|x| x == t)).count() as f64;
        let mut out = BTreeMap::new();
        for (i, d) in &docs {
            let mut matched: BTreeSet<String> = BTreeSet::new();
            let mut words_hit = 0;
            for (w, prefix) in words {
                let here: Vec<&String> = vocab
                    .iter()
                    .copied()
                    .filter(|t| {
                        if *prefix {
                            t.starts_with(w.as_str())
                        } else {
                            *t == w
                        }
                    })
                    .filter(|t| d.contains(t))
                    .collect();
                if !here.is_empty() {
                    words_hit += 1;
                }
                matched.extend(here.into_iter().cloned());
            }
            let ok = match mode {
                MatchMode::All => words_hit == words.len(),
                MatchMode::Any => words_hit > 0,
            };
            if !ok {
                continue;
            }
            let dl = d.len() as f64;
            let mut score = 0.0;
            for t in &matched {
                let tf = d.iter().filter(|x| *x == t).count() as f64;
                let dft = df(t);
                let idf = (1.0 + (n - dft + 0.5) / (dft + 0.5)).ln();
                score += idf * (tf * (1.2 + 1.0)) / (tf + 1.2 * (1.0 - 0.75 + 0.75 * dl / avgdl));
            }
            out.insert(*i, (score, matched.into_iter().collect()));
        }
        out
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    /// Checks engine hits against the naive result: the same records, scores and terms,
    /// ranked by score (the naive score agrees with the order), ties by id.
    fn check(hits: &[FtsHit], want: &BTreeMap<Uuid, (f64, Vec<String>)>, what: &str) {
        let got: BTreeSet<Uuid> = hits.iter().map(|h| h.id).collect();
        let exp: BTreeSet<Uuid> = want.keys().copied().collect();
        assert_eq!(got, exp, "{what}: matched records");
        assert_eq!(got.len(), hits.len(), "{what}: a record came back twice");
        for h in hits {
            let (s, terms) = &want[&h.id];
            assert!(
                close(h.score, *s),
                "{what}: score of {} {} vs {}",
                h.id,
                h.score,
                s
            );
            assert!(h.score > 0.0, "{what}: non-positive score");
            assert_eq!(&h.matched_terms, terms, "{what}: terms of {}", h.id);
        }
        for p in hits.windows(2) {
            assert!(p[0].score >= p[1].score, "{what}: not ranked by score");
            if p[0].score == p[1].score {
                assert!(p[0].id < p[1].id, "{what}: tie not broken by id");
            }
            let (a, b) = (want[&p[0].id].0, want[&p[1].id].0);
            assert!(
                a >= b || close(a, b),
                "{what}: order disagrees with naive BM25"
            );
        }
    }

    fn words_of(q: &str) -> Vec<(String, bool)> {
        parse_query(q)
            .unwrap()
            .into_iter()
            .map(|t| (t.text, t.prefix))
            .collect()
    }

    #[test]
    fn bm25_ranking_matches_a_naive_evaluator() {
        let recs = corpus();
        let db = indexed(&recs);
        let map: BTreeMap<Uuid, Record> = recs.into_iter().collect();
        read(&db, |t| {
            for q in [
                "apple",
                "apple pie",
                "app*",
                "app* day",
                "cafe",
                "ecol*",
                "bana* apple*",
            ] {
                for mode in [MatchMode::All, MatchMode::Any] {
                    let hits = search(t, q, mode).unwrap();
                    let want = naive_search(&map, &fields(), &words_of(q), mode);
                    check(&hits, &want, &format!("{q:?} {mode:?}"));
                }
            }
            // Hand-checkable orderings: term frequency saturates but still counts (record 5
            // says "apple" nine times), and a short record beats a long one at equal tf
            // (record 7 holds two words, record 1 eight).
            let h = search(t, "apple", MatchMode::All).unwrap();
            let order: Vec<Uuid> = h.iter().map(|x| x.id).collect();
            assert_eq!(order, vec![id(5), id(7), id(1)]);
        });
    }

    #[test]
    fn long_words_find_themselves() {
        let long = "x".repeat(80) + "tail";
        let db = indexed(&[(id(1), doc(&long, ""))]);
        read(&db, |t| {
            assert_eq!(
                ids(&search(t, &long, MatchMode::All).unwrap()),
                BTreeSet::from([1])
            );
            let cut = "x".repeat(MAX_TERM_BYTES);
            assert_eq!(
                ids(&search(t, &cut, MatchMode::All).unwrap()),
                BTreeSet::from([1])
            );
            assert_eq!(
                ids(&search(t, "xxx*", MatchMode::All).unwrap()),
                BTreeSet::from([1])
            );
        });
    }

    // --- randomized: maintain against a model, verify, and search against the naive ---

    const VOCAB: &[&str] = &[
        "apple",
        "Application",
        "apply",
        "apt",
        "banana",
        "band",
        "BANDANA",
        "café",
        "cafeteria",
        "École",
        "ecology",
        "привет",
        "приветствие",
        "東",
        "京",
        "run",
        "running",
        "runner",
        "x1",
        "42",
        "3.14",
        "data",
        "database",
        "datum",
        "λόγος",
    ];
    const SEPS: &[&str] = &[" ", ", ", "-", "! ", "\n", " (", ") "];

    fn random_text(rng: &mut StdRng, max: usize) -> String {
        let n = rng.gen_range(0..=max);
        let mut s = String::new();
        for _ in 0..n {
            let w = VOCAB[rng.gen_range(0..VOCAB.len())];
            if rng.gen_bool(0.2) {
                s.push_str(&w.to_uppercase());
            } else {
                s.push_str(w);
            }
            s.push_str(SEPS[rng.gen_range(0..SEPS.len())]);
        }
        s
    }

    fn random_record(rng: &mut StdRng) -> Record {
        let mut r = Record::new().with("other", random_text(rng, 3));
        if rng.gen_bool(0.8) {
            r.insert("title", random_text(rng, 4));
        }
        if rng.gen_bool(0.7) {
            r.insert("body", random_text(rng, 12));
        } else if rng.gen_bool(0.3) {
            r.insert("body", rng.gen_range(0..100i64)); // not text: ignored
        }
        if rng.gen_bool(0.5) {
            let mut tags: Vec<Value> = (0..rng.gen_range(0..4))
                .map(|_| Value::from(VOCAB[rng.gen_range(0..VOCAB.len())]))
                .collect();
            if rng.gen_bool(0.3) {
                tags.push(Value::from(7));
            }
            r.insert("tags", Value::Array(tags));
        }
        if rng.gen_bool(0.3) {
            let mut m = BTreeMap::new();
            m.insert("note".to_string(), Value::from(random_text(rng, 3)));
            r.insert("meta", Value::Dictionary(m));
        }
        r
    }

    /// A query from folded vocabulary words, some as prefixes.
    fn random_query(rng: &mut StdRng) -> String {
        let n = rng.gen_range(1..=3);
        let mut parts = Vec::new();
        for _ in 0..n {
            let w = VOCAB[rng.gen_range(0..VOCAB.len())];
            let t = tokenize(w).pop().unwrap();
            if rng.gen_bool(0.4) {
                let chars: Vec<char> = t.chars().collect();
                let k = rng.gen_range(1..=chars.len());
                parts.push(chars[..k].iter().collect::<String>() + "*");
            } else if rng.gen_bool(0.1) {
                parts.push("nosuchword".to_string());
            } else {
                parts.push(w.to_string()); // unfolded: the query folds it
            }
        }
        parts.join(" ")
    }

    #[test]
    fn randomized_maintenance_and_search_agree_with_a_model() {
        let f = fields();
        for seed in 0..6u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let db = mem_db();
            let mut model: BTreeMap<Uuid, Record> = BTreeMap::new();
            let mut next = 1u128;
            for round in 0..25 {
                let w = db.begin_write().unwrap();
                let saved = model.clone();
                // The round's writes, applied to the model as they are drawn.
                let mut ops: Vec<(Uuid, Option<Record>, Option<Record>)> = Vec::new();
                for _ in 0..rng.gen_range(1..15) {
                    let existing: Vec<Uuid> = model.keys().copied().collect();
                    let roll = rng.gen_range(0..10);
                    let (i, old, new) = if existing.is_empty() || roll < 4 {
                        // Scattered ids, so key order differs from insertion order.
                        let i = Uuid::from_u128(next.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C));
                        next += 1;
                        (i, None, Some(random_record(&mut rng)))
                    } else {
                        let i = existing[rng.gen_range(0..existing.len())];
                        let old = model.get(&i).cloned();
                        if roll < 6 {
                            (i, old, Some(random_record(&mut rng)))
                        } else if roll < 8 {
                            // Only a non-indexed field changes.
                            let mut r = old.clone().unwrap();
                            r.insert("other", random_text(&mut rng, 2));
                            (i, old, Some(r))
                        } else {
                            (i, old, None)
                        }
                    };
                    match &new {
                        Some(r) => model.insert(i, r.clone()),
                        None => model.remove(&i),
                    };
                    ops.push((i, old, new));
                }
                {
                    let mut t = w.open_table(T).unwrap();
                    if rng.gen_bool(0.3) {
                        let mut b = Builder::new(&mut t, &f).unwrap();
                        for (i, old, new) in &ops {
                            b.apply(*i, old.as_ref(), new.as_ref()).unwrap();
                        }
                        b.finish().unwrap();
                    } else {
                        for (i, old, new) in &ops {
                            maintain(&mut t, &f, *i, old.as_ref(), new.as_ref()).unwrap();
                        }
                    }
                }
                if rng.gen_bool(0.15) {
                    w.abort().unwrap();
                    model = saved;
                } else {
                    w.commit().unwrap();
                }
                read(&db, |t| {
                    let what = format!("seed {seed} round {round}");
                    assert_eq!(verify(t).unwrap(), Vec::<String>::new(), "{what}");
                    let against = verify_against(t, &f, model.iter().map(|(i, r)| (*i, r)));
                    assert_eq!(against.unwrap(), Vec::<String>::new(), "{what}");
                    for _ in 0..8 {
                        let q = random_query(&mut rng);
                        let words = words_of(&q);
                        for mode in [MatchMode::All, MatchMode::Any] {
                            let hits = search(t, &q, mode).unwrap();
                            let want = naive_search(&model, &f, &words, mode);
                            check(&hits, &want, &format!("{what} {q:?} {mode:?}"));
                        }
                    }
                });
            }
        }
    }
}
