@testable import HazmonCore
import Testing

/// A test clock: seconds since an arbitrary epoch.
func at(_ s: Double) -> Instant { Instant(seconds: 1_000_000 + s) }

/// An engine with one tag and helpers to feed it values at chosen times and run its timers.
struct Rig {
    var engine: Engine
    var events: [AlarmEvent] = []
    let tag: String

    init(_ def: TagDefinition, votes: [VoteDefinition] = [], others: [TagDefinition] = [],
         connections: [ConnectionDefinition] = [], settings: EngineSettings = .init()) {
        engine = Engine(site: "s", tags: [def] + others, votes: votes, connections: connections, settings: settings, start: at(0))
        tag = def.id
    }

    /// Feeds `value` at time `t`; returns the events it caused.
    @discardableResult
    mutating func feed(_ t: Double, _ value: Double, tag: String? = nil, quality: Quality = .good, fault: SensorFault? = nil) -> [AlarmEvent] {
        var out: [AlarmEvent] = []
        engine.evaluate(Sample(tag: engine.handle(for: tag ?? self.tag)!, value: value, quality: quality, time: at(t), fault: fault), into: &out)
        events += out
        return out
    }

    @discardableResult
    mutating func tick(_ t: Double) -> [AlarmEvent] {
        var out: [AlarmEvent] = []
        engine.tick(now: at(t), into: &out)
        events += out
        return out
    }

    mutating func act(_ a: OperatorAction, _ c: Condition, at t: Double, tag: String? = nil) throws(OperatorError) -> AlarmEvent {
        let note: String? = if case .shelve = a { "test" } else { nil }
        let e = try engine.apply(a, tag: tag ?? self.tag, condition: c, user: "op", note: note, at: at(t))
        events.append(e)
        return e
    }
}

func kinds(_ e: [AlarmEvent]) -> [String] { e.map { "\($0.condition.rawValue):\($0.event.rawValue)" } }

@Suite("Engine: delays, latch, re-alarm")
struct DelayTests {
    static let pt = TagDefinition(id: "PT", unit: "MPa", h: LimitRule(at: 1.4, grade: .yellow, onDelay: .seconds(2), offDelay: .seconds(3)),
                                  hh: LimitRule(at: 1.6, grade: .red, onDelay: .seconds(2)))

    @Test func onDelayNeedsThePersistentCondition() {
        var r = Rig(Self.pt)
        #expect(r.feed(0, 1.5).isEmpty)          // pending
        #expect(r.feed(1, 1.3).isEmpty)          // back before 2 s: pending cancelled
        #expect(r.feed(2, 1.5).isEmpty)          // pending again from t=2
        #expect(r.tick(3.9).isEmpty)
        #expect(kinds(r.tick(4.0)) == ["h:raised"])   // raised by the timer, no new sample needed
    }

    @Test func offDelayHoldsTheAlarm() {
        var r = Rig(Self.pt)
        r.feed(0, 1.5); r.tick(2)
        #expect(r.feed(3, 1.0).isEmpty)
        #expect(r.tick(5.9).isEmpty)
        #expect(kinds(r.tick(6.0)) == ["h:cleared"])
    }

    @Test func escalationWaitsForItsOwnOnDelay() {
        var r = Rig(Self.pt)
        r.feed(0, 1.5); r.tick(2)
        #expect(r.feed(3, 1.7).isEmpty)
        #expect(kinds(r.tick(5)) == ["hh:escalated"])
        #expect(r.events.last?.grade == .red)
    }

