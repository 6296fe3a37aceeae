import Foundation
import HazmonDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A fake systemd: a datagram socket the daemon notifies through `NOTIFY_SOCKET`.
final class FakeNotifySocket {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = Self.address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    static func address(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        return addr
    }

    /// Whether a datagram sent now would have to wait: the queue of unread ones is full.
    var isFull: Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(probe) }
        var addr = Self.address(path)
        let byte: [UInt8] = [0]
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(probe, byte, 1, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return rc < 0 && errno == EAGAIN
    }

    /// Every message received within `seconds`, in order.
    func collect(for seconds: Double, until stop: (([String]) -> Bool)? = nil) -> [String] {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { out.append(String(decoding: buf[0..<n], as: UTF8.self)) }
            if let stop, stop(out) { break }
        }
        return out
    }
}

@Suite("systemd notify protocol")
struct SystemdNotifyTests {
    /// A daemon with no tags in `dir`, notifying a socket of ours, asked for a watchdog.
    static func daemon(in dir: TempDir, watchdogUSec: Int) throws -> (FakeNotifySocket, ChildProcess) {
        let notify = try FakeNotifySocket(path: dir.path + "/notify.sock")
        let config = dir.path + "/hazmon.toml"
        try "[alert_socket]\npath = \"\(dir.path)/alerts.sock\"\n[journal]\npath = \"\(dir.path)/journal.db\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        var env = SystemdNotifier.processEnvironment()
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = "\(watchdogUSec)"
        env.removeValue(forKey: "WATCHDOG_PID")
        return (notify, try ChildProcess(hazmonBinary, ["run", "--config", config], output: dir.path + "/log", environment: env))
    }

    @Test func readyThenWatchdogThenStopping() throws {
        let dir = try TempDir(prefix: "hazmon-notify")
        defer { dir.remove() }
        let (notify, child) = try Self.daemon(in: dir, watchdogUSec: 400_000)   // watchdog every 200 ms
        let early = notify.collect(for: 10) { $0.filter { $0 == "WATCHDOG=1" }.count >= 3 }
        child.stop()
        let late = notify.collect(for: 2) { $0.contains { $0.hasPrefix("STOPPING=1") } }
        let all = early + late
        let ready = all.firstIndex { $0.hasPrefix("READY=1") }
        let firstWatchdog = all.firstIndex { $0 == "WATCHDOG=1" }
        let stopping = all.firstIndex { $0.hasPrefix("STOPPING=1") }
        #expect(ready != nil, "\(all)")
        #expect(all[ready ?? 0].contains("STATUS=0 tags"))
        #expect(firstWatchdog != nil && ready! < firstWatchdog!)
        #expect(all.filter { $0 == "WATCHDOG=1" }.count >= 3)
        #expect(stopping != nil && stopping! > firstWatchdog!)
    }

    /// A notify socket nobody reads (its queue full after a few watchdog messages) does not
    /// hold the daemon: it still stops at once on SIGTERM.
    @Test func anUnreadNotifySocketDoesNotHoldTheDaemon() throws {
        let dir = try TempDir(prefix: "hazmon-notify-full")
        defer { dir.remove() }
        // Watchdog every 10 ms: the socket's queue (10 datagrams) fills in 0.1 s.
        let (notify, child) = try Self.daemon(in: dir, watchdogUSec: 20_000)
        defer { child.stop() }
        // Unread: wait until the queue is surely full, then ask the daemon to stop.
        var full = false
        for _ in 0..<100 where !full {
            usleep(100_000)
            full = notify.isFull
        }
        #expect(full, "the notify queue never filled")
        usleep(500_000)
        kill(child.pid, SIGTERM)
        var stopped = false
        for _ in 0..<200 where !stopped {
            usleep(50_000)
            stopped = !child.isRunning
        }
        let log = (try? String(contentsOfFile: dir.path + "/log", encoding: .utf8)) ?? ""
        #expect(stopped, "still running 10 s after SIGTERM: \(log.suffix(600))")
        #expect(log.contains("hazmon stopped"))
    }

    @Test func abstractSocketsAndAbsentSystemd() {
        #expect(!SystemdNotifier(environment: [:]).isActive)
        #expect(!SystemdNotifier(environment: [:]).send("READY=1"))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "2000000"]).watchdogInterval == .seconds(1))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
        // An abstract socket of our own receives the message.
        let name = "hazmon-test-\(getpid())"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in name.utf8.enumerated() { raw[i + 1] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.utf8.count)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name]).send("READY=1"))
        var buf = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
        #expect(n > 0 && String(decoding: buf[0..<max(0, n)], as: UTF8.self) == "READY=1")
    }
}

