import Foundation
import HazmonCore
import HazmonJournal

/// An operator position (spec §11): a console whose operator answers the alarms of its hazard
/// sources. Figures are per position.
public struct ReportPosition: Sendable, Hashable {
    public var id: String
    public var name: String
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// What the report needs besides the events: the period, the positions and which alarm
/// belongs to which, and the tags the configuration has out of service.
public struct ReportSettings: Sendable {
    public var site: String
    public var since: Instant
    public var until: Instant
    public var positions: [ReportPosition]
    /// Alarm tag (tag, vote, connection id) → position id; others go to `positions[0]`.
    public var positionOf: [String: String]
    /// (tag, reason) of tags configured out of service, with the position each belongs to.
    public var outOfService: [(tag: String, reason: String)]
    /// Interlocks' in-service shares, worked out by the caller (from the process history).
    public var interlocks: [PositionReport.InterlockShare]

    public init(site: String, since: Instant, until: Instant, positions: [ReportPosition], positionOf: [String: String] = [:],
                outOfService: [(tag: String, reason: String)] = [], interlocks: [PositionReport.InterlockShare] = []) {
        self.interlocks = interlocks
        self.site = site
        self.since = since
        self.until = until
        self.positions = positions.isEmpty ? [ReportPosition(id: site, name: site)] : positions
        self.positionOf = positionOf
        self.outOfService = outOfService
    }
}

/// The alarm performance figures of GB/T 41261-2022 (IEC 62682) and EEMUA 191 for one operator
/// position over one period (spec §11), computed from the journal in one pass.
public struct PositionReport: Sendable {
    public var position: ReportPosition
    /// Annunciated alarms: raised, escalated (h → hh is the second alarm) and predicted (a
    /// trend alarm), not those of shelved or suppressed alarms (recorded, never annunciated).
    public var annunciated = 0
    /// Annunciations per 10-minute interval from `since`.
    public var perTenMinutes: [Int] = []
    public var averagePerTenMinutes: Double { perTenMinutes.isEmpty ? 0 : Double(annunciated) / Double(perTenMinutes.count) }
    public var peakPerTenMinutes: Int { perTenMinutes.max() ?? 0 }
    /// Intervals with more than 10 annunciations: the ISA-18.2 / IEC 62682 flood.
    public var floodIntervals: Int { perTenMinutes.filter { $0 > 10 }.count }
    public var floodShare: Double { perTenMinutes.isEmpty ? 0 : Double(floodIntervals) / Double(perTenMinutes.count) }
    /// The 10 most frequent alarms (tag and slot), most first.
    public var top: [AlarmCount] = []
    /// Alarms with 3 or more transitions (raise or clear) within 60 s, and how often.
    public var chattering: [Chatter] = []
    /// Alarms active for more than 24 hours within the period.
    public var standing: [Standing] = []
    public var shelved: [Shelving] = []
    public var suppressed: [Suppression] = []
    public var outOfService: [(tag: String, reason: String)] = []
    /// Each interlock's share of time in service, per day and over the period (from the process
    /// history: the time-weighted mean of its 1 / 0 status).
    public var interlocks: [InterlockShare] = []
    /// Seconds from an annunciation to its acknowledgement, sorted.
    public var acknowledgeSeconds: [Double] = []
    /// Annunciations of the period not acknowledged by its end.
    public var unacknowledged = 0
    /// Annunciations by grade 1…4 (index 0 unused).
    public var byGrade = [0, 0, 0, 0, 0]

    public init(position: ReportPosition) { self.position = position }

    public struct AlarmCount: Sendable, Hashable {
        public var tag: String
        public var condition: String
        public var count: Int
    }

    public struct Chatter: Sendable, Hashable {
        public var tag: String
        public var condition: String
        /// Separate bursts (3 transitions within 60 s, a minute apart from the last burst).
        public var episodes: Int
        public var transitions: Int
    }

    public struct Standing: Sendable, Hashable {
        public var tag: String
        public var condition: String
        public var since: Instant
        /// nil: still active at the period's end.
        public var until: Instant?
        public var acknowledged: Bool
        public var hours: Double
    }

    public struct InterlockShare: Sendable, Hashable {
        public var tag: String
        /// Per day from `since`: the share in service, nil for a day with no recorded status.
        public var days: [Double?]
        public var overall: Double?
        public init(tag: String, days: [Double?], overall: Double?) {
            self.tag = tag
            self.days = days
            self.overall = overall
        }
    }

    public struct Shelving: Sendable, Hashable {
        public var time: Instant
        public var tag: String
        public var condition: String
        public var user: String
        public var note: String
        /// When it came off the shelf (unshelved or expired), if within the period.
        public var until: Instant?
        public var endedBy: String?
    }

    public struct Suppression: Sendable, Hashable {
        public var tag: String
        public var condition: String
        public var since: Instant
        public var until: Instant?
        public var why: String
    }

