import Foundation
import XCTest
import BlazeDB

final class OpenCloseTests: BlazeTestCase {
    func testOpenAtURLAndInit() throws {
        let a = try BlazeDB.open(at: url("alpha"), password: goodPassword)
        opened.append(a)
        XCTAssertEqual(a.name, "alpha")
        XCTAssertFalse(a.isClosed)
        try a.close()
        XCTAssertTrue(a.isClosed)
        try a.close() // idempotent

        let b = try BlazeDBClient(name: "Beta", fileURL: url("beta"), password: goodPassword)
        opened.append(b)
        XCTAssertEqual(b.name, "Beta")
        let c = try BlazeDBClient(name: "Gamma", fileURL: url("gamma"), password: goodPassword, project: "Tracker")
        opened.append(c)
        let id = try c.insert(BlazeDataRecord(["t": .string("x")]))
        XCTAssertEqual(try c.fetch(id: id)?["project"], .string("Tracker"))
        XCTAssertNil(BlazeDBClient(name: "Delta", at: url("delta"), password: "weak"))
        let e = BlazeDBClient(name: "Eps", at: url("eps"), password: goodPassword)
        XCTAssertNotNil(e)
        try e?.close()
    }

    func testOpenByNameUsesThePlatformDirectory() throws {
        let home = dir.appendingPathComponent("xdg")
        setenv("XDG_DATA_HOME", home.path, 1)
        defer { unsetenv("XDG_DATA_HOME") }
        let db = try BlazeDB.open(name: "notes", password: goodPassword)
        opened.append(db)
        XCTAssertEqual(db.name, "notes")
        XCTAssertEqual(db.fileURL.lastPathComponent, "notes.blazedb")
        XCTAssertTrue(FileManager.default.fileExists(atPath: home.appendingPathComponent("blazedb/notes.blazedb").path))
        let id = try db.insert(BlazeDataRecord(["a": .int(1)]))
        try db.close()
        let again = try BlazeDBClient.open(named: "notes", password: goodPassword)
        opened.append(again)
        XCTAssertEqual(try again.fetch(id: id)?["a"], .int(1))
        assertBlazeError(try BlazeDB.open(name: "../evil", password: goodPassword)) {
            if case .invalidInput = $0 { return true }
            return false
        }
    }

    func testWeakPasswordThrowsPasswordTooWeak() {
        for weak in ["short1A", "nouppercase12345", "NOLOWERCASE12345", "NoDigitsAtAllHere"] {
            assertBlazeError(try BlazeDBClient(name: "w", fileURL: url("w"), password: weak)) {
                guard case .passwordTooWeak(let failure) = $0 else { return false }
                return !failure.missingRequirements.isEmpty
            }
        }
        assertBlazeError(try BlazeDB.open(name: "w", password: "password")) {
            if case .passwordTooWeak = $0 { return true }
            return false
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url("w").path), "a refused open writes nothing")
    }

    func testFilesAreEncryptedAndTheWrongPasswordThrowsPasswordMismatch() throws {
        let db = try makeDB("secret")
        let marker = "plaintext-marker-\(UUID().uuidString)"
        try db.insert(BlazeDataRecord(["note": .string(marker)]))
        try db.close()
        let bytes = try Data(contentsOf: url("secret"))
        XCTAssertNil(bytes.range(of: Data(marker.utf8)), "the record is not on disk in clear")
        assertBlazeError(try BlazeDBClient(name: "secret", fileURL: url("secret"), password: "OtherPass456!")) {
            if case .passwordMismatch = $0 { return true }
            return false
        }
        let again = try makeDB("secret")
        XCTAssertEqual(try again.fetchAll().first?["note"], .string(marker))
    }

    func testInvalidNamesThrowInvalidInput() {
        for bad in ["", "a/../b", "nul\0"] {
            assertBlazeError(try BlazeDBClient(name: bad, fileURL: url("n"), password: goodPassword)) {
                if case .invalidInput = $0 { return true }
                return false
            }
        }
    }

    func testSecondOpenIsRefused() throws {
        _ = try makeDB("locked")
        assertBlazeError(try BlazeDBClient(name: "locked", fileURL: url("locked"), password: goodPassword)) {
            guard case .concurrentProcessAccessNotSupported(let op, let path) = $0 else { return false }
            return op == "open database" && path?.lastPathComponent == "locked.blazedb"
        }
    }

    func testUseAfterCloseThrows() throws {
        let db = try makeDB()
        let id = try db.insert(BlazeDataRecord(["a": .int(1)]))
        try db.close()
        assertBlazeError(try db.insert(BlazeDataRecord([:])), isClosedError)
        assertBlazeError(try db.fetch(id: id), isClosedError)
        assertBlazeError(try db.fetchAll(), isClosedError)
        assertBlazeError(try db.count(), isClosedError)
        assertBlazeError(try db.update(id: id, with: BlazeDataRecord([:])), isClosedError)
        assertBlazeError(try db.delete(id: id), isClosedError)
        assertBlazeError(try db.beginTransaction(), isClosedError)
        assertBlazeError(try db.persist(), isClosedError)
        // The file is released: it opens again.
        let again = try makeDB()
        XCTAssertEqual(try again.count(), 1)
    }

    func testCloseRollsBackAnOpenTransaction() throws {
        let db = try makeDB()
        try db.beginTransaction()
        try db.insert(BlazeDataRecord(["a": .int(1)]))
        try db.close()
        let again = try makeDB()
        XCTAssertEqual(try again.count(), 0)
    }

    func testOpenForTestingAndWithDatabase() throws {
        let t = try BlazeDBClient.openForTesting()
        opened.append(t)
        try t.insert(BlazeDataRecord([:]))
        XCTAssertEqual(try t.count(), 1)
        setenv("XDG_DATA_HOME", dir.appendingPathComponent("xdg2").path, 1)
        defer { unsetenv("XDG_DATA_HOME") }
        let n = try BlazeDBClient.withDatabase(name: "scoped", password: goodPassword) { db in
            try db.insertMany([BlazeDataRecord([:]), BlazeDataRecord([:])]).count
        }
        XCTAssertEqual(n, 2)
        BlazeDBClient.clearSessionKeys()
        BlazeDBClient.clearSessionKeys(for: "/x")
    }
}

