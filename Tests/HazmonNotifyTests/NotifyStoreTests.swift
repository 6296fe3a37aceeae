import Foundation
import HazmonConfig
import HazmonCore
import HazmonJournal
import HazmonTestSupport
@testable import HazmonNotify
import Testing

/// A journal file of its own and events written into it as the daemon writes them.
final class OutboxRig {
    let dir: TempDir
    let journal: Journal
    let store: NotifyStore
    var seq: UInt64 = 0
    let t0 = Instant(nanoseconds: 1_764_000_000_000_000_000)

    init(routes: [NotifyRouteSettings], tags: [String: NotifyTagInfo] = [:]) throws {
        dir = try TempDir(prefix: "hazmon-notify")
        journal = try Journal(path: dir.path + "/journal.db")
        store = NotifyStore(journal: journal, routes: routes, tags: tags)
        try store.plan()   // the cursor starts at the end
    }

    deinit { dir.remove() }

    /// Appends one event `at` seconds after t0.
    func event(_ tag: String, _ condition: String, _ event: String, grade: Int = 1, state: String = "unack", at: Double,
               hazardSource: String? = nil) throws {
        seq += 1
        let time = Instant(nanoseconds: t0.nanoseconds + Int64(at * 1e9))
        var json = #"{"type":"event","v":1,"seq":\#(seq),"time":"\#(time.iso8601)","site":"s","tag":"\#(tag)","condition":"\#(condition)","alarm_type":"high_high","event":"\#(event)","grade":\#(grade),"color":"red","state":"\#(state)","value":45,"unit":"%LEL","limit":40,"quality":"good","source":"test","message":"\#(tag) 45 %LEL above 40""#
        if let hazardSource { json += #","hazard_source":"\#(hazardSource)""# }
        json += "}"
        try journal.append([JournalEntry(seq: seq, time: time, tag: tag, condition: condition, event: event, grade: grade, json: json)],
                           states: [])
    }

    func at(_ s: Double) -> Instant { Instant(nanoseconds: t0.nanoseconds + Int64(s * 1e9)) }

    /// Every message a channel sends up to `time`, marked sent as it goes.
    func drain(_ channel: String, until s: Double) throws -> [NotifyMessage] {
        try store.plan()
        var out: [NotifyMessage] = []
        while let m = try store.next(channel: channel, now: at(s)) {
            out.append(m)
            try store.markSent(m.id, at: at(s))
        }
        return out
    }
}

let twoSteps = NotifyRouteSettings(id: "gas", steps: [.init(after: .zero, to: ["shift"]), .init(after: .seconds(300), to: ["manager"])])

@Suite("Notification outbox")
struct NotifyStoreTests {
    @Test func aRaiseGoesToTheFirstStepNowAndTheNextStepLater() throws {
        let rig = try OutboxRig(routes: [twoSteps])
        try rig.event("GT-101", "hh", "raised", at: 0)
        let now = try rig.drain("shift", until: 0)
        #expect(now.map(\.kind) == [.alarm] && now.first?.key == "1:shift:0")
        #expect(try rig.drain("manager", until: 299).isEmpty, "the second step waits its 5 minutes")
        let later = try rig.drain("manager", until: 300)
        #expect(later.map(\.kind) == [.escalation] && later.first?.step == 1)
        #expect(try rig.drain("shift", until: 600).isEmpty && rig.drain("manager", until: 600).isEmpty, "each once")
    }

    @Test func anAcknowledgementStopsLaterSteps() throws {
        let rig = try OutboxRig(routes: [twoSteps])
        try rig.event("GT-101", "hh", "raised", at: 0)
        #expect(try rig.drain("shift", until: 1).count == 1)
        try rig.event("GT-101", "hh", "acknowledged", state: "acked", at: 60)
        #expect(try rig.drain("manager", until: 3600).isEmpty, "acknowledged within 5 minutes: the manager is not called")
    }

