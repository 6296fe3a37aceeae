import Foundation
import HazmonConfig
import HazmonCore
import HazmonModbus
import HazmonMQTT
import Logging
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
    /// With `repeat`: the scenario time the current round began at.
    var roundStart = 0.0

    public init(_ s: Scenario) {
        scenario = s
        states = s.signals.enumerated().map { i, g in
            SignalState(level: g.base, rng: SplitMix64(seed: s.seed &+ UInt64(i) &* 7919), last: g.base)
        }
    }

    /// Applies the events due by scenario time `t` (seconds) and computes every signal.
    public mutating func advance(to t: Double) {
        if let period = scenario.repeatEvery?.secondsDouble {
            let start = (t / period).rounded(.down) * period
            if start > roundStart {
                // A new round: every signal back to its own behaviour at its base, the script
                // from its first event (the noise goes on where it was).
                roundStart = start
                nextEvent = 0
                downUntil = [:]
                for i in states.indices {
                    states[i].level = scenario.signals[i].base
                    states[i].ramp = nil
                    states[i].frozen = nil
                    states[i].fault = nil
                }
            }
        }
        while nextEvent < scenario.events.count, roundStart + scenario.events[nextEvent].at.secondsDouble <= t {
            apply(scenario.events[nextEvent], at: roundStart + scenario.events[nextEvent].at.secondsDouble)
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

    /// The status word of a device with one (see `Scenario.StatusWord`), from its channels now.
    public func statusWord(_ status: Scenario.StatusWord) -> UInt16 {
        var word: UInt16 = 0
        for (k, id) in status.channels.enumerated() {
            guard let i = scenario.signals.firstIndex(where: { $0.id == id }) else { continue }
            if states[i].fault != nil {
                word |= 1 << 2 | 1 << UInt16(8 + k)
            } else {
                if states[i].last >= status.alarm1 { word |= 1 << 0 }
                if states[i].last >= status.alarm2 { word |= 1 << 1 }
            }
        }
        return word
    }

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
                    if let st = d.status {
                        let word = p.statusWord(st)
                        if st.table == .input, st.address < input.count { input[st.address] = word }
                        if st.table == .holding, st.address < holding.count { holding[st.address] = word }
                    }
                }
                // A counter of real half seconds, as a controller's watchdog counts whatever the
                // scenario's speed: it changes at every poll of 500 ms or slower.
                let real = (ContinuousClock.now - start).secondsDouble
                if let hb = d.heartbeat, hb < holding.count { holding[hb] = UInt16(truncatingIfNeeded: Int(real * 2)) }
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

    /// Plays the scenario's MQTT signals into the broker at `host`:`port` as an edge gateway
    /// would (client id `hazmon-simulate-PID`, QoS 1, reconnecting on its own); the caller
    /// stops the returned client after `stop()`.
    public func startGateway(host: String, port: Int) throws -> MosquittoClient {
        let client = try MosquittoClient(
            options: BrokerOptions(host: host, port: port, clientID: "hazmon-simulate-\(getpid())", cleanSession: true,
                                   reconnectMinSeconds: 1, reconnectMaxSeconds: 2),
            subscriptions: [], qos: 1, logger: Logger(label: "simulate", factory: { _ in SwiftLogNoOpLogHandler() }),
            onMessage: { _, _ in })
        try client.start()
        startPublishing(every: plant.withLock { $0.scenario.mqttEvery }) { topic, payload in
            client.publish(topic: topic, payload: payload, qos: 1, retain: false)
        }
        return client
    }
}
