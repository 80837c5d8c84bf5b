import Foundation

// Typed models (parity §2.4) with upstream's Codable mapping, so that a model stored here has
// the same fields as one stored by upstream:
//
// * encode: `JSONEncoder` with `.iso8601` dates, then the JSON object's members become
//   fields: strings `.string` (so dates are ISO-8601 text without fractional seconds, UUIDs
//   their uppercase text, `Data` base64 text), booleans `.bool`, integral numbers `.int`,
//   other numbers `.double`, arrays `.array`, objects `.dictionary`; plus
//   `_blazeKind = String(describing: T.self).lowercased()`. The core stores `id` as `.uuid`.
// * decode: the reverse (`.date` becomes ISO-8601 text, `.uuid` its text, `.data` base64,
//   `.vector` numbers), then `JSONDecoder` with `.iso8601`. Strings are literal; if that
//   fails, a second pass reads `.string` fields holding JSON as JSON (data written before
//   upstream's issue #80 fix stored nested objects that way).
// * `fetchAll(T.self)` keeps upstream's rule: rows that do not decode as `T` are skipped (one
//   file holds several model types, told apart only by decoding).

/// Upstream's typed-model protocol: any `Codable` value with a `UUID` id.
public protocol BlazeStorable: Codable, Identifiable where ID == UUID {
    var id: UUID { get set }
}

/// The `_blazeKind` field that tags a typed model's records with its namespace.
public enum BlazeRecordKind {
    public static let storageKey = "_blazeKind"

    public static func normalizedName(for type: Any.Type) -> String {
        String(describing: type).lowercased()
    }

    public static func recordMatchesNamespace(_ record: BlazeDataRecord, normalizedNamespace norm: String) -> Bool {
        record.storage[storageKey]?.stringValue?.lowercased() == norm
    }
}

enum TypedMapping {
    static func field(fromJSON value: Any) throws -> BlazeDocumentField {
        if let s = value as? String { return .string(s) }
        if let n = value as? NSNumber {
            if isBoolean(n) { return .bool(n.boolValue) }
            if let i = Int(n.stringValue) { return .int(i) }
            let d = n.doubleValue
            if d.isFinite, d.rounded(.towardZero) == d, let i = Int(exactly: d) { return .int(i) }
            return .double(d)
        }
        if let a = value as? [Any] { return .array(try a.map(field(fromJSON:))) }
        if let o = value as? [String: Any] { return .dictionary(try o.mapValues(field(fromJSON:))) }
        throw BlazeDBError.invalidData(reason: "Unsupported type during Codable conversion: \(type(of: value))")
    }

    /// JSONSerialization hands booleans back as NSNumber; tell them apart from 0 and 1.
    /// (JSON numbers come back as 64-bit integers or doubles, never as `char`, so on Linux,
    /// where CoreFoundation is not importable, the `char` type code identifies a boolean.)
    private static func isBoolean(_ n: NSNumber) -> Bool {
        #if canImport(Darwin)
        return CFGetTypeID(n) == CFBooleanGetTypeID()
        #else
        return String(cString: n.objCType) == "c"
        #endif
    }

    static func json(from field: BlazeDocumentField, legacyStrings: Bool) -> Any {
        switch field {
        case .string(let s):
            if legacyStrings, let data = s.data(using: .utf8),
               let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
               parsed is [Any] || parsed is [String: Any] {
                return parsed
            }
            return s
        case .int(let i): return i
        case .double(let d): return d
        case .bool(let b): return b
        case .date(let d): return ISO8601DateFormatter().string(from: d)
        case .uuid(let u): return u.uuidString
        case .data(let d): return d.base64EncodedString()
        case .array(let a): return a.map { json(from: $0, legacyStrings: legacyStrings) }
        case .dictionary(let d): return d.mapValues { json(from: $0, legacyStrings: legacyStrings) }
        case .vector(let v): return v
        case .null: return NSNull()
        }
    }
}