    @Test func latchedAlarmWaitsForReset() throws {
        var r = Rig(TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow, latch: true)))
        r.feed(0, 25)
        #expect(r.feed(1, 5).isEmpty)                       // condition gone, alarm held
        #expect(r.engine.snapshot().first?.latched == true)
        #expect(throws: OperatorError.unknownCondition(tag: "GT", condition: .l)) { try r.act(.reset, .l, at: 1) }
        let reset = try r.act(.reset, .h, at: 2)
        #expect(reset.event == .reset && reset.state == .rtnUnack)
        _ = try r.act(.acknowledge, .h, at: 3)
        #expect(r.engine.snapshot().isEmpty)
    }

    @Test func resetIsRefusedWhileTheConditionHolds() {
        var r = Rig(TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow, latch: true)))
        r.feed(0, 25)
        #expect(throws: OperatorError.notLatched(tag: "GT", slot: .high)) { try r.act(.reset, .h, at: 1) }
    }

    @Test func realarmAfterAcknowledgement() throws {
        var r = Rig(TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow, realarm: .seconds(60))))
        r.feed(0, 25)
        _ = try r.act(.acknowledge, .h, at: 1)
        #expect(r.tick(60).isEmpty)
        let again = r.tick(61)
        #expect(kinds(again) == ["h:raised"] && again.first?.state == .unack && again.first?.flags == .realarm)
    }
}

@Suite("Engine: rate, trend, stale, fault, comm")
struct ConditionTests {
    @Test func rateOfRise() {
        var r = Rig(TagDefinition(id: "PT", rate: RateRule(rise: 0.2, per: .seconds(10), grade: .orange)))
        #expect(r.feed(0, 1.0).isEmpty)
        #expect(r.feed(5, 1.1).isEmpty)
        let e = r.feed(8, 1.21)
        #expect(kinds(e) == ["rate:raised"] && e.first?.grade == .orange)
        #expect(r.feed(9, 1.22).isEmpty)
        // The fast part leaves the 10 s window: the rise within it is now under 0.2.
        #expect(kinds(r.feed(19, 1.25)) == ["rate:cleared"])
    }

    @Test func rateOfFall() {
        var r = Rig(TagDefinition(id: "LT", rate: RateRule(fall: 5, per: .seconds(60))))
        r.feed(0, 50)
        #expect(kinds(r.feed(30, 44)) == ["rate:raised"])
    }

    static let trendTag = TagDefinition(id: "PT", unit: "MPa", h: LimitRule(at: 1.4, grade: .yellow),
                                        hh: LimitRule(at: 1.6, grade: .red),
                                        trend: TrendRule(toward: .hh, window: .seconds(60), horizon: .seconds(300), grade: .orange))

    @Test func trendPredictsTheCrossingWithAnETA() {
        var r = Rig(Self.trendTag)
        var predicted: AlarmEvent?
        // Rising 0.001 MPa/s from 1.0: 1.6 is reached at t = 600 s.
        for t in stride(from: 0.0, through: 400, by: 10) {
            for e in r.feed(t, 1.0 + 0.001 * t) where e.event == .predicted { predicted = e }
        }
        let p = try! #require(predicted)
        #expect(p.condition == .trend && p.grade == .orange && p.limit == 1.6)
        // Predicted as soon as the ETA falls within the 300 s horizon (t = 300 or the next sample),
        // and the ETA points at the true crossing, t = 600.
        let t = p.time.seconds - at(0).seconds
        #expect(t >= 300 && t <= 310)
        let eta = try! #require(p.etaSeconds)
        #expect(eta <= 300 && abs(t + eta - 600) < 1)
    }

    @Test func trendClearsWhenTheForecastNoLongerHolds() {
        var r = Rig(Self.trendTag)
        for t in stride(from: 0.0, through: 400, by: 10) { r.feed(t, 1.0 + 0.001 * t) }
        var cleared = false
        for t in stride(from: 410.0, through: 500, by: 10) {
            cleared = cleared || r.feed(t, 1.3).contains { $0.condition == .trend && $0.event == .cleared }
        }
        #expect(cleared)
    }

    @Test func noisyDataIsNoTrend() {
        var r = Rig(Self.trendTag)
        var rng = SplitMix64(seed: 7)
        for t in stride(from: 0.0, through: 600, by: 5) {
            #expect(r.feed(t, 1.2 + (rng.nextUnit() - 0.5) * 0.2).filter { $0.condition == .trend }.isEmpty)
        }
    }