    /// h and hh are levels of one alarm: the worse level is told at once, the later step keeps
    /// its time and speaks of hh, and an acknowledgement of hh stops it.
    @Test func aWorseLevelIsToldAtOnceAndItsAckStopsTheStepsTheRaiseStarted() throws {
        let rig = try OutboxRig(routes: [twoSteps])
        try rig.event("GT-101", "h", "raised", grade: 3, at: 0)
        try rig.event("GT-101", "hh", "escalated", grade: 2, at: 100)
        #expect(try rig.drain("shift", until: 101).map(\.key) == ["1:shift:0", "2:shift:0"])
        let step = try rig.drain("manager", until: 300)
        #expect(step.map(\.key) == ["1:manager:300000000000"] && step[0].body.contains("\"condition\":\"hh\""), "one manager call at 5 min, about hh")
        try rig.event("GT-103", "h", "raised", grade: 3, at: 400)
        try rig.event("GT-103", "hh", "escalated", grade: 2, at: 410)
        try rig.event("GT-103", "hh", "acknowledged", state: "acked", at: 420)
        #expect(try rig.drain("manager", until: 3600).isEmpty, "the ack of hh stops the step the h raise started")
    }

    @Test func aClearBeforeAnyAckTellsThoseAlreadyToldAndNobodyElse() throws {
        let rig = try OutboxRig(routes: [twoSteps])
        try rig.event("GT-101", "hh", "raised", at: 0)
        _ = try rig.drain("shift", until: 1)
        try rig.event("GT-101", "hh", "cleared", state: "rtn_unack", at: 100)
        let shift = try rig.drain("shift", until: 101)
        #expect(shift.map(\.kind) == [.cleared])
        #expect(try rig.drain("manager", until: 3600).isEmpty, "the manager was never told, so hears nothing")
        // Cleared after an ack: nothing more to say.
        try rig.event("GT-102", "hh", "raised", at: 200)
        _ = try rig.drain("shift", until: 201)
        try rig.event("GT-102", "hh", "acknowledged", state: "acked", at: 210)
        try rig.event("GT-102", "hh", "cleared", state: "normal", at: 220)
        #expect(try rig.drain("shift", until: 3600).isEmpty)
    }

    @Test func anEscalatedStepIsFollowedByItsClearedToo() throws {
        let rig = try OutboxRig(routes: [twoSteps])
        try rig.event("GT-101", "hh", "raised", at: 0)
        _ = try rig.drain("shift", until: 1)
        #expect(try rig.drain("manager", until: 301).count == 1)
        try rig.event("GT-101", "hh", "cleared", state: "rtn_unack", at: 400)
        #expect(try rig.drain("shift", until: 401).map(\.kind) == [.cleared])
        #expect(try rig.drain("manager", until: 401).map(\.kind) == [.cleared])
    }

    @Test func aFloodBecomesOneDigestPerRouteAndChannel() throws {
        let rig = try OutboxRig(routes: [twoSteps])
        try rig.event("it-site", "flood", "flood_start", at: 0)
        for i in 0..<40 { try rig.event("GT-\(i)", "hh", "raised", grade: i % 2 + 1, at: 1 + Double(i) * 0.1) }
        #expect(try rig.drain("shift", until: 5).isEmpty, "no message per alarm during a flood")
        try rig.store.makeDigests(channel: "shift", now: rig.at(5), gather: .seconds(10))
        #expect(try rig.drain("shift", until: 5).isEmpty, "the digest gathers for 10 s")
        try rig.store.makeDigests(channel: "shift", now: rig.at(12), gather: .seconds(10))
        let digest = try rig.drain("shift", until: 12)
        #expect(digest.map(\.kind) == [.digest])
        let text = NotifyText(siteID: "s", siteName: "Plant", language: .en, zone: TimeZone(identifier: "Asia/Shanghai")!, consoleURL: nil,
                              names: [:], stepAfter: [:]).render(digest[0])
        #expect(text.title == "Alarm flood · Plant: 40 alarms")
        #expect(text.markdown.contains("Grade 1 (red) alarm 20, Grade 2 (orange) alarm 20") && text.markdown.contains("… and 30 more"))
        // More alarms in the same flood: the next digest only after digest_every (5 min).
        for i in 40..<45 { try rig.event("GT-\(i)", "hh", "raised", at: 20) }
        try rig.store.plan()
        #expect(try rig.drain("shift", until: 30).isEmpty)
        try rig.store.makeDigests(channel: "shift", now: rig.at(200), gather: .seconds(10))
        #expect(try rig.drain("shift", until: 200).isEmpty, "one digest per digest_every")
        try rig.store.makeDigests(channel: "shift", now: rig.at(313), gather: .seconds(10))
        let second = try rig.drain("shift", until: 313)
        #expect(second.count == 1 && second[0].body.components(separatedBy: "\"kind\":\"alarm\"").count - 1 == 5)
        // The flood over: alarms go one by one again.
        try rig.event("it-site", "flood", "flood_end", at: 400)
        try rig.event("GT-99", "hh", "raised", at: 401)
        #expect(try rig.drain("shift", until: 402).map(\.kind) == [.alarm])
    }

