import HazmonCore
import Testing
@testable import HazmonMQTT

/// The Sparkplug B host's state machine and codec (issue 20, item 1), without a broker: births
/// define aliases, data by alias, `seq` gaps and data before birth ask for a rebirth, deaths
/// raise `comm` on declared nodes, and hostile payloads are dropped and counted, never a crash.
@Suite("Sparkplug B host")
struct SparkplugHostTests {
    typealias Payload = Hazmon_Sparkplug_SparkplugPayload

    static func host(rebirth: Bool = true) -> SparkplugHost {
        SparkplugHost(groups: [.init(
            id: "spb", group: "plant", declared: ["gc1": "sparkplug:plant/gc1", "gc1/panel": "sparkplug:plant/gc1/panel"],
            template: "{node}-{metric}", tags: ["gc1-CH4": TagHandle(0), "gc1-Door": TagHandle(1)],
            explicit: [SparkplugMetricName(node: "gc1", device: "panel", metric: "Temp"): TagHandle(2)],
            rebirth: rebirth, birthTimeout: .seconds(3))])
    }

    static func metric(_ name: String?, alias: UInt64?, type: UInt32, _ set: (inout Payload.Metric) -> Void) -> Payload.Metric {
        var m = Payload.Metric()
        if let name { m.name = name }
        if let alias { m.alias = alias }
        m.datatype = type
        set(&m)
        return m
    }

    static func payload(seq: UInt64?, _ metrics: [Payload.Metric]) -> [UInt8] {
        var p = Payload()
        p.timestamp = 1_764_000_000_000
        if let seq { p.seq = seq }
        p.metrics = metrics
        return try! p.serializedBytes()
    }

    static let birth = payload(seq: 0, [
        metric("CH4", alias: 1, type: 10) { $0.doubleValue = 2 },
        metric("Door", alias: 2, type: 11) { $0.booleanValue = true },
        metric("Unmapped", alias: 3, type: 10) { $0.doubleValue = 7 },
        metric("bdSeq", alias: nil, type: 4) { $0.longValue = 5 },
    ])

    struct Run {
        var host = SparkplugHostTests.host()
        var samples: [Sample] = []
        var now = Instant(seconds: 100)

        mutating func send(_ topic: String, _ payload: [UInt8]) -> SparkplugHost.Actions {
            host.handle(SparkplugTopic(topic)!, payload: payload, received: now, wallMilliseconds: 1, maxPayload: 1 << 20, into: &samples)
        }
    }

    @Test func birthThenDataByAlias() {
        var r = Run()
        let born = r.send("spBv1.0/plant/NBIRTH/gc1", Self.birth)
        #expect(born.connections == [.init(id: "sparkplug:plant/gc1", up: true, reason: nil)])
        #expect(born.members["sparkplug:plant/gc1"] == [TagHandle(0), TagHandle(1)])
        #expect(r.samples.map(\.value) == [2, 1] && r.samples.first?.sourceTime == Instant(nanoseconds: 1_764_000_000_000 * 1_000_000))
        r.samples = []
        let data = r.send("spBv1.0/plant/NDATA/gc1", Self.payload(seq: 1, [Self.metric(nil, alias: 1, type: 10) { $0.doubleValue = 41.5 }]))
        #expect(data.drops.isEmpty && data.commands.isEmpty && r.samples.map(\.value) == [41.5])
        // A device: signed Int16 as 32-bit two's complement, explicit name.
        _ = r.send("spBv1.0/plant/DBIRTH/gc1/panel", Self.payload(seq: 2, [Self.metric("Temp", alias: 10, type: 2) { $0.intValue = UInt32(bitPattern: -3) }]))
        #expect(r.samples.last?.tag == TagHandle(2) && r.samples.last?.value == -3)
        // ...and the same with only its 16 bits (as Tahu's Python writes it).
        _ = r.send("spBv1.0/plant/DDATA/gc1/panel", Self.payload(seq: 3, [Self.metric(nil, alias: 10, type: 2) { $0.intValue = 65_524 }]))
        #expect(r.samples.last?.value == -12)
    }

