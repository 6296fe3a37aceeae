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
