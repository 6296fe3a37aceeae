// `hazmon report`'s speed on a year of a busy site's journal (generated here; never commit it):
//   swift build -c release --product ReportBench
//   .build/release/ReportBench --days 365 --per-day 5000 --out /tmp/report-journal.db
// A busy site: 5,000 alarm events a day (raises, acknowledgements, clears of 500 tags, a chattering
// few, a flood an afternoon a week), so a year is 1.8 million events.
import Foundation
import HazmonCore
import HazmonJournal
import HazmonReport

var days = 365, perDay = 5_000, out = "/tmp/report-journal.db"
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--days": days = Int(args.popFirst() ?? "") ?? days
    case "--per-day": perDay = Int(args.popFirst() ?? "") ?? perDay
    case "--out": out = args.popFirst() ?? out
    default: fatalError("usage: ReportBench [--days N] [--per-day N] [--out FILE]")
    }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

let end = Instant(iso8601: "2026-12-01T00:00:00Z")!
let start = Instant(nanoseconds: end.nanoseconds - Int64(days) * 86_400_000_000_000)
if access(out, F_OK) != 0 {
    var rng = SystemRandomNumberGenerator()
    let journal = try Journal(path: out, sync: .normal)
    var seq: UInt64 = 0
    let generated = try seconds {
        for d in 0..<days {
            var batch: [JournalEntry] = []
            // Alarms come as raise, acknowledge, clear: a third of the day's events each.
            for _ in 0..<(perDay / 3) {
                let tag = "TAG-\(Int.random(in: 0..<500, using: &rng))"
                var t = start.nanoseconds + Int64(d) * 86_400_000_000_000 + Int64.random(in: 0..<86_000_000_000_000, using: &rng)
                let grade = [1, 2, 2, 3, 3, 3, 3, 3, 4, 4].randomElement(using: &rng)!
                for kind in [EventKind.raised, .acknowledged, .cleared] {
                    seq += 1
                    let e = AlarmEvent(seq: seq, time: Instant(nanoseconds: t), site: "busy", tag: tag, condition: .h, event: kind,
                                       grade: Grade(grade)!, state: .unack, value: 21.5, unit: "%LEL", limit: 20, quality: .good,
                                       source: "modbus:gc-1", sourceTime: nil, message: "\(tag) 21.5 %LEL above first-level limit 20",
                                       user: kind == .acknowledged ? "zhang" : nil)
                    batch.append(JournalEntry(e, json: e.jsonLine))
                    t += Int64.random(in: 5_000_000_000...600_000_000_000, using: &rng)
                }
            }
            batch.sort { $0.time < $1.time }
            for i in batch.indices { batch[i].seq = UInt64(batch.count * d + i + 1) }
            try journal.append(batch, states: [])
        }
    }
    _ = try journal.checkpoint()
    print(String(format: "generated %ld events over %ld days in %.1f s", Int(seq), days, generated))
}
let settings = ReportSettings(site: "busy", since: start, until: end, positions: [ReportPosition(id: "busy", name: "busy site")])
var reports: [PositionReport] = []
let year = try seconds { reports = try AlarmReport.compute(journal: out, settings: settings) }
var day = settings
day.since = Instant(nanoseconds: end.nanoseconds - 86_400_000_000_000)
let lastDay = try seconds { _ = try AlarmReport.compute(journal: out, settings: day) }
let renderer = ReportRenderer(settings: settings, reports: reports, zone: TimeZone(identifier: "Asia/Shanghai")!)
var html = ""
let render = seconds { html = renderer.html }
print(String(format: "report over %ld days: %ld alarms annunciated, computed in %.2f s; the last 24 h of the same journal in %.2f s; HTML (%.0f kB) in %.3f s",
             days, reports[0].annunciated, year, lastDay, Double(html.utf8.count) / 1000, render))