    /// The median and 90th percentile of the time to acknowledge, in seconds.
    public var acknowledgeMedian: Double? { Self.percentile(acknowledgeSeconds, 0.5) }
    public var acknowledgeP90: Double? { Self.percentile(acknowledgeSeconds, 0.9) }

    /// The nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }

    /// The priority mix against IEC 62682's guide of about 5 % high, 15 % medium, 80 % low:
    /// grade 1 (red) is high, grade 2 (orange) medium, grades 3 and 4 low.
    public var prioritySplit: (high: Double, medium: Double, low: Double) {
        let n = Double(max(1, annunciated))
        return (Double(byGrade[1]) / n, Double(byGrade[2]) / n, Double(byGrade[3] + byGrade[4]) / n)
    }
    public static let priorityTarget = (high: 0.05, medium: 0.15, low: 0.80)
}

/// Computes the report of every position from the events, oldest first.
public struct AlarmReportBuilder {
    public let settings: ReportSettings
    private var reports: [PositionReport]
    private var index: [String: Int]
    private var alarms: [AlarmKey: AlarmTrack] = [:]
    private let since: Int64, until: Int64
    static let tenMinutes: Int64 = 600_000_000_000
    static let day: Int64 = 86_400_000_000_000
    static let chatterWindow: Int64 = 60_000_000_000

    struct AlarmKey: Hashable {
        var tag: String
        var slot: String
    }

    /// What the pass remembers of one alarm.
    struct AlarmTrack {
        var position: Int
        var condition = ""
        var activeSince: Int64?
        var acknowledged = false
        /// The first annunciation still awaiting acknowledgement.
        var pendingSince: Int64?
        var pendingInRange = false
        /// The last three raises or clears, oldest first (a fixed ring: no allocation per event).
        var lastTransitions: (Int64, Int64, Int64) = (.min, .min, .min)
        var lastChatter: Int64?
        var count = 0
        var transitions = 0
        var episodes = 0
        var shelfIndex: Int?
        var suppressedSince: Int64?
    }

