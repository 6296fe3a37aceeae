import Foundation
import HazmonDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The repository's root (tests find their fixtures from here).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// pymodbus serving a register image (Tests/Fixtures/modbus_peer.py): an independent Modbus
/// implementation on a loopback port or a serial device.
final class ModbusPeer {
    let dir: TempDir
    let image: String
    let requests: String
    let args: [String]
    var child: ChildProcess?
    let name: String

    /// `units`: unit id → table → address → values, as the peer's JSON image.
    init(dir: TempDir, name: String, units: [Int: [String: [Int: [Int]]]], heartbeat: String? = nil, listen: [String]) throws {
        self.dir = dir
        self.name = name
        image = dir.path + "/\(name).json"
        requests = dir.path + "/\(name).requests"
        args = [repoRoot + "/Tests/Fixtures/modbus_peer.py", "--image", image, "--log", requests] + listen
        try write(units, heartbeat: heartbeat)
        try start()
    }

    func write(_ units: [Int: [String: [Int: [Int]]]], heartbeat: String? = nil) throws {
        var u: [String] = []
        for (unit, tables) in units {
            let t = tables.map { table, cells in
                "\"\(table)\": {" + cells.map { "\"\($0.key)\": [\($0.value.map(String.init).joined(separator: ","))]" }.joined(separator: ",") + "}"
            }
            u.append("\"\(unit)\": {" + t.joined(separator: ",") + "}")
        }
        let json = "{\"units\": {" + u.joined(separator: ",") + "}" + (heartbeat.map { ", \"heartbeat\": \($0)" } ?? "") + "}"
        // Atomic replace, so the peer never reads half a file.
        try json.write(toFile: image, atomically: true, encoding: .utf8)
    }

    func start() throws {
        child = try ChildProcess("/usr/bin/env", ["python3"] + args, output: dir.path + "/\(name).log")
    }

    func stop() {
        child?.stop()
        child = nil
    }

    /// (unit, start address, monotonic seconds) of every read the peer answered.
    var answered: [(unit: Int, address: Int, at: Double)] {
        ((try? String(contentsOfFile: requests, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 5, let u = Int(f[0]), let a = Int(f[2]), let t = Double(f[4]) else { return nil }
            return (u, a, t)
        }
    }

    deinit { stop() }
}

/// Waits until a TCP port on 127.0.0.1 accepts connections.
func waitForPort(_ port: Int, seconds: Double = 10) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if Broker.canConnect(port: port) { return true }
        usleep(50_000)
    }
    return false
}

/// A listening socket that never accepts nor answers: a blackholed device.
final class SilentListener {
    let fd: Int32
    let port: Int
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw TestFailure("cannot open a silent listener") }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }
    deinit { close(fd) }
}

/// Float32 as two registers in ABCD order, and in CDAB.
func abcd(_ f: Float) -> [Int] { let b = f.bitPattern; return [Int(b >> 16), Int(b & 0xFFFF)] }
func cdab(_ f: Float) -> [Int] { Array(abcd(f).reversed()) }

func modbusConfig(_ devices: String, tags: String) -> String {
    """
    [site]
    id = "mb-site"
    [log]
    format = "json"
    level = "debug"
    [alert_socket]
    path = "{SOCKET}"
    \(devices)
    \(tags)
    """
}

@Suite("Modbus acquisition against pymodbus", .serialized)
struct ModbusIntegrationTests {
    func events(_ c: SocketClient, until done: ([[String: Any]]) -> Bool, timeout: Double = 15) -> [[String: Any]] {
        var seen: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, !done(seen) {
            if let e = c.nextEvent(timeout: 0.5) { seen.append(e) }
        }
        return seen
    }

    func has(_ seen: [[String: Any]], _ tag: String, _ condition: String, _ event: String) -> [String: Any]? {
        seen.first { $0["tag"] as? String == tag && $0["condition"] as? String == condition && $0["event"] as? String == event }
    }