    @Test func planningTwiceWritesNothingTwiceAndEventsBeforeEnablingAreNotTold() throws {
        let dir = try TempDir(prefix: "hazmon-notify-start")
        defer { dir.remove() }
        let journal = try Journal(path: dir.path + "/journal.db")
        let old = #"{"type":"event","seq":1,"time":"2026-01-01T00:00:00Z","tag":"GT-1","condition":"hh","event":"raised","grade":1,"color":"red","state":"unack","message":"m","site":"s"}"#
        try journal.append([JournalEntry(seq: 1, time: .now, tag: "GT-1", condition: "hh", event: "raised", grade: 1, json: old)], states: [])
        let store = NotifyStore(journal: journal, routes: [twoSteps], tags: [:])
        #expect(try store.plan() == 0 && store.next(channel: "shift", now: .now) == nil, "a new outbox starts at the journal's end")
        let json = old.replacingOccurrences(of: "\"seq\":1", with: "\"seq\":2")
        try journal.append([JournalEntry(seq: 2, time: .now, tag: "GT-1", condition: "hh", event: "raised", grade: 1, json: json)], states: [])
        #expect(try store.plan() == 1 && store.plan() == 0)
        // A second store on the same file (a restart) plans nothing again.
        #expect(try NotifyStore(journal: journal, routes: [twoSteps], tags: [:]).plan() == 0)
        #expect(try store.backlog() == ["shift": 1, "manager": 1])
    }

