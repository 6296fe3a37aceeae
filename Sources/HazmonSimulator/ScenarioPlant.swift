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
    }


    /// The scenario's MQTT signals now: (topic or metric name, value rounded to 0.001, faulted),
    /// and whether the gateway's node is down (a `down` event on it).
    func gatewayPoints(node: String) -> (points: [(name: String, value: Double, faulted: Bool)], down: Bool) {
        let t = (ContinuousClock.now - started).secondsDouble * speed
        return plant.withLock { p in
            p.advance(to: t)
            let points = p.scenario.signals.indices.compactMap { i -> (String, Double, Bool)? in
                guard let topic = p.scenario.signals[i].topic else { return nil }
                return (topic, (p.value(i) * 1000).rounded() / 1000, p.isFaulted(i))
            }
            return (points, p.isDown(node, at: t))
        }
    }

    var scenario: Scenario { plant.withLock { $0.scenario } }

    /// Plays the scenario's MQTT signals into the broker at `host`:`port` as the scenario's
    /// `[mqtt] format` says, on a thread of its own until `stop()`: JSON per topic (an edge
    /// gateway, QoS 1), a Sparkplug B edge node (`SparkplugEdge`), or an EMQX Neuron gateway.
    public func startGateway(host: String, port: Int) throws -> SimulatedGateway {
        let gateway = try SimulatedGateway(runner: self, host: host, port: port)
        gateway.start()
        return gateway
    }
}

/// The simulator's MQTT side. JSON and Neuron publish on one long-lived client; a Sparkplug B
/// edge node opens a client per session: its NDEATH (with that session's bdSeq) as the will,
/// NBIRTH with every metric and its alias, NDATA by alias with `seq` counting on, a new birth
/// on an NCMD `Node Control/Rebirth`; a `down` event on the node cuts its connection without a
/// DISCONNECT, so the broker publishes the death, and it comes back with a new session after.
public final class SimulatedGateway: Sendable {
    let runner: ScenarioRunner
    let host: String
    let port: Int
    let format: Scenario.GatewayFormat
    let stopping = Atomic<Bool>(false)
    let done = Atomic<Bool>(false)
    /// The JSON / Neuron client (nil for Sparkplug, whose sessions come and go).
    let client: MosquittoClient?
    /// Sparkplug sessions begun (1 after the first birth): for tests and the log.
    public let sessions = Atomic<Int>(0)
    /// Rebirth requests answered.
    public let rebirths = Atomic<Int>(0)
    /// Set by the Sparkplug client's callbacks: connected (a birth is due), or a rebirth asked for.
    let birthDue = Atomic<Bool>(false)

    init(runner: ScenarioRunner, host: String, port: Int) throws {
        self.runner = runner
        self.host = host
        self.port = port
        format = runner.scenario.mqttFormat
        client = format == .sparkplug ? nil : try Self.client(host: host, port: port, id: "hazmon-simulate-\(getpid())")
        try client?.start()
    }

    static func client(host: String, port: Int, id: String, will: (topic: String, payload: [UInt8], retain: Bool)? = nil,
                       subscriptions: [String] = [], onMessage: @escaping @Sendable (String, [UInt8]) -> Void = { _, _ in },
                       onConnection: @escaping @Sendable (Bool, String) -> Void = { _, _ in }) throws -> MosquittoClient {
        try MosquittoClient(
            options: BrokerOptions(host: host, port: port, clientID: id, cleanSession: true,
                                   keepaliveSeconds: 5, reconnectMinSeconds: 1, reconnectMaxSeconds: 2, will: will),
            subscriptions: subscriptions, qos: 1, logger: Logger(label: "simulate", factory: { _ in SwiftLogNoOpLogHandler() }),
            onMessage: onMessage, onConnection: onConnection)
    }

    func start() {
        let s = runner.scenario
        let every = useconds_t(max(10_000, s.mqttEvery.nanosecondsClamped / 1000))
        Thread { [self] in
            var edge = format == .sparkplug ? SparkplugEdge(gateway: self, group: s.mqttGroup, node: s.mqttNode) : nil
            while !stopping.load(ordering: .relaxed) {
                let (points, down) = runner.gatewayPoints(node: s.mqttNode)
                switch format {
                case .json:
                    for p in points {
                        client?.publish(topic: p.name, payload: "{\"value\":\(p.value),\"quality\":\"\(p.faulted ? "bad" : "good")\"}", qos: 1, retain: false)
                    }
                case .neuron:
                    if !down {
                        // Neuron's tags-format upload; a failed channel is Neuron's per-tag error.
                        let tags = points.map { p in
                            p.faulted ? "{\"name\":\(p.name.quoted()),\"error\":2014}" : "{\"name\":\(p.name.quoted()),\"value\":\(p.value)}"
                        }
                        let ms = UInt64(Date().timeIntervalSince1970 * 1000)
                        let body = "{\"node\":\(s.mqttNode.quoted()),\"group\":\(s.mqttGroup.quoted()),\"timestamp\":\(ms),\"tags\":[\(tags.joined(separator: ","))]}"
                        client?.publish(topic: s.mqttTopic ?? "neuron/\(s.mqttNode)/upload", payload: body, qos: 1, retain: false)
                    }
                case .sparkplug:
                    edge?.step(points: points, down: down)
                }
                usleep(every)
            }
            edge?.end()
            done.store(true, ordering: .relaxed)
        }.start()
    }

