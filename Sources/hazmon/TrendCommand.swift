import ArgumentParser
import Foundation
import HazmonConfig
import HazmonCore
import HazmonFeed
import HazmonHistory

/// `hazmon trend TAG`: a tag's recorded values (spec §8), read-only beside the running daemon.
struct Trend: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A tag's recorded values from the process history (read-only; works beside the running daemon).",
        discussion: """
            TIME is an RFC 3339 time (2026-11-23T08:15:00Z), a local time (2026-11-23, "2026-11-23 16:15") or an \
            age (90m, 2h, 7d). Without --every every stored point is printed: each change (beyond the tag's \
            history deadband), each change of quality, and at least one per [history] max_gap. With --every \
            (1m, 15m, 1h, ...) each interval's min, max, time-weighted mean, last value and count of stored \
            points; whole minutes come from the one-minute aggregates, so a month reads fast. Bad values are \
            left out of the figures. On a terminal times are local (--timezone, [site] timezone, or the host's), \
            with their offset; --json prints UTC times as events do.
            """)

    @Argument(help: "The tag id.") var tag: String
    @Option(help: "The history file (default: [history] path of --config, or /var/lib/hazmon/history.db).")
    var history: String?
    @Option(name: .shortAndLong, help: "Read the history path and time zone from this configuration.")
    var config: String?
    @Option(help: "From TIME (default: 1h ago).") var since: String?
    @Option(help: "Before TIME (default: now).") var until: String?
    @Option(help: "Aggregate over intervals of this length (1m, 10m, 1h, 1d).") var every: String?
    @Flag(help: "Comma-separated values with a header line.") var csv = false
    @Flag(help: "One JSON object per line.") var json = false
    @Option(help: "Show local times in this IANA zone.") var timezone: String?

    func validate() throws {
        if csv && json { throw ValidationError("--csv and --json: choose one") }
        if let every {
            guard let d = try? DurationParser.parse(every), d >= .seconds(1) else {
                throw ValidationError("--every: \"\(every)\" is not a duration of at least 1s (1m, 15m, 1h)")
            }
        }
    }

    func run() throws {
        let zone = try displayZone(timezone, config: config)
        let now = Instant.now
        let from = try since.map { try History.parseTime($0, option: "--since", zone: zone) }
            ?? Instant(nanoseconds: now.nanoseconds - 3_600_000_000_000)
        let to = try until.map { try History.parseTime($0, option: "--until", zone: zone) } ?? Instant(nanoseconds: now.nanoseconds + 1)
        var path = history ?? "/var/lib/hazmon/history.db"
        if history == nil, let config {
            do {
                let c = try ConfigLoader.load(path: config)
                guard let h = c.history else {
                    printError("hazmon: \(config) turns the history off ([history] enabled = false)")
                    throw ExitCode(Exit.config)
                }
                path = h.path
            } catch let e as ConfigErrors {
                for e in e.errors { printError(e.description) }
                throw ExitCode(Exit.config)
            }
        }
        guard access(path, R_OK) == 0 else {
            printError("hazmon: cannot read the history \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(Exit.runtime)
        }
        let out = TrendOutput(tag: tag, zone: zone, csv: csv, json: json)
        do {
            let reader = try HistoryReader(path: path)
            if let every {
                let step = try DurationParser.parse(every).nanosecondsClamped / 1_000_000
                let rows = try reader.aggregates(tag: tag, from: from.milliseconds, until: to.milliseconds, every: step)
                out.aggregates(rows)
                if rows.isEmpty, !json, !csv { printError(Self.nothing(tag, reader)) }
            } else {
                let rows = try reader.points(tag: tag, from: from.milliseconds, until: to.milliseconds)
                out.points(rows)
                if rows.isEmpty, !json, !csv { printError(Self.nothing(tag, reader)) }
            }
        } catch let e as HistoryError {
            printError("hazmon: \(e)")
            throw ExitCode(Exit.runtime)
        }
    }

    static func nothing(_ tag: String, _ reader: HistoryReader) -> String {
        let known = (try? reader.tags()) ?? []
        return known.contains(tag) ? "hazmon: no values of \(tag) in that time" : "hazmon: the history holds no tag \"\(tag)\""
    }
}

/// How `trend` prints: a table on a terminal, CSV, or JSON lines.
struct TrendOutput {
    let tag: String
    let zone: TimeZone
    let csv: Bool
    let json: Bool

    func local(_ ms: Int64) -> String { EventText.localTime(Instant(nanoseconds: ms * 1_000_000), in: zone) }
    func utc(_ ms: Int64) -> String { Instant(nanoseconds: ms * 1_000_000).iso8601 }

    func points(_ rows: [HistoryPoint]) {
        var lines: [String] = []
        if csv { lines.append("tag,time,value,quality,source_time") }
        for p in rows {
            let v = p.valueText
            if json {
                var w = JSONWriter(capacity: 96)
                w.field("tag", tag)
                w.field("time", utc(p.time))
                w.field("value", raw: v ?? "null")
                w.field("quality", p.quality.rawValue)
                if let st = p.sourceTime { w.field("source_time", utc(st)) }
                lines.append(w.finish())
            } else if csv {
                lines.append([Self.csvField(tag), local(p.time), v ?? "", p.quality.rawValue, p.sourceTime.map(local) ?? ""].joined(separator: ","))
            } else {
                lines.append("\(local(p.time))  \(Self.pad(v ?? "-", 12)) \(p.quality.rawValue)")
            }
        }
        emit(lines)
    }

    func aggregates(_ rows: [Aggregate]) {
        var lines: [String] = []
        if csv { lines.append("tag,time,min,max,mean,last,count") }
        else if !json { lines.append("\(Self.pad("interval start", 29))  \(Self.pad("min", 12)) \(Self.pad("max", 12)) \(Self.pad("mean", 12)) \(Self.pad("last", 12)) count") }
        for a in rows {
            let f = [a.min, a.max, a.mean, a.last].map(Self.number)
            if json {
                var w = JSONWriter(capacity: 128)
                w.field("tag", tag)
                w.field("time", utc(a.start))
                for (k, v) in zip(["min", "max", "mean", "last"], f) { w.field(k, raw: v) }
                w.field("count", a.count)
                lines.append(w.finish())
            } else if csv {
                lines.append(([Self.csvField(tag), local(a.start)] + f + ["\(a.count)"]).joined(separator: ","))
            } else {
                lines.append("\(local(a.start))  " + f.map { Self.pad($0, 12) }.joined(separator: " ") + " \(a.count)")
            }
        }
        emit(lines)
    }

    /// Aggregates are kept as 32-bit floats: their shortest digits.
    static func number(_ d: Double) -> String { HistoryPoint(time: 0, value: d, float32: true).valueText ?? "null" }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    func emit(_ lines: [String]) {
        guard !lines.isEmpty else { return }
        let text = lines.joined(separator: "\n") + "\n"
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
