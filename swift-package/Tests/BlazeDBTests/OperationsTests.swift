import Foundation
import XCTest
import BlazeDB

/// Dumps, backups, health and stats through the Swift API.
final class DumpTests: BlazeTestCase {
    func sample(_ n: Int) -> BlazeDataRecord {
        BlazeDataRecord([
            "title": .string("bug \(n)"), "n": .int(n), "score": .double(Double(n) + 0.25),
            "done": .bool(n % 2 == 0), "tags": .array([.string("a"), .bool(true)]),
            "meta": .dictionary(["k": .string("v\(n)")]),
        ])
    }

    /// A date as a v1 dump keeps it: whole seconds.
    func wholeSeconds(_ d: Date) -> Date {
        Date(timeIntervalSince1970: (d.timeIntervalSince1970).rounded(.down))
    }

    func testExportThenRestoreIntoAFreshDatabaseRoundTrips() throws {
        let db = try makeDB("src")
        try db.insertMany((0..<20).map(sample))
        let dump = dir.appendingPathComponent("src.blazedump")
        try db.export(to: dump)
        let header = try BlazeDBImporter.verify(dump)
        XCTAssertEqual(header.formatVersion, .v1)
        XCTAssertEqual(header.databaseName, "src")
        XCTAssertEqual(header.schemaVersion, SchemaVersion(major: 0, minor: 0))
        XCTAssertEqual(header.toolVersion, "BlazeDB-1.0")
        XCTAssertLessThan(abs(header.exportedAt.timeIntervalSinceNow), 60)

        let fresh = try makeDB("fresh")
        try BlazeDBImporter.restore(from: dump, to: fresh)
        let original = try db.fetchAll()
        let restored = try fresh.fetchAll()
        XCTAssertEqual(restored.count, original.count)
        for r in original {
            let id = try XCTUnwrap(r["id"]?.uuidValue)
            let back = try XCTUnwrap(try fresh.fetch(id: id), "record \(id) restored")
            for key in ["title", "n", "score", "done", "tags", "meta", "project", "id"] {
                XCTAssertEqual(back[key], r[key], key)
            }
            let created = try XCTUnwrap(r["createdAt"]?.dateValue)
            XCTAssertEqual(back["createdAt"]?.dateValue, wholeSeconds(created), "v1 dates are whole seconds")
        }
        // Restore needs an empty database.
        assertBlazeError(try BlazeDBImporter.restore(from: dump, to: fresh)) {
            if case .invalidInput(let reason) = $0 { return reason.contains("non-empty") }
            return false
        }
    }

    func testSchemaVersionMismatchAndTampering() throws {
        let db = try makeDB("src")
        try db.insertMany((0..<3).map(sample))
        try db.setSchemaVersion(SchemaVersion(major: 2, minor: 1))
        let dump = dir.appendingPathComponent("v.blazedump")
        try db.export(to: dump)
        XCTAssertEqual(try BlazeDBImporter.verify(dump).schemaVersion, SchemaVersion(major: 2, minor: 1))
        let fresh = try makeDB("fresh")
        assertBlazeError(try BlazeDBImporter.restore(from: dump, to: fresh)) {
            if case .migrationFailed(let m, _) = $0 { return m.contains("Schema version mismatch") }
            return false
        }
        XCTAssertEqual(try fresh.count(), 0)
        try BlazeDBImporter.restore(from: dump, to: fresh, allowSchemaMismatch: true)
        XCTAssertEqual(try fresh.count(), 3)
        XCTAssertEqual(try fresh.getSchemaVersion(), SchemaVersion(major: 2, minor: 1), "restore stores the dump's version")

        var text = try String(contentsOf: dump, encoding: .utf8)
        text = text.replacingOccurrences(of: "bug 1", with: "bug 9")
        let bad = dir.appendingPathComponent("bad.blazedump")
        try text.write(to: bad, atomically: true, encoding: .utf8)
        assertBlazeError(try BlazeDBImporter.verify(bad)) {
            if case .corruptedData = $0 { return true }
            return false
        }
        let other = try makeDB("other")
        try other.setSchemaVersion(SchemaVersion(major: 2, minor: 1))
        assertBlazeError(try BlazeDBImporter.restore(from: bad, to: other)) {
            if case .corruptedData = $0 { return true }
            return false
        }
        XCTAssertEqual(try other.count(), 0, "a tampered dump writes nothing")
        assertBlazeError(try BlazeDBImporter.verify(dir.appendingPathComponent("missing.blazedump"))) {
            if case .invalidInput = $0 { return true }
            return false
        }
    }

    func testAsyncExport() async throws {
        let db = try makeDB()
        try await db.insert(sample(1))
        let dump = dir.appendingPathComponent("a.blazedump")
        try await db.export(to: dump)
        XCTAssertEqual(try BlazeDBImporter.verify(dump).databaseName, "test")
    }
}

