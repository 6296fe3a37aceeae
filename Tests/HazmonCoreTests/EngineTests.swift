import HazmonCore
import Testing

/// Builds an engine with one combustible gas tag (h 20 / hh 40) and one level tag (l / ll).
func makeEngine(deadband: Double = 0) -> Engine {
    Engine(site: "test-site", tags: [
        TagDefinition(id: "GT-101", name: "T101 dike combustible gas", unit: "%LEL", tagClass: .combustibleGas,
                      source: "mqtt:plant/gt101", h: LimitRule(at: 20, grade: .yellow, deadband: deadband),
                      hh: LimitRule(at: 40, grade: .orange, deadband: deadband)),
        TagDefinition(id: "LT-301", name: "T301 level", unit: "%", tagClass: .level, source: "mqtt:plant/lt301",
                      l: LimitRule(at: 15, grade: .yellow, deadband: 1), ll: LimitRule(at: 5, grade: .orange, deadband: 1)),
        TagDefinition(id: "AT-201", name: "NH3", unit: "ppm", tagClass: .toxicGas, source: "mqtt:plant/at201",
                      h: LimitRule(at: 20, grade: .yellow), hh: LimitRule(at: 40, grade: .orange)),
    ])
}

extension Engine {
    /// Feeds values one second apart and returns every event.
    mutating func feed(_ tag: String, _ values: [Double], quality: Quality = .good, start: Int64 = 1_000) -> [AlarmEvent] {
        let h = handle(for: tag)!
        var events: [AlarmEvent] = []
        for (i, v) in values.enumerated() {
            evaluate(Sample(tag: h, value: v, quality: quality, time: Instant(nanoseconds: (start + Int64(i)) * 1_000_000_000)), into: &events)
        }
        return events
    }
}

@Suite("Engine: limit alarms")
struct EngineTests {
    /// The foundation issue's acceptance sequence: 25, 45, 30, 5 on h 20 / hh 40.
    @Test func raisedEscalatedDeescalatedCleared() {
        var engine = makeEngine()
        let events = engine.feed("GT-101", [25, 45, 30, 5])
        #expect(events.map(\.event) == [.raised, .escalated, .deescalated, .cleared])
        #expect(events.map(\.condition) == [.h, .hh, .h, .h])
        #expect(events.map(\.grade) == [.yellow, .orange, .yellow, .yellow])
        #expect(events.map(\.grade.color) == ["yellow", "orange", "yellow", "yellow"])
        #expect(events.map(\.limit) == [20, 40, 20, 20])
        #expect(events.map(\.value) == [25, 45, 30, 5])
        #expect(events.map(\.state) == [.unack, .unack, .unack, .rtnUnack])
        #expect(events[1].message == "T101 dike combustible gas 45 %LEL above second-level limit 40")
        #expect(events.allSatisfy { $0.site == "test-site" && $0.tag == "GT-101" && $0.source == "mqtt:plant/gt101" })
    }

    @Test func lowSide() {
        var engine = makeEngine()
        let events = engine.feed("LT-301", [50, 14, 4, 7, 20])
        #expect(events.map(\.event) == [.raised, .escalated, .deescalated, .cleared])
        #expect(events.map(\.condition) == [.l, .ll, .l, .l])
        #expect(events[1].message == "T301 level 4 % below second-level low limit 5")
    }

    @Test func noiseInsideTheDeadbandRaisesAndClearsOnce() {
        var engine = makeEngine(deadband: 2)
        let noisy: [Double] = [19, 20.5, 19.2, 20.1, 18.6, 21, 19.9, 18.1, 20, 17.5, 19.5, 19.9]
        let events = engine.feed("GT-101", noisy)
        #expect(events.map(\.event) == [.raised, .cleared])
    }

    @Test("bad and uncertain samples neither raise nor clear a limit alarm", arguments: [Quality.bad, .uncertain])
    func badQualityNeverMovesLimits(_ q: Quality) {
        var engine = makeEngine()
        #expect(engine.feed("GT-101", [50], quality: q).filter { $0.condition != .fault }.isEmpty)
        #expect(engine.feed("GT-101", [25]).filter { $0.condition != .fault }.map(\.event) == [.raised])
        // A dead loop reading 0 must not clear a gas alarm.
        #expect(engine.feed("GT-101", [0], quality: q).filter { $0.condition != .fault }.isEmpty)
        #expect(engine.snapshot().filter { $0.condition == .h }.count == 1)
    }