extension BlazeStorable {
    func toBlazeRecord() throws -> BlazeDataRecord {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(self)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BlazeDBError.invalidData(reason: "Failed to convert Codable to JSON")
        }
        var storage = try object.mapValues(TypedMapping.field(fromJSON:))
        storage[BlazeRecordKind.storageKey] = .string(BlazeRecordKind.normalizedName(for: Self.self))
        return BlazeDataRecord(storage)
    }

    static func fromBlazeRecord(_ record: BlazeDataRecord) throws -> Self {
        if let v = try? decode(record, legacyStrings: false) { return v }
        return try decode(record, legacyStrings: true)
    }

    private static func decode(_ record: BlazeDataRecord, legacyStrings: Bool) throws -> Self {
        let object = record.storage.mapValues { TypedMapping.json(from: $0, legacyStrings: legacyStrings) }
        let data = try JSONSerialization.data(withJSONObject: object)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(Self.self, from: data)
    }
}

/// `get` keys: a UUID, or `namespace:UUID`.
private func parseRecordKey(_ key: String) throws -> (namespace: String?, id: UUID) {
    let trimmed = key.trimmingCharacters(in: .whitespacesAndNewlines)
    if trimmed.isEmpty { throw BlazeDBError.invalidInput(reason: "Record key cannot be empty") }
    if let u = UUID(uuidString: trimmed) { return (nil, u) }
    let bad = BlazeDBError.invalidInput(reason: "Key must be a UUID or \"namespace:UUID\" (got: \(key))")
    guard let colon = trimmed.lastIndex(of: ":") else { throw bad }
    let ns = trimmed[..<colon].trimmingCharacters(in: .whitespacesAndNewlines)
    let idText = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
    guard let id = UUID(uuidString: idText), !ns.isEmpty else { throw bad }
    return (ns, id)
}

/// `query("ns")`: typed models of one namespace (`_blazeKind`), run by the core's engine.
/// Rows that do not decode as `T` are skipped, as upstream.
public final class BlazeNamespaceQueryBuilder: @unchecked Sendable {
    private let builder: QueryBuilder

    init(client: BlazeDBClient, namespace: String) {
        builder = client.query().where(BlazeRecordKind.storageKey, equals: .string(namespace.lowercased()))
    }

    @discardableResult public func `where`(_ field: String, equals value: BlazeDocumentField) -> Self {
        builder.where(field, equals: value)
        return self
    }
    @discardableResult public func `where`(_ field: String, equals string: String) -> Self {
        `where`(field, equals: .string(string))
    }
    @discardableResult public func `where`(_ field: String, _ match: BlazeNamespaceQueryPredicate) -> Self {
        switch match {
        case .equals(let v): return `where`(field, equals: v)
        }
    }
    @discardableResult public func orderBy(_ field: String, descending: Bool = false) -> Self {
        builder.orderBy(field, descending: descending)
        return self
    }
    @discardableResult public func limit(_ count: Int) -> Self {
        builder.limit(count)
        return self
    }

    public func all<T: BlazeStorable>() throws -> [T] { try builder.all().compactMap { try? T.fromBlazeRecord($0) } }
    public func first<T: BlazeStorable>() throws -> T? { try builder.first().flatMap { try? T.fromBlazeRecord($0) } }
    public func all<T: BlazeStorable>() async throws -> [T] { try await builder.all().compactMap { try? T.fromBlazeRecord($0) } }
    public func first<T: BlazeStorable>() async throws -> T? { try await builder.first().flatMap { try? T.fromBlazeRecord($0) } }
}

public enum BlazeNamespaceQueryPredicate {
    case equals(BlazeDocumentField)
    public static func equals(_ text: String) -> BlazeNamespaceQueryPredicate { .equals(.string(text)) }
}

extension BlazeDBClient {
    /// Stores one model (an upsert by its id); true if it inserted.
    @discardableResult
    public func put<T: BlazeStorable>(_ value: T) throws -> Bool {
        try upsert(value)
    }