    @Test func routesMatchByGradeClassHazardSourceAndCondition() throws {
        var r = NotifyRouteSettings(id: "r", steps: [.init(after: .zero, to: ["c"])])
        r.grades = [1, 2]
        r.classes = ["toxic_gas"]
        r.hazardSources = ["T-101"]
        r.conditions = ["high_high", "comm"]
        let rig = try OutboxRig(routes: [r], tags: ["H2S-1": NotifyTagInfo(name: "H2S", tagClass: "toxic_gas", hazardSource: "T-101"),
                                                  "GT-1": NotifyTagInfo(name: "gas", tagClass: "combustible_gas", hazardSource: "T-101"),
                                                  "H2S-2": NotifyTagInfo(name: "H2S", tagClass: "toxic_gas", hazardSource: "T-202")])
        try rig.event("H2S-1", "hh", "raised", grade: 1, at: 0)        // yes
        try rig.event("H2S-1", "h", "raised", grade: 2, at: 1)         // condition h: no
        try rig.event("H2S-1", "hh", "raised", grade: 3, at: 2)        // grade 3: no
        try rig.event("GT-1", "hh", "raised", grade: 1, at: 3)         // class: no
        try rig.event("H2S-2", "hh", "raised", grade: 1, at: 4)        // hazard source: no
        try rig.event("H2S-1", "comm", "raised", grade: 2, at: 5)      // yes
        let sent = try rig.drain("c", until: 10)
        #expect(sent.map(\.key) == ["1:c:0", "6:c:0"])
    }
}

@Suite("Notification channels")
struct NotifyChannelTests {
    let message = NotifyMessage(id: 1, key: "7:shift:0", channel: "shift", route: "gas", kind: .alarm, step: 0, due: .now, attempts: 0,
                                body: #"{"seq":7,"time":"2026-12-04T11:02:03.000Z","site":"nj-1","color":"red","tag":"GT-101","condition":"hh","alarm_type":"high_high","event":"raised","grade":1,"state":"unack","value":45.5,"unit":"%LEL","limit":40,"message":"可燃气体 45.5 %LEL 超过二级报警值 40 %LEL","hazard_source":"T-101"}"#)

    func text(_ language: Language) -> NotifyText {
        NotifyText(siteID: "nj-1", siteName: "南京一厂", language: language, zone: TimeZone(identifier: "Asia/Shanghai")!,
                   consoleURL: "https://hazmon.plant.example:8080", names: ["GT-101": "T101 罐区可燃气体"], stepAfter: ["gas": [.zero, .seconds(300)]])
    }

    /// A vector from Python's hmac and base64 (the way DingTalk's own examples compute it).
    @Test func theDingTalkSignatureIsDingTalks() {
        let url = NotifyChannel.dingTalkSign(url: "https://oapi.dingtalk.com/robot/send?access_token=T", secret: "SECabc123", timestampMs: 1_733_300_000_000)
        #expect(url == "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1733300000000&sign=No3UDraC5QC72Tk9OmdwAEBu6SQjv9dS%2FXWSwINyMtw%3D")
    }

    @Test func messagesAreInTheSitesLanguageAndTimeZoneWithTheConsoleLink() {
        let zh = text(.zhCN).render(message)
        #expect(zh.title == "一级(红色)报警 · GT-101 T101 罐区可燃气体")
        #expect(zh.markdown.contains("- 时间: 2026-12-04 19:02:03 +08:00"))
        #expect(zh.markdown.contains("- 数值: 45.5 %LEL, 报警值 40 %LEL") && zh.markdown.contains("- 重大危险源: T-101"))
        #expect(zh.markdown.contains("[打开报警控制台](https://hazmon.plant.example:8080/)"))
        var escalation = message
        escalation.kind = .escalation
        escalation.step = 1
        #expect(text(.en).render(escalation).title == "Unacknowledged for 5m · Grade 1 (red) alarm · GT-101 T101 罐区可燃气体")
    }

    @Test func eachKindBuildsTheRequestItsAPIExpects() throws {
        var ding = NotifyChannelSettings(id: "shift", kind: .dingtalk)
        ding.url = "http://127.0.0.1:1/dingtalk?access_token=T"
        ding.mobiles = ["13800000000"]
        let rendered = text(.zhCN).render(message)
        let d = try NotifyChannel(ding, readFile: { _ in nil }).request(message, rendered, now: .now)
        let body = try #require(JSONSerialization.jsonObject(with: Data(d.body.utf8)) as? [String: Any])
        #expect(body["msgtype"] as? String == "markdown" && (body["at"] as? [String: Any])?["atMobiles"] as? [String] == ["13800000000"])
        #expect(((body["markdown"] as? [String: Any])?["text"] as? String)?.hasSuffix("@13800000000") == true, "a mention is in the text too")

        var sms = NotifyChannelSettings(id: "sms", kind: .sms)
        sms.url = "http://127.0.0.1:1/sms"
        sms.mobiles = ["13800000000", "13900000000"]
        sms.template = #"{"to":"{phones}","text":"{short}","sign":"hazmon"}"#
        sms.tokenFile = "/token"
        let s = try NotifyChannel(sms, readFile: { _ in "tok\n" }).request(message, rendered, now: .now)
        let o = try #require(JSONSerialization.jsonObject(with: Data(s.body.utf8)) as? [String: Any], "the template made JSON: \(s.body)")
        #expect(o["to"] as? String == "13800000000,13900000000" && (o["text"] as? String)?.contains("GT-101") == true)
        #expect(s.headers.contains { $0 == ("Authorization", "Bearer tok") } && s.headers.contains { $0 == ("X-Hazmon-Idempotency-Key", "7:shift:0") })

        var hook = NotifyChannelSettings(id: "hook", kind: .webhook)
        hook.url = "http://127.0.0.1:1/webhook"
        let w = try NotifyChannel(hook, readFile: { _ in nil }).request(message, rendered, now: .now)
        let wo = try #require(JSONSerialization.jsonObject(with: Data(w.body.utf8)) as? [String: Any])
        #expect(wo["kind"] as? String == "alarm" && (wo["event"] as? [String: Any])?["seq"] as? Int == 7 && wo["link"] as? String == "https://hazmon.plant.example:8080/")
    }

    @Test func templatesTakeFieldsAndLeaveOtherBracesAlone() {
        let t = FieldTemplate(#"{"a":{"b":"{tag}"},"c":"{ not }","d":"{x_1}{}"}"#)
        #expect(t.fields == ["tag", "x_1"])
        #expect(t.render { $0.uppercased() } == #"{"a":{"b":"TAG"},"c":"{ not }","d":"X_1{}"}"#)
    }
}
