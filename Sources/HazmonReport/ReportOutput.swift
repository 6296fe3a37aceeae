import Foundation
import HazmonCore
import HazmonJournal

/// Reads a journal once and computes every position's report (read-only: works beside the
/// running daemon).
public enum AlarmReport {
    public static func compute(journal path: String, settings: ReportSettings) throws(JournalError) -> [PositionReport] {
        let reader = try JournalReader(path: path)
        var builder = AlarmReportBuilder(settings: settings)
        // Alarms active when the period starts come from one grouped query over what precedes
        // it; the period itself is one streaming pass.
        for a in try reader.activeAlarms(at: settings.since) {
            builder.seedActive(tag: a.tag, condition: a.condition, since: a.since, acknowledged: a.acknowledged)
        }
        try reader.forEachSummary(since: settings.since, until: settings.until, jsonFor: AlarmReportBuilder.kindsWithText) { builder.add($0) }
        return builder.finish()
    }
}

/// The report as text for a terminal, as JSON, and as one self-contained HTML page with charts.
public struct ReportRenderer {
    public let settings: ReportSettings
    public let reports: [PositionReport]
    public let zone: TimeZone

    public init(settings: ReportSettings, reports: [PositionReport], zone: TimeZone) {
        self.settings = settings
        self.reports = reports
        self.zone = zone
    }

