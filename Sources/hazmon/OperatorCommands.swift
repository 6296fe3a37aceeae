import ArgumentParser
import Foundation
import HazmonConfig
import HazmonConsole
import HazmonCore
import HazmonDaemon
import HazmonFeed
import HazmonJournal

/// Where the running daemon's alert socket is: `--socket`, else the config's, else the default.
struct SocketOption: ParsableArguments {
    @Option(help: "The alert socket (default: [alert_socket] path of --config, or /run/hazmon/alerts.sock).")
    var socket: String?

    @Option(name: .shortAndLong, help: "Read the socket path from this configuration.")
    var config: String?

    func connect() throws -> AlertSocketClient {
        var path = socket ?? "/run/hazmon/alerts.sock"
        if socket == nil, let config {
            do { path = try ConfigLoader.load(path: config).alertSocket.path } catch {
                for e in error.errors { printError(e.description) }
                throw ExitCode(Exit.config)
            }
        }
        do {
            let c = try AlertSocketClient(path: path)
            guard let hello = c.readLine(), case .hello? = FeedMessage(line: hello) else {
                printError("hazmon: \(path) did not greet like a hazmon alert socket")
                throw ExitCode(Exit.runtime)
            }
            return c
        } catch let e as AlertSocketClient.Failure {
            printError("hazmon: \(e)")
            throw ExitCode(Exit.runtime)
        }
    }
}

/// Where people read times (spec §12): `--timezone`, else `[site] timezone` of the config,
/// else the host's zone.
func displayZone(_ name: String?, config: String?) throws -> TimeZone {
    if let name {
        guard let z = TimeZone(identifier: name) else { throw ValidationError("--timezone: \"\(name)\" is not an IANA time zone (Asia/Shanghai, UTC, ...)") }
        return z
    }
    guard let config else { return .current }
    do { return try ConfigLoader.load(path: config).site.timeZone } catch {
        for e in error.errors { printError(e.description) }
        throw ExitCode(Exit.config)
    }
}

/// The daemon's answer to a request line, if one came.
func reply(_ c: AlertSocketClient) -> FeedMessage? { c.readLine().flatMap(FeedMessage.init(line:)) }

struct Alarms: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every alarm not in normal, most severe first.")

    @OptionGroup var target: SocketOption
    @Flag(help: "Print the snapshot as JSON.") var json = false
    @Option(help: "Show times in this IANA zone (default: [site] timezone of --config, or the host's).")
    var timezone: String?

    func run() throws {
        let c = try target.connect()
        c.send(#"{"type":"snapshot"}"#)
        guard let line = c.readLine(), case .snapshot(let seq, let alarms, let sources)? = FeedMessage(line: line) else {
            printError("hazmon: no snapshot from the daemon")
            throw ExitCode(Exit.runtime)
        }
        if json { print(line); return }
        let colour = isatty(1) == 1
        for s in sources { print(Self.sourceLine(s, colour: colour)) }
        if alarms.isEmpty { print("no alarms (seq \(seq))"); return }
        let zone = try displayZone(timezone, config: target.config)
        let local = { (t: String?) in t.map { EventText.localTime($0, in: zone) } }
        for a in alarms {
            var flags: [String] = []
            if !a.active { flags.append("returned") }
            if a.latched == true { flags.append("latched") }
            if let until = local(a.shelvedUntil) { flags.append("shelved until \(until)") }
            if a.suppressed == true { flags.append("suppressed") }
            let value = a.value.map { JSONWriter.number($0) } ?? "-"
            let limit = a.limit.map { JSONWriter.number($0) } ?? "-"
            let who = "\(a.tag)/\(a.condition)".padding(toLength: 16, withPad: " ", startingAt: 0)
            let state = a.state.padding(toLength: 9, withPad: " ", startingAt: 0)
            let band = EventText.band(Grade(a.grade) ?? .yellow, fault: Condition(rawValue: a.condition)?.isFault ?? false, colour: colour)
            print("\(band) \(who) \(state) \(value) \(a.unit) (limit \(limit)) since \(local(a.since) ?? "-") \(a.name)\(flags.isEmpty ? "" : " [" + flags.joined(separator: ", ") + "]")")
        }
    }
}

