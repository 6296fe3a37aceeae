import Foundation
import HazmonDaemon
import HazmonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.0 GET on 127.0.0.1: (status code, body).
func httpGet(port: Int, path: String) -> (Int, String)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    guard Loopback.withAddress(port: port, { connect(fd, $0, $1) == 0 }) else { return nil }
    let req = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = req.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65_536)
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    let text = String(decoding: out, as: UTF8.self)
    guard let status = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
    let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, body)
}

@Suite("Metrics and health endpoint")
struct MetricsTests {
    @Test func prometheusTextAndHealth() throws {
        let port = try FreePort.find()
        let rig = try Rig(extra: """
            [metrics]
            listen = "127.0.0.1:\(port)"
            """)
        defer { rig.close() }
        var health: (Int, String)?
        for _ in 0..<100 {
            health = httpGet(port: port, path: "/health")
            if health?.0 == 200 { break }
            usleep(50_000)
        }
        #expect(health?.0 == 200 && health?.1.contains(#""status":"ready""#) == true, "\(String(describing: health))")
        rig.publisher.publish("plant/t101/gas", "45")
        rig.publisher.publish("plant/t101/gas", "not a number")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        usleep(300_000)
        let metrics = try #require(httpGet(port: port, path: "/metrics"))
        #expect(metrics.0 == 200)
        let text = metrics.1
        #expect(text.contains(#"hazmon_samples_total{source="mqtt"} 1"#), "\(text)")
        #expect(text.contains(#"hazmon_events_total{grade="2",event="raised"} 1"#) || text.contains(#"hazmon_events_total{event="raised",grade="2"} 1"#))
        #expect(text.contains("hazmon_decode_errors_total{reason="))
        #expect(text.contains("hazmon_journal_commit_seconds_count"))
        #expect(text.contains("hazmon_engine_evaluation_seconds_count"))
        #expect(text.contains("hazmon_feed_clients 1"))
        #expect(text.contains("hazmon_mqtt_connected 1"))
        #expect(text.contains("hazmon_alarms_not_normal 1"))
        #expect(text.contains("hazmon_ready 1"))
        #expect(httpGet(port: port, path: "/nope")?.0 == 404)
    }
}
