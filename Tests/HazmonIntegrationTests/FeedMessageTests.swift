import Foundation
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
        guard case .snapshot(let seq, let alarms, let none)? = FeedMessage(line: snapshot) else { Issue.record("not read as a snapshot"); return }
        #expect(seq == 7 && alarms.count == 1 && none.isEmpty)
        #expect(alarms[0].tag == "GT-101" && alarms[0].state == "acked" && !alarms[0].active && alarms[0].latched == true)
        #expect(alarms[0].shelvedUntil == Instant(seconds: 1_800_000_000).iso8601)

        // Hazard sources (spec §13): known and unknown R read back.
        let known = HazardSourceStatus(id: "S1", code: "37", name: "spheres", alpha: 2, r: 62.345678, s: 20.1, level: 2,
                                       substances: [.init(name: "LPG", q: 1004.2, criticalQuantity: 50, beta: 1.5)], unknown: [])
        var unknown = known
        unknown.r = nil; unknown.s = nil; unknown.substances[0].q = nil; unknown.unknown = ["LT-1: stale"]
        let withSources = #"{"type":"snapshot","seq":8,"alarms":[],"hazard_sources":["# + known.json + "," + unknown.json + "]}"
        guard case .snapshot(_, _, let sources)? = FeedMessage(line: withSources) else { Issue.record("not read as a snapshot"); return }
        #expect(sources.count == 2 && sources[0].r == 62.346 && sources[0].level == 2 && sources[0].color == "orange")
        let lpg = try #require(sources.first?.substances.first)
        #expect(lpg.name == "LPG" && lpg.q == 1004.2 && lpg.criticalQuantity == 50 && lpg.beta == 1.5 && sources[0].code == "37")
        #expect(sources[1].r == nil && sources[1].substances[0].q == nil && sources[1].unknown == ["LT-1: stale"] && sources[1].level == 2)

        #expect(FeedMessage(line: FeedReply.ok.json) == .ok)
        #expect(FeedMessage(line: FeedReply.error(code: "since_ahead", message: "m").json) == .error(code: "since_ahead", message: "m"))
        #expect(FeedMessage(line: #"{"type":"hello","v":1,"site":"yx","seq":9}"#) == .hello(site: "yx", seq: 9))
        #expect(FeedMessage(line: #"{"type":"bye","reason":"shutdown"}"#) == .bye(reason: "shutdown"))
        #expect(FeedMessage(line: "garbage") == nil && FeedMessage(line: #"{"type":"event"}"#) == nil)
    }

    /// Spec §12: the new fields read back, and a fault is never drawn like a gas alarm.
    @Test func faultsAreLabelledAsFaultsAndGasAlarmsKeepTheirLevel() throws {
        let t = Instant(iso8601: "2026-11-23T08:15:02.123Z")!
        let gas = AlarmEvent(seq: 1, time: t, site: "yx", tag: "GT-101", condition: .h, event: .raised, grade: .yellow, state: .unack,
                             value: 22, unit: "%LEL", limit: 20, quality: .good, source: "s", sourceTime: nil, message: "m", gbLevel: 1)
        let fault = AlarmEvent(seq: 2, time: t, site: "yx", tag: "GT-101", condition: .fault, event: .raised, grade: .yellow,
                               state: .unack, value: 22, unit: "%LEL", limit: nil, quality: .bad, source: "s", sourceTime: nil, message: "m")
        guard case .event(let g)? = FeedMessage(line: gas.jsonLine), case .event(let f)? = FeedMessage(line: fault.jsonLine) else {
            Issue.record("not read as events"); return
        }
        #expect(g.alarmType == "high" && g.gbLevel == 1 && !g.isFault)
        #expect(f.alarmType == "fault" && f.gbLevel == nil && f.isFault)
        // Same grade, different look: the gas alarm as a yellow band, the fault as FAULT in yellow letters.
        #expect(g.terminalLine(colour: false).contains(" YELLOW #1 ") && f.terminalLine(colour: false).contains(" FAULT  #2 "))
        let gasPainted = g.terminalLine(colour: true), faultPainted = f.terminalLine(colour: true)
        #expect(gasPainted.contains("\u{1B}[30;43mYELLOW") && faultPainted.contains("\u{1B}[1;33mFAULT "))
        for c in [Condition.stale, .comm] {
            #expect(EventText.band(.orange, fault: c.isFault, colour: false) == "FAULT ")
        }
        #expect(EventText.band(.orange, fault: Condition.hh.isFault, colour: false) == "ORANGE")
    }

    /// Local time with its offset, in a zone without daylight saving and in one with it.
    @Test func localTimesCarryTheirOffsetAcrossDaylightSaving() throws {
        let shanghai = try #require(TimeZone(identifier: "Asia/Shanghai"))
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        #expect(EventText.localTime("2026-07-01T08:15:02.123Z", in: shanghai) == "2026-07-01T16:15:02.123+08:00")
        #expect(EventText.localTime("2026-12-01T08:15:02.123Z", in: shanghai) == "2026-12-01T16:15:02.123+08:00")
        #expect(EventText.localTime("2026-07-01T08:15:02.123Z", in: berlin) == "2026-07-01T10:15:02.123+02:00")
        #expect(EventText.localTime("2026-12-01T08:15:02.123Z", in: berlin) == "2026-12-01T09:15:02.123+01:00")
        // The night the clocks go back (2026-10-25, 03:00 CEST → 02:00 CET): an hour apart in
        // UTC, the same wall clock, told apart by the offset.
        #expect(EventText.localTime("2026-10-25T00:30:00.000Z", in: berlin) == "2026-10-25T02:30:00.000+02:00")
        #expect(EventText.localTime("2026-10-25T01:30:00.000Z", in: berlin) == "2026-10-25T02:30:00.000+01:00")
        #expect(EventText.localTime("not a time", in: berlin) == "not a time")
        let e = AlarmEvent(seq: 3, time: Instant(iso8601: "2026-11-23T08:15:02.123Z")!, site: "yx", tag: "GT", condition: .h, event: .raised,
                           grade: .yellow, state: .unack, value: 22, unit: "%LEL", limit: 20, quality: .good, source: "s",
                           sourceTime: nil, message: "m")
        guard case .event(let read)? = FeedMessage(line: e.jsonLine) else { Issue.record("not an event"); return }
        #expect(read.terminalLine(colour: false, zone: shanghai).hasPrefix("2026-11-23T16:15:02.123+08:00 YELLOW #3"))
        #expect(read.time == "2026-11-23T08:15:02.123Z")   // the event itself stays UTC
    }
}
