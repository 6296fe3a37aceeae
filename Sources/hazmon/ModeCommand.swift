import ArgumentParser
import Foundation
import HazmonCore
import HazmonFeed

/// `hazmon mode SOURCE MODE`: declares a hazard source's operating mode over the alert socket
/// (spec §13), bounded and journaled; `normal` ends it early.
struct Mode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Declare a hazard source's operating mode (startup, shutdown, maintenance; normal ends it).",
        discussion: """
            The mode design-suppresses the process alarms of the tags its [[hazard_source]] \
            modes.<mode>.suppress lists, is journaled with who and why, and returns to normal by \
            itself when --for runs out (at most modes.<mode>.max, default 24h).
            """)

    @OptionGroup var target: SocketOption
    @Argument(help: "The hazard source's id.") var source: String
    @Argument(help: "startup, shutdown, maintenance, or normal.") var mode: String
    @Option(name: .customLong("for"), help: "How long (e.g. 8h); required unless MODE is normal.") var duration: String?
    @Option(help: "Why: recorded with the event; required unless MODE is normal.") var note: String?
    @Option(help: "Who (default $USER).") var user: String?

    func validate() throws {
        guard let m = OperatingMode(rawValue: mode) else {
            throw ValidationError("MODE must be one of \(OperatingMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if m != .normal, duration == nil { throw ValidationError("--for is required: a mode always returns to normal by itself") }
        if m != .normal, (note ?? "").isEmpty { throw ValidationError("--note is required: why the source is in \(mode) mode") }
    }

    func run() throws {
        let c = try target.connect()
        var w = JSONWriter()
        w.field("type", "mode")
        w.field("source", source)
        w.field("mode", mode)
        if let duration { w.field("for", duration) }
        w.field("user", user ?? ProcessInfo.processInfo.environment["USER"] ?? "engineer")
        if let note { w.field("note", note) }
        c.send(w.finish())
        switch reply(c) {
        case .ok?:
            print("mode \(source) \(mode): ok")
        case .error(let code, let message)?:
            printError("hazmon: \(code): \(message)")
            throw ExitCode(Exit.runtime)
        default:
            printError("hazmon: no reply from the daemon")
            throw ExitCode(Exit.runtime)
        }
    }
}
