import Foundation
import HazmonDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A Sparkplug B edge node hazmon did not write (Tests/Fixtures/sparkplug_edge.py: Google's
/// protobuf runtime with the official Tahu schema, paho-mqtt), through the real broker and daemon.
final class SparkplugEdge {
    let process = Process()
    let stdin = Pipe()
    let outputPath: String

    init(port: Int, dir: TempDir, group: String, node: String, spec: String, name: String = "edge") throws {
        outputPath = dir.path + "/\(name).out"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repoRoot + "/Tests/Fixtures/sparkplug_edge.py", "--port", "\(port)", "--group", group,
                             "--node", node, "--spec", spec]
        process.standardInput = stdin
        let out = FileHandle(forWritingAtPath: outputPath)!
        process.standardOutput = out
        process.standardError = out
        try process.run()
        guard waitFor("BORN") else { throw TestFailure("the Sparkplug edge never connected:\n\(output)") }
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func waitFor(_ text: String, count: Int = 1, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.components(separatedBy: text).count - 1 >= count { return true }
            if !process.isRunning { return false }
            usleep(20_000)
        }
        return false
    }

    /// Sends one command and waits for its "OK".
    func send(_ command: String) {
        let oks = output.components(separatedBy: "OK").count - 1
        stdin.fileHandleForWriting.write(Data((command + "\n").utf8))
        #expect(waitFor("OK", count: oks + 1), "edge did not do \(command):\n\(output)")
    }

    /// SIGKILL: the broker publishes the edge's NDEATH will.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill() }
    }
}

@Suite("Sparkplug B edge nodes in the daemon", .serialized)
struct SparkplugDaemonTests {
    static let spec = #"{"metrics": [{"name": "CH4", "alias": 1, "type": "Double", "value": 2.0}, {"name": "Door", "alias": 2, "type": "Boolean", "value": false}], "devices": {"panel": [{"name": "Temp", "alias": 10, "type": "Int16", "value": -3}]}}"#

    static let extra = """
        [[mqtt.sparkplug]]
        id = "spb"
        group = "plant"
        nodes = ["gc1", "gc1/panel"]
        tag = "{node}-{metric}"
        birth_timeout = "3s"
        [[tag]]
        id = "gc1-CH4"
        unit = "%LEL"
        class = "combustible_gas"
        source = { sparkplug = "spb" }
        [[tag]]
        id = "TT-7"
        unit = "degC"
        source = { sparkplug = "spb", node = "gc1", device = "panel", metric = "Temp" }
        alarms.l = { at = -10, grade = 3 }
        """