extension Alarms {
    /// A hazard source's line: its level's colour band, R, S and each substance's q, or why R
    /// is unknown.
    static func sourceLine(_ s: FeedHazardSource, colour: Bool) -> String {
        let band = s.level.flatMap(Grade.init).map { EventText.band($0, fault: false, colour: colour) } ?? "[  ?  ]"
        let level = s.level.map { "level \($0)" } ?? "not graded"
        let subs = s.substances.map { "\($0.name) \($0.q.map { JSONWriter.number(($0 * 10).rounded() / 10) } ?? "?") t" }
            .joined(separator: ", ")
        let r: String
        if let value = s.r {
            r = "R \(JSONWriter.number((value * 100).rounded() / 100)), S \(JSONWriter.number(((s.s ?? 0) * 100).rounded() / 100))"
        } else {
            r = "R unknown (\((s.unknown ?? []).joined(separator: "; ")))"
        }
        var mode = ""
        if let m = s.mode, m != "normal" {
            mode = " [\(m)\(s.modeUntil.map { " until \($0)" } ?? "")\(s.modeBy.map { " by \($0)" } ?? "")\(s.modeNote.map { ": \($0)" } ?? "")]"
        }
        return "\(band) \(s.id.padding(toLength: 16, withPad: " ", startingAt: 0)) \(level), \(r): \(subs) \(s.name)\(mode)"
    }
}

/// `TAG/CONDITION`, or `TAG` alone when the tag has exactly one alarm not in normal.
struct AlarmRef: ExpressibleByArgument {
    let tag: String
    let condition: String?
    init?(argument: String) {
        let parts = argument.split(separator: "/", maxSplits: 1).map(String.init)
        guard let t = parts.first, !t.isEmpty else { return nil }
        tag = t
        condition = parts.count == 2 ? parts[1] : nil
    }
}

/// ack, shelve, unshelve and reset: one request, one reply.
protocol OperatorActionCommand: ParsableCommand {
    var target: SocketOption { get }
    var alarm: AlarmRef { get }
    var user: String? { get }
    var note: String? { get }
    var requestType: String { get }
    var extraFields: [String: String] { get }
}

extension OperatorActionCommand {
    var extraFields: [String: String] { [:] }

    func run() throws {
        let c = try target.connect()
        var condition = alarm.condition
        if condition == nil {
            c.send(#"{"type":"snapshot"}"#)
            var alarms: [FeedAlarm] = []
            if case .snapshot(_, let all, _)? = reply(c) { alarms = all.filter { $0.tag == alarm.tag } }
            guard alarms.count == 1, let only = alarms.first?.condition else {
                printError("hazmon: name the alarm as \(alarm.tag)/CONDITION (\(alarms.isEmpty ? "it has no alarm not in normal" : "it has \(alarms.count): " + alarms.map(\.condition).joined(separator: ", ")))")
                throw ExitCode(Exit.usage)
            }
            condition = only
        }
        var w = JSONWriter()
        w.field("type", requestType)
        w.field("tag", alarm.tag)
        w.field("condition", condition!)
        w.field("user", user ?? ProcessInfo.processInfo.environment["USER"] ?? "operator")
        if let note { w.field("note", note) }
        for (k, v) in extraFields.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        c.send(w.finish())
        switch reply(c) {
        case .ok?:
            print("\(requestType) \(alarm.tag)/\(condition!): ok")
        case .error(let code, let message)?:
            printError("hazmon: \(message) (\(code))")
            throw ExitCode(Exit.runtime)
        default:
            printError("hazmon: no reply from the daemon")
            throw ExitCode(Exit.runtime)
        }
    }
}

struct Ack: OperatorActionCommand {
    static let configuration = CommandConfiguration(abstract: "Acknowledge an alarm.")
    @OptionGroup var target: SocketOption
    @Argument(help: "TAG/CONDITION, e.g. GT-101/hh (TAG alone if it has one alarm).") var alarm: AlarmRef
    @Option(help: "Who acknowledges (default: $USER).") var user: String?
    @Option(help: "A note for the record.") var note: String?
    var requestType: String { "ack" }
}

struct Shelve: OperatorActionCommand {
    static let configuration = CommandConfiguration(abstract: "Shelve an alarm for a bounded time.")
    @OptionGroup var target: SocketOption
    @Argument(help: "TAG/CONDITION") var alarm: AlarmRef
    @Option(name: .customLong("for"), help: "How long, e.g. 30m (required; at most engine.shelve_max).") var duration: String
    @Option(help: "Who shelves (default: $USER).") var user: String?
    @Option(help: "Why (required: recorded with the event).") var note: String?
    var requestType: String { "shelve" }

