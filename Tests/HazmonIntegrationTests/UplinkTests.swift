import Foundation
import HazmonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The test platform (Tests/Fixtures/uplink_platform.py): HTTP and TCP endpoints that record
/// every message they take, and can be stopped and started again on the same ports.
final class TestPlatform {
    let dir: String
    let http: Int
    let tcp: Int
    let out: String
    var child: ChildProcess?
    var extra: [String]

    init(dir: String, extra: [String] = []) throws {
        self.dir = dir
        http = try FreePort.find()
        tcp = try FreePort.find()
        out = dir + "/platform.jsonl"
        self.extra = extra
        try start()
    }

    func start() throws {
        let c = try ChildProcess("/usr/bin/env", ["python3", repoRoot + "/Tests/Fixtures/uplink_platform.py", "--http", "\(http)",
                                                  "--tcp", "\(tcp)", "--delimiter", "@@", "--out", out,
                                                  "--mode-file", dir + "/platform.mode"] + extra,
                                 output: dir + "/platform.log")
        child = c
        for _ in 0..<200 where !FreePort.isListening(http) || !FreePort.isListening(tcp) { usleep(25_000) }
    }

    func stop() {
        child?.stop()
        child = nil
    }

    /// Every message taken so far, in order.
    func messages(via: String? = nil) -> [[String: Any]] {
        let lines = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        return lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { via == nil || $0["via"] as? String == via }
    }
}

extension FreePort {
    static func isListening(_ port: Int) -> Bool { Broker.canConnect(port: port) }
}

/// Non-snapshot value points and alarm seqs of a platform's messages.
func delivered(_ messages: [[String: Any]]) -> (values: [String], seqs: [Int], heartbeats: Int, snapshots: Int) {
    var values: [String] = [], seqs: [Int] = [], heartbeats = 0, snapshots = 0
    for m in messages.compactMap({ $0["msg"] as? [String: Any] }) {
        switch m["type"] as? String {
        case "values":
            if m["snapshot"] as? Bool == true { snapshots += 1; continue }
            for p in m["points"] as? [[String: Any]] ?? [] where p["tag"] as? String == "GT-101" {
                values.append("\(p["time"] ?? "")=\(p["value"] ?? "")")
            }
        case "event": seqs.append(m["seq"] as? Int ?? -1)
        case "heartbeat": heartbeats += 1
        default: break
        }
    }
    return (values, seqs, heartbeats, snapshots)
}

@Suite("Uplinks to platforms", .serialized)
struct UplinkTests {
    /// HTTP and TCP platforms go away for a while; values and alarms made meanwhile, and a
    /// SIGKILL of the daemon in the middle of the outage: once the platforms are back, each has
    /// every stored value and every journaled event exactly once, in order. The MQTT uplink
    /// (the real broker) gets them too. Each uplink's comm alarm is raised during the outage.
    @Test func anOutageWithACrashEndsWithEverythingDeliveredOnceInOrder() throws {
        let dir = try TempDir(prefix: "hazmon-uplink")
        defer { dir.remove() }
        let platform = try TestPlatform(dir: dir.path)
        defer { platform.stop() }
        // The park's own broker, for the MQTT uplink.
        let parkPort = try FreePort.find()
        let parkDir = dir.path + "/park"
        try FileManager.default.createDirectory(atPath: parkDir, withIntermediateDirectories: true)
        let park = try Broker.start(port: parkPort, dir: parkDir)
        defer { park.stop() }
        let mqttOut = try ChildProcess("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(parkPort)", "-t", "park/#", "-q", "1", "-v"],
                                       output: dir.path + "/mqtt.out")
        defer { mqttOut.stop() }
        let metricsPort = try FreePort.find()
        let uplinks = """
            [metrics]
            listen = "127.0.0.1:\(metricsPort)"
            [history]
            path = "\(dir.path)/history.db"
            batch = "200ms"
            [[uplink]]
            id = "park-http"
            url = "http://127.0.0.1:\(platform.http)/ingest"
            enterprise_code = "E-1"
            values = { every = "1s" }
            heartbeat = "1s"
            down_after = "2s"
            batch = 7
            [[uplink]]
            id = "province-tcp"
            url = "tcp://127.0.0.1:\(platform.tcp)"
            frame = { delimiter = "@@" }
            time_format = "beijing"
            values = { every = "0s" }
            heartbeat = "0s"
            down_after = "2s"
            [[uplink]]
            id = "park-mqtt"
            url = "mqtt://127.0.0.1:\(parkPort)"
            topic = "park/{site}/{kind}"
            values = { every = "0s" }
            heartbeat = "0s"
            """
        let rig = try Rig(extra: "code = \"Q-GT101\"\n" + uplinks)
        defer { rig.close() }
        func publish(_ values: [Double]) { rig.publishGas(values, gap: 60_000) }
        publish([1, 2, 3, 25, 45, 4, 5])
        try waitUntil(40, "the first records", log: rig.daemon.log) { delivered(platform.messages(via: "http")).seqs.count >= 3 && delivered(platform.messages(via: "tcp")).seqs.count >= 3 }

