import Foundation
import HazmonDaemon
import HazmonMQTT
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// mqtts:// with a CA file, and username + password from a file, against a real mosquitto
/// that requires both.
@Suite("MQTT TLS and authentication")
struct MQTTSecurityTests {
    @Test func mqttsWithCAAndPasswordFile() throws {
        let dir = try TempDir(prefix: "hazmon-tls")
        defer { dir.remove() }
        let d = dir.path
        try makeTestCertificates(in: d)
        try shell([
            "cd \(d)",
            "printf 's3cret-pw\\n' > hazmon.pass",
            "mosquitto_passwd -b -c passwd hazmon s3cret-pw",
            "mosquitto_passwd -b passwd gateway gw-pw",
            // mosquitto started as root drops to its own user, which must read these throwaway files.
            "chmod 0755 \(d) && chmod 0644 server.key passwd",
            // hazmon refuses a secret that group or others can read.
            "chmod 0600 hazmon.pass",
        ].joined(separator: " && "), in: d)
        let port = try FreePort.find()
        try """
            listener \(port) 127.0.0.1
            cafile \(d)/ca.pem
            certfile \(d)/server.pem
            keyfile \(d)/server.key
            allow_anonymous false
            password_file \(d)/passwd
            persistence false
            """.write(toFile: d + "/mosquitto.conf", atomically: true, encoding: .utf8)
        let broker = try ChildProcess("/usr/sbin/mosquitto", ["-c", d + "/mosquitto.conf"], output: d + "/mosquitto.log")
        defer { broker.stop() }
        for _ in 0..<100 where !Broker.canConnect(port: port) { usleep(50_000) }
        try #require(Broker.canConnect(port: port), "mosquitto did not start: \((try? String(contentsOfFile: d + "/mosquitto.log", encoding: .utf8)) ?? "")")
        let daemon = try DaemonUnderTest(config: """
            [alert_socket]
            path = "{SOCKET}"
            [mqtt]
            url = "mqtts://127.0.0.1:\(port)"
            ca_file = "\(d)/ca.pem"
            username = "hazmon"
            password_file = "\(d)/hazmon.pass"
            [[tag]]
            id = "GT-1"
            class = "combustible_gas"
            source = { mqtt = "secure/gt1" }
            """, dir: dir)
        defer { daemon.stop() }
        let c = try SocketClient(path: daemon.socketPath)
        defer { c.close() }
        _ = c.readJSON()
        c.send(#"{"type":"subscribe"}"#)
        for _ in 0..<200 where !daemon.log.contains("MQTT connected") { usleep(25_000) }
        #expect(daemon.log.contains("MQTT connected"), "\(daemon.log)")
        let pub = try MosquittoClient(
            options: BrokerOptions(host: "127.0.0.1", port: port, clientID: "gw", cleanSession: true, username: "gateway",
                                   password: "gw-pw", tls: true, caFile: d + "/ca.pem"),
            subscriptions: [], qos: 1, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }), onMessage: { _, _ in })
        try pub.start()
        defer { pub.stop() }
        for _ in 0..<200 where !pub.isConnected { usleep(10_000) }
        #expect(pub.publish(topic: "secure/gt1", payload: "30", qos: 1, retain: false))
        #expect(c.nextEvent()?["event"] as? String == "raised")
    }
}
