import Foundation
internal import BlazeDBBindings

/// Upstream's query builder (parity §2.5), run by the Rust core's query engine in one FFI call
/// (semantics: docs/QUERY.md, which are upstream's: a missing field fails every operator but
/// `notEquals` and `whereNil`; sorting puts missing values last; ties break by id, so pages
/// are deterministic).
///
/// Filters are ANDed, as upstream. Closure predicates (`where { ... }`) run in Swift on the
/// engine's filtered, sorted result, before offset and limit. Aggregation and `groupBy`
/// (Aggregation.swift), joins (Joins.swift) and full-text search (Search.swift) run in the
/// core too, each in one FFI call. `execute()` picks the kind as upstream did: grouped, then
/// aggregation, then joined, then records.
public final class QueryBuilder: @unchecked Sendable {
    let client: BlazeDBClient
    var filters: [QueryFilter] = []
    var predicates: [(BlazeDataRecord) -> Bool] = []
    var sorts: [SortKey] = []
    var limitValue: Int?
    var offsetValue: Int = 0
    var buildError: BlazeDBError?
    var groupFields: [String] = []
    var aggregations: [AggregationType] = []
    var havingPredicates: [(AggregationResult) -> Bool] = []
    var joinPlan: JoinPlan?

    init(client: BlazeDBClient) { self.client = client }

    private func add(_ field: String, _ value: BlazeDocumentField, _ make: (String, BlazeValue) -> QueryFilter) -> QueryBuilder {
        do {
            filters.append(make(field, try value.toFFI(field: field)))
        } catch let e as BlazeDBError {
            buildError = buildError ?? e
        } catch {
            buildError = buildError ?? .invalidQuery(reason: "\(error)")
        }
        return self
    }

    // MARK: Filters

    @discardableResult public func `where`(_ field: String, equals value: BlazeDocumentField) -> QueryBuilder {
        add(field, value) { .eq(field: $0, value: $1) }
    }
    @discardableResult public func `where`(_ field: String, notEquals value: BlazeDocumentField) -> QueryBuilder {
        add(field, value) { .ne(field: $0, value: $1) }
    }
    @discardableResult public func `where`(_ field: String, greaterThan value: BlazeDocumentField) -> QueryBuilder {
        add(field, value) { .gt(field: $0, value: $1) }
    }
    @discardableResult public func `where`(_ field: String, lessThan value: BlazeDocumentField) -> QueryBuilder {
        add(field, value) { .lt(field: $0, value: $1) }
    }
    @discardableResult public func `where`(_ field: String, greaterThanOrEqual value: BlazeDocumentField) -> QueryBuilder {
        add(field, value) { .gte(field: $0, value: $1) }
    }
    @discardableResult public func `where`(_ field: String, lessThanOrEqual value: BlazeDocumentField) -> QueryBuilder {
        add(field, value) { .lte(field: $0, value: $1) }
    }
    /// A string field containing `substring` (case-sensitive).
    @discardableResult public func `where`(_ field: String, contains substring: String) -> QueryBuilder {
        filters.append(.contains(field: field, substring: substring))
        return self
    }
    @discardableResult public func `where`(_ field: String, in values: [BlazeDocumentField]) -> QueryBuilder {
        do {
            filters.append(.in(field: field, values: try values.map { try $0.toFFI(field: field) }))
        } catch let e as BlazeDBError {
            buildError = buildError ?? e
        } catch {
            buildError = buildError ?? .invalidQuery(reason: "\(error)")
        }
        return self
    }
    /// The field is absent (a stored `.null` is present, as upstream).
    @discardableResult public func whereNil(_ field: String) -> QueryBuilder {
        filters.append(.isNil(field: field))
        return self
    }
    @discardableResult public func whereNotNil(_ field: String) -> QueryBuilder {
        filters.append(.notNil(field: field))
        return self
    }
    /// A Swift predicate, run on the engine's result before offset and limit.
    @discardableResult public func `where`(_ predicate: @escaping (BlazeDataRecord) -> Bool) -> QueryBuilder {
        predicates.append(predicate)
        return self
    }

    // Upstream's typed sugar.
    @discardableResult public func `where`(_ field: String, equals value: String) -> QueryBuilder { `where`(field, equals: .string(value)) }
    @discardableResult public func `where`(_ field: String, equals value: Int) -> QueryBuilder { `where`(field, equals: .int(value)) }
    @discardableResult public func `where`(_ field: String, equals value: Double) -> QueryBuilder { `where`(field, equals: .double(value)) }
    @discardableResult public func `where`(_ field: String, equals value: Bool) -> QueryBuilder { `where`(field, equals: .bool(value)) }
    @discardableResult public func `where`(_ field: String, equals value: Date) -> QueryBuilder { `where`(field, equals: .date(value)) }
    @discardableResult public func `where`(_ field: String, equals value: UUID) -> QueryBuilder { `where`(field, equals: .uuid(value)) }
    @discardableResult public func `where`(_ field: String, greaterThan value: Int) -> QueryBuilder { `where`(field, greaterThan: .int(value)) }
    @discardableResult public func `where`(_ field: String, greaterThan value: Double) -> QueryBuilder { `where`(field, greaterThan: .double(value)) }
    @discardableResult public func `where`(_ field: String, greaterThan value: Date) -> QueryBuilder { `where`(field, greaterThan: .date(value)) }
    @discardableResult public func `where`(_ field: String, lessThan value: Int) -> QueryBuilder { `where`(field, lessThan: .int(value)) }
    @discardableResult public func `where`(_ field: String, lessThan value: Double) -> QueryBuilder { `where`(field, lessThan: .double(value)) }
    @discardableResult public func `where`(_ field: String, lessThan value: Date) -> QueryBuilder { `where`(field, lessThan: .date(value)) }
    @discardableResult public func `where`(_ field: String, notEquals value: String) -> QueryBuilder { `where`(field, notEquals: .string(value)) }
    @discardableResult public func `where`(_ field: String, notEquals value: Int) -> QueryBuilder { `where`(field, notEquals: .int(value)) }
    @discardableResult public func `where`(_ field: String, notEquals value: Bool) -> QueryBuilder { `where`(field, notEquals: .bool(value)) }