    @Test func staleRaisesFromTheTimerAndClearsOnFreshData() {
        var r = Rig(TagDefinition(id: "GT", staleAfter: .seconds(10)))
        #expect(kinds(r.tick(10)) == ["stale:raised"])          // never reported since start
        #expect(kinds(r.feed(11, 3)) == ["stale:cleared"])
        #expect(r.tick(20.9).isEmpty)
        #expect(kinds(r.tick(21)) == ["stale:raised"])
        // Bad data does not count as fresh.
        #expect(r.feed(22, 3, quality: .bad).filter { $0.condition == .stale }.isEmpty)
    }

    @Test func sensorFaultKeepsTheLastGoodValueAndNeverClearsLimits() {
        var r = Rig(TagDefinition(id: "GT", unit: "%LEL", h: LimitRule(at: 20, grade: .yellow)))
        r.feed(0, 25)
        let f = r.feed(1, 0, fault: .loopCurrentLow(milliamps: 3.5))
        #expect(kinds(f) == ["fault:raised"])
        #expect(f.first?.value == 25 && f.first?.quality == .bad)
        #expect(f.first?.message.contains("3.5 mA") == true && f.first?.message.contains("last good value 25 %LEL") == true)
        #expect(r.engine.snapshot().contains { $0.condition == .h && $0.active })
        #expect(kinds(r.feed(2, 5)) == ["fault:cleared", "h:cleared"])
    }

    @Test func connectionLossMarksTagsBadAndRaisesComm() {
        var r = Rig(TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow)),
                    connections: [ConnectionDefinition(id: "panel-1", tags: ["GT"])])
        r.feed(0, 5)
        var out: [AlarmEvent] = []
        r.engine.setConnection("panel-1", up: false, reason: "timeout", at: at(1), into: &out)
        #expect(kinds(out) == ["comm:raised"] && out.first?.tag == "panel-1" && out.first?.message.contains("timeout") == true)
        #expect(r.engine.tags[0].lastQuality == .bad)
        out = []
        r.engine.setConnection("panel-1", up: false, reason: "timeout", at: at(2), into: &out)
        #expect(out.isEmpty)
        r.engine.setConnection("panel-1", up: true, reason: nil, at: at(3), into: &out)
        #expect(kinds(out) == ["comm:cleared"])
    }

    /// A connection whose tags an input names at run time (a Sparkplug birth): members set
    /// while it is up go bad with it; set while it is down, joiners go bad and leavers count it no more.
    @Test func connectionMembersNamedAtRunTime() {
        var r = Rig(TagDefinition(id: "A", h: LimitRule(at: 20, grade: .yellow)), others: [TagDefinition(id: "B")],
                    connections: [ConnectionDefinition(id: "node", tags: [])])
        r.feed(0, 5)
        var out: [AlarmEvent] = []
        r.engine.setConnectionMembers("node", tags: [TagHandle(0)])
        r.engine.setConnection("node", up: false, reason: "NDEATH", at: at(1), into: &out)
        #expect(kinds(out) == ["comm:raised"] && r.engine.tags[0].lastQuality == .bad && r.engine.tags[0].connectionsDown == 1)
        r.engine.setConnectionMembers("node", tags: [TagHandle(1)])
        #expect(r.engine.tags[0].connectionsDown == 0 && r.engine.tags[1].connectionsDown == 1 && r.engine.tags[1].lastQuality == .bad)
        out = []
        r.engine.setConnection("node", up: true, reason: nil, at: at(2), into: &out)
        #expect(kinds(out) == ["comm:cleared"] && r.engine.tags[1].connectionsDown == 0)
        r.engine.setConnectionMembers("nobody", tags: [TagHandle(0)])   // an unknown connection: nothing
        r.engine.setConnectionMembers("node", tags: [TagHandle(7)])      // a handle out of range: dropped
        #expect(r.engine.tags.allSatisfy { $0.connectionsDown == 0 })
    }
}

