import Foundation
internal import BlazeDBBindings

// The decoder of the FFI's packed record buffers (`get_packed`, `get_many_packed`,
// `all_packed`, `page_packed`, `query_packed`; layout: docs/BINDINGS.md, "Packed records").
// It reads the bytes in place and builds `BlazeDataRecord`s directly, with no intermediate
// `BlazeValue`: UniFFI's generic lifting of `[String: BlazeValue]` costs tens of µs per
// record on Linux. Every length, count and index is checked against the bytes left or the
// table it refers to before it is used, so a truncated or malformed buffer throws
// `.corruptedData` and never reads out of bounds.
//
// The buffer names every field once, in a key table, and every distinct field-name list
// once, in a list table; each record only says which list it uses. For a list used more
// than once the decoder builds a template dictionary (every key, `.null` values) with the
// hash-table index of each key, and makes each record by copying its list's template and
// storing the values at those indexes: no key string is created and no key is hashed per
// record, which was most of the decoding time with the keys inline in each record (layout
// version 1).

enum PackedRecords {
    static let version: UInt8 = 2
    static let shapeRecords: UInt8 = 0
    static let shapeOptional: UInt8 = 1
    /// Deeper than the core ever stores (64), low enough that recursion cannot exhaust the stack.
    static let maxDepth = 256