    /// Values, word orders, scaling, 4–20 mA, bits; an exception response; the peer killed and
    /// restarted: comm alarm, then its clearing and fresh values.
    @Test func valuesExceptionsAndRecovery() throws {
        let dir = try TempDir(prefix: "hazmon-mb")
        defer { dir.remove() }
        let port = try FreePort.find()
        let peer = try ModbusPeer(dir: dir, name: "panel", units: [1: [
            "input": [0: cdab(45.5) + abcd(12.25) + cdab(50), 10: [3_500]],
            "holding": [0: [0x0080], 100: [7_000]],
        ]], listen: ["--tcp", "\(port)"])
        #expect(waitForPort(port), "the Modbus peer did not start")
        let daemon = try DaemonUnderTest(config: modbusConfig("""
            [[modbus.device]]
            id = "gas-panel-1"
            url = "tcp://127.0.0.1:\(port)"
            poll = "200ms"
            timeout = "300ms"
            retries = 0
            comm_after = 2
            backoff_max = "1s"
            """, tags: """
            [[tag]]
            id = "GT-201"
            class = "combustible_gas"
            source = { modbus = "gas-panel-1", table = "input", address = "30001", type = "float32", order = "CDAB" }
            alarms.h = { at = 20 }
            alarms.hh = { at = 40 }
            [[tag]]
            id = "AT-202"
            class = "toxic_gas"
            oel = 20
            unit = "ppm"
            source = { modbus = "gas-panel-1", table = "input", address = 2, type = "float32" }
            alarms.h = { at = 10 }
            [[tag]]
            id = "LT-203"
            class = "level"
            source = { modbus = "gas-panel-1", table = "input", address = 10, signal = "4-20mA", scale = { raw = [4000, 20000], eu = [0, 100] } }
            alarms.l = { at = 10 }
            [[tag]]
            id = "GT-204-HIGH"
            class = "none"
            source = { modbus = "gas-panel-1", table = "holding", address = 0, type = "bit", bit = 7 }
            alarms.h = { at = 0.5 }
            [[tag]]
            id = "PT-205"
            class = "pressure"
            unit = "MPa"
            source = { modbus = "gas-panel-1", table = "holding", address = 100, scale = { raw = [0, 10000], eu = [0, 2.5] } }
            alarms.h = { at = 1.6 }
            [[tag]]
            id = "PT-206"
            class = "pressure"
            source = { modbus = "gas-panel-1", table = "holding", address = 180 }
            alarms.h = { at = 1 }
            [[tag]]
            id = "GT-207"
            class = "combustible_gas"
            source = { modbus = "gas-panel-1", table = "input", address = 4, type = "float32", order = "CDAB", fault_bit = { table = "holding", address = 0, bit = 7 } }
            """), dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        var seen = events(c) { s in s.filter { ["GT-201", "AT-202", "LT-203", "GT-204-HIGH", "PT-205", "GT-207"].contains($0["tag"] as? String) }.count >= 6 }
        #expect(has(seen, "GT-201", "hh", "raised")?["value"] as? Double == 45.5, "CDAB float from 30001")
        #expect(has(seen, "AT-202", "h", "raised")?["value"] as? Double == 12.25, "ABCD float")
        let loop = has(seen, "LT-203", "fault", "raised")
        #expect((loop?["message"] as? String)?.contains("loop current 3.5 mA (NAMUR NE 43") == true, "3.5 mA is a sensor fault")
        #expect(has(seen, "GT-204-HIGH", "h", "raised") != nil, "bit 7 of the status word")
        #expect(has(seen, "PT-205", "h", "raised")?["value"] as? Double == 1.75, "7000 counts scaled to 1.75 MPa")
        // Holding 180 is inside the peer's 200 registers; the gap to 100 keeps it a separate read.
        #expect(has(seen, "PT-206", "fault", "raised") == nil)
        // The controller's fault bit for GT-207's channel is set: a fault, not a gas alarm, though
        // the value reads 50 %LEL.
        #expect((has(seen, "GT-207", "fault", "raised")?["message"] as? String)?.contains("the device reports a fault (holding 0 bit 7 set)") == true, "\(seen)")
        #expect(!seen.contains { $0["tag"] as? String == "GT-207" && $0["condition"] as? String != "fault" })

        // The peer dies: after comm_after failed polls, the device's comm alarm.
        peer.stop()
        let lost = events(c) { has($0, "gas-panel-1", "comm", "raised") != nil }
        #expect(has(lost, "gas-panel-1", "comm", "raised") != nil, "a dead peer raises the device's comm alarm")
        // Fresh values after the restart: GT-201 falls to 30 (deescalated to h).
        try peer.write([1: ["input": [0: cdab(30), 4: cdab(50), 10: [12_000]], "holding": [0: [0], 100: [1_000]]]])
        try peer.start()
        #expect(waitForPort(port))
        seen = events(c) { s in
            has(s, "gas-panel-1", "comm", "cleared") != nil && has(s, "GT-201", "h", "deescalated") != nil && has(s, "GT-207", "hh", "raised") != nil
        }
        #expect(has(seen, "gas-panel-1", "comm", "cleared") != nil, "the comm alarm clears on recovery")
        #expect(has(seen, "GT-201", "h", "deescalated")?["value"] as? Double == 30, "fresh values after the restart")
        #expect(has(seen, "GT-207", "fault", "cleared") != nil && has(seen, "GT-207", "hh", "raised")?["value"] as? Double == 50,
                "the fault bit cleared: the value counts again")
        #expect(daemon.log.contains("Modbus device down") && daemon.log.contains("Modbus device back"))
    }

