import Foundation

/// A parsed JSON document, decoded by Foundation's JSONDecoder (strict: a number is never a
/// Bool and a string is never a number).
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    /// Follows a dotted path (`"data.pressure"`, `"points.0.value"`) through objects and arrays.
    public func value(at path: Substring) -> JSONValue? {
        var node = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch node {
            case .object(let o):
                guard let next = o[String(part)] else { return nil }
                node = next
            case .array(let a):
                guard let i = Int(part), a.indices.contains(i) else { return nil }
                node = a[i]
            default:
                return nil
            }
        }
        return node
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