@Suite("Engine: shelving, suppression, out of service")
struct OverlayTests {
    static let gt = TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow))

    @Test func shelvingIsBoundedAndExpiresWithAnEvent() throws {
        var settings = EngineSettings()
        settings.shelveMax = .seconds(3600)
        var r = Rig(Self.gt, settings: settings)
        r.feed(0, 25)
        #expect(throws: OperatorError.shelveNeedsDuration) { try r.act(.shelve(nil), .h, at: 1) }
        #expect(throws: OperatorError.shelveNeedsReason) {
            try r.engine.apply(.shelve(.seconds(60)), tag: "GT", condition: .h, user: "op", note: " ", at: at(1))
        }
        #expect(throws: OperatorError.shelveTooLong(max: .seconds(3600))) { try r.act(.shelve(.seconds(7200)), .h, at: 1) }
        let s = try r.act(.shelve(.seconds(600)), .h, at: 1)
        #expect(s.event == .shelved && s.user == "op")
        #expect(r.feed(2, 5).first?.flags.contains(.shelved) == true)   // recorded, flagged
        #expect(r.engine.snapshot().first?.shelvedUntil == at(601))
        #expect(r.tick(600).isEmpty)
        let u = r.tick(601)
        #expect(kinds(u) == ["h:unshelved"] && u.first?.note == "shelve expired")
        #expect(throws: OperatorError.notShelved(tag: "GT", slot: .high)) { try r.act(.unshelve, .h, at: 602) }
    }

    @Test func suppressionByDesign() {
        var r = Rig(TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow), suppressIf: SuppressionRule(tag: "RUN", below: 0.5)),
                    others: [TagDefinition(id: "RUN")])
        #expect(kinds(r.feed(0, 0, tag: "RUN")) == ["h:suppressed"])
        #expect(r.feed(1, 25).first?.flags == .suppressed)     // still recorded
        #expect(kinds(r.feed(2, 1, tag: "RUN")) == ["h:unsuppressed"])
        #expect(r.feed(3, 30).isEmpty)
    }

    @Test func outOfServiceTagsRaiseNothing() {
        var r = Rig(TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow), staleAfter: .seconds(1), outOfService: "sensor swap, ticket 88"))
        #expect(r.feed(0, 50).isEmpty)
        #expect(r.tick(100).isEmpty)
    }

    @Test func unknownTargetsAreRefused() {
        var r = Rig(Self.gt)
        #expect(throws: OperatorError.unknownTag("NOPE")) { try r.act(.acknowledge, .h, at: 0, tag: "NOPE") }
        #expect(throws: OperatorError.unknownCondition(tag: "GT", condition: .rate)) { try r.act(.acknowledge, .rate, at: 0) }
        #expect(throws: OperatorError.noSuchAlarm(tag: "GT", slot: .high)) { try r.act(.acknowledge, .h, at: 0) }
    }
}

@Suite("Engine: voting, chattering, flood")
struct GroupTests {
    static func gas(_ id: String) -> TagDefinition {
        TagDefinition(id: id, unit: "%LEL", tagClass: .combustibleGas, h: LimitRule(at: 20, grade: .yellow), hh: LimitRule(at: 40, grade: .orange))
    }

    @Test func twoOutOfThreeConfirmsALeak() throws {
        var r = Rig(Self.gas("G1"), votes: [VoteDefinition(id: "T101-dike", tags: ["G1", "G2", "G3"], k: 2, condition: .h)],
                    others: [Self.gas("G2"), Self.gas("G3")])
        #expect(kinds(r.feed(0, 25, tag: "G1")) == ["h:raised"])
        let e = r.feed(1, 45, tag: "G2")
        #expect(kinds(e) == ["hh:raised", "vote:raised"])
        #expect(e.last?.tag == "T101-dike" && e.last?.grade == .red && e.last?.value == 2 && e.last?.limit == 2)
        #expect(r.feed(2, 30, tag: "G2").filter { $0.condition == .vote }.isEmpty)   // still 2 at h or above
        #expect(kinds(r.feed(3, 5, tag: "G1")) == ["h:cleared", "vote:cleared"])
        _ = try r.act(.acknowledge, .vote, at: 4, tag: "T101-dike")
        #expect(!r.engine.snapshot().contains { $0.tag == "T101-dike" })
    }

    @Test func chatteringIsFlaggedNeverDropped() {
        var r = Rig(Self.gas("G1"))
        var all: [AlarmEvent] = []
        for (i, v) in [25.0, 5, 25, 5, 25].enumerated() { all += r.feed(Double(i), v) }
        #expect(all.count == 5)
        #expect(all.map { $0.flags.contains(.chattering) } == [false, false, true, true, true])
    }

