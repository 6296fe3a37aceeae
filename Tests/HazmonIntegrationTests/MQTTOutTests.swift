import Foundation
import HazmonDaemon
import HazmonJournal
import HazmonMQTT
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A park platform's MQTT subscriber: collects every message under `hazmon/#`.
final class Watcher: Sendable {
    final class Log: Sendable {
        let list = Mutex<[(topic: String, payload: String)]>([])
        func withLock<R>(_ body: (inout [(topic: String, payload: String)]) -> R) -> R { list.withLock { body(&$0) } }
    }

    let client: MosquittoClient
    let messages = Log()

    /// `persistentID`: a persistent session under that client id (its subscription and queued
    /// messages outlive a disconnect, and with a persistent broker a broker restart).
    init(port: Int, persistentID: String? = nil) throws {
        let box = messages
        client = try MosquittoClient(
            options: BrokerOptions(host: "127.0.0.1", port: port, clientID: persistentID ?? "watcher-\(UInt32.random(in: 0...UInt32.max))",
                                   cleanSession: persistentID == nil, reconnectMinSeconds: 1, reconnectMaxSeconds: 1),
            subscriptions: ["hazmon/#"], qos: 1, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            onMessage: { topic, payload in box.withLock { $0.append((topic, String(decoding: payload, as: UTF8.self))) } })
        try client.start()
    }

    /// Waits until a message on `topic` matches, and returns its payload.
    func wait(_ topic: String, timeout: Double = 10, where ok: (String) -> Bool = { _ in true }) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let m = messages.withLock({ $0.last { $0.topic == topic && ok($0.payload) } }) { return m.payload }
            usleep(20_000)
        }
        return nil
    }

    func payloads(_ topic: String) -> [String] { messages.withLock { $0.filter { $0.topic == topic }.map(\.payload) } }

    deinit { client.stop() }
}

@Suite("MQTT out: events, retained states, online status", .serialized)
struct MQTTOutTests {
    static let publish = """
        [mqtt.publish]
        topic = "hazmon/{site}/alarms/{tag}"
        """

