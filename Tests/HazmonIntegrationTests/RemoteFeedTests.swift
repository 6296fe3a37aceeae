import Foundation
import HazmonDaemon
import Testing

/// The remote feed: the alert socket's protocol over TLS with a token, on a loopback port.
@Suite("Remote feed over TLS with a token", .serialized)
struct RemoteFeedTests {
    /// Runs the test client (Tests/Fixtures/tls_feed_client.py) and returns its lines.
    func client(_ port: Int, ca: String, send: [String], lines: Int = 1_000, timeout: Double = 4, plain: Bool = false,
                source: String? = nil) throws -> [String] {
        let out = URL(fileURLWithPath: ca).deletingLastPathComponent().path + "/client-\(UInt32.random(in: 0...UInt32.max)).out"
        var args = [repoRoot + "/Tests/Fixtures/tls_feed_client.py", "--port", "\(port)", "--ca", ca,
                    "--lines", "\(lines)", "--timeout", "\(timeout)"]
        if plain { args.append("--plain") }
        if let source { args += ["--source", source] }
        for s in send { args += ["--send", s] }
        _ = try ChildProcess("/usr/bin/env", ["python3"] + args, output: out).wait()
        return ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static let token = "correct-horse-battery-staple-42"

    /// A rig whose daemon also serves the remote feed on a free port, with test certificates
    /// and a token file (owner-only, as the daemon requires) in `dir`.
    static func remoteRig(in dir: TempDir, extra: String = "") throws -> (Rig, port: Int) {
        try makeTestCertificates(in: dir.path)
        try "\(token)\n".write(toFile: dir.path + "/feed.token", atomically: true, encoding: .utf8)
        chmod(dir.path + "/feed.token", 0o600)
        chmod(dir.path + "/server.key", 0o600)
        let port = try FreePort.find()
        let rig = try Rig(extra: """
            [remote_feed]
            listen = "127.0.0.1:\(port)"
            cert_file = "\(dir.path)/server.pem"
            key_file = "\(dir.path)/server.key"
            token_file = "\(dir.path)/feed.token"
            \(extra)
            """)
        return (rig, port)
    }

    @Test func tokenThenTheSameProtocol() throws {
        let dir = try TempDir(prefix: "hazmon-remote")
        defer { dir.remove() }
        let token = Self.token
        let (rig, port) = try Self.remoteRig(in: dir)
        defer { rig.close() }
        #expect(waitForPort(port), "the remote feed listens")
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        let ca = dir.path + "/ca.pem"

        // The right token: hello, then subscribe since 0 replays the event, snapshot, ping.
        let ok = try client(port, ca: ca, send: [#"{"type":"auth","token":"\#(token)"}"#, #"{"type":"subscribe","since":0}"#,
                                                 #"{"type":"snapshot"}"#, #"{"type":"ping"}"#], lines: 4)
        #expect(ok.count == 4, "\(ok)")
        #expect(ok.first?.contains(#""type":"hello""#) == true && ok.first?.contains(#""seq":1"#) == true)
        #expect(ok.contains { $0.contains(#""type":"event""#) && $0.contains(#""seq":1"#) && $0.contains(#""event":"raised""#) })
        #expect(ok.contains { $0.contains(#""type":"snapshot""#) && $0.contains("GT-101") })
        #expect(ok.contains(#"{"type":"pong"}"#))

        // A wrong token, or a request before the token: an error, then the connection closes,
        // and nothing of the feed (not even hello) is sent.
        let wrong = try client(port, ca: ca, send: [#"{"type":"auth","token":"correct-horse-battery-staple-43"}"#, #"{"type":"snapshot"}"#])
        #expect(wrong.first?.contains(#""code":"unauthorized""#) == true && wrong.last == "EOF", "\(wrong)")
        #expect(!wrong.contains { $0.contains("hello") || $0.contains("snapshot") })
        let none = try client(port, ca: ca, send: [#"{"type":"subscribe","since":0}"#])
        #expect(none.first?.contains(#""code":"unauthorized""#) == true && !none.contains { $0.contains(#""type":"event""#) })
        // Plain TCP is not spoken: no line ever comes back.
        let plain = try client(port, ca: ca, send: [#"{"type":"auth","token":"\#(token)"}"#], timeout: 2, plain: true)
        #expect(!plain.contains { $0.contains("hello") }, "\(plain)")
        #expect(rig.daemon.log.contains("remote feed: wrong token"))
    }

    @Test func badRemoteFeedConfigsAreRefused() throws {
        let dir = try TempDir(prefix: "hazmon-remotecfg")
        defer { dir.remove() }
        try "short\n".write(toFile: dir.path + "/t", atomically: true, encoding: .utf8)
        try """
            [remote_feed]
            listen = "everywhere"
            cert_file = "\(dir.path)/missing.pem"
            token_file = "\(dir.path)/t"
            """.write(toFile: dir.path + "/hazmon.toml", atomically: true, encoding: .utf8)
        let out = dir.path + "/out"
        let code = try ChildProcess(hazmonBinary, ["check", dir.path + "/hazmon.toml"], output: out).wait()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(code == 78)
        #expect(text.contains(#"hazmon.toml:2: remote_feed.listen: "everywhere" is not HOST:PORT"#))
        #expect(text.contains("remote_feed.cert_file: cannot read"))
        #expect(text.contains("remote_feed.key_file: is required"))
        #expect(text.contains("remote_feed.token_file: the token must be at least 16 characters"))
    }

    /// A token file anyone on the host can read is refused, as ssh refuses such a key.
    @Test func aWorldReadableTokenIsRefused() throws {
        let dir = try TempDir(prefix: "hazmon-remotemode")
        defer { dir.remove() }
        try makeTestCertificates(in: dir.path)
        try "correct-horse-battery-staple-42\n".write(toFile: dir.path + "/feed.token", atomically: true, encoding: .utf8)
        chmod(dir.path + "/feed.token", 0o644)
        chmod(dir.path + "/server.key", 0o640)
        try """
            [remote_feed]
            listen = "127.0.0.1:7443"
            cert_file = "\(dir.path)/server.pem"
            key_file = "\(dir.path)/server.key"
            token_file = "\(dir.path)/feed.token"
            """.write(toFile: dir.path + "/hazmon.toml", atomically: true, encoding: .utf8)
        let out = dir.path + "/out"
        let code = try ChildProcess(hazmonBinary, ["check", dir.path + "/hazmon.toml"], output: out).wait()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(code == 78)
        #expect(text.contains("hazmon.toml:5: remote_feed.token_file: \"\(dir.path)/feed.token\" is readable by group or others (mode 644)"), "\(text)")
        #expect(text.contains("hazmon.toml:4: remote_feed.key_file: \"\(dir.path)/server.key\" is readable by group or others (mode 640)"), "\(text)")
        chmod(dir.path + "/feed.token", 0o600)
        chmod(dir.path + "/server.key", 0o600)
        #expect(try ChildProcess(hazmonBinary, ["check", "--offline", dir.path + "/hazmon.toml"], output: out).wait() == 0)
    }
}
