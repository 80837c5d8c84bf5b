import Foundation

/// Every error BlazeDB throws: upstream's cases, names and payloads, plus `notImplemented`
/// for API that exists here but whose engine feature has not landed yet.
///
/// Errors from the Rust core arrive as the generated `BlazeError` and are rebuilt into
/// these cases by `BlazeDBError.from(_:context:)` (the mapping table is in
/// `docs/BINDINGS.md`).
public enum BlazeDBError: Error, LocalizedError, CustomStringConvertible {
    case recordExists(id: UUID? = nil, suggestion: String? = nil)
    case recordNotFound(id: UUID? = nil, collection: String? = nil, suggestion: String? = nil)
    case transactionFailed(String, underlyingError: Error? = nil)
    case migrationFailed(String, underlyingError: Error? = nil)
    case invalidQuery(reason: String, suggestion: String? = nil)
    case indexNotFound(field: String, availableIndexes: [String] = [])
    case invalidField(name: String, expectedType: String, actualType: String)
    case diskFull(availableSpace: Int64? = nil)
    case permissionDenied(operation: String, path: String? = nil)
    case databaseLocked(operation: String, timeout: TimeInterval? = nil, path: URL? = nil)
    /// A second open of a file that is already open for writing (in this process or another).
    case concurrentProcessAccessNotSupported(operation: String, path: URL? = nil)
    case corruptedData(location: String, reason: String)
    case passwordTooWeak(PasswordStrengthValidator.PolicyFailure)
    case passwordMismatch
    case invalidData(reason: String)
    case invalidInput(reason: String)
    /// Not in upstream: the API exists but the engine does not implement it yet (see
    /// docs/BINDINGS.md, "Not implemented yet"). Nothing was changed.
    case notImplemented(feature: String)

    public var errorDescription: String? {
        switch self {
        case .recordExists(let id, let suggestion):
            var m = "Record already exists"
            if let id { m += " with ID: \(id)" }
            m += ". Use update() to modify existing record or upsert() to insert-or-update."
            if let suggestion { m += " \(suggestion)" }
            return m
        case .recordNotFound(let id, let collection, let suggestion):
            var m = "Record not found"
            if let id { m += " with ID: \(id)" }
            if let collection { m += " in collection '\(collection)'" }
            m += ". The record may have been deleted or never existed."
            m += suggestion.map { " \($0)" } ?? " Verify the ID is correct."
            return m
        case .transactionFailed(let reason, let underlying):
            var m = "Transaction failed: \(reason)"
            if let underlying { m += ". Underlying error: \(underlying.localizedDescription)" }
            return m + " All changes have been rolled back."
        case .migrationFailed(let reason, let underlying):
            var m = "Database migration failed: \(reason)"
            if let underlying { m += ". Underlying error: \(underlying.localizedDescription)" }
            return m + " Database may be in inconsistent state. Restore from backup if available."
        case .invalidQuery(let reason, let suggestion):
            return "Invalid query: \(reason)" + (suggestion.map { ". Suggestion: \($0)" } ?? "")
        case .indexNotFound(let field, let available):
            var m = "No index found for field '\(field)'."
            if !available.isEmpty { m += " Available indexes: \(available.joined(separator: ", "))." }
            return m + " Create an index with: db.createIndex(on: \"\(field)\") for better performance."
        case .invalidField(let name, let expected, let actual):
            return "Field '\(name)' has invalid type: expected \(expected) but got \(actual). Check your data model."
        case .diskFull(let available):
            var m = "Disk is full or nearly full."
            if let available { m += " Only \(available / 1024 / 1024) MB available." }
            return m + " Free up disk space and try again."
        case .permissionDenied(let operation, let path):
            var m = "Permission denied for operation: \(operation)"
            if let path { m += " at path: \(path)" }
            return m + ". Check file permissions and app sandbox entitlements."
        case .databaseLocked(let operation, let timeout, let path):
            var m = "Database is locked for operation: \(operation)"
            if let path { m += " at path: \(path.path)" }
            m += ". Another process is currently using this database."
            m += " To resolve: Close the other process or wait for it to finish, then try again."
            if let timeout { m += " (timeout: \(timeout)s)" }
            return m
        case .concurrentProcessAccessNotSupported(let operation, let path):
            var m = "Concurrent process access is not supported (single-process only). Operation: \(operation)."
            if let path { m += " Path: \(path.path)." }
            return m + " The database is held by another process or handle. Close other instances and try again."
        case .corruptedData(let location, let reason):
            return "Data corruption detected at \(location): \(reason). Database integrity may be compromised. Restore from backup if available."
        case .passwordTooWeak(let failure):
            return failure.userMessage
        case .passwordMismatch:
            return "Password does not match the verified session for this database. Use the correct password or call clearSessionKeys() to force re-authentication."
        case .invalidData(let reason):
            return "Invalid data: \(reason). Check input data format and types."
        case .invalidInput(let reason):
            return "Invalid input: \(reason). Check your input parameters."
        case .notImplemented(let feature):
            return "Not implemented yet: \(feature). This BlazeDB build does not support it; nothing was changed."
        }
    }

    public var description: String { errorDescription ?? "BlazeDBError" }
}

extension BlazeDBError {
    /// Upstream's error for a unique-index violation: `.transactionFailed("Unique constraint
    /// violation on '<field>' …: <message>")`. The core's `UniqueViolation` arrives as this.
    public static func uniqueConstraintViolation(field: String, value: BlazeDocumentField?, message: String) -> BlazeDBError {
        var msg = "Unique constraint violation on '\(field)'"
        if let value { msg += " with value '\(value)'" }
        msg += ": \(message)"
        return .transactionFailed(msg)
    }
}

/// Thrown by `validateDatabaseIntegrity(strict: true)` upstream.
public enum BlazeCorruptionError: Error {
    case corrupt
}
