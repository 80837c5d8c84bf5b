import Foundation
import XCTest
import BlazeDB

/// Indexes, aggregation, joins and search: every expected value is computed here from the
/// inserted data.
final class IndexTests: BlazeTestCase {
    func testCreateIndexKeepsQueriesRight() throws {
        let db = try makeDB()
        try db.insertMany((0..<50).map { BlazeDataRecord(["n": .int($0), "bucket": .int($0 % 5), "tag": .string("t\($0 % 3)")]) })
        let before = try db.query().where("bucket", equals: 2).where("tag", equals: "t1").orderBy("n").all()
        try db.createIndex(on: "bucket")
        try db.createIndex(on: ["bucket", "tag"])
        try db.createIndex(on: "bucket") // again: kept, as upstream allowed
        XCTAssertEqual(try db.stats().indexCount, 2)
        let after = try db.query().where("bucket", equals: 2).where("tag", equals: "t1").orderBy("n").all()
        XCTAssertEqual(after, before)
        XCTAssertEqual(after.compactMap { $0["n"]?.intValue }, (0..<50).filter { $0 % 5 == 2 && $0 % 3 == 1 })
        // Maintained by later writes.
        let id = try db.insert(BlazeDataRecord(["n": .int(100), "bucket": .int(2), "tag": .string("t1")]))
        XCTAssertEqual(try db.query().where("bucket", equals: 2).where("tag", equals: "t1").quickCount(), after.count + 1)
        try db.updateFields(id: id, fields: ["bucket": .int(3)])
        XCTAssertEqual(try db.query().where("bucket", equals: 2).where("tag", equals: "t1").quickCount(), after.count)
    }

    func isUniqueViolation(_ e: BlazeDBError, on field: String) -> Bool {
        if case .transactionFailed(let m, _) = e { return m.hasPrefix("Unique constraint violation on '\(field)'") }
        return false
    }

    func testUniqueIndexRefusesDuplicatesAndLeavesDataUnchanged() throws {
        let db = try makeDB()
        let ana = try db.insert(BlazeDataRecord(["email": .string("ana@x"), "name": .string("Ana")]))
        try db.insert(BlazeDataRecord(["email": .string("bo@x"), "name": .string("Bo")]))
        try db.createUniqueIndex(on: "email")
        let before = try db.fetchAll()
        assertBlazeError(try db.insert(BlazeDataRecord(["email": .string("ana@x")]))) { self.isUniqueViolation($0, on: "email") }
        assertBlazeError(try db.insertMany([BlazeDataRecord(["email": .string("new@x")]), BlazeDataRecord(["email": .string("bo@x")])])) {
            self.isUniqueViolation($0, on: "email")
        }
        let bo = try XCTUnwrap(try db.query().where("email", equals: "bo@x").first()?["id"]?.uuidValue)
        assertBlazeError(try db.updateFields(id: bo, fields: ["email": .string("ana@x")])) { self.isUniqueViolation($0, on: "email") }
        XCTAssertEqual(try db.fetchAll(), before, "nothing of a refused write is stored")
        // The message names the record that holds the key.
        do {
            try db.insert(BlazeDataRecord(["email": .string("ana@x")]))
        } catch BlazeDBError.transactionFailed(let m, _) {
            XCTAssertTrue(m.lowercased().contains(ana.uuidString.lowercased()), m)
        }
        // Records without the field are exempt; a changed value frees the old one.
        try db.insertMany([BlazeDataRecord([:]), BlazeDataRecord([:])])
        try db.updateFields(id: ana, fields: ["email": .string("ana2@x")])
        try db.insert(BlazeDataRecord(["email": .string("ana@x")]))
        XCTAssertEqual(try db.count(), 5)
    }

    func testUniqueIndexOverDuplicatesIsRefused() throws {
        let db = try makeDB()
        try db.insertMany([BlazeDataRecord(["a": .int(1), "b": .int(1)]), BlazeDataRecord(["a": .int(1), "b": .int(2)])])
        assertBlazeError(try db.createUniqueIndex(on: "a")) { self.isUniqueViolation($0, on: "a") }
        XCTAssertEqual(try db.stats().indexCount, 0)
        try db.createUniqueCompoundIndex(on: ["a", "b"])
        assertBlazeError(try db.insert(BlazeDataRecord(["a": .int(1), "b": .int(2)]))) { self.isUniqueViolation($0, on: "a+b") }
        try db.insert(BlazeDataRecord(["a": .int(1), "b": .int(3)]))
        assertBlazeError(try db.createIndex(on: [String]())) {
            if case .invalidInput = $0 { return true }
            return false
        }
    }

