import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The web console end to end: Tests/Browser/console_browser.py drives Debian's chromium
/// (through chromium-driver and selenium) and raw HTTP against the real daemon, a real
/// mosquitto and users made with `hazmon user add`. This side makes the broker, the config
/// and the users; the script starts, restarts and stops the daemon and prints every check.
@Suite("Web console", .serialized)
struct ConsoleBrowserTests {
    struct Setup {
        let dir: TempDir
        let broker: Broker
        let config: String
        let url: String
        var tlsConfig: String?
        var tlsURL: String?
    }

    static func configText(dir: String, brokerPort: Int, consolePort: Int, tls: Bool = false) -> String {
        gasConfig(port: brokerPort).replacingOccurrences(of: "{SOCKET}", with: dir + (tls ? "/alerts-tls.sock" : "/alerts.sock"))
            .replacingOccurrences(of: "client_id = \"hazmon-it-\(brokerPort)\"", with: "client_id = \"hazmon-it-\(consolePort)\"")
            + """

            [journal]
            path = "\(dir)/\(tls ? "journal-tls" : "journal").db"
            [history]
            path = "\(dir)/\(tls ? "history-tls" : "history").db"
            [console]
            listen = "127.0.0.1:\(consolePort)"
            users_file = "\(dir)/users.toml"
            \(tls ? "cert_file = \"\(dir)/server.pem\"\nkey_file = \"\(dir)/server.key\"" : "")
            """
    }

    /// Adds a user with `hazmon user add --password-stdin`, as an administrator would.
    static func addUser(_ name: String, role: String, password: String, usersFile: String, dir: String) throws {
        let out = dir + "/user-\(name).log"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: hazmonBinary)
        p.arguments = ["user", "add", name, "--role", role, "--users-file", usersFile, "--password-stdin"]
        let input = Pipe()
        p.standardInput = input
        FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = p.standardOutput
        try p.run()
        input.fileHandleForWriting.write(Data((password + "\n").utf8))
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestFailure("hazmon user add \(name) failed: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")") }
    }

    static func setUp(tls: Bool = false) throws -> Setup {
        let dir = try TempDir(prefix: "hazmon-console")
        let broker = try Broker.start(port: try FreePort.find(), dir: dir.path)
        try addUser("opal", role: "operator", password: "operator-pw", usersFile: dir.path + "/users.toml", dir: dir.path)
        try addUser("vera", role: "viewer", password: "viewer-pw", usersFile: dir.path + "/users.toml", dir: dir.path)
        let port = try FreePort.find()
        let config = dir.path + "/hazmon.toml"
        try configText(dir: dir.path, brokerPort: broker.port, consolePort: port).write(toFile: config, atomically: true, encoding: .utf8)
        var s = Setup(dir: dir, broker: broker, config: config, url: "http://127.0.0.1:\(port)")
        if tls {
            try makeTestCertificates(in: dir.path)
            chmod(dir.path + "/server.key", 0o600)
            let tport = try FreePort.find()
            let tconfig = dir.path + "/hazmon-tls.toml"
            try configText(dir: dir.path, brokerPort: broker.port, consolePort: tport, tls: true)
                .write(toFile: tconfig, atomically: true, encoding: .utf8)
            s.tlsConfig = tconfig
            s.tlsURL = "https://127.0.0.1:\(tport)"
        }
        return s
    }

    /// Runs the script's suite; fails with its whole output if any check failed.
    static func run(_ suite: String, _ s: Setup, timeout: Double = 240) throws -> String {
        var argv = [repoRoot + "/Tests/Browser/console_browser.py", "--suite", suite, "--hazmon", hazmonBinary, "--config", s.config,
                    "--url", s.url, "--broker-port", "\(s.broker.port)"]
        if let t = s.tlsConfig, let u = s.tlsURL { argv += ["--tls-config", t, "--tls-url", u, "--ca", s.dir.path + "/ca.pem"] }
        let log = s.dir.path + "/\(suite).out"
        let child = try ChildProcess("/usr/bin/env", ["python3"] + argv, output: log)
        let deadline = Date().addingTimeInterval(timeout)
        while child.isRunning && Date() < deadline { usleep(100_000) }
        if child.isRunning { child.stop() }
        let status = child.wait()
        let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let daemonLog = (try? String(contentsOfFile: s.dir.path + "/hazmon.log", encoding: .utf8)) ?? ""
        guard status == 0, out.contains("PASS \(suite)") else {
            throw TestFailure("console_browser.py --suite \(suite) failed (status \(status)):\n\(out)\n--- daemon log (tail) ---\n\(daemonLog.suffix(4000))")
        }
        return out
    }

    @Test func operatorsWorkTheAlarmListInARealBrowser() throws {
        let s = try Self.setUp()
        defer { s.broker.stop(); s.dir.remove() }
        let out = try Self.run("browser", s)
        // The script's own checks; a few figures are kept in its output for the record.
        #expect(out.contains("ok: the page saw every journaled seq once, in order, across the restart"))
        #expect(out.contains("ok: a viewer sees no action buttons"))
    }

    @Test func theConsoleRefusesWhatItShould() throws {
        let s = try Self.setUp(tls: true)
        defer { s.broker.stop(); s.dir.remove() }
        let out = try Self.run("security", s)
        #expect(out.contains("ok: after five failures the right password is locked out too"))
        #expect(out.contains("ok: under TLS the cookie is Secure"))
    }

    /// `hazmon demo` serves the console: the headless browser logs in as the demo's operator,
    /// waits for the farm's alarms and takes the README's screenshot (here into a temp dir;
    /// `python3 Tests/Browser/console_browser.py --suite screenshot --url URL --screenshot
    /// docs/images/console-alarms.png` against a running demo refreshes the README's).
    @Test func theDemoShowsItsAlarmsInTheConsole() throws {
        let dir = try TempDir(prefix: "hazmon-console-demo")
        defer { dir.remove() }
        let port = try FreePort.find()
        let demo = try ChildProcess(hazmonBinary, ["demo", "--farm", repoRoot + "/Config/demo", "--console-port", "\(port)",
                                                   "--speed", "4", "--duration", "150s"], output: dir.path + "/demo.log")
        defer { demo.stop() }
        let shot = dir.path + "/console.png"
        let log = dir.path + "/screenshot.out"
        let child = try ChildProcess("/usr/bin/env", ["python3", repoRoot + "/Tests/Browser/console_browser.py", "--suite", "screenshot",
                                                      "--url", "http://127.0.0.1:\(port)", "--screenshot", shot], output: log)
        let status = child.wait()
        let out = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let demoOut = (try? String(contentsOfFile: dir.path + "/demo.log", encoding: .utf8)) ?? ""
        #expect(status == 0 && out.contains("PASS screenshot"), "\(out)\n--- demo ---\n\(demoOut.suffix(3000))")
        #expect(demoOut.contains("alarm console: http://127.0.0.1:\(port)/"), "the demo prints the console's URL")
        let png = FileManager.default.contents(atPath: shot) ?? Data()
        #expect(png.count > 10_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG screenshot of the alarm list")
    }
}
