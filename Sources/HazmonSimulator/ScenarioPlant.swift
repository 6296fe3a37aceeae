import Foundation
import HazmonConfig
import HazmonCore
import Synchronization

/// A scenario's signals as they evolve: events applied in order as scenario time passes,
/// seeded noise, and the register words each signal puts in its device's image. Pure logic;
/// `ScenarioRunner` serves it.
public struct ScenarioPlant: Sendable {
    struct SignalState: Sendable {
        var level: Double
        var ramp: (from: Double, to: Double, start: Double, over: Double)?
        var frozen: Double?
        var fault: Bool?   // true: high (21.5 mA), false: low (3.5 mA)
        var rng: SplitMix64
        var last: Double
    }

    public let scenario: Scenario
    var states: [SignalState]
    var nextEvent = 0
    /// Per device: down until this scenario time.
    var downUntil: [String: Double] = [:]

    public init(_ s: Scenario) {
        scenario = s
        states = s.signals.enumerated().map { i, g in
            SignalState(level: g.base, rng: SplitMix64(seed: s.seed &+ UInt64(i) &* 7919), last: g.base)
        }
    }

    /// Applies the events due by scenario time `t` (seconds) and computes every signal.
    public mutating func advance(to t: Double) {
        while nextEvent < scenario.events.count, scenario.events[nextEvent].at.secondsDouble <= t {
            apply(scenario.events[nextEvent], at: scenario.events[nextEvent].at.secondsDouble)
            nextEvent += 1
        }
        for i in states.indices {
            var s = states[i]
            if let r = s.ramp {
                let k = r.over <= 0 ? 1 : min(1, max(0, (t - r.start) / r.over))
                s.level = r.from + (r.to - r.from) * k
                if k >= 1 { s.ramp = nil }
            }
            let n = scenario.signals[i].noise
            let noisy = s.level + (n > 0 ? (s.rng.nextUnit() * 2 - 1) * n : 0)
            s.last = s.frozen ?? noisy
            states[i] = s
        }
    }

    mutating func apply(_ e: Scenario.Event, at t: Double) {
        if case .deviceDown(let d) = e.action {
            downUntil[e.target] = t + d.secondsDouble
            return
        }
        guard let i = scenario.signals.firstIndex(where: { $0.id == e.target }) else { return }
        switch e.action {
        case .ramp(let to, let over): states[i].ramp = (states[i].level, to, t, over.secondsDouble)
        case .step(let v): states[i].ramp = nil; states[i].level = v
        case .loopFault(let high): states[i].fault = high
        case .stuck: states[i].frozen = states[i].last
        case .restore: states[i].fault = nil; states[i].frozen = nil
        case .deviceDown: break
        }
    }

    /// The engineering value of signal `i` now (before encoding).
    public func value(_ i: Int) -> Double { states[i].last }

    /// Whether signal `i` is in a loop fault now (MQTT signals then say quality "bad").
    public func isFaulted(_ i: Int) -> Bool { states[i].fault != nil }

    public func isDown(_ device: String, at t: Double) -> Bool { (downUntil[device] ?? -1) > t }

    /// The register words of signal `i`, as its device serves them.
    public func words(_ i: Int) -> [UInt16] {
        let g = scenario.signals[i]
        let v = states[i].last
        switch g.encoding {
        case .float32(let order):
            let bits = Float(v).bitPattern
            let hi = UInt16(bits >> 16), lo = UInt16(bits & 0xFFFF)
            switch order {
            case .abcd: return [hi, lo]
            case .cdab: return [lo, hi]
            case .badc: return [hi.byteSwapped, lo.byteSwapped]
            case .dcba: return [lo.byteSwapped, hi.byteSwapped]
            }
        case .uint16:
            return [UInt16(clamping: Int(v.rounded()))]
        case .int16:
            return [UInt16(bitPattern: Int16(clamping: Int(v.rounded())))]
        case .loop(let span):
            let counts: Double
            if let high = states[i].fault {
                counts = high ? 21_500 : 3_500
            } else {
                counts = 4_000 + (v - span.0) / (span.1 - span.0) * 16_000
            }
            return [UInt16(clamping: Int(counts.rounded()))]
        }
    }
}

