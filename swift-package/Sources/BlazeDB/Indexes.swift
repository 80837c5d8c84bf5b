import Foundation
internal import BlazeDBBindings

// Secondary, compound and unique indexes (parity §2.7), kept by the Rust core: persisted in
// the file (upstream kept unique constraints in memory only, to be re-declared on every
// open), maintained in every write's transaction, and used by the query planner for
// `query()` without hints. Names are upstream's: the fields joined with "+".

extension BlazeDBClient {
    /// Creates (or finds) the index of `fields` with the given uniqueness. An index of that
    /// name that already exists with the same fields and kind is kept, since upstream's
    /// `createIndex` could be called again on every launch; one of that name but another
    /// shape throws `.invalidInput` from the core.
    func ensureIndex(_ fields: [String], unique: Bool) throws {
        guard !fields.isEmpty else {
            throw BlazeDBError.invalidInput(reason: "an index needs at least one field")
        }
        let def = IndexDef(fields: fields, unique: unique, fullText: false, name: nil)
        let kind: IndexKind = unique ? .unique : .bTree
        let name = fields.joined(separator: "+")
        try write { store in
            if try store.indexes(collection: collection).contains(where: {
                $0.name == name && $0.fields == fields && $0.kind == kind
            }) {
                return
            }
            _ = try store.createIndex(collection: collection, def: def)
        }
    }

    /// An index on `field`, built over the stored records in one transaction. Queries use
    /// it by themselves.
    public func createIndex(on field: String) throws { try ensureIndex([field], unique: false) }

    /// A compound index on `fields`, in that order; its name is the fields joined with "+".
    public func createIndex(on fields: [String]) throws { try ensureIndex(fields, unique: false) }

    /// A unique index on `field`: a write that would give two live records the same value
    /// throws `.transactionFailed("Unique constraint violation on '<field>' …")` and stores
    /// nothing. Records without the field (or with a null) are exempt. Creating it over
    /// records that already repeat a value throws the same error and creates nothing.
    public func createUniqueIndex(on field: String) throws { try ensureIndex([field], unique: true) }

    /// A unique index on the combination of `fields`.
    public func createUniqueCompoundIndex(on fields: [String]) throws { try ensureIndex(fields, unique: true) }

    /// The async form of `createIndex(on:)`.
    public func createIndex(on field: String) async throws {
        try await offload { try self.createIndex(on: field) }
    }

    /// Upstream's async compound index: `createIndex(on: fields)` off the caller's thread.
    public func createCompoundIndex(on fields: [String]) async throws {
        try await offload { try self.createIndex(on: fields) }
    }
}
