import Foundation
import HazmonCore

/// One value decoded from a payload; `tag` is set for batch points.
public struct DecodedPoint: Sendable, Equatable {
    public var tag: String?
    public var value: Double
    public var quality: Quality
    public var sourceTime: Instant?

    public init(tag: String?, value: Double, quality: Quality, sourceTime: Instant?) {
        self.tag = tag
        self.value = value
        self.quality = quality
        self.sourceTime = sourceTime
    }
}

/// Why a payload (or one point of a batch) was dropped.
public enum PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLarge(size: Int, limit: Int)
    case empty
    case notJSON(String)
    case missing(String)
    case wrongType(field: String, found: String)
    case notFinite(String)
    case badTime(String)
    case badQuality(String)
    case duplicateKey(String)
    /// A Sparkplug B payload or metric (`SparkplugHost`), with its counter's reason.
    case sparkplug(reason: String, detail: String)

    public var description: String {
        switch self {
        case .tooLarge(let s, let l): return "payload of \(s) bytes exceeds max_payload \(l)"
        case .empty: return "empty payload"
        case .notJSON(let why): return "not a number and not valid JSON: \(why)"
        case .missing(let f): return "no field \"\(f)\""
        case .wrongType(let f, let t): return "\"\(f)\" is \(t), expected a number"
        case .notFinite(let f): return "\"\(f)\" is not a finite number"
        case .badTime(let t): return "unreadable time \(t)"
        case .badQuality(let q): return "unknown quality \(q)"
        case .duplicateKey(let k): return "the key \(k.quoted()) appears twice in one object: which one is meant?"
        case .sparkplug(_, let detail): return detail
        }
    }

    /// A short stable reason for counters.
    public var reason: String {
        switch self {
        case .tooLarge: return "oversized"
        case .empty: return "empty"
        case .notJSON: return "not_json"
        case .missing: return "missing_field"
        case .wrongType: return "wrong_type"
        case .notFinite: return "not_finite"
        case .badTime: return "bad_time"
        case .badQuality: return "bad_quality"
        case .duplicateKey: return "duplicate_key"
        case .sparkplug(let reason, _): return reason
        }
    }
}

/// Turns MQTT payloads into values. Pure functions: no broker needed to test them.
///
/// Accepted forms: a bare number (`"41.7"`); a JSON number; a JSON object with `value`
/// (and optional `time` / `ts` / `timestamp`, `quality` / `q`); any JSON document with a dotted
/// `json` path to the value, whose sibling `time` and `quality` fields are read too; and batches:
/// an array of point objects, or an object with a `points` array, each naming its `tag`.
public enum PayloadDecoder {
    static let timeKeys = ["time", "ts", "timestamp"]
    static let qualityKeys = ["quality", "q"]
    static let tagKeys = ["tag", "id", "name"]

