import Foundation

// Upstream API whose engine feature has not landed in the Rust core yet (or is not wired
// yet). Every entry point exists with upstream's signature and throws
// `BlazeDBError.notImplemented(feature:)`; nothing here pretends to work. The data types
// (QueryResult, AggregationResult, JoinedRecord, ...) are complete. docs/BINDINGS.md lists
// what throws.

func notImplemented(_ feature: String) -> BlazeDBError {
    .notImplemented(feature: feature)
}

// MARK: - Query results, aggregation, joins, search (parity §2.5, §2.6)

public enum AggregationType: Sendable {
    case count(as: String?)
    case sum(String, as: String?)
    case avg(String, as: String?)
    case min(String, as: String?)
    case max(String, as: String?)
}

/// One aggregation row: keys `"count"`, `"sum_<f>"`, `"avg_<f>"`, … (upstream's naming).
public struct AggregationResult: Codable, Equatable, Sendable {
    public var values: [String: BlazeDocumentField]
    public init(values: [String: BlazeDocumentField] = [:]) { self.values = values }
    public subscript(key: String) -> BlazeDocumentField? { values[key] }
    public var count: Int? { values["count"]?.intValue }
    /// Upstream's quirk, kept: these read `values[field]` literally, so they are nil unless
    /// the aggregate was given `as: field`.
    public func sum(_ field: String) -> Double? { values[field]?.doubleValue }
    public func avg(_ field: String) -> Double? { values[field]?.doubleValue }
    public func min(_ field: String) -> BlazeDocumentField? { values[field] }
    public func max(_ field: String) -> BlazeDocumentField? { values[field] }
}

public struct GroupedAggregationResult: Codable, Equatable, Sendable {
    public var groups: [String: AggregationResult]
    public init(groups: [String: AggregationResult] = [:]) { self.groups = groups }
    public subscript(key: String) -> AggregationResult? { groups[key] }
    public var keys: [String] { Array(groups.keys) }
    public var totalCount: Int { groups.values.reduce(0) { $0 + ($1.count ?? 0) } }
}

public enum JoinType: Sendable { case inner, left, right, full }

public struct JoinedRecord: Equatable, Sendable {
    public let left: BlazeDataRecord
    public let right: BlazeDataRecord?
    public init(left: BlazeDataRecord, right: BlazeDataRecord?) { self.left = left; self.right = right }
    public subscript(key: String) -> BlazeDocumentField? { left[key] ?? right?[key] }
    public func leftField(_ key: String) -> BlazeDocumentField? { left[key] }
    public func rightField(_ key: String) -> BlazeDocumentField? { right?[key] }
    public var isComplete: Bool { right != nil }
    public func merged() -> BlazeDataRecord {
        BlazeDataRecord(left.storage.merging(right?.storage ?? [:]) { l, _ in l })
    }
}

public struct SearchConfig: Sendable {
    public var minWordLength: Int
    public var caseSensitive: Bool
    public var language: String?
    public var fields: [String]
    public init(minWordLength: Int = 2, caseSensitive: Bool = false, language: String? = nil, fields: [String] = []) {
        self.minWordLength = minWordLength
        self.caseSensitive = caseSensitive
        self.language = language
        self.fields = fields
    }
}

public struct FullTextSearchResult: Sendable {
    public let record: BlazeDataRecord
    public let score: Double
    public let matches: [String: [String]]
}

public typealias SearchResult = FullTextSearchResult

public enum QueryResult: Sendable {
    case records([BlazeDataRecord])
    case joined([JoinedRecord])
    case aggregation(AggregationResult)
    case grouped(GroupedAggregationResult)
    case search([FullTextSearchResult])

    private func wrong(_ want: String) -> BlazeDBError {
        .invalidQuery(reason: "query result is not \(want)")
    }
    public var records: [BlazeDataRecord] { get throws { if case .records(let r) = self { return r }; throw wrong("records") } }
    public var joined: [JoinedRecord] { get throws { if case .joined(let r) = self { return r }; throw wrong("joined records") } }
    public var aggregation: AggregationResult { get throws { if case .aggregation(let r) = self { return r }; throw wrong("an aggregation") } }
    public var grouped: GroupedAggregationResult { get throws { if case .grouped(let r) = self { return r }; throw wrong("a grouped aggregation") } }
    public var searchResults: [FullTextSearchResult] { get throws { if case .search(let r) = self { return r }; throw wrong("search results") } }
    public var count: Int {
        switch self {
        case .records(let r): return r.count
        case .joined(let r): return r.count
        case .aggregation: return 1
        case .grouped(let g): return g.groups.count
        case .search(let r): return r.count
        }
    }
    public var isEmpty: Bool { count == 0 }
}

