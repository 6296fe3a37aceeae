import Foundation
import HazmonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `hazmon trend` as a user runs it: exit code and standard output (stderr into `err`).
func runTrend(_ args: [String], in dir: String) throws -> (code: Int32, out: [String], err: String) {
    let outFile = dir + "/trend.\(UInt32.random(in: 0...UInt32.max)).out"
    let wrapped = ["-c", "exec \"$0\" \"$@\" 2>\(outFile).err", hazmonBinary, "trend"] + args
    let code = try ChildProcess("/bin/sh", wrapped, output: outFile).wait()
    let out = ((try? String(contentsOfFile: outFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    let err = (try? String(contentsOfFile: outFile + ".err", encoding: .utf8)) ?? ""
    return (code, out, err)
}

func jsonLines(_ lines: [String]) -> [[String: Any]] {
    lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// The process history through the real daemon: every published value in `hazmon trend`, a
/// crash's bound, a full disk, a damaged file.
@Suite("Process history through the daemon", .serialized)
struct HistoryTests {
    /// A second tag with a deadband, and a fast batch so the test need not wait a second.
    static let extra = """
        [[tag]]
        id = "PT-201"
        unit = "MPa"
        source = { mqtt = "plant/t201/pressure" }
        history = { deadband = 0.05 }
        [history]
        batch = "200ms"
        max_gap = "60s"
        """

    @Test func everyPublishedValueIsInTrend() throws {
        let rig = try Rig(extra: Self.extra)
        defer { rig.close() }
        // Values with repeats (not stored again), a bad reading (stored: a quality change),
        // and a deadbanded pressure.
        let gas: [String] = ["5", "5", "5.5", "6", "6", "25.25", "41.7", #"{"value":41.7,"quality":"bad"}"#, "41.7", "3", "3", "0"]
        let pressure = ["1.00", "1.02", "1.04", "1.06", "1.30", "1.31", "1.10"]
        for (i, v) in gas.enumerated() {
            rig.publisher.publish("plant/t101/gas", v)
            if i < pressure.count { rig.publisher.publish("plant/t201/pressure", pressure[i]) }
            usleep(30_000)
        }
        usleep(900_000)
        let history = rig.dir.path + "/history.db"
        let r = try runTrend(["GT-101", "--history", history, "--json", "--since", "10m"], in: rig.dir.path)
        #expect(r.code == 0, "\(r.err)")
        let points = jsonLines(r.out)
        let stored = points.map { "\($0["value"].map { "\($0)" } ?? "nil")/\($0["quality"] as? String ?? "?")" }
        #expect(stored == ["5/good", "5.5/good", "6/good", "25.25/good", "41.7/good", "41.7/bad", "41.7/good", "3/good", "0/good"])
        #expect(points.allSatisfy { ($0["time"] as? String)?.hasSuffix("Z") == true && $0["tag"] as? String == "GT-101" })
        // Deadband 0.05 MPa: 1.00, then 1.06 (> 0.05 from 1.00), 1.30, then 1.10; 1.02, 1.04, 1.31 are within it.
        let p = jsonLines(try runTrend(["PT-201", "--history", history, "--json"], in: rig.dir.path).out)
        #expect(p.map { "\($0["value"]!)" } == ["1", "1.06", "1.3", "1.1"])

        // The same through --config, as CSV with local times, and as one-minute aggregates.
        let csv = try runTrend(["GT-101", "--config", rig.dir.path + "/hazmon.toml", "--csv", "--timezone", "Asia/Shanghai"],
                               in: rig.dir.path)
        #expect(csv.code == 0)
        #expect(csv.out.first == "tag,time,value,quality,source_time")
        #expect(csv.out.count == 10 && csv.out[1].contains("+08:00") && csv.out[1].hasPrefix("GT-101,"))
        let agg = jsonLines(try runTrend(["GT-101", "--history", history, "--json", "--every", "1h"], in: rig.dir.path).out)
        #expect(agg.count >= 1 && agg.count <= 2, "the values fall in one hour (or two, across the hour)")
        #expect(agg.map { $0["count"] as? Int ?? 0 }.reduce(0, +) == 8, "bad values are left out of the figures")
        #expect(agg.compactMap { $0["max"] as? Double }.max() == 41.7)

        // Clear errors.
        let unknown = try runTrend(["NOPE", "--history", history], in: rig.dir.path)
        #expect(unknown.code == 0 && unknown.err.contains("holds no tag \"NOPE\""))
        let missing = try runTrend(["GT-101", "--history", rig.dir.path + "/none.db"], in: rig.dir.path)
        #expect(missing.code == 1 && missing.err.contains("cannot read the history"))
        let notHistory = try runTrend(["GT-101", "--history", rig.daemon.journalPath], in: rig.dir.path)
        #expect(notHistory.code == 1 && notHistory.err.contains("not a hazmon history"))
        let usage = try runTrend(["GT-101", "--history", history, "--every", "0s"], in: rig.dir.path)
        #expect(usage.code == 2)
    }

    /// SIGKILL while values stream in: whatever was published more than one batch interval
    /// (200 ms here, plus the write) before the kill is in the history, in order, once.
    @Test func aCrashLosesAtMostTheLastBatch() throws {
        let rig = try Rig(extra: Self.extra)
        defer { rig.close() }
        var sent: [(Double, Date)] = []
        for i in 0..<150 {
            let v = Double(i) / 2
            rig.publisher.publish("plant/t101/gas", "\(v)")
            sent.append((v, Date()))
            usleep(10_000)
        }
        let killed = Date()
        rig.daemon.crash()
        let r = try runTrend(["GT-101", "--history", rig.dir.path + "/history.db", "--json", "--since", "10m"], in: rig.dir.path)
        let values = jsonLines(r.out).compactMap { $0["value"] as? Double }
        #expect(values == Array(sent.map(\.0).prefix(values.count)), "what is there is in order, with no gap and no repeat")
        let mustHave = sent.filter { killed.timeIntervalSince($0.1) > 0.6 }.count
        #expect(values.count >= mustHave, "lost more than the last batch: \(values.count) of \(sent.count), \(mustHave) required")
        // A restart keeps everything and carries on.
        try rig.crashAndRestart()
        rig.publisher.publish("plant/t101/gas", "99")
        usleep(800_000)
        let after = jsonLines(try runTrend(["GT-101", "--history", rig.dir.path + "/history.db", "--json", "--since", "10m"],
                                           in: rig.dir.path).out).compactMap { $0["value"] as? Double }
        #expect(Array(after.prefix(values.count)) == values && after.last == 99)
    }

    /// The history on a full 1 MiB tmpfs: alarms and the journal go on, the `history` comm
    /// alarm is raised, values are kept in memory; space freed, it clears and writes them.
    @Test func aFullDiskNeverStopsAlarmsAndRecovers() throws {
        let dir = try TempDir(prefix: "hazmon-hfull")
        defer { dir.remove() }
        let port = try FreePort.find()
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        let volume = dir.path + "/vol"
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        let config = gasConfig(port: port) + "\n[history]\npath = \"\(volume)/history.db\"\nbatch = \"200ms\"\n"
        let daemon = try DaemonUnderTest(config: config, dir: dir, wrapper: [
            "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            "mount -t tmpfs -o size=1m hazmon-test \(volume) && exec \"$0\" \"$@\"",
        ])
        defer { daemon.stop() }
        for _ in 0..<200 where !daemon.log.contains("MQTT connected") { usleep(25_000) }
        func inNamespace(_ script: String) throws -> Int32 {
            try ChildProcess("/usr/bin/nsenter", ["--target", "\(daemon.child.pid)", "--mount", "/bin/sh", "-c", script],
                             output: dir.path + "/nsenter.out").wait()
        }
        let client = try SocketClient(path: daemon.socketPath)
        defer { client.close() }
        _ = client.readJSON()
        client.send(#"{"type":"subscribe"}"#)
        let publisher = try Publisher(port: port)
        publisher.publish("plant/t101/gas", "1")
        usleep(500_000)
        _ = try inNamespace("dd if=/dev/zero of=\(volume)/filler bs=4k 2>/dev/null; sync")
        // Enough distinct values to need new pages, and an alarm among them.
        for i in 0..<3000 { publisher.publish("plant/t101/gas", "\(1 + Double(i % 1500) / 1000)") }
        publisher.publish("plant/t101/gas", "45")
        var events: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !events.contains(where: { $0["tag"] as? String == "history" && $0["event"] as? String == "raised" })
            || !events.contains(where: { $0["tag"] as? String == "GT-101" }) {
            if let e = client.nextEvent(timeout: 1) { events.append(e) }
        }
        let gas = events.first { $0["tag"] as? String == "GT-101" }
        #expect(gas?["event"] as? String == "raised", "the alarm is evaluated while the history is full")
        #expect((gas?["flags"] as? [String] ?? []).isEmpty, "and journaled: the journal is elsewhere")
        let raised = events.first { $0["tag"] as? String == "history" }
        #expect(raised?["condition"] as? String == "comm" && raised?["event"] as? String == "raised")
        #expect((raised?["message"] as? String ?? "").contains("full"), "the message says why: \(raised?["message"] ?? "")")

        #expect(try inNamespace("rm -f \(volume)/filler") == 0)
        var cleared = false
        let until = Date().addingTimeInterval(15)
        while Date() < until, !cleared {
            if let e = client.nextEvent(timeout: 1), e["tag"] as? String == "history", e["event"] as? String == "cleared" { cleared = true }
        }
        #expect(cleared, "the history alarm clears when space is back")
        let out = dir.path + "/trend.out"
        _ = try ChildProcess("/usr/bin/nsenter", ["--target", "\(daemon.child.pid)", "--mount", hazmonBinary, "trend", "GT-101",
                                                  "--history", volume + "/history.db", "--json"], output: out).wait()
        let values = jsonLines(((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init))
        #expect(values.last?["value"] as? Double == 45, "values from while it was full were kept and written")
        #expect(values.count >= 1500, "\(values.count) points")
    }

    @Test func aDamagedHistoryIsSetAsideAndTheJournalIsUntouched() throws {
        let dir = try TempDir(prefix: "hazmon-hbad")
        defer { dir.remove() }
        let garbage = Data((0..<16_384).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        try garbage.write(to: URL(fileURLWithPath: dir.path + "/history.db"))
        let port = try FreePort.find()
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        let daemon = try DaemonUnderTest(config: gasConfig(port: port), dir: dir)
        defer { daemon.stop() }
        for _ in 0..<200 where !daemon.log.contains("MQTT connected") { usleep(25_000) }
        let (client, _) = try daemon.subscriber(since: nil)
        defer { client.close() }
        let publisher = try Publisher(port: port)
        publisher.publish("plant/t101/gas", "45")
        let e = client.nextEvent()
        #expect(e?["event"] as? String == "raised" && (e?["flags"] as? [String] ?? []).isEmpty)
        for _ in 0..<100 where !daemon.log.contains("moved aside") { usleep(20_000) }
        #expect(daemon.log.contains("moved aside to \(dir.path)/history.db.damaged-"))
        let aside = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("history.db.damaged-") }
        #expect(aside.count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + (aside.first ?? ""))) == garbage, "kept as it was")
        usleep(1_500_000)
        let r = try runTrend(["GT-101", "--history", dir.path + "/history.db", "--json"], in: dir.path)
        #expect(jsonLines(r.out).last?["value"] as? Double == 45, "a new history records")
    }
}
