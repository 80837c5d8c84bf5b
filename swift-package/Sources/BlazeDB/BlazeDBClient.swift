import Foundation
internal import BlazeDBBindings

/// The front door, as upstream: `try BlazeDB.open(name: "notes", password: "...")`.
public enum BlazeDB {
    /// Opens (or creates) the database called `name` in the platform directory (Linux:
    /// `~/.local/share/blazedb/`, Apple: `~/Library/Application Support/BlazeDB/`); `notes`
    /// becomes `notes.blazedb`.
    public static func open(name: String, password: String) throws -> BlazeDBClient {
        try BlazeDBClient.openDefault(name: name, password: password)
    }

    /// Opens (or creates) the database file at `url`; its name is the file's stem.
    public static func open(at url: URL, password: String) throws -> BlazeDBClient {
        try BlazeDBClient.open(at: url, password: password)
    }
}

/// One open BlazeDB database, with upstream's API. Thread-safe.
///
/// Upstream keeps one collection per file; this client reads and writes the core's
/// `default` collection of its file. While `beginTransaction()` has a transaction open, every
/// CRUD call on the client, from any thread, runs inside it (upstream's rule), and other
/// handles see none of it until `commitTransaction()` (unlike upstream, which had no
/// isolation).
public final class BlazeDBClient: @unchecked Sendable {
    public let name: String
    /// The database file.
    public let fileURL: URL
    let project: String
    /// Kept for `backup(to:)` and `restore(from:)`: the core's handle does not keep the
    /// secret it was opened with, and a backup of this (encrypted) file is keyed with it.
    let password: String
    let db: BlazeDBBindings.Database
    let collection: String

    /// Guards `transaction` and serializes writes with transaction begin/commit/rollback
    /// and close, like upstream's write lock. Reads outside a transaction do not take it.
    let lock = NSRecursiveLock()
    private(set) var openTransaction: BlazeDBBindings.Transaction?
    let observers: ObserverHub

    // MARK: Opening