    @Test func nonFiniteValuesAreIgnored() {
        var engine = makeEngine()
        #expect(engine.feed("GT-101", [.nan, .infinity, -.infinity]).isEmpty)
    }

    @Test func acknowledgeFollowsISA182() throws {
        var engine = makeEngine()
        _ = engine.feed("GT-101", [25])
        let ack = try engine.acknowledge(tag: "GT-101", condition: .h, user: "zhang", note: "checking", at: Instant(seconds: 2_000))
        #expect(ack.event == .acknowledged && ack.state == .acked && ack.user == "zhang" && ack.note == "checking")
        // An escalation makes it unacknowledged again.
        #expect(engine.feed("GT-101", [45]).map(\.state) == [.unack])
        _ = try engine.acknowledge(tag: "GT-101", condition: .hh, user: nil, note: nil, at: Instant(seconds: 2_001))
        // Acked and back to normal: cleared straight to normal, gone from the snapshot.
        #expect(engine.feed("GT-101", [1]).map(\.state) == [.normal])
        #expect(engine.snapshot().isEmpty)
    }

    @Test func acknowledgingReturnedAlarmEndsIt() throws {
        var engine = makeEngine()
        _ = engine.feed("GT-101", [25, 1])
        #expect(engine.snapshot().map(\.state) == [.rtnUnack])
        let e = try engine.acknowledge(tag: "GT-101", condition: .h, user: nil, note: nil, at: Instant(seconds: 3_000))
        #expect(e.state == .normal)
        #expect(engine.snapshot().isEmpty)
    }

    @Test func acknowledgeErrors() {
        var engine = makeEngine()
        #expect(throws: OperatorError.unknownTag("NOPE")) {
            try engine.acknowledge(tag: "NOPE", condition: .h, user: nil, note: nil, at: Instant(seconds: 1))
        }
        #expect(throws: OperatorError.noSuchAlarm(tag: "GT-101", slot: .high)) {
            try engine.acknowledge(tag: "GT-101", condition: .hh, user: nil, note: nil, at: Instant(seconds: 1))
        }
        _ = engine.feed("GT-101", [25])
        _ = try? engine.acknowledge(tag: "GT-101", condition: .h, user: nil, note: nil, at: Instant(seconds: 1))
        #expect(throws: OperatorError.alreadyAcknowledged(tag: "GT-101", slot: .high)) {
            try engine.acknowledge(tag: "GT-101", condition: .h, user: nil, note: nil, at: Instant(seconds: 1))
        }
    }

    @Test func snapshotPutsToxicBeforeCombustibleAtEqualGrade() {
        var engine = makeEngine()
        _ = engine.feed("GT-101", [25], start: 100)
        _ = engine.feed("AT-201", [25], start: 200)   // later, but toxic
        _ = engine.feed("LT-301", [2], start: 300)    // grade 2: most severe
        #expect(engine.snapshot().map(\.tag) == ["LT-301", "AT-201", "GT-101"])
    }

    @Test func sameInputSameEvents() {
        var a = makeEngine(deadband: 1), b = makeEngine(deadband: 1)
        var rng = SystemRandomNumberGenerator()
        let values = (0..<2_000).map { _ in Double.random(in: 0...60, using: &rng) }
        #expect(a.feed("GT-101", values) == b.feed("GT-101", values))
    }

    /// Property: over random walks, events alternate legally: never a cleared without a raise,
    /// never an escalation from normal, grades always 1...4.
    @Test func randomWalksProduceLegalSequences() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var engine = makeEngine(deadband: Double.random(in: 0...3, using: &rng))
            var v = 10.0
            let values = (0..<500).map { _ -> Double in
                v = min(70, max(0, v + Double.random(in: -4...4, using: &rng)))
                return v
            }
            var active = false
            for e in engine.feed("GT-101", values) where e.condition == .h || e.condition == .hh {
                switch e.event {
                case .raised: #expect(!active); active = true
                case .escalated: #expect(active && e.condition == .hh)
                case .deescalated: #expect(active && e.condition == .h)
                case .cleared: #expect(active); active = false
                default: Issue.record("unexpected \(e.event)")
                }
                #expect((1...4).contains(e.grade.rawValue))
            }
        }
    }
}

@Suite("Engine hot-path types")
struct HotPathTypeTests {
    /// A sample is copied per evaluation: it must stay a trivial type (no String, no class),
    /// or every copy retains and releases (measured: +146 instructions per sample).
    @Test func sampleIsTrivial() {
        #expect(_isPOD(Sample.self))
        #expect(_isPOD(SensorFault.self))
    }
}
