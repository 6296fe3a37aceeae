import HazmonConfig
import HazmonCore
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
            return "<\(LogLevels.syslogPriority(e))>alarm \(e.tag)/\(e.condition.rawValue) \(e.event.rawValue) grade=\(e.grade.rawValue) color=\(e.grade.color) state=\(e.state.rawValue) seq=\(e.seq): \(e.message)"
        case .text:
            return text(e, colour: colour)
        }
    }

    /// A terminal line: time, colour band, tag/condition, event, message.
    public static func text(_ e: AlarmEvent, colour: Bool) -> String {
        let band = e.grade.color.uppercased().padding(6)
        let painted: String
        if colour {
            let code: String
            switch e.grade.rawValue {
            case 1: code = "1;97;41"
            case 2: code = "1;30;48;5;208"
            case 3: code = "30;43"
            default: code = "97;44"
            }
            painted = e.event == .cleared || e.event == .acknowledged ? "\u{1B}[2m\(band)\u{1B}[0m" : "\u{1B}[\(code)m\(band)\u{1B}[0m"
        } else {
            painted = band
        }
        return "\(e.time.iso8601) \(painted) #\(e.seq) \("\(e.tag)/\(e.condition.rawValue)".padding(14)) \(e.event.rawValue.padding(11)) \(e.state.rawValue.padding(9)) \(e.message)"
    }
}

extension String {
    func padding(_ n: Int) -> String {
        count >= n ? self : self + String(repeating: " ", count: n - count)
    }
}
