import Foundation
import HazmonDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Spec §13 against the real daemon, broker and journal: two LPG spheres' levels over MQTT give
/// a live R; filling past a boundary is a journaled level event; a crash and restart neither
/// forgets the level nor announces it again; a level tag that goes bad makes R unknown.
@Suite("Hazard sources in the daemon", .serialized)
struct HazardSourceDaemonTests {
    static let extra = """
        [[tag]]
        id = "LT-S101"
        unit = "m"
        class = "level"
        source = { mqtt = "plant/s101/level" }
        [[tag]]
        id = "LT-S102"
        unit = "%"
        class = "level"
        source = { mqtt = "plant/s102/level" }
        [[hazard_source]]
        id = "S10x"
        code = "3707xx0001"
        name = "LPG spheres S101/S102"
        exposed_people = 120
        [[hazard_source.substance]]
        name = "液化石油气"
        beta = 1.5
        inventory = [{ level = "LT-S101", shape = "sphere", diameter = 12, density = 0.5 },
                     { level = "LT-S102", shape = "sphere", diameter = 12, density = 0.5 }]
        """

    /// Waits for the next event of `condition`, skipping others; nil after `timeout` seconds.
    func next(_ client: SocketClient, condition: String, timeout: Double = 5) -> [String: Any]? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            guard let e = client.nextEvent(timeout: max(0.05, end.timeIntervalSinceNow)) else { return nil }
            if e["condition"] as? String == condition { return e }
        }
        return nil
    }

    func sources(_ rig: Rig) throws -> [[String: Any]] {
        let c = try SocketClient(path: rig.daemon.socketPath)
        defer { c.close() }
        _ = c.readJSON()
        c.send(#"{"type":"snapshot"}"#)
        return c.readJSON()?["hazard_sources"] as? [[String: Any]] ?? []
    }

    @Test func levelsGradeTheSourceAcrossARestartAndABadTag() throws {
        let rig = try Rig(extra: Self.extra)
        defer { rig.close() }
        // Half full each (LT-S102 in %): q = 452.389 t, R = 2 · 1.5 · q / 50 = 27.14, level 3.
        rig.publisher.publish("plant/s101/level", "6")
        rig.publisher.publish("plant/s102/level", "50")
        let first = try #require(next(rig.client, condition: "level"))
        #expect(first["tag"] as? String == "S10x" && first["event"] as? String == "escalated" && first["grade"] as? Int == 3)
        #expect(abs((first["value"] as? Double ?? 0) - 27.143) < 0.01 && first["hazard_source"] as? String == "S10x")
        #expect((first["message"] as? String)?.contains("LPG spheres S101/S102") == true)
        var s = try #require(try sources(rig).first)
        #expect(s["level"] as? Int == 3 && s["code"] as? String == "3707xx0001" && abs((s["r"] as? Double ?? 0) - 27.143) < 0.01)

        // Fill S101 to the top and S102 to 90 %: q = 452.389 + 0.5 · V(10.8 m) = 892.1 t, R 53.5: level 2.
        rig.publisher.publish("plant/s101/level", "12")
        rig.publisher.publish("plant/s102/level", "90")
        let up = try #require(next(rig.client, condition: "level"))
        #expect(up["event"] as? String == "escalated" && up["grade"] as? Int == 2 && up["limit"] as? Double == 50)

        // SIGKILL and a new daemon: the same readings announce nothing; the level is remembered.
        let lastSeq = up["seq"] as? Int ?? 0
        try rig.crashAndRestart()
        rig.publisher.publish("plant/s101/level", "12")
        rig.publisher.publish("plant/s102/level", "90")
        var ok = false
        for _ in 0..<100 {
            if let got = try sources(rig).first, got["r"] is Double { s = got; ok = true; break }
            usleep(50_000)
        }
        #expect(ok && s["level"] as? Int == 2)
        let (replay, _) = try rig.daemon.subscriber(since: lastSeq)
        defer { replay.close() }
        #expect(next(replay, condition: "level", timeout: 1) == nil, "a restart announced the level again")

        // A level reading far outside the sphere: R unknown, and which tag says why; no event.
        rig.publisher.publish("plant/s102/level", "180")
        var unknown: [String] = []
        for _ in 0..<100 {
            if let got = try sources(rig).first, got["r"] is NSNull {
                s = got
                unknown = got["unknown"] as? [String] ?? []
                break
            }
            usleep(50_000)
        }
        #expect(unknown.count == 1 && unknown.first?.hasPrefix("LT-S102: level 180 (21.6 m) is outside the vessel") == true, "\(unknown)")
        #expect(s["level"] as? Int == 2)

        // Emptying: back down to level 3, with the previous level in the message.
        rig.publisher.publish("plant/s101/level", "6")
        rig.publisher.publish("plant/s102/level", "50")
        let down = try #require(next(replay, condition: "level"))
        #expect(down["event"] as? String == "deescalated" && down["grade"] as? Int == 3)
        #expect((down["message"] as? String)?.hasSuffix("was level 2)") == true)

        // `hazmon alarms` shows the source's line.
        let out = rig.dir.path + "/alarms.out"
        let cli = try ChildProcess(hazmonBinary, ["alarms", "--socket", rig.daemon.socketPath], output: out)
        #expect(cli.wait() == 0)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(text.contains("S10x") && text.contains("level 3, R 27.14") && text.contains("液化石油气 452.4 t"), "\(text)")
    }

    /// An interlock bypassed past its delay raises `bypass`; `hazmon report` gives its share of
    /// time in service from the process history.
    @Test func anInterlockBypassIsAlarmedAndItsInServiceShareReported() throws {
        let rig = try Rig(extra: """
            [[tag]]
            id = "XS-101"
            name = "ESD-101 feed isolation"
            class = "interlock"
            source = { mqtt = "plant/xs101" }
            alarms.bypass = { after = "1s", grade = 1 }
            """)
        defer { rig.close() }
        rig.publisher.publish("plant/xs101", "1")
        usleep(1_500_000)
        rig.publisher.publish("plant/xs101", "0")
        let raised = try #require(next(rig.client, condition: "bypass", timeout: 5))
        #expect(raised["event"] as? String == "raised" && raised["grade"] as? Int == 1 && raised["alarm_type"] as? String == "bypass")
        #expect(raised["message"] as? String == "ESD-101 feed isolation interlock bypassed for more than 1s")
        usleep(500_000)
        rig.publisher.publish("plant/xs101", "1")
        #expect(next(rig.client, condition: "bypass")?["event"] as? String == "cleared")
        usleep(2_500_000)   // in service again; the history's batch is written every second
        let out = rig.dir.path + "/report.json"
        let child = try ChildProcess(hazmonBinary, ["report", "--config", rig.dir.path + "/hazmon.toml", "--since", "1h", "--json"], output: out)
        #expect(child.wait() == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let interlocks = (doc["positions"] as? [[String: Any]])?.first?["interlocks"] as? [[String: Any]] ?? []
        // In service ~1.5 s, bypassed ~1.5 s, in service ~2.5 s until the report: about 70 %.
        let share = interlocks.first?["in_service"] as? Double ?? -1
        #expect(interlocks.first?["tag"] as? String == "XS-101" && share > 0.5 && share < 0.9, "\(interlocks)")
    }

    /// `hazmon mode` over the socket: journaled with who and why, the mode's list suppressed,
    /// shown by `hazmon alarms`, back to normal by itself.
    @Test func aModeIsDeclaredSuppressesItsListAndEnds() throws {
        let extra = Self.extra.replacingOccurrences(of: "exposed_people = 120\n",
                                                    with: "exposed_people = 120\nmodes.maintenance = { suppress = [\"PT-S101\"], max = \"1h\" }\n")
        let rig = try Rig(extra: extra + """

            [[tag]]
            id = "PT-S101"
            unit = "MPa"
            hazard_source = "S10x"
            source = { mqtt = "plant/s101/pt" }
            alarms.h = { at = 1.4 }
            """)
        defer { rig.close() }
        func hazmon(_ args: [String]) throws -> (Int32, String) {
            let out = rig.dir.path + "/cli-\(UInt32.random(in: 0...UInt32.max)).out"
            let child = try ChildProcess(hazmonBinary, args + ["--socket", rig.daemon.socketPath], output: out)
            return (child.wait(), (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        }
        #expect(try hazmon(["mode", "S10x", "maintenance", "--for", "3s"]).0 == 2, "--note is required")
        let (tooLong, tooLongOut) = try hazmon(["mode", "S10x", "maintenance", "--for", "2h", "--note", "x"])
        #expect(tooLong == 1 && tooLongOut.contains("mode_too_long"), "\(tooLongOut)")
        let (code, out) = try hazmon(["mode", "S10x", "maintenance", "--for", "3s", "--note", "PSV-101 replaced", "--user", "wang"])
        #expect(code == 0 && out.contains("mode S10x maintenance: ok"), "\(out)")
        let start = try #require(next(rig.client, condition: "mode"))
        #expect(start["event"] as? String == "mode_start" && start["user"] as? String == "wang" && start["note"] as? String == "PSV-101 replaced")
        rig.publisher.publish("plant/s101/pt", "1.5")
        var raised: [String: Any]?
        for _ in 0..<20 {
            guard let e = rig.client.nextEvent() else { break }
            if e["tag"] as? String == "PT-S101", e["event"] as? String == "raised" { raised = e; break }
        }
        #expect((raised?["flags"] as? [String])?.contains("suppressed") == true, "\(String(describing: raised))")
        let (_, table) = try hazmon(["alarms"])
        #expect(table.contains("[maintenance until ") && table.contains("by wang: PSV-101 replaced"), "\(table)")
        let end = try #require(next(rig.client, condition: "mode", timeout: 6))
        #expect(end["event"] as? String == "mode_end" && (end["message"] as? String)?.contains("time ran out") == true)
        let sources = try sources(rig)
        #expect(sources.first?["mode"] as? String == "normal")
    }
}