    @Test func eventsStatesAndStatus() throws {
        let rig = try Rig(extra: Self.publish)
        defer { rig.close() }
        let w = try Watcher(port: rig.port)
        #expect(w.wait("hazmon/it-site/status") == "online", "retained online status")
        rig.publisher.publish("plant/t101/gas", "45")
        let raised = w.wait("hazmon/it-site/alarms/GT-101") { $0.contains(#""event":"raised""#) }
        #expect(raised?.contains(#""condition":"hh""#) == true && raised?.contains(#""seq":1"#) == true)
        #expect(w.wait("hazmon/it-site/state/GT-101/high")?.contains(#""state":"unack""#) == true)
        // Acknowledge, then clear: the retained state goes (an empty retained message).
        let ops = try SocketClient(path: rig.daemon.socketPath)
        defer { ops.close() }
        _ = ops.readJSON()
        ops.send(#"{"type":"ack","tag":"GT-101","condition":"hh","user":"zhang"}"#)
        #expect(ops.readJSON()?["type"] as? String == "ok")
        rig.publisher.publish("plant/t101/gas", "2")
        #expect(w.wait("hazmon/it-site/alarms/GT-101") { $0.contains(#""event":"cleared""#) } != nil)
        #expect(w.wait("hazmon/it-site/state/GT-101/high") { $0.isEmpty } != nil)
        let events = w.payloads("hazmon/it-site/alarms/GT-101").map { $0.contains(#""seq":"#) ? String($0.split(separator: ",")[2]) : "?" }
        #expect(events == [#""seq":1"#, #""seq":2"#, #""seq":3"#], "every event once, in order")

        // A late subscriber sees the status, and no state for an alarm back to normal.
        rig.publisher.publish("plant/t101/gas", "25")
        #expect(w.wait("hazmon/it-site/state/GT-101/high") { $0.contains(#""condition":"h""#) } != nil)
        let late = try Watcher(port: rig.port)
        #expect(late.wait("hazmon/it-site/status") == "online")
        #expect(late.wait("hazmon/it-site/state/GT-101/high")?.contains(#""state":"unack""#) == true)

        // A clean stop says offline.
        rig.daemon.stop()
        #expect(w.wait("hazmon/it-site/status") { $0 == "offline" } != nil)
    }

    @Test func theBrokerPublishesOfflineWhenTheDaemonDies() throws {
        let rig = try Rig(extra: Self.publish)
        defer { rig.close() }
        let w = try Watcher(port: rig.port)
        #expect(w.wait("hazmon/it-site/status") == "online")
        rig.daemon.crash()
        #expect(w.wait("hazmon/it-site/status") { $0 == "offline" } != nil, "the last will")
    }

    @Test func eventsDuringABrokerOutageArriveAfterIt() throws {
        let rig = try Rig(extra: Self.publish)
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        rig.broker.stop()
        #expect(rig.client.nextEvent()?["tag"] as? String == "mqtt")
        // An operator shelves the alarm while the broker is away.
        let ops = try SocketClient(path: rig.daemon.socketPath)
        defer { ops.close() }
        _ = ops.readJSON()
        ops.send(#"{"type":"shelve","tag":"GT-101","condition":"hh","user":"li","note":"maintenance","for":"1h"}"#)
        #expect(ops.readJSON()?["type"] as? String == "ok")
        rig.broker = try Broker.start(port: rig.port, dir: rig.dir.path)
        // The broker is new (no retained messages): only the daemon's queued publishes can
        // put the shelved state there.
        let w = try Watcher(port: rig.port)
        let state = w.wait("hazmon/it-site/state/GT-101/high", timeout: 20) { $0.contains(#""event":"shelved""#) }
        #expect(state != nil, "the event published during the outage arrives after it")
        #expect(w.wait("hazmon/it-site/status") == "online")
    }

    /// MQTT out reads the journal as a cursor: the broker stops, alarms and operator actions
    /// happen, the daemon is killed (SIGKILL, its MQTT queue gone with it) and started again,
    /// then the broker comes back: a persistent subscriber gets every event exactly once, in
    /// order; nothing was lost with the daemon's memory.
    @Test func aBrokerOutageAcrossADaemonCrashLosesNothing() throws {
        let dir = try TempDir(prefix: "hazmon-mqttout")
        defer { dir.remove() }
        let port = try FreePort.find()
        var broker = try Broker.start(port: port, dir: dir.path, persistent: true)
        defer { broker.stop() }
        let config = gasConfig(port: port, extra: Self.publish)
        var daemon = try DaemonUnderTest(config: config, dir: dir)
        defer { daemon.stop() }
        for _ in 0..<200 where !daemon.log.contains("MQTT connected") { usleep(25_000) }
        let w = try Watcher(port: port, persistentID: "platform-witness")
        #expect(w.wait("hazmon/it-site/status") == "online")
        let publisher = try Publisher(port: port)
        publisher.publish("plant/t101/gas", "45")
        #expect(w.wait("hazmon/it-site/alarms/GT-101") { $0.contains(#""event":"raised""#) } != nil)
        usleep(300_000)   // the cursor is written right after the broker's acknowledgement

        broker.stop()      // a clean stop: the broker saves the witness's session
        let ops = try SocketClient(path: daemon.socketPath)
        _ = ops.readJSON()
        ops.send(#"{"type":"ack","tag":"GT-101","condition":"hh","user":"zhang"}"#)
        #expect(ops.readJSON()?["type"] as? String == "ok")
        ops.send(#"{"type":"shelve","tag":"GT-101","condition":"hh","user":"li","note":"maintenance","for":"1h"}"#)
        #expect(ops.readJSON()?["type"] as? String == "ok")
        ops.close()
        usleep(300_000)
        daemon.crash()
        daemon = try DaemonUnderTest(config: config, dir: dir, log: "run2.log")
        broker = try Broker.start(port: port, dir: dir.path, persistent: true)

        let path = daemon.journalPath
        func journaled() -> [Int] {
            let entries: [JournalEntry] = (try? JournalReader(path: path).events()) ?? []
            return entries.map { Int($0.seq) }
        }
        func seqs() -> [Int] {
            w.messages.withLock { m in
                m.filter { $0.topic.hasPrefix("hazmon/it-site/alarms/") }.compactMap { msg -> Int? in
                    guard let r = msg.payload.range(of: #""seq":"#) else { return nil }
                    return Int(msg.payload[r.upperBound...].prefix { $0.isNumber })
                }
            }
        }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, seqs() != journaled() || journaled().count < 5 { usleep(100_000) }
        let got = seqs(), want = journaled()
        #expect(got == want, "every journaled event once, in order: got \(got), journal \(want)\n\(daemon.log.suffix(3000))")
        #expect(got.count >= 5, "raised, mqtt comm raised, acknowledged, shelved, comm cleared … (\(got.count))")
    }

    @Test func badPublishTopicsAreConfigErrors() throws {
        let dir = try TempDir(prefix: "hazmon-pubcfg")
        defer { dir.remove() }
        try (gasConfig(port: 1883) + """

            [mqtt.publish]
            topic = "hazmon/{site}/+/{tag}"
            state_topic = "x/{nope}"
            """).write(toFile: dir.path + "/hazmon.toml", atomically: true, encoding: .utf8)
        let out = dir.path + "/out"
        let code = try ChildProcess(hazmonBinary, ["check", dir.path + "/hazmon.toml"], output: out).wait()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(code == 78)
        #expect(text.contains("mqtt.publish.topic: \"hazmon/{site}/+/{tag}\": a publish topic cannot hold the wildcards + or #"))
        #expect(text.contains("mqtt.publish.state_topic: \"x/{nope}\": unknown placeholder {nope}"))
    }
}
