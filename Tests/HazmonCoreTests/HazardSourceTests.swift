import HazmonCore
import Testing

/// Spec §13: a hazard source's live R and level by GB 18218-2018, from its vessels' levels.
@Suite("Hazard sources: vessel volumes, α, R, levels")
struct HazardSourceTests {
    // MARK: volumes against their formulas, computed by hand

    @Test func aSphereHoldsACapOfItsLevel() {
        let s = VesselShape.sphere(diameter: 12)
        // Full: 4/3 π 6³ = 904.779 m³; half: 452.389; at 3 m: π 9 (18 − 3) / 3 = 45 π = 141.372.
        #expect(abs(s.volume(atLevel: 12) - 904.779) < 0.001)
        #expect(abs(s.volume(atLevel: 6) - 452.389) < 0.001)
        #expect(abs(s.volume(atLevel: 3) - 141.372) < 0.001)
        #expect(s.volume(atLevel: 0) == 0)
    }

    @Test func cylindersStandingAndLying() {
        // Standing: π 10² / 4 · 3 = 235.619 m³.
        #expect(abs(VesselShape.verticalCylinder(diameter: 10, height: 15).volume(atLevel: 3) - 235.619) < 0.001)
        // Lying, D 3 m, L 10 m: half full is π 1.5² / 2 · 10 = 35.343; full 70.686; at 0.5 m the
        // segment is 1.5² acos(1 / 1.5) − 1 · √(2 · 1.5 · 0.5 − 0.5²) = 1.892405 − 1.118034 m², · 10.
        let h = VesselShape.horizontalCylinder(diameter: 3, length: 10)
        #expect(abs(h.volume(atLevel: 1.5) - 35.343) < 0.001)
        #expect(abs(h.volume(atLevel: 3) - 70.686) < 0.001)
        #expect(abs(h.volume(atLevel: 0.5) - 7.74371) < 0.0001)
        #expect(h.volume(atLevel: 0) == 0)
    }

    @Test func aStrappingTableInterpolatesBetweenRows() {
        let t = VesselShape.table([.init(level: 0, volume: 0), .init(level: 1000, volume: 50), .init(level: 2000, volume: 120)])
        #expect(t.volume(atLevel: 500) == 25)
        #expect(t.volume(atLevel: 1500) == 85)
        #expect(t.volume(atLevel: 2000) == 120)
        #expect(t.fullLevel == 2000)
    }

    @Test func levelReadingsInMetresMillimetresAndPercent() throws {
        let sphere = VesselShape.sphere(diameter: 12)
        let m = VesselDefinition(levelTag: "L", shape: sphere, density: 0.5, levelUnit: .metres)
        let mm = VesselDefinition(levelTag: "L", shape: sphere, density: 0.5, levelUnit: .millimetres)
        let pct = VesselDefinition(levelTag: "L", shape: sphere, density: 0.5, levelUnit: .percent)
        let expected = 452.389 * 0.5
        #expect(abs(try m.tonnes(atReading: 6).get() - expected) < 0.001)
        #expect(abs(try mm.tonnes(atReading: 6000).get() - expected) < 0.001)
        #expect(abs(try pct.tonnes(atReading: 50).get() - expected) < 0.001)
        // A little over full is calibration; far over is a wrong reading, never a quantity.
        #expect(abs(try m.tonnes(atReading: 12.1).get() - 904.779 * 0.5) < 0.001)
        #expect(throws: InventoryError.self) { try m.tonnes(atReading: 14).get() }
        #expect(throws: InventoryError.self) { try m.tonnes(atReading: -1).get() }
    }

    // MARK: GB 18218 tables