final class CRUDTests: BlazeTestCase {
    func testInsertFetchRoundTripsEveryKind() throws {
        let db = try makeDB()
        let other = UUID()
        let when = Date(timeIntervalSince1970: 1_700_000_000.123456)
        let record = BlazeDataRecord([
            "string": .string("héllo"), "int": .int(Int.min), "double": .double(-0.0),
            "bool": .bool(true), "date": .date(when), "uuid": .uuid(other),
            "data": .data(Data([0, 1, 255])), "array": .array([.int(1), .string("two"), .null]),
            "dictionary": .dictionary(["nested": .dictionary(["deep": .bool(false)])]),
            "vector": .vector([0.5, -1.25, .infinity]), "null": .null,
        ])
        let id = try db.insert(record)
        let got = try XCTUnwrap(try db.fetch(id: id))
        for (k, v) in record.storage { XCTAssertEqual(got[k], v, k) }
        XCTAssertEqual(got["id"], .uuid(id))
        XCTAssertEqual(got["project"], .string("Default"))
        XCTAssertNotNil(got["createdAt"]?.dateValue)
        XCTAssertEqual(got["date"]?.dateValue, when, "dates convert exactly")
    }

    func testInsertWithIdAndDuplicateThrowsRecordExists() throws {
        let db = try makeDB()
        let id = UUID()
        try db.insert(BlazeDataRecord(["a": .int(1)]), id: id)
        XCTAssertEqual(try db.fetch(id: id)?["a"], .int(1))
        assertBlazeError(try db.insert(BlazeDataRecord(["b": .int(2)]), id: id)) {
            if case .recordExists(let got, _) = $0 { return got == id }
            return false
        }
        // An id given as a string is normalized to .uuid.
        let sid = UUID()
        let back = try db.insert(BlazeDataRecord(["id": .string(sid.uuidString)]))
        XCTAssertEqual(back, sid)
        XCTAssertEqual(try db.fetch(id: sid)?["id"], .uuid(sid))
        // A non-UUID id is refused with upstream's invalidField.
        assertBlazeError(try db.insert(BlazeDataRecord(["id": .int(3)]))) {
            if case .invalidField(let name, _, let actual) = $0 { return name == "id" && actual == "int" }
            return false
        }
    }

    func testBatchCalls() throws {
        let db = try makeDB()
        let ids = try db.insertMany((0..<250).map { BlazeDataRecord(["n": .int($0)]) })
        XCTAssertEqual(ids.count, 250)
        XCTAssertEqual(Set(ids).count, 250)
        XCTAssertEqual(try db.count(), 250)
        let batch = try db.fetchBatch(ids: [ids[0], ids[1], UUID()])
        XCTAssertEqual(batch.count, 2)
        XCTAssertEqual(batch[ids[1]]?["n"], .int(1))
        let all = try db.fetchAll()
        XCTAssertEqual(all.count, 250)
        let sorted = all.compactMap { $0["id"]?.uuidValue?.uuidString.lowercased() }
        XCTAssertEqual(sorted, sorted.sorted(), "fetchAll is in id order")
        var paged: [BlazeDataRecord] = []
        var offset = 0
        while true {
            let page = try db.fetchPage(offset: offset, limit: 64)
            if page.isEmpty { break }
            paged += page
            offset += page.count
        }
        XCTAssertEqual(paged, all, "pages tile fetchAll exactly")
        assertBlazeError(try db.fetchPage(offset: -1, limit: 1)) {
            if case .invalidInput = $0 { return true }
            return false
        }
        XCTAssertEqual(try db.deleteMany(ids: Array(ids[0..<100]) + [UUID()]), 100)
        XCTAssertEqual(try db.count(), 150)
        // All or nothing: a duplicate inside the batch writes nothing.
        let dup = UUID()
        assertBlazeError(try db.insertMany([BlazeDataRecord(["id": .uuid(dup)]), BlazeDataRecord(["id": .uuid(dup)])])) {
            if case .recordExists = $0 { return true }
            return false
        }
        XCTAssertEqual(try db.count(), 150)
        XCTAssertEqual(try db.insertMany([]), [])
    }

