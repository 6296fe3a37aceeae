import HazmonConfig
import HazmonCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go: stderr by default (journald picks it up under systemd), or a file.
/// One lock, so lines from different threads never interleave.
public final class LogOutput: Sendable {
    // Holds a FILE* owned by this object; every use is under `lock`.
    private struct Handle: @unchecked Sendable { let file: UnsafeMutablePointer<FILE> }
    private let lock = Mutex(())
    private let handle: Handle
    private let ownsFile: Bool
    public let format: LogFormat
    /// ANSI colours for `text` on a terminal.
    public let colour: Bool

    public static func stderrOutput(format: LogFormat) -> LogOutput {
        // A FILE of our own on fd 2 (the C `stderr` global is not concurrency-safe to touch).
        LogOutput(file: fdopen(2, "w")!, owns: false, format: format, colour: isatty(2) == 1)
    }

    /// Standard output, for what a person watches (`hazmon demo`).
    public static func stdoutOutput(format: LogFormat) -> LogOutput {
        LogOutput(file: fdopen(1, "w")!, owns: false, format: format, colour: isatty(1) == 1)
    }

    /// Appends to `path`; nil if it cannot be opened.
    public static func file(_ path: String, format: LogFormat) -> LogOutput? {
        guard let f = fopen(path, "a") else { return nil }
        return LogOutput(file: f, owns: true, format: format, colour: false)
    }

    private init(file: UnsafeMutablePointer<FILE>, owns: Bool, format: LogFormat, colour: Bool) {
        self.handle = Handle(file: file)
        self.ownsFile = owns
        self.format = format
        self.colour = colour
    }

    deinit { if ownsFile { fclose(handle.file) } }

    public func write(_ line: String) { write(lines: CollectionOfOne(line)) }

    /// Writes the lines and flushes once.
    public func write(lines: some Collection<String>) {
        lock.withLock { _ in
            for line in lines {
                var l = line
                l.withUTF8 { buf in _ = fwrite(buf.baseAddress, 1, buf.count, handle.file) }
                fputc(10, handle.file)
            }
            fflush(handle.file)
        }
    }
}

/// swift-log handler for the three formats of spec §6.
public struct HazmonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let output: LogOutput

    public init(label: String, output: LogOutput, level: Logger.Level) {
        self.label = label
        self.output = output
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let m = event.metadata { all.merge(m) { _, new in new } }
        let now = Instant.now
        switch output.format {
        case .journal:
            var line = "<\(LogLevels.syslogPriority(event.level))>\(event.message)"
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(v)" }
            output.write(line)
        case .json:
            var w = JSONWriter()
            w.field("type", "log")
            w.field("time", now.iso8601)
            w.field("level", event.level.rawValue)
            w.field("msg", "\(event.message)")
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { w.field(k, "\(v)") }
            output.write(w.finish())
        case .text:
            var line = "\(now.iso8601) \(event.level.rawValue.uppercased()) \(event.message)"
            for (k, v) in all.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(v)" }
            output.write(line)
        }
    }
}

public enum LogLevels {
    /// syslog priority of a swift-log level, for the `<N>` prefix journald reads.
    public static func syslogPriority(_ l: Logger.Level) -> Int {
        switch l {
        case .critical: return 2
        case .error: return 3
        case .warning: return 4
        case .notice: return 5
        case .info: return 6
        case .debug, .trace: return 7
        }
    }

    /// The syslog priority of an alarm event (spec §6): grade 1 → crit … 4 → notice; cleared
    /// and acknowledged → info.
    public static func syslogPriority(_ e: AlarmEvent) -> Int {
        switch e.event {
        case .cleared, .acknowledged, .unshelved, .unsuppressed, .reset, .floodEnd: return 6
        default:
            switch e.grade.rawValue {
            case 1: return 2
            case 2: return 3
            case 3: return 4
            default: return 5
            }
        }
    }

    public static func level(_ s: LogLevelSetting) -> Logger.Level {
        switch s {
        case .trace: return .trace
        case .debug: return .debug
        case .info: return .info
        case .notice: return .notice
        case .warning: return .warning
        case .error: return .error
        case .critical: return .critical
        }
    }
}

