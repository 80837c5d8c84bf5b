import Foundation
internal import BlazeDBBindings

// Dumps (parity §2.12): upstream's `.blazedump` v1, written byte for byte as upstream
// writes it and verified against its manifest before anything is restored (the Rust core's
// `dump` module; docs/DUMPS.md). A v1 dump is JSON, so types drift on a round trip as
// upstream's did: `.data` comes back as base64 `.string`, dates in whole seconds, whole
// doubles as `.int`, UUID-like strings as `.uuid`, numeric arrays as `.vector`.

/// The dump format's version; upstream defines only v1.
public enum DumpFormatVersion: Int, Codable, Sendable { case v1 = 1 }

/// A verified dump's header. For one of the core's lossless dumps (not upstream's format)
/// `databaseId` is the nil UUID and `databaseName` the source file's name.
public struct DumpHeader: Codable, Sendable {
    /// Always `.v1` (our lossless dumps are version 1 of their own format too).
    public let formatVersion: DumpFormatVersion
    /// The exporting database's schema version (0.0 when it had none).
    public let schemaVersion: SchemaVersion
    /// Random per export, as upstream writes it.
    public let databaseId: UUID
    /// When the dump was written (whole seconds in a v1 dump).
    public let exportedAt: Date
    /// The exporting database's name.
    public let databaseName: String
    /// The writing tool (`BlazeDB-1.0` for upstream's and ours).
    public let toolVersion: String?
}

/// A schema version, `major.minor`, ordered by major then minor (upstream's type).
public struct SchemaVersion: Codable, Comparable, CustomStringConvertible, Sendable {
    /// Incompatible layout changes.
    public let major: Int
    /// Compatible changes.
    public let minor: Int
    /// The version `major.minor`.
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    /// Major first, then minor.
    public static func < (a: SchemaVersion, b: SchemaVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
    /// `major.minor`.
    public var description: String { "\(major).\(minor)" }
    /// The next minor version.
    public func nextMinor() -> SchemaVersion { SchemaVersion(major: major, minor: minor + 1) }
    /// The next major version, minor 0.
    public func nextMajor() -> SchemaVersion { SchemaVersion(major: major + 1, minor: 0) }
}

extension StoredSchemaVersion {
    var swift: SchemaVersion { SchemaVersion(major: Int(major), minor: Int(minor)) }
}

private func mapped<T>(_ body: () throws -> T) throws -> T {
    try BlazeDBClient.mapping(name: "dump", path: "dump", body)
}

/// Upstream's dump importer: verify a dump, or restore one into an empty database.
public struct BlazeDBImporter {
    /// Restores an upstream v1 dump (or one of the core's lossless dumps of one collection)
    /// into `db`, which must be empty. Nothing is written unless the whole dump verifies
    /// against its manifest; the records go in one transaction, then the dump's schema
    /// version is stored. A dump whose schema version differs from the database's (0.0 when
    /// unset) throws `.migrationFailed` unless `allowSchemaMismatch`.
    public static func restore(from dumpURL: URL, to db: BlazeDBClient, allowSchemaMismatch: Bool = false) throws {
        try restore(from: dumpURL, to: db, allowSchemaMismatch: allowSchemaMismatch, allowLegacyHashMismatch: false)
    }

    /// As `restore(from:to:allowSchemaMismatch:)`. `allowLegacyHashMismatch` changes
    /// nothing: dumps of upstream before 2.8, whose hashes do not cover the file's own
    /// bytes, are verified either way, by finding the member order that reproduces each hash.
    public static func restore(from dumpURL: URL, to db: BlazeDBClient, allowSchemaMismatch: Bool = false, allowLegacyHashMismatch: Bool = false) throws {
        try db.ensureNotClosed()
        let info = try mapped { try verifyDump(path: dumpURL.path) }
        let dumpVersion = info.schemaVersion?.swift ?? SchemaVersion(major: 0, minor: 0)
        let dbVersion = try db.getSchemaVersion() ?? SchemaVersion(major: 0, minor: 0)
        if !allowSchemaMismatch && dumpVersion != dbVersion {
            throw BlazeDBError.migrationFailed(
                "Schema version mismatch: dump is \(dumpVersion), database is \(dbVersion). Use allowSchemaMismatch: true to override, or run migrations first.",
                underlyingError: nil)
        }
        if db.isInTransaction { throw BlazeDBError.transactionFailed("Transaction already in progress") }
        let existing = try db.count()
        if existing > 0 {
            throw BlazeDBError.invalidInput(reason: "Cannot restore to non-empty database. Database has \(existing) records. Clear database first or use a new database.")
        }
        _ = try db.map { try db.db.restoreDump(path: dumpURL.path, collection: db.collection) }
        if let v = info.schemaVersion { try db.setSchemaVersion(v.swift) }
    }

    /// Verifies a dump against its manifest (a changed byte throws `.corruptedData`) and
    /// returns its header.
    public static func verify(_ dumpURL: URL) throws -> DumpHeader {
        try verify(dumpURL, allowLegacyHashMismatch: false)
    }

    /// As `verify(_:)`; `allowLegacyHashMismatch` changes nothing (see `restore`).
    public static func verify(_ dumpURL: URL, allowLegacyHashMismatch: Bool = false) throws -> DumpHeader {
        let info = try mapped { try verifyDump(path: dumpURL.path) }
        return DumpHeader(
            formatVersion: .v1,
            schemaVersion: info.schemaVersion?.swift ?? SchemaVersion(major: 0, minor: 0),
            databaseId: info.databaseId.flatMap(UUID.init(uuidString:)) ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
            exportedAt: BlazeDateConversion.date(unixSeconds: info.createdSecs, nanoseconds: info.createdNanos),
            databaseName: info.source,
            toolVersion: info.toolVersion)
    }
}

extension BlazeDBClient {
    /// Writes this database's live records to an upstream `.blazedump` v1 at `url`, as
    /// upstream writes one (its `databaseName` is this client's name, its schema version the
    /// stored one or 0.0), from the last commit, atomically. Values JSON cannot hold (NaN,
    /// dates outside years 0000-9999) throw `.invalidData`.
    public func export(to url: URL) throws {
        let version = try getSchemaVersion().map { StoredSchemaVersion(major: Int64($0.major), minor: Int64($0.minor)) }
        _ = try map { try db.exportUpstreamDump(collection: collection, path: url.path, databaseName: name, schemaVersion: version) }
    }

    /// The async form of `export(to:)`.
    public func export(to url: URL) async throws {
        try await offload { try self.export(to: url) }
    }
}