    @Test func aSeqGapAsksForARebirthAndDropsTheData() {
        var r = Run()
        _ = r.send("spBv1.0/plant/NBIRTH/gc1", Self.birth)
        r.samples = []
        let gap = r.send("spBv1.0/plant/NDATA/gc1", Self.payload(seq: 2, [Self.metric(nil, alias: 1, type: 10) { $0.doubleValue = 50 }]))
        #expect(gap.drops.map(\.reason) == ["seq_gap"] && r.samples.isEmpty)
        #expect(gap.commands.map(\.topic) == ["spBv1.0/plant/NCMD/gc1"])
        let cmd = try! Payload(serializedBytes: gap.commands[0].payload)
        #expect(cmd.metrics.first?.name == "Node Control/Rebirth" && cmd.metrics.first?.booleanValue == true)
        // More data before the rebirth: dropped; no second request within 5 s.
        let more = r.send("spBv1.0/plant/NDATA/gc1", Self.payload(seq: 3, []))
        #expect(more.drops.map(\.reason) == ["before_birth"] && more.commands.isEmpty)
        r.now = r.now + .seconds(6)
        #expect(r.send("spBv1.0/plant/NDATA/gc1", Self.payload(seq: 4, [])).commands.count == 1)
        // seq wraps 255 → 0.
        _ = r.send("spBv1.0/plant/NBIRTH/gc1", Self.payload(seq: 255, [Self.metric("CH4", alias: 1, type: 10) { $0.doubleValue = 1 }]))
        #expect(r.send("spBv1.0/plant/NDATA/gc1", Self.payload(seq: 0, [])).drops.isEmpty)
    }

    @Test func deathsAndDeadlines() {
        var r = Run()
        // Connected: every declared node is asked; a node silent for birth_timeout gets comm.
        let connected = r.host.connected(now: r.now, wallMilliseconds: 1)
        #expect(connected.commands.map(\.topic) == ["spBv1.0/plant/NCMD/gc1"])
        #expect(r.host.tick(now: r.now + .seconds(2), wallMilliseconds: 1).connections.isEmpty)
        let late = r.host.tick(now: r.now + .seconds(3), wallMilliseconds: 1)
        #expect(late.connections.map(\.id) == ["sparkplug:plant/gc1"] && late.connections.first?.up == false)
        #expect(late.connections.first?.reason?.contains("no NBIRTH") == true)
        #expect(r.host.tick(now: r.now + .seconds(4), wallMilliseconds: 1).connections.isEmpty, "raised once")
        // Birth: up; the declared device has birth_timeout for its DBIRTH.
        #expect(r.send("spBv1.0/plant/NBIRTH/gc1", Self.birth).connections.map(\.up) == [true])
        let noDevice = r.host.tick(now: r.now + .seconds(3), wallMilliseconds: 1)
        #expect(noDevice.connections.map(\.id) == ["sparkplug:plant/gc1/panel"])
        // A stale NDEATH (another session's bdSeq) is ignored; the matching one is a death.
        let stale = r.send("spBv1.0/plant/NDEATH/gc1", Self.payload(seq: nil, [Self.metric("bdSeq", alias: nil, type: 4) { $0.longValue = 4 }]))
        #expect(stale.connections.isEmpty && stale.notes.count == 1)
        let death = r.send("spBv1.0/plant/NDEATH/gc1", Self.payload(seq: nil, [Self.metric("bdSeq", alias: nil, type: 4) { $0.longValue = 5 }]))
        #expect(death.connections == [.init(id: "sparkplug:plant/gc1", up: false, reason: "Sparkplug edge node plant/gc1 is offline (NDEATH)")])
        // DDEATH after a new birth: the device's own comm.
        _ = r.send("spBv1.0/plant/NBIRTH/gc1", Self.birth)
        _ = r.send("spBv1.0/plant/DBIRTH/gc1/panel", Self.payload(seq: 1, [Self.metric("Temp", alias: 10, type: 2) { $0.intValue = 1 }]))
        let dd = r.send("spBv1.0/plant/DDEATH/gc1/panel", Self.payload(seq: 2, []))
        #expect(dd.connections.map(\.id) == ["sparkplug:plant/gc1/panel"] && dd.connections.first?.up == false)
    }

