import Foundation

/// What `QueryBuilder.execute()` returns (parity §2.5): one case per kind of query.
public enum QueryResult: Sendable {
    /// A plain query's records.
    case records([BlazeDataRecord])
    /// A join's rows.
    case joined([JoinedRecord])
    /// An ungrouped aggregation's one row.
    case aggregation(AggregationResult)
    /// A grouped aggregation's groups.
    case grouped(GroupedAggregationResult)
    /// Full-text hits (upstream's case; `search(_:in:)` returns them directly).
    case search([FullTextSearchResult])

    private func wrong(_ want: String) -> BlazeDBError {
        .invalidQuery(reason: "query result is not \(want)")
    }
    /// The records, or `.invalidQuery` for another kind.
    public var records: [BlazeDataRecord] { get throws { if case .records(let r) = self { return r }; throw wrong("records") } }
    /// The joined rows, or `.invalidQuery` for another kind.
    public var joined: [JoinedRecord] { get throws { if case .joined(let r) = self { return r }; throw wrong("joined records") } }
    /// The aggregation, or `.invalidQuery` for another kind.
    public var aggregation: AggregationResult { get throws { if case .aggregation(let r) = self { return r }; throw wrong("an aggregation") } }
    /// The groups, or `.invalidQuery` for another kind.
    public var grouped: GroupedAggregationResult { get throws { if case .grouped(let r) = self { return r }; throw wrong("a grouped aggregation") } }
    /// The hits, or `.invalidQuery` for another kind.
    public var searchResults: [FullTextSearchResult] { get throws { if case .search(let r) = self { return r }; throw wrong("search results") } }
    /// Rows of any kind (1 for an ungrouped aggregation).
    public var count: Int {
        switch self {
        case .records(let r): return r.count
        case .joined(let r): return r.count
        case .aggregation: return 1
        case .grouped(let g): return g.groups.count
        case .search(let r): return r.count
        }
    }
    /// Whether `count` is 0.
    public var isEmpty: Bool { count == 0 }
}
