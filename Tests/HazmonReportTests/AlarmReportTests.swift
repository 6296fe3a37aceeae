import Foundation
import HazmonCore
import HazmonJournal
@testable import HazmonReport
import Testing

/// Spec §11 against a synthetic journal whose every figure is known by construction.
@Suite("Alarm performance report", .serialized)
struct AlarmReportTests {
    static let t0 = Instant(iso8601: "2026-11-01T00:00:00Z")!

    final class Scratch {
        let path: String
        init() throws {
            var template = Array("/tmp/hazmon-report-XXXXXX".utf8CString)
            guard let p = mkdtemp(&template) else { throw JournalError("mkdtemp failed") }
            path = String(cString: p)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Writes events (seconds after t0, tag, condition, event, grade, user, note, flags) into a
    /// real journal file.
    static func journal(_ dir: Scratch, _ rows: [(Double, String, Condition, EventKind, Int, String?, String?, EventFlags)]) throws -> String {
        let path = dir.path + "/journal.db"
        let j = try Journal(path: path)
        var entries: [JournalEntry] = []
        for (i, r) in rows.enumerated() {
            let e = AlarmEvent(seq: UInt64(i + 1), time: t0 + .milliseconds(Int64(r.0 * 1000)), site: "s", tag: r.1, condition: r.2,
                               event: r.3, grade: Grade(r.4)!, state: .unack, value: 1, unit: "", limit: 1, quality: .good,
                               source: "test", sourceTime: nil, message: "\(r.1) \(r.3.rawValue)", user: r.5, note: r.6, flags: r.7)
            entries.append(JournalEntry(e, json: e.jsonLine))
        }
        try j.append(entries, states: [])
        return path
    }

    static func rows() -> [(Double, String, Condition, EventKind, Int, String?, String?, EventFlags)] {
        var r: [(Double, String, Condition, EventKind, Int, String?, String?, EventFlags)] = [
            // Before the period: PT-9 raised two days early, acknowledged, still active: standing.
            (-172_800, "PT-9", .hh, .raised, 1, nil, nil, []),
            (-86_400, "PT-9", .hh, .acknowledged, 1, "li", nil, []),
            // Interval 0: GT-1 raised, acknowledged after 30 s, cleared.
            (60, "GT-1", .h, .raised, 3, nil, nil, []),
            (90, "GT-1", .h, .acknowledged, 3, "zhang", nil, []),
            (120, "GT-1", .h, .cleared, 3, nil, nil, []),
        ]
        // Interval 1: GT-2 chatters, 12 raises and 12 clears 5 s apart: a flood interval, one burst.
        for k in 0..<12 {
            r.append((600 + Double(k) * 10, "GT-2", .h, .raised, 3, nil, nil, []))
            r.append((605 + Double(k) * 10, "GT-2", .h, .cleared, 3, nil, nil, []))
        }
        r += [
            // Interval 3: GT-1 raised, escalated to hh (grade 2), acknowledged 150 s after the raise.
            (1_900, "GT-1", .h, .raised, 3, nil, nil, []),
            (1_950, "GT-1", .hh, .escalated, 2, nil, nil, []),
            (2_050, "GT-1", .hh, .acknowledged, 2, "zhang", nil, []),
            (2_100, "GT-1", .h, .cleared, 3, nil, nil, []),
            // Shelved by zhang; a raise while shelved is recorded, not annunciated; the shelf expires.
            (2_200, "GT-1", .h, .shelved, 3, "zhang", "calibration, <ticket 42>", []),
            (2_300, "GT-1", .h, .raised, 3, nil, nil, [.shelved]),
            (2_350, "GT-1", .h, .cleared, 3, nil, nil, [.shelved]),
            (2_400, "GT-1", .h, .unshelved, 3, "hazmon", "shelve expired", []),
            // The site's position: TT-5 red, acknowledged after 600 s.
            (3_000, "TT-5", .hh, .raised, 1, nil, nil, []),
            (3_600, "TT-5", .hh, .acknowledged, 1, "li", nil, []),
            // GT-2 suppressed by design for 500 s.
            (4_000, "GT-2", .h, .suppressed, 3, nil, nil, []),
            (4_500, "GT-2", .h, .unsuppressed, 3, nil, nil, []),
            // Not alarms of anyone: a hazard source's level, the site's flood.
            (4_600, "S1", .level, .escalated, 2, nil, nil, []),
            (650, "s", .flood, .floodStart, 2, nil, nil, []),
            // After the period: not counted.
            (7_300, "GT-1", .h, .raised, 3, nil, nil, []),
        ]
        return r
    }

    static func settings() -> ReportSettings {
        ReportSettings(site: "s", since: t0, until: t0 + .seconds(7_200),
                       positions: [ReportPosition(id: "s", name: "site"), ReportPosition(id: "area-1", name: "Area 1")],
                       positionOf: ["GT-1": "area-1", "GT-2": "area-1", "GT-3": "area-1"],
                       outOfService: [(tag: "GT-3", reason: "detector replaced")])
    }

    @Test func everyFigureOfBothPositions() throws {
        let dir = try Scratch()
        let path = try Self.journal(dir, Self.rows())
        let reports = try AlarmReport.compute(journal: path, settings: Self.settings())
        #expect(reports.map(\.position.id) == ["s", "area-1"])
        let a = reports[1]
        // 1 + 12 + raise and escalation = 15; the shelved raise and everything outside are not.
        #expect(a.annunciated == 15)
        #expect(a.perTenMinutes == [1, 12, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(a.averagePerTenMinutes == 1.25 && a.peakPerTenMinutes == 12)
        #expect(a.floodIntervals == 1 && abs(a.floodShare - 1.0 / 12) < 1e-12)
        #expect(a.byGrade == [0, 0, 1, 14, 0])
        let split = a.prioritySplit
        #expect(split.high == 0 && abs(split.medium - 1.0 / 15) < 1e-12 && abs(split.low - 14.0 / 15) < 1e-12)
        // GT-1: two raises and the escalation (h and hh are one alarm, shown by its last condition).
        #expect(a.top == [.init(tag: "GT-2", condition: "h", count: 12), .init(tag: "GT-1", condition: "h", count: 3)])
        #expect(a.chattering == [.init(tag: "GT-2", condition: "h", episodes: 1, transitions: 24)])
        #expect(a.acknowledgeSeconds == [30, 150] && a.acknowledgeMedian == 30 && a.acknowledgeP90 == 150)
        #expect(a.unacknowledged == 1, "GT-2's burst was never acknowledged")
        #expect(a.standing.isEmpty)
        #expect(a.shelved == [.init(time: Self.t0 + .seconds(2_200), tag: "GT-1", condition: "h", user: "zhang",
                                    note: "calibration, <ticket 42>", until: Self.t0 + .seconds(2_400), endedBy: "expired")])
        #expect(a.suppressed.count == 1 && a.suppressed[0].tag == "GT-2" && a.suppressed[0].since == Self.t0 + .seconds(4_000)
                && a.suppressed[0].until == Self.t0 + .seconds(4_500))
        #expect(a.outOfService.map(\.tag) == ["GT-3"])

        let s = reports[0]
        #expect(s.annunciated == 1 && s.byGrade == [0, 1, 0, 0, 0] && s.prioritySplit.high == 1)
        #expect(s.acknowledgeSeconds == [600] && s.unacknowledged == 0)
        #expect(s.standing.count == 1)
        let standing = try #require(s.standing.first)
        #expect(standing.tag == "PT-9" && standing.until == nil && standing.acknowledged && abs(standing.hours - 50) < 1e-9)
        #expect(s.top == [.init(tag: "TT-5", condition: "hh", count: 1)] && s.chattering.isEmpty && s.floodIntervals == 0)
    }

    @Test func textJsonAndHtmlSayTheSame() throws {
        let dir = try Scratch()
        let path = try Self.journal(dir, Self.rows())
        let settings = Self.settings()
        let r = ReportRenderer(settings: settings, reports: try AlarmReport.compute(journal: path, settings: settings),
                               zone: TimeZone(identifier: "Asia/Shanghai")!)
        let text = r.text
        #expect(text.contains("2026-11-01 08:00:00 to 2026-11-01 10:00:00 (Asia/Shanghai)"))
        #expect(text.contains("alarms annunciated: 15 (7.50 per hour"))
        #expect(text.contains("per 10 minutes: average 1.25, peak 12"))
        #expect(text.contains("flood (more than 10 in 10 minutes): 1 of 12 intervals, 8.3 %"))
        #expect(text.contains("time to acknowledge: median 30 s, 90th percentile 2.5 min (2 acknowledged, 1 not by the end)"))
        #expect(text.contains("GT-2/h: 1 bursts, 24 transitions"))
        #expect(text.contains("PT-9/hh since 2026-10-30 08:00:00, still active, 50.00 h, acknowledged"))
        #expect(text.contains("GT-1/h by zhang: calibration, <ticket 42>; off the shelf 2026-11-01 08:40:00 (expired)"))
        #expect(text.contains("GT-3: detector replaced"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as? [String: Any])
        let positions = try #require(json["positions"] as? [[String: Any]])
        #expect(positions.count == 2 && positions[1]["alarms"] as? Int == 15)
        #expect((positions[1]["counts_per_10min"] as? [Int])?.prefix(4) == [1, 12, 0, 2])
        #expect((positions[1]["acknowledge"] as? [String: Any])?["p90_seconds"] as? Double == 150)
        #expect((positions[1]["grades"] as? [Int]) == [0, 1, 14, 0])
        let html = r.html
        #expect(html.contains("calibration, &lt;ticket 42&gt;") && !html.contains("<ticket 42>"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"), "self-contained, nothing fetched")
        #expect(html.components(separatedBy: "<svg class=\"chart").count - 1 == 6, "three charts per position")
    }

    /// The page as a browser draws it: headless Chromium (Debian's) renders the charts; the
    /// screenshot is kept for the README.
    @Test func theHtmlPageRendersInChromium() throws {
        let dir = try Scratch()
        let path = try Self.journal(dir, Self.rows())
        let settings = Self.settings()
        let r = ReportRenderer(settings: settings, reports: try AlarmReport.compute(journal: path, settings: settings), zone: .gmt)
        let page = dir.path + "/report.html"
        try r.html.write(toFile: page, atomically: true, encoding: .utf8)
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let browser = try #require(chromium, "Debian's chromium is not installed (.ci/setup installs it)")
        let shot = dir.path + "/report.png"
        let dom = try Self.run(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + page])
        // The browser's own DOM: the charts' shapes as it parsed them.
        let rects = dom.components(separatedBy: "<rect").count - 1
        #expect(rects >= 3 + 2 + 3, "bars drawn: \(rects)")
        #expect(dom.contains("Position Area 1"))
        _ = try Self.run(browser, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1800",
                                   "--screenshot=" + shot, "file://" + page])
        let png = try #require(FileManager.default.contents(atPath: shot))
        #expect(png.count > 20_000 && png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "\(png.count) bytes")
        // PNG IHDR: width and height, big-endian, at bytes 16 and 20.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1000)
        if let keep = ProcessInfo.processInfo.environment["HAZMON_REPORT_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: shot, toPath: keep)
        }
    }

    static func run(_ exe: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(exe) \(args.joined(separator: " ")) exited \(p.terminationStatus)")
        return String(decoding: data, as: UTF8.self)
    }
}