    @Test func alphaByExposedPeopleAndLevelsByR() {
        let alphas = [0: 0.5, 1: 1.0, 29: 1.0, 30: 1.2, 49: 1.2, 50: 1.5, 99: 1.5, 100: 2.0, 5000: 2.0]
        for (n, a) in alphas { #expect(GB18218.alpha(exposedPeople: n) == a, "\(n) people") }
        let levels: [(Double, Int)] = [(0, 4), (9.99, 4), (10, 3), (49.9, 3), (50, 2), (99.9, 2), (100, 1), (1000, 1)]
        for (r, l) in levels { #expect(GB18218.level(r: r) == l, "R \(r)") }
        #expect(GB18218.chemical(named: "液氨")?.criticalQuantity == 10 && GB18218.chemical(named: "Ammonia")?.beta == 2)
        #expect(GB18218.chemical(named: "chlorine")?.beta == 4 && GB18218.chemical(named: "LPG")?.criticalQuantity == 50)
        #expect(GB18218.chemical(named: "unobtainium") == nil)
    }

    // MARK: live grading in the engine

    static let spheres = HazardSourceDefinition(
        id: "S10x", code: "3707xx0001", name: "LPG spheres", exposedPeople: 120,
        substances: [SubstanceDefinition(name: "液化石油气", criticalQuantity: 50, beta: 1.5, vessels: [
            VesselDefinition(levelTag: "LT-1", shape: .sphere(diameter: 12), density: 0.5),
            VesselDefinition(levelTag: "LT-2", shape: .sphere(diameter: 12), density: 0.5),
        ])])

    static func engine() -> Engine {
        let lt = { (id: String) in TagDefinition(id: id, unit: "m", tagClass: .level, staleAfter: .seconds(10)) }
        return Engine(site: "s", tags: [lt("LT-1"), lt("LT-2")], hazardSources: [spheres], start: at(0))
    }

    static func feed(_ e: inout Engine, _ t: Double, _ tag: String, _ v: Double, quality: Quality = .good) -> [AlarmEvent] {
        var out: [AlarmEvent] = []
        e.evaluate(Sample(tag: e.handle(for: tag)!, value: v, quality: quality, time: at(t)), into: &out)
        return out
    }

    /// R = α · β · q / Q with α 2 (120 people), β 1.5, Q 50: R = 0.06 · q.
    static func r(tonnes q: Double) -> Double { 2 * 1.5 * q / 50 }

    @Test func rIsComputedFromBothSpheresAndItsLevelIsAnnounced() throws {
        var e = Self.engine()
        // One sphere read: R unknown, and the other tag named.
        #expect(Self.feed(&e, 1, "LT-1", 6).isEmpty)
        var s = try #require(e.hazardSources.first)
        #expect(s.r == nil && s.unknown == ["LT-2: no reading yet"])
        // Both: q = 2 · 452.389 · 0.5 = 452.389 t, R = 27.14: level 3, first grading announced.
        let first = Self.feed(&e, 2, "LT-2", 6)
        s = try #require(e.hazardSources.first)
        #expect(abs(s.r! - Self.r(tonnes: 452.389)) < 0.001 && s.level == 3 && s.unknown.isEmpty)
        #expect(abs(s.substances[0].q! - 452.389) < 0.001 && abs(s.s! - 452.389 / 50) < 0.001)
        #expect(first.count == 1)
        let ev = try #require(first.first)
        #expect(ev.tag == "S10x" && ev.condition == .level && ev.event == .escalated && ev.grade == .yellow && ev.limit == 10)
        #expect(ev.state == .normal && ev.hazardSource == "S10x")
        #expect(ev.jsonLine.contains(#""condition":"level","alarm_type":"level","event":"escalated","grade":3"#))
        #expect(s.json.contains(#""level":3,"color":"yellow""#) && s.json.contains(#""code":"3707xx0001""#))
    }

    @Test func fillingPastABoundaryChangesTheLevelOnceNotOnEveryWobble() throws {
        var e = Self.engine()
        _ = Self.feed(&e, 1, "LT-1", 6)
        _ = Self.feed(&e, 1, "LT-2", 6)
        // R 50 needs q = 833.3 t: LT-1 at full (452.389 t) and LT-2 at 381 t, about 9.4 m... find the
        // level where R crosses 50 and 51 (past the 2 % deadband).
        func level(forR target: Double) -> Double {
            var lo = 0.0, hi = 12.0
            for _ in 0..<60 {
                let mid = (lo + hi) / 2
                let q = 452.389 + VesselShape.sphere(diameter: 12).volume(atLevel: mid) * 0.5
                if Self.r(tonnes: q) < target { lo = mid } else { hi = mid }
            }
            return hi
        }
        _ = Self.feed(&e, 2, "LT-1", 12)
        // Just past 50 but inside the deadband: still level 3.
        #expect(Self.feed(&e, 3, "LT-2", level(forR: 50.5)).isEmpty)
        let up = Self.feed(&e, 4, "LT-2", level(forR: 51.2))
        #expect(up.map(\.event) == [.escalated] && up.first?.grade == .orange && up.first?.limit == 50)
        // Wobbling around 50 does not announce again; falling below 49 does.
        for (i, r) in [49.6, 50.4, 49.3, 50.9].enumerated() { #expect(Self.feed(&e, 5 + Double(i), "LT-2", level(forR: r)).isEmpty) }
        let down = Self.feed(&e, 10, "LT-2", level(forR: 48.8))
        #expect(down.map(\.event) == [.deescalated] && down.first?.grade == .yellow && down.first?.limit == 50)
        #expect(down.first?.message == "LPG spheres major hazard source graded level 3 (R = \(JSONWriter.number((down.first!.value! * 1000).rounded() / 1000)), was level 2)")
    }

    @Test func aBadLevelTagMakesRUnknownAndSaysWhichNeverAGuess() throws {
        var e = Self.engine()
        _ = Self.feed(&e, 1, "LT-1", 6)
        _ = Self.feed(&e, 1, "LT-2", 6)
        // Bad quality is the tag's own fault alarm; the source is not graded on it.
        #expect(Self.feed(&e, 2, "LT-2", 6, quality: .bad).map(\.condition) == [.fault])
        var s = try #require(e.hazardSources.first)
        #expect(s.r == nil && s.s == nil && s.substances[0].q == nil && s.unknown == ["LT-2: sensor fault"])
        #expect(s.level == 3, "the last announced level stays; R does not")
        #expect(s.json.contains(#""r":null"#) && s.json.contains(#""unknown":["LT-2: sensor fault"]"#))
        // Far over the sphere: a wrong reading, named.
        _ = Self.feed(&e, 3, "LT-2", 20)
        s = try #require(e.hazardSources.first)
        #expect(s.r == nil && s.unknown.first?.hasPrefix("LT-2: level 20 (20 m) is outside the vessel") == true)
        // Silence: once LT-1 goes stale the tick says so too.
        _ = Self.feed(&e, 4, "LT-2", 6)
        var out: [AlarmEvent] = []
        e.tick(now: at(30), into: &out)
        s = try #require(e.hazardSources.first)
        #expect(s.r == nil && s.unknown == ["LT-1: stale", "LT-2: stale"])
        #expect(!out.contains { $0.condition == .level })
    }

    @Test func aRestartKeepsTheAnnouncedLevelAndDoesNotAnnounceItAgain() throws {
        var e = Self.engine()
        _ = Self.feed(&e, 1, "LT-1", 6)
        let first = Self.feed(&e, 1, "LT-2", 6)
        #expect(first.count == 1)
        let saved = try #require(e.savedState(after: first[0]))
        #expect(saved.slot == .level && saved.level == 3 && saved.state == .normal)
        #expect(e.savedAlarms().contains(saved))
        var again = Self.engine()
        var out: [AlarmEvent] = []
        again.restore([saved], now: at(100), into: &out)
        #expect(out.isEmpty)
        _ = Self.feed(&again, 101, "LT-1", 6)
        #expect(Self.feed(&again, 101, "LT-2", 6).isEmpty, "the same level after a restart is not news")
        // A source the configuration no longer has is cleared once, and so forgotten.
        var without = Engine(site: "s", tags: [TagDefinition(id: "LT-1", unit: "m")], start: at(0))
        without.restore([saved], now: at(100), into: &out)
        #expect(out.map(\.event) == [.cleared] && out.first?.condition == .level)
    }
}

/// Spec §13: an interlock (1 in service, 0 bypassed) raises `bypass` once bypassed longer
/// than its delay; a short bypass raises nothing.
@Suite("Interlocks: bypass alarms")
struct InterlockTests {
    static func interlock() -> TagDefinition {
        var bypass = LimitRule(at: 0.5, grade: .orange)
        bypass.onDelay = .seconds(30)
        return TagDefinition(id: "XS-101", name: "ESD-101 feed isolation", tagClass: .interlock, l: bypass)
    }

    @Test func aBypassLongerThanItsDelayIsAlarmedAndAShortOneIsNot() throws {
        var r = Rig(Self.interlock())
        #expect(r.feed(0, 1).isEmpty)
        #expect(r.feed(10, 0).isEmpty)
        #expect(r.tick(39).isEmpty)
        let raised = r.tick(41)
        #expect(raised.map(\.condition) == [.bypass] && raised.first?.event == .raised && raised.first?.grade == .orange)
        #expect(raised.first?.message == "ESD-101 feed isolation interlock bypassed for more than 30s")
        #expect(raised.first?.jsonLine.contains(#""condition":"bypass","alarm_type":"bypass","event":"raised""#) == true)
        #expect(r.engine.snapshot().first?.condition == .bypass)
        _ = try r.act(.acknowledge, .bypass, at: 42)
        let back = r.feed(50, 1)
        #expect(back.map(\.event) == [.cleared] && back.first?.message == "ESD-101 feed isolation interlock back in service")
        // A bypass for 20 s (a test of the trip, say) stays within the delay: nothing.
        #expect(r.feed(60, 0).isEmpty && r.tick(75).isEmpty && r.feed(80, 1).isEmpty && r.tick(120).isEmpty)
    }
}

/// Spec §13: a declared mode design-suppresses exactly its list, is bounded, journaled, and
/// ends by itself; a restart keeps it.
@Suite("Operating modes")
struct OperatingModeTests {
    static func engine() -> Engine {
        var source = HazardSourceTests.spheres
        source.modes = [.maintenance: ModeRule(suppress: ["PT-1"], max: .seconds(3600))]
        let pt = { (id: String) in TagDefinition(id: id, unit: "MPa", tagClass: .pressure, h: LimitRule(at: 1.4, grade: .yellow)) }
        let lt = { (id: String) in TagDefinition(id: id, unit: "m", tagClass: .level) }
        return Engine(site: "s", tags: [lt("LT-1"), lt("LT-2"), pt("PT-1"), pt("PT-2")], hazardSources: [source], start: at(0))
    }

    @Test func maintenanceSuppressesItsListOnlyAndEndsByItself() throws {
        var e = Self.engine()
        #expect(throws: OperatorError.modeNeedsDuration) { try e.setMode(source: "S10x", mode: .maintenance, for: nil, user: "wang", note: "x", at: at(1)) }
        #expect(throws: OperatorError.modeNeedsReason) { try e.setMode(source: "S10x", mode: .maintenance, for: .seconds(60), user: "wang", note: " ", at: at(1)) }
        #expect(throws: OperatorError.modeTooLong(mode: "maintenance", max: .seconds(3600))) {
            try e.setMode(source: "S10x", mode: .maintenance, for: .seconds(7200), user: "wang", note: "valve", at: at(1))
        }
        #expect(throws: OperatorError.unknownSource("nope")) { try e.setMode(source: "nope", mode: .startup, for: .seconds(1), user: nil, note: "n", at: at(1)) }
        #expect(throws: OperatorError.notInMode("S10x")) { try e.setMode(source: "S10x", mode: .normal, for: nil, user: nil, note: nil, at: at(1)) }

        let start = try e.setMode(source: "S10x", mode: .maintenance, for: .seconds(600), user: "wang", note: "PSV-101 replaced", at: at(10))
        #expect(start.map(\.event) == [.modeStart, .suppressed])
        #expect(start[0].tag == "S10x" && start[0].condition == .mode && start[0].user == "wang" && start[0].note == "PSV-101 replaced")
        #expect(start[0].message == "LPG spheres in maintenance mode for 10m by wang")
        #expect(start[1].tag == "PT-1" && start[1].message == "PT-1 alarms suppressed by design (S10x in maintenance mode)")
        #expect(e.hazardSources[0].mode == .maintenance && e.hazardSources[0].modeUntil == at(610))
        // PT-1's alarm is recorded and flagged suppressed; PT-2's is not: exactly the list.
        var out: [AlarmEvent] = []
        e.evaluate(Sample(tag: e.handle(for: "PT-1")!, value: 1.5, time: at(20)), into: &out)
        e.evaluate(Sample(tag: e.handle(for: "PT-2")!, value: 1.5, time: at(20)), into: &out)
        #expect(out.map(\.tag) == ["PT-1", "PT-2"])
        #expect(out[0].flags.contains(.suppressed) && !out[1].flags.contains(.suppressed))
        #expect(e.snapshot().first { $0.tag == "PT-1" }?.suppressed == true)

        // A restart in the middle keeps the mode and its suppression, silently.
        let saved = e.savedAlarms().filter { $0.slot == .mode }
        #expect(saved.count == 1 && saved[0].shelvedUntil == at(610))
        var again = Self.engine()
        var restored: [AlarmEvent] = []
        again.restore(saved, now: at(30), into: &restored)
        #expect(restored.isEmpty && again.hazardSources[0].mode == .maintenance && again.hazardSources[0].modeBy == "wang")
        #expect(again.hazardSources[0].modeNote == "PSV-101 replaced")
        again.evaluate(Sample(tag: again.handle(for: "PT-1")!, value: 1.5, time: at(31)), into: &restored)
        #expect(restored.first?.flags.contains(.suppressed) == true)

        // The time runs out: back to normal by itself, PT-1 no longer suppressed.
        var end: [AlarmEvent] = []
        e.tick(now: at(609), into: &end)
        #expect(!end.contains { $0.condition == .mode })
        e.tick(now: at(611), into: &end)
        #expect(end.filter { $0.condition == .mode }.map(\.event) == [.modeEnd])
        #expect(end.contains { $0.tag == "PT-1" && $0.event == .unsuppressed })
        #expect(end.first { $0.event == .modeEnd }?.message == "LPG spheres back to normal: maintenance mode time ran out")
        #expect(e.hazardSources[0].mode == .normal && e.savedAlarms().filter { $0.slot == .mode }.isEmpty)
    }
}