/// Serves a scenario: one Modbus TCP slave (libmodbus) per device on 127.0.0.1, each on a
/// thread of its own, its image updated from the plant every 100 ms of real time.
public final class ScenarioRunner: Sendable {
    public let servers: [(device: String, server: ModbusSlaveServer)]
    /// The plant, shared by the devices' threads.
    final class Box: Sendable {
        let plant: Mutex<ScenarioPlant>
        init(_ p: ScenarioPlant) { plant = Mutex(p) }
        func withLock<R>(_ body: (inout ScenarioPlant) -> R) -> R { plant.withLock { body(&$0) } }
    }
    private let plant: Box
    private let started = ContinuousClock.now
    let speed: Double

    public init(_ scenario: Scenario) throws {
        let plant = Box(ScenarioPlant(scenario))
        self.plant = plant
        speed = scenario.speed
        let start = self.started
        var servers: [(String, ModbusSlaveServer)] = []
        for d in scenario.devices {
            let mine = scenario.signals.indices.filter { scenario.signals[$0].device == d.id && scenario.signals[$0].topic == nil }
            let speed = scenario.speed
            let server = try ModbusSlaveServer(port: d.port, isOffline: { [plant] in
                let t = (ContinuousClock.now - start).secondsDouble * speed
                return plant.withLock { $0.isDown(d.id, at: t) }
            }) { input, holding, _, _ in
                let t = (ContinuousClock.now - start).secondsDouble * speed
                plant.withLock { p in
                    p.advance(to: t)
                    for i in mine {
                        let g = p.scenario.signals[i]
                        let w = p.words(i)
                        for (k, word) in w.enumerated() {
                            if g.table == .input, g.address + k < input.count { input[g.address + k] = word }
                            if g.table == .holding, g.address + k < holding.count { holding[g.address + k] = word }
                        }
                    }
                }
                if let hb = d.heartbeat, hb < holding.count { holding[hb] = UInt16(Int(t * 2) & 1) }
            }
            servers.append((d.id, server))
        }
        self.servers = servers
    }

    /// Scenario seconds since start.
    public var scenarioTime: Double { (ContinuousClock.now - started).secondsDouble * speed }

    public func start() {
        for (_, s) in servers {
            let t = Thread { s.serve() }
            t.start()
        }
    }

    public func stop() {
        for (_, s) in servers { s.stop() }
        stopping.flag.store(true, ordering: .relaxed)
    }

    final class Flag: Sendable { let flag = Atomic<Bool>(false) }
    private let stopping = Flag()

    /// Publishes every MQTT signal as JSON `{"value":…,"quality":…}` each `every`, through
    /// `publish` (the caller's MQTT client), on a thread of its own, until `stop()`.
    public func startPublishing(every: Duration, publish: @escaping @Sendable (_ topic: String, _ payload: String) -> Void) {
        let plant = self.plant, started = self.started, speed = self.speed
        let stopping = self.stopping
        Thread {
            while !stopping.flag.load(ordering: .relaxed) {
                let t = (ContinuousClock.now - started).secondsDouble * speed
                let points: [(String, String)] = plant.withLock { p in
                    p.advance(to: t)
                    return p.scenario.signals.indices.compactMap { i in
                        guard let topic = p.scenario.signals[i].topic else { return nil }
                        let v = (p.value(i) * 1000).rounded() / 1000
                        return (topic, "{\"value\":\(v),\"quality\":\"\(p.isFaulted(i) ? "bad" : "good")\"}")
                    }
                }
                for (topic, payload) in points { publish(topic, payload) }
                usleep(useconds_t(max(10_000, every.nanosecondsClamped / 1000)))
            }
        }.start()
    }
}