    func testUniqueIndexesPersistAcrossReopen() throws {
        var db: BlazeDBClient? = try BlazeDBClient(name: "p", fileURL: url("p"), password: goodPassword)
        try db?.insert(BlazeDataRecord(["k": .string("x")]))
        try db?.createUniqueIndex(on: "k")
        try db?.close()
        db = nil
        let again = try makeDB("p")
        assertBlazeError(try again.insert(BlazeDataRecord(["k": .string("x")]))) { self.isUniqueViolation($0, on: "k") }
    }

    func testIndexesInsideATransactionRollBack() throws {
        let db = try makeDB()
        try db.insert(BlazeDataRecord(["k": .int(1)]))
        try db.beginTransaction()
        try db.createUniqueIndex(on: "k")
        assertBlazeError(try db.insert(BlazeDataRecord(["k": .int(1)]))) { self.isUniqueViolation($0, on: "k") }
        try db.rollbackTransaction()
        try db.insert(BlazeDataRecord(["k": .int(1)]))
        XCTAssertEqual(try db.count(), 2)
    }

    func testAsyncIndexes() async throws {
        let db = try makeDB()
        try await db.createIndex(on: "a")
        try await db.createCompoundIndex(on: ["a", "b"])
        let n = try db.stats().indexCount
        XCTAssertEqual(n, 2)
    }
}

final class AggregationTests: BlazeTestCase {
    struct Row { let status: String; let priority: Int; let score: Double }

    func rows() -> [Row] {
        (0..<40).map { n in Row(status: ["open", "fixed", "wontfix"][n % 3], priority: (n * 7) % 5, score: Double(n) / 4) }
    }

    func seeded() throws -> BlazeDBClient {
        let db = try makeDB()
        try db.insertMany(rows().map {
            BlazeDataRecord(["status": .string($0.status), "priority": .int($0.priority), "score": .double($0.score)])
        })
        return db
    }

    func testAggregatesMatchValuesComputedHere() throws {
        let db = try seeded()
        let data = rows().filter { $0.priority > 0 }
        let r = try db.query().where("priority", greaterThan: 0)
            .count().sum("priority").avg("score").min("score").max("priority").execute().aggregation
        XCTAssertEqual(r.count, data.count)
        XCTAssertEqual(r["sum_priority"], .double(Double(data.map(\.priority).reduce(0, +))))
        let avg = try XCTUnwrap(r["avg_score"]?.doubleValue)
        XCTAssertEqual(avg, data.map(\.score).reduce(0, +) / Double(data.count), accuracy: 1e-12)
        XCTAssertEqual(r["min_score"], .double(data.map(\.score).min()!))
        XCTAssertEqual(r["max_priority"], .int(data.map(\.priority).max()!))
        // Upstream's quirk: sum(f) reads values[f], so only an alias of f answers it.
        XCTAssertNil(r.sum("priority"))
        let aliased = try db.query().sum("priority", as: "priority").execute().aggregation
        XCTAssertEqual(aliased.sum("priority"), Double(rows().map(\.priority).reduce(0, +)))
        // Over nothing: count 0, sum and avg 0, no min/max.
        let none = try db.query().where("status", equals: "nope").aggregate([.count(as: nil), .sum("priority", as: nil), .avg("score", as: "a"), .min("score", as: nil)]).execute().aggregation
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(none["sum_priority"], .double(0))
        XCTAssertEqual(none["a"], .double(0))
        XCTAssertNil(none["min_score"])
    }

