import Foundation
import HazmonCore

/// One line of the feed as a client reads it (spec §4, §5): the one reader of the wire format,
/// shared by the CLI, the demo and the tests. The daemon writes these lines with `JSONWriter`
/// (`AlarmEvent.jsonLine`, `ActiveAlarm.json`, `FeedReply`); this type reads them back.
public enum FeedMessage: Sendable, Equatable {
    case hello(site: String, seq: UInt64)
    case event(FeedEvent)
    case snapshot(seq: UInt64, alarms: [FeedAlarm], hazardSources: [FeedHazardSource])
    case ok
    case error(code: String, message: String)
    case pong
    case bye(reason: String)

    /// The line's message, or nil for a line that is not one (or not JSON).
    public init?(line: String) {
        let data = Data(line.utf8)
        guard let head = try? JSONDecoder().decode(Head.self, from: data) else { return nil }
        switch head.type {
        case "hello": self = .hello(site: head.site ?? "", seq: head.seq ?? 0)
        case "event":
            guard let e = try? JSONDecoder().decode(FeedEvent.self, from: data) else { return nil }
            self = .event(e)
        case "snapshot":
            guard let s = try? JSONDecoder().decode(Snapshot.self, from: data) else { return nil }
            self = .snapshot(seq: s.seq, alarms: s.alarms, hazardSources: s.hazardSources ?? [])
        case "ok": self = .ok
        case "error": self = .error(code: head.code ?? "error", message: head.message ?? "")
        case "pong": self = .pong
        case "bye": self = .bye(reason: head.reason ?? "")
        default: return nil
        }
    }

    private struct Head: Decodable {
        var type: String
        var site: String?
        var seq: UInt64?
        var code: String?
        var message: String?
        var reason: String?
    }

    private struct Snapshot: Decodable {
        var seq: UInt64
        var alarms: [FeedAlarm]
        var hazardSources: [FeedHazardSource]?
        enum CodingKeys: String, CodingKey {
            case seq, alarms
            case hazardSources = "hazard_sources"
        }
    }
}

/// A hazard source's live grade as a snapshot carries it (spec §13).
public struct FeedHazardSource: Sendable, Equatable, Decodable {
    public var id: String
    public var code: String?
    public var name: String
    public var alpha: Double
    public var r: Double?
    public var s: Double?
    public var level: Int?
    public var color: String?
    public var substances: [Substance]
    public var unknown: [String]?
    public var mode: String?
    public var modeUntil: String?
    public var modeBy: String?
    public var modeNote: String?

    enum CodingKeys: String, CodingKey {
        case id, code, name, alpha, r, s, level, color, substances, unknown, mode
        case modeUntil = "mode_until"
        case modeBy = "mode_by"
        case modeNote = "mode_note"
    }

    public struct Substance: Sendable, Equatable, Decodable {
        public var name: String
        public var q: Double?
        public var criticalQuantity: Double
        public var beta: Double
        enum CodingKeys: String, CodingKey {
            case name, q, beta
            case criticalQuantity = "critical_quantity"
        }
    }
}

/// An alarm event as the feed carries it (spec §4).
public struct FeedEvent: Sendable, Equatable, Decodable {
    public var seq: UInt64
    public var time: String
    public var site: String
    public var tag: String
    public var condition: String
    /// The platforms' kind of alarm (`high_high`, `fault`, …, spec §12).
    public var alarmType: String?
    /// GB/T 50493's level (1 一级, 2 二级) of a gas alarm.
    public var gbLevel: Int?
    public var event: String
    public var grade: Int
    public var color: String
    public var state: String
    public var value: Double?
    public var unit: String?
    public var limit: Double?
    public var quality: String?
    public var source: String?
    public var message: String
    public var user: String?
    public var note: String?
    public var flags: [String]?
    /// The major hazard source the alarm belongs to, if any.
    public var hazardSource: String?