    /// A shape-0 buffer: every record.
    static func records(_ data: Data) throws -> [BlazeDataRecord] {
        try data.withUnsafeBytes { raw in
            var r = Reader(raw)
            let n = try r.header(shape: shapeRecords)
            var out: [BlazeDataRecord] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try r.record()) }
            try r.finish()
            return out
        }
    }

    /// A shape-1 buffer: a record or nil per item.
    static func optionalRecords(_ data: Data) throws -> [BlazeDataRecord?] {
        var out: [BlazeDataRecord?] = []
        try forEachOptional(data, reserve: { out.reserveCapacity($0) }) { _, r in out.append(r) }
        return out
    }

    /// A shape-1 buffer as `get_many_packed` answers `ids`: the records present, keyed by
    /// the id they were asked for. Built as the buffer is read, with no array in between.
    static func recordsByID(_ data: Data, ids: [UUID]) throws -> [UUID: BlazeDataRecord] {
        var out: [UUID: BlazeDataRecord] = [:]
        try forEachOptional(data, reserve: { n in
            guard n == ids.count else {
                throw BlazeDBError.corruptedData(location: "packed records", reason: "\(n) items for \(ids.count) ids")
            }
            out.reserveCapacity(n)
        }) { i, r in
            if let r { out[ids[i]] = r }
        }
        return out
    }

    /// Reads a shape-1 buffer: `reserve` gets the item count first, then `body` each item's
    /// position and record (nil where absent).
    private static func forEachOptional(_ data: Data, reserve: (Int) throws -> Void,
                                        _ body: (Int, BlazeDataRecord?) throws -> Void) throws {
        try data.withUnsafeBytes { raw in
            var r = Reader(raw)
            let n = try r.header(shape: shapeOptional)
            try reserve(n)
            for i in 0..<n {
                switch try r.u8() {
                case 0: try body(i, nil)
                case 1: try body(i, try r.record())
                case let b: throw r.corrupt("presence byte \(b)")
                }
            }
            try r.finish()
        }
    }

    /// `ids` as `get_many_packed` takes them: 16 bytes each, in `uuid_t` (RFC 4122) order.
    static func ids(_ ids: [UUID]) -> Data {
        var out = Data(count: ids.count * 16)
        out.withUnsafeMutableBytes { raw in
            for (i, id) in ids.enumerated() {
                raw.storeBytes(of: id.uuid, toByteOffset: i * 16, as: uuid_t.self)
            }
        }
        return out
    }

    /// A shape-1 buffer of exactly one item (`get_packed`).
    static func optionalRecord(_ data: Data) throws -> BlazeDataRecord? {
        let items = try optionalRecords(data)
        guard items.count == 1 else {
            throw BlazeDBError.corruptedData(location: "packed records", reason: "expected one item, got \(items.count)")
        }
        return items[0]
    }

    /// One field-name list of the buffer: its names, and once it has been used twice its
    /// template (every key, `.null` values) with where each key sits in the template's hash
    /// table, in list order. The first record of a list is built directly: for a one-record
    /// buffer (`fetch(id:)`) the template would cost more than it saves.
    private struct KeyList {
        let names: [String]
        var used = false
        var template: [String: BlazeDocumentField]? = nil
        var slots: [Dictionary<String, BlazeDocumentField>.Index] = []
    }

    private struct Reader {
        let raw: UnsafeRawBufferPointer
        var pos = 0
        var keys: [String] = []
        var lists: [KeyList] = []

        init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

        var remaining: Int { raw.count - pos }

        func corrupt(_ reason: String) -> BlazeDBError {
            .corruptedData(location: "packed records", reason: "\(reason) at byte \(pos) of \(raw.count)")
        }

        @inline(__always)
        mutating func need(_ n: Int) throws {
            guard n >= 0, n <= remaining else { throw corrupt("\(n) bytes needed, \(remaining) left") }
        }

        @inline(__always)
        mutating func u8() throws -> UInt8 {
            try need(1)
            defer { pos += 1 }
            return raw[pos]
        }

        @inline(__always)
        mutating func u32() throws -> UInt32 {
            try need(4)
            defer { pos += 4 }
            return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: UInt32.self))
        }

        @inline(__always)
        mutating func u64() throws -> UInt64 {
            try need(8)
            defer { pos += 8 }
            return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
        }

        /// A count of items that take at least `minSize` bytes each, checked against the
        /// bytes left so that a bad count cannot make a huge allocation.
        @inline(__always)
        mutating func count(minSize: Int) throws -> Int {
            let n = Int(try u32())
            guard n <= remaining / minSize else { throw corrupt("count \(n) exceeds the \(remaining) bytes left") }
            return n
        }

        /// An index into a table of `size` entries.
        @inline(__always)
        mutating func index(below size: Int, _ what: String) throws -> Int {
            let i = Int(try u32())
            guard i < size else { throw corrupt("\(what) index \(i) of \(size)") }
            return i
        }

        @inline(__always)
        mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
            try need(n)
            defer { pos += n }
            return UnsafeRawBufferPointer(rebasing: raw[pos..<(pos + n)])
        }

        /// UTF-8 text (the core only stores valid UTF-8; anything else would be repaired
        /// with U+FFFD, never trapped on).
        @inline(__always)
        mutating func string() throws -> String {
            let n = Int(try u32())
            return String(decoding: try bytes(n), as: UTF8.self)
        }

        /// Version, shape and item count, then the key and list tables.
        mutating func header(shape: UInt8) throws -> Int {
            let v = try u8()
            guard v == PackedRecords.version else { throw corrupt("unknown layout version \(v)") }
            let s = try u8()
            guard s == shape else { throw corrupt("shape \(s), expected \(shape)") }
            let n = try count(minSize: 1)
            let nk = try count(minSize: 4)
            keys.reserveCapacity(nk)
            var distinct = Set<String>(minimumCapacity: nk)
            for _ in 0..<nk {
                let k = try string()
                guard distinct.insert(k).inserted else { throw corrupt("key \(k) twice in the key table") }
                keys.append(k)
            }
            let nl = try count(minSize: 4)
            lists.reserveCapacity(nl)
            for _ in 0..<nl {
                let fields = try count(minSize: 4)
                var names: [String] = []
                names.reserveCapacity(fields)
                var seen: [Int] = []
                seen.reserveCapacity(fields)
                for _ in 0..<fields {
                    let k = try index(below: keys.count, "key")
                    // Key indexes are distinct names (checked above), so comparing indexes
                    // finds a repeated name; lists are short, a scan beats hashing here.
                    guard !seen.contains(k) else { throw corrupt("key \(keys[k]) twice in a key list") }
                    seen.append(k)
                    names.append(keys[k])
                }
                lists.append(KeyList(names: names))
            }
            return n
        }

        func finish() throws {
            guard remaining == 0 else { throw corrupt("\(remaining) trailing bytes") }
        }

        mutating func record() throws -> BlazeDataRecord {
            BlazeDataRecord(try fields(depth: 0))
        }

        /// A key-list index, then one value per key of that list: a record's fields or a
        /// dictionary's entries. From a list's second use on, each record starts as a copy of
        /// the list's template, which keeps its hash-table layout (a copied Dictionary keeps
        /// its storage's age, so the template's indexes stay valid in it), so each value is
        /// stored without hashing its key.
        mutating func fields(depth: Int) throws -> [String: BlazeDocumentField] {
            let li = try index(below: lists.count, "key list")
            if lists[li].template == nil {
                if lists[li].used { try buildTemplate(li) } else {
                    lists[li].used = true
                    let names = lists[li].names
                    var out: [String: BlazeDocumentField] = [:]
                    out.reserveCapacity(names.count)
                    for k in names { out[k] = try value(depth: depth) }
                    return out
                }
            }
            guard var out = lists[li].template else { throw corrupt("key list \(li) has no template") }
            let slots = lists[li].slots
            for slot in slots {
                let v = try value(depth: depth)
                out.values[slot] = v
            }
            return out
        }

        /// The template of list `li`. Its slots are taken once every key is in, so no later
        /// insertion moves them.
        mutating func buildTemplate(_ li: Int) throws {
            let names = lists[li].names
            var template: [String: BlazeDocumentField] = [:]
            template.reserveCapacity(names.count)
            for k in names { template[k] = .null }
            var slots: [Dictionary<String, BlazeDocumentField>.Index] = []
            slots.reserveCapacity(names.count)
            for k in names {
                guard let slot = template.index(forKey: k) else { throw corrupt("key \(k) lost") }
                slots.append(slot)
            }
            lists[li].template = template
            lists[li].slots = slots
        }

        mutating func value(depth: Int) throws -> BlazeDocumentField {
            let tag = try u8()
            switch tag {
            case 0: return .null
            case 1: return .string(try string())
            case 2: return .int(Int(truncatingIfNeeded: Int64(bitPattern: try u64())))
            case 3: return .double(Double(bitPattern: try u64()))
            case 4:
                switch try u8() {
                case 0: return .bool(false)
                case 1: return .bool(true)
                case let b: throw corrupt("bool byte \(b)")
                }
            case 5:
                let secs = Int64(bitPattern: try u64())
                let nanos = try u32()
                guard nanos < 1_000_000_000 else { throw corrupt("date nanoseconds \(nanos)") }
                return .date(BlazeDateConversion.date(unixSeconds: secs, nanoseconds: nanos))
            case 6:
                let b = try bytes(16)
                return .uuid(UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                                         b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])))
            case 7:
                let n = Int(try u32())
                return .data(Data(try bytes(n)))
            case 8:
                guard depth < PackedRecords.maxDepth else { throw corrupt("values nest too deep") }
                let n = try count(minSize: 1)
                var a: [BlazeDocumentField] = []
                a.reserveCapacity(n)
                for _ in 0..<n { a.append(try value(depth: depth + 1)) }
                return .array(a)
            case 9:
                guard depth < PackedRecords.maxDepth else { throw corrupt("values nest too deep") }
                return .dictionary(try fields(depth: depth + 1))
            case 10:
                let n = try count(minSize: 8)
                var v: [Double] = []
                v.reserveCapacity(n)
                for _ in 0..<n { v.append(Double(bitPattern: try u64())) }
                return .vector(v)
            default:
                throw corrupt("unknown value tag \(tag)")
            }
        }
    }
}

/// Test access to the packed-record decoder, which is otherwise internal (for feeding it
/// malformed bytes directly). Not part of the supported API.
@_spi(Testing)
public enum PackedRecordsDecoder {
    /// Decodes a shape-0 buffer (`all_packed`, `page_packed`, `query_packed`).
    public static func records(_ data: Data) throws -> [BlazeDataRecord] {
        try PackedRecords.records(data)
    }

    /// Decodes a shape-1 buffer (`get_packed`, `get_many_packed`).
    public static func optionalRecords(_ data: Data) throws -> [BlazeDataRecord?] {
        try PackedRecords.optionalRecords(data)
    }
}

@_spi(Testing)
extension BlazeDBClient {
    /// Every live record through the former `[String: BlazeValue]` path, to check that the
    /// packed path returns identical records. Not part of the supported API.
    public func _unpackedFetchAll() throws -> [BlazeDataRecord] {
        try read { try $0.all(collection: collection) }.map(BlazeDataRecord.init(ffi:))
    }

    /// The raw packed buffer of every live record, for feeding truncations to the decoder.
    /// Not part of the supported API.
    public func _packedAll() throws -> Data {
        try read { try $0.allPacked(collection: collection) }
    }
}