    @Test func anExceptionResponseMakesTheTagBadWithTheReason() throws {
        let dir = try TempDir(prefix: "hazmon-mbx")
        defer { dir.remove() }
        let port = try FreePort.find()
        let peer = try ModbusPeer(dir: dir, name: "panel", units: [1: ["holding": [0: [5]]]], listen: ["--tcp", "\(port)"])
        _ = peer
        #expect(waitForPort(port))
        let metricsPort = try FreePort.find()
        let daemon = try DaemonUnderTest(config: modbusConfig("""
            [metrics]
            listen = "127.0.0.1:\(metricsPort)"
            [[modbus.device]]
            id = "plc"
            url = "tcp://127.0.0.1:\(port)"
            poll = "200ms"
            """, tags: """
            [[tag]]
            id = "PT-1"
            class = "pressure"
            source = { modbus = "plc", table = "holding", address = 0 }
            alarms.h = { at = 1 }
            [[tag]]
            id = "PT-2"
            class = "pressure"
            source = { modbus = "plc", table = "holding", address = 500 }
            alarms.h = { at = 1 }
            """), dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        let seen = events(c) { has($0, "PT-2", "fault", "raised") != nil && has($0, "PT-1", "h", "raised") != nil }
        let fault = has(seen, "PT-2", "fault", "raised")
        #expect((fault?["message"] as? String)?.contains("Modbus exception 2 (illegal data address) reading holding 500+1") == true)
        #expect(has(seen, "PT-1", "h", "raised")?["value"] as? Double == 5, "the good block still arrives")
        #expect(has(seen, "plc", "comm", "raised") == nil, "an exception is not a dead link")
        // Poll latency per device and samples per source reach the metrics endpoint.
        let text = httpGet(port: metricsPort, path: "/metrics")?.1 ?? ""
        #expect(text.contains(#"hazmon_modbus_poll_seconds_count{device="plc"}"#), "\(text)")
        #expect(text.contains(#"hazmon_samples_total{source="modbus"}"#))
    }

    /// Answers that are not the answer: a wrong byte count, another unit, another function,
    /// garbage. Each is a failed poll with its reason (never a value), `comm_after` of them
    /// raise the device's comm alarm, and the healthy device beside it is served throughout.
    @Test func garbledAnswersAreFailedPollsNeverValues() throws {
        let dir = try TempDir(prefix: "hazmon-mbg")
        defer { dir.remove() }
        let port = try FreePort.find(), badPort = try FreePort.find()
        let peer = try ModbusPeer(dir: dir, name: "ok", units: [1: ["input": [0: [7]]]], listen: ["--tcp", "\(port)"])
        defer { peer.stop() }
        let garbler = try ChildProcess("/usr/bin/env", ["python3", repoRoot + "/Tests/Fixtures/garbled_modbus.py", "\(badPort)"],
                                       output: dir.path + "/garbler.log")
        defer { garbler.stop() }
        #expect(waitForPort(port) && waitForPort(badPort))
        let daemon = try DaemonUnderTest(config: modbusConfig("""
            [[modbus.device]]
            id = "healthy"
            url = "tcp://127.0.0.1:\(port)"
            poll = "200ms"
            [[modbus.device]]
            id = "garbled"
            url = "tcp://127.0.0.1:\(badPort)"
            poll = "200ms"
            retries = 0
            comm_after = 5
            backoff_max = "1s"
            """, tags: """
            [[tag]]
            id = "OK-1"
            class = "pressure"
            source = { modbus = "healthy", table = "input", address = 0 }
            alarms.h = { at = 5 }
            [[tag]]
            id = "BAD-1"
            class = "pressure"
            source = { modbus = "garbled", table = "input", address = 0, type = "float32" }
            alarms.h = { at = -1 }
            [[tag]]
            id = "BAD-2"
            class = "pressure"
            source = { modbus = "garbled", table = "input", address = 8, type = "uint16" }
            alarms.l = { at = 1000 }
            """), dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        let seen = events(c) { has($0, "garbled", "comm", "raised") != nil && has($0, "OK-1", "h", "raised") != nil }
        #expect(has(seen, "garbled", "comm", "raised") != nil, "\(daemon.log.suffix(3000))")
        #expect(has(seen, "OK-1", "h", "raised")?["value"] as? Double == 7, "the healthy device is served")
        #expect(!seen.contains { ($0["tag"] as? String ?? "").hasPrefix("BAD-") }, "no value from a garbled answer: \(seen)")
        for reason in ["answer carries 2 bytes, 18 expected", "answer from unit 99, asked unit 1", "answer to function 3, asked function 4"] {
            #expect(daemon.log.contains(reason), "\(reason) is logged")
        }
        #expect(daemon.child.isRunning)
    }

    /// A blackholed device (accepts, never answers) beside a healthy one: the healthy device's
    /// poll period stays within 10 % of its setting, as the peer's own request log shows.
    @Test func aDeadDeviceNeverDelaysAHealthyOne() throws {
        let dir = try TempDir(prefix: "hazmon-mbd")
        defer { dir.remove() }
        let port = try FreePort.find()
        let peer = try ModbusPeer(dir: dir, name: "ok", units: [1: ["input": [0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]]],
                                  listen: ["--tcp", "\(port)"])
        #expect(waitForPort(port))
        let hole = try SilentListener()
        let daemon = try DaemonUnderTest(config: modbusConfig("""
            [[modbus.device]]
            id = "healthy"
            url = "tcp://127.0.0.1:\(port)"
            poll = "200ms"
            [[modbus.device]]
            id = "dead"
            url = "tcp://127.0.0.1:\(hole.port)"
            poll = "200ms"
            timeout = "500ms"
            comm_after = 2
            """, tags: (0..<10).map { i in """
            [[tag]]
            id = "T\(i)"
            class = "pressure"
            source = { modbus = "healthy", table = "input", address = \(i) }
            alarms.h = { at = 100 }
            """ }.joined(separator: "\n") + """

            [[tag]]
            id = "D0"
            class = "pressure"
            source = { modbus = "dead", table = "input", address = 0 }
            alarms.h = { at = 100 }
            """), dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        let seen = events(c, until: { has($0, "dead", "comm", "raised") != nil }, timeout: 20)
        #expect(has(seen, "dead", "comm", "raised") != nil)
        usleep(3_000_000)
        let times = peer.answered.filter { $0.unit == 1 }.map(\.at)
        #expect(times.count >= 20)
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }.dropFirst(2)
        let mean = gaps.reduce(0, +) / Double(gaps.count)
        #expect(abs(mean - 0.2) <= 0.02, "mean poll period \(mean) s")
        #expect(gaps.allSatisfy { $0 < 0.3 }, "no poll of the healthy device waited on the dead one: \(gaps.max() ?? 0)")
        #expect(Set(peer.answered.map(\.address)) == [0], "ten registers, one request per poll")
    }

    /// RTU over a socat pty pair: two slaves (unit 1 and 2) on one bus, 38400 8N2 (Crowcon's
    /// setting). Ptys here refuse parity (tcsetattr: EINVAL on this kernel), so E and O are
    /// covered by the config tests only.
    @Test func rtuBusWithTwoUnits() throws {
        let dir = try TempDir(prefix: "hazmon-rtu")
        defer { dir.remove() }
        let a = dir.path + "/ttyA", b = dir.path + "/ttyB"
        let socat = try ChildProcess("/usr/bin/socat", ["pty,raw,echo=0,link=\(a)", "pty,raw,echo=0,link=\(b)"], output: dir.path + "/socat.log")
        defer { socat.stop() }
        for _ in 0..<100 where access(a, F_OK) != 0 || access(b, F_OK) != 0 { usleep(20_000) }
        let peer = try ModbusPeer(dir: dir, name: "bus", units: [
            1: ["holding": [301: abcd(12.25)]],
            2: ["holding": [0: [0, 0], 2: cdab(33.5)]],
        ], listen: ["--rtu", b, "--baud", "38400", "--stopbits", "2", "--size", "400"])
        _ = peer
        usleep(1_000_000)
        let daemon = try DaemonUnderTest(config: modbusConfig("""
            [[modbus.device]]
            id = "crowcon-1"
            url = "rtu://\(a)?baud=38400&parity=N&data_bits=8&stop_bits=2"
            unit = 1
            poll = "300ms"
            pause = "5ms"
            address_base = 1
            [[modbus.device]]
            id = "midas-2"
            url = "rtu://\(a)?baud=38400&parity=N&data_bits=8&stop_bits=2"
            unit = 2
            poll = "300ms"
            """, tags: """
            [[tag]]
            id = "GT-301"
            class = "combustible_gas"
            source = { modbus = "crowcon-1", table = "holding", address = 302, type = "float32" }
            alarms.h = { at = 10 }
            [[tag]]
            id = "GT-302"
            class = "combustible_gas"
            source = { modbus = "midas-2", table = "holding", address = "40003", type = "float32", order = "CDAB" }
            alarms.h = { at = 20 }
            """), dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        let seen = events(c) { has($0, "GT-301", "h", "raised") != nil && has($0, "GT-302", "h", "raised") != nil }
        #expect(has(seen, "GT-301", "h", "raised")?["value"] as? Double == 12.25, "unit 1, address_base 1: 302 is register 301")
        #expect(has(seen, "GT-302", "h", "raised")?["value"] as? Double == 33.5, "unit 2, 40003 CDAB")
        #expect(Set(peer.answered.map(\.unit)) == [1, 2])
    }

    /// A controller whose heartbeat stops toggling is treated as failed, though it answers.
    @Test func aStuckHeartbeatIsACommFault() throws {
        let dir = try TempDir(prefix: "hazmon-hb")
        defer { dir.remove() }
        let port = try FreePort.find()
        let peer = try ModbusPeer(dir: dir, name: "ctl", units: [1: ["holding": [0: [1]]]],
                                  heartbeat: #"{"unit": 1, "table": "holding", "address": 11, "period": 0.15}"#,
                                  listen: ["--tcp", "\(port)"])
        #expect(waitForPort(port))
        let daemon = try DaemonUnderTest(config: modbusConfig("""
            [[modbus.device]]
            id = "ctl"
            url = "tcp://127.0.0.1:\(port)"
            poll = "100ms"
            heartbeat = { table = "holding", address = 11, within = "1s" }
            """, tags: """
            [[tag]]
            id = "PT-1"
            class = "pressure"
            source = { modbus = "ctl", table = "holding", address = 0 }
            alarms.h = { at = 5 }
            """), dir: dir)
        defer { daemon.stop() }
        let (c, _) = try daemon.subscriber()
        defer { c.close() }
        // Toggling: no alarm for two seconds.
        #expect(events(c, until: { _ in false }, timeout: 2).isEmpty)
        try peer.write([1: ["holding": [0: [1]]]])   // heartbeat stops
        let stuck = events(c) { has($0, "ctl", "comm", "raised") != nil }
        #expect((has(stuck, "ctl", "comm", "raised")?["message"] as? String)?.contains("heartbeat holding 11 has not changed for 1s") == true)
        try peer.write([1: ["holding": [0: [1]]]], heartbeat: #"{"unit": 1, "table": "holding", "address": 11, "period": 0.15}"#)
        #expect(has(events(c) { has($0, "ctl", "comm", "cleared") != nil }, "ctl", "comm", "cleared") != nil)
    }
}
