import Foundation
import XCTest
import BlazeDB

final class QueryTests: BlazeTestCase {
    func seeded() throws -> BlazeDBClient {
        let db = try makeDB()
        try db.insertMany((0..<30).map { n in
            var r = BlazeDataRecord([
                "n": .int(n), "status": .string(n % 3 == 0 ? "open" : "closed"),
                "title": .string("bug \(n)"), "score": .double(Double(n) / 2),
            ])
            if n % 5 == 0 { r["assignee"] = .string("ana") }
            return r
        })
        return db
    }

    func ns(_ rs: [BlazeDataRecord]) -> [Int] { rs.compactMap { $0["n"]?.intValue } }

    func testFiltersSortAndPaging() throws {
        let db = try seeded()
        let open = try db.query().where("status", equals: .string("open")).orderBy("n").all()
        XCTAssertEqual(ns(open), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27])
        let page = try db.query().where("status", equals: "open").orderBy("n", descending: true).offset(2).limit(3).all()
        XCTAssertEqual(ns(page), [21, 18, 15])
        XCTAssertEqual(ns(try db.query().where("n", greaterThan: 26).orderBy("n").all()), [27, 28, 29])
        XCTAssertEqual(ns(try db.query().where("n", lessThanOrEqual: .int(1)).orderBy("n").all()), [0, 1])
        XCTAssertEqual(ns(try db.query().where("score", greaterThanOrEqual: .double(14)).orderBy("n").all()), [28, 29])
        XCTAssertEqual(try db.query().where("title", contains: "bug 2").quickCount(), 11)
        XCTAssertEqual(ns(try db.query().where("n", in: [.int(4), .int(7), .int(99)]).orderBy("n").all()), [4, 7])
        XCTAssertEqual(try db.query().whereNotNil("assignee").quickCount(), 6)
        XCTAssertEqual(try db.query().whereNil("assignee").quickCount(), 24)
        // upstream: a missing field matches notEquals
        XCTAssertEqual(try db.query().where("assignee", notEquals: "ana").quickCount(), 24)
        XCTAssertEqual(try db.query().where("n", lessThan: 10).where("status", equals: "open").quickCount(), 4)
        XCTAssertEqual(try db.query().orderBy("n").page(2, size: 10).first?["n"], .int(10))
        assertBlazeError(try db.query().page(0, size: 10)) {
            if case .invalidInput = $0 { return true }
            return false
        }
        assertBlazeError(try db.query().limit(-1).all()) {
            if case .invalidInput = $0 { return true }
            return false
        }
    }

    func testExecuteFirstExistsAndClosures() throws {
        let db = try seeded()
        let result = try db.query().where("status", equals: "open").execute()
        XCTAssertEqual(try result.records.count, 10)
        XCTAssertEqual(result.count, 10)
        assertBlazeError(try result.aggregation) {
            if case .invalidQuery = $0 { return true }
            return false
        }
        XCTAssertEqual(try db.query().orderBy("n", descending: true).first()?["n"], .int(29))
        XCTAssertTrue(try db.query().where("n", equals: 3).exists())
        XCTAssertFalse(try db.query().where("n", equals: 300).exists())
        let odd = try db.query().where { ($0["n"]?.intValue ?? 0) % 2 == 1 }.orderBy("n").offset(1).limit(2).all()
        XCTAssertEqual(ns(odd), [3, 5], "closures run before offset and limit")
        XCTAssertEqual(try db.query().where { $0["n"] == .int(7) }.quickCount(), 1)
        // Deterministic order: without sort keys, records come in id order.
        XCTAssertEqual(try db.query().all(), try db.fetchAll())
    }

    func testQueriesSeeTheOpenTransactionAndSkipSoftDeleted() throws {
        let db = try seeded()
        try db.beginTransaction()
        try db.insert(BlazeDataRecord(["n": .int(100), "status": .string("open")]))
        XCTAssertEqual(try db.query().where("status", equals: "open").quickCount(), 11)
        try db.rollbackTransaction()
        XCTAssertEqual(try db.query().where("status", equals: "open").quickCount(), 10)
        let victim = try XCTUnwrap(try db.query().where("n", equals: 0).first()?["id"]?.uuidValue)
        try db.softDelete(id: victim)
        XCTAssertEqual(try db.query().where("status", equals: "open").quickCount(), 9)
    }

    func testTypedNamespaceQueries() throws {
        let db = try makeDB()
        try db.insertMany([Note(text: "b"), Note(text: "a"), Note(text: "c")])
        try db.insert(sampleBug())
        let notes: [Note] = try db.query("note").orderBy("text").all()
        XCTAssertEqual(notes.map(\.text), ["a", "b", "c"])
        let one: Note? = try db.query("Note").where("text", equals: "c").first()
        XCTAssertEqual(one?.text, "c")
        let bugs: [Bug] = try db.query("bug").limit(5).all()
        XCTAssertEqual(bugs.count, 1)
        let none: [Note] = try db.query("note").where("text", .equals("zzz")).all()
        XCTAssertTrue(none.isEmpty)
    }

    func testAsyncQueries() async throws {
        let db = try seeded()
        let all = try await db.query().where("status", equals: "open").all()
        XCTAssertEqual(all.count, 10)
        let first = try await db.query().orderBy("n").first()
        XCTAssertEqual(first?["n"], .int(0))
        let exists = try await db.query().where("n", equals: 5).exists()
        XCTAssertTrue(exists)
        let count = try await db.query().quickCount()
        XCTAssertEqual(count, 30)
        let result = try await db.query().limit(2).execute()
        XCTAssertEqual(result.count, 2)
    }
}

func sampleBug() -> Bug {
    Bug(title: "Crash", priority: 2, score: 1.5, done: false,
        due: Date(timeIntervalSince1970: 1_700_000_000), owner: nil,
        blob: Data([1]), tags: [], meta: .init(source: "app", count: 1))
}
