import Foundation

/// A record: field names to values. Codable as `{"storage": {...}}`, as upstream.
public struct BlazeDataRecord: Codable, Hashable, Equatable, Sendable {
    public var storage: [String: BlazeDocumentField]

    public init(_ storage: [String: BlazeDocumentField]) {
        self.storage = storage
    }

    public subscript(key: String) -> BlazeDocumentField? {
        get { storage[key] }
        set { storage[key] = newValue }
    }

    private enum CodingKeys: String, CodingKey {
        case storage
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        storage = try c.decode([String: BlazeDocumentField].self, forKey: .storage)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(storage, forKey: .storage)
    }
}