    /// Events until `want` ("tag/condition/event", `*` for any condition) is seen, or nil after `timeout`.
    static func await(_ rig: Rig, _ want: String, timeout: Double = 10) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        let parts = want.split(separator: "/").map(String.init)
        while deadline.timeIntervalSinceNow > 0 {
            guard let e = rig.client.nextEvent(timeout: deadline.timeIntervalSinceNow) else { return nil }
            let tag = e["tag"] as? String ?? "", condition = e["condition"] as? String ?? "", event = e["event"] as? String ?? ""
            // A tag id may hold '/': the last two parts are condition and event.
            let wantTag = parts.dropLast(2).joined(separator: "/")
            if tag == wantTag, parts[parts.count - 2] == "*" || parts[parts.count - 2] == condition, parts.last == event { return e }
        }
        return nil
    }

    @Test func birthDataGapRebirthDeathAndBirthAgain() throws {
        let rig = try Rig(extra: Self.extra, mqttKeys: #"sparkplug_host = "hazmon-it""#)
        defer { rig.close() }
        // The host's STATE, retained: {"online":true,...}.
        let state = try Self.retained(port: rig.port, topic: "spBv1.0/STATE/hazmon-it")
        #expect(state.contains("\"online\":true"), "STATE: \(state)")

        let edge = try SparkplugEdge(port: rig.port, dir: rig.dir, group: "plant", node: "gc1", spec: Self.spec)
        // Births carry values: by alias from here on. A value over h and hh raises hh (orange).
        edge.send("data CH4 45")
        let hh = Self.await(rig, "gc1-CH4/hh/raised")
        #expect(hh?["value"] as? Double == 45 && hh?["grade"] as? Int == 2, "\(String(describing: hh))\n\(rig.daemon.log.suffix(3000))")
        // A device metric, signed Int16 by its two's complement, named explicitly.
        edge.send("data Temp -12")
        let low = Self.await(rig, "TT-7/l/raised")
        #expect(low?["value"] as? Double == -12, "\(String(describing: low))")

        // A seq gap: the host asks for a rebirth (observed by the edge, through the broker).
        edge.send("gap")
        edge.send("data CH4 46")
        #expect(edge.waitFor("REBIRTH 1"), "no rebirth request:\n\(edge.output)\n\(rig.daemon.log.suffix(3000))")
        // The rebirth's value (2 %LEL) clears the alarm; data by alias counts again after it.
        #expect(Self.await(rig, "gc1-CH4/*/cleared") != nil, "the rebirth's value did not clear CH4\n\(rig.daemon.log.suffix(3000))")
        edge.send("data CH4 30")
        #expect(Self.await(rig, "gc1-CH4/h/raised")?["value"] as? Double == 30, "data after the rebirth was not read")
        edge.send("data CH4 1")

        // is_null: a fault, never a reading.
        edge.send("null CH4")
        let fault = Self.await(rig, "gc1-CH4/fault/raised")
        #expect((fault?["message"] as? String)?.contains("no value") == true, "\(String(describing: fault))")
        edge.send("data CH4 1")

        // The edge crashes: its will (NDEATH) raises comm on the node.
        edge.kill()
        let comm = Self.await(rig, "sparkplug:plant/gc1/comm/raised")
        #expect(comm != nil, "no comm on NDEATH\n\(rig.daemon.log.suffix(3000))")
        #expect((comm?["message"] as? String)?.contains("NDEATH") == true, "\(String(describing: comm))")
        // It comes back: births clear the comm alarm.
        let again = try SparkplugEdge(port: rig.port, dir: rig.dir, group: "plant", node: "gc1", spec: Self.spec, name: "edge2")
        #expect(Self.await(rig, "sparkplug:plant/gc1/comm/cleared") != nil, "comm not cleared by the rebirth\n\(rig.daemon.log.suffix(3000))")
        again.send("quit")
    }

    @Test func aNodeThatNeverBirthsRaisesCommAndHostileDataIsCounted() throws {
        let rig = try Rig(extra: Self.extra)
        defer { rig.close() }
        // Nobody births gc1: after birth_timeout (3 s) its comm alarm is up, naming the wait.
        let comm = Self.await(rig, "sparkplug:plant/gc1/comm/raised", timeout: 15)
        #expect((comm?["message"] as? String)?.contains("no NBIRTH") == true, "\(String(describing: comm))")
        // Garbage on a Sparkplug topic is counted, never fatal.
        rig.publisher.publish("spBv1.0/plant/NDATA/gc1", "\u{1}\u{2}garbage")
        rig.publisher.publish("spBv1.0/plant/NDATA/gc9", "")
        let edge = try SparkplugEdge(port: rig.port, dir: rig.dir, group: "plant", node: "gc1", spec: Self.spec)
        #expect(Self.await(rig, "sparkplug:plant/gc1/comm/cleared") != nil)
        edge.send("raw 0a0512")         // truncated protobuf
        edge.send("data CH4 25")        // ...and the node's data still counts (seq unchanged by garbage)
        #expect(Self.await(rig, "gc1-CH4/h/raised") != nil, "\(rig.daemon.log.suffix(3000))")
        let log = rig.daemon.log
        #expect(log.contains("not a Sparkplug B payload"), "\(log.suffix(3000))")
        edge.send("quit")
    }

    /// The retained message on `topic`, read with mosquitto_sub.
    static func retained(port: Int, topic: String) throws -> String {
        for _ in 0..<50 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
            p.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-C", "1", "-W", "2"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if !text.isEmpty { return text }
        }
        return ""
    }
}
