import Foundation

/// One field value: upstream BlazeDB's 11 cases.
///
/// Stored natively by the Rust core (`docs/design.md` §2.1); `.date` keeps nanoseconds, so a
/// `Date` converts exactly (see `BlazeDateConversion`).
public enum BlazeDocumentField: Codable, Equatable, Hashable, Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case date(Date)
    case uuid(UUID)
    case data(Data)
    case array([BlazeDocumentField])
    case dictionary([String: BlazeDocumentField])
    case vector([Double])
    case null

    /// The payload as `Any` (`NSNull()` for `.null`), as upstream.
    public var value: Any {
        switch self {
        case .string(let v): return v
        case .int(let v): return v
        case .double(let v): return v
        case .bool(let v): return v
        case .date(let v): return v
        case .uuid(let v): return v
        case .data(let v): return v
        case .array(let v): return v
        case .dictionary(let v): return v
        case .vector(let v): return v
        case .null: return NSNull()
        }
    }

    // MARK: Codable (upstream's shape: the bare value, probed in upstream's order)

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int?
        init?(stringValue: String) { self.stringValue = stringValue; intValue = nil }
        init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
    }

    /// A numeric-only array decodes as `.vector` (upstream's lossy rule).
    private static func arrayOrVector(_ items: [BlazeDocumentField]) -> BlazeDocumentField {
        var doubles: [Double] = []
        doubles.reserveCapacity(items.count)
        for item in items {
            switch item {
            case .double(let d): doubles.append(d)
            case .int(let i): doubles.append(Double(i))
            default: return .array(items)
            }
        }
        return .vector(doubles)
    }

    public init(from decoder: Decoder) throws {
        if let c = try? decoder.singleValueContainer() {
            if c.decodeNil() { self = .null; return }
            if let v = try? c.decode(Int.self) { self = .int(v); return }
            if let v = try? c.decode(Bool.self) { self = .bool(v); return }
            if let v = try? c.decode(Double.self) { self = .double(v); return }
            if let v = try? c.decode(UUID.self) { self = .uuid(v); return }
            if let v = try? c.decode(Date.self) { self = .date(v); return }
            if let v = try? c.decode(String.self) { self = .string(v); return }
            if let v = try? c.decode(Data.self) { self = .data(v); return }
            if let v = try? c.decode([String: BlazeDocumentField].self) { self = .dictionary(v); return }
            if let v = try? c.decode([BlazeDocumentField].self) { self = Self.arrayOrVector(v); return }
        }
        if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var dict: [String: BlazeDocumentField] = [:]
            for key in keyed.allKeys {
                if let v = try? keyed.decode(BlazeDocumentField.self, forKey: key) { dict[key.stringValue] = v }
            }
            self = .dictionary(dict)
            return
        }
        if var unkeyed = try? decoder.unkeyedContainer() {
            var items: [BlazeDocumentField] = []
            while !unkeyed.isAtEnd {
                if let v = try? unkeyed.decode(BlazeDocumentField.self) {
                    items.append(v)
                } else {
                    _ = try? unkeyed.decodeNil()
                    items.append(.null)
                }
            }
            self = Self.arrayOrVector(items)
            return
        }
        throw DecodingError.typeMismatch(
            BlazeDocumentField.self,
            DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "Invalid value type for BlazeDocumentField")
        )
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .date(let v): try c.encode(v)
        case .uuid(let v): try c.encode(v)
        case .data(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .dictionary(let v): try c.encode(v)
        case .vector(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }
}

// MARK: - Value accessors (upstream's conversions, parity §2.2)

public extension BlazeDocumentField {
    /// The text of a `.string`.
    var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// An `.int`, or a finite `.double` truncated toward zero (nil if out of `Int`'s range).
    var intValue: Int? {
        switch self {
        case .int(let v):
            return v
        case .double(let d):
            guard d.isFinite else { return nil }
            let t = d.rounded(.towardZero)
            guard t >= -9_223_372_036_854_775_808.0, t < 9_223_372_036_854_775_808.0 else { return nil }
            return Int(t)
        default:
            return nil
        }
    }

    /// A `.double`, or an `.int` widened.
    var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    /// A `.date`; a `.double`/`.int` read as seconds since 2001-01-01
    /// (`timeIntervalSinceReferenceDate`); or an ISO 8601 `.string` with fractional seconds.
    var dateValue: Date? {
        switch self {
        case .date(let d): return d
        case .double(let t): return Date(timeIntervalSinceReferenceDate: t)
        case .int(let t): return Date(timeIntervalSinceReferenceDate: Double(t))
        case .string(let s): return BlazeDateConversion.parseISO8601(s)
        default: return nil
        }
    }

    /// The bytes of a `.data`.
    var dataValue: Data? {
        if case .data(let v) = self { return v }
        return nil
    }

    /// A `.uuid`, or a `.string` that parses as one.
    var uuidValue: UUID? {
        switch self {
        case .uuid(let u): return u
        case .string(let s): return UUID(uuidString: s)
        default: return nil
        }
    }

    /// A `.bool`, or an `.int` that is not zero.
    var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .int(let i): return i != 0
        default: return nil
        }
    }

    /// The elements of an `.array`.
    var arrayValue: [BlazeDocumentField]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// The entries of a `.dictionary`.
    var dictionaryValue: [String: BlazeDocumentField]? {
        if case .dictionary(let v) = self { return v }
        return nil
    }
}
