import Foundation
internal import BlazeDBBindings

// Full-text search (parity §2.6) on the Rust core's full-text indexes: a Unicode
// tokenizer, BM25 ranking and prefix words (`embed*`); docs/QUERY.md, "Full-text search".
// Upstream searched an inverted index on Apple when one was enabled, and otherwise (always
// on Linux) scanned for substrings with a score of 1. Here `search` always uses an index:
// the first search over a set of fields creates a full-text index on exactly those fields
// (named `fts:<fields joined by +>`), which the core keeps up to date from then on.

public struct SearchConfig: Sendable {
    /// Query words shorter than this are dropped (upstream's tokenizer rule).
    public var minWordLength: Int
    /// Not supported: the index folds case. `true` throws `.notImplemented`.
    public var caseSensitive: Bool
    /// Ignored: the tokenizer follows Unicode word boundaries for every language.
    public var language: String?
    /// The fields to search when `search(_:in:config:)` is given none.
    public var fields: [String]
    /// Upstream's defaults: words of 2 characters or more, case-insensitive.
    public init(minWordLength: Int = 2, caseSensitive: Bool = false, language: String? = nil, fields: [String] = []) {
        self.minWordLength = minWordLength
        self.caseSensitive = caseSensitive
        self.language = language
        self.fields = fields
    }
}

/// One hit, best first. `score` is the BM25 relevance (higher is better, comparable only
/// within one search); `matches` maps each searched field that holds a matched word to
/// those words, folded as the index stores them (lowercase, without diacritics).
public struct FullTextSearchResult: Sendable {
    /// The matching record.
    public let record: BlazeDataRecord
    /// Its BM25 relevance.
    public let score: Double
    /// Searched field to the matched words it holds.
    public let matches: [String: [String]]
}

/// Upstream's other name for `FullTextSearchResult`.
public typealias SearchResult = FullTextSearchResult

extension BlazeDBClient {
    /// The name of the full-text index over exactly `fields`, created if there is none.
    func fullTextIndex(on fields: [String]) throws -> String {
        try write { store in
            let wanted = Set(fields)
            if let found = try store.indexes(collection: collection).first(where: {
                $0.kind == .fullText && Set($0.fields) == wanted
            }) {
                return found.name
            }
            let def = IndexDef(fields: fields, unique: false, fullText: true, name: nil)
            return try store.createIndex(collection: collection, def: def).name
        }
    }
}

extension QueryBuilder {
    /// Records holding every word of `query` in `fields`, ranked by relevance; a trailing
    /// `*` makes a word a prefix. The builder's field filters, offset and limit apply to
    /// the hits (after ranking), closure predicates too. Sees the open transaction.
    public func search(_ query: String, in fields: [String], config: SearchConfig? = nil) throws -> [FullTextSearchResult] {
        try client.ensureNotClosed()
        if let buildError { throw buildError }
        let config = config ?? SearchConfig()
        if config.caseSensitive { throw notImplemented("case-sensitive full-text search (SearchConfig.caseSensitive)") }
        let fields = fields.isEmpty ? config.fields : fields
        guard !fields.isEmpty else { throw BlazeDBError.invalidInput(reason: "search needs at least one field") }
        guard offsetValue >= 0, (limitValue ?? 0) >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative")
        }
        let words = query.split(whereSeparator: \.isWhitespace).filter { w in
            (w.hasSuffix("*") ? w.dropLast() : w[...]).count >= config.minWordLength
        }
        if words.isEmpty { return [] }
        let index = try client.fullTextIndex(on: fields)
        let pushDown = predicates.isEmpty
        let spec = SearchSpec(
            collection: client.collection, text: words.joined(separator: " "), index: index,
            filters: filters, matchAny: false, fields: fields,
            offset: pushDown ? UInt64(offsetValue) : nil,
            limit: pushDown ? limitValue.map(UInt64.init) : nil)
        let hits = try client.read { try $0.search(spec: spec) }.lazy.map { h in
            FullTextSearchResult(record: BlazeDataRecord(ffi: h.record), score: h.score, matches: h.fieldMatches)
        }
        if pushDown { return Array(hits) }
        let preds = predicates
        let kept = hits.filter { r in preds.allSatisfy { $0(r.record) } }.dropFirst(offsetValue)
        return limitValue.map { Array(kept.prefix($0)) } ?? Array(kept)
    }

    /// The records of `search(_:in:)`, best first.
    public func searchSimple(_ query: String, in fields: [String]) throws -> [BlazeDataRecord] {
        try search(query, in: fields).map(\.record)
    }
}
