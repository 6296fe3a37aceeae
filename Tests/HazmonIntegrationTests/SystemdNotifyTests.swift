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
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

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
    @Test func readyThenWatchdogThenStopping() throws {
        let dir = try TempDir(prefix: "hazmon-notify")
        defer { dir.remove() }
        let notify = try FakeNotifySocket(path: dir.path + "/notify.sock")
        let config = dir.path + "/hazmon.toml"
        try "[alert_socket]\npath = \"\(dir.path)/alerts.sock\"\n[journal]\npath = \"\(dir.path)/journal.db\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        var env = SystemdNotifier.processEnvironment()
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = "400000"     // watchdog every 200 ms
        env.removeValue(forKey: "WATCHDOG_PID")
        let child = try ChildProcess(hazmonBinary, ["run", "--config", config], output: dir.path + "/log", environment: env)
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
}
