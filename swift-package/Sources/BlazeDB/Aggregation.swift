import Foundation
internal import BlazeDBBindings

// Aggregation, group-by, having and distinct (parity §2.6), computed by the Rust core's
// aggregation engine in one FFI call (docs/QUERY.md, "Aggregation"). What Swift adds is
// upstream's shape of the result: key names, value types and "+"-joined group keys.
//
// Aggregations, joins and distinct read the last commit: inside an open transaction they do
// not see its uncommitted writes (queries and search do).

/// One aggregate of `QueryBuilder.aggregate(_:)`; `as:` names its key in the result.
public enum AggregationType: Sendable {
    /// The number of matching records in the group.
    case count(as: String?)
    /// The sum of a numeric field (a `.double`).
    case sum(String, as: String?)
    /// The mean of a numeric field (a `.double`).
    case avg(String, as: String?)
    /// The smallest value of a field, in the core's sort order.
    case min(String, as: String?)
    /// The largest value of a field, in the core's sort order.
    case max(String, as: String?)

    /// Upstream's key: the alias, else `count`, `sum_<f>`, `avg_<f>`, `min_<f>`, `max_<f>`.
    var key: String {
        switch self {
        case .count(let a): return a ?? "count"
        case .sum(let f, let a): return a ?? "sum_\(f)"
        case .avg(let f, let a): return a ?? "avg_\(f)"
        case .min(let f, let a): return a ?? "min_\(f)"
        case .max(let f, let a): return a ?? "max_\(f)"
        }
    }

    var op: AggregateOp {
        switch self {
        case .count: return AggregateOp(kind: .count, field: nil, alias: key)
        case .sum(let f, _): return AggregateOp(kind: .sum, field: f, alias: key)
        case .avg(let f, _): return AggregateOp(kind: .avg, field: f, alias: key)
        case .min(let f, _): return AggregateOp(kind: .min, field: f, alias: key)
        case .max(let f, _): return AggregateOp(kind: .max, field: f, alias: key)
        }
    }
}

/// One aggregation row: keys `"count"`, `"sum_<f>"`, `"avg_<f>"`, … (upstream's naming), or
/// the `as:` alias. Values have upstream's types: `count` an `.int`, `sum` and `avg` a
/// `.double` (0 over no values), `min`/`max` the field's own value (absent over none).
public struct AggregationResult: Codable, Equatable, Sendable {
    /// Each aggregate's value under its key.
    public var values: [String: BlazeDocumentField]
    /// A result holding `values`.
    public init(values: [String: BlazeDocumentField] = [:]) { self.values = values }
    /// The value under `key` (`"count"`, `"sum_<f>"`, ... or an alias).
    public subscript(key: String) -> BlazeDocumentField? {
        get { values[key] }
        set { values[key] = newValue }
    }
    /// The value of an unaliased `count()`.
    public var count: Int? { values["count"]?.intValue }
    /// Upstream's quirk, kept: these read `values[field]` literally, so they are nil unless
    /// the aggregate was given `as: field`.
    public func sum(_ field: String) -> Double? { values[field]?.doubleValue }
    public func avg(_ field: String) -> Double? { values[field]?.doubleValue }
    public func min(_ field: String) -> BlazeDocumentField? { values[field] }
    public func max(_ field: String) -> BlazeDocumentField? { values[field] }
}

/// Groups by key: each group-by field's value as text (`"null"` when missing), joined with
/// `"+"`, as upstream. Two groups whose keys print alike (the int `3` and the string `"3"`)
/// would share a key; the later one wins, where upstream merged their records.
public struct GroupedAggregationResult: Codable, Equatable, Sendable {
    /// Each group's aggregates under its key.
    public var groups: [String: AggregationResult]
    /// A result holding `groups`.
    public init(groups: [String: AggregationResult] = [:]) { self.groups = groups }
    /// The group whose key is `key`.
    public subscript(key: String) -> AggregationResult? {
        get { groups[key] }
        set { groups[key] = newValue }
    }
    /// Every group key, in no particular order (as upstream's dictionary).
    public var keys: [String] { Array(groups.keys) }
    /// The unaliased `count` summed over the groups.
    public var totalCount: Int { groups.values.reduce(0) { $0 + ($1.count ?? 0) } }
}