// MARK: - Dumps, backup (parity §2.12)

public enum DumpFormatVersion: Int, Codable, Sendable { case v1 = 1 }

public struct DumpHeader: Codable, Sendable {
    public let formatVersion: DumpFormatVersion
    public let schemaVersion: SchemaVersion
    public let databaseId: UUID
    public let exportedAt: Date
    public let databaseName: String
    public let toolVersion: String?
}

public struct SchemaVersion: Codable, Comparable, CustomStringConvertible, Sendable {
    public let major: Int
    public let minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public static func < (a: SchemaVersion, b: SchemaVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    public var description: String { "\(major).\(minor)" }
    public func nextMinor() -> SchemaVersion { SchemaVersion(major: major, minor: minor + 1) }
    public func nextMajor() -> SchemaVersion { SchemaVersion(major: major + 1, minor: 0) }
}

public struct BlazeDBImporter {
    public static func restore(from dumpURL: URL, to db: BlazeDBClient, allowSchemaMismatch: Bool = false) throws {
        throw notImplemented("dump restore (BlazeDBImporter.restore)")
    }
    public static func verify(_ dumpURL: URL) throws -> DumpHeader {
        throw notImplemented("dump verification (BlazeDBImporter.verify)")
    }
}

public struct BackupStats: Codable, Sendable {
    public let fileCount: Int
    public let totalBytes: Int64
    public let duration: TimeInterval
}

// MARK: - Health and stats (parity §2.13)

public enum DatabaseHealth: String, Codable, Sendable {
    case ok = "OK"
    case warn = "WARN"
    case error = "ERROR"
}

public struct HealthReport: Codable, Sendable {
    public let status: DatabaseHealth
    public let reasons: [String]
    public let suggestedActions: [String]
    public var summary: String { "\(status.rawValue): " + (reasons.isEmpty ? "no issues" : reasons.joined(separator: "; ")) }
}

public struct DatabaseStats: Codable, Sendable {
    public let pageCount: Int
    public let walSize: Int64?
    public let lastCheckpoint: Date?
    public let cacheHitRate: Double
    public let cacheHitRateAvailable: Bool
    public let indexCount: Int
    public let recordCount: Int
    public let databaseSize: Int64
}

extension BlazeDBClient {
    // Aggregation-like, joins
    public func distinct(field: String) throws -> [BlazeDocumentField] { throw notImplemented("distinct(field:)") }
    public func join(with other: BlazeDBClient, on foreignKey: String, equals primaryKey: String = "id", type: JoinType = .inner) throws -> [JoinedRecord] {
        throw notImplemented("joins (join(with:on:equals:type:))")
    }

    // Indexes (parity §2.7)
    public func createIndex(on field: String) throws { throw notImplemented("secondary indexes (createIndex(on:))") }
    public func createIndex(on fields: [String]) throws { throw notImplemented("compound indexes (createIndex(on: [String]))") }
    public func createCompoundIndex(on fields: [String]) async throws { throw notImplemented("compound indexes (createCompoundIndex(on:))") }
    public func createUniqueIndex(on field: String) throws { throw notImplemented("unique indexes (createUniqueIndex(on:))") }
    public func createUniqueCompoundIndex(on fields: [String]) throws { throw notImplemented("unique compound indexes (createUniqueCompoundIndex(on:))") }
    public func createIndex(on field: String) async throws { throw notImplemented("secondary indexes (createIndex(on:))") }

    // Export, backup, restore (parity §2.12)
    public func export(to url: URL) throws { throw notImplemented("dump export (export(to:))") }
    public func export(to url: URL) async throws { throw notImplemented("dump export (export(to:))") }
    public func backup(to url: URL) throws -> BackupStats { throw notImplemented("file backup (backup(to:))") }
    public func restore(from url: URL) throws { throw notImplemented("file restore (restore(from:))") }

    // Health and stats (parity §2.13)
    public func health() throws -> HealthReport { throw notImplemented("health()") }
    public func stats() throws -> DatabaseStats { throw notImplemented("stats()") }
}
