/// Parses durations with units: `"500ms"`, `"2s"`, `"10m"`, `"1h30m"`, `"400d"`.
public enum DurationParser {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ text: String) throws(Failure) -> Duration {
        let s = DurationParser.trim(text)
        guard !s.isEmpty else { throw Failure(description: "empty duration; write e.g. \"2s\" or \"500ms\"") }
        var total: Duration = .zero
        var rest = Substring(s)
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isNumber || $0 == "." })
            guard !digits.isEmpty, let n = Double(digits), n.isFinite else {
                throw Failure(description: "\"\(text)\" is not a duration; write a number and a unit (ms, s, m, h, d)")
            }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix(while: { $0.isLetter })
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m", "min": scale = 60
            case "h": scale = 3600
            case "d": scale = 86_400
            case "": throw Failure(description: "\"\(text)\" has no unit; write e.g. \"\(digits)s\"")
            default: throw Failure(description: "\"\(text)\": unknown unit \"\(unit)\" (use ms, s, m, h or d)")
            }
            let nanos = n * scale * 1e9
            guard nanos < 9e18 else { throw Failure(description: "\"\(text)\" is too long") }
            total += .nanoseconds(Int64(nanos.rounded()))
        }
        return total
    }

    static func trim(_ s: String) -> String {
        var sub = Substring(s)
        while let f = sub.first, f == " " || f == "\t" { sub.removeFirst() }
        while let l = sub.last, l == " " || l == "\t" { sub.removeLast() }
        return String(sub)
    }

    /// Formats a duration the way the config writes it (`"1.5s"`, `"10m"`).
    public static func format(_ d: Duration) -> String {
        let ns = d.nanosecondsClamped
        if ns % 86_400_000_000_000 == 0, ns > 0 { return "\(ns / 86_400_000_000_000)d" }
        if ns % 3_600_000_000_000 == 0, ns > 0 { return "\(ns / 3_600_000_000_000)h" }
        if ns % 60_000_000_000 == 0, ns > 0 { return "\(ns / 60_000_000_000)m" }
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
        return "\(Double(ns) / 1e9)s"
    }
}