    enum CodingKeys: String, CodingKey {
        case seq, time, site, tag, condition, event, grade, color, state, value, unit, limit, quality, source, message
        case user, note, flags
        case alarmType = "alarm_type"
        case gbLevel = "gb_level"
        case hazardSource = "hazard_source"
    }

    /// An instrument or communication fault rather than a process alarm.
    public var isFault: Bool { Condition(rawValue: condition)?.isFault ?? false }

    /// The event as a terminal line: time (local to `zone` with its offset; UTC as sent when
    /// nil), coloured grade band (or FAULT), seq, tag/condition, event, state, message.
    public func terminalLine(colour: Bool, zone: TimeZone? = nil) -> String {
        EventText.line(time: zone.map { EventText.localTime(time, in: $0) } ?? time, grade: Grade(grade) ?? .yellow, fault: isFault,
                       muted: event == "cleared" || event == "acknowledged",
                       seq: seq, alarm: "\(tag)/\(condition)", event: event, state: state, message: message, colour: colour)
    }
}

/// An alarm of a snapshot (`ActiveAlarm.json`).
public struct FeedAlarm: Sendable, Equatable, Decodable {
    public var tag: String
    public var name: String
    public var condition: String
    public var grade: Int
    public var color: String
    public var state: String
    public var active: Bool
    public var latched: Bool?
    public var shelvedUntil: String?
    public var suppressed: Bool?
    public var value: Double?
    public var unit: String
    public var limit: Double?
    public var quality: String
    public var since: String?

    enum CodingKeys: String, CodingKey {
        case tag, name, condition, grade, color, state, active, latched, suppressed, value, unit, limit, quality, since
        case shelvedUntil = "shelved_until"
    }
}

/// The one terminal rendering of an event line (the log's `text` format, `tail`, the demo).
public enum EventText {
    public static func line(time: String, grade: Grade, fault: Bool, muted: Bool, seq: UInt64, alarm: String, event: String,
                            state: String, message: String, colour: Bool) -> String {
        let band = pad(fault ? faultLabel : grade.color.uppercased(), 6)
        let painted = !colour ? band : muted ? "\u{1B}[2m\(band)\u{1B}[0m" : "\u{1B}[\(fault ? faultANSI : grade.ansi)m\(band)\u{1B}[0m"
        return "\(time) \(painted) #\(seq) \(pad(alarm, 14)) \(pad(event, 11)) \(pad(state, 9)) \(message)"
    }

    /// A grade's band as the alarm table shows it (FAULT for a fault), coloured on a terminal.
    public static func band(_ grade: Grade, fault: Bool, colour: Bool) -> String {
        let band = pad(fault ? faultLabel : grade.color.uppercased(), 6)
        return colour ? "\u{1B}[\(fault ? faultANSI : grade.ansi)m\(band)\u{1B}[0m" : band
    }

    /// Faults (sensor fault, stale data, lost connection) are labelled as faults whatever
    /// their grade, in yellow letters on the terminal's own background (GB 16808: fault
    /// indicators yellow), never as a filled colour band like a gas alarm of either level.
    public static let faultLabel = "FAULT"

    /// An RFC 3339 time as people at the site read it: local time with its UTC offset
    /// (`2026-11-23T16:15:02.123+08:00` in Asia/Shanghai), daylight saving included. Text that
    /// is not a time comes back unchanged.
    public static func localTime(_ iso: String, in zone: TimeZone) -> String {
        guard let t = Instant(iso8601: Substring(iso)) else { return iso }
        return localTime(t, in: zone)
    }

    public static func localTime(_ t: Instant, in zone: TimeZone) -> String {
        let date = Date(timeIntervalSince1970: Double(t.nanoseconds / 1_000_000) / 1000)
        return t.iso8601(offsetSeconds: zone.secondsFromGMT(for: date))
    }
    public static let faultANSI = "1;33"

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}