    func testUpdateUpdateFieldsUpsertAndMissingRecords() throws {
        let db = try makeDB()
        let id = try db.insert(BlazeDataRecord(["title": .string("a"), "status": .string("open")]))
        let created = try db.fetch(id: id)?["createdAt"]
        try db.update(id: id, with: BlazeDataRecord(["title": .string("b")]))
        var got = try XCTUnwrap(try db.fetch(id: id))
        XCTAssertEqual(got["title"], .string("b"))
        XCTAssertNil(got["status"], "update replaces")
        XCTAssertEqual(got["createdAt"], created, "createdAt survives an update")
        XCTAssertNotNil(got["updatedAt"]?.dateValue)
        try db.updateFields(id: id, fields: ["status": .string("done")])
        got = try XCTUnwrap(try db.fetch(id: id))
        XCTAssertEqual(got["title"], .string("b"))
        XCTAssertEqual(got["status"], .string("done"))

        XCTAssertFalse(try db.upsert(id: id, data: BlazeDataRecord(["title": .string("c")])))
        let fresh = UUID()
        XCTAssertTrue(try db.upsert(id: fresh, data: BlazeDataRecord(["title": .string("new")])))
        XCTAssertEqual(try db.fetch(id: fresh)?["title"], .string("new"))

        let missing = UUID()
        assertBlazeError(try db.update(id: missing, with: BlazeDataRecord([:]))) {
            if case .recordNotFound(let got, _, _) = $0 { return got == missing }
            return false
        }
        assertBlazeError(try db.updateFields(id: missing, fields: [:])) {
            if case .recordNotFound = $0 { return true }
            return false
        }
        assertBlazeError(try db.fetchRequired(id: missing)) {
            if case .recordNotFound = $0 { return true }
            return false
        }
        XCTAssertNil(try db.fetch(id: missing))
        XCTAssertTrue(try db.exists(id: id))
        XCTAssertFalse(try db.exists(id: missing))
    }

    func testDeleteSoftDeleteAndPurge() throws {
        let db = try makeDB()
        let ids = try db.insertMany((0..<5).map { BlazeDataRecord(["n": .int($0)]) })
        try db.delete(id: ids[0])
        try db.delete(id: ids[0]) // idempotent
        XCTAssertNil(try db.fetch(id: ids[0]))
        try db.softDelete(id: ids[1])
        XCTAssertNil(try db.fetch(id: ids[1]), "soft-deleted records are hidden")
        XCTAssertEqual(try db.count(), 3)
        XCTAssertEqual(try db.fetchAll().count, 3)
        assertBlazeError(try db.insert(BlazeDataRecord([:]), id: ids[1])) {
            if case .recordExists = $0 { return true }
            return false
        }
        try db.purge()
        XCTAssertEqual(try db.count(), 3)
        try db.insert(BlazeDataRecord(["again": .bool(true)]), id: ids[1])
        XCTAssertEqual(try db.count(), 4)
        assertBlazeError(try db.softDelete(id: UUID())) {
            if case .recordNotFound = $0 { return true }
            return false
        }
    }

    func testClosurePredicates() throws {
        let db = try makeDB()
        try db.insertMany((0..<10).map { BlazeDataRecord(["n": .int($0)]) })
        XCTAssertEqual(try db.find { ($0["n"]?.intValue ?? 0) >= 7 }.count, 3)
        XCTAssertEqual(try db.findOne { $0["n"] == .int(4) }?["n"], .int(4))
        XCTAssertEqual(try db.count { ($0["n"]?.intValue ?? 0) % 2 == 0 }, 5)
        XCTAssertEqual(try db.updateMany(where: { ($0["n"]?.intValue ?? 0) < 3 }, set: ["small": .bool(true)]), 3)
        XCTAssertEqual(try db.count { $0["small"] == .bool(true) }, 3)
        XCTAssertEqual(try db.deleteMany(where: { $0["small"] != nil }), 3)
        XCTAssertEqual(try db.count(), 7)
    }

    func testPersistAndFlush() throws {
        let db = try makeDB()
        try db.insert(BlazeDataRecord([:]))
        try db.persist()
    }
}