    public init(settings: ReportSettings) {
        self.settings = settings
        since = settings.since.nanoseconds
        until = settings.until.nanoseconds
        let buckets = max(1, Int((until - since + Self.tenMinutes - 1) / Self.tenMinutes))
        reports = settings.positions.map {
            var r = PositionReport(position: $0)
            r.perTenMinutes = Array(repeating: 0, count: buckets)
            return r
        }
        index = Dictionary(settings.positions.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (tag, reason) in settings.outOfService {
            reports[position(of: tag)].outOfService.append((tag, reason))
        }
        for share in settings.interlocks { reports[position(of: share.tag)].interlocks.append(share) }
    }

    private func position(of tag: String) -> Int {
        settings.positionOf[tag].flatMap { index[$0] } ?? 0
    }

    /// The slot an event's condition belongs to (h and hh are one alarm), nil for events that
    /// are not about a process or system alarm (a flood, a hazard source's level).
    static func slot(_ condition: String) -> String? {
        switch condition {
        case "h", "hh": return "high"
        case "l", "ll": return "low"
        case "flood", "level": return nil
        default: return condition
        }
    }

    /// The kinds of event whose JSON line the report reads (who and why).
    public static let kindsWithText = ["shelved", "unshelved", "unsuppressed"]

    /// An alarm already active when the period starts (from `JournalReader.activeAlarms(at:)`).
    public mutating func seedActive(tag: String, condition: String, since: Instant, acknowledged: Bool) {
        guard let slot = Self.slot(condition) else { return }
        var a = AlarmTrack(position: position(of: tag))
        a.condition = condition
        a.activeSince = since.nanoseconds
        a.acknowledged = acknowledged
        alarms[AlarmKey(tag: tag, slot: slot)] = a
    }

    /// One journaled event, oldest first; its JSON line is needed only for `kindsWithText`.
    public mutating func add(_ e: EventSummary) {
        guard e.time < until, let slot = Self.slot(e.condition) else { return }
        let key = AlarmKey(tag: e.tag, slot: slot)
        var a = alarms[key] ?? AlarmTrack(position: position(of: e.tag))
        let p = a.position
        let inRange = e.time >= since
        switch e.event {
        case "raised", "escalated", "predicted":
            if a.activeSince == nil { a.activeSince = e.time }
            a.acknowledged = false
            a.condition = e.condition
            if e.event != "escalated" { transition(&a, e.time, inRange: inRange) }
            let hidden = e.flags.map { Self.flagged($0, "shelved") || Self.flagged($0, "suppressed") } ?? false
            if inRange, !hidden {
                reports[p].annunciated += 1
                reports[p].perTenMinutes[Int((e.time - since) / Self.tenMinutes)] += 1
                reports[p].byGrade[max(1, min(4, e.grade))] += 1
                a.count += 1
                if a.pendingSince == nil { a.pendingSince = e.time; a.pendingInRange = true }
            }
        case "cleared":
            transition(&a, e.time, inRange: inRange)
            closeStanding(&a, at: e.time, key: key)
            a.activeSince = nil
        case "acknowledged":
            a.acknowledged = true
            if let t = a.pendingSince, a.pendingInRange, inRange { reports[p].acknowledgeSeconds.append(Double(e.time - t) / 1e9) }
            a.pendingSince = nil
        case "shelved":
            if inRange {
                let f = Self.fields(e.json ?? "")
                reports[p].shelved.append(.init(time: Instant(nanoseconds: e.time), tag: e.tag, condition: e.condition,
                                                user: f.user ?? "", note: f.note ?? "", until: nil, endedBy: nil))
                a.shelfIndex = reports[p].shelved.count - 1
            }
        case "unshelved":
            if inRange, let i = a.shelfIndex {
                let f = Self.fields(e.json ?? "")
                reports[p].shelved[i].until = Instant(nanoseconds: e.time)
                reports[p].shelved[i].endedBy = f.user == "hazmon" ? "expired" : (f.user ?? "")
            }
            a.shelfIndex = nil
        case "suppressed":
            a.suppressedSince = e.time
        case "unsuppressed":
            if let from = a.suppressedSince, e.time >= since {
                reports[p].suppressed.append(.init(tag: e.tag, condition: e.condition, since: Instant(nanoseconds: from),
                                                   until: Instant(nanoseconds: e.time), why: Self.fields(e.json ?? "").message ?? ""))
            }
            a.suppressedSince = nil
        default:
            break
        }
        alarms[key] = a
    }

    /// A raise or clear: three within 60 s make the alarm chatter (one episode per burst).
    private mutating func transition(_ a: inout AlarmTrack, _ t: Int64, inRange: Bool) {
        a.lastTransitions = (a.lastTransitions.1, a.lastTransitions.2, t)
        guard inRange else { return }
        a.transitions += 1
        if a.lastTransitions.0 != .min, t - a.lastTransitions.0 <= Self.chatterWindow {
            if a.lastChatter.map({ t - $0 > Self.chatterWindow }) ?? true { a.episodes += 1 }
            a.lastChatter = t
        }
    }

    private mutating func closeStanding(_ a: inout AlarmTrack, at end: Int64?, key: AlarmKey) {
        guard let start = a.activeSince else { return }
        let stop = end ?? until
        guard stop - start > Self.day, stop > since else { return }
        reports[a.position].standing.append(.init(
            tag: key.tag, condition: a.condition, since: Instant(nanoseconds: start), until: end.map { Instant(nanoseconds: $0) },
            acknowledged: a.acknowledged, hours: Double(stop - start) / 3.6e12))
    }

    /// The reports, one per position: alarms still active, shelved or suppressed at the end
    /// closed at `until`.
    public mutating func finish() -> [PositionReport] {
        for (key, var a) in alarms {
            let p = a.position
            closeStanding(&a, at: nil, key: key)
            if a.count > 0 { reports[p].top.append(.init(tag: key.tag, condition: a.condition, count: a.count)) }
            if a.episodes > 0 {
                reports[p].chattering.append(.init(tag: key.tag, condition: a.condition, episodes: a.episodes, transitions: a.transitions))
            }
            if a.pendingSince != nil, a.pendingInRange { reports[p].unacknowledged += 1 }
            if let from = a.suppressedSince {
                reports[p].suppressed.append(.init(tag: key.tag, condition: a.condition, since: Instant(nanoseconds: from), until: nil,
                                                   why: "still suppressed"))
            }
        }
        for i in reports.indices {
            reports[i].top.sort { ($0.count, $1.tag, $1.condition) > ($1.count, $0.tag, $0.condition) }
            if reports[i].top.count > 10 { reports[i].top.removeLast(reports[i].top.count - 10) }
            reports[i].chattering.sort { ($0.episodes, $1.tag) > ($1.episodes, $0.tag) }
            reports[i].standing.sort { ($0.since, $0.tag) < ($1.since, $1.tag) }
            reports[i].suppressed.sort { ($0.since, $0.tag) < ($1.since, $1.tag) }
            reports[i].acknowledgeSeconds.sort()
        }
        return reports
    }

    /// Whether a `"flags":[...` list holds `flag` (flags are plain words; the list ends at `]`).
    static func flagged(_ flags: String, _ flag: String) -> Bool {
        let list = flags.utf8.prefix { $0 != UInt8(ascii: "]") }
        return list.firstRange(of: "\"\(flag)\"".utf8) != nil
    }

    /// `user`, `note` and `message` of an event line (JSON-decoded: they are free text).
    static func fields(_ json: String) -> (user: String?, note: String?, message: String?) {
        struct Fields: Decodable { var user: String?; var note: String?; var message: String? }
        guard let f = try? JSONDecoder().decode(Fields.self, from: Data(json.utf8)) else { return (nil, nil, nil) }
        return (f.user, f.note, f.message)
    }
}
