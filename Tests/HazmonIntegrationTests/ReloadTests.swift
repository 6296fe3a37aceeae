import Foundation
import HazmonDaemon
import HazmonJournal
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP: the configuration is read again and applied without a restart; a broken one is
/// refused and the old one keeps running.
@Suite("Reload on SIGHUP", .serialized)
struct ReloadTests {
    /// Rewrites the rig's configuration file (the journal stays where it was).
    func rewrite(_ rig: Rig, extra: String) throws {
        let text = gasConfig(port: rig.port, extra: extra).replacingOccurrences(of: "{SOCKET}", with: rig.daemon.socketPath)
            + "\n[journal]\npath = \"\(rig.daemon.journalPath)\"\n"
        try text.write(toFile: rig.dir.path + "/hazmon.toml", atomically: true, encoding: .utf8)
    }

    func waitForLog(_ rig: Rig, _ text: String, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if rig.daemon.log.contains(text) { return true }
            usleep(50_000)
        }
        return false
    }

    @Test func aGoodConfigIsAppliedKeepingAlarmStates() throws {
        let rig = try Rig(extra: secondGasTag)
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        rig.publisher.publish("plant/t102/gas", "30")
        var seen: [[String: Any]] = []
        while seen.count < 2, let e = rig.client.nextEvent() { seen.append(e) }
        let ops = try SocketClient(path: rig.daemon.socketPath)
        defer { ops.close() }
        _ = ops.readJSON()
        ops.send(#"{"type":"ack","tag":"GT-101","condition":"hh","user":"zhang"}"#)
        #expect(ops.readJSON()?["type"] as? String == "ok")
        #expect(rig.client.nextEvent()?["event"] as? String == "acknowledged")

        // GT-102 leaves, GT-103 arrives on a new topic, GT-101 stays (limits unchanged).
        try rewrite(rig, extra: """
            [[tag]]
            id = "GT-103"
            class = "combustible_gas"
            source = { mqtt = "plant/t103/gas" }
            alarms.h = { at = 20 }
            """)
        kill(rig.daemon.child.pid, SIGHUP)
        let removed = rig.client.nextEvent()
        #expect(removed?["tag"] as? String == "GT-102" && removed?["event"] as? String == "cleared")
        #expect((removed?["message"] as? String)?.contains("no longer in the configuration") == true)
        #expect(waitForLog(rig, "configuration reloaded"))
        ops.send(#"{"type":"snapshot"}"#)
        let alarms = ops.readJSON()?["alarms"] as? [[String: Any]] ?? []
        #expect(alarms.count == 1 && alarms.first?["tag"] as? String == "GT-101" && alarms.first?["state"] as? String == "acked",
                "GT-101 keeps its acknowledged hh alarm: \(alarms)")
        // Still above hh: no new raise. The new tag works (its topic is subscribed; the
        // broker may take a moment to process the new subscription, so publish until it does).
        rig.publisher.publish("plant/t101/gas", "46")
        var next: [String: Any]?
        for _ in 0..<25 where next == nil {
            rig.publisher.publish("plant/t103/gas", "22")
            next = rig.client.nextEvent(timeout: 0.2)
        }
        #expect(next?["tag"] as? String == "GT-103" && next?["event"] as? String == "raised", "\(String(describing: next))\n\(rig.daemon.log)")
        #expect(rig.daemon.child.isRunning)
        // The alert socket stayed: the same client saw it all.
        #expect(rig.daemon.log.contains("SIGHUP: reloading the configuration"))
    }

    /// Point tables are re-read on SIGHUP: a tag added in an included file starts working, and
    /// a mistake in one refuses the reload naming that file.
    @Test func includedPointTablesAreReloaded() throws {
        let rig = try Rig()
        defer { rig.close() }
        try FileManager.default.createDirectory(atPath: rig.dir.path + "/points", withIntermediateDirectories: true)
        try """
            [[tag]]
            id = "GT-104"
            class = "combustible_gas"
            source = { mqtt = "plant/t104/gas" }
            """.write(toFile: rig.dir.path + "/points/t104.toml", atomically: true, encoding: .utf8)
        let main = "include = [\"points/*.toml\"]\n" + gasConfig(port: rig.port, extra: "")
            .replacingOccurrences(of: "{SOCKET}", with: rig.daemon.socketPath) + "\n[journal]\npath = \"\(rig.daemon.journalPath)\"\n"
        try main.write(toFile: rig.dir.path + "/hazmon.toml", atomically: true, encoding: .utf8)
        kill(rig.daemon.child.pid, SIGHUP)
        #expect(waitForLog(rig, "configuration reloaded"))
        var next: [String: Any]?
        for _ in 0..<25 where next == nil {
            rig.publisher.publish("plant/t104/gas", "22")
            next = rig.client.nextEvent(timeout: 0.2)
        }
        #expect(next?["tag"] as? String == "GT-104" && next?["event"] as? String == "raised", "\(rig.daemon.log)")

        try """
            [[tag]]
            id = "GT-104"
            class = "combustible_gas"
            source = { mqtt = "plant/t104/gas" }
            alarms.hh = { at = 60 }
            """.write(toFile: rig.dir.path + "/points/t104.toml", atomically: true, encoding: .utf8)
        kill(rig.daemon.child.pid, SIGHUP)
        #expect(waitForLog(rig, "points/t104.toml:5: tag \\\"GT-104\\\": alarms.hh.at: 60 exceeds"), "\(rig.daemon.log)")
        #expect(rig.daemon.child.isRunning)
    }

    @Test func aBrokenConfigIsRefusedAndTheOldOneKeepsRaisingAlarms() throws {
        let rig = try Rig()
        defer { rig.close() }
        try "[site]\nid = \"it-site\"\n[[tag]]\nid = \"GT-101\"\nalarms.hh = { at = 60 }\nthis is not toml\n"
            .write(toFile: rig.dir.path + "/hazmon.toml", atomically: true, encoding: .utf8)
        kill(rig.daemon.child.pid, SIGHUP)
        #expect(waitForLog(rig, "reload refused, the previous configuration keeps running"))
        rig.publisher.publish("plant/t101/gas", "45")
        let e = rig.client.nextEvent()
        #expect(e?["tag"] as? String == "GT-101" && e?["event"] as? String == "raised" && e?["condition"] as? String == "hh")
        #expect(rig.daemon.child.isRunning)
    }

    /// READY → RELOADING=1 with MONOTONIC_USEC → READY → STOPPING, as Type=notify-reload wants.
    @Test func notifyReloadSequence() throws {
        let dir = try TempDir(prefix: "hazmon-reload-notify")
        defer { dir.remove() }
        let notify = try FakeNotifySocket(path: dir.path + "/notify.sock")
        let config = dir.path + "/hazmon.toml"
        try "[alert_socket]\npath = \"\(dir.path)/alerts.sock\"\n[journal]\npath = \"\(dir.path)/journal.db\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        var env = SystemdNotifier.processEnvironment()
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = "400000"
        env.removeValue(forKey: "WATCHDOG_PID")
        let child = try ChildProcess(hazmonBinary, ["run", "--config", config], output: dir.path + "/log", environment: env)
        var all = notify.collect(for: 10) { $0.contains { $0.hasPrefix("READY=1") } }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let before = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
        kill(child.pid, SIGHUP)
        all += notify.collect(for: 10) { m in m.contains { $0.hasPrefix("RELOADING=1") } && m.last { $0.hasPrefix("READY=1") } != nil
            && m.lastIndex { $0.hasPrefix("READY=1") }! > m.firstIndex { $0.hasPrefix("RELOADING=1") }! }
        child.stop()
        all += notify.collect(for: 2) { $0.contains { $0.hasPrefix("STOPPING=1") } }
        let ready1 = all.firstIndex { $0.hasPrefix("READY=1") }
        let reloading = all.firstIndex { $0.hasPrefix("RELOADING=1") }
        let ready2 = all.lastIndex { $0.hasPrefix("READY=1") }
        let stopping = all.firstIndex { $0.hasPrefix("STOPPING=1") }
        #expect(ready1 != nil && reloading != nil && ready2 != nil && stopping != nil, "\(all)")
        if let ready1, let reloading, let ready2, let stopping {
            #expect(ready1 < reloading && reloading < ready2 && ready2 < stopping, "\(all)")
            let usec = all[reloading].split(separator: "\n").first { $0.hasPrefix("MONOTONIC_USEC=") }
                .flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) }
            #expect(usec.map { $0 >= before && $0 < before + 5_000_000 } == true, "MONOTONIC_USEC of CLOCK_MONOTONIC: \(all[reloading])")
        }
    }
}

@Suite("Graceful shutdown")
struct ShutdownTests {
    /// SIGTERM: clients are told, the journal has everything, and stopping the broker
    /// connection on purpose is not recorded as a lost broker.
    @Test func sigtermSaysByeAndRaisesNothing() throws {
        let rig = try Rig()
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        let t0 = Date()
        rig.daemon.stop()
        let took = Date().timeIntervalSince(t0)
        #expect(took < 3, "stopped in \(took) s")
        #expect(rig.daemon.log.contains("hazmon stopped"), "a clean exit, not SIGKILL: \(rig.daemon.log.suffix(1500))")
        var bye = false
        while let line = rig.client.readLine(timeout: 5) {
            #expect(!line.contains(#""type":"event""#), "no event at shutdown: \(line)")
            if line == #"{"type":"bye","reason":"shutdown"}"# { bye = true; break }
        }
        #expect(bye)
        let journaled = try JournalReader(path: rig.daemon.journalPath).events()
        #expect(journaled.map(\.tag) == ["GT-101"], "\(journaled.map(\.json))")
        #expect(rig.daemon.log.contains("journal closed"))
    }
}
