import Foundation
import XCTest
@_spi(Testing) import BlazeDB

/// The packed record transport: every read path returns exactly what was stored, and exactly
/// what the former `[String: BlazeValue]` path returns; malformed buffers throw.
final class PackedRecordsTests: BlazeTestCase {
    /// Equality that treats NaN as equal to NaN (and tells -0.0 from 0.0), recursively.
    func same(_ a: BlazeDocumentField, _ b: BlazeDocumentField) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): return x.bitPattern == y.bitPattern
        case (.vector(let x), .vector(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.dictionary(let x), .dictionary(let y)): return same(x, y)
        default: return a == b
        }
    }

    func same(_ a: [String: BlazeDocumentField], _ b: [String: BlazeDocumentField]) -> Bool {
        a.count == b.count && a.allSatisfy { k, v in b[k].map { same(v, $0) } ?? false }
    }

    /// `got` holds every field of `want` with the same value (the core adds stamps).
    func assertHolds(_ got: BlazeDataRecord?, _ want: BlazeDataRecord, file: StaticString = #filePath, line: UInt = #line) {
        guard let got else { return XCTFail("record missing", file: file, line: line) }
        for (k, v) in want.storage {
            guard let g = got.storage[k] else {
                XCTFail("field \(k) missing", file: file, line: line)
                continue
            }
            XCTAssertTrue(same(g, v), "\(k): got \(g), want \(v)", file: file, line: line)
        }
    }

    func everyKind(_ i: Int) -> BlazeDataRecord {
        BlazeDataRecord([
            "n": .int(i),
            "s": .string("héllo 🌍 \(i)"),
            "empty": .string(""),
            "imin": .int(Int.min),
            "imax": .int(Int.max),
            "negzero": .double(-0.0),
            "nan": .double(.nan),
            "inf": .double(-.infinity),
            "pi": .double(3.141592653589793),
            "t": .bool(true),
            "f": .bool(false),
            "whole": .date(Date(timeIntervalSince1970: 1_700_000_000)),
            "before1970": .date(Date(timeIntervalSince1970: -0.5)),
            "past": .date(Date.distantPast),
            "future": .date(Date.distantFuture),
            "year1900": .date(Date(timeIntervalSince1970: -2_208_988_800.123456)),
            "u": .uuid(UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!),
            "bytes": .data(Data([0, 1, 2, 255])),
            "nobytes": .data(Data()),
            "arr": .array([.null, .int(1), .array([.string("x"), .array([])]), .dictionary(["k": .bool(true)])]),
            "dict": .dictionary(["ключ": .array([.null]), "deep": .dictionary(["x": .vector([1, -0.0])]), "e": .dictionary([:])]),
            "vec": .vector([1.5, .infinity, -0.0, .nan]),
            "novec": .vector([]),
            "null": .null,
            "日本語キー": .string("値"),
        ])
    }

    func testEveryKindThroughEveryReadPath() throws {
        let db = try makeDB()
        let want = (0..<5).map(everyKind)
        let ids = try db.insertMany(want)
        let lone = try db.insert(BlazeDataRecord([:]))

        for (id, w) in zip(ids, want) {
            let got = try db.fetch(id: id)
            assertHolds(got, w)
            XCTAssertEqual(got?["id"], .uuid(id))
        }
        XCTAssertNil(try db.fetch(id: UUID()))
        XCTAssertEqual(try db.fetch(id: lone)?["id"], .uuid(lone))

        let batch = try db.fetchBatch(ids: ids + [UUID()])
        XCTAssertEqual(batch.count, ids.count)
        for (id, w) in zip(ids, want) { assertHolds(batch[id], w) }

        let all = try db.fetchAll()
        XCTAssertEqual(all.count, 6)
        let byID = Dictionary(uniqueKeysWithValues: all.map { ($0["id"]!.uuidValue!, $0) })
        for (id, w) in zip(ids, want) { assertHolds(byID[id], w) }
        XCTAssertEqual(try db.fetchPage(offset: 1, limit: 3).map(\.storage.count), Array(all[1..<4]).map(\.storage.count))
        XCTAssertEqual(try db.fetchPage(offset: 10, limit: 3).count, 0)

        let q = try db.query().where("n", greaterThanOrEqual: .int(3)).orderBy("n", descending: true).all()
        XCTAssertEqual(q.map { $0["n"] }, [.int(4), .int(3)])
        assertHolds(q[0], want[4])
        let filtered = try db.query().where("n", lessThan: .int(4)).where { $0["n"]?.intValue != 1 }.all()
        XCTAssertEqual(Set(filtered.compactMap { $0["n"]?.intValue }), [0, 2, 3])
        assertHolds(filtered.first { $0["n"] == .int(2) }, want[2])
    }

    func testAsyncBatchReads() async throws {
        let db = try makeDB()
        let want = (0..<3).map(everyKind)
        let ids = try await db.insertMany(want)
        let ordered = try await db.fetchMany(ids: [ids[2], UUID(), ids[0]])
        XCTAssertEqual(ordered.count, 2)
        assertHolds(ordered[ids[0]], want[0])
        let orderedList = try await db.fetchManyOrdered(ids: [ids[2], UUID(), ids[0]])
        XCTAssertEqual(orderedList.count, 3)
        XCTAssertNil(orderedList[1])
        assertHolds(orderedList[0], want[2])
        assertHolds(orderedList[2], want[0])
    }

    func testPackedPathIsIdenticalToTheFormerPath() throws {
        let db = try makeDB()
        _ = try db.insertMany((0..<8).map(everyKind))
        let packed = try db.fetchAll()
        let former = try db._unpackedFetchAll()
        XCTAssertEqual(packed.count, former.count)
        for (p, f) in zip(packed, former) { XCTAssertTrue(same(p.storage, f.storage), "\(p) vs \(f)") }
    }

    func testOpenTransactionReadsArePacked() throws {
        let db = try makeDB()
        let committed = try db.insert(everyKind(1))
        try db.beginTransaction()
        let pending = try db.insert(everyKind(2))
        assertHolds(try db.fetch(id: pending), everyKind(2))
        let batch = try db.fetchBatch(ids: [committed, pending])
        assertHolds(batch[committed], everyKind(1))
        assertHolds(batch[pending], everyKind(2))
        XCTAssertEqual(try db.fetchAll().count, 2)
        XCTAssertEqual(try db.fetchPage(offset: 1, limit: 5).count, 1)
        let q = try db.query().where("n", equals: .int(2)).all()
        XCTAssertEqual(q.count, 1)
        assertHolds(q.first, everyKind(2))
        XCTAssertEqual(try db.updateMany(where: { $0["n"] == .int(2) }, set: ["tag": .string("x")]), 1)
        XCTAssertEqual(try db.fetch(id: pending)?["tag"], .string("x"))
        try db.rollbackTransaction()
        XCTAssertNil(try db.fetch(id: pending))
        XCTAssertEqual(try db.deleteMany(where: { $0["n"] == .int(1) }), 1)
        XCTAssertEqual(try db.count(), 0)
    }

    // MARK: Malformed buffers

    func isCorrupted(_ e: BlazeDBError) -> Bool {
        if case .corruptedData = e { return true }
        return false
    }

    func le32(_ n: UInt32) -> [UInt8] { withUnsafeBytes(of: n.littleEndian, Array.init) }

    func cat(_ parts: [UInt8]...) -> [UInt8] { Array(parts.joined()) }

    /// The tables of a buffer: the key table, then the key-list table.
    func tables(_ keys: [String], _ lists: [[UInt32]]) -> [UInt8] {
        var out = le32(UInt32(keys.count))
        for k in keys { out += le32(UInt32(k.utf8.count)) + Array(k.utf8) }
        out += le32(UInt32(lists.count))
        for l in lists { out += le32(UInt32(l.count)) + l.flatMap(le32) }
        return out
    }

    /// A valid version-2 shape-0 buffer of one record `{"k": value}`: key table ["k"],
    /// list table [[0]], the record is list 0 then `value`.
    func one(_ value: [UInt8]) -> [UInt8] {
        cat([2, 0], le32(1), tables(["k"], [[0]]), le32(0), value)
    }

    func testValidHandBuiltBuffersDecode() throws {
        XCTAssertEqual(try PackedRecordsDecoder.records(Data(cat([2, 0], le32(0), tables([], [])))), [])
        XCTAssertEqual(try PackedRecordsDecoder.optionalRecords(Data(cat([2, 1], le32(2), tables([], [[]]), [0, 1], le32(0)))),
                       [nil, BlazeDataRecord([:])])
        let minusTwo: [UInt8] = withUnsafeBytes(of: Int64(-2).littleEndian, Array.init)
        XCTAssertEqual(try PackedRecordsDecoder.records(Data(one(cat([2], minusTwo)))),
                       [BlazeDataRecord(["k": .int(-2)])])
        // Two records sharing one list, a third with another, and a dictionary using the
        // first list again: keys are named once, in any order of the key table.
        let b = cat([2, 0], le32(3), tables(["b", "a"], [[1, 0], [0]]),
                    le32(0), [4, 1], [1], le32(1), Array("x".utf8),
                    le32(1), [9], le32(0), [0], [4, 0],
                    le32(0), [0], [0])
        XCTAssertEqual(try PackedRecordsDecoder.records(Data(b)), [
            BlazeDataRecord(["a": .bool(true), "b": .string("x")]),
            BlazeDataRecord(["b": .dictionary(["a": .null, "b": .bool(false)])]),
            BlazeDataRecord(["a": .null, "b": .null]),
        ])
        // The records are independent values: changing one leaves the others alone.
        var got = try PackedRecordsDecoder.records(Data(b))
        got[2]["a"] = .int(1)
        XCTAssertEqual(got[0]["a"], .bool(true))
        XCTAssertEqual(try PackedRecordsDecoder.records(Data(b))[2]["a"], .null)
    }

    func testMalformedBuffersThrow() throws {
        let good = Data(one(cat([1], le32(3), Array("abc".utf8))))
        XCTAssertEqual(try PackedRecordsDecoder.records(good), [BlazeDataRecord(["k": .string("abc")])])
        // Every truncation of a real buffer throws.
        let db = try makeDB()
        _ = try db.insert(everyKind(0))
        let real = try db._packedAll()
        XCTAssertEqual(try PackedRecordsDecoder.records(real).count, 1)
        for n in 0..<real.count {
            assertBlazeError(try PackedRecordsDecoder.records(real.prefix(n)), isCorrupted)
        }
        let zeros8 = [UInt8](repeating: 0, count: 8)
        let bad: [(String, [UInt8])] = [
            ("empty", []),
            ("unknown version", cat([1, 0], le32(0), tables([], []))),
            ("wrong shape", cat([2, 1], le32(0), tables([], []))),
            ("trailing byte", cat([2, 0], le32(0), tables([], []), [0])),
            ("count beyond the bytes", cat([2, 0], le32(UInt32.max), tables([], []))),
            ("no tables", cat([2, 0], le32(0))),
            ("key count beyond the bytes", cat([2, 0], le32(0), le32(UInt32.max))),
            ("key length beyond the bytes", cat([2, 0], le32(0), le32(1), le32(9), Array("k".utf8))),
            ("list count beyond the bytes", cat([2, 0], le32(0), le32(0), le32(UInt32.max))),
            ("list field count beyond the bytes", cat([2, 0], le32(0), le32(0), le32(1), le32(UInt32.max))),
            ("key index out of range", cat([2, 0], le32(0), tables(["k"], [[1]]))),
            ("key twice in a list", cat([2, 0], le32(0), tables(["k"], [[0, 0]]))),
            ("same name twice in a list", cat([2, 0], le32(0), tables(["k", "k"], [[0, 1]]))),
            ("list index out of range", cat([2, 0], le32(1), tables(["k"], [[0]]), le32(1), [0])),
            ("value missing", cat([2, 0], le32(1), tables(["k"], [[0]]), le32(0))),
            ("unknown tag", one([99])),
            ("bool byte 2", one([4, 2])),
            ("string length beyond the bytes", one(cat([1], le32(UInt32.max)))),
            ("data length beyond the bytes", one(cat([7], le32(10), [1, 2]))),
            ("short uuid", one([6, 1, 2, 3])),
            ("nanos out of range", one(cat([5], zeros8, le32(1_000_000_000)))),
            ("vector count beyond the bytes", one(cat([10], le32(2), zeros8, [0]))),
            ("array element missing", one(cat([8], le32(1)))),
            ("dictionary list index missing", one([9])),
            ("dictionary list index out of range", one(cat([9], le32(1)))),
            ("dictionary value missing", one(cat([9], le32(0)))),
        ]
        for (what, b) in bad {
            XCTAssertThrowsError(try PackedRecordsDecoder.records(Data(b)), what) { XCTAssertTrue(($0 as? BlazeDBError).map(isCorrupted) ?? false, what) }
        }
        assertBlazeError(try PackedRecordsDecoder.optionalRecords(Data(cat([2, 1], le32(1), tables([], []), [2]))), isCorrupted)
        // Nesting far beyond the core's limit throws instead of overflowing the stack.
        let level: [UInt8] = cat([8], le32(1))
        let deep = one(cat(Array(Array(repeating: level, count: 100_000).joined()), [0]))
        assertBlazeError(try PackedRecordsDecoder.records(Data(deep)), isCorrupted)
        // The same with dictionaries, each `{"k": …}` through list 0.
        let dictLevel: [UInt8] = cat([9], le32(0))
        let deepDicts = one(cat(Array(Array(repeating: dictLevel, count: 100_000).joined()), [0]))
        assertBlazeError(try PackedRecordsDecoder.records(Data(deepDicts)), isCorrupted)
    }

    // MARK: Write buffers (insertMany)

    func testWriteBufferBytesAreExact() throws {
        let minusTwo: [UInt8] = withUnsafeBytes(of: Int64(-2).littleEndian, Array.init)
        XCTAssertEqual(Array(try PackedWritesEncoder.records([BlazeDataRecord(["k": .int(-2)])])),
                       cat([1, 0], le32(1), le32(1), le32(1), Array("k".utf8), [2], minusTwo))
        XCTAssertEqual(Array(try PackedWritesEncoder.records([])), cat([1, 0], le32(0)))
        let u = UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!
        let nested = BlazeDataRecord(["d": .dictionary(["u": .uuid(u)]), ])
        XCTAssertEqual(Array(try PackedWritesEncoder.records([nested])),
                       cat([1, 0], le32(1), le32(1), le32(1), Array("d".utf8), [9], le32(1), le32(1), Array("u".utf8), [6],
                           [0xE6, 0x21, 0xE1, 0xF8, 0xC3, 0x6C, 0x49, 0x5A, 0x93, 0xFC, 0x0C, 0x24, 0x7A, 0x3E, 0x6E, 0x5F]))
        XCTAssertEqual(try PackedWritesEncoder.ids(Data([UInt8](repeating: 0, count: 16) + [UInt8](repeating: 255, count: 16))),
                       [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                        UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")!])
        assertBlazeError(try PackedWritesEncoder.ids(Data(count: 17)), isCorrupted)
    }

    func testInsertManyRoundTripsAndRefusesNonFiniteDates() throws {
        let db = try makeDB()
        let given = UUID()
        var withID = everyKind(7)
        withID["id"] = .uuid(given)
        var withStringID = everyKind(8)
        let textID = UUID()
        withStringID["id"] = .string(textID.uuidString)
        let ids = try db.insertMany([everyKind(6), withID, withStringID])
        XCTAssertEqual(ids.count, 3)
        XCTAssertEqual(ids[1], given)
        XCTAssertEqual(ids[2], textID)
        assertHolds(try db.fetch(id: ids[0]), everyKind(6))
        assertHolds(try db.fetch(id: given), everyKind(7))
        XCTAssertEqual(try db.fetch(id: textID)?["n"], .int(8))
        let bad = BlazeDataRecord(["a": .dictionary(["when": .date(Date(timeIntervalSinceReferenceDate: .infinity))])])
        assertBlazeError(try db.insertMany([everyKind(9), bad])) {
            if case .invalidField(let name, _, _) = $0 { return name == "a.when" }
            return false
        }
        XCTAssertEqual(try db.count(), 3)
    }
}