    /// Parses JSON (or a bare number) once; the caller may then extract several values.
    public static func parse(_ payload: [UInt8], limit: Int) throws(PayloadError) -> JSONValue {
        guard payload.count <= limit else { throw .tooLarge(size: payload.count, limit: limit) }
        var start = 0, end = payload.count
        while start < end, isSpace(payload[start]) { start += 1 }
        while end > start, isSpace(payload[end - 1]) { end -= 1 }
        guard start < end else { throw .empty }
        let first = payload[start]
        if first != UInt8(ascii: "{") && first != UInt8(ascii: "[") && first != UInt8(ascii: "\"") {
            // A bare number, the commonest gateway payload. JSON has no NaN or Infinity, and a
            // gateway that sends them is reporting a failed reading, not a value.
            let text = String(decoding: payload[start..<end], as: UTF8.self)
            if isDecimal(payload[start..<end]), let d = Double(text) {
                guard d.isFinite else { throw .notFinite("payload") }
                return .number(d)
            }
            if ["nan", "inf", "infinity"].contains(text.lowercased().trimmingCharacters(in: ["+", "-"])) {
                throw .notFinite("payload")
            }
            if text == "true" { return .bool(true) }
            if text == "false" { return .bool(false) }
            if text == "null" { return .null }
            throw .notJSON("\"\(text.prefix(40))\"")
        }
        if let key = JSONDuplicateKeys.first(in: payload[start..<end]) { throw .duplicateKey(key) }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(payload[start..<end]))
        } catch {
            throw .notJSON(describe(error))
        }
    }

    /// A plain decimal number, `[+-]digits[.digits][e[+-]digits]` (or `.5`): what `Double()`
    /// also reads as hexadecimal (`0x1p4`), `inf` or `nan` is no gateway's reading.
    static func isDecimal(_ b: ArraySlice<UInt8>) -> Bool {
        var i = b.startIndex
        func digits() -> Int {
            let from = i
            while i < b.endIndex, b[i] >= 48, b[i] <= 57 { i += 1 }
            return i - from
        }
        if i < b.endIndex, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") { i += 1 }
        var mantissa = digits()
        if i < b.endIndex, b[i] == UInt8(ascii: ".") { i += 1; mantissa += digits() }
        guard mantissa > 0 else { return false }
        if i < b.endIndex, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.endIndex, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == b.endIndex
    }

    /// The one value of a single-point payload; `json` is the configured dotted path.
    public static func point(in doc: JSONValue, json: String?) throws(PayloadError) -> DecodedPoint {
        if let json {
            guard let v = doc.value(at: Substring(json)) else { throw .missing(json) }
            let parentPath = json.split(separator: ".").dropLast().joined(separator: ".")
            let parent = parentPath.isEmpty ? doc : doc.value(at: Substring(parentPath))
            return try build(value: v, field: json, siblings: parent)
        }
        switch doc {
        case .object(let o):
            guard let v = o["value"] else { throw .missing("value") }
            return try build(value: v, field: "value", siblings: doc)
        default:
            return try build(value: doc, field: "payload", siblings: nil)
        }
    }

    /// Every point of a batch payload. A bad point is returned as an error and never hides
    /// the good ones beside it.
    public static func batch(in doc: JSONValue, json: String?) -> [Result<DecodedPoint, PayloadError>] {
        let items: [JSONValue]
        switch doc {
        case .array(let a): items = a
        case .object(let o):
            guard case .array(let a)? = o["points"] else { return [.failure(.missing("points"))] }
            items = a
        default:
            return [.failure(.wrongType(field: "batch", found: doc.typeName))]
        }
        return items.map { item -> Result<DecodedPoint, PayloadError> in
            guard case .object(let o) = item else { return .failure(.wrongType(field: "point", found: item.typeName)) }
            guard let tagValue = tagKeys.lazy.compactMap({ o[$0] }).first else { return .failure(.missing("tag")) }
            guard case .string(let tag) = tagValue, !tag.isEmpty else { return .failure(.wrongType(field: "tag", found: tagValue.typeName)) }
            do throws(PayloadError) {
                var p = try point(in: item, json: json)
                p.tag = tag
                return .success(p)
            } catch {
                return .failure(error)
            }
        }
    }

    static func build(value v: JSONValue, field: String, siblings: JSONValue?) throws(PayloadError) -> DecodedPoint {
        let value: Double
        switch v {
        case .number(let d):
            guard d.isFinite else { throw .notFinite(field) }
            value = d
        case .bool(let b):
            value = b ? 1 : 0
        default:
            throw .wrongType(field: field, found: v.typeName)
        }
        var quality = Quality.good
        var time: Instant?
        if case .object(let o)? = siblings {
            if let q = qualityKeys.lazy.compactMap({ o[$0] }).first { quality = try decodeQuality(q) }
            if let t = timeKeys.lazy.compactMap({ o[$0] }).first { time = try decodeTime(t) }
        }
        return DecodedPoint(tag: nil, value: value, quality: quality, sourceTime: time)
    }

    /// `"good"` / `"uncertain"` / `"bad"` / `"stale"`, OPC quality bytes (>= 192 good, 64...191
    /// uncertain, < 64 bad), Sparkplug's 500 (stale), or a boolean.
    static func decodeQuality(_ q: JSONValue) throws(PayloadError) -> Quality {
        switch q {
        case .string(let s):
            switch s.lowercased() {
            case "good", "ok": return .good
            case "uncertain", "stale": return .uncertain
            case "bad", "fault": return .bad
            default: throw .badQuality("\"\(s.prefix(20))\"")
            }
        case .number(let n):
            guard n.isFinite, n >= 0, n == n.rounded() else { throw .badQuality(JSONWriter.number(n)) }
            if n == 500 { return .uncertain }
            if n >= 192 && n <= 255 { return .good }
            if n >= 64 && n < 192 { return .uncertain }
            if n < 64 { return .bad }
            throw .badQuality(JSONWriter.number(n))
        case .bool(let b):
            return b ? .good : .bad
        default:
            throw .badQuality(q.typeName)
        }
    }

    /// RFC 3339 text, or Unix time in seconds (or milliseconds, when above 1e11).
    static func decodeTime(_ t: JSONValue) throws(PayloadError) -> Instant {
        switch t {
        case .string(let s):
            guard let i = Instant(iso8601: Substring(s)) else { throw .badTime("\"\(s.prefix(40))\"") }
            return i
        case .number(let n):
            guard n.isFinite, n > 0, n < 1e14 else { throw .badTime(JSONWriter.number(n)) }
            if n > 1e11 {
                // Milliseconds; keep integral ones exact.
                return n == n.rounded() ? Instant(nanoseconds: Int64(n) * 1_000_000) : Instant(seconds: n / 1000)
            }
            return Instant(seconds: n)
        default:
            throw .badTime(t.typeName)
        }
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    static func describe(_ error: Error) -> String {
        if let e = error as? DecodingError {
            switch e {
            case .dataCorrupted(let c): return c.underlyingError.map { "\($0)" }?.prefix(120).description ?? c.debugDescription
            default: return "\(e)".prefix(120).description
            }
        }
        return "\(error)".prefix(120).description
    }
}
