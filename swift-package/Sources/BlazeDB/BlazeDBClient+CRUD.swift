import Foundation
internal import BlazeDBBindings

// Raw-record CRUD with upstream's names and argument labels (parity §2.3). Every call is one
// FFI call; the batch calls move the whole batch in one call and one commit.

extension BlazeDBClient {
    private func ids(_ ids: [UUID]) -> [String] { ids.map(\.uuidString) }

    /// Inserts a record; its id is `storage["id"]` (a `.uuid`, or a `.string` holding one),
    /// else a new UUID. `createdAt` and `project` are stamped when absent. A stored id
    /// throws `.recordExists`.
    @discardableResult
    public func insert(_ data: BlazeDataRecord) throws -> UUID {
        let record = try data.toFFI()
        return try uuid(write { try $0.insert(collection: collection, record: record) })
    }

    /// Inserts a record under `id` (replacing any `id` field it has).
    public func insert(_ data: BlazeDataRecord, id: UUID) throws {
        var data = data
        data.storage["id"] = .uuid(id)
        _ = try insert(data)
    }

    /// Inserts many records in one commit, all or nothing; returns their ids in order. The
    /// records go to the core as one packed buffer and the ids come back as one.
    @discardableResult
    public func insertMany(_ records: [BlazeDataRecord]) throws -> [UUID] {
        let batch = try PackedWrites.records(records)
        let ids = try PackedWrites.ids(write { try $0.insertManyPacked(collection: collection, records: batch) })
        guard ids.count == records.count else {
            throw BlazeDBError.corruptedData(location: "packed ids", reason: "\(ids.count) ids for \(records.count) records")
        }
        return ids
    }

    /// The record, or nil if it is missing or soft-deleted.
    public func fetch(id: UUID) throws -> BlazeDataRecord? {
        try PackedRecords.optionalRecord(read { try $0.getPacked(collection: collection, id: id.uuidString) })
    }

    /// The record, or `.recordNotFound`.
    public func fetchRequired(id: UUID) throws -> BlazeDataRecord {
        guard let r = try fetch(id: id) else { throw BlazeDBError.recordNotFound(id: id) }
        return r
    }

    /// Whether a live record has this id.
    public func exists(id: UUID) throws -> Bool {
        try read { try $0.exists(collection: collection, id: id.uuidString) }
    }

    /// Every live record, in id order (upstream's order was unspecified).
    public func fetchAll() throws -> [BlazeDataRecord] {
        try PackedRecords.records(read { try $0.allPacked(collection: collection) })
    }

    /// `limit` live records after skipping `offset`, in id order (the UUID string order, as
    /// upstream); the whole page comes back in one call. Negative arguments throw
    /// `.invalidInput`.
    public func fetchPage(offset: Int, limit: Int) throws -> [BlazeDataRecord] {
        guard offset >= 0, limit >= 0 else {
            throw BlazeDBError.invalidInput(reason: "offset and limit must be non-negative (got offset \(offset), limit \(limit))")
        }
        return try PackedRecords.records(read {
            try $0.pagePacked(collection: collection, offset: UInt64(offset), limit: UInt64(limit))
        })
    }

    /// The live records among `ids`, keyed by id (missing ids are left out). The ids go to
    /// the core as one buffer of 16-byte UUIDs and the records come back as one packed buffer.
    public func fetchBatch(ids: [UUID]) throws -> [UUID: BlazeDataRecord] {
        let packed = try read { try $0.getManyPacked(collection: collection, ids: PackedRecords.ids(ids)) }
        return try PackedRecords.recordsByID(packed, ids: ids)
    }

    /// Number of live records (soft-deleted ones excluded). O(1).
    public func count() throws -> Int {
        Int(try read { try $0.count(collection: collection) })
    }

    /// Replaces a live record (`.recordNotFound` if missing). `createdAt` and `project` are
    /// kept unless `data` sets them; `updatedAt` is stamped.
    public func update(id: UUID, with data: BlazeDataRecord) throws {
        let record = try data.toFFI()
        try write { try $0.update(collection: collection, id: id.uuidString, record: record) }
    }