        // The platforms go away; the site keeps making values and alarms.
        platform.stop()
        publish([6, 30, 7, 8, 46, 9])
        try waitUntil(20, "both comm alarms", log: rig.daemon.log) {
            let comm = (try? rig.snapshot())?.filter { ($0["tag"] as? String)?.hasPrefix("uplink-") == true && $0["condition"] as? String == "comm" } ?? []
            return Set(comm.compactMap { $0["tag"] as? String }) == ["uplink-park-http", "uplink-province-tcp"]
        }
        // What waits shows in /metrics (the gauges are set every 250 ms).
        try waitUntil(5, "the backlog in /metrics", log: httpGet(port: metricsPort, path: "/metrics")?.1 ?? "no /metrics") {
            let lines = (httpGet(port: metricsPort, path: "/metrics")?.1 ?? "").split(separator: "\n")
            return lines.contains { l in
                l.hasPrefix("hazmon_uplink_backlog{") && l.contains("\"park-http\"") && l.contains("\"alarms\"")
                    && (Double(l.split(separator: " ").last ?? "") ?? 0) > 0
            }
        }
        // And in hazmon check, read from the files beside the running daemon.
        let out = rig.dir.path + "/check.out"
        let check = try ChildProcess(hazmonBinary, ["check", "--config", rig.dir.path + "/hazmon.toml"], output: out)
        #expect(check.wait() == 0)
        let checked = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let line = checked.split(separator: "\n").first { $0.hasPrefix("uplink park-http waiting: ") } ?? ""
        let alarmsWaiting = Int(line.dropFirst("uplink park-http waiting: ".count).prefix { $0.isNumber }) ?? 0
        #expect(alarmsWaiting > 0 && line.contains("stored values"), "hazmon check shows the backlog: \(checked)")
        usleep(1_500_000)   // the history's batch is written (a crash loses at most one)
        try rig.crashAndRestart()
        publish([10, 11, 27, 12])
        usleep(1_000_000)
        try platform.start()

