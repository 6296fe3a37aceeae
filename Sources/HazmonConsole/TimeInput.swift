import Foundation
import HazmonCore

/// A time a person typed: an RFC 3339 time, a local date or date-time in the site's zone
/// (`2026-11-23`, `2026-11-23 16:15`, `2026-11-23T16:15:30`), or an age before now (`2h`).
/// The CLI's `--since`/`--until` and the console's history search read times the same way.
public enum TimeInput {
    public static func parse(_ s: String, zone: TimeZone, now: Instant = .now) -> Instant? {
        if let d = try? DurationParser.parse(s) {
            return Instant(nanoseconds: now.nanoseconds - d.nanosecondsClamped)
        }
        if let i = Instant(iso8601: Substring(s)) { return i }
        let parts = s.split(whereSeparator: { "-T :".contains($0) }).map { Int($0) }
        guard [3, 5, 6].contains(parts.count), !parts.contains(nil), s.count >= 10 else { return nil }
        let p = parts.map { $0! }
        var c = DateComponents()
        c.year = p[0]; c.month = p[1]; c.day = p[2]
        if p.count >= 5 { c.hour = p[3]; c.minute = p[4] }
        if p.count == 6 { c.second = p[5] }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        guard (1...12).contains(p[1]), (1...31).contains(p[2]), c.isValidDate(in: calendar), let date = calendar.date(from: c) else {
            return nil
        }
        return Instant(nanoseconds: Int64(date.timeIntervalSince1970) * 1_000_000_000)
    }
}
