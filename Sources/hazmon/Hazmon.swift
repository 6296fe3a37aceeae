import ArgumentParser
import HazmonConfig
import HazmonCore
import HazmonDaemon
import HazmonHistory
import HazmonJournal

#if canImport(Glibc)
import Glibc
#endif

/// Exit codes of spec §1.
enum Exit {
    static let runtime: Int32 = 1
    static let usage: Int32 = 2
    static let config: Int32 = 78
}

@main
struct Hazmon: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "hazmon",
        abstract: "Monitors major hazard sources: gas, pressure, level and temperature in, graded alarms out.",
        version: version,
        subcommands: [Run.self, Check.self, Demo.self, Alarms.self, Ack.self, Shelve.self, Unshelve.self, Reset.self, Tail.self, History.self, Trend.self, Report.self, Mode.self, JournalCommand.self, UserCommand.self, Simulate.self]
    )

    /// Runs the command line with the exit codes of spec §1: 2 for usage errors (not
    /// ArgumentParser's 64), 78 for configuration errors, 1 for runtime failures.
    static func main() async {
        FreedMemory.useDaemonPolicy()   // before any thread: how malloc holds memory
        do {
            var command = try parseAsRoot()
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            fputs(fullMessage(for: error) + "\n", stderrStream())
            Glibc.exit(code == .validationFailure ? Exit.usage : code.rawValue)
        }
    }
}

/// A FILE for fd 2 (the C `stderr` global is not concurrency-safe to reference).
func stderrStream() -> UnsafeMutablePointer<FILE> { fdopen(2, "w")! }

func printError(_ s: String) {
    let f = stderrStream()
    fputs(s + "\n", f)
    fflush(f)
}

/// `--config PATH` or a positional path, defaulting to /etc/hazmon/hazmon.toml.
struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file.")
    var config: String?

    @Argument(help: "The configuration file (same as --config).")
    var path: String?

    var resolved: String { config ?? path ?? "/etc/hazmon/hazmon.toml" }

    /// Loads the config or prints every error (one line each) and exits 78. `checkPaths`: the
    /// directories the daemon writes into must exist (for `run` and `check`).
    func load(checkPaths: Bool = false) throws -> HazmonConfiguration {
        do {
            return try ConfigLoader.load(path: resolved, checkPaths: checkPaths)
        } catch {
            for e in error.errors { printError(e.description) }
            throw ExitCode(Exit.config)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon in the foreground (systemd runs this).")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load(checkPaths: true)
        do {
            try await Daemon(config: config).run()
        } catch {
            printError("hazmon: \(error)")
            throw ExitCode(Exit.runtime)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration and print a summary; exit 0 or 78.",
        discussion: """
            Also checks that the directories the daemon writes into (journal, alert socket, spill) \
            exist and are writable, so the unit's ExecStartPre stops a start that could only fail; \
            --offline skips that, to validate a configuration away from its host.
            """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Do not check the directories the daemon writes into (validating a config on another machine).")
    var offline = false

    func run() throws {
        let config = try options.load(checkPaths: !offline)
        print(ConfigSummary(config).text)
        if !offline { for line in Self.waiting(config) { print(line) } }
    }

    /// What waits for each uplink and notification channel, read from the journal and history
    /// files as they are now (read-only, beside a running daemon); nothing when they do not exist.
    static func waiting(_ config: HazmonConfiguration) -> [String] {
        guard !config.uplinks.isEmpty || !config.notify.channels.isEmpty,
              access(config.journal.path, F_OK) == 0, let journal = try? JournalReader(path: config.journal.path) else { return [] }
        let history = config.history.flatMap { h in access(h.path, F_OK) == 0 ? try? HistoryReader(path: h.path) : nil }
        var lines: [String] = []
        for u in config.uplinks {
            let name = "uplink:" + u.id
            var parts: [String] = []
            if u.alarms { parts.append((try? journal.backlog(cursor: name)).flatMap { $0 }.map { "\($0) alarm events" } ?? "alarm events: not started yet") }
            if u.valuesOnChange, let history {
                parts.append((try? history.outboxPending(reader: name)).flatMap { $0 }.map { "\($0) stored values" } ?? "stored values: not started yet")
            }
            if !parts.isEmpty { lines.append("uplink \(u.id) waiting: " + parts.joined(separator: ", ")) }
        }
        if !config.notify.routes.isEmpty, let b = try? journal.notifyBacklog() {
            lines.append("notify waiting: " + config.notify.channels.map { "\($0.id) \(b[$0.id] ?? 0)" }.joined(separator: ", "))
        }
        return lines
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon against a simulated tank farm and show the live alarm feed.")

    @Option(help: "Stop after this long (e.g. 90s); default: until Ctrl-C.")
    var duration: String?

    @Flag(help: "Colour the feed even when stdout is not a terminal.")
    var colour = false

    @Option(help: "The demo farm: a directory with hazmon.toml and scenario.toml (default: Config/demo, then /usr/share/hazmon/demo).")
    var farm: String?

    @Option(help: "Play the scenario this many times faster than real time.")
    var speed: Double?

    @Option(help: "Serve the web console on this loopback port (default: a free one).")
    var consolePort: Int?

    func run() async throws {
        var d: Duration?
        if let duration {
            do { d = try DurationParser.parse(duration) } catch {
                throw ValidationError("--duration: \(error)")
            }
        }
        do {
            if let speed, !(speed > 0 && speed <= 100) { throw ValidationError("--speed must be above 0 and at most 100") }
            if let consolePort, !(1...65_535).contains(consolePort) { throw ValidationError("--console-port must be 1 to 65535") }
            var session = DemoSession(duration: d, colour: colour || isatty(1) == 1, farm: farm, speed: speed)
            session.consolePort = consolePort
            try await session.run()
        } catch {
            printError("hazmon demo: \(error)")
            throw ExitCode(Exit.runtime)
        }
    }
}
