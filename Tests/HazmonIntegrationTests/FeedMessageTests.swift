@testable import HazmonCore
import HazmonFeed
import Testing

/// The one reader of the wire format reads back exactly what the daemon's writers write.
@Suite("Feed wire format round trip")
struct FeedMessageTests {
    @Test func eventsSnapshotsAndRepliesReadBack() throws {
        var e = AlarmEvent(seq: 1042, time: Instant(iso8601: "2026-11-23T08:15:02.123Z")!, site: "yx", tag: "GT-101", condition: .hh,
                           event: .escalated, grade: .orange, state: .unack, value: 41.7, unit: "%LEL", limit: 40, quality: .good,
                           source: "modbus:gp-1", sourceTime: nil, message: "T101 41.7 %LEL above second-level limit 40", user: "zhang")
        e.flags = [.chattering, .unjournaled]
        guard case .event(let read)? = FeedMessage(line: e.jsonLine) else { Issue.record("not read as an event"); return }
        #expect(read.seq == 1042 && read.tag == "GT-101" && read.condition == "hh" && read.event == "escalated")
        #expect(read.grade == 2 && read.color == "orange" && read.state == "unack" && read.value == 41.7 && read.limit == 40)
        #expect(read.time == "2026-11-23T08:15:02.123Z" && read.user == "zhang" && read.flags == ["chattering", "unjournaled"])
        #expect(read.terminalLine(colour: false).hasPrefix("2026-11-23T08:15:02.123Z ORANGE #1042 GT-101/hh      escalated   unack"))

        let alarm = ActiveAlarm(tag: "GT-101", name: "T101 gas", condition: .hh, grade: .orange, state: .acked, active: false,
                                latched: true, shelvedUntil: Instant(seconds: 1_800_000_000), suppressed: false, value: 12,
                                unit: "%LEL", limit: 40, quality: .good, since: Instant(seconds: 1_799_999_000), tagClass: .combustibleGas)
        let snapshot = #"{"type":"snapshot","seq":7,"alarms":["# + alarm.json + "]}"
        guard case .snapshot(let seq, let alarms)? = FeedMessage(line: snapshot) else { Issue.record("not read as a snapshot"); return }
        #expect(seq == 7 && alarms.count == 1)
        #expect(alarms[0].tag == "GT-101" && alarms[0].state == "acked" && !alarms[0].active && alarms[0].latched == true)
        #expect(alarms[0].shelvedUntil == Instant(seconds: 1_800_000_000).iso8601)

        #expect(FeedMessage(line: FeedReply.ok.json) == .ok)
        #expect(FeedMessage(line: FeedReply.error(code: "since_ahead", message: "m").json) == .error(code: "since_ahead", message: "m"))
        #expect(FeedMessage(line: #"{"type":"hello","v":1,"site":"yx","seq":9}"#) == .hello(site: "yx", seq: 9))
        #expect(FeedMessage(line: #"{"type":"bye","reason":"shutdown"}"#) == .bye(reason: "shutdown"))
        #expect(FeedMessage(line: "garbage") == nil && FeedMessage(line: #"{"type":"event"}"#) == nil)
    }
}
