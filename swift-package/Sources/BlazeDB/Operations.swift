import Foundation
internal import BlazeDBBindings

// Health, stats (parity §2.13) and file backups (§2.12), from the Rust core's operations
// module (docs/OPERATIONS.md). The numbers are the core's; Swift gives them upstream's shape.

/// Overall health, encoded as upstream's `"OK"`, `"WARN"`, `"ERROR"`.
public enum DatabaseHealth: String, Codable, Sendable {
    case ok = "OK"
    case warn = "WARN"
    case error = "ERROR"
}

/// The core's health report: the worst finding, each finding, what to do, and one line.
public struct HealthReport: Codable, Sendable {
    /// The worst finding.
    public let status: DatabaseHealth
    /// Each finding, in words.
    public let reasons: [String]
    /// What to do, one line per finding that has a remedy.
    public let suggestedActions: [String]
    /// One line: the status and the number of findings.
    public let summary: String
}

/// Upstream's statistics. redb has no write-ahead log, so `walSize` and `lastCheckpoint`
/// are nil. `cacheHitRate` is measured (upstream hard-wired 0); `cacheHitRateAvailable` is
/// false before the handle's first page access. `pageCount` is the pages allocated in the
/// file; `recordCount` the live records this client sees (as `count()`); `databaseSize`
/// the file's size on disk.
public struct DatabaseStats: Codable, Sendable {
    /// Pages allocated in the file.
    public let pageCount: Int
    /// Always nil: redb has no write-ahead log.
    public let walSize: Int64?
    /// Always nil: redb has no write-ahead log.
    public let lastCheckpoint: Date?
    /// Page-cache hits over all accesses since the handle opened (0 before any).
    public let cacheHitRate: Double
    /// Whether `cacheHitRate` is a measurement yet.
    public let cacheHitRateAvailable: Bool
    /// Indexes of every collection in the file.
    public let indexCount: Int
    /// This client's live records, as `count()`.
    public let recordCount: Int
    /// The file's size on disk, in bytes.
    public let databaseSize: Int64
}

/// What `backup(to:)` wrote (upstream's fields). `recordCount` counts this client's live
/// records in the backup.
public struct BackupStats: Sendable {
    /// This client's live records in the backup.
    public let recordCount: Int
    /// The backup file's size, in bytes.
    public let fileSize: Int64
    /// How long the backup took.
    public let duration: TimeInterval
    /// When it finished.
    public let timestamp: Date

    /// Upstream's multi-line summary.
    public var description: String {
        "Backup Stats:\n  Records: \(recordCount)\n  Size: \(fileSize / 1024 / 1024) MB\n"
            + "  Duration: \(String(format: "%.2f", duration))s\n  Created: \(timestamp)"
    }
}

extension BlazeDBClient {
    /// The health report: fragmentation, soft-deleted records, cache hit rate, file size,
    /// and the authentication of every encrypted block (docs/OPERATIONS.md, "Health").
    public func health() throws -> HealthReport {
        let h = try map { try db.health() }
        let status: DatabaseHealth
        switch h.status {
        case .ok: status = .ok
        case .warn: status = .warn
        case .error: status = .error
        }
        return HealthReport(status: status, reasons: h.reasons, suggestedActions: h.suggestedActions, summary: h.summary)
    }

    /// The database's numbers (see `DatabaseStats`). It walks the B-tree pages, not the
    /// records; call it on demand.
    public func stats() throws -> DatabaseStats {
        let s = try map { try db.stats() }
        let mine = s.collections.first { $0.name == collection }?.records ?? 0
        return DatabaseStats(
            pageCount: Int(s.allocatedPages ?? (s.leafPages + s.branchPages)),
            walSize: nil, lastCheckpoint: nil,
            cacheHitRate: s.cacheHitRate ?? 0, cacheHitRateAvailable: s.cacheHitRate != nil,
            indexCount: Int(s.indexCount), recordCount: Int(mine), databaseSize: Int64(s.fileBytes))
    }