    // MARK: Sorting and paging

    /// Adds a sort key; several calls sort by each in turn.
    @discardableResult public func orderBy(_ field: String, descending: Bool = false) -> QueryBuilder {
        sorts.append(SortKey(field: field, descending: descending))
        return self
    }
    @discardableResult public func orderBy(_ fields: [(String, Bool)]) -> QueryBuilder {
        sorts += fields.map { SortKey(field: $0.0, descending: $0.1) }
        return self
    }
    @discardableResult public func limit(_ count: Int) -> QueryBuilder {
        limitValue = count
        return self
    }
    @discardableResult public func offset(_ count: Int) -> QueryBuilder {
        offsetValue = count
        return self
    }

    // MARK: Running

    func spec(offset: Int?, limit: Int?) throws -> QuerySpec {
        if let buildError { throw buildError }
        guard (offset ?? 0) >= 0, (limit ?? 0) >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative")
        }
        return QuerySpec(
            collection: client.collection, filters: filters, orderBy: sorts,
            offset: offset.map(UInt64.init), limit: limit.map(UInt64.init))
    }

    func run(offset: Int, limit: Int?) throws -> [BlazeDataRecord] {
        if predicates.isEmpty {
            let s = try spec(offset: offset, limit: limit)
            return try PackedRecords.records(client.read { try $0.queryPacked(spec: s) })
        }
        guard offset >= 0, (limit ?? 0) >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative")
        }
        let s = try spec(offset: nil, limit: nil)
        let preds = predicates
        let matched = try PackedRecords.records(client.read { try $0.queryPacked(spec: s) }).lazy
            .filter { r in preds.allSatisfy { $0(r) } }
            .dropFirst(offset)
        return limit.map { Array(matched.prefix($0)) } ?? Array(matched)
    }

    /// Runs the query. Upstream's choice of result: `.grouped` when `groupBy` was called,
    /// else `.aggregation` when an aggregate was, else `.joined` after `join`, else
    /// `.records`.
    public func execute() throws -> QueryResult {
        if !groupFields.isEmpty { return .grouped(try runGrouped()) }
        if !aggregations.isEmpty { return .aggregation(try runAggregation()) }
        if let joinPlan { return .joined(try runJoin(joinPlan)) }
        return .records(try run(offset: offsetValue, limit: limitValue))
    }
    /// As `execute()`; the engine keeps no result cache.
    public func execute(withCache ttl: TimeInterval) throws -> QueryResult { try execute() }
    /// The matching records; throws `.invalidQuery` after `groupBy`, an aggregate or `join`
    /// (their results are not records: use `execute()`).
    public func all() throws -> [BlazeDataRecord] {
        try ensurePlainQuery()
        return try run(offset: offsetValue, limit: limitValue)
    }
    public func first() throws -> BlazeDataRecord? {
        try ensurePlainQuery()
        return try run(offset: offsetValue, limit: 1).first
    }
    public func exists() throws -> Bool { try first() != nil }
    /// Number of matches, ignoring offset and limit.
    public func quickCount() throws -> Int {
        if predicates.isEmpty {
            let s = try spec(offset: nil, limit: nil)
            return Int(try client.read { try $0.queryCount(spec: s) })
        }
        return try run(offset: 0, limit: nil).count
    }
    /// Page `page` (from 1) of `size` matches.
    public func page(_ page: Int, size: Int) throws -> [BlazeDataRecord] {
        try ensurePlainQuery()
        guard page > 0, size > 0 else { throw BlazeDBError.invalidInput(reason: "Page must be >= 1 and size must be > 0") }
        return try run(offset: (page - 1) * size, limit: size)
    }

    public func execute() async throws -> QueryResult { try await offload { try self.execute() } }
    public func all() async throws -> [BlazeDataRecord] { try await offload { try self.all() } }
    public func first() async throws -> BlazeDataRecord? { try await offload { try self.first() } }
    public func exists() async throws -> Bool { try await offload { try self.exists() } }
    public func quickCount() async throws -> Int { try await offload { try self.quickCount() } }

    private func ensurePlainQuery() throws {
        if !groupFields.isEmpty || !aggregations.isEmpty || joinPlan != nil {
            throw BlazeDBError.invalidQuery(reason: "query result is not records", suggestion: "use execute() after groupBy, an aggregate or join")
        }
    }
}

extension BlazeDBClient {
    /// A query on this database's records.
    public func query() -> QueryBuilder { QueryBuilder(client: self) }
}
