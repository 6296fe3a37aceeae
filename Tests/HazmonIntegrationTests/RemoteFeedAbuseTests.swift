import Foundation
import HazmonDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A raw TCP connection from a chosen loopback source address, for connections that never
/// start TLS or crawl through it.
final class RawTCP {
    let fd: Int32

    init?(from source: String, to port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let ok = withUnsafePointer(to: &local) { l in
            l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        } && withUnsafePointer(to: &remote) { r in
            r.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if !ok { Glibc.close(fd); return nil }
    }

    deinit { Glibc.close(fd) }

    func send(_ bytes: [UInt8]) { _ = Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) }

    /// Whether the server closed the connection within `timeout` seconds (EOF or reset).
    func closedByServer(within timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return true }
        }
        return false
    }
}

/// Issue 13 item 5: connections that never authenticate cannot hold the remote feed, the
/// daemon's descriptors or its event loop; the local socket and the engine are never starved.
@Suite("Remote feed under abuse", .serialized)
struct RemoteFeedAbuseTests {
    @Test func idleAndCrawlingConnectionsAreBoundedAndClosed() throws {
        let dir = try TempDir(prefix: "hazmon-abuse")
        defer { dir.remove() }
        let token = RemoteFeedTests.token
        let (rig, port) = try RemoteFeedTests.remoteRig(in: dir, extra: #"auth_timeout = "2s""#)
        defer { rig.close() }
        #expect(waitForPort(port))

        // A crowd from one address: at most 4 may wait to authenticate; the rest are closed at once.
        let crowd = (0..<60).compactMap { _ in RawTCP(from: "127.0.0.1", to: port) }
        #expect(crowd.count == 60)
        let closedAtOnce = crowd.filter { $0.closedByServer(within: 0.05) }.count
        #expect(closedAtOnce >= 56, "only 4 of one address's connections are held (\(closedAtOnce) closed)")
        // A crawling ClientHello from another address: one byte at a time.
        let crawler = RawTCP(from: "127.0.0.2", to: port)!
        crawler.send([0x16])

        // Meanwhile the local socket and the engine work, and a client from elsewhere gets in.
        let local = try SocketClient(path: rig.daemon.socketPath)
        defer { local.close() }
        #expect(local.readJSON()?["type"] as? String == "hello", "the local socket still says hello")
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised", "the engine still evaluates")
        let ok = try RemoteFeedTests().client(port, ca: dir.path + "/ca.pem", send: [#"{"type":"auth","token":"\#(token)"}"#], lines: 1,
                                              source: "127.0.0.3")
        #expect(ok.first?.contains(#""type":"hello""#) == true, "a client with the token still gets in: \(ok)")

        // Past the deadline (2 s from accept, the TLS handshake included) everything still
        // unauthenticated is closed.
        usleep(2_500_000)
        crawler.send([0x03])
        #expect(crawler.closedByServer(within: 1.5), "a ClientHello crawling past the deadline is closed")
        #expect(crowd.allSatisfy { $0.closedByServer(within: 0.5) }, "so is every idle connection")
        let refusals = rig.daemon.log.components(separatedBy: "remote feed connection refused before TLS").count - 1
        #expect(refusals >= 1 && refusals <= 2, "refusals are logged once per interval, not per connection (\(refusals))")
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(rig.daemon.child.pid)/fd").count) ?? 0
        #expect(fds < 100, "the crowd holds no descriptors (\(fds))")
    }

    /// The daemon raises its open-file limit to what its configuration can use.
    @Test func theFileLimitIsRaisedAtStart() throws {
        let dir = try TempDir(prefix: "hazmon-nofile")
        defer { dir.remove() }
        let daemon = try DaemonUnderTest(config: "[alert_socket]\npath = \"{SOCKET}\"\n[log]\nformat = \"json\"\n", dir: dir,
                                         wrapper: ["/usr/bin/prlimit", "--nofile=64:4096"])
        defer { daemon.stop() }
        let limits = (try? String(contentsOfFile: "/proc/\(daemon.child.pid)/limits", encoding: .utf8)) ?? ""
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") } ?? ""
        let soft = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first ?? "") ?? 0
        #expect(soft > 64 && soft <= 4096, "\(line)")
        #expect(daemon.log.contains("open-file limit raised"))
    }
}