        // Every stored value and every journaled event, once, in order.
        let stored = try storedValues(dir: dir.path)
        let journal = try journalSeqs(rig)
        try waitUntil(60, "everything after the outage", log: rig.daemon.log + "\n" + platform.messages().suffix(5).description) {
            let h = delivered(platform.messages(via: "http")), t = delivered(platform.messages(via: "tcp"))
            return h.values.count >= stored.count && t.values.count >= stored.count && Set(h.seqs).isSuperset(of: journal)
                && Set(t.seqs).isSuperset(of: journal)
        }
        let finalStored = try storedValues(dir: dir.path)
        let finalJournal = try journalSeqs(rig)
        for via in ["http", "tcp"] {
            let d = delivered(platform.messages(via: via))
            #expect(d.seqs == d.seqs.sorted() && Set(d.seqs).count == d.seqs.count, "\(via): alarms once, in order: \(d.seqs)")
            #expect(Array(d.seqs.prefix(finalJournal.count)) == finalJournal, "\(via): every journaled event, \(d.seqs) vs \(finalJournal)")
            #expect(Array(d.values.prefix(finalStored.count)) == finalStored.map { via == "tcp" ? $0.beijing : $0.utc },
                    "\(via): every stored value once, in order, with its own time: \(d.values) vs \(finalStored)")
        }
        let h = delivered(platform.messages(via: "http"))
        #expect(h.heartbeats >= 2 && h.snapshots >= 2, "the HTTP uplink sends heartbeats and snapshots")
        #expect(delivered(platform.messages(via: "tcp")).heartbeats == 0, "heartbeat = \"0s\": none")
        let first = try #require(platform.messages(via: "http").compactMap { $0["msg"] as? [String: Any] }.first { $0["type"] as? String == "event" && $0["tag"] as? String == "GT-101" })
        #expect(first["enterprise_code"] as? String == "E-1" && first["code"] as? String == "Q-GT101" && first["alarm_type"] as? String == "high")
        #expect(platform.messages().allSatisfy { $0["bad"] == nil }, "every message was JSON")
        // The comm alarms cleared once the platforms took records again.
        // (Cleared but not yet acknowledged: returned, unacknowledged, as ISA-18.2 has it.)
        try waitUntil(20, "the comm alarms cleared", log: ((try? rig.snapshot()) ?? []).description) {
            ((try? rig.snapshot()) ?? []).allSatisfy { ($0["tag"] as? String)?.hasPrefix("uplink-") != true || $0["state"] as? String == "rtn_unack" }
        }
        // MQTT: the events and values on the park's broker, each event once.
        let mqtt = ((try? String(contentsOfFile: dir.path + "/mqtt.out", encoding: .utf8)) ?? "").split(separator: "\n")
        let events = mqtt.filter { $0.hasPrefix("park/it-site/alarms {") }
        let seqs = events.compactMap { line -> Int? in
            let json = line.drop { $0 != "{" }
            return (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["seq"] as? Int
        }
        #expect(Array(seqs.prefix(finalJournal.count)) == finalJournal, "MQTT: every journaled event once, in order: \(seqs)")
        #expect(mqtt.contains { $0.hasPrefix("park/it-site/values {\"type\":\"values\"") }, "values on the MQTT uplink's topic")
    }

    /// A platform that answers HTTP 500: the uplink's comm alarm says so, nothing is lost, and
    /// once the platform takes records again each event arrives once, in order.
    @Test func aPlatformAnswering500IsRetriedAndRaisesTheCommAlarm() throws {
        let dir = try TempDir(prefix: "hazmon-uplink-500")
        defer { dir.remove() }
        let mode = dir.path + "/platform.mode"
        try "500".write(toFile: mode, atomically: true, encoding: .utf8)
        let platform = try TestPlatform(dir: dir.path)
        defer { platform.stop() }
        let rig = try Rig(extra: """
            [[uplink]]
            id = "busy"
            url = "http://127.0.0.1:\(platform.http)/ingest"
            values = false
            heartbeat = "0s"
            down_after = "1s"
            """)
        defer { rig.close() }
        rig.publishGas([25, 5, 45, 5], gap: 100_000)
        try waitUntil(20, "the comm alarm naming HTTP 500", log: rig.daemon.log) {
            let (c, _) = (try? rig.daemon.subscriber(since: 0)) ?? (nil, [:])
            guard let c else { return false }
            defer { c.close() }
            while let e = c.nextEvent(timeout: 0.5) {
                if e["tag"] as? String == "uplink-busy", e["event"] as? String == "raised",
                   (e["message"] as? String)?.contains("HTTP 500") == true { return true }
            }
            return false
        }
        #expect(delivered(platform.messages()).seqs.isEmpty, "a 500 takes nothing")
        try FileManager.default.removeItem(atPath: mode)
        let journal = try journalSeqs(rig)
        try waitUntil(30, "every event after the 500s", log: rig.daemon.log) { Set(delivered(platform.messages()).seqs).isSuperset(of: journal) }
        let seqs = delivered(platform.messages()).seqs
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count && Array(seqs.prefix(journal.count)) == journal, "\(seqs) vs \(journal)")
    }

    /// HTTPS: an uplink that trusts the platform's CA delivers; one given another CA refuses the
    /// platform's certificate, raises its comm alarm saying so and sends nothing (its events wait
    /// in the journal). Then the platform turns slow (2 s per answer against a 1 s timeout): the
    /// comm alarm rises, and a batch offered again carries the same X-Hazmon-Batch name, so the
    /// platform, which took the timed-out batches too, can drop the repeats: by name, each event
    /// once, in order.
    @Test func aBadCertificateIsRefusedAndASlowPlatformGetsRepeatsUnderTheSameName() throws {
        let dir = try TempDir(prefix: "hazmon-uplink-tls")
        defer { dir.remove() }
        try makeTestCertificates(in: dir.path)
        try shell("cd \(dir.path) && mkdir other && cd other && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=another CA' -keyout ca.key -out ca.pem",
                  in: dir.path)
        let https = try FreePort.find()
        let platform = try TestPlatform(dir: dir.path, extra: ["--https", "\(https)", "--cert", dir.path + "/server.pem",
                                                               "--cert-key", dir.path + "/server.key", "--slow", "2"])
        defer { platform.stop() }
        let rig = try Rig(extra: """
            [[uplink]]
            id = "trusted"
            url = "https://127.0.0.1:\(https)/trusted"
            ca_file = "\(dir.path)/ca.pem"
            values = false
            heartbeat = "0s"
            timeout = "1s"
            down_after = "1s"
            [[uplink]]
            id = "untrusted"
            url = "https://127.0.0.1:\(https)/untrusted"
            ca_file = "\(dir.path)/other/ca.pem"
            values = false
            heartbeat = "0s"
            timeout = "1s"
            down_after = "3s"
            """)
        defer { rig.close() }
        func publish(_ values: [Double]) { rig.publishGas(values, gap: 100_000) }
        func seqs(_ path: String) -> [(batch: String, seq: Int)] {
            platform.messages(via: "https").filter { $0["path"] as? String == path }.compactMap { m in
                guard let e = m["msg"] as? [String: Any], e["type"] as? String == "event", let s = e["seq"] as? Int else { return nil }
                return (m["batch"] as? String ?? "", s)
            }
        }
        publish([25, 5, 45, 5])
        try waitUntil(20, "the untrusted uplink's comm alarm naming the certificate", log: rig.daemon.log) {
            journalEvents(rig).contains { e in
                e["tag"] as? String == "uplink-untrusted" && e["event"] as? String == "raised"
                    && ((e["message"] as? String) ?? "").contains("CERTIFICATE_VERIFY_FAILED")
            }
        }
        var journal = try journalSeqs(rig)
        try waitUntil(20, "the trusted uplink's events", log: rig.daemon.log) { Set(seqs("/trusted").map(\.seq)).isSuperset(of: journal) }
        #expect(seqs("/untrusted").isEmpty, "nothing over a connection to a platform whose certificate was refused")

        // Slow answers: timeouts, the comm alarm, the same batches offered again under their names.
        try "slow".write(toFile: dir.path + "/platform.mode", atomically: true, encoding: .utf8)
        publish([25, 5])
        try waitUntil(20, "the trusted uplink's comm alarm", log: rig.daemon.log) {
            ((try? rig.snapshot()) ?? []).contains { $0["tag"] as? String == "uplink-trusted" && $0["state"] as? String == "unack" }
        }
        try FileManager.default.removeItem(atPath: dir.path + "/platform.mode")
        journal = try journalSeqs(rig)
        try waitUntil(30, "every event after the slow spell", log: rig.daemon.log) { Set(seqs("/trusted").map(\.seq)).isSuperset(of: journal) }
        let got = seqs("/trusted")
        var byBatch: [String: [Int]] = [:], order: [String] = []
        for (b, s) in got {
            if byBatch[b] == nil { order.append(b) }
            byBatch[b, default: []].append(s)
        }
        let firstCopies = order.flatMap { b -> [Int] in
            let all = byBatch[b]!
            // A batch taken n times holds its events n times over, each copy the same.
            let n = all.count / Set(all).count
            return Array(all.prefix(all.count / n))
        }
        #expect(got.count > firstCopies.count, "the slow platform took repeats (timed-out batches it finished anyway): \(got)")
        #expect(firstCopies == firstCopies.sorted() && Set(firstCopies).count == firstCopies.count, "by batch name, each event once, in order: \(got)")
        #expect(Array(firstCopies.prefix(journal.count)) == journal, "\(firstCopies) vs \(journal)")
        #expect(seqs("/untrusted").isEmpty)
    }

    /// Stored values of GT-101 as `hazmon trend` reads them: (RFC 3339 time=value, Beijing time=value).
    func storedValues(dir: String) throws -> [(utc: String, beijing: String)] {
        let r = try runTrend(["GT-101", "--json", "--history", dir + "/history.db", "--since", "1h"], in: dir)
        return jsonLines(r.out).map { o in
            let time = o["time"] as? String ?? "", value = o["value"].map { "\($0)" } ?? ""
            let instant = ISO8601DateFormatter.withFractions.date(from: time) ?? Date()
            let f = DateFormatter()
            f.timeZone = TimeZone(identifier: "Asia/Shanghai")
            f.dateFormat = "yyyy-MM-dd HH:mm:ss"
            return ("\(time)=\(value)", "\(f.string(from: instant))=\(value)")
        }
    }

    /// Every event in the journal, from a fresh subscriber's replay.
    func journalEvents(_ rig: Rig) -> [[String: Any]] {
        guard let (c, _) = try? rig.daemon.subscriber(since: 0) else { return [] }
        defer { c.close() }
        var events: [[String: Any]] = []
        while let e = c.nextEvent(timeout: 0.5) { events.append(e) }
        return events
    }

    func journalSeqs(_ rig: Rig) throws -> [Int] {
        let (c, _) = try rig.daemon.subscriber(since: 0)
        defer { c.close() }
        var seqs: [Int] = []
        while let e = c.nextEvent(timeout: 1) { seqs.append(e["seq"] as? Int ?? -1) }
        return seqs
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
