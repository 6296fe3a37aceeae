import HazmonCore
import Testing

/// What the journal keeps for every alarm an engine holds, as a restart would read it back.
func savedAlarms(_ engine: Engine) -> [SavedAlarm] {
    engine.snapshot().compactMap { a in engine.saved(tag: a.tag, condition: a.condition) ?? nil }
}

@Suite("Engine: restore after a restart")
struct EngineRestoreTests {
    @Test func anAlarmStillActiveIsNotRaisedAgainAndClearsWhenItIsNot() throws {
        var before = makeEngine()
        _ = before.feed("GT-101", [45])
        _ = try before.apply(.acknowledge, tag: "GT-101", condition: .hh, user: "zhang", note: nil, at: Instant(seconds: 1_002))
        let saved = savedAlarms(before)
        #expect(saved.count == 1 && saved[0].slot == .high && saved[0].level == 2 && saved[0].state == .acked)

        var after = makeEngine()
        var events: [AlarmEvent] = []
        after.restore(saved, now: Instant(seconds: 2_000), into: &events)
        #expect(events.isEmpty, "restoring is silent")
        #expect(after.snapshot().map { "\($0.tag)/\($0.condition.rawValue)/\($0.state.rawValue)" } == ["GT-101/hh/acked"])
        #expect(after.feed("GT-101", [44, 41], start: 2_001).isEmpty, "still above hh: no duplicate raised")
        let cleared = after.feed("GT-101", [3], start: 2_010)
        #expect(cleared.map(\.event) == [.cleared] && cleared[0].state == .normal)
    }

    @Test func aRestoredAlarmDeescalatesFromWhereItWas() {
        var before = makeEngine()
        _ = before.feed("GT-101", [45])
        var after = makeEngine()
        var events: [AlarmEvent] = []
        after.restore(savedAlarms(before), now: Instant(seconds: 2_000), into: &events)
        let e = after.feed("GT-101", [30], start: 2_001)
        #expect(e.map(\.event) == [.deescalated] && e[0].condition == .h && e[0].state == .unack)
    }

    @Test func shelvesKeepTheirExpiryAndLatchesTheirHold() throws {
        var r = Rig(TagDefinition(id: "GT", name: "gas", unit: "%LEL", tagClass: .combustibleGas, source: "t",
                                  h: LimitRule(at: 20, grade: .yellow, latch: true)))
        _ = r.feed(1, 25)
        _ = try r.act(.shelve(.seconds(600)), .h, at: 2)
        _ = r.feed(3, 5)   // condition gone, alarm latched
        let saved = savedAlarms(r.engine)
        #expect(saved.first?.shelvedUntil == at(602))

        var back = Rig(TagDefinition(id: "GT", name: "gas", unit: "%LEL", tagClass: .combustibleGas, source: "t",
                                     h: LimitRule(at: 20, grade: .yellow, latch: true)))
        var events: [AlarmEvent] = []
        back.engine.restore(saved, now: at(10), into: &events)
        #expect(back.feed(11, 5).isEmpty, "still latched, nothing new")
        #expect(back.engine.snapshot().first?.latched == true)
        #expect(back.engine.snapshot().first?.shelvedUntil == at(602))
        #expect(kinds(back.tick(603)) == ["h:unshelved"], "the shelf expires when it would have")
        #expect(try back.act(.reset, .h, at: 604).event == .reset)
    }

    @Test func alarmsOfRemovedTagsAreClearedWithAnEvent() {
        var before = makeEngine()
        _ = before.feed("GT-101", [45])
        var other = Engine(site: "test-site", tags: [
            TagDefinition(id: "LT-301", name: "T301 level", unit: "%", tagClass: .level, source: "x", l: LimitRule(at: 15, grade: .yellow)),
        ])
        var events: [AlarmEvent] = []
        other.restore(savedAlarms(before), now: Instant(seconds: 2_000), into: &events)
        #expect(events.count == 1)
        #expect(events.first.map { "\($0.tag) \($0.condition) \($0.event) \($0.state)" } == "GT-101 hh cleared normal")
        #expect(events.first?.message.contains("no longer in the configuration") == true)
        #expect(other.snapshot().isEmpty)
    }

    @Test func aConnectionDownBeforeTheRestartClearsWhenItComesBack() {
        let defs = [TagDefinition(id: "GT", name: "gas", unit: "%LEL", tagClass: .combustibleGas, source: "t",
                                  h: LimitRule(at: 20, grade: .yellow))]
        let conns = [ConnectionDefinition(id: "panel-1", tags: ["GT"])]
        var before = Engine(site: "s", tags: defs, connections: conns)
        var events: [AlarmEvent] = []
        before.setConnection("panel-1", up: false, reason: "timeout", at: at(1), into: &events)
        var after = Engine(site: "s", tags: defs, connections: conns)
        events = []
        after.restore(savedAlarms(before), now: at(5), into: &events)
        #expect(events.isEmpty)
        after.setConnection("panel-1", up: false, reason: "timeout", at: at(6), into: &events)
        #expect(events.isEmpty, "still down: not raised again")
        after.setConnection("panel-1", up: true, reason: nil, at: at(7), into: &events)
        #expect(kinds(events) == ["comm:cleared"])
    }

    @Test func normalAlarmsAreNotKept() {
        var e = makeEngine()
        _ = e.feed("GT-101", [45, 3])
        _ = try? e.apply(.acknowledge, tag: "GT-101", condition: .h, user: nil, note: nil, at: Instant(seconds: 1_003))
        #expect(savedAlarms(e).isEmpty)
        #expect(e.saved(tag: "GT-101", condition: .h) == .some(nil), "known alarm, nothing to keep")
        #expect(e.saved(tag: "NOPE", condition: .h) == .none, "unknown alarm")
    }

    /// The state found by an event's origin (by position) is the one found by its name, for
    /// tag alarms, votes, connections and the flood, raised and cleared.
    @Test func anEventsOriginFindsItsAlarmsState() {
        var e = Engine(site: "s", tags: [
            TagDefinition(id: "GT-1", unit: "%LEL", tagClass: .combustibleGas, h: LimitRule(at: 20, grade: .yellow)),
            TagDefinition(id: "GT-2", unit: "%LEL", tagClass: .combustibleGas, h: LimitRule(at: 20, grade: .yellow)),
        ], votes: [VoteDefinition(id: "dike", tags: ["GT-1", "GT-2"], k: 2, condition: .h)],
            connections: [ConnectionDefinition(id: "panel", name: "panel", tags: ["GT-2"])])
        var events: [AlarmEvent] = []
        let h1 = e.handle(for: "GT-1")!, h2 = e.handle(for: "GT-2")!
        for (i, (h, v)) in [(h1, 25.0), (h2, 30), (h1, 5), (h2, 2)].enumerated() {
            e.evaluate(Sample(tag: h, value: v, time: Instant(seconds: Double(i))), into: &events)
            for ev in events {
                #expect(e.savedState(after: ev) == (e.saved(tag: ev.tag, condition: ev.condition) ?? nil), "\(ev.tag)/\(ev.condition)")
            }
            events.removeAll()
        }
        e.setConnection("panel", up: false, reason: "gone", at: Instant(seconds: 10), into: &events)
        #expect(events.contains { $0.origin == .connection(0) })
        for ev in events { #expect(e.savedState(after: ev) == (e.saved(tag: ev.tag, condition: ev.condition) ?? nil)) }
        #expect(e.savedState(after: events.first { $0.condition == .comm }!)?.state == .unack)
    }
}
