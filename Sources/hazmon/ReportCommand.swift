import ArgumentParser
import Foundation
import HazmonConfig
import HazmonCore
import HazmonHistory
import HazmonReport

/// `hazmon report`: alarm performance figures from the journal (spec §11), read-only.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Alarm performance figures from the journal (GB/T 41261-2022 / IEC 62682, EEMUA 191).",
        discussion: """
            Per operator position ([[position]] in the configuration; one for the site without): \
            alarms per 10 minutes (average, peak), the share of 10-minute intervals in flood, \
            the 10 most frequent alarms, chattering and standing alarms, shelved, suppressed and \
            out-of-service alarms with who and why, time to acknowledge (median, 90th percentile) \
            and the priority mix against the 80/15/5 target. Read-only: runs beside the daemon. \
            TIME as for `hazmon history`: RFC 3339, a local date or time, or an age (24h, 30d).
            """)

    @Option(help: "The journal file (default: [journal] path of --config).") var journal: String?
    @Option(name: .shortAndLong, help: "The configuration (site, positions, hazard sources, tags).")
    var config: String = "/etc/hazmon/hazmon.toml"
    @Option(help: "From TIME (default 24h ago).") var since: String = "24h"
    @Option(help: "Until TIME (default now).") var until: String?
    @Option(help: "Only this operator position.") var position: String?
    @Flag(help: "Print the figures as one JSON object.") var json = false
    @Option(help: "Write one self-contained HTML page with charts to FILE.") var html: String?
    @Option(help: "Show times in this IANA zone (default: [site] timezone).") var timezone: String?

    func run() throws {
        let c: HazmonConfiguration
        do { c = try ConfigLoader.load(path: config) } catch {
            for e in error.errors { printError(e.description) }
            throw ExitCode(Exit.config)
        }
        let zone = try timezone.map { try displayZone($0, config: nil) } ?? c.site.timeZone
        let from = try History.parseTime(since, option: "--since", zone: zone)
        let to = try until.map { try History.parseTime($0, option: "--until", zone: zone) } ?? .now
        guard from < to else { throw ValidationError("--since must be before --until") }
        var settings = Self.settings(c, since: from, until: to)
        settings.interlocks = Self.interlockShares(c, since: from, until: to, zone: zone)
        if let position {
            guard settings.positions.contains(where: { $0.id == position }) else {
                throw ValidationError("--position: no position \"\(position)\" (positions: \(settings.positions.map(\.id).joined(separator: ", ")))")
            }
        }
        let path = journal ?? c.journal.path
        guard access(path, R_OK) == 0 else {
            printError("hazmon: cannot read the journal \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(Exit.runtime)
        }
        var reports: [PositionReport]
        do { reports = try AlarmReport.compute(journal: path, settings: settings) } catch {
            printError("hazmon: \(error)")
            throw ExitCode(Exit.runtime)
        }
        // The site's catch-all position only shows when positions are configured and it has alarms.
        if !c.positions.isEmpty, let first = reports.first, first.annunciated == 0, first.outOfService.isEmpty {
            reports.removeFirst()
            settings.positions.removeFirst()
        }
        if let position { reports = reports.filter { $0.position.id == position } }
        let renderer = ReportRenderer(settings: settings, reports: reports, zone: zone)
        if let html {
            do { try renderer.html.write(toFile: html, atomically: true, encoding: .utf8) } catch {
                printError("hazmon: cannot write \(html): \(error.localizedDescription)")
                throw ExitCode(Exit.runtime)
            }
        }
        if json { print(renderer.json) } else if html == nil { print(renderer.text, terminator: "") }
        else { printError("hazmon: report written to \(html!)") }
    }

    /// Each interlock's share of time in service from the process history: hourly time-weighted
    /// means of its 1 / 0 status, folded into the site's local days. Without a history (or
    /// without records of the tag) the share is unknown, never assumed.
    static func interlockShares(_ c: HazmonConfiguration, since: Instant, until: Instant, zone: TimeZone) -> [PositionReport.InterlockShare] {
        let tags = c.tags.map(\.definition).filter { $0.tagClass == .interlock }.map(\.id)
        guard !tags.isEmpty else { return [] }
        guard let h = c.history, access(h.path, R_OK) == 0, let reader = try? HistoryReader(path: h.path) else {
            return tags.map { .init(tag: $0, days: [], overall: nil) }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let firstDay = calendar.startOfDay(for: Date(timeIntervalSince1970: since.seconds))
        let dayCount = max(1, (calendar.dateComponents([.day], from: firstDay, to: Date(timeIntervalSince1970: until.seconds)).day ?? 0) + 1)
        return tags.map { tag in
            let hours = (try? reader.aggregates(tag: tag, from: since.milliseconds, until: until.milliseconds, every: 3_600_000)) ?? []
            var inService = Array(repeating: 0.0, count: dayCount), covered = Array(repeating: 0.0, count: dayCount)
            for a in hours where a.covered > 0 {
                let date = Date(timeIntervalSince1970: Double(a.start) / 1000)
                let d = calendar.dateComponents([.day], from: firstDay, to: date).day ?? 0
                guard covered.indices.contains(d) else { continue }
                // The mean of a 1 / 0 status over its covered time is the share in service.
                inService[d] += min(1, max(0, a.mean)) * Double(a.covered)
                covered[d] += Double(a.covered)
            }
            let days = zip(inService, covered).map { $1 > 0 ? $0 / $1 : nil } as [Double?]
            let total = covered.reduce(0, +)
            return .init(tag: tag, days: days, overall: total > 0 ? inService.reduce(0, +) / total : nil)
        }
    }

    /// Positions and who belongs where, from the configuration: a tag by its hazard source, a
    /// vote by its first member; everything else (connections, unassigned tags) is the site's.
    static func settings(_ c: HazmonConfiguration, since: Instant, until: Instant) -> ReportSettings {
        var positions = [ReportPosition(id: c.site.id, name: c.positions.isEmpty ? c.site.name : "\(c.site.name) (no position)")]
        var bySource: [String: String] = [:]
        for p in c.positions {
            positions.append(ReportPosition(id: p.id, name: p.name))
            for s in p.hazardSources { bySource[s] = p.id }
        }
        var of: [String: String] = [:]
        for t in c.tags { if let s = t.definition.hazardSource, let p = bySource[s] { of[t.definition.id] = p } }
        for v in c.votes { if let first = v.tags.first, let p = of[first] { of[v.id] = p } }
        let oos = c.tags.compactMap { t in t.definition.outOfService.map { (tag: t.definition.id, reason: $0) } }
        return ReportSettings(site: c.site.id, since: since, until: until, positions: positions, positionOf: of, outOfService: oos)
    }
}
