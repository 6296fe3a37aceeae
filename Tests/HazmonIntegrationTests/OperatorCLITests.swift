import Foundation
import HazmonDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `hazmon alarms`, `ack`, `shelve`, `unshelve`, `reset` and `tail` against a running daemon.
@Suite("Operator CLI", .serialized)
struct OperatorCLITests {
    func hazmon(_ args: [String], in rig: Rig) throws -> (Int32, String) {
        let out = rig.dir.path + "/cli-\(UInt32.random(in: 0...UInt32.max)).out"
        let child = try ChildProcess(hazmonBinary, args + ["--socket", rig.daemon.socketPath], output: out)
        let code = child.wait()
        return (code, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    @Test func alarmsAckShelveAndErrors() throws {
        let rig = try Rig()
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        let (code, table) = try hazmon(["alarms"], in: rig)
        #expect(code == 0)
        #expect(table.contains("ORANGE") && table.contains("GT-101/hh") && table.contains("unack") && table.contains("45 %LEL (limit 40)"))
        let (jcode, json) = try hazmon(["alarms", "--json"], in: rig)
        #expect(jcode == 0 && json.contains(#""type":"snapshot""#))
        // TAG alone works when the tag has one alarm.
        let (ack, ackOut) = try hazmon(["ack", "GT-101", "--user", "zhang", "--note", "checking"], in: rig)
        #expect(ack == 0 && ackOut.contains("ack GT-101/hh: ok"))
        let e = rig.client.nextEvent()
        #expect(e?["event"] as? String == "acknowledged" && e?["user"] as? String == "zhang" && e?["note"] as? String == "checking")
        let (again, againOut) = try hazmon(["ack", "GT-101/hh"], in: rig)
        #expect(again == 1 && againOut.contains("already_acknowledged"))
        let (shelve, _) = try hazmon(["shelve", "GT-101/hh", "--for", "10m", "--note", "calibration"], in: rig)
        #expect(shelve == 0)
        #expect(rig.client.nextEvent()?["event"] as? String == "shelved")
        #expect(try hazmon(["unshelve", "GT-101/hh"], in: rig).0 == 0)
        let (reset, resetOut) = try hazmon(["reset", "GT-101/hh"], in: rig)
        #expect(reset == 1 && resetOut.contains("not_latched"))
        let (missing, missingOut) = try hazmon(["ack", "NOPE/h"], in: rig)
        #expect(missing == 1 && missingOut.contains("unknown_tag"))
        #expect(try hazmon(["shelve", "GT-101/hh"], in: rig).0 == 2)     // --for is required
    }

    /// `hazmon report` (spec §11) on the running daemon's journal, per position.
    @Test func reportReadsTheRunningDaemonsJournal() throws {
        let rig = try Rig(extra: """
            [[tag]]
            id = "PT-7"
            unit = "MPa"
            hazard_source = "S7"
            source = { mqtt = "plant/pt7" }
            alarms.hh = { at = 1.6, grade = 1 }
            [[position]]
            id = "console-2"
            name = "Sphere area console"
            hazard_sources = ["S7"]
            """)
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        rig.publisher.publish("plant/pt7", "1.7")
        #expect(rig.client.nextEvent()?["tag"] as? String == "PT-7")
        #expect(try hazmon(["ack", "PT-7/hh", "--user", "li"], in: rig).0 == 0)
        #expect(rig.client.nextEvent()?["event"] as? String == "acknowledged")
        let config = rig.dir.path + "/hazmon.toml"
        let run = { (args: [String]) throws -> (Int32, String) in
            let out = rig.dir.path + "/report-\(UInt32.random(in: 0...UInt32.max)).out"
            let child = try ChildProcess(hazmonBinary, ["report", "--config", config] + args, output: out)
            return (child.wait(), (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        }
        let (code, json) = try run(["--since", "1h", "--json"])
        #expect(code == 0, "\(json)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let positions = try #require(doc["positions"] as? [[String: Any]])
        #expect(positions.map { $0["id"] as? String } == ["it-site", "console-2"])
        #expect(positions[0]["alarms"] as? Int == 1 && positions[1]["alarms"] as? Int == 1)
        #expect((positions[1]["acknowledge"] as? [String: Any])?["count"] as? Int == 1)
        #expect((positions[0]["acknowledge"] as? [String: Any])?["unacknowledged"] as? Int == 1)
        let (tcode, text) = try run(["--since", "1h", "--position", "console-2"])
        #expect(tcode == 0 && text.contains("== Position console-2 (Sphere area console) ==") && !text.contains("it-site =="))
        let page = rig.dir.path + "/report.html"
        #expect(try run(["--html", page]).0 == 0)
        #expect(((try? String(contentsOfFile: page, encoding: .utf8)) ?? "").contains("<svg class=\"chart rate\""))
        #expect(try run(["--position", "nope"]).0 == 2)
        #expect(try run(["--since", "garbage"]).0 == 2)
    }

    @Test func tailFollowsTheFeedAndReplaysSince() throws {
        let rig = try Rig()
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "25")
        #expect(rig.client.nextEvent()?["seq"] as? Int == 1)
        let out = rig.dir.path + "/tail.out"
        let tail = try ChildProcess(hazmonBinary, ["tail", "--since", "0", "--json", "--socket", rig.daemon.socketPath], output: out)
        rig.publisher.publish("plant/t101/gas", "5")
        #expect(rig.client.nextEvent()?["seq"] as? Int == 2)
        var text = ""
        for _ in 0..<100 where !text.contains(#""seq":2"#) {
            usleep(50_000)
            text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        }
        tail.stop()
        let seqs = text.split(separator: "\n").compactMap { decodeSeq(String($0)) }
        #expect(seqs == [1, 2])
    }

    func decodeSeq(_ line: String) -> Int? {
        guard let d = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return nil }
        return o["seq"] as? Int
    }

    @Test func noDaemonIsAClearError() throws {
        let dir = try TempDir(prefix: "hazmon-cli")
        defer { dir.remove() }
        let child = try ChildProcess(hazmonBinary, ["alarms", "--socket", dir.path + "/none.sock"], output: dir.path + "/out")
        #expect(child.wait() == 1)
        let out = (try? String(contentsOfFile: dir.path + "/out", encoding: .utf8)) ?? ""
        #expect(out.contains("cannot connect to the alert socket") && out.contains("is hazmon running?"))
    }
}
