import Foundation
internal import BlazeDBBindings

// Async variants (parity §2.9): the synchronous calls, run on a global queue so that they
// never block a Swift concurrency thread. In an async context Swift picks these overloads.

extension BlazeDBClient {
    @discardableResult
    public func insert(_ data: BlazeDataRecord) async throws -> UUID {
        try await offload { try self.insert(data) }
    }

    public func insert(_ data: BlazeDataRecord, id: UUID) async throws {
        try await offload { try self.insert(data, id: id) }
    }

    @discardableResult
    public func insertMany(_ records: [BlazeDataRecord]) async throws -> [UUID] {
        try await offload { try self.insertMany(records) }
    }

    public func fetch(id: UUID) async throws -> BlazeDataRecord? {
        try await offload { try self.fetch(id: id) }
    }

    public func fetchAll() async throws -> [BlazeDataRecord] {
        try await offload { try self.fetchAll() }
    }

    public func fetchPage(offset: Int, limit: Int) async throws -> [BlazeDataRecord] {
        try await offload { try self.fetchPage(offset: offset, limit: limit) }
    }

    public func fetchBatch(ids: [UUID]) async throws -> [UUID: BlazeDataRecord] {
        try await offload { try self.fetchBatch(ids: ids) }
    }

    /// Upstream's async update takes `data:` (the sync one takes `with:`).
    public func update(id: UUID, data: BlazeDataRecord) async throws {
        try await offload { try self.update(id: id, with: data) }
    }

    public func update(id: UUID, with data: BlazeDataRecord) async throws {
        try await offload { try self.update(id: id, with: data) }
    }

    public func updateFields(id: UUID, fields: [String: BlazeDocumentField]) async throws {
        try await offload { try self.updateFields(id: id, fields: fields) }
    }

    @discardableResult
    public func upsert(id: UUID, data: BlazeDataRecord) async throws -> Bool {
        try await offload { try self.upsert(id: id, data: data) }
    }

    public func delete(id: UUID) async throws {
        try await offload { try self.delete(id: id) }
    }

    @discardableResult
    public func deleteMany(ids: [UUID]) async throws -> Int {
        try await offload { try self.deleteMany(ids: ids) }
    }

    public func softDelete(id: UUID) async throws {
        try await offload { try self.softDelete(id: id) }
    }

    public func purge() async throws {
        try await offload { try self.purge() }
    }

    public func count() async throws -> Int {
        try await offload { try self.count() }
    }

    @discardableResult
    public func updateMany(where predicate: @escaping @Sendable (BlazeDataRecord) -> Bool, set fields: [String: BlazeDocumentField]) async throws -> Int {
        try await offload { try self.updateMany(where: predicate, set: fields) }
    }

    @discardableResult
    public func deleteMany(where predicate: @escaping @Sendable (BlazeDataRecord) -> Bool) async throws -> Int {
        try await offload { try self.deleteMany(where: predicate) }
    }

    public func persist() async throws {
        try await offload { try self.persist() }
    }

    @available(*, deprecated, renamed: "persist")
    public func flush() async throws {
        try await offload { try self.persist() }
    }

    // MARK: Batch (async only upstream)

    /// The live records among `ids`, keyed by id.
    public func fetchMany(ids: [UUID]) async throws -> [UUID: BlazeDataRecord] {
        try await offload { try self.fetchBatch(ids: ids) }
    }

    /// The records lined up with `ids` (nil where missing), in one call.
    public func fetchManyOrdered(ids: [UUID]) async throws -> [BlazeDataRecord?] {
        try await offload {
            try PackedRecords.optionalRecords(self.read {
                try $0.getManyPacked(collection: self.collection, ids: PackedRecords.ids(ids))
            })
        }
    }

    /// For each id, whether a live record has it.
    public func existsMany(ids: [UUID]) async throws -> [UUID: Bool] {
        let found = try await existsManyOrdered(ids: ids)
        return Dictionary(zip(ids, found), uniquingKeysWith: { a, _ in a })
    }

    /// Lined up with `ids`: whether a live record has each.
    public func existsManyOrdered(ids: [UUID]) async throws -> [Bool] {
        try await fetchManyOrdered(ids: ids).map { $0 != nil }
    }

    /// Upserts each `(id, record)` in one transaction; returns how many were written.
    @discardableResult
    public func upsertMany(_ records: [(id: UUID, record: BlazeDataRecord)]) async throws -> Int {
        let batch = try records.map { (id: $0.id.uuidString, record: try $0.record.toFFI()) }
        return try await offload {
            try self.batchWrite { store in
                for r in batch { _ = try store.upsert(collection: self.collection, id: r.id, record: r.record) }
                return batch.count
            }
        }
    }

    /// Upserts records by their `id` field (a new id where they have none), in one
    /// transaction; returns, for each, whether it inserted and its id.
    public func upsertMany(_ records: [BlazeDataRecord]) async throws -> [(wasInsert: Bool, id: UUID)] {
        let batch = try records.map { r -> (id: UUID, record: [String: BlazeValue]) in
            // A time-ordered id from the core, as inserts get (docs/design.md §3).
            let id = r.storage["id"]?.uuidValue ?? UUID(uuidString: newRecordId()) ?? UUID()
            var r = r
            r.storage["id"] = .uuid(id)
            return (id, try r.toFFI())
        }
        return try await offload {
            try self.batchWrite { store in
                try batch.map { r in
                    (wasInsert: try store.upsert(collection: self.collection, id: r.id.uuidString, record: r.record), id: r.id)
                }
            }
        }
    }

    /// Merges `fields` into each live record among `ids`, in one transaction; returns how
    /// many were updated (missing ids are skipped).
    @discardableResult
    public func updateMany(ids: [UUID], set fields: [String: BlazeDocumentField]) async throws -> Int {
        let f = try ffiRecord(fields)
        return try await offload {
            try self.batchWrite { store in
                let present = try store.getMany(collection: self.collection, ids: ids.map(\.uuidString))
                var n = 0
                for (id, r) in zip(ids, present) where r != nil {
                    try store.updateFields(collection: self.collection, id: id.uuidString, fields: f)
                    n += 1
                }
                return n
            }
        }
    }
}
