import Foundation
import XCTest
@testable import BlazeDB
@testable import BlazeDBBindings

/// Every core error reaches Swift as upstream's case with its payload (docs/BINDINGS.md,
/// "Errors"). Other suites trigger most of them through real calls; this covers the ones a
/// test cannot provoke on demand (a full disk, an OS permission refusal as root, a lookup by
/// index name, an internal panic) and pins the whole table, so a new core variant that
/// lands in the wrong case fails here.
final class ErrorMappingTests: XCTestCase {
    private func map(_ e: BlazeError) -> BlazeDBError {
        BlazeDBError.from(e, name: "db", path: "/tmp/db.blazedb")
    }

    func testEveryCoreErrorMapsToItsUpstreamCase() {
        let id = UUID()
        guard case .recordExists(let got, _) = map(.RecordExists(id: id.uuidString)), got == id else {
            return XCTFail("RecordExists")
        }
        guard case .recordNotFound(let nf, _, _) = map(.RecordNotFound(id: id.uuidString)), nf == id else {
            return XCTFail("RecordNotFound")
        }
        guard case .transactionFailed(let r, _) = map(.TransactionFailed(reason: "busy")), r == "busy" else {
            return XCTFail("TransactionFailed")
        }
        guard case .invalidQuery(let q, _) = map(.InvalidQuery(reason: "bad")), q == "bad" else {
            return XCTFail("InvalidQuery")
        }
        guard case .indexNotFound(let f, _) = map(.IndexNotFound(name: "by-status")), f == "by-status" else {
            return XCTFail("IndexNotFound")
        }
        guard case .transactionFailed(let u, _) = map(.UniqueViolation(index: "email", collection: "users", existing: id.uuidString)),
              u.hasPrefix("Unique constraint violation on 'email'"), u.contains(id.uuidString) else {
            return XCTFail("UniqueViolation")
        }
        guard case .invalidField(let name, let expected, let actual) = map(.InvalidField(field: "id", reason: "must be a uuid or a UUID string, not int")),
              name == "id", expected == "a uuid or a UUID string", actual == "int" else {
            return XCTFail("InvalidField")
        }
        guard case .diskFull = map(.DiskFull) else { return XCTFail("DiskFull") }
        guard case .permissionDenied(let op, let path) = map(.PermissionDenied(reason: "read-only handle")),
              op == "read-only handle", path == "/tmp/db.blazedb" else {
            return XCTFail("PermissionDenied")
        }
        guard case .concurrentProcessAccessNotSupported(_, let lockedAt) = map(.DatabaseLocked(path: "/tmp/x.blazedb")),
              lockedAt?.path == "/tmp/x.blazedb" else {
            return XCTFail("DatabaseLocked")
        }
        guard case .corruptedData(let loc, let why) = map(.CorruptedData(reason: "tag")), loc == "/tmp/db.blazedb", why == "tag" else {
            return XCTFail("CorruptedData")
        }
        guard case .passwordMismatch = map(.PasswordMismatch) else { return XCTFail("PasswordMismatch") }
        guard case .passwordTooWeak(let failure) = map(.PasswordTooWeak(missing: ["a digit", "upper case"])),
              failure.missingRequirements == ["a digit", "upper case"] else {
            return XCTFail("PasswordTooWeak")
        }
        guard case .invalidData(let d) = map(.InvalidData(reason: "too deep")), d == "too deep" else {
            return XCTFail("InvalidData")
        }
        guard case .invalidInput(let i) = map(.InvalidInput(reason: "limit")), i == "limit" else {
            return XCTFail("InvalidInput")
        }
        guard case .migrationFailed(let m, _) = map(.MigrationFailed(reason: "step 2")), m == "step 2" else {
            return XCTFail("MigrationFailed")
        }
        guard case .notImplemented(let n) = map(.NotImplemented(feature: "x")), n == "x" else {
            return XCTFail("NotImplemented")
        }
        guard case .invalidInput(let c) = map(.Closed), c.contains("has been closed") else {
            return XCTFail("Closed")
        }
        guard case .transactionFailed(let io, let underlying) = map(.Io(reason: "EIO")), io.contains("EIO"), underlying != nil else {
            return XCTFail("Io")
        }
        guard case .transactionFailed(let internalReason, _) = map(.Internal(reason: "panic")), internalReason.contains("panic") else {
            return XCTFail("Internal")
        }
    }
}