    func validate() throws {
        if (note ?? "").allSatisfy({ $0 == " " || $0 == "\t" }) { throw ValidationError("--note is required: why the alarm is shelved") }
    }
    var extraFields: [String: String] { ["for": duration] }
}

struct Unshelve: OperatorActionCommand {
    static let configuration = CommandConfiguration(abstract: "Return a shelved alarm to service.")
    @OptionGroup var target: SocketOption
    @Argument(help: "TAG/CONDITION") var alarm: AlarmRef
    @Option(help: "Who (default: $USER).") var user: String?
    @Option(help: "A note for the record.") var note: String?
    var requestType: String { "unshelve" }
}

struct Reset: OperatorActionCommand {
    static let configuration = CommandConfiguration(abstract: "Reset a latched alarm whose condition has cleared.")
    @OptionGroup var target: SocketOption
    @Argument(help: "TAG/CONDITION") var alarm: AlarmRef
    @Option(help: "Who (default: $USER).") var user: String?
    @Option(help: "A note for the record.") var note: String?
    var requestType: String { "reset" }
}

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow the alarm feed until interrupted.")
    @OptionGroup var target: SocketOption
    @Option(help: "Replay every event after this seq first.") var since: UInt64?
    @Flag(help: "Print events as NDJSON.") var json = false
    @Option(help: "Show times in this IANA zone (default: [site] timezone of --config, or the host's).")
    var timezone: String?

    func run() throws {
        let zone = try displayZone(timezone, config: target.config)
        let c = try target.connect()
        c.send(since.map { #"{"type":"subscribe","since":\#($0)}"# } ?? #"{"type":"subscribe"}"#)
        let colour = isatty(1) == 1
        let out = LogOutput.stdoutOutput(format: .text)   // line-buffered writes, flushed per line
        while let line = c.readLine(timeout: nil) {
            switch FeedMessage(line: line) {
            case .error(_, let message)?:
                printError("hazmon: \(message)")
                throw ExitCode(Exit.runtime)
            case .event(let e)?:
                out.write(json ? line : e.terminalLine(colour: colour, zone: zone))
            default:
                continue
            }
        }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query the alarm journal (read-only; works beside the running daemon).",
        discussion: """
            TIME is an RFC 3339 time (2026-11-23T08:15:00Z, 2026-11-23T16:15:00+08:00), a local \
            time (2026-11-23, "2026-11-23 16:15", 2026-11-23T16:15:30), or an age: 90m, 2h, 7d ago.
            """)
    @Option(help: "The journal file (default: [journal] path of --config, or /var/lib/hazmon/journal.db).")
    var journal: String?
    @Option(name: .shortAndLong, help: "Read the journal path from this configuration.")
    var config: String?
    @Option(help: "Only this tag (or voting group, connection, site).") var tag: String?
    @Option(help: "Events at or after TIME.") var since: String?
    @Option(help: "Events before TIME.") var until: String?
    @Option(help: "At most this many events (the oldest first).") var limit: Int?
    @Flag(help: "Print events as NDJSON, exactly as journaled.") var json = false
    @Option(help: "Read and show local times in this IANA zone (default: [site] timezone of --config, or the host's).")
    var timezone: String?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let zone = try displayZone(timezone, config: config)
        let from = try since.map { try Self.parseTime($0, option: "--since", zone: zone) }
        let to = try until.map { try Self.parseTime($0, option: "--until", zone: zone) }
        var path = journal ?? "/var/lib/hazmon/journal.db"
        if journal == nil, let config {
            do { path = try ConfigLoader.load(path: config).journal.path } catch {
                for e in error.errors { printError(e.description) }
                throw ExitCode(Exit.config)
            }
        }
        guard access(path, R_OK) == 0 else {
            printError("hazmon: cannot read the journal \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(Exit.runtime)
        }
        let entries: [JournalEntry]
        do {
            entries = try JournalReader(path: path).events(tag: tag, since: from, until: to, limit: limit ?? .max)
        } catch {
            printError("hazmon: \(error)")
            throw ExitCode(Exit.runtime)
        }
        let out = LogOutput.stdoutOutput(format: .text)
        let colour = isatty(1) == 1
        for e in entries {
            if json {
                out.write(e.json)
            } else {
                out.write(DemoDisplay.render(e.json, colour: colour, zone: zone) ?? e.json)
            }
        }
        if !json, entries.isEmpty { printError("hazmon: no events match") }
    }

    /// An RFC 3339 time, a local date or date-time in `zone`, or an age before now.
    static func parseTime(_ s: String, option: String, zone: TimeZone) throws -> Instant {
        if let t = TimeInput.parse(s, zone: zone) { return t }
        throw ValidationError("\(option): \"\(s)\" is not a time (2026-11-23T08:15:00Z, 2026-11-23 16:15, or an age like 2h)")
    }
}
