import HazmonConfig
import HazmonCore
import HazmonFeed
import HazmonPipeline

/// One log line per alarm event (spec §6), whatever the log level: alarms are never filtered.
public struct EventLogSink: EventSink {
    let output: LogOutput

    public init(output: LogOutput) { self.output = output }

    public func deliver(_ events: [AlarmEvent], json: [String]) {
        if output.format == .json {
            output.write(lines: json)
        } else {
            output.write(lines: events.map { Self.format($0, output.format, colour: output.colour) })
        }
    }

    public static func format(_ e: AlarmEvent, _ format: LogFormat, colour: Bool) -> String {
        switch format {
        case .json:
            return e.jsonLine
        case .journal:
            return "<\(LogLevels.syslogPriority(e))>alarm \(e.tag)/\(e.condition.rawValue) \(e.event.rawValue) grade=\(e.grade.rawValue) color=\(e.grade.color) type=\(e.alarmType.rawValue)\(e.gbLevel.map { " gb_level=\($0)" } ?? "") state=\(e.state.rawValue) seq=\(e.seq): \(e.message)"
        case .text:
            return text(e, colour: colour)
        }
    }

    /// A terminal line: time, colour band, tag/condition, event, message.
    public static func text(_ e: AlarmEvent, colour: Bool) -> String {
        EventText.line(time: e.time.iso8601, grade: e.grade, fault: e.condition.isFault, muted: e.event == .cleared || e.event == .acknowledged, seq: e.seq,
                       alarm: "\(e.tag)/\(e.condition.rawValue)", event: e.event.rawValue, state: e.state.rawValue,
                       message: e.message, colour: colour)
    }
}

extension String {
    func padding(_ n: Int) -> String {
        count >= n ? self : self + String(repeating: " ", count: n - count)
    }
}
