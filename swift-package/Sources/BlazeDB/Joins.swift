import Foundation
internal import BlazeDBBindings

// Joins (parity §2.6), run by the Rust core in one FFI call: an equi-join of this client's
// records with another client's (another database file) or its own (docs/QUERY.md,
// "Joins"). Keys match with the filters' equality, so a string foreign key matches a uuid
// primary key, as upstream; a missing or null key never matches. Rows come in the core's
// order: matched and unmatched left records by left id, then unmatched right records.

/// Which rows a join keeps: matched pairs only (`inner`), plus unmatched left records
/// (`left`), plus unmatched right records (`right`), or both (`full`).
public enum JoinType: Sendable { case inner, left, right, full }

/// One joined row. `right` is nil for a left record that matched nothing (left and full
/// joins); `left` is empty for a right record that matched nothing (right and full joins),
/// as upstream.
public struct JoinedRecord: Equatable, Sendable {
    /// The left record (empty for an unmatched right record).
    public let left: BlazeDataRecord
    /// The right record (nil for an unmatched left record).
    public let right: BlazeDataRecord?
    /// A row of these two records.
    public init(left: BlazeDataRecord, right: BlazeDataRecord?) { self.left = left; self.right = right }
    /// The left record's field, else the right one's.
    public subscript(key: String) -> BlazeDocumentField? { left[key] ?? right?[key] }
    /// The left record's field.
    public func leftField(_ key: String) -> BlazeDocumentField? { left[key] }
    /// The right record's field.
    public func rightField(_ key: String) -> BlazeDocumentField? { right?[key] }
    /// Whether the row has a right record.
    public var isComplete: Bool { right != nil }
    /// Both records' fields in one record; the left one wins where both have a field.
    public func merged() -> BlazeDataRecord {
        BlazeDataRecord(left.storage.merging(right?.storage ?? [:]) { l, _ in l })
    }
}

/// A pending `QueryBuilder.join`.
struct JoinPlan {
    let other: BlazeDBClient
    let foreignKey: String
    let primaryKey: String
    let type: JoinType
}

extension JoinType {
    var ffi: JoinKind {
        switch self {
        case .inner: return .inner
        case .left: return .left
        case .right: return .right
        case .full: return .full
        }
    }
}

extension BlazeDBClient {
    /// Joins `left`'s matches with every record of `other` (or of this database when it is
    /// this client), on `left[foreignKey] == right[primaryKey]`.
    func join(
        leftFilters: [QueryFilter], other: BlazeDBClient, foreignKey: String, primaryKey: String,
        type: JoinType, offset: Int?, limit: Int?
    ) throws -> [JoinedRecord] {
        guard (offset ?? 0) >= 0, (limit ?? 0) >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative")
        }
        let spec = JoinSpec(
            leftCollection: collection, leftFilters: leftFilters, leftField: foreignKey,
            rightCollection: other.collection, rightFilters: [], rightField: primaryKey,
            kind: type.ffi, offset: offset.map(UInt64.init), limit: limit.map(UInt64.init))
        let right: BlazeDBBindings.Database? = other === self ? nil : other.db
        if let right, right.isClosed() { throw other.closedError() }
        return try map { try db.join(spec: spec, right: right) }.map { pair in
            JoinedRecord(
                left: pair.left.map(BlazeDataRecord.init(ffi:)) ?? BlazeDataRecord([:]),
                right: pair.right.map(BlazeDataRecord.init(ffi:)))
        }
    }

    /// Joins every record of this database with the records of `other`, on
    /// `left[foreignKey] == right[primaryKey]` (`"id"` is the record id). Both sides are read
    /// on their last commit.
    public func join(with other: BlazeDBClient, on foreignKey: String, equals primaryKey: String = "id", type: JoinType = .inner) throws -> [JoinedRecord] {
        try join(leftFilters: [], other: other, foreignKey: foreignKey, primaryKey: primaryKey, type: type, offset: nil, limit: nil)
    }
}

extension QueryBuilder {
    /// Joins this query's matches with `other`'s records; `execute()` returns `.joined`.
    /// Offset and limit apply to the joined rows; closure predicates drop the joined rows
    /// whose left record fails them (unmatched right rows stay); `orderBy` is refused (`.invalidQuery`) since the
    /// core returns joined rows in its own deterministic order.
    @discardableResult public func join(_ other: BlazeDBClient, on foreignKey: String, equals primaryKey: String = "id", type: JoinType = .inner) -> QueryBuilder {
        joinPlan = JoinPlan(other: other, foreignKey: foreignKey, primaryKey: primaryKey, type: type)
        return self
    }

    func runJoin(_ plan: JoinPlan) throws -> [JoinedRecord] {
        if let buildError { throw buildError }
        guard sorts.isEmpty else {
            throw BlazeDBError.invalidQuery(reason: "orderBy does not apply to joins", suggestion: "sort the joined records in Swift")
        }
        if predicates.isEmpty {
            return try client.join(
                leftFilters: filters, other: plan.other, foreignKey: plan.foreignKey,
                primaryKey: plan.primaryKey, type: plan.type, offset: offsetValue, limit: limitValue)
        }
        guard offsetValue >= 0, (limitValue ?? 0) >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative")
        }
        let preds = predicates
        let rows = try client.join(
            leftFilters: filters, other: plan.other, foreignKey: plan.foreignKey,
            primaryKey: plan.primaryKey, type: plan.type, offset: nil, limit: nil
        ).lazy.filter { row in row.left.storage.isEmpty || preds.allSatisfy { $0(row.left) } }.dropFirst(offsetValue)
        return limitValue.map { Array(rows.prefix($0)) } ?? Array(rows)
    }
}
