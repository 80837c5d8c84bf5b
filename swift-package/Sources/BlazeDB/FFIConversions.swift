import Foundation
internal import BlazeDBBindings

// Conversions between the public Swift types and the generated FFI types. Internal only:
// nothing of BlazeDBBindings appears in the BlazeDB module's public interface.

extension BlazeDocumentField {
    /// The FFI value; fails only for a non-finite `Date` (which no file format can hold).
    func toFFI(field: String) throws -> BlazeValue {
        switch self {
        case .string(let s): return .string(value: s)
        case .int(let i): return .int(value: Int64(i))
        case .double(let d): return .double(value: d)
        case .bool(let b): return .bool(value: b)
        case .date(let d):
            guard let (secs, nanos) = BlazeDateConversion.unixParts(of: d) else {
                throw BlazeDBError.invalidField(name: field, expectedType: "finite date", actualType: "\(d.timeIntervalSinceReferenceDate)")
            }
            return .date(secs: secs, nanos: nanos)
        case .uuid(let u): return .uuid(value: u.uuidString)
        case .data(let d): return .data(value: d)
        case .array(let a): return .array(values: try a.map { try $0.toFFI(field: field) })
        case .dictionary(let d):
            var out: [String: BlazeValue] = [:]
            out.reserveCapacity(d.count)
            for (k, v) in d { out[k] = try v.toFFI(field: field + "." + k) }
            return .dictionary(entries: out)
        case .vector(let v): return .vector(values: v)
        case .null: return .null
        }
    }

    init(ffi v: BlazeValue) {
        switch v {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(Int(i))
        case .double(let d): self = .double(d)
        case .bool(let b): self = .bool(b)
        case .date(let secs, let nanos): self = .date(BlazeDateConversion.date(unixSeconds: secs, nanoseconds: nanos))
        case .uuid(let s): self = UUID(uuidString: s).map { .uuid($0) } ?? .string(s)
        case .data(let d): self = .data(d)
        case .array(let a): self = .array(a.map(BlazeDocumentField.init(ffi:)))
        case .dictionary(let d): self = .dictionary(d.mapValues(BlazeDocumentField.init(ffi:)))
        case .vector(let v): self = .vector(v)
        case .null: self = .null
        }
    }
}

func ffiRecord(_ fields: [String: BlazeDocumentField]) throws -> [String: BlazeValue] {
    var out: [String: BlazeValue] = [:]
    out.reserveCapacity(fields.count)
    for (k, v) in fields { out[k] = try v.toFFI(field: k) }
    return out
}

extension BlazeDataRecord {
    func toFFI() throws -> [String: BlazeValue] { try ffiRecord(storage) }

    init(ffi r: [String: BlazeValue]) {
        var s: [String: BlazeDocumentField] = [:]
        s.reserveCapacity(r.count)
        for (k, v) in r { s[k] = BlazeDocumentField(ffi: v) }
        self.init(s)
    }
}

/// The FFI's id text to a UUID (the core only hands out canonical UUIDs).
func uuid(_ s: String) throws -> UUID {
    guard let u = UUID(uuidString: s) else {
        throw BlazeDBError.corruptedData(location: "record id", reason: "\(s) is not a UUID")
    }
    return u
}

/// The operations shared by a database handle and an open transaction: the client routes
/// its calls to whichever is current. Both generated classes already have these methods.
protocol RecordStore: AnyObject, Sendable {
    func insert(collection: String, record: [String: BlazeValue]) throws -> String
    func insertMany(collection: String, records: [[String: BlazeValue]]) throws -> [String]
    func insertManyPacked(collection: String, records: Data) throws -> Data
    func get(collection: String, id: String) throws -> [String: BlazeValue]?
    func getMany(collection: String, ids: [String]) throws -> [[String: BlazeValue]?]
    func exists(collection: String, id: String) throws -> Bool
    func all(collection: String) throws -> [[String: BlazeValue]]
    func page(collection: String, offset: UInt64, limit: UInt64) throws -> [[String: BlazeValue]]
    func count(collection: String) throws -> UInt64
    func update(collection: String, id: String, record: [String: BlazeValue]) throws
    func updateFields(collection: String, id: String, fields: [String: BlazeValue]) throws
    func upsert(collection: String, id: String, record: [String: BlazeValue]) throws -> Bool
    func delete(collection: String, id: String) throws -> Bool
    func deleteMany(collection: String, ids: [String]) throws -> UInt64
    func softDelete(collection: String, id: String) throws
    func purge(collection: String) throws -> UInt64
    func query(spec: QuerySpec) throws -> [[String: BlazeValue]]
    // The packed forms of the record reads (decoded by PackedRecords.swift).
    func getPacked(collection: String, id: String) throws -> Data
    func getManyPacked(collection: String, ids: Data) throws -> Data
    func allPacked(collection: String) throws -> Data
    func pagePacked(collection: String, offset: UInt64, limit: UInt64) throws -> Data
    func queryPacked(spec: QuerySpec) throws -> Data
    func queryCount(spec: QuerySpec) throws -> UInt64
    func createIndex(collection: String, def: IndexDef) throws -> IndexDescription
    func indexes(collection: String) throws -> [IndexDescription]
    func search(spec: SearchSpec) throws -> [SearchHit]
    func schemaVersion() throws -> StoredSchemaVersion?
    func setSchemaVersion(version: StoredSchemaVersion) throws
}

extension BlazeDBBindings.Database: RecordStore {}
extension BlazeDBBindings.Transaction: RecordStore {}