    /// Writes a backup of the last commit to `url`, encrypted with this database's password
    /// (it opens with the same password). An existing file at `url` is replaced, as
    /// upstream did; the new backup is written beside it first, so a failed backup leaves
    /// the old one. Writers are not blocked while it runs; an open transaction's writes
    /// are not in it.
    public func backup(to url: URL) throws -> BackupStats {
        let started = Date()
        try ensureNotClosed()
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).backup-\(UUID().uuidString)")
        let report = try map {
            try db.backup(path: tmp.path, options: Self.options(password: password, project: project), allowPlaintext: false)
        }
        do {
            let fm = FileManager.default
            if fm.fileExists(atPath: url.path) { try fm.removeItem(at: url) }
            try fm.moveItem(at: tmp, to: url)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw BlazeDBError.permissionDenied(operation: "replace backup file: \(error)", path: url.path)
        }
        let mine = report.collections.first { $0.name == collection }?.records ?? 0
        return BackupStats(recordCount: Int(mine), fileSize: Int64(report.bytes), duration: Date().timeIntervalSince(started), timestamp: Date())
    }

    /// Replaces this database's contents with the backup at `url` (written by
    /// `backup(to:)`, so it opens with this database's password), in one transaction:
    /// every collection is dropped and the backup's collections, records, indexes and
    /// schema version are copied in; this database's own indexes are then re-created over
    /// the restored records (a unique index the backup's records violate makes the restore
    /// fail). Nothing changes if any step fails. Soft-deleted
    /// records of the backup are not copied. Observers see the change as deletes and
    /// inserts. Throws `.recordNotFound` (upstream's case) when there is no file at `url`,
    /// and `.transactionFailed` while a transaction is open.
    public func restore(from url: URL) throws {
        try withLock {
            try ensureNotClosed()
            if isInTransaction { throw BlazeDBError.transactionFailed("Transaction already in progress") }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw BlazeDBError.recordNotFound(id: nil, collection: nil, suggestion: "Backup file not found at \(url.path)")
            }
            let options = OpenOptions(readOnly: true, create: false, password: password)
            let source = try map { try BlazeDBBindings.Database.open(path: url.path, options: options) }
            defer { try? source.closeDatabase() }
            let tx = try map { try db.begin() }
            do {
                try map {
                    // Backups carry no index definitions (the core's backup copies records,
                    // counters and the schema version), so the live indexes are kept: read
                    // here, re-created over the restored records below.
                    var liveIndexes: [(String, [IndexDescription])] = []
                    for c in try tx.collections() {
                        liveIndexes.append((c, try tx.indexes(collection: c)))
                        _ = try tx.dropCollection(collection: c)
                    }
                    for c in try source.collections() {
                        let records = try source.all(collection: c)
                        var start = 0
                        while start < records.count {
                            let end = Swift.min(start + 10_000, records.count)
                            _ = try tx.insertMany(collection: c, records: Array(records[start..<end]))
                            start = end
                        }
                        for ix in try source.indexes(collection: c) {
                            _ = try tx.createIndex(collection: c, def: IndexDef(
                                fields: ix.fields, unique: ix.kind == .unique, fullText: ix.kind == .fullText, name: ix.name))
                        }
                    }
                    for (c, defs) in liveIndexes {
                        let present = Set(try tx.indexes(collection: c).map(\.name))
                        for ix in defs where !present.contains(ix.name) {
                            _ = try tx.createIndex(collection: c, def: IndexDef(
                                fields: ix.fields, unique: ix.kind == .unique, fullText: ix.kind == .fullText, name: ix.name))
                        }
                    }
                    if let v = try source.schemaVersion() { try tx.setSchemaVersion(version: v) }
                    try tx.commit()
                }
            } catch {
                try? tx.rollback()
                throw error
            }
        }
    }

    /// The async form of `backup(to:)`.
    public func backup(to url: URL) async throws -> BackupStats {
        try await offload { try self.backup(to: url) }
    }

    /// The async form of `restore(from:)`.
    public func restore(from url: URL) async throws {
        try await offload { try self.restore(from: url) }
    }
}