@Suite("Deploy")
struct DeployTests {
    /// The unit's hardening, rated by systemd itself (no PID 1 needed): exposure at most 2.0.
    @Test func unitExposureIsAtMost2() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = try TempDir(prefix: "hazmon-deploy")
        defer { dir.remove() }
        let child = try ChildProcess("/usr/bin/systemd-analyze", ["security", "--offline=yes", root + "/Deploy/hazmon.service"],
                                     output: dir.path + "/out")
        #expect(child.wait() == 0)
        let out = (try? String(contentsOfFile: dir.path + "/out", encoding: .utf8)) ?? ""
        let level = out.components(separatedBy: "Overall exposure level for hazmon.service: ").dropFirst().first?
            .split(separator: " ").first.flatMap { Double($0) }
        let exposure = try #require(level, "\(out.suffix(400))")
        #expect(exposure <= 2.0)
    }

    /// install.sh stages the layout the unit expects and never replaces an existing config.
    @Test func installScriptLayoutKeepsAnExistingConfig() throws {
        let dir = try TempDir(prefix: "hazmon-install")
        defer { dir.remove() }
        let dest = dir.path + "/root"
        try FileManager.default.createDirectory(atPath: dest + "/etc/hazmon", withIntermediateDirectories: true)
        try "# mine\n".write(toFile: dest + "/etc/hazmon/hazmon.toml", atomically: true, encoding: .utf8)
        let code = try ChildProcess("/bin/bash", [repoRoot + "/Deploy/install.sh", "--binary", hazmonBinary, "--destdir", dest, "--no-activate"],
                                    output: dir.path + "/out").wait()
        #expect(code == 0, "\((try? String(contentsOfFile: dir.path + "/out", encoding: .utf8)) ?? "")")
        for f in ["/usr/bin/hazmon", "/usr/lib/systemd/system/hazmon.service", "/usr/lib/sysusers.d/hazmon.conf",
                  "/usr/lib/tmpfiles.d/hazmon.conf", "/usr/share/hazmon/activate.sh", "/usr/share/hazmon/notify-reload.conf",
                  "/usr/share/doc/hazmon/hazmon.example.toml", "/usr/share/hazmon/demo/hazmon.toml",
                  "/usr/share/hazmon/demo/scenario.toml", "/usr/share/hazmon/demo/points/gc-1.toml",
                  "/usr/share/hazmon/scenarios/drill.toml"] {
            #expect(access(dest + f, F_OK) == 0, "\(f) missing")
        }
        #expect((try? String(contentsOfFile: dest + "/etc/hazmon/hazmon.toml", encoding: .utf8)) == "# mine\n")
    }

    /// The Debian package: dpkg -i on this machine, files where the unit expects them, the user
    /// made, `hazmon check` passing on the installed example config, the installed unit clean
    /// under `systemd-analyze verify`; then purged (the package's own removal path).
    @Test func debianPackageInstallsAndChecks() throws {
        let dir = try TempDir(prefix: "hazmon-deb")
        defer { dir.remove() }
        let build = try ChildProcess("/bin/bash", [repoRoot + "/Deploy/build-deb.sh", "--binary", hazmonBinary, "--out", dir.path,
                                                          "--compress", "none"],
                                     output: dir.path + "/build.out")
        #expect(build.wait() == 0, "\((try? String(contentsOfFile: dir.path + "/build.out", encoding: .utf8)) ?? "")")
        let deb = ((try? String(contentsOfFile: dir.path + "/build.out", encoding: .utf8)) ?? "").split(separator: "\n").last.map(String.init) ?? ""
        #expect(deb.hasSuffix(".deb") && access(deb, R_OK) == 0)
        func run(_ exe: String, _ args: [String]) throws -> (Int32, String) {
            let out = dir.path + "/run-\(UInt32.random(in: 0...UInt32.max))"
            let code = try ChildProcess(exe, args, output: out).wait()
            return (code, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        }
        let (installed, log) = try run("/usr/bin/dpkg", ["-i", deb])
        defer { _ = try? run("/usr/bin/dpkg", ["--purge", "hazmon"]) }
        #expect(installed == 0, "\(log)")
        for f in ["/usr/bin/hazmon", "/usr/lib/systemd/system/hazmon.service", "/usr/lib/sysusers.d/hazmon.conf",
                  "/usr/lib/tmpfiles.d/hazmon.conf", "/etc/hazmon/hazmon.toml"] {
            #expect(access(f, F_OK) == 0, "\(f) missing")
        }
        #expect(getpwnam("hazmon") != nil, "the hazmon user")
        let (checked, summary) = try run("/usr/bin/hazmon", ["check", "--offline", "--config", "/etc/hazmon/hazmon.toml"])
        #expect(checked == 0 && summary.contains("/etc/hazmon/hazmon.toml: OK"), "\(summary)")
        // The packaged demo, run away from any clone, finds its farm under /usr/share.
        let (demo, shown) = try run("/bin/sh", ["-c", "cd / && exec /usr/bin/hazmon demo --duration 3s"])
        #expect(demo == 0 && shown.contains("(/usr/share/hazmon/demo): 41 tags"), "\(shown)")
        let (verified, why) = try run("/usr/bin/systemd-analyze", ["verify", "/usr/lib/systemd/system/hazmon.service"])
        #expect(verified == 0 && why.isEmpty, "\(why)")
        let (purged, _) = try run("/usr/bin/dpkg", ["--purge", "hazmon"])
        #expect(purged == 0 && access("/usr/bin/hazmon", F_OK) != 0 && access("/etc/hazmon/hazmon.toml", F_OK) != 0)
    }
}
