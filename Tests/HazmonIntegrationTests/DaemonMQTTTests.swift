import Foundation
import HazmonDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// End to end with a real mosquitto, the real `hazmon run` binary and its real alert socket.
@Suite("Daemon: MQTT in, alarms out", .serialized)
struct DaemonMQTTTests {
    @Test func publishedValuesBecomeGradedAlarmsOnTheSocket() throws {
        let rig = try Rig()
        defer { rig.close() }
        #expect(rig.hello["type"] as? String == "hello")
        #expect(rig.hello["site"] as? String == "it-site")
        #expect(rig.hello["seq"] as? Int == 0)
        for v in ["25", "45", "30", "5"] { rig.publisher.publish("plant/t101/gas", v) }
        var events: [[String: Any]] = []
        for _ in 0..<4 {
            guard let e = rig.client.nextEvent() else { break }
            events.append(e)
        }
        try #require(events.count == 4, "log:\n\(rig.daemon.log)")
        #expect(events.map { $0["event"] as? String } == ["raised", "escalated", "deescalated", "cleared"])
        #expect(events.map { $0["condition"] as? String } == ["h", "hh", "h", "h"])
        #expect(events.map { $0["grade"] as? Int } == [3, 2, 3, 3])
        #expect(events.map { $0["color"] as? String } == ["yellow", "orange", "yellow", "yellow"])
        #expect(events.map { $0["seq"] as? Int } == [1, 2, 3, 4])
        #expect(events[0]["source"] as? String == "mqtt:plant/t101/gas")
        #expect(events[0]["unit"] as? String == "%LEL")
        // Each event is in the daemon's log too, as a JSON line.
        #expect(rig.daemon.log.contains(#""seq":4,"#))
    }

    /// A daemon that starts before its broker (a plant powering up) connects once the broker
    /// is there: libmosquitto alone never retries a first attempt that was refused.
    @Test func aDaemonStartedBeforeItsBrokerConnectsWhenItComes() throws {
        let dir = try TempDir(prefix: "hazmon-late-broker")
        defer { dir.remove() }
        let port = try FreePort.find()
        let daemon = try DaemonUnderTest(config: gasConfig(port: port), dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber(since: nil)
        defer { c.close() }
        usleep(1_500_000)
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        for _ in 0..<200 where !daemon.log.contains("MQTT connected") { usleep(50_000) }
        #expect(daemon.log.contains("MQTT connected"), "\(daemon.log.suffix(1500))")
        let publisher = try Publisher(port: port)
        publisher.publish("plant/t101/gas", "45")
        var raised = false
        while !raised, let e = c.nextEvent(timeout: 5) { raised = e["tag"] as? String == "GT-101" && e["event"] as? String == "raised" }
        #expect(raised, "values flow once the broker is up")
    }

    @Test func hostilePayloadsAreDroppedAndTheDaemonCarriesOn() throws {
        let rig = try Rig()
        defer { rig.close() }
        let garbage = ["NaN", "{", "", #"{"value":"25"}"#, "inf", String(repeating: "9", count: 70_000), "\u{0}\u{ff}"]
        for g in garbage { rig.publisher.publish("plant/t101/gas", g) }
        rig.publisher.publish("plant/t101/gas", "26")
        let e = rig.client.nextEvent()
        #expect(e?["event"] as? String == "raised")
        #expect(e?["value"] as? Double == 26)
        #expect(rig.daemon.child.isRunning)
        let log = rig.daemon.log
        #expect(log.contains("MQTT payload dropped"))
        #expect(log.contains(#""dropped_total":"#))   // bad payloads are counted, not only logged
        #expect(log.contains("oversized") || log.contains("exceeds max_payload"))
    }

    @Test func brokerRestartDoesNotKillTheDaemonAndTelemetryResumes() throws {
        let rig = try Rig()
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "25")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        rig.broker.stop()
        // Losing the broker is itself an alarm: comm on the connection "mqtt".
        let lost = rig.client.nextEvent()
        #expect(lost?["tag"] as? String == "mqtt" && lost?["condition"] as? String == "comm" && lost?["event"] as? String == "raised")
        #expect(rig.daemon.child.isRunning, "the daemon died with the broker")
        rig.broker = try Broker.start(port: rig.port, dir: rig.dir.path)
        // The daemon and the publisher both reconnect by themselves (backoff 1...2 s here).
        var seen: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(20)
        while !seen.contains(where: { $0["tag"] as? String == "GT-101" }) && Date() < deadline {
            rig.publisher.publish("plant/t101/gas", "5", mayFail: true)
            while let e = rig.client.nextEvent(timeout: 1) { seen.append(e) }
        }
        let gas = seen.first { $0["tag"] as? String == "GT-101" }
        #expect(gas?["event"] as? String == "cleared", "log:\n\(rig.daemon.log)")
        #expect(seen.contains { $0["tag"] as? String == "mqtt" && $0["event"] as? String == "cleared" })
        #expect(rig.daemon.log.contains("MQTT reconnected"))
    }

    @Test func mappedAndBatchTopics() throws {
        let rig = try Rig(extra: """
            [[mqtt.map]]
            id = "gas"
            topic = "gw/+/gas"
            tag = "{2}"
            [[mqtt.map]]
            id = "batch"
            topic = "gw/batch"
            batch = true
            [[tag]]
            id = "GT-102"
            class = "combustible_gas"
            source = { mqtt_map = "gas" }
            [[tag]]
            id = "PT-1"
            unit = "MPa"
            source = { mqtt_map = "batch" }
            alarms.h = { at = 1.4 }
            """)
        defer { rig.close() }
        rig.publisher.publish("gw/GT-102/gas", #"{"value":30,"quality":"good"}"#)
        let e1 = rig.client.nextEvent()
        #expect(e1?["tag"] as? String == "GT-102" && e1?["event"] as? String == "raised")
        rig.publisher.publish("gw/batch", #"[{"tag":"PT-1","value":1.5},{"tag":"UNKNOWN","value":9}]"#)
        let e2 = rig.client.nextEvent()
        #expect(e2?["tag"] as? String == "PT-1" && e2?["limit"] as? Double == 1.4)
        #expect(rig.daemon.log.contains("MQTT message not mapped to a tag"))
    }
}