extension QueryBuilder {
    /// Groups the matches by these fields; `execute()` then returns `.grouped`.
    @discardableResult public func groupBy(_ fields: String...) -> QueryBuilder { groupBy(fields) }
    /// Groups the matches by these fields; `execute()` then returns `.grouped`.
    @discardableResult public func groupBy(_ fields: [String]) -> QueryBuilder {
        groupFields += fields
        return self
    }
    /// Adds aggregates; `execute()` then returns `.aggregation` (or `.grouped`). A repeated
    /// key keeps the last one, as upstream's dictionary did.
    @discardableResult public func aggregate(_ operations: [AggregationType]) -> QueryBuilder {
        aggregations += operations
        return self
    }
    /// Adds `.count(as:)`.
    @discardableResult public func count(as alias: String? = nil) -> QueryBuilder { aggregate([.count(as: alias)]) }
    /// Adds `.sum(_:as:)`.
    @discardableResult public func sum(_ field: String, as alias: String? = nil) -> QueryBuilder { aggregate([.sum(field, as: alias)]) }
    /// Adds `.avg(_:as:)`.
    @discardableResult public func avg(_ field: String, as alias: String? = nil) -> QueryBuilder { aggregate([.avg(field, as: alias)]) }
    /// Adds `.min(_:as:)`.
    @discardableResult public func min(_ field: String, as alias: String? = nil) -> QueryBuilder { aggregate([.min(field, as: alias)]) }
    /// Adds `.max(_:as:)`.
    @discardableResult public func max(_ field: String, as alias: String? = nil) -> QueryBuilder { aggregate([.max(field, as: alias)]) }
    /// Keeps the groups (or the one ungrouped row) for which `predicate` holds; it runs in
    /// Swift on each result row.
    @discardableResult public func having(_ predicate: @escaping (AggregationResult) -> Bool) -> QueryBuilder {
        havingPredicates.append(predicate)
        return self
    }

    /// The core's rows for this builder's filters, group-by fields and aggregates. Sort
    /// keys, offset and limit do not apply to aggregations (as upstream, whose aggregation
    /// read every match); closure predicates cannot run in the core's engine.
    private func aggregateRows() throws -> [[String: BlazeValue]] {
        if let buildError { throw buildError }
        guard predicates.isEmpty else {
            throw BlazeDBError.invalidQuery(
                reason: "closure predicates (where { ... }) cannot be combined with groupBy or aggregates",
                suggestion: "use the field filters (where(_:equals:) ...)")
        }
        // Upstream overwrote a repeated key; the core refuses a repeated alias, so keep the
        // last operation of each key.
        var ops: [AggregateOp] = []
        for a in aggregations {
            let op = a.op
            ops.removeAll { $0.alias == op.alias }
            ops.append(op)
        }
        let spec = AggregateSpec(
            collection: client.collection, filters: filters, groupBy: groupFields,
            aggregates: ops, having: [], orderBy: [], offset: nil, limit: nil)
        return try client.map { try client.db.aggregate(spec: spec) }
    }

    private func result(_ row: [String: BlazeValue]) -> AggregationResult {
        var values: [String: BlazeDocumentField] = [:]
        for a in aggregations {
            let key = a.key
            guard let v = row[key] else { continue }
            let field = BlazeDocumentField(ffi: v)
            switch a {
            case .count:
                values[key] = field
            case .sum, .avg:
                // Upstream's sums and averages are doubles, 0 over nothing.
                values[key] = .double(field.doubleValue ?? 0)
            case .min, .max:
                if field != .null { values[key] = field }
            }
        }
        return AggregationResult(values: values)
    }

    func runAggregation() throws -> AggregationResult {
        let rows = try aggregateRows()
        let r = rows.first.map { result($0) } ?? AggregationResult()
        return havingPredicates.allSatisfy({ $0(r) }) ? r : AggregationResult()
    }

    func runGrouped() throws -> GroupedAggregationResult {
        var groups: [String: AggregationResult] = [:]
        for row in try aggregateRows() {
            let r = result(row)
            guard havingPredicates.allSatisfy({ $0(r) }) else { continue }
            let key = groupFields.map { f in
                row[f].map { groupKeyText(BlazeDocumentField(ffi: $0)) } ?? "null"
            }.joined(separator: "+")
            groups[key] = r
        }
        return GroupedAggregationResult(groups: groups)
    }
}

/// Upstream's text of a group-by value.
private func groupKeyText(_ field: BlazeDocumentField) -> String {
    switch field {
    case .string(let v): return v
    case .int(let v): return String(v)
    case .double(let v): return String(v)
    case .bool(let v): return v ? "true" : "false"
    case .date(let v): return ISO8601DateFormatter().string(from: v)
    case .uuid(let v): return v.uuidString
    case .data(let v): return "data:" + v.base64EncodedString()
    case .array: return "array"
    case .dictionary: return "dict"
    case .vector: return "vector"
    case .null: return "null"
    }
}

extension BlazeDBClient {
    /// The distinct values of `field` among the live records, in the core's sort order
    /// (upstream's came in no order). `3` and `3.0` count as one value. Records without the
    /// field are skipped, as upstream; a stored `.null` is skipped too.
    public func distinct(field: String) throws -> [BlazeDocumentField] {
        let spec = QuerySpec(collection: collection, filters: [], orderBy: [], offset: nil, limit: nil)
        return try map { try db.distinct(spec: spec, field: field) }
            .map(BlazeDocumentField.init(ffi:))
            .filter { $0 != .null }
    }

    /// The stored schema version; nil for a database that never had one.
    public func getSchemaVersion() throws -> SchemaVersion? {
        try read { try $0.schemaVersion() }.map { SchemaVersion(major: Int($0.major), minor: Int($0.minor)) }
    }

    /// Stores the schema version (inside the open transaction, if there is one).
    public func setSchemaVersion(_ version: SchemaVersion) throws {
        let v = StoredSchemaVersion(major: Int64(version.major), minor: Int64(version.minor))
        try write { try $0.setSchemaVersion(version: v) }
    }
}
