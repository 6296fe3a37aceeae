import HazmonCore
import Testing

/// Properties over random sample sequences, qualities and timer ticks on fully configured tags.
@Suite("Engine properties")
struct EnginePropertyTests {
    static let full = TagDefinition(
        id: "PT", unit: "MPa", tagClass: .pressure,
        h: LimitRule(at: 1.4, grade: .yellow, deadband: 0.02, onDelay: .seconds(2), offDelay: .seconds(1)),
        hh: LimitRule(at: 1.6, grade: .red, deadband: 0.02),
        l: LimitRule(at: 0.4, grade: .yellow), ll: LimitRule(at: 0.2, grade: .orange),
        rate: RateRule(rise: 0.2, fall: 0.2, per: .seconds(10), grade: .orange),
        trend: TrendRule(toward: .hh, window: .seconds(60), horizon: .seconds(300)),
        staleAfter: .seconds(5))

    static func run(seed: UInt64) -> [AlarmEvent] {
        var rng = SplitMix64(seed: seed)
        var engine = Engine(site: "s", tags: [full], start: at(0))
        let h = engine.handle(for: "PT")!
        var events: [AlarmEvent] = []
        var v = 1.0
        var t = 0.0
        for _ in 0..<2_000 {
            t += 0.1 + rng.nextUnit() * 3
            if rng.nextUnit() < 0.2 {
                engine.tick(now: at(t), into: &events)
                continue
            }
            v = min(2.0, max(0.0, v + (rng.nextUnit() - 0.5) * 0.2))
            let q: Quality = rng.nextUnit() < 0.05 ? .bad : rng.nextUnit() < 0.05 ? .uncertain : .good
            engine.evaluate(Sample(tag: h, value: v, quality: q, time: at(t)), into: &events)
        }
        return events
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func everySequenceIsLegal(seed: UInt64) {
        let events = Self.run(seed: seed)
        #expect(!events.isEmpty)
        var active: [AlarmSlot: Bool] = [:]
        for e in events {
            #expect((1...4).contains(e.grade.rawValue))
            let slot = e.condition.slot
            switch e.event {
            case .raised, .predicted:
                #expect(active[slot] != true, "raised twice: \(e.condition) at \(e.time)")
                active[slot] = true
                #expect(e.state == .unack)
            case .escalated, .deescalated:
                #expect(active[slot] == true)
            case .cleared:
                #expect(active[slot] == true, "cleared without a raise: \(e.condition) at \(e.time)")
                active[slot] = false
                #expect(e.state == .rtnUnack || e.state == .normal)
            case .floodStart, .floodEnd:
                break
            default:
                Issue.record("unexpected \(e.event)")
            }
        }
    }

    @Test func sameInputSameEvents() {
        #expect(Self.run(seed: 42) == Self.run(seed: 42))
    }

    /// Noise inside the deadband around a set point raises and clears at most once.
    @Test(arguments: [11, 12, 13, 14] as [UInt64])
    func noiseInsideTheDeadband(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var engine = Engine(site: "s", tags: [TagDefinition(id: "GT", h: LimitRule(at: 20, grade: .yellow, deadband: 2))])
        let h = engine.handle(for: "GT")!
        var events: [AlarmEvent] = []
        for i in 0..<1_000 {
            // 18.01 ... 21.99: inside at - deadband ... at + deadband.
            let v = 18.01 + rng.nextUnit() * 3.98
            engine.evaluate(Sample(tag: h, value: v, time: at(Double(i))), into: &events)
        }
        #expect(events.filter { $0.event == .raised }.count <= 1)
        #expect(events.filter { $0.event == .cleared }.count <= 1)
    }
}

/// The timer plan (`tick` skipping its pass until the next due time) must never change what
/// happens: the same random script with a full pass on every tick gives the same events.
@Suite("Engine timer plan")
struct EngineTimerPlanTests {
    static func script(seed: UInt64, fullPassEveryTick: Bool) -> [String] {
        var rng = SplitMix64(seed: seed)
        var realarmRule = EnginePropertyTests.full
        realarmRule.h?.realarm = .seconds(7)
        realarmRule.hh?.realarm = .seconds(5)
        var engine = Engine(site: "s", tags: [realarmRule], start: at(0))
        let h = engine.handle(for: "PT")!
        var events: [AlarmEvent] = []
        var v = 1.0
        var t = 0.0
        for _ in 0..<3_000 {
            t += 0.05 + rng.nextUnit() * 2
            let r = rng.nextUnit()
            if r < 0.3 {
                if fullPassEveryTick { engine.planTimersAgain() }
                engine.tick(now: at(t), into: &events)
            } else if r < 0.35 {
                let c: Condition = [.h, .hh, .l, .ll, .rate, .trend, .stale][Int(rng.nextUnit() * 7) % 7]
                let action: OperatorAction = rng.nextUnit() < 0.6 ? .acknowledge : rng.nextUnit() < 0.5 ? .shelve(.seconds(Int64(1 + rng.nextUnit() * 20))) : .unshelve
                if let e = try? engine.apply(action, tag: "PT", condition: c, user: "op", note: "drill", at: at(t)) { events.append(e) }
            } else if r < 0.4 {
                t += rng.nextUnit() * 8   // a silence: stale data
            } else {
                v = min(2.0, max(0.0, v + (rng.nextUnit() - 0.5) * 0.25))
                let q: Quality = rng.nextUnit() < 0.05 ? .bad : .good
                engine.evaluate(Sample(tag: h, value: v, quality: q, time: at(t)), into: &events)
            }
        }
        return events.map { "\($0.time.nanoseconds) \($0.condition.rawValue) \($0.event.rawValue) \($0.state.rawValue) \($0.flags.names)" }
    }

    @Test(arguments: [11, 12, 13, 14, 15, 16] as [UInt64])
    func skippingIdleTicksChangesNothing(seed: UInt64) {
        let planned = Self.script(seed: seed, fullPassEveryTick: false)
        let full = Self.script(seed: seed, fullPassEveryTick: true)
        #expect(planned.count > 50)
        #expect(planned == full)
    }
}
