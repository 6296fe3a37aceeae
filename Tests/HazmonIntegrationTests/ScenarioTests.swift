import Foundation
import HazmonConfig
import HazmonDaemon
import HazmonSimulator
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `hazmon simulate` playing Config/scenarios/drill.toml, polled by the real daemon over
/// Modbus: each tag's alarm events, compared without timestamps.
@Suite("Scenario drill through the daemon", .serialized)
struct ScenarioTests {
    static let header = """
        [site]
        id = "drill"
        [log]
        format = "json"
        [alert_socket]
        path = "{SOCKET}"

        """

    /// Each tag's events as "condition event", until they are `expected` or time runs out.
    func eventsByTag(_ c: SocketClient, until expected: [String: [String]], seconds: Double) -> [String: [String]] {
        var byTag: [String: [String]] = [:]
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, byTag != expected {
            guard let e = c.nextEvent(timeout: 0.5), let tag = e["tag"] as? String else { continue }
            byTag[tag, default: []].append("\(e["condition"] as? String ?? "?") \(e["event"] as? String ?? "?")")
        }
        return byTag
    }

    @Test func drillProducesItsAlarmSequence() throws {
        let dir = try TempDir(prefix: "hazmon-drill")
        defer { dir.remove() }
        let sim = try ChildProcess(hazmonBinary, ["simulate", "--scenario", repoRoot + "/Config/scenarios/drill.toml"],
                                   output: dir.path + "/sim.out")
        defer { sim.stop() }
        var ports: [String: Int] = [:]
        for _ in 0..<100 where ports.count < 2 {
            usleep(50_000)
            let text = (try? String(contentsOfFile: dir.path + "/sim.out", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.hasPrefix("simulate: device ") {
                let parts = line.split(separator: " ")
                if parts.count == 5, let port = Int(parts[4].split(separator: ":").last ?? "") { ports[String(parts[2])] = port }
            }
        }
        let panel = try #require(ports["gas-panel-1"]), pt = try #require(ports["pt-301"])
        let daemon = try DaemonUnderTest(config: Self.header + """
            [[modbus.device]]
            id = "gas-panel-1"
            url = "tcp://127.0.0.1:\(panel)"
            poll = "200ms"
            heartbeat = { table = "holding", address = 50, within = "2s" }
            [[modbus.device]]
            id = "pt-301"
            url = "tcp://127.0.0.1:\(pt)"
            poll = "200ms"
            timeout = "200ms"
            retries = 0
            comm_after = 2
            backoff_max = "1s"
            [[tag]]
            id = "GT-101"
            class = "combustible_gas"
            source = { modbus = "gas-panel-1", table = "input", address = 0, type = "float32", order = "CDAB" }
            [[tag]]
            id = "GT-102"
            class = "combustible_gas"
            source = { modbus = "gas-panel-1", table = "input", address = 2, type = "float32", order = "CDAB" }
            [[tag]]
            id = "LT-201"
            class = "level"
            unit = "%"
            source = { modbus = "gas-panel-1", table = "input", address = 10, signal = "4-20mA", scale = { raw = [4000, 20000], eu = [0, 100] } }
            alarms.l = { at = 10 }
            [[tag]]
            id = "PT-301"
            class = "pressure"
            unit = "MPa"
            source = { modbus = "pt-301", table = "holding", address = 0, scale = { raw = [0, 10000], eu = [0, 2.5] } }
            alarms.h = { at = 1.4 }
            """, dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        let expected: [String: [String]] = [
            "GT-101": ["h raised", "hh escalated"],
            "GT-102": ["h raised"],
            "LT-201": ["fault raised", "fault cleared"],
            "pt-301": ["comm raised", "comm cleared"],
        ]
        let byTag = eventsByTag(c, until: expected, seconds: 14)
        #expect(byTag == expected, "\(byTag)\n\(daemon.log.suffix(2000))")
    }

    /// Config/scenarios/gateway.toml: the simulator as an edge gateway publishing JSON on MQTT.
    /// A broker, the daemon with `tags` (TOML after `[mqtt]`), a subscriber, and the simulator
    /// playing `scenario` into the broker; `collect` reads the feed while it plays.
    func playOverMQTT<T>(_ scenario: String, tags: String, _ collect: (SocketClient) -> T) throws -> T {
        let dir = try TempDir(prefix: "hazmon-mqtt-scenario")
        defer { dir.remove() }
        let port = try FreePort.find()
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        let daemon = try DaemonUnderTest(config: Self.header + """
            [mqtt]
            url = "mqtt://127.0.0.1:\(port)"
            client_id = "hazmon-scenario-test"

            """ + tags, dir: dir)
        defer { daemon.stop() }
        for _ in 0..<200 where !daemon.log.contains("MQTT connected") { usleep(25_000) }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        let sim = try ChildProcess(hazmonBinary, ["simulate", "--scenario", repoRoot + "/Config/scenarios/" + scenario,
                                                  "--mqtt-url", "mqtt://127.0.0.1:\(port)"], output: dir.path + "/sim.out")
        defer { sim.stop() }
        return collect(c)
    }

    /// Config/scenarios/gateway.toml: the simulator as an edge gateway publishing JSON on MQTT:
    /// a toxic rise, a loop fault, a leak seen by two of three detectors (the third stuck, found
    /// frozen), a fast overpressure.
    @Test func gatewayScenarioOverMQTT() throws {
        let expected: [String: [String]] = [
            "AT-201": ["h raised"],
            "LT-402": ["fault raised", "fault cleared"],
            "GT-701": ["h raised", "hh escalated"],
            "GT-702": ["h raised", "hh escalated"],
            "GT-703": ["fault raised"],    // stuck since 1 s: frozen, a sensor fault, not a gas reading
            // GT-703 is bad: the vote says it degraded (its own fault) before the other two,
            // now a 1oo2, confirm the leak.
            "dike-7": ["fault raised", "vote raised"],
            "PT-704": ["hh raised"],       // a step past both limits: straight to hh
        ]
        let byTag = try playOverMQTT("gateway.toml", tags: """
            [[tag]]
            id = "AT-201"
            class = "toxic_gas"
            unit = "ppm"
            oel = 20
            source = { mqtt = "plant/store/nh3" }
            [[tag]]
            id = "LT-402"
            class = "level"
            unit = "%"
            source = { mqtt = "plant/t402/level" }
            alarms.l = { at = 10 }
            [[mqtt.map]]
            id = "dike7"
            topic = "plant/dike7/gas/+"
            tag = "{4}"
            [[tag]]
            id = "GT-701"
            class = "combustible_gas"
            source = { mqtt_map = "dike7" }
            [[tag]]
            id = "GT-702"
            class = "combustible_gas"
            source = { mqtt_map = "dike7" }
            [[tag]]
            id = "GT-703"
            class = "combustible_gas"
            source = { mqtt_map = "dike7" }
            frozen = { after = "3s" }
            [[vote]]
            id = "dike-7"
            name = "dike 7 leak confirmed (2oo3)"
            tags = ["GT-701", "GT-702", "GT-703"]
            k = 2
            condition = "hh"
            grade = 1
            [[tag]]
            id = "PT-704"
            class = "pressure"
            unit = "MPa"
            source = { mqtt = "plant/s7/pressure" }
            alarms.h = { at = 1.4 }
            alarms.hh = { at = 1.6 }
            """) { eventsByTag($0, until: expected, seconds: 14) }
        #expect(byTag == expected)
    }

    /// Config/scenarios/sparkplug.toml: the simulator as a Sparkplug B edge node: a ramp by
    /// alias (a hierarchical metric named explicitly), a failed loop as Quality 0, and the node
    /// dropping off the network (its will, NDEATH: comm) and coming back (a new birth: cleared).
    @Test func sparkplugEdgeNodeScenario() throws {
        let expected: [String: [String]] = [
            "GT-801": ["h raised"],
            "gc1-CH2": ["fault raised", "fault cleared"],
            "sparkplug:tankfarm/gc1": ["comm raised", "comm cleared"],
        ]
        let byTag = try playOverMQTT("sparkplug.toml", tags: """
            [[mqtt.sparkplug]]
            id = "tankfarm"
            group = "tankfarm"
            nodes = ["gc1"]
            tag = "{node}-{metric}"
            [[tag]]
            id = "GT-801"
            class = "combustible_gas"
            source = { sparkplug = "tankfarm", node = "gc1", metric = "Gas/CH1" }
            [[tag]]
            id = "gc1-CH2"
            class = "combustible_gas"
            source = { sparkplug = "tankfarm" }
            """) { eventsByTag($0, until: expected, seconds: 16) }
        #expect(byTag == expected)
    }

    /// Config/scenarios/neuron.toml: the simulator as an EMQX Neuron gateway: a ramp, and a
    /// failed loop as Neuron's per-tag error code (a fault naming it).
    @Test func neuronGatewayScenario() throws {
        let expected: [String: [String]] = [
            "gc-panel-ch1": ["h raised", "hh escalated"],
            "gc-panel-ch2": ["fault raised", "fault cleared"],
        ]
        let byTag = try playOverMQTT("neuron.toml", tags: """
            [[mqtt.map]]
            id = "neuron"
            topic = "neuron/+/upload"
            format = "neuron"
            tag = "{node}-{tag}"
            [[tag]]
            id = "gc-panel-ch1"
            class = "combustible_gas"
            source = { mqtt_map = "neuron" }
            [[tag]]
            id = "gc-panel-ch2"
            class = "combustible_gas"
            source = { mqtt_map = "neuron" }
            """) { eventsByTag($0, until: expected, seconds: 12) }
        #expect(byTag == expected)
    }

    /// Config/scenarios/flood.toml: twelve detectors pass their limit at once (a flood, marked,
    /// nothing dropped) and a noisy one sits at its limit (the deadband: one raise, no chatter).
    @Test func floodAndANoisySignalAtItsLimit() throws {
        let tags = (1...12).map { String(format: "GT-5%02d", $0) } + ["GT-599"]
        let events = try playOverMQTT("flood.toml", tags: """
            [[mqtt.map]]
            id = "farm"
            topic = "plant/farm/gas/+"
            tag = "{4}"

            """ + tags.map { "[[tag]]\nid = \"\($0)\"\nclass = \"combustible_gas\"\nsource = { mqtt_map = \"farm\" }\n" }.joined()) { c in
            var events: [[String: Any]] = []
            let deadline = Date().addingTimeInterval(8)
            while Date() < deadline { if let e = c.nextEvent(timeout: 0.5) { events.append(e) } }
            return events
        }
        let raised = Set(events.filter { $0["event"] as? String == "raised" }.compactMap { $0["tag"] as? String })
        #expect(raised.isSuperset(of: tags.dropLast()), "every detector's raise is there: \(raised.sorted())")
        #expect(events.contains { $0["condition"] as? String == "flood" && $0["event"] as? String == "flood_start" })
        #expect(events.contains { ($0["flags"] as? [String] ?? []).contains("flood") }, "later events are flagged flood")
        let noisy = events.filter { $0["tag"] as? String == "GT-599" }.compactMap { $0["event"] as? String }
        #expect(noisy.filter { $0 == "raised" }.count <= 1 && !noisy.contains("cleared"), "no chatter at the limit: \(noisy)")
    }

    @Test func scenarioMistakesNameFileLineAndKey() {
        let text = """
            speed = 0
            [[device]]
            id = "d"
            [[signal]]
            id = "S"
            device = "nope"
            address = 5000
            type = "4-20mA"
            [[event]]
            at = "1s"
            signal = "S"
            fault = "sideways"
            [[event]]
            at = "2s"
            """
        var errors: [String] = []
        do { _ = try ScenarioLoader.parse(text: text, file: "drill.toml") } catch { errors = error.errors.map(\.description) }
        #expect(errors.contains("drill.toml:1: speed: must be above 0 and at most 1000"), "\(errors)")
        #expect(errors.contains { $0.hasPrefix("drill.toml:6: signal \"S\": device: no [[device]] has id \"nope\"") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("drill.toml:7: signal \"S\": address: must be 0...999") })
        #expect(errors.contains { $0.contains("span: \"4-20mA\" needs span = [LOW, HIGH]") })
        #expect(errors.contains { $0.contains("fault: \"sideways\" is not low (3.5 mA) or high (21.5 mA)") })
        #expect(errors.contains { $0.contains("event #2") && $0.contains("an event names a signal") })
    }

    /// A gas controller's status word: common AL1 / AL2 / fault relays and a fault bit per
    /// channel; a channel in fault counts for no alarm.
    @Test func statusWordFollowsItsChannels() throws {
        let scenario = try ScenarioLoader.parse(text: """
            [[device]]
            id = "gc"
            status = { address = 40, channels = ["A", "B", "C"], alarm = [20, 40] }
            [[signal]]
            id = "A"
            device = "gc"
            address = 0
            base = 5
            [[signal]]
            id = "B"
            device = "gc"
            address = 2
            base = 5
            [[signal]]
            id = "C"
            device = "gc"
            address = 4
            base = 5
            [[event]]
            at = "1s"
            signal = "A"
            step = 25
            [[event]]
            at = "2s"
            signal = "B"
            step = 45
            [[event]]
            at = "3s"
            signal = "B"
            fault = "low"
            [[event]]
            at = "4s"
            signal = "B"
            restore = true
            """, file: "gc.toml")
        let status = try #require(scenario.devices[0].status)
        var plant = ScenarioPlant(scenario)
        var words: [UInt16] = []
        for t in [0.5, 1.5, 2.5, 3.5, 4.5] {
            plant.advance(to: t)
            words.append(plant.statusWord(status))
        }
        #expect(words == [0, 0b1, 0b11, 0b1 | 0b100 | 1 << 9, 0b11], "\(words.map { String($0, radix: 2) })")
    }

    /// `repeat`: the script starts over, signals from their base, devices back up.
    @Test func aRepeatingScriptPlaysEveryRound() throws {
        let scenario = try ScenarioLoader.parse(text: """
            repeat = "10s"
            [[device]]
            id = "d"
            [[signal]]
            id = "S"
            device = "d"
            address = 0
            base = 1
            [[event]]
            at = "1s"
            signal = "S"
            step = 50
            [[event]]
            at = "2s"
            device = "d"
            down = "1s"
            """, file: "round.toml")
        var plant = ScenarioPlant(scenario)
        var seen: [String] = []
        for t in [0.5, 1.5, 2.5, 3.5, 10.2, 11.5, 12.5, 13.5, 25.0] {
            plant.advance(to: t)
            seen.append("\(plant.value(0)) \(plant.isDown("d", at: t) ? "down" : "up")")
        }
        #expect(seen == ["1.0 up", "50.0 up", "50.0 down", "50.0 up", "1.0 up", "50.0 up", "50.0 down", "50.0 up", "50.0 up"])
    }

    @Test func statusWordAndRepeatMistakes() {
        let text = """
            repeat = "5s"
            [[device]]
            id = "gc"
            status = { address = 4000, channels = ["A", "Z"], alarm = [40, 20] }
            [[signal]]
            id = "A"
            device = "gc"
            address = 0
            [[event]]
            at = "6s"
            signal = "A"
            step = 1
            """
        var errors: [String] = []
        do { _ = try ScenarioLoader.parse(text: text, file: "gc.toml") } catch { errors = error.errors.map(\.description) }
        #expect(errors.contains { $0.hasPrefix("gc.toml:4: device \"gc\": status.address: must be 0...999") }, "\(errors)")
        #expect(errors.contains { $0.contains("status.channels: \"Z\" is not a signal of device \"gc\"") }, "\(errors)")
        #expect(errors.contains { $0.contains("status.alarm: must be [FIRST, SECOND]") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("gc.toml:1: repeat: 5s ends the script before its last event (at 6s)") }, "\(errors)")
    }

    /// The gateway's `[mqtt] format` keys: where each belongs, and events on the edge node.
    @Test func gatewayFormatMistakes() throws {
        func errors(_ text: String) -> [String] {
            do { _ = try ScenarioLoader.parse(text: text, file: "gw.toml"); return [] } catch { return error.errors.map(\.description) }
        }
        let json = errors("""
            [mqtt]
            node = "gc1"
            topic = "x"
            [[event]]
            at = "1s"
            device = "gc1"
            down = "1s"
            """)
        #expect(json.contains { $0.hasPrefix("gw.toml:2: mqtt.node: is for format = \"sparkplug\" or \"neuron\"") }, "\(json)")
        #expect(json.contains { $0.hasPrefix("gw.toml:3: mqtt.topic: is Neuron's upload topic") }, "\(json)")
        #expect(json.contains { $0.hasPrefix("gw.toml:6: event #1: device: no [[device]] has id \"gc1\"") }, "\(json)")
        let bad = errors("""
            [mqtt]
            format = "opcua"
            """)
        #expect(bad.contains { $0.hasPrefix("gw.toml:2: mqtt.format: \"opcua\" is not json, sparkplug or neuron") }, "\(bad)")
        // With a Sparkplug node, the node is an event target like a device.
        let ok = try ScenarioLoader.parse(text: """
            [mqtt]
            format = "sparkplug"
            group = "g"
            node = "gc1"
            [[event]]
            at = "1s"
            device = "gc1"
            down = "1s"
            """, file: "gw.toml")
        #expect(ok.mqttFormat == .sparkplug && ok.mqttGroup == "g" && ok.events.first?.target == "gc1")
    }
}
