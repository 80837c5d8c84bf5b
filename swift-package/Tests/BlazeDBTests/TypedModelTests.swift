import Foundation
import XCTest
import BlazeDB

struct Bug: BlazeStorable, Equatable {
    var id = UUID()
    var title: String
    var priority: Int
    var score: Double
    var done: Bool
    var due: Date
    var owner: UUID?
    var blob: Data
    var tags: [String]
    var meta: Meta

    struct Meta: Codable, Equatable {
        var source: String
        var count: Int
    }
}

struct Note: BlazeStorable, Equatable {
    var id = UUID()
    var text: String
}

final class TypedModelTests: BlazeTestCase {
    func sample() -> Bug {
        Bug(title: "Crash", priority: 2, score: 1.5, done: false,
            due: Date(timeIntervalSince1970: 1_700_000_000), owner: UUID(),
            blob: Data([1, 2, 3]), tags: ["a", "b"], meta: .init(source: "app", count: 3))
    }

    func testStoredShapeMatchesUpstreamMapping() throws {
        let db = try makeDB()
        let bug = sample()
        let id = try db.insert(bug)
        XCTAssertEqual(id, bug.id)
        let raw = try XCTUnwrap(try db.fetch(id: id))
        XCTAssertEqual(raw["_blazeKind"], .string("bug"))
        XCTAssertEqual(raw["id"], .uuid(bug.id))
        XCTAssertEqual(raw["title"], .string("Crash"))
        XCTAssertEqual(raw["priority"], .int(2))
        XCTAssertEqual(raw["score"], .double(1.5))
        XCTAssertEqual(raw["done"], .bool(false))
        XCTAssertEqual(raw["due"], .string("2023-11-14T22:13:20Z"), "dates are ISO-8601 text, as upstream")
        XCTAssertEqual(raw["owner"], .string(bug.owner!.uuidString))
        XCTAssertEqual(raw["blob"], .string("AQID"), "Data is base64 text")
        XCTAssertEqual(raw["tags"], .array([.string("a"), .string("b")]))
        XCTAssertEqual(raw["meta"], .dictionary(["source": .string("app"), "count": .int(3)]))
        XCTAssertEqual(try db.fetch(Bug.self, id: id), bug)
    }

    func testTypedCRUDAndPutGet() throws {
        let db = try makeDB()
        var bug = sample()
        XCTAssertTrue(try db.put(bug))
        bug.title = "Fixed"
        XCTAssertFalse(try db.put(bug))
        let got: Bug? = try db.get("bug:\(bug.id.uuidString)")
        XCTAssertEqual(got?.title, "Fixed")
        let plain: Bug? = try db.get(bug.id.uuidString)
        XCTAssertEqual(plain, bug)
        let wrongKind: Bug? = try db.get("note:\(bug.id.uuidString)")
        XCTAssertNil(wrongKind)
        let bad: () throws -> Bug? = { try db.get("not a key") }
        assertBlazeError(try bad()) {
            if case .invalidInput = $0 { return true }
            return false
        }

        let notes = [Note(text: "a"), Note(text: "b")]
        XCTAssertEqual(try db.insertMany(notes), notes.map(\.id))
        try db.put([Note(text: "c")])
        XCTAssertEqual(try db.fetchAll(Note.self).count, 3)
        XCTAssertEqual(try db.fetchAll(Bug.self), [bug], "rows of other kinds are skipped")
        var n = notes[0]
        n.text = "edited"
        try db.update(n)
        XCTAssertEqual(try db.fetch(Note.self, id: n.id)?.text, "edited")
        try db.updateMany([n])
        XCTAssertTrue(try db.upsert(Note(text: "d")))
        try db.delete(n)
        XCTAssertNil(try db.fetch(Note.self, id: n.id))
        assertBlazeError(try db.update(Note(text: "missing"))) {
            if case .recordNotFound = $0 { return true }
            return false
        }
        assertBlazeError(try db.insert(bug)) {
            if case .recordExists = $0 { return true }
            return false
        }
    }

    func testLegacyJSONStringFieldsStillDecode() throws {
        let db = try makeDB()
        let id = UUID()
        try db.insert(BlazeDataRecord([
            "text": .string("x"),
            "_blazeKind": .string("legacy"),
        ]), id: id)
        struct Legacy: BlazeStorable { var id: UUID; var text: String }
        XCTAssertEqual(try db.fetch(Legacy.self, id: id)?.text, "x")
        // Before upstream's fix, nested objects were stored as JSON text.
        let id2 = UUID()
        try db.insert(BlazeDataRecord(["meta": .string("{\"source\":\"s\",\"count\":1}"), "text": .string("y")]), id: id2)
        struct WithMeta: BlazeStorable { var id: UUID; var text: String; var meta: Bug.Meta }
        XCTAssertEqual(try db.fetch(WithMeta.self, id: id2)?.meta, Bug.Meta(source: "s", count: 1))
    }

    func testTypedAsync() async throws {
        let db = try makeDB()
        let note = Note(text: "async")
        _ = try await db.insert(note)
        let got = try await db.fetch(Note.self, id: note.id)
        XCTAssertEqual(got, note)
        let all = try await db.fetchAll(Note.self)
        XCTAssertEqual(all, [note])
        try await db.delete(note)
        let gone = try await db.fetch(Note.self, id: note.id)
        XCTAssertNil(gone)
    }
}
