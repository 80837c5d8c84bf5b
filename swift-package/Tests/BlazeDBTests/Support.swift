import Foundation
import XCTest
import BlazeDB

let goodPassword = "DemoPass123!"

/// A scratch directory per test, removed afterwards.
class BlazeTestCase: XCTestCase {
    var dir: URL!
    var opened: [BlazeDBClient] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("blazedb-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for db in opened { try? db.close() }
        opened.removeAll()
        try? FileManager.default.removeItem(at: dir)
    }

    func url(_ name: String = "test") -> URL { dir.appendingPathComponent(name + ".blazedb") }

    func makeDB(_ name: String = "test") throws -> BlazeDBClient {
        let db = try BlazeDBClient(name: name, fileURL: url(name), password: goodPassword)
        opened.append(db)
        return db
    }

    /// Asserts that `body` throws a `BlazeDBError` for which `check` holds.
    func assertBlazeError<T>(
        _ body: @autoclosure () throws -> T,
        file: StaticString = #filePath, line: UInt = #line,
        _ check: (BlazeDBError) -> Bool
    ) {
        do {
            _ = try body()
            XCTFail("expected a BlazeDBError, nothing was thrown", file: file, line: line)
        } catch let e as BlazeDBError {
            XCTAssertTrue(check(e), "unexpected case: \(e)", file: file, line: line)
        } catch {
            XCTFail("expected a BlazeDBError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    func assertBlazeErrorAsync<T>(
        file: StaticString = #filePath, line: UInt = #line,
        _ body: () async throws -> T,
        _ check: (BlazeDBError) -> Bool
    ) async {
        do {
            _ = try await body()
            XCTFail("expected a BlazeDBError, nothing was thrown", file: file, line: line)
        } catch let e as BlazeDBError {
            XCTAssertTrue(check(e), "unexpected case: \(e)", file: file, line: line)
        } catch {
            XCTFail("expected a BlazeDBError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}

func isNotImplemented(_ e: BlazeDBError) -> Bool {
    if case .notImplemented = e { return true }
    return false
}

func isClosedError(_ e: BlazeDBError) -> Bool {
    if case .invalidInput(let reason) = e { return reason.contains("has been closed") }
    return false
}