    func local(_ t: Instant) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: t.seconds))
    }

    static func percent(_ x: Double) -> String { String(format: "%.1f %%", x * 100) }
    static func seconds(_ s: Double?) -> String {
        guard let s else { return "-" }
        if s < 120 { return String(format: "%.0f s", s) }
        if s < 7_200 { return String(format: "%.1f min", s / 60) }
        return String(format: "%.1f h", s / 3_600)
    }
    static func number(_ x: Double) -> String { String(format: "%.2f", x) }

    var hours: Double { Double(settings.until.nanoseconds - settings.since.nanoseconds) / 3.6e12 }

    // MARK: text

    public var text: String {
        var out: [String] = []
        out.append("Alarm performance report, site \(settings.site): \(local(settings.since)) to \(local(settings.until)) (\(zone.identifier))")
        out.append("Figures after GB/T 41261-2022 (IEC 62682) and EEMUA 191, from the journal.")
        for r in reports {
            out.append("")
            out.append("== Position \(r.position.id)\(r.position.name == r.position.id ? "" : " (\(r.position.name))") ==")
            out.append("alarms annunciated: \(r.annunciated) (\(Self.number(Double(r.annunciated) / max(hours, 1e-9))) per hour, \(Self.number(Double(r.annunciated) / max(hours / 24, 1e-9))) per day; EEMUA 191: about 6 per hour, 150 per day acceptable)")
            out.append("per 10 minutes: average \(Self.number(r.averagePerTenMinutes)), peak \(r.peakPerTenMinutes)")
            out.append("flood (more than 10 in 10 minutes): \(r.floodIntervals) of \(r.perTenMinutes.count) intervals, \(Self.percent(r.floodShare)) of the time (target: under 1 %)")
            let s = r.prioritySplit, t = PositionReport.priorityTarget
            out.append("priority mix: high (grade 1) \(Self.percent(s.high)), medium (grade 2) \(Self.percent(s.medium)), low (grades 3-4) \(Self.percent(s.low)); target about \(Self.percent(t.high)) / \(Self.percent(t.medium)) / \(Self.percent(t.low))")
            out.append("by grade: " + (1...4).map { "\($0) \(Grade($0)!.color) \(r.byGrade[$0])" }.joined(separator: ", "))
            out.append("time to acknowledge: median \(Self.seconds(r.acknowledgeMedian)), 90th percentile \(Self.seconds(r.acknowledgeP90)) (\(r.acknowledgeSeconds.count) acknowledged, \(r.unacknowledged) not by the end)")
            out.append("top \(r.top.count) alarms:")
            for a in r.top {
                out.append("  \(a.count.description.padding(toLength: 6, withPad: " ", startingAt: 0)) \(Self.percent(Double(a.count) / Double(max(1, r.annunciated))).padding(toLength: 8, withPad: " ", startingAt: 0)) \(a.tag)/\(a.condition)")
            }
            out.append("chattering (3 transitions within 60 s): \(r.chattering.isEmpty ? "none" : "")")
            for c in r.chattering { out.append("  \(c.tag)/\(c.condition): \(c.episodes) bursts, \(c.transitions) transitions") }
            out.append("standing (active over 24 h): \(r.standing.isEmpty ? "none" : "")")
            for a in r.standing {
                out.append("  \(a.tag)/\(a.condition) since \(local(a.since)), \(a.until.map { "cleared \(local($0))" } ?? "still active"), \(Self.number(a.hours)) h, \(a.acknowledged ? "acknowledged" : "never acknowledged (stale)")")
            }
            out.append("shelved: \(r.shelved.isEmpty ? "none" : "")")
            for x in r.shelved {
                out.append("  \(local(x.time)) \(x.tag)/\(x.condition) by \(x.user.isEmpty ? "?" : x.user): \(x.note.isEmpty ? "(no reason given)" : x.note); \(x.until.map { "off the shelf \(local($0)) (\(x.endedBy ?? ""))" } ?? "still shelved")")
            }
            out.append("suppressed by design: \(r.suppressed.isEmpty ? "none" : "")")
            for x in r.suppressed {
                out.append("  \(x.tag)/\(x.condition) \(local(x.since)) to \(x.until.map(local) ?? "the end"): \(x.why)")
            }
            out.append("out of service (configuration): \(r.outOfService.isEmpty ? "none" : "")")
            for x in r.outOfService { out.append("  \(x.tag): \(x.reason)") }
            if !r.interlocks.isEmpty {
                out.append("interlocks in service (share of the time, per day):")
                for i in r.interlocks {
                    let days = i.days.map { $0.map(Self.percent) ?? "-" }.joined(separator: " ")
                    out.append("  \(i.tag): \(i.overall.map(Self.percent) ?? "no record") overall; \(days)")
                }
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: JSON

    public var json: String {
        var w = JSONWriter(capacity: 4096)
        w.field("type", "report")
        w.field("site", settings.site)
        w.field("since", settings.since.iso8601)
        w.field("until", settings.until.iso8601)
        w.field("positions", raw: "[" + reports.map(positionJSON).joined(separator: ",") + "]")
        return w.finish()
    }

    func positionJSON(_ r: PositionReport) -> String {
        func list(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
        func object(_ body: (inout JSONWriter) -> Void) -> String {
            var w = JSONWriter(capacity: 128)
            body(&w)
            return w.finish()
        }
        var w = JSONWriter(capacity: 2048)
        w.field("id", r.position.id)
        w.field("name", r.position.name)
        w.field("alarms", r.annunciated)
        w.field("per_hour", Double(r.annunciated) / max(hours, 1e-9))
        w.field("per_10min", raw: object { $0.field("average", r.averagePerTenMinutes); $0.field("peak", r.peakPerTenMinutes) })
        w.field("flood", raw: object { $0.field("intervals", r.floodIntervals); $0.field("of", r.perTenMinutes.count); $0.field("share", r.floodShare) })
        w.field("counts_per_10min", raw: "[" + r.perTenMinutes.map(String.init).joined(separator: ",") + "]")
        w.field("top", raw: list(r.top.map { a in object { $0.field("tag", a.tag); $0.field("condition", a.condition); $0.field("count", a.count) } }))
        w.field("chattering", raw: list(r.chattering.map { c in object {
            $0.field("tag", c.tag); $0.field("condition", c.condition); $0.field("episodes", c.episodes); $0.field("transitions", c.transitions)
        } }))
        w.field("standing", raw: list(r.standing.map { a in object {
            $0.field("tag", a.tag); $0.field("condition", a.condition); $0.field("since", a.since.iso8601)
            if let u = a.until { $0.field("until", u.iso8601) }
            $0.field("hours", a.hours); $0.field("acknowledged", a.acknowledged)
        } }))
        w.field("shelved", raw: list(r.shelved.map { x in object {
            $0.field("time", x.time.iso8601); $0.field("tag", x.tag); $0.field("condition", x.condition)
            $0.field("user", x.user); $0.field("note", x.note)
            if let u = x.until { $0.field("until", u.iso8601) }
            if let b = x.endedBy { $0.field("ended_by", b) }
        } }))
        w.field("suppressed", raw: list(r.suppressed.map { x in object {
            $0.field("tag", x.tag); $0.field("condition", x.condition); $0.field("since", x.since.iso8601)
            if let u = x.until { $0.field("until", u.iso8601) }
            $0.field("why", x.why)
        } }))
        w.field("interlocks", raw: list(r.interlocks.map { i in object {
            $0.field("tag", i.tag); $0.field("in_service", i.overall)
            $0.field("days", raw: "[" + i.days.map { $0.map { JSONWriter.number($0) } ?? "null" }.joined(separator: ",") + "]")
        } }))
        w.field("out_of_service", raw: list(r.outOfService.map { x in object { $0.field("tag", x.tag); $0.field("reason", x.reason) } }))
        w.field("acknowledge", raw: object {
            $0.field("count", r.acknowledgeSeconds.count); $0.field("median_seconds", r.acknowledgeMedian)
            $0.field("p90_seconds", r.acknowledgeP90); $0.field("unacknowledged", r.unacknowledged)
        })
        w.field("grades", raw: "[" + (1...4).map { String(r.byGrade[$0]) }.joined(separator: ",") + "]")
        let s = r.prioritySplit
        w.field("priority_split", raw: object { $0.field("high", s.high); $0.field("medium", s.medium); $0.field("low", s.low) })
        return w.finish()
    }
}
