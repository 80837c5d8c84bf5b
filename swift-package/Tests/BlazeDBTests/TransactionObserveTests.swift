import Foundation
import XCTest
import BlazeDB

final class TransactionTests: BlazeTestCase {
    func testBeginCommitRoutesCRUDIntoTheTransaction() throws {
        let db = try makeDB()
        let keep = try db.insert(BlazeDataRecord(["n": .int(0)]))
        try db.beginTransaction()
        XCTAssertTrue(db.isInTransaction)
        let a = try db.insert(BlazeDataRecord(["n": .int(1)]))
        try db.updateFields(id: keep, fields: ["touched": .bool(true)])
        XCTAssertEqual(try db.count(), 2, "reads inside the transaction see its writes")
        XCTAssertEqual(try db.fetch(id: a)?["n"], .int(1))
        try db.commitTransaction()
        XCTAssertFalse(db.isInTransaction)
        XCTAssertEqual(try db.count(), 2)
        XCTAssertEqual(try db.fetch(id: keep)?["touched"], .bool(true))
    }

    func testRollbackUndoesEverything() throws {
        let db = try makeDB()
        let keep = try db.insert(BlazeDataRecord(["n": .int(0)]))
        try db.beginTransaction()
        try db.insertMany([BlazeDataRecord([:]), BlazeDataRecord([:])])
        try db.delete(id: keep)
        try db.rollbackTransaction()
        XCTAssertEqual(try db.count(), 1)
        XCTAssertNotNil(try db.fetch(id: keep))
    }

    func testNestedBeginAndStrayCommitRollbackThrowTransactionFailed() throws {
        let db = try makeDB()
        try db.beginTransaction()
        assertBlazeError(try db.beginTransaction()) {
            if case .transactionFailed(let m, _) = $0 { return m == "Transaction already in progress" }
            return false
        }
        try db.rollbackTransaction()
        assertBlazeError(try db.commitTransaction()) {
            if case .transactionFailed(let m, _) = $0 { return m == "No transaction in progress" }
            return false
        }
        assertBlazeError(try db.rollbackTransaction()) {
            if case .transactionFailed(let m, _) = $0 { return m == "No transaction to roll back" }
            return false
        }
    }

    func testTransactionClosureCommitsOrRollsBack() throws {
        let db = try makeDB()
        try db.transaction {
            try db.insert(BlazeDataRecord(["a": .int(1)]))
            try db.insert(BlazeDataRecord(["a": .int(2)]))
        }
        XCTAssertEqual(try db.count(), 2)
        struct Boom: Error {}
        XCTAssertThrowsError(try db.transaction {
            try db.insert(BlazeDataRecord(["a": .int(3)]))
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try db.count(), 2)
        XCTAssertFalse(db.isInTransaction)
        // A failing operation inside rolls the whole block back too.
        let dup = try db.insert(BlazeDataRecord([:]))
        assertBlazeError(try db.transaction {
            try db.insert(BlazeDataRecord(["x": .int(1)]))
            try db.insert(BlazeDataRecord([:]), id: dup)
        }) {
            if case .recordExists = $0 { return true }
            return false
        }
        XCTAssertEqual(try db.count(), 3)
    }

    func testOtherThreadsJoinTheOpenTransaction() throws {
        let db = try makeDB()
        try db.beginTransaction()
        try db.insert(BlazeDataRecord([:]))
        // Another thread's reads of the client join the transaction (upstream's rule)...
        let seen = DispatchQueue.global().sync { (try? db.count()) ?? -1 }
        XCTAssertEqual(seen, 1)
        try db.commitTransaction()
    }

    func testAsyncTransactionAndPerformTransaction() async throws {
        let db = try makeDB()
        try await db.transaction {
            _ = try await db.insert(BlazeDataRecord(["a": .int(1)]))
        }
        let count = try await db.count()
        XCTAssertEqual(count, 1)
        try await db.performTransaction {
            try db.insert(BlazeDataRecord(["b": .int(2)]))
        }
        let count2 = try await db.count()
        XCTAssertEqual(count2, 2)
    }
}

/// Collects observer batches (thread-safe).
final class ChangeLog: @unchecked Sendable {
    private let lock = NSLock()
    private var batches: [[DatabaseChange]] = []
    func add(_ b: [DatabaseChange]) { lock.lock(); batches.append(b); lock.unlock() }
    var all: [DatabaseChange] { lock.lock(); defer { lock.unlock() }; return batches.flatMap { $0 } }
}

final class ObserveTests: BlazeTestCase {
    func testObserveDeliversBatchedChangesOnTheMainQueue() throws {
        let db = try makeDB()
        let log = ChangeLog()
        let got = expectation(description: "changes")
        got.assertForOverFulfill = false
        let token = db.observe { changes in
            XCTAssertTrue(Thread.isMainThread, "observers run on the main queue, as upstream")
            log.add(changes)
            if log.all.count >= 4 { got.fulfill() }
        }
        let id = try db.insert(BlazeDataRecord(["a": .int(1)]))
        try db.updateFields(id: id, fields: ["a": .int(2)])
        let more = try db.insertMany([BlazeDataRecord([:])])
        try db.delete(id: id)
        wait(for: [got], timeout: 5)
        let changes = log.all
        guard changes.count == 4 else { return XCTFail("got \(changes)") }
        if case .insert(let x) = changes[0].type { XCTAssertEqual(x, id) } else { XCTFail("\(changes[0].type)") }
        if case .update(let x) = changes[1].type { XCTAssertEqual(x, id) } else { XCTFail("\(changes[1].type)") }
        if case .insert(let x) = changes[2].type { XCTAssertEqual(x, more[0]) } else { XCTFail("\(changes[2].type)") }
        if case .delete(let x) = changes[3].type { XCTAssertEqual(x, id) } else { XCTFail("\(changes[3].type)") }
        XCTAssertEqual(changes[0].recordID, id)
        XCTAssertEqual(changes[0].collectionName, "test")

        // After invalidate nothing more arrives.
        token.invalidate()
        try db.insert(BlazeDataRecord([:]))
        let quiet = expectation(description: "quiet")
        DispatchQueue.main.asyncAfter(deadline: .now() + 0.3) { quiet.fulfill() }
        wait(for: [quiet], timeout: 2)
        XCTAssertEqual(log.all.count, 4)
    }