    @Test func valuesQualityNullAndWrongTypes() {
        var r = Run()
        _ = r.send("spBv1.0/plant/NBIRTH/gc1", Self.birth)
        r.samples = []
        var quality = Self.metric(nil, alias: 1, type: 10) { $0.doubleValue = 3 }
        quality.properties.keys = ["Quality"]
        var q = Payload.PropertyValue()
        q.type = 3
        q.intValue = 500
        quality.properties.values = [q]
        let a = r.send("spBv1.0/plant/NDATA/gc1", Self.payload(seq: 1, [
            quality,
            Self.metric(nil, alias: 1, type: 10) { $0.isNull = true },
            Self.metric(nil, alias: 1, type: 10) { $0.stringValue = "high" },
            Self.metric(nil, alias: 1, type: 10) { $0.doubleValue = .nan },
            Self.metric(nil, alias: 99, type: 10) { $0.doubleValue = 1 },
            Self.metric(nil, alias: 1, type: 10) { _ in },
            Self.metric(nil, alias: 1, type: 10) { $0.doubleValue = 1; $0.isHistorical = true },
            Self.metric("CH4", alias: nil, type: 10) { $0.doubleValue = 9 },
        ]))
        #expect(r.samples.count == 3)
        #expect(r.samples[0].quality == .uncertain && r.samples[0].value == 3)
        #expect(r.samples[1].fault == .noValue && r.samples[1].quality == .bad)
        #expect(r.samples[2].value == 9, "a metric by name when it has no alias")
        #expect(a.drops.map(\.reason) == ["wrong_type", "wrong_type", "unknown_metric", "missing_field", "historical"])
        #expect(a.commands.count == 1, "an alias the birth did not give: rebirth")
    }

    /// A Quality code reads as a JSON payload's would (OPC ranges); one that is neither is not good.
    @Test func qualityCodes() throws {
        for (code, expected) in [(192 as UInt32, Quality.good), (500, .uncertain), (0, .bad), (100, .uncertain), (7_777, .uncertain)] {
            var m = Self.metric("CH4", alias: 1, type: 10) { $0.doubleValue = 1 }
            m.properties.keys = ["Quality"]
            var q = Payload.PropertyValue()
            q.intValue = code
            m.properties.values = [q]
            let decoded = try SparkplugCodec.decode(Self.payload(seq: 0, [m]), limit: 1 << 16)
            #expect(decoded.metrics.first?.quality == expected, "Quality \(code)")
        }
    }

    /// Hostile payloads: 5,000 mutations of real messages, truncations, a flood of metrics.
    @Test func hostilePayloadsNeverCrash() {
        var r = Run()
        var rng = SplitMix64(seed: 20)
        let data = Self.payload(seq: 1, (0..<50).map { i in Self.metric(nil, alias: UInt64(i % 4), type: UInt32(i % 14)) { $0.longValue = UInt64(i) } })
        let topics = ["spBv1.0/plant/NBIRTH/gc1", "spBv1.0/plant/NDATA/gc1", "spBv1.0/plant/DDATA/gc1/panel", "spBv1.0/plant/NDEATH/gc1", "spBv1.0/plant/DBIRTH/gc1/panel"]
        var dropped = 0
        for i in 0..<5_000 {
            var bytes = i % 2 == 0 ? Self.birth : data
            switch rng.next() % 3 {
            case 0: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            case 1: for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(bytes.count)))
            }
            dropped += r.send(topics[i % topics.count], bytes).drops.count
        }
        #expect(dropped > 1_000, "mutations are noticed and counted: \(dropped)")
        #expect(r.samples.allSatisfy { $0.tag.index <= 2 && ($0.value.isFinite || $0.fault != nil) })
        // More metrics than a message may hold: refused whole.
        var huge = Payload()
        huge.metrics = Array(repeating: Self.metric(nil, alias: 1, type: 10) { $0.doubleValue = 1 }, count: SparkplugCodec.maxMetrics + 1)
        let big = r.send("spBv1.0/plant/NDATA/gc1", try! huge.serializedBytes())
        #expect(big.drops.map(\.reason) == ["oversized"])
        #expect(r.send("spBv1.0/plant/NDATA/gc1", Array(repeating: 0xFF, count: 64)).drops.map(\.reason) == ["not_sparkplug"])
    }

    @Test func topics() {
        let t = SparkplugTopic("spBv1.0/g/DDATA/n/d")
        #expect(t?.group == "g" && t?.kind == .ddata && t?.node == "n" && t?.device == "d")
        #expect(SparkplugTopic("spBv1.0/g/DDATA/n") == nil && SparkplugTopic("spBv1.0/g/NDATA/n/d") == nil)
        #expect(SparkplugTopic("spBv1.0/STATE/host") == nil && SparkplugTopic("spBv1.0/g/XDATA/n") == nil)
        #expect(SparkplugTopic("spAv1.0/g/NDATA/n") == nil && SparkplugTopic("spBv1.0//NDATA/n") == nil)
        #expect(TagTemplate("{group}.{node}.{device}.{metric}").render(levels: [], point: nil, node: "n", group: "g", device: "", metric: "m") == "g.n..m")
    }
}
