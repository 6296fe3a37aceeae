/// Writes one flat JSON object, field by field, in the order given. Small and allocation-lean
/// on purpose: it is how every event leaves the process. It writes UTF-8 bytes into one buffer
/// and makes the `String` once at the end: appending dozens of small pieces to a `String` cost
/// about four times as many instructions (`EngineProfile events`, docs/PERFORMANCE.md).
public struct JSONWriter {
    private var out: [UInt8]
    private var first = true

    public init(capacity: Int = 256) {
        out = []
        out.reserveCapacity(capacity)
        out.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ k: String) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        out.append(UInt8(ascii: "\""))
        JSONWriter.appendBytes(k, to: &out)
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    public mutating func field(_ k: String, _ v: String) {
        key(k)
        JSONWriter.appendQuoted(v, to: &out)
    }

    public mutating func field(_ k: String, _ v: Int64) {
        key(k)
        JSONWriter.appendBytes(String(v), to: &out)
    }

    public mutating func field(_ k: String, _ v: Int) { field(k, Int64(v)) }

    public mutating func field(_ k: String, _ v: Double?) {
        key(k)
        if let v { JSONWriter.appendBytes(JSONWriter.number(v), to: &out) } else { out.append(contentsOf: "null".utf8) }
    }

    public mutating func field(_ k: String, _ v: Bool) {
        key(k)
        out.append(contentsOf: (v ? "true" : "false").utf8)
    }

    public mutating func field(_ k: String, strings: [String]) {
        key(k)
        out.append(UInt8(ascii: "["))
        for (i, s) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendQuoted(s, to: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// Inserts already-encoded JSON (an array or object) as the value of `k`.
    public mutating func field(_ k: String, raw: String) {
        key(k)
        JSONWriter.appendBytes(raw, to: &out)
    }

    public mutating func finish() -> String {
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether a byte of a JSON string's text must be escaped: a quote, a backslash, a control
    /// character (any UTF-8 multi-byte sequence holds no byte below 0x80).
    static func mustEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    /// `s` as a JSON string: quotes, backslashes and control characters escaped, the rest
    /// (any UTF-8, whose multi-byte sequences hold no byte below 0x80) copied as it is.
    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            guard bytes.contains(where: mustEscape) else {
                out.append(contentsOf: bytes)
                return
            }
            for b in bytes {
                switch b {
                case 0x22: out.append(contentsOf: "\\\"".utf8)
                case 0x5C: out.append(contentsOf: "\\\\".utf8)
                case 0x0A: out.append(contentsOf: "\\n".utf8)
                case 0x0D: out.append(contentsOf: "\\r".utf8)
                case 0x09: out.append(contentsOf: "\\t".utf8)
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex[Int(b >> 4)])
                    out.append(hex[Int(b & 0xF)])
                default: out.append(b)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A string's bytes as they are (keys, numbers' text, raw JSON).
    static func appendBytes(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { out.append(contentsOf: $0) }
    }

    /// A JSON number; NaN and infinities (never valid JSON) become null.
    public static func number(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    /// `s` as a JSON string, appended to `out`.
    public static func appendQuoted(_ s: String, to out: inout String) {
        guard s.utf8.contains(where: mustEscape) else {
            out += "\""
            out += s
            out += "\""
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count + 8)
        appendQuoted(s, to: &bytes)
        out += String(decoding: bytes, as: UTF8.self)
    }
}