    /// Stops publishing (a Sparkplug node says NDEATH and disconnects cleanly) and returns once
    /// the thread is done.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        for _ in 0..<300 where !done.load(ordering: .relaxed) { usleep(10_000) }
        client?.stop()
    }
}

/// The Sparkplug B edge node the simulator plays: one metric per MQTT signal (its `mqtt` value
/// is the metric name; alias = its position + 1), Double, with a Quality property of 0 (bad)
/// while its loop has failed.
struct SparkplugEdge {
    let gateway: SimulatedGateway
    let group: String
    let node: String
    var client: MosquittoClient?
    var bdSeq: UInt64 = 0
    var seq: UInt64 = 0
    init(gateway: SimulatedGateway, group: String, node: String) {
        self.gateway = gateway
        self.group = group
        self.node = node
    }

    func topic(_ kind: String) -> String { "\(SparkplugTopic.namespace)/\(group)/\(kind)/\(node)" }

    var wallMilliseconds: UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    func death() -> [UInt8] {
        SparkplugCodec.encode(timestamp: wallMilliseconds, seq: nil,
                              metrics: [SparkplugMetric(name: "bdSeq", alias: nil, datatype: SparkplugCodec.DataType.int64.rawValue, value: .number(Double(bdSeq)))])
    }

    mutating func step(points: [(name: String, value: Double, faulted: Bool)], down: Bool) {
        if down {
            // The cable is cut: no DISCONNECT, the broker publishes our will (NDEATH).
            client?.drop()
            client = nil
            return
        }
        if client == nil {
            bdSeq = (bdSeq + 1) % 256
            let gateway = self.gateway
            guard let c = try? SimulatedGateway.client(
                host: gateway.host, port: gateway.port, id: "hazmon-simulate-spb-\(node)-\(getpid())",
                will: (topic("NDEATH"), death(), false), subscriptions: [topic("NCMD")],
                onMessage: { _, payload in
                    guard let m = try? SparkplugCodec.decode(payload, limit: 65_536) else { return }
                    if m.metrics.contains(where: { $0.name == "Node Control/Rebirth" && $0.value == .number(1) }) {
                        gateway.rebirths.add(1, ordering: .relaxed)
                        gateway.birthDue.store(true, ordering: .relaxed)
                    }
                },
                onConnection: { up, _ in if up { gateway.birthDue.store(true, ordering: .relaxed) } }) else { return }
            try? c.start()
            client = c
        }
        guard let client, client.isConnected else { return }
        let now = wallMilliseconds
        if gateway.birthDue.exchange(false, ordering: .relaxed) {
            seq = 0
            var metrics = points.enumerated().map { i, p in metric(p, alias: UInt64(i + 1), named: true, at: now) }
            metrics.append(SparkplugMetric(name: "bdSeq", alias: nil, datatype: SparkplugCodec.DataType.int64.rawValue, value: .number(Double(bdSeq))))
            client.publish(topic: topic("NBIRTH"), bytes: SparkplugCodec.encode(timestamp: now, seq: seq, metrics: metrics), qos: 0, retain: false)
            gateway.sessions.add(1, ordering: .relaxed)
            return
        }
        seq = (seq + 1) % 256
        let metrics = points.enumerated().map { i, p in metric(p, alias: UInt64(i + 1), named: false, at: now) }
        client.publish(topic: topic("NDATA"), bytes: SparkplugCodec.encode(timestamp: now, seq: seq, metrics: metrics), qos: 0, retain: false)
    }

    func metric(_ p: (name: String, value: Double, faulted: Bool), alias: UInt64, named: Bool, at ms: UInt64) -> SparkplugMetric {
        SparkplugMetric(name: named ? p.name : nil, alias: alias, timestamp: ms, datatype: SparkplugCodec.DataType.double.rawValue,
                        value: .number(p.value), quality: p.faulted ? .bad : .good)
    }

    /// A clean end: NDEATH, then DISCONNECT.
    mutating func end() {
        guard let client else { return }
        if client.isConnected { client.publish(topic: topic("NDEATH"), bytes: death(), qos: 1, retain: false) }
        usleep(100_000)
        client.stop()
        self.client = nil
    }
}