    @Test func floodStartsAboveTenAndEndsUnderFive() {
        var tags = (0..<12).map { Self.gas("G\($0)") }
        let first = tags.removeFirst()
        var r = Rig(first, others: tags)
        var all: [AlarmEvent] = []
        for i in 0..<12 { all += r.feed(Double(i), 25, tag: "G\(i)") }
        #expect(all.filter { $0.event == .raised }.count == 12)              // nothing dropped
        #expect(all.filter { $0.event == .floodStart }.count == 1)
        let start = all.firstIndex { $0.event == .floodStart }!
        #expect(all[start].tag == "s" && all[start].condition == .flood)
        #expect(all[(start + 1)...].allSatisfy { $0.flags.contains(.flood) })
        #expect(r.engine.isFlooding)
        #expect(r.tick(500).isEmpty)
        // Ten minutes after the burst, fewer than five raises remain in the window.
        #expect(kinds(r.tick(610)) == ["flood:flood_end"])
        #expect(!r.engine.isFlooding)
    }
}

@Suite("Engine: frozen values")
struct FrozenValueTests {
    static func gas() -> TagDefinition {
        var d = TagDefinition(id: "GT", name: "dike gas", unit: "%LEL", tagClass: .combustibleGas, source: "t",
                              h: LimitRule(at: 20, grade: .yellow), staleAfter: .seconds(5))
        d.frozen = FrozenRule(after: .seconds(10), band: 0.05)
        return d
    }

    @Test func aValueThatStopsMovingIsASensorFaultUntilItMovesAgain() {
        var r = Rig(Self.gas())
        for t in stride(from: 0.0, to: 9.5, by: 1) { #expect(r.feed(t, 1.0 + (t.truncatingRemainder(dividingBy: 2) == 0 ? 0.2 : 0)).isEmpty) }
        // From t = 10 the value sits at 1.32 ± 0.04 (within the band): frozen from 20.
        for t in stride(from: 10.0, to: 19.5, by: 1) { #expect(r.feed(t, 1.32 + (t.truncatingRemainder(dividingBy: 2) == 0 ? 0.04 : 0)).isEmpty) }
        let raised = r.feed(20, 1.32)
        #expect(kinds(raised) == ["fault:raised"])
        #expect(raised.first?.message.contains("value unchanged at 1.36 %LEL for 10s or more (frozen") == true, "\(raised.first?.message ?? "")")
        // Frozen: samples keep coming, so no stale alarm; a frozen value above h is not believed.
        for t in stride(from: 21.0, to: 40.5, by: 1) { #expect(r.feed(t, 1.32).isEmpty) }
        #expect(r.tick(40.5).isEmpty)
        #expect(r.feed(41, 1.33).isEmpty)
        // It moves: the fault clears, and the value counts again.
        #expect(kinds(r.feed(42, 25)) == ["fault:cleared", "h:raised"])
    }

    @Test func withoutTheRuleAnUnmovingValueIsJustAValue() {
        var def = Self.gas()
        def.frozen = nil
        var r = Rig(def)
        for t in stride(from: 0.0, to: 60, by: 1) { #expect(r.feed(t, 1.32).isEmpty) }
    }

    /// A frozen tag's fault survives a restart without being raised again, and clears when the
    /// value moves.
    @Test func aRestartKeepsTheFrozenFaultSilently() {
        var r = Rig(Self.gas())
        for t in stride(from: 0.0, to: 11.5, by: 1) { r.feed(t, 1.32) }
        #expect(kinds(r.events) == ["fault:raised"])
        let saved = savedAlarms(r.engine)
        var back = Rig(Self.gas())
        var events: [AlarmEvent] = []
        back.engine.restore(saved, now: at(20), into: &events)
        #expect(events.isEmpty)
        #expect(back.feed(21, 1.32).isEmpty, "still frozen: no clear, no new raise")
        #expect(back.feed(22, 1.32).isEmpty)
        #expect(kinds(back.feed(23, 2.5)) == ["fault:cleared"])
    }
}
