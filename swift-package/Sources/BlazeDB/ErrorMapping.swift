import Foundation
internal import BlazeDBBindings

extension BlazeDBError {
    /// Rebuilds the upstream case from the core's error (table in docs/BINDINGS.md).
    static func from(_ e: BlazeError, name: String, path: String) -> BlazeDBError {
        switch e {
        case .RecordExists(let id):
            return .recordExists(id: UUID(uuidString: id))
        case .RecordNotFound(let id):
            return .recordNotFound(id: UUID(uuidString: id))
        case .TransactionFailed(let reason):
            return .transactionFailed(reason)
        case .InvalidQuery(let reason):
            return .invalidQuery(reason: reason)
        case .IndexNotFound(let field):
            return .indexNotFound(field: field)
        case .UniqueViolation(let index, let collection, let existing):
            // Upstream threw this for a unique violation (its uniqueConstraintViolation helper).
            return .uniqueConstraintViolation(
                field: index, value: nil,
                message: "record \(existing) in collection '\(collection)' already holds this key of unique index '\(index)'")
        case .InvalidField(let field, let reason):
            let (expected, actual) = splitFieldReason(reason)
            return .invalidField(name: field, expectedType: expected, actualType: actual)
        case .DiskFull:
            return .diskFull()
        case .PermissionDenied(let reason):
            return .permissionDenied(operation: reason, path: path)
        case .DatabaseLocked(let locked):
            return .concurrentProcessAccessNotSupported(operation: "open database", path: URL(fileURLWithPath: locked))
        case .CorruptedData(let reason):
            return .corruptedData(location: path, reason: reason)
        case .PasswordMismatch:
            return .passwordMismatch
        case .PasswordTooWeak(let missing):
            return .passwordTooWeak(PasswordStrengthValidator.PolicyFailure(
                estimatedStrength: .veryWeak, missingRequirements: missing,
                policySummary: PasswordStrengthValidator.Requirements.recommended.policySummary))
        case .InvalidData(let reason):
            return .invalidData(reason: reason)
        case .InvalidInput(let reason):
            return .invalidInput(reason: reason)
        case .MigrationFailed(let reason):
            return .migrationFailed(reason)
        case .NotImplemented(let feature):
            return .notImplemented(feature: feature)
        case .Closed:
            return .invalidInput(reason: "Database '\(name)' has been closed. Create a new instance to continue operations.")
        case .Io(let reason):
            return .transactionFailed("I/O error: \(reason)", underlyingError: e)
        case .Internal(let reason):
            return .transactionFailed("Internal error: \(reason)", underlyingError: e)
        }
    }

    /// The core says why a field was refused in words; upstream's case wants an expected and
    /// an actual type. The core's id rule ("must be a uuid or a UUID string, not int") and its
    /// "… is not a UUID" split cleanly; anything else keeps the whole reason as the
    /// expectation.
    private static func splitFieldReason(_ reason: String) -> (String, String) {
        if reason.hasPrefix("must be "), let r = reason.range(of: ", not ") {
            return (String(reason[reason.index(reason.startIndex, offsetBy: 8)..<r.lowerBound]), String(reason[r.upperBound...]))
        }
        if let r = reason.range(of: " is not a UUID") {
            return ("UUID string", String(reason[..<r.lowerBound]))
        }
        return (reason, "a value that breaks this rule")
    }
}

/// Runs blocking work off the caller's thread (the async variants are the sync calls on a
/// global queue, as upstream's were sync work wrapped in async).
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
        DispatchQueue.global(qos: .userInitiated).async {
            c.resume(with: Result { try work() })
        }
    }
}