    public init(name: String, fileURL: URL, password: String, project: String = "Default") throws {
        guard !name.contains("../"), !name.contains("..\\"), !name.contains("\0") else {
            throw BlazeDBError.invalidInput(reason: "Invalid database name: contains path traversal characters or null bytes")
        }
        guard !name.isEmpty, name.count <= 255 else {
            throw BlazeDBError.invalidInput(reason: "Invalid database name: must be non-empty and <= 255 characters")
        }
        try Self.checkPassword(password)
        let dir = fileURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.path) {
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            } catch {
                throw BlazeDBError.permissionDenied(operation: "create database directory", path: dir.path)
            }
        }
        self.name = name
        self.fileURL = fileURL
        self.project = project
        self.password = password
        self.collection = defaultCollection()
        let opened = try Self.mapping(name: name, path: fileURL.path) {
            try BlazeDBBindings.Database.open(path: fileURL.path, options: Self.options(password: password, project: project))
        }
        db = opened
        observers = ObserverHub(db: opened, name: name)
    }

    public convenience init(name: String, fileURL: URL, password: String) throws {
        try self.init(name: name, fileURL: fileURL, password: password, project: "Default")
    }

    /// Upstream's failable variant: nil instead of an error.
    public convenience init?(name: String, at fileURL: URL, password: String, project: String = "Default") {
        do {
            try self.init(name: name, fileURL: fileURL, password: password, project: project)
        } catch {
            return nil
        }
    }

    private init(name: String, opened: BlazeDBBindings.Database, project: String, password: String) {
        self.name = name
        fileURL = URL(fileURLWithPath: opened.path())
        self.project = project
        self.password = password
        collection = defaultCollection()
        db = opened
        observers = ObserverHub(db: opened, name: name)
    }

    deinit {
        if !db.isClosed() { try? close() }
    }

    /// Every database this API opens is encrypted with its password (Argon2id, AES-256-GCM-SIV;
    /// docs/SECURITY.md), and the core enforces upstream's password rule too.
    static func options(password: String, project: String) -> OpenOptions {
        OpenOptions(project: project, password: password, passwordPolicy: true)
    }

    static func checkPassword(_ password: String) throws {
        if let failure = PasswordStrengthValidator.evaluatePolicy(password, requirements: .recommended) {
            throw BlazeDBError.passwordTooWeak(failure)
        }
    }

    /// Opens the database called `name` in the platform directory.
    public static func open(named name: String, password: String) throws -> BlazeDBClient {
        try openDefault(name: name, password: password)
    }

    /// Opens the database file at `url`; its name is the file's stem.
    public static func open(at url: URL, password: String) throws -> BlazeDBClient {
        try BlazeDBClient(name: url.deletingPathExtension().lastPathComponent, fileURL: url, password: password)
    }

    /// Opens the database called `name` in the directory `path`.
    public static func open(name: String, path: String, password: String) throws -> BlazeDBClient {
        let url = URL(fileURLWithPath: path).appendingPathComponent(name.hasSuffix(".blazedb") ? name : name + ".blazedb")
        return try BlazeDBClient(name: name, fileURL: url, password: password)
    }

    /// Opens (or creates) the database called `name` in the platform directory, with
    /// upstream's file-name rules.
    public static func openDefault(name: String, password: String) throws -> BlazeDBClient {
        try checkPassword(password)
        let opened = try mapping(name: name, path: name) {
            try BlazeDBBindings.Database.openDefault(name: name, options: Self.options(password: password, project: "Default"))
        }
        return BlazeDBClient(name: name, opened: opened, project: "Default", password: password)
    }

    /// Same as `openDefault(name:password:)` (upstream's alias).
    public static func openOrCreate(name: String, password: String) throws -> BlazeDBClient {
        try openDefault(name: name, password: password)
    }

    /// A fresh database in a new temporary directory.
    public static func openForTesting(name: String? = nil, password: String = "DemoPass123!") throws -> BlazeDBClient {
        let n = name ?? "test-\(UUID().uuidString)"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blazedb-\(UUID().uuidString)")
        return try BlazeDBClient(name: n, fileURL: dir.appendingPathComponent(n + ".blazedb"), password: password)
    }

    /// Opens `name`, runs `block`, and closes the database whatever happens.
    public static func withDatabase<T>(name: String, password: String, _ block: (BlazeDBClient) throws -> T) throws -> T {
        let db = try openDefault(name: name, password: password)
        defer { try? db.close() }
        return try block(db)
    }

    /// The directory `open(name:password:)` uses.
    public static var defaultDatabaseDirectory: URL {
        URL(fileURLWithPath: (try? defaultDirectory()) ?? FileManager.default.temporaryDirectory.path, isDirectory: true)
    }

    /// No-op: there is no process key cache (every open derives the key with Argon2id).
    public static func clearSessionKeys() {}
    /// No-op: there is no process key cache (every open derives the key with Argon2id).
    public static func clearSessionKeys(for path: String) {}
    /// Upstream's alias of `clearSessionKeys()`.
    public static func clearCachedKey() {}
    /// Upstream's alias of `clearSessionKeys(for:)`.
    public static func clearCachedKey(for path: String) {}

    // MARK: Closing

    /// Closes the database. Idempotent. An open transaction is rolled back, never committed.
    /// Every later call throws `BlazeDBError.invalidInput` ("… has been closed …").
    public func close() throws {
        lock.lock()
        defer { lock.unlock() }
        if db.isClosed() { return }
        if let tx = openTransaction {
            openTransaction = nil
            try? tx.rollback()
        }
        observers.stop()
        try map { try db.closeDatabase() }
    }

    /// Whether `close()` has run.
    public var isClosed: Bool { db.isClosed() }

    /// Makes every commit durable. Commits are already durable when they return (immediate
    /// durability), so this only syncs the file; inside a transaction it does nothing.
    public func persist() throws {
        try withLock {
            try ensureNotClosed()
            if openTransaction == nil { try map { try db.sync() } }
        }
    }

    @available(*, deprecated, renamed: "persist")
    public func flush() throws { try persist() }

    // MARK: Errors

    func ensureNotClosed() throws {
        if db.isClosed() { throw closedError() }
    }

    func closedError() -> BlazeDBError {
        .invalidInput(reason: "Database '\(name)' has been closed. Create a new instance to continue operations.")
    }

    /// `path` is only evaluated when an error is mapped: `URL.path` builds a new string each
    /// time, which cost about a tenth of a `fetch(id:)`.
    static func mapping<T>(name: String, path: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as BlazeError {
            throw BlazeDBError.from(e, name: name, path: path())
        } catch let e as BlazeDBError {
            throw e
        } catch {
            throw BlazeDBError.transactionFailed("Internal error: \(error)", underlyingError: error)
        }
    }

    /// Runs an FFI call, rebuilding its error as a `BlazeDBError`.
    func map<T>(_ body: () throws -> T) throws -> T {
        try Self.mapping(name: name, path: fileURL.path, body)
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// A write: under the lock, on the open transaction if there is one.
    func write<T>(_ body: (RecordStore) throws -> T) throws -> T {
        try withLock {
            let store: RecordStore = openTransaction ?? db
            return try map { try body(store) }
        }
    }

    /// A read: inside the open transaction if there is one (under the lock, so it cannot
    /// end mid-call), else on the handle's own snapshot without the lock.
    func read<T>(_ body: (RecordStore) throws -> T) throws -> T {
        lock.lock()
        if let tx = openTransaction {
            defer { lock.unlock() }
            return try map { try body(tx) }
        }
        lock.unlock()
        return try map { try body(db) }
    }

    // MARK: Transactions

    /// Begins a transaction; until it ends, every CRUD call on this client runs inside it.
    /// A second `beginTransaction()` throws `.transactionFailed("Transaction already in progress")`.
    public func beginTransaction() throws {
        try withLock {
            try ensureNotClosed()
            if openTransaction != nil { throw BlazeDBError.transactionFailed("Transaction already in progress") }
            openTransaction = try map { try db.begin() }
        }
    }

    /// Commits the open transaction.
    public func commitTransaction() throws {
        try withLock {
            try ensureNotClosed()
            guard let tx = openTransaction else { throw BlazeDBError.transactionFailed("No transaction in progress") }
            openTransaction = nil
            do {
                try map { try tx.commit() }
            } catch {
                throw BlazeDBError.transactionFailed("Commit failed before transaction could be finalized", underlyingError: error)
            }
        }
    }

    /// Rolls back the open transaction.
    public func rollbackTransaction() throws {
        try withLock {
            try ensureNotClosed()
            guard let tx = openTransaction else { throw BlazeDBError.transactionFailed("No transaction to roll back") }
            openTransaction = nil
            try map { try tx.rollback() }
        }
    }

    /// Runs `block` in a transaction: commits if it returns, rolls back and rethrows if it
    /// throws.
    public func transaction(_ block: () throws -> Void) throws {
        try beginTransaction()
        do {
            try block()
            try commitTransaction()
        } catch {
            try? rollbackTransaction()
            throw error
        }
    }

    /// The async form of `transaction(_:)`.
    public func transaction(_ block: () async throws -> Void) async throws {
        try beginTransaction()
        do {
            try await block()
            try commitTransaction()
        } catch {
            try? rollbackTransaction()
            throw error
        }
    }

    /// Runs `closure` in a transaction off the caller's thread.
    public func performTransaction(_ closure: @escaping @Sendable () throws -> Void) async throws {
        try await offload { try self.transaction(closure) }
    }

    /// Whether a transaction is open (not in upstream's public API).
    public var isInTransaction: Bool { withLock { openTransaction != nil } }
}