    func testGroupByCountsAndHaving() throws {
        let db = try seeded()
        let g = try db.query().groupBy("status").count().sum("priority", as: "total").execute().grouped
        let byStatus = Dictionary(grouping: rows(), by: \.status)
        XCTAssertEqual(Set(g.keys), Set(byStatus.keys))
        for (status, rs) in byStatus {
            XCTAssertEqual(g[status]?.count, rs.count, status)
            XCTAssertEqual(g[status]?["total"], .double(Double(rs.map(\.priority).reduce(0, +))), status)
        }
        XCTAssertEqual(g.totalCount, rows().count)
        let big = try db.query().groupBy("status").count().having { ($0.count ?? 0) > 13 }.execute().grouped
        XCTAssertEqual(Set(big.keys), Set(byStatus.filter { $0.value.count > 13 }.keys))
        // Two fields: keys joined with "+"; a missing field is "null".
        try db.insert(BlazeDataRecord(["priority": .int(9)]))
        let two = try db.query().groupBy(["status", "priority"]).count().execute().grouped
        XCTAssertEqual(two["null+9"]?.count, 1)
        let pairs = Dictionary(grouping: rows(), by: { "\($0.status)+\($0.priority)" })
        for (key, rs) in pairs { XCTAssertEqual(two[key]?.count, rs.count, key) }
        XCTAssertEqual(two.groups.count, pairs.count + 1)
    }

    func testResultKindsAndRefusals() throws {
        let db = try seeded()
        assertBlazeError(try db.query().count().all()) {
            if case .invalidQuery = $0 { return true }
            return false
        }
        assertBlazeError(try db.query().where { _ in true }.count().execute()) {
            if case .invalidQuery = $0 { return true }
            return false
        }
        // A non-number under sum is the core's invalidQuery (upstream skipped it).
        assertBlazeError(try db.query().sum("status").execute()) {
            if case .invalidQuery = $0 { return true }
            return false
        }
        XCTAssertEqual(try db.query().groupBy("status").execute().count, 3)
    }

    func testDistinct() throws {
        let db = try seeded()
        try db.insert(BlazeDataRecord(["other": .int(1)]))
        let values = try db.distinct(field: "status")
        XCTAssertEqual(Set(values), Set(rows().map { BlazeDocumentField.string($0.status) }))
        XCTAssertEqual(values.count, 3, "no duplicates, and the record without the field adds nothing")
        XCTAssertEqual(Set(try db.distinct(field: "priority")), Set(rows().map { BlazeDocumentField.int($0.priority) }))
    }

    func testAsyncAggregation() async throws {
        let db = try seeded()
        let r = try await db.query().count().execute()
        XCTAssertEqual(try r.aggregation.count, rows().count)
    }
}

final class JoinTests: BlazeTestCase {
    func testJoinsAcrossDatabasesKeepTheUnmatchedSides() throws {
        let users = try makeDB("users")
        let bugs = try makeDB("bugs")
        let ana = try users.insert(BlazeDataRecord(["name": .string("ana")]))
        try users.insert(BlazeDataRecord(["name": .string("bo")]))
        // A string foreign key matches the uuid id, as upstream.
        try bugs.insert(BlazeDataRecord(["title": .string("crash"), "owner": .string(ana.uuidString)]))
        try bugs.insert(BlazeDataRecord(["title": .string("slow"), "owner": .uuid(ana)]))
        try bugs.insert(BlazeDataRecord(["title": .string("orphan"), "owner": .uuid(UUID())]))

        let inner = try bugs.join(with: users, on: "owner")
        XCTAssertEqual(Set(inner.compactMap { $0.leftField("title")?.stringValue }), ["crash", "slow"])
        XCTAssertTrue(inner.allSatisfy { $0.rightField("name") == .string("ana") && $0.isComplete })

        let left = try bugs.join(with: users, on: "owner", type: .left)
        XCTAssertEqual(left.count, 3)
        XCTAssertEqual(left.filter { !$0.isComplete }.map { $0.left["title"] }, [.string("orphan")])

        let right = try bugs.join(with: users, on: "owner", equals: "id", type: .right)
        XCTAssertEqual(right.count, 3)
        let lonely = right.filter { $0.left.storage.isEmpty }
        XCTAssertEqual(lonely.map { $0.rightField("name") }, [.string("bo")])

        let full = try bugs.join(with: users, on: "owner", type: .full)
        XCTAssertEqual(full.count, 4)
        XCTAssertEqual(full.filter { $0.left.storage.isEmpty }.count, 1)
        XCTAssertEqual(full.filter { $0.right == nil }.count, 1)
        let merged = try XCTUnwrap(inner.first?.merged())
        XCTAssertNotNil(merged["title"])
        XCTAssertEqual(merged["name"], .string("ana"))
    }