final class BackupTests: BlazeTestCase {
    func testBackupThenRestoreBringsTheOldContentsBack() throws {
        let db = try makeDB()
        let ids = try db.insertMany((0..<10).map { BlazeDataRecord(["n": .int($0)]) })
        try db.createUniqueIndex(on: "n")
        let snapshot = try db.fetchAll()
        let backup = dir.appendingPathComponent("b.blazedb")
        let stats = try db.backup(to: backup)
        XCTAssertEqual(stats.recordCount, 10)
        XCTAssertGreaterThan(stats.fileSize, 0)
        XCTAssertGreaterThanOrEqual(stats.duration, 0)

        // Change everything, then restore.
        try db.delete(id: ids[0])
        try db.updateFields(id: ids[1], fields: ["n": .int(100)])
        try db.insert(BlazeDataRecord(["n": .int(200)]))
        try db.restore(from: backup)
        XCTAssertEqual(try db.fetchAll(), snapshot)
        // The unique index is there after the restore.
        assertBlazeError(try db.insert(BlazeDataRecord(["n": .int(3)]))) {
            if case .transactionFailed(let m, _) = $0 { return m.hasPrefix("Unique constraint violation on 'n'") }
            return false
        }
        // The backup is encrypted with the database's password (nothing in clear on disk),
        // and an existing backup file is replaced.
        let marker = "marker-\(UUID().uuidString)"
        try db.insert(BlazeDataRecord(["n": .int(300), "note": .string(marker)]))
        XCTAssertEqual(try db.backup(to: backup).recordCount, 11)
        XCTAssertNil(try Data(contentsOf: backup).range(of: Data(marker.utf8)))
        let reopened = try BlazeDBClient(name: "b", fileURL: backup, password: goodPassword)
        opened.append(reopened)
        XCTAssertEqual(try reopened.count(), 11)
    }

    func testRestoreErrors() throws {
        let db = try makeDB()
        try db.insert(BlazeDataRecord(["a": .int(1)]))
        assertBlazeError(try db.restore(from: dir.appendingPathComponent("none.blazedb"))) {
            if case .recordNotFound(_, _, let suggestion) = $0 { return suggestion?.contains("Backup file not found") == true }
            return false
        }
        let other = try BlazeDBClient(name: "o", fileURL: url("o"), password: "OtherPass456!x")
        try other.insert(BlazeDataRecord([:]))
        let backup = dir.appendingPathComponent("o.backup")
        _ = try other.backup(to: backup)
        try other.close()
        assertBlazeError(try db.restore(from: backup)) {
            if case .passwordMismatch = $0 { return true }
            return false
        }
        try db.beginTransaction()
        assertBlazeError(try db.restore(from: backup)) {
            if case .transactionFailed(let m, _) = $0 { return m == "Transaction already in progress" }
            return false
        }
        try db.rollbackTransaction()
        XCTAssertEqual(try db.count(), 1, "a refused restore changes nothing")
    }

    func testAsyncBackupAndRestore() async throws {
        let db = try makeDB()
        try await db.insert(BlazeDataRecord(["a": .int(1)]))
        let backup = dir.appendingPathComponent("async.backup")
        let stats = try await db.backup(to: backup)
        XCTAssertEqual(stats.recordCount, 1)
        try await db.insert(BlazeDataRecord(["a": .int(2)]))
        try await db.restore(from: backup)
        let n = try await db.count()
        XCTAssertEqual(n, 1)
    }
}

final class HealthStatsTests: BlazeTestCase {
    func testStatsAndHealth() throws {
        let db = try makeDB()
        let ids = try db.insertMany((0..<25).map { BlazeDataRecord(["n": .int($0)]) })
        try db.softDelete(id: ids[0])
        try db.createIndex(on: "n")
        let stats = try db.stats()
        XCTAssertEqual(stats.recordCount, 24)
        XCTAssertEqual(stats.recordCount, try db.count())
        XCTAssertEqual(stats.indexCount, 1)
        XCTAssertGreaterThan(stats.pageCount, 0)
        XCTAssertEqual(stats.databaseSize, Int64(try XCTUnwrap(try url().resourceValues(forKeys: [.fileSizeKey]).fileSize)))
        XCTAssertNil(stats.walSize)
        XCTAssertTrue((0...1).contains(stats.cacheHitRate))
        if !stats.cacheHitRateAvailable { XCTAssertEqual(stats.cacheHitRate, 0) }
        let health = try db.health()
        XCTAssertEqual(health.status, .ok, "\(health.reasons)")
        XCTAssertTrue(health.summary.hasPrefix("OK"), health.summary)
        XCTAssertEqual(health.status.rawValue, "OK")
        let json = try JSONEncoder().encode(health)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains("\"OK\""))
    }

    func testNewCallsThrowAfterClose() throws {
        let db = try makeDB()
        let other = try makeDB("other")
        try db.close()
        assertBlazeError(try db.createIndex(on: "a"), isClosedError)
        assertBlazeError(try db.createUniqueIndex(on: "a"), isClosedError)
        assertBlazeError(try db.query().count().execute(), isClosedError)
        assertBlazeError(try db.query().groupBy("a").execute(), isClosedError)
        assertBlazeError(try db.query().search("a b", in: ["t"]), isClosedError) // even when every word is too short to search
        assertBlazeError(try db.distinct(field: "a"), isClosedError)
        assertBlazeError(try db.join(with: other, on: "a"), isClosedError)
        assertBlazeError(try db.export(to: dir.appendingPathComponent("x.blazedump")), isClosedError)
        assertBlazeError(try db.backup(to: dir.appendingPathComponent("x.backup")), isClosedError)
        assertBlazeError(try db.restore(from: url("other")), isClosedError)
        assertBlazeError(try db.health(), isClosedError)
        assertBlazeError(try db.stats(), isClosedError)
        assertBlazeError(try db.getSchemaVersion(), isClosedError)
        assertBlazeError(try BlazeDBImporter.restore(from: dir.appendingPathComponent("x.blazedump"), to: db), isClosedError)
    }
}
