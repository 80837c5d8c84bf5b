import Foundation
internal import BlazeDBBindings

/// Upstream's query builder (parity §2.5), run by the Rust core's query engine in one FFI call
/// (semantics: docs/QUERY.md, which are upstream's: a missing field fails every operator but
/// `notEquals` and `whereNil`; sorting puts missing values last; ties break by id, so pages
/// are deterministic).
///
/// Filters are ANDed, as upstream. Closure predicates (`where { ... }`) run in Swift on the
/// engine's filtered, sorted result, before offset and limit. Aggregation, `groupBy`,
/// `having` and `join` chain but make `execute()` throw `.notImplemented` until the core has
/// them; `search` throws likewise.
public final class QueryBuilder: @unchecked Sendable {
    private let client: BlazeDBClient
    private var filters: [QueryFilter] = []
    private var predicates: [(BlazeDataRecord) -> Bool] = []
    private var sorts: [SortKey] = []
    private var limitValue: Int?
    private var offsetValue: Int = 0
    private var unsupported: String?
    private var buildError: BlazeDBError?

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

    private func needs(_ feature: String) -> QueryBuilder {
        unsupported = unsupported ?? feature
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

    // MARK: Not implemented yet in the core (execute() throws)

    @discardableResult public func groupBy(_ fields: String...) -> QueryBuilder { needs("groupBy") }
    @discardableResult public func groupBy(_ fields: [String]) -> QueryBuilder { needs("groupBy") }
    @discardableResult public func aggregate(_ operations: [AggregationType]) -> QueryBuilder { needs("aggregation (aggregate)") }
    @discardableResult public func count(as alias: String? = nil) -> QueryBuilder { needs("aggregation (count(as:))") }
    @discardableResult public func sum(_ field: String, as alias: String? = nil) -> QueryBuilder { needs("aggregation (sum)") }
    @discardableResult public func avg(_ field: String, as alias: String? = nil) -> QueryBuilder { needs("aggregation (avg)") }
    @discardableResult public func min(_ field: String, as alias: String? = nil) -> QueryBuilder { needs("aggregation (min)") }
    @discardableResult public func max(_ field: String, as alias: String? = nil) -> QueryBuilder { needs("aggregation (max)") }
    @discardableResult public func having(_ predicate: @escaping (AggregationResult) -> Bool) -> QueryBuilder { needs("having") }
    @discardableResult public func join(_ other: BlazeDBClient, on foreignKey: String, equals primaryKey: String = "id", type: JoinType = .inner) -> QueryBuilder {
        needs("joins (query().join)")
    }

    public func search(_ query: String, in fields: [String], config: SearchConfig? = nil) throws -> [FullTextSearchResult] {
        throw notImplemented("full-text search (query().search(_:in:config:))")
    }
    public func searchSimple(_ query: String, in fields: [String]) throws -> [BlazeDataRecord] {
        throw notImplemented("full-text search (query().searchSimple(_:in:))")
    }

    // MARK: Running

    private func spec(offset: Int?, limit: Int?) throws -> QuerySpec {
        if let buildError { throw buildError }
        if let unsupported { throw notImplemented(unsupported) }
        guard (offset ?? 0) >= 0, (limit ?? 0) >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative")
        }
        return QuerySpec(
            collection: client.collection, filters: filters, orderBy: sorts,
            offset: offset.map(UInt64.init), limit: limit.map(UInt64.init))
    }

    private func run(offset: Int, limit: Int?) throws -> [BlazeDataRecord] {
        if predicates.isEmpty {
            let s = try spec(offset: offset, limit: limit)
            return try client.read { try $0.query(spec: s) }.map(BlazeDataRecord.init(ffi:))
        }
        guard offset >= 0, (limit ?? 0) >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative")
        }
        let s = try spec(offset: nil, limit: nil)
        let preds = predicates
        let matched = try client.read { try $0.query(spec: s) }.lazy
            .map(BlazeDataRecord.init(ffi:))
            .filter { r in preds.allSatisfy { $0(r) } }
            .dropFirst(offset)
        return limit.map { Array(matched.prefix($0)) } ?? Array(matched)
    }

    /// Runs the query: `.records` (aggregation, grouping and joins throw `.notImplemented`).
    public func execute() throws -> QueryResult { .records(try run(offset: offsetValue, limit: limitValue)) }
    /// As `execute()`; the engine keeps no result cache.
    public func execute(withCache ttl: TimeInterval) throws -> QueryResult { try execute() }
    public func all() throws -> [BlazeDataRecord] { try run(offset: offsetValue, limit: limitValue) }
    public func first() throws -> BlazeDataRecord? { try run(offset: offsetValue, limit: 1).first }
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
        guard page > 0, size > 0 else { throw BlazeDBError.invalidInput(reason: "Page must be >= 1 and size must be > 0") }
        return try run(offset: (page - 1) * size, limit: size)
    }

    public func execute() async throws -> QueryResult { try await offload { try self.execute() } }
    public func all() async throws -> [BlazeDataRecord] { try await offload { try self.all() } }
    public func first() async throws -> BlazeDataRecord? { try await offload { try self.first() } }
    public func exists() async throws -> Bool { try await offload { try self.exists() } }
    public func quickCount() async throws -> Int { try await offload { try self.quickCount() } }
}

extension BlazeDBClient {
    /// A query on this database's records.
    public func query() -> QueryBuilder { QueryBuilder(client: self) }
}
