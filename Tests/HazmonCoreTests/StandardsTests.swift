import HazmonCore
import Testing

/// Spec §12: the fields and rules a Chinese plant engineer reads alarms by.
@Suite("Engine: GB/T 50493 levels, alarm types, votes that never shrink")
struct StandardsTests {
    static func gas(_ id: String, stale: Double? = 5) -> TagDefinition {
        TagDefinition(id: id, unit: "%LEL", tagClass: .combustibleGas, h: LimitRule(at: 20, grade: .yellow),
                      hh: LimitRule(at: 40, grade: .orange), staleAfter: stale.map { .milliseconds(Int64($0 * 1000)) })
    }

    @Test func everyConditionHasItsAlarmType() {
        let expected: [Condition: String] = [.h: "high", .hh: "high_high", .l: "low", .ll: "low_low", .rate: "rate",
                                             .trend: "trend", .stale: "stale", .fault: "fault", .comm: "comm",
                                             .vote: "vote", .flood: "flood", .level: "level", .bypass: "bypass", .mode: "mode"]
        for c in Condition.allCases { #expect(c.alarmType.rawValue == expected[c], "\(c)") }
        #expect(Condition.allCases.filter(\.isFault) == [.stale, .fault, .comm])
    }

    @Test func gasLimitAlarmsCarryTheirGBLevelAndOthersDoNot() {
        var r = Rig(Self.gas("GT"))
        let first = r.feed(0, 25)
        #expect(first.map(\.gbLevel) == [1] && first[0].jsonLine.contains(#""condition":"h","alarm_type":"high","gb_level":1,"event":"raised""#))
        let second = r.feed(1, 45)
        #expect(second.map(\.gbLevel) == [2] && second[0].jsonLine.contains(#""alarm_type":"high_high","gb_level":2"#))
        #expect(r.engine.snapshot().first?.json.contains(#""alarm_type":"high_high","gb_level":2"#) == true)
        // A stale alarm of the same gas tag is not a gas alarm level.
        let stale = r.tick(20)
        #expect(stale.map(\.condition) == [.stale] && stale[0].gbLevel == nil)
        #expect(stale[0].jsonLine.contains(#""alarm_type":"stale","event""#))
        // Oxygen deficiency is a first-level gas alarm; a pressure limit has no GB level.
        var o2 = Rig(TagDefinition(id: "O2", unit: "%VOL", tagClass: .oxygen, l: LimitRule(at: 19.5, grade: .yellow)))
        #expect(o2.feed(0, 18).map(\.gbLevel) == [1])
        var pt = Rig(TagDefinition(id: "PT", unit: "MPa", tagClass: .pressure, hh: LimitRule(at: 1.6, grade: .red)))
        let p = pt.feed(0, 2)
        #expect(p.map(\.gbLevel) == [nil] && !p[0].jsonLine.contains("gb_level") && p[0].jsonLine.contains(#""alarm_type":"high_high""#))
    }

    @Test func aFaultedVoteMemberDegradesTheVoteAndSaysSo() throws {
        var r = Rig(Self.gas("G1"), votes: [VoteDefinition(id: "dike", tags: ["G1", "G2", "G3"], k: 2, condition: .h)],
                    others: [Self.gas("G2"), Self.gas("G3")])
        for t in ["G1", "G2", "G3"] { r.feed(0, 5, tag: t) }
        // G3's sensor fails: the vote raises its own fault and now trips on one healthy member.
        let f = r.feed(1, 0, tag: "G3", fault: .loopCurrentLow(milliamps: 2.1))
        #expect(kinds(f) == ["fault:raised", "fault:raised"])
        let voteFault = try #require(f.last)
        #expect(voteFault.tag == "dike" && voteFault.message.contains("degraded: G3 fault") && voteFault.value == 1)
        #expect(voteFault.alarmType == .fault && voteFault.gbLevel == nil)
        let one = r.feed(2, 25, tag: "G1")
        #expect(kinds(one) == ["h:raised", "vote:raised"])
        #expect(one.last?.limit == 1 && one.last?.value == 1 && one.last?.message.contains("degraded to 1oo2") == true)
        #expect(one.last?.gbLevel == 1)
        // G3 healthy again: the full 2oo3 counts, one in alarm is not enough.
        let back = r.feed(3, 5, tag: "G3")
        #expect(kinds(back) == ["fault:cleared", "fault:cleared", "vote:cleared"])
        #expect(back[1].tag == "dike")
        // The vote's fault is an alarm like any other: it can be acknowledged by name.
        _ = try r.act(.acknowledge, .fault, at: 4, tag: "dike")
        _ = try r.act(.acknowledge, .vote, at: 4, tag: "dike")
        #expect(!r.engine.snapshot().contains { $0.tag == "dike" })
    }

    @Test func degradeNeverAsksForMoreThanOneWhenMostMembersAreBad() {
        var r = Rig(Self.gas("G1"), votes: [VoteDefinition(id: "dike", tags: ["G1", "G2", "G3"], k: 3, condition: .h)],
                    others: [Self.gas("G2"), Self.gas("G3")])
        for t in ["G1", "G2", "G3"] { r.feed(0, 5, tag: t) }
        r.feed(1, 5, tag: "G2", quality: .bad)
        r.feed(1, 5, tag: "G3", quality: .bad)
        // 3oo3 with two bad members: max(1, 3 − 2) = 1 healthy member in alarm trips it.
        #expect(kinds(r.feed(2, 30, tag: "G1")) == ["h:raised", "vote:raised"])
    }

    @Test func onBadTripCountsABadMemberAsInAlarm() {
        var r = Rig(Self.gas("G1"), votes: [VoteDefinition(id: "dike", tags: ["G1", "G2", "G3"], k: 2, condition: .h, onBad: .trip)],
                    others: [Self.gas("G2"), Self.gas("G3")])
        for t in ["G1", "G2", "G3"] { r.feed(0, 5, tag: t) }
        let f = r.feed(1, 0, tag: "G2", quality: .bad)
        #expect(kinds(f) == ["fault:raised", "fault:raised"])
        #expect(f.last?.message.contains("counted as in alarm: G2 fault") == true)
        // One real alarm plus the bad member make two of three.
        let e = r.feed(2, 25, tag: "G1")
        #expect(kinds(e) == ["h:raised", "vote:raised"] && e.last?.value == 2 && e.last?.limit == 2)
    }

    @Test func staleAndLostConnectionsAreBadMembersToo() {
        var r = Rig(Self.gas("G1"), votes: [VoteDefinition(id: "dike", tags: ["G1", "G2"], k: 2, condition: .hh)],
                    others: [Self.gas("G2", stale: 10)], connections: [ConnectionDefinition(id: "panel", tags: ["G2"])])
        r.feed(0, 5, tag: "G1")
        r.feed(0, 5, tag: "G2")
        // G1 stops reporting: stale at 5 s, and the vote says so at the same tick.
        let stale = r.tick(6)
        #expect(kinds(stale) == ["stale:raised", "fault:raised"])
        #expect(stale.last?.message.contains("G1 stale") == true)
        #expect(kinds(r.feed(7, 5, tag: "G1")) == ["stale:cleared", "fault:cleared"])
        // G2's panel goes down: comm, then the vote's fault naming it.
        var out: [AlarmEvent] = []
        r.engine.setConnection("panel", up: false, reason: "timeout", at: at(8), into: &out)
        #expect(kinds(out) == ["comm:raised", "fault:raised"])
        #expect(out.last?.message.contains("G2 comm") == true)
        // 2oo2 with one bad member is 1oo1: G1 at second level trips the vote.
        #expect(kinds(r.feed(9, 45, tag: "G1")) == ["hh:raised", "vote:raised"])
        out = []
        r.engine.setConnection("panel", up: true, reason: nil, at: at(10), into: &out)
        #expect(kinds(out) == ["comm:cleared", "fault:cleared", "vote:cleared"])
    }

    @Test func aVoteFaultSurvivesARestartWithoutBeingRaisedAgain() {
        let votes = [VoteDefinition(id: "dike", tags: ["G1", "G2"], k: 2, condition: .h)]
        var r = Rig(Self.gas("G1"), votes: votes, others: [Self.gas("G2")])
        r.feed(0, 5, tag: "G1")
        r.feed(1, 5, tag: "G2", quality: .bad)
        let saved = r.engine.savedAlarms()
        #expect(saved.contains { $0.tag == "dike" && $0.slot == .fault })
        var again = Engine(site: "s", tags: [Self.gas("G1"), Self.gas("G2")], votes: votes, start: at(2))
        var out: [AlarmEvent] = []
        again.restore(saved, now: at(2), into: &out)
        #expect(out.isEmpty)
        again.evaluate(Sample(tag: again.handle(for: "G2")!, value: 5, quality: .bad, time: at(3)), into: &out)
        #expect(out.isEmpty)   // still bad: nothing new
        again.evaluate(Sample(tag: again.handle(for: "G2")!, value: 5, time: at(4)), into: &out)
        #expect(kinds(out) == ["fault:cleared", "fault:cleared"])
    }

    /// A lost connection or a sensor fault already names why data is missing: the tag is not
    /// also raised stale (one alarm per cause). Once the cause clears, staleness counts again.
    @Test func staleIsNotRaisedOnTopOfCommOrFault() {
        var r = Rig(Self.gas("G1", stale: 5), others: [Self.gas("G2", stale: 5)],
                    connections: [ConnectionDefinition(id: "panel", tags: ["G1"])])
        r.feed(0, 5)
        r.feed(0, 5, tag: "G2")
        var out: [AlarmEvent] = []
        r.engine.setConnection("panel", up: false, reason: "timeout", at: at(1), into: &out)
        #expect(kinds(out) == ["comm:raised"])
        r.feed(1, 0, tag: "G2", fault: .device(code: 3))
        #expect(r.tick(30).isEmpty, "comm and fault explain the silence")
        out = []
        r.engine.setConnection("panel", up: true, reason: nil, at: at(31), into: &out)
        #expect(kinds(out) == ["comm:cleared"])
        // Back, but still no data from G1: now it is stale.
        #expect(kinds(r.tick(31.25)) == ["stale:raised"])
        // G2's fault clears with a good sample; its stale timer starts from there.
        #expect(kinds(r.feed(32, 5, tag: "G2")) == ["fault:cleared"])
        #expect(r.tick(36).isEmpty)
        #expect(r.tick(37.25).map(\.tag) == ["G2"])
    }
}
