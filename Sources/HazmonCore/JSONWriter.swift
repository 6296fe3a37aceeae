/// Writes one flat JSON object, field by field, in the order given. Small and allocation-lean
/// on purpose: it is how every event leaves the process.
public struct JSONWriter {
    private var out: String
    private var first = true

    public init(capacity: Int = 256) {
        out = "{"
        out.reserveCapacity(capacity)
    }

    private mutating func key(_ k: String) {
        if !first { out += "," }
        first = false
        out += "\""
        out += k
        out += "\":"
    }

    public mutating func field(_ k: String, _ v: String) {
        key(k)
        JSONWriter.appendQuoted(v, to: &out)
    }

    public mutating func field(_ k: String, _ v: Int64) {
        key(k)
        out += String(v)
    }

    public mutating func field(_ k: String, _ v: Int) { field(k, Int64(v)) }

    public mutating func field(_ k: String, _ v: Double?) {
        key(k)
        if let v { out += JSONWriter.number(v) } else { out += "null" }
    }

    public mutating func field(_ k: String, _ v: Bool) {
        key(k)
        out += v ? "true" : "false"
    }

    public mutating func field(_ k: String, strings: [String]) {
        key(k)
        out += "["
        for (i, s) in strings.enumerated() {
            if i > 0 { out += "," }
            JSONWriter.appendQuoted(s, to: &out)
        }
        out += "]"
    }

    /// Inserts already-encoded JSON (an array or object) as the value of `k`.
    public mutating func field(_ k: String, raw: String) {
        key(k)
        out += raw
    }

    public mutating func finish() -> String {
        out += "}"
        return out
    }

    /// A JSON number; NaN and infinities (never valid JSON) become null.
    public static func number(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    public static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        var needsEscape = false
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C {
            needsEscape = true
            break
        }
        if !needsEscape {
            out += s
        } else {
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
        }
        out += "\""
    }
}