    func testRolledBackWorkEmitsNothingAndFilteredObserve() throws {
        let db = try makeDB()
        let log = ChangeLog()
        let got = expectation(description: "filtered")
        let token = db.observe(where: { $0["keep"] == .bool(true) }) { changes in
            log.add(changes)
            got.fulfill()
        }
        try db.beginTransaction()
        try db.insert(BlazeDataRecord(["keep": .bool(true)]))
        try db.rollbackTransaction()
        try db.insert(BlazeDataRecord(["keep": .bool(false)]))
        let kept = try db.insert(BlazeDataRecord(["keep": .bool(true)]))
        wait(for: [got], timeout: 5)
        XCTAssertEqual(log.all.map(\.recordID), [kept])
        withExtendedLifetime(token) {}
    }
}

final class NotImplementedTests: BlazeTestCase {
    func testWhatTheCoreLacksThrowsNotImplemented() throws {
        let db = try makeDB()
        try db.insert(BlazeDataRecord(["title": .string("Crash")]))
        assertBlazeError(try db.query().search("crash", in: ["title"], config: SearchConfig(caseSensitive: true)), isNotImplemented)
        XCTAssertTrue(BlazeDBError.notImplemented(feature: "x").description.contains("Not implemented yet"))
        XCTAssertEqual(try db.stats().indexCount, 0, "the refused search created no index")
    }
}

final class AsyncTests: BlazeTestCase {
    func testUpsertManyGivesTimeOrderedIdsLikeInserts() async throws {
        let db = try makeDB()
        let inserted = try await db.upsertMany([BlazeDataRecord([:]), BlazeDataRecord(["a": .int(1)])])
        let ids = inserted.map(\.id)
        XCTAssertEqual(inserted.map(\.wasInsert), [true, true])
        // UUIDv7: version nibble 7, and the later id sorts after the earlier one.
        XCTAssertEqual(ids.map { Array($0.uuidString)[14] }, ["7", "7"])
        XCTAssertLessThan(ids[0].uuidString, ids[1].uuidString)
        let stored = try await db.fetch(id: ids[1])
        XCTAssertEqual(stored?.storage["a"], .int(1))
    }

    func testAsyncCRUD() async throws {
        let db = try makeDB()
        let id = try await db.insert(BlazeDataRecord(["a": .int(1)]))
        let ids = try await db.insertMany([BlazeDataRecord(["a": .int(2)]), BlazeDataRecord(["a": .int(3)])])
        let fetched = try await db.fetch(id: id)
        XCTAssertEqual(fetched?["a"], .int(1))
        let all = try await db.fetchAll()
        XCTAssertEqual(all.count, 3)
        let page = try await db.fetchPage(offset: 1, limit: 5)
        XCTAssertEqual(page.count, 2)
        let batch = try await db.fetchBatch(ids: ids)
        XCTAssertEqual(batch.count, 2)
        try await db.update(id: id, data: BlazeDataRecord(["a": .int(10)]))
        try await db.update(id: id, with: BlazeDataRecord(["a": .int(11)]))
        try await db.updateFields(id: id, fields: ["b": .bool(true)])
        let upserted = try await db.upsert(id: UUID(), data: BlazeDataRecord([:]))
        XCTAssertTrue(upserted)
        let ordered = try await db.fetchManyOrdered(ids: [ids[1], UUID(), id])
        XCTAssertEqual(ordered.map { $0 != nil }, [true, false, true])
        let exists = try await db.existsMany(ids: [id, UUID()])
        XCTAssertEqual(exists[id], true)
        let n = try await db.upsertMany([(id: id, record: BlazeDataRecord(["a": .int(12)]))])
        XCTAssertEqual(n, 1)
        let results = try await db.upsertMany([BlazeDataRecord(["id": .uuid(id)]), BlazeDataRecord([:])])
        XCTAssertEqual(results.map(\.wasInsert), [false, true])
        let updated = try await db.updateMany(ids: [id, UUID()], set: ["c": .int(1)])
        XCTAssertEqual(updated, 1)
        try await db.softDelete(id: ids[0])
        try await db.purge()
        try await db.delete(id: id)
        let removed = try await db.deleteMany(ids: [ids[1]])
        XCTAssertEqual(removed, 1)
        let count = try await db.count()
        XCTAssertEqual(count, 2)
        await assertBlazeErrorAsync({ try await db.update(id: UUID(), data: BlazeDataRecord([:])) }) {
            if case .recordNotFound = $0 { return true }
            return false
        }
        try db.close()
        await assertBlazeErrorAsync({ try await db.count() }, isClosedError)
    }
}