    func testQueryBuilderJoinFiltersTheLeftSide() throws {
        let users = try makeDB("users")
        let bugs = try makeDB("bugs")
        let ana = try users.insert(BlazeDataRecord(["name": .string("ana")]))
        try bugs.insertMany((0..<6).map { BlazeDataRecord(["n": .int($0), "owner": .uuid(ana)]) })
        let rows = try bugs.query().where("n", greaterThanOrEqual: .int(2)).join(users, on: "owner").execute().joined
        XCTAssertEqual(Set(rows.compactMap { $0.left["n"]?.intValue }), [2, 3, 4, 5])
        let page = try bugs.query().join(users, on: "owner").limit(2).execute().joined
        XCTAssertEqual(page.count, 2)
        let odd = try bugs.query().where { ($0["n"]?.intValue ?? 0) % 2 == 1 }.join(users, on: "owner").execute().joined
        XCTAssertEqual(Set(odd.compactMap { $0.left["n"]?.intValue }), [1, 3, 5])
        assertBlazeError(try bugs.query().orderBy("n").join(users, on: "owner").execute()) {
            if case .invalidQuery = $0 { return true }
            return false
        }
        try users.close()
        assertBlazeError(try bugs.join(with: users, on: "owner"), isClosedError)
    }
}

final class SearchTests: BlazeTestCase {
    func testSearchRanksTheBestRecordFirst() throws {
        let db = try makeDB()
        let best = try db.insert(BlazeDataRecord(["title": .string("Sync crash"), "body": .string("crash on sync, crash again"), "n": .int(1)]))
        try db.insert(BlazeDataRecord(["title": .string("Slow launch"), "body": .string("one crash seen"), "n": .int(2)]))
        try db.insert(BlazeDataRecord(["title": .string("Typo"), "body": .string("nothing to see"), "n": .int(3)]))
        let hits = try db.query().search("crash", in: ["title", "body"])
        XCTAssertEqual(hits.count, 2)
        XCTAssertEqual(hits.first?.record["id"], .uuid(best))
        XCTAssertGreaterThan(hits[0].score, hits[1].score)
        XCTAssertEqual(hits[0].matches["title"], ["crash"])
        XCTAssertEqual(hits[0].matches["body"], ["crash"])
        XCTAssertNil(hits[1].matches["title"])
        XCTAssertEqual(try db.stats().indexCount, 1, "the first search created the full-text index")
        // Every word must match; prefixes; filters, offset and limit apply after ranking.
        XCTAssertEqual(try db.query().searchSimple("crash sync", in: ["title", "body"]).map { $0["n"] }, [.int(1)])
        XCTAssertEqual(try db.query().searchSimple("lau*", in: ["title", "body"]).map { $0["n"] }, [.int(2)])
        XCTAssertEqual(try db.query().where("n", greaterThan: 1).searchSimple("crash", in: ["title", "body"]).map { $0["n"] }, [.int(2)])
        XCTAssertEqual(try db.query().offset(1).search("crash", in: ["title", "body"]).map { $0.record["n"] }, [.int(2)])
        XCTAssertEqual(try db.query().where { $0["n"] == .int(2) }.search("crash", in: ["title", "body"]).count, 1)
        // Words shorter than minWordLength are dropped, as upstream.
        XCTAssertEqual(try db.query().search("a crash", in: ["title", "body"]).count, 2)
        XCTAssertEqual(try db.query().search("x", in: ["title", "body"]).count, 0)
        // The index is kept up to date; searching other fields makes another index.
        try db.insert(BlazeDataRecord(["title": .string("Crash report"), "body": .string(""), "n": .int(4)]))
        XCTAssertEqual(try db.query().searchSimple("crash", in: ["title"]).map { $0["n"] }.count, 2)
        XCTAssertEqual(try db.stats().indexCount, 2)
        XCTAssertEqual(try db.query().search("crash", in: ["title", "body"]).count, 3)
        assertBlazeError(try db.query().search("crash", in: [])) {
            if case .invalidInput = $0 { return true }
            return false
        }
    }

    func testSearchSeesTheOpenTransaction() throws {
        let db = try makeDB()
        try db.query().search("warmup", in: ["title"]).forEach { _ in }
        try db.beginTransaction()
        try db.insert(BlazeDataRecord(["title": .string("pending crash")]))
        XCTAssertEqual(try db.query().search("crash", in: ["title"]).count, 1)
        try db.rollbackTransaction()
        XCTAssertEqual(try db.query().search("crash", in: ["title"]).count, 0)
    }
}
