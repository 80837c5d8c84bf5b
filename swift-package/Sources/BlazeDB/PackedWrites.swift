import Foundation
internal import BlazeDBBindings

// The encoder of the buffers `insert_many_packed` takes (layout: docs/BINDINGS.md, "Packed
// records", writes): records with their keys inline, values as in the read layout. It
// writes `BlazeDataRecord`s straight into bytes, with no intermediate `[String: BlazeValue]`
// per record and none of UniFFI's generic per-value serialization, which together cost
// about 10 µs per record of `insertMany` on Linux. Keys stay inline (no key table as in
// reads): sharing them would mean hashing every key here, and the Rust side allocates each
// key as a `String` either way.

enum PackedWrites {
    static let version: UInt8 = 1
    static let shapeRecords: UInt8 = 0

    /// `records` as one write buffer. Throws `.invalidField` for a non-finite date (which no
    /// file format can hold), as the `BlazeValue` conversion does, and `.invalidInput` for a
    /// length past 4 GiB.
    static func records(_ records: [BlazeDataRecord]) throws -> Data {
        var w = Writer()
        w.out.reserveCapacity(6 + records.count * 256)
        w.out.append(version)
        w.out.append(shapeRecords)
        try w.len(records.count)
        for r in records { try w.fields(r.storage, path: "") }
        return Data(w.out)
    }

    /// The ids `insert_many_packed` returns: 16 bytes each, in order.
    static func ids(_ data: Data) throws -> [UUID] {
        guard data.count % 16 == 0 else {
            throw BlazeDBError.corruptedData(location: "packed ids", reason: "\(data.count) bytes is not a whole number of ids")
        }
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 16)).map { i in
                UUID(uuid: raw.loadUnaligned(fromByteOffset: i * 16, as: uuid_t.self))
            }
        }
    }

    private struct Writer {
        var out: [UInt8] = []

        mutating func u32(_ v: UInt32) {
            withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
        }

        mutating func u64(_ v: UInt64) {
            withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
        }

        mutating func len(_ n: Int) throws {
            guard let v = UInt32(exactly: n) else {
                throw BlazeDBError.invalidInput(reason: "a length of \(n) does not fit the packed layout's 32 bits")
            }
            u32(v)
        }

        mutating func string(_ s: String) throws {
            var s = s
            try s.withUTF8 { b in
                try len(b.count)
                out.append(contentsOf: b)
            }
        }

        /// A record's fields or a dictionary's entries; `path` names nested fields in errors.
        mutating func fields(_ d: [String: BlazeDocumentField], path: String) throws {
            try len(d.count)
            for (k, v) in d {
                try string(k)
                try value(v, path: path, key: k)
            }
        }

        mutating func value(_ v: BlazeDocumentField, path: String, key: String) throws {
            switch v {
            case .null: out.append(0)
            case .string(let s):
                out.append(1)
                try string(s)
            case .int(let i):
                out.append(2)
                u64(UInt64(bitPattern: Int64(i)))
            case .double(let d):
                out.append(3)
                u64(d.bitPattern)
            case .bool(let b):
                out.append(4)
                out.append(b ? 1 : 0)
            case .date(let d):
                guard let (secs, nanos) = BlazeDateConversion.unixParts(of: d) else {
                    throw BlazeDBError.invalidField(name: path.isEmpty ? key : path + "." + key,
                                                    expectedType: "finite date", actualType: "\(d.timeIntervalSinceReferenceDate)")
                }
                out.append(5)
                u64(UInt64(bitPattern: secs))
                u32(nanos)
            case .uuid(let u):
                out.append(6)
                withUnsafeBytes(of: u.uuid) { out.append(contentsOf: $0) }
            case .data(let d):
                out.append(7)
                try len(d.count)
                out.append(contentsOf: d)
            case .array(let a):
                out.append(8)
                try len(a.count)
                for e in a { try value(e, path: path, key: key) }
            case .dictionary(let d):
                out.append(9)
                try fields(d, path: path.isEmpty ? key : path + "." + key)
            case .vector(let xs):
                out.append(10)
                try len(xs.count)
                for x in xs { u64(x.bitPattern) }
            }
        }
    }
}

/// Test access to the write-buffer encoder, which is otherwise internal (to check its bytes
/// exactly). Not part of the supported API.
@_spi(Testing)
public enum PackedWritesEncoder {
    /// The buffer `insertMany` sends for `records`.
    public static func records(_ records: [BlazeDataRecord]) throws -> Data {
        try PackedWrites.records(records)
    }

    /// The ids of an `insert_many_packed` answer.
    public static func ids(_ data: Data) throws -> [UUID] {
        try PackedWrites.ids(data)
    }
}
