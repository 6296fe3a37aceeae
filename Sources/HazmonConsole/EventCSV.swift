import Foundation
import HazmonCore
import HazmonJournal

/// The history search as CSV (RFC 4180), times in the site's zone: what an engineer opens in
/// a spreadsheet. Columns come from each event's journaled JSON.
enum EventCSV {
    static let columns = ["seq", "time", "tag", "condition", "event", "grade", "color", "state", "value", "unit", "limit",
                          "quality", "user", "note", "hazard_source", "message"]

    static func render(_ rows: [JournalEntry], zone: TimeZone) -> String {
        var out = columns.joined(separator: ",") + "\r\n"
        for r in rows {
            let o = (try? JSONSerialization.jsonObject(with: Data(r.json.utf8))) as? [String: Any] ?? [:]
            var fields: [String] = []
            for c in columns {
                switch c {
                case "seq": fields.append(String(r.seq))
                case "time": fields.append(localTime(r.time, zone: zone))
                default: fields.append(o[c].map(text) ?? "")
                }
            }
            out += fields.map(escape).joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func text(_ v: Any) -> String {
        if let s = v as? String { return s }
        if let n = v as? NSNumber { return n.stringValue }
        return "\(v)"
    }

    /// `2026-11-23 16:15:02.123` in `zone`.
    static func localTime(_ t: Instant, zone: TimeZone) -> String {
        let date = Date(timeIntervalSince1970: Double(t.nanoseconds) / 1e9)
        let offset = zone.secondsFromGMT(for: date)
        return t.iso8601(offsetSeconds: offset).replacingOccurrences(of: "T", with: " ")
    }

    /// Quotes a field that holds a comma, quote or line break; a leading = + - @ is prefixed
    /// with ' so a spreadsheet never runs a note as a formula.
    static func escape(_ s: String) -> String {
        var s = s
        if let f = s.first, "=+-@".contains(f), Double(s) == nil { s = "'" + s }
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
