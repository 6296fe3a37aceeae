import Foundation
@_exported import HazmonTestSupport
@_exported import HazmonFeed
import HazmonDaemon
import HazmonMQTT
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `hazmon` binary built beside this test bundle.
let hazmonBinary: String = {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    return dir + "/hazmon"
}()

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A running daemon under test: its own temp dir, config, broker port and log.
final class DaemonUnderTest {
    let dir: TempDir
    let socketPath: String
    let logPath: String
    let child: ChildProcess

    var journalPath: String { dir.path + "/journal.db" }

    /// Writes `config` (with `{SOCKET}` replaced, and a `[journal]` in `dir` unless it has one)
    /// and starts `hazmon run`; waits for the socket. `wrapper` runs the daemon under another
    /// program (e.g. `unshare`), `log` names its log file (several runs in one directory).
    init(config: String, dir: TempDir, log: String = "hazmon.log", wrapper: [String] = []) throws {
        self.dir = dir
        socketPath = dir.path + "/alerts.sock"
        logPath = dir.path + "/" + log
        let path = dir.path + "/hazmon.toml"
        var text = config.replacingOccurrences(of: "{SOCKET}", with: socketPath)
        if !text.contains("[journal]") { text += "\n[journal]\npath = \"\(dir.path)/journal.db\"\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        guard access(hazmonBinary, X_OK) == 0 else { throw TestFailure("no hazmon binary at \(hazmonBinary); run swift build first") }
        let argv = wrapper + [hazmonBinary, "run", "--config", path]
        child = try ChildProcess(argv[0], Array(argv.dropFirst()), output: logPath)
        for _ in 0..<200 {
            if let c = try? SocketClient(path: socketPath) { c.close(); return }
            guard child.isRunning else { throw TestFailure("hazmon exited early:\n\(self.log)") }
            usleep(25_000)
        }
        child.stop()
        throw TestFailure("the alert socket never came up:\n\(self.log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() { child.stop() }

    /// A client subscribed to the feed (with `since`, replaying the journal first), and the
    /// daemon's hello.
    func subscriber(since: Int? = 0) throws -> (SocketClient, [String: Any]) {
        let c = try SocketClient(path: socketPath)
        let hello = c.readJSON() ?? [:]
        c.send(since.map { #"{"type":"subscribe","since":\#($0)}"# } ?? #"{"type":"subscribe"}"#)
        return (c, hello)
    }

    /// SIGKILL: no shutdown path runs, as in a crash or the OOM killer.
    func crash() {
        kill(child.pid, SIGKILL)
        _ = child.wait()
    }
}

/// The daemon's own blocking client, with JSON helpers for tests.
final class SocketClient {
    let client: AlertSocketClient

    init(path: String) throws {
        client = try AlertSocketClient(path: path)
    }

    func close() { Glibc.shutdown(client.fd, Int32(SHUT_RDWR)) }
    func send(_ line: String) { client.send(line) }
    func readLine(timeout: Double = 10) -> String? { client.readLine(timeout: timeout) }

    /// The next line as a JSON object.
    func readJSON(timeout: Double = 10) -> [String: Any]? {
        guard let line = readLine(timeout: timeout), let data = line.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// Reads until an event line arrives (skipping replies), or nil on timeout.
    func nextEvent(timeout: Double = 10) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            guard let o = readJSON(timeout: deadline.timeIntervalSinceNow) else { return nil }
            if o["type"] as? String == "event" { return o }
        }
        return nil
    }
}

/// A test-side MQTT publisher (libmosquitto, as a gateway would publish).
final class Publisher {
    let client: MosquittoClient

    init(port: Int) throws {
        client = try MosquittoClient(
            options: BrokerOptions(host: "127.0.0.1", port: port, clientID: "test-pub-\(UInt32.random(in: 0...UInt32.max))",
                                   cleanSession: true, reconnectMinSeconds: 1, reconnectMaxSeconds: 1),
            subscriptions: [], qos: 1, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            onMessage: { _, _ in })
        try client.start()
        for _ in 0..<200 where !client.isConnected { usleep(10_000) }
    }

    /// Publishes with QoS 1; expects the library to accept it unless `mayFail` (broker down).
    func publish(_ topic: String, _ payload: String, mayFail: Bool = false) {
        let ok = client.publish(topic: topic, payload: payload, qos: 1, retain: false)
        if !mayFail { #expect(ok, "publish to \(topic) refused") }
    }

    deinit { client.stop() }
}

/// A config with one combustible gas tag on MQTT, plus anything extra.
func gasConfig(port: Int, extra: String = "", socketKeys: String = "", mqttKeys: String = "") -> String {
    """
    [site]
    id = "it-site"
    [log]
    format = "json"
    level = "debug"
    [alert_socket]
    path = "{SOCKET}"
    \(socketKeys)
    [mqtt]
    url = "mqtt://127.0.0.1:\(port)"
    client_id = "hazmon-it-\(port)"
    reconnect_min = "1s"
    reconnect_max = "2s"
    \(mqttKeys)
    [[tag]]
    id = "GT-101"
    name = "T101 dike combustible gas"
    class = "combustible_gas"
    source = { mqtt = "plant/t101/gas" }
    alarms.h  = { at = 20 }
    alarms.hh = { at = 40 }
    \(extra)
    """
}

/// Broker + daemon + subscribed client, torn down by `close()`. The daemon can be crashed and
/// started again on the same config and journal.
final class Rig {
    let dir: TempDir
    let port: Int
    var broker: Broker
    var daemon: DaemonUnderTest
    let client: SocketClient
    let publisher: Publisher
    let hello: [String: Any]
    let config: String
    private var runs = 1

    init(extra: String = "", socketKeys: String = "", mqttKeys: String = "") throws {
        dir = try TempDir(prefix: "hazmon-it")
        port = try FreePort.find()
        broker = try Broker.start(port: port, dir: dir.path)
        config = gasConfig(port: port, extra: extra, socketKeys: socketKeys, mqttKeys: mqttKeys)
        do {
            daemon = try DaemonUnderTest(config: config, dir: dir)
        } catch {
            broker.stop()
            dir.remove()
            throw error
        }
        client = try SocketClient(path: daemon.socketPath)
        hello = client.readJSON() ?? [:]
        client.send(#"{"type":"subscribe"}"#)
        publisher = try Publisher(port: port)
        waitForMQTT()
    }

    /// Until the daemon's MQTT session is subscribed: the log line proves the broker connection.
    func waitForMQTT() {
        for _ in 0..<200 where !daemon.log.contains("MQTT connected") { usleep(25_000) }
    }

    /// GT-101's values, one after another, `gap` µs apart.
    func publishGas(_ values: [Double], gap: useconds_t) {
        for v in values {
            publisher.publish("plant/t101/gas", "\(v)")
            usleep(gap)
        }
    }

    /// SIGKILL, then a new daemon on the same config and journal (its own log file).
    func crashAndRestart() throws {
        daemon.crash()
        runs += 1
        daemon = try DaemonUnderTest(config: config, dir: dir, log: "run\(runs).log")
        waitForMQTT()
    }

    /// Every alarm not in normal, from a fresh client's snapshot.
    func snapshot() throws -> [[String: Any]] {
        let c = try SocketClient(path: daemon.socketPath)
        defer { c.close() }
        _ = c.readJSON()
        c.send(#"{"type":"snapshot"}"#)
        return c.readJSON()?["alarms"] as? [[String: Any]] ?? []
    }

    func close() {
        client.close()
        daemon.stop()
        broker.stop()
        dir.remove()
    }
}

/// Runs a shell command in `dir`; throws with its output if it fails.
func shell(_ command: String, in dir: String) throws {
    let child = try ChildProcess("/bin/sh", ["-c", command], output: dir + "/setup.log")
    let code = child.wait()
    if code != 0 {
        throw TestFailure("\(command) failed (\(code)): \((try? String(contentsOfFile: dir + "/setup.log", encoding: .utf8)) ?? "")")
    }
}

/// A throwaway CA (`ca.pem`) and a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) in `dir`.
func makeTestCertificates(in d: String) throws {
    try shell([
        "cd \(d)",
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=hazmon test CA' -keyout ca.key -out ca.pem",
        "openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' -keyout server.key -out server.csr",
        "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem",
    ].joined(separator: " && "), in: d)
}

/// Polls `done` every 100 ms for `seconds`; throws naming `what` with the tail of `log` if it
/// never holds.
func waitUntil(_ seconds: Double, _ what: String, log: @autoclosure () -> String = "", _ done: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if done() { return }
        usleep(100_000)
    }
    if !done() { throw TestFailure("\(what): not within \(seconds) s\n\(log().suffix(4000))") }
}