    /// Merges `fields` into a live record and stamps `updatedAt`.
    public func updateFields(id: UUID, fields: [String: BlazeDocumentField]) throws {
        let f = try ffiRecord(fields)
        try write { try $0.updateFields(collection: collection, id: id.uuidString, fields: f) }
    }

    /// Replaces the live record or inserts `data` under `id`; true if it inserted.
    @discardableResult
    public func upsert(id: UUID, data: BlazeDataRecord) throws -> Bool {
        let record = try data.toFFI()
        return try write { try $0.upsert(collection: collection, id: id.uuidString, record: record) }
    }

    /// Deletes a record. Deleting a missing id is not an error.
    public func delete(id: UUID) throws {
        _ = try write { try $0.delete(collection: collection, id: id.uuidString) }
    }

    /// Deletes many records in one commit; returns how many live ones were removed.
    @discardableResult
    public func deleteMany(ids: [UUID]) throws -> Int {
        Int(try write { try $0.deleteMany(collection: collection, ids: self.ids(ids)) })
    }

    /// Hides a record from fetches and counts, keeping its fields (`isDeleted = true`)
    /// until `purge()`.
    public func softDelete(id: UUID) throws {
        try write { try $0.softDelete(collection: collection, id: id.uuidString) }
    }

    /// Removes soft-deleted records for good.
    public func purge() throws {
        _ = try write { try $0.purge(collection: collection) }
    }

    // MARK: Closure predicates (evaluated in Swift over one snapshot, as upstream)

    /// The live records `predicate` accepts.
    public func find(where predicate: @escaping (BlazeDataRecord) -> Bool) throws -> [BlazeDataRecord] {
        try fetchAll().filter(predicate)
    }

    /// The first live record (in id order) `predicate` accepts.
    public func findOne(where predicate: @escaping (BlazeDataRecord) -> Bool) throws -> BlazeDataRecord? {
        try fetchAll().first(where: predicate)
    }

    /// How many live records `predicate` accepts.
    public func count(where predicate: @escaping (BlazeDataRecord) -> Bool) throws -> Int {
        try fetchAll().lazy.filter(predicate).count
    }

    /// Merges `fields` into every live record `predicate` accepts, in one transaction;
    /// returns how many.
    @discardableResult
    public func updateMany(where predicate: @escaping (BlazeDataRecord) -> Bool, set fields: [String: BlazeDocumentField]) throws -> Int {
        let f = try ffiRecord(fields)
        return try batchWrite { store in
            let targets = try PackedRecords.records(store.allPacked(collection: collection)).filter(predicate)
            for r in targets {
                guard case .uuid(let id)? = r["id"] else { continue }
                try store.updateFields(collection: collection, id: id.uuidString, fields: f)
            }
            return targets.count
        }
    }

    /// Deletes every live record `predicate` accepts, in one transaction; returns how many.
    @discardableResult
    public func deleteMany(where predicate: @escaping (BlazeDataRecord) -> Bool) throws -> Int {
        try batchWrite { store in
            let ids: [String] = try PackedRecords.records(store.allPacked(collection: collection)).compactMap { r in
                guard predicate(r), case .uuid(let id)? = r["id"] else { return nil }
                return id.uuidString
            }
            return Int(try store.deleteMany(collection: collection, ids: ids))
        }
    }

    /// Runs `body` on the open transaction, or on a transaction of its own that commits if
    /// `body` returns and rolls back if it throws.
    func batchWrite<T>(_ body: (RecordStore) throws -> T) throws -> T {
        try withLock {
            if isInTransaction { return try write(body) }
            try beginTransaction()
            do {
                let v = try write(body)
                try commitTransaction()
                return v
            } catch {
                try? rollbackTransaction()
                throw error
            }
        }
    }
}