    /// Stores many models in one transaction (upstream's loop was not atomic).
    public func put<T: BlazeStorable>(_ values: [T]) throws {
        let records = try values.map { ($0.id.uuidString, try $0.toBlazeRecord().toFFI()) }
        try batchWrite { store in
            for (id, r) in records { _ = try store.upsert(collection: collection, id: id, record: r) }
        }
    }

    /// One model by key: `"UUID"` or `"namespace:UUID"`. With a namespace, a record of
    /// another kind reads as nil.
    public func get<T: BlazeStorable>(_ key: String) throws -> T? {
        let (ns, id) = try parseRecordKey(key)
        guard let record = try fetch(id: id) else { return nil }
        if let ns, let have = record.storage[BlazeRecordKind.storageKey]?.stringValue?.lowercased(), have != ns.lowercased() {
            return nil
        }
        return try T.fromBlazeRecord(record)
    }

    /// Models of one namespace (`_blazeKind`).
    public func query(_ namespace: String) -> BlazeNamespaceQueryBuilder {
        BlazeNamespaceQueryBuilder(client: self, namespace: namespace)
    }

    @discardableResult
    public func insert<T: BlazeStorable>(_ object: T) throws -> UUID {
        try insert(try object.toBlazeRecord())
    }

    @discardableResult
    public func insertMany<T: BlazeStorable>(_ objects: [T]) throws -> [UUID] {
        try insertMany(try objects.map { try $0.toBlazeRecord() })
    }

    public func fetch<T: BlazeStorable>(_ type: T.Type, id: UUID) throws -> T? {
        guard let record = try fetch(id: id) else { return nil }
        return try T.fromBlazeRecord(record)
    }

    /// Every record that decodes as `T` (others are skipped, as upstream).
    public func fetchAll<T: BlazeStorable>(_ type: T.Type) throws -> [T] {
        try fetchAll().compactMap { try? T.fromBlazeRecord($0) }
    }

    public func update<T: BlazeStorable>(_ object: T) throws {
        try update(id: object.id, with: try object.toBlazeRecord())
    }

    /// Updates each model, in one transaction.
    public func updateMany<T: BlazeStorable>(_ objects: [T]) throws {
        let records = try objects.map { ($0.id.uuidString, try $0.toBlazeRecord().toFFI()) }
        try batchWrite { store in
            for (id, r) in records { try store.update(collection: collection, id: id, record: r) }
        }
    }

    @discardableResult
    public func upsert<T: BlazeStorable>(_ object: T) throws -> Bool {
        try upsert(id: object.id, data: try object.toBlazeRecord())
    }

    public func delete<T: BlazeStorable>(_ object: T) throws {
        try delete(id: object.id)
    }

    // Async forms.

    @discardableResult
    public func insert<T: BlazeStorable>(_ object: T) async throws -> UUID {
        let r = try object.toBlazeRecord()
        return try await insert(r)
    }

    @discardableResult
    public func insertMany<T: BlazeStorable>(_ objects: [T]) async throws -> [UUID] {
        let rs = try objects.map { try $0.toBlazeRecord() }
        return try await insertMany(rs)
    }

    public func fetch<T: BlazeStorable>(_ type: T.Type, id: UUID) async throws -> T? {
        guard let record = try await fetch(id: id) else { return nil }
        return try T.fromBlazeRecord(record)
    }

    public func fetchAll<T: BlazeStorable>(_ type: T.Type) async throws -> [T] {
        try await fetchAll().compactMap { try? T.fromBlazeRecord($0) }
    }

    public func update<T: BlazeStorable>(_ object: T) async throws {
        let r = try object.toBlazeRecord()
        try await update(id: object.id, data: r)
    }

    @discardableResult
    public func upsert<T: BlazeStorable>(_ object: T) async throws -> Bool {
        let r = try object.toBlazeRecord()
        return try await upsert(id: object.id, data: r)
    }

    public func delete<T: BlazeStorable>(_ object: T) async throws {
        try await delete(id: object.id)
    }
}
