import Foundation
import HazmonDaemon
import HazmonJournal
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A second gas tag with a first-level limit only, on its own topic.
let secondGasTag = """
    [[tag]]
    id = "GT-102"
    class = "combustible_gas"
    source = { mqtt = "plant/t102/gas" }
    alarms.h = { at = 20 }
    """

@Suite("Journal: nothing lost, nothing repeated", .serialized)
struct JournalIntegrationTests {
    @Test func restartRestoresStatesWithoutRaisingAgain() throws {
        let rig = try Rig(extra: secondGasTag)
        defer { rig.close() }
        var (c, _) = try rig.daemon.subscriber(since: nil)
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(c.nextEvent()?["event"] as? String == "raised")
        rig.publisher.publish("plant/t102/gas", "25")
        #expect(c.nextEvent()?["tag"] as? String == "GT-102")
        let ops = try SocketClient(path: rig.daemon.socketPath)
        _ = ops.readJSON()
        ops.send(#"{"type":"ack","tag":"GT-101","condition":"hh","user":"zhang"}"#)
        #expect(ops.readJSON()?["type"] as? String == "ok")
        ops.send(#"{"type":"shelve","tag":"GT-102","condition":"h","user":"li","note":"calibration","for":"2h"}"#)
        #expect(ops.readJSON()?["type"] as? String == "ok")
        ops.close()
        #expect(c.nextEvent()?["event"] as? String == "acknowledged")
        let shelved = c.nextEvent()
        #expect(shelved?["event"] as? String == "shelved" && shelved?["seq"] as? Int == 4)
        let before = try rig.snapshot()
        c.close()

        try rig.crashAndRestart()
        #expect(rig.daemon.log.contains("restored 2 alarms from the journal"))
        let (c2, hello) = try rig.daemon.subscriber(since: 4)
        c = c2
        defer { c.close() }
        // After a crash, numbering continues after the block reserved before it (a clean stop
        // continues without a gap: JournalIntegrityTests).
        let resumed = hello["seq"] as? Int ?? 0
        #expect(resumed >= 4, "seq continues from the journal, never below it")
        let after = try rig.snapshot()
        let keys = ["tag", "condition", "state", "shelved_until", "since", "grade"]
        func view(_ a: [[String: Any]]) -> [String] {
            a.map { o in keys.map { "\(o[$0] ?? "-")" }.joined(separator: "|") }.sorted()
        }
        #expect(view(after) == view(before), "the same alarms, states, shelf expiry and start times")
        // Still at 45: no new `raised`. Then back to normal: one `cleared`, seq 5.
        rig.publisher.publish("plant/t101/gas", "45")
        rig.publisher.publish("plant/t101/gas", "2")
        let e = c.nextEvent()
        #expect(e?["event"] as? String == "cleared" && e?["tag"] as? String == "GT-101" && e?["seq"] as? Int == resumed + 1)
        #expect(e?["state"] as? String == "normal", "acknowledged before the crash, so it returns to normal")
    }

    /// SIGKILL mid-stream, ten times; a subscriber reconnecting with `since` each time must see
    /// every event exactly once, seq always rising, and no alarm may be raised twice without
    /// clearing in between. (After each crash seq skips the rest of its reserved block.)
    @Test func tenCrashesLoseAndRepeatNothing() throws {
        let rig = try Rig()
        defer { rig.close() }
        var seen: [Int] = []
        var lines: [[String: Any]] = []
        var (c, _) = try rig.daemon.subscriber(since: 0)
        for round in 0..<10 {
            // A burst of alternating values, killed while it is being evaluated.
            for i in 0..<(40 + round % 2) { rig.publisher.publish("plant/t101/gas", i % 2 == 0 ? "45" : "3") }
            usleep(UInt32(20_000 + round * 7_000))
            // Read what has arrived so far (possibly mid-burst), then crash.
            while let e = c.nextEvent(timeout: 0.05) {
                seen.append(e["seq"] as? Int ?? -1)
                lines.append(e)
            }
            c.close()
            try rig.crashAndRestart()
            (c, _) = try rig.daemon.subscriber(since: seen.last ?? 0)
        }
        rig.publisher.publish("plant/t101/gas", "3")
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, let e = c.nextEvent(timeout: 0.5) {
            seen.append(e["seq"] as? Int ?? -1)
            lines.append(e)
        }
        c.close()
        #expect(seen.count > 30, "seen \(seen.count) events")
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 < $1 }, "every seq once, in order: \(seen.prefix(60))…")
        #expect(seen.first == 1)
        // Alarm by alarm: raised ... cleared ... raised, never raised twice in a row.
        var active = false
        for e in lines where e["tag"] as? String == "GT-101" {
            switch e["event"] as? String {
            case "raised":
                #expect(!active, "duplicate raised at seq \(e["seq"] ?? "?")")
                active = true
            case "cleared": active = false
            default: break
            }
        }
        // The journal agrees with what the subscriber saw.
        let journaled = try JournalReader(path: rig.daemon.journalPath).events().map { Int($0.seq) }
        #expect(journaled == seen)
    }

    @Test func twoClientsAcknowledgingAtOnceMakeOneEvent() throws {
        let rig = try Rig()
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        let a = try SocketClient(path: rig.daemon.socketPath), b = try SocketClient(path: rig.daemon.socketPath)
        defer { a.close(); b.close() }
        _ = a.readJSON(); _ = b.readJSON()
        let ack = #"{"type":"ack","tag":"GT-101","condition":"hh","user":"%@"}"#
        a.send(ack.replacingOccurrences(of: "%@", with: "a"))
        b.send(ack.replacingOccurrences(of: "%@", with: "b"))
        let replies = [a.readJSON()?["type"] as? String, b.readJSON()?["type"] as? String].compactMap { $0 }.sorted()
        #expect(replies == ["error", "ok"])
        #expect(rig.client.nextEvent()?["event"] as? String == "acknowledged")
        #expect(rig.client.nextEvent(timeout: 0.5) == nil, "exactly one acknowledged event")
    }

    @Test func historyReadsTheJournalWithFilters() throws {
        let rig = try Rig(extra: secondGasTag)
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        rig.publisher.publish("plant/t102/gas", "25")
        rig.publisher.publish("plant/t101/gas", "1")
        for _ in 0..<3 { _ = rig.client.nextEvent() }
        let journal = rig.daemon.journalPath
        func history(_ args: [String]) throws -> (Int32, [String]) {
            let out = rig.dir.path + "/history-\(UInt32.random(in: 0...UInt32.max)).out"
            let child = try ChildProcess(hazmonBinary, ["history", "--journal", journal] + args, output: out)
            let code = child.wait()
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return (code, text.split(separator: "\n").map(String.init))
        }
        let (code, all) = try history(["--json"])
        #expect(code == 0 && all.count == 3 && all.allSatisfy { $0.hasPrefix(#"{"type":"event""#) })
        let (_, t101) = try history(["--json", "--tag", "GT-101"])
        #expect(t101.count == 2 && t101.allSatisfy { $0.contains(#""tag":"GT-101""#) })
        let (_, recent) = try history(["--json", "--since", "1h"])
        #expect(recent.count == 3)
        let (_, old) = try history(["--json", "--until", "2020-01-01"])
        #expect(old.isEmpty)
        let (_, table) = try history(["--tag", "GT-102"])
        #expect(table.count == 1 && table[0].contains("GT-102"))
        let (bad, message) = try history(["--since", "yesterday-ish"])
        #expect(bad == 2 && message.joined().contains("is not a time"))
        let (missing, why) = try history(["--journal", rig.dir.path + "/none.db"])
        #expect(missing == 1 && why.joined().contains("cannot read the journal"))
    }

    /// The journal on a real full filesystem: a 1 MiB tmpfs in a mount namespace of the
    /// daemon's own, filled by the test. Events must still arrive (flagged `unjournaled`), the
    /// `journal` alarm must be raised, and once space is freed the journal recovers by itself,
    /// committing what it missed.
    @Test func fullDiskTakesTheUnjournaledPathAndRecovers() throws {
        let dir = try TempDir(prefix: "hazmon-full")
        defer { dir.remove() }
        let port = try FreePort.find()
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        let volume = dir.path + "/vol"
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        // The history on another disk: on the same 1 MiB volume its WAL (one commit a second) can
        // take the space the test frees before the journal's next retry does (seen under load:
        // history.db-wal at 787 KB, the journal still full 10 s after the filler was removed).
        let config = gasConfig(port: port) + "\n[journal]\npath = \"\(volume)/journal.db\"\nmax_wait = \"500ms\"\n"
            + "[history]\npath = \"\(dir.path)/history.db\"\n"
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
        publisher.publish("plant/t101/gas", "45")
        let first = client.nextEvent()
        #expect(first?["event"] as? String == "raised" && (first?["flags"] as? [String] ?? []).isEmpty)

        // Fill the volume: dd stops at ENOSPC (exit status 1 is expected).
        _ = try inNamespace("dd if=/dev/zero of=\(volume)/filler bs=4k 2>/dev/null; sync")
        var events: [[String: Any]] = []
        for v in ["3", "45", "3", "45", "3", "45", "3"] { publisher.publish("plant/t101/gas", v) }
        var journalRaised = false
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, !journalRaised || events.filter({ $0["tag"] as? String == "GT-101" }).count < 7 {
            guard let e = client.nextEvent(timeout: 1) else { continue }
            events.append(e)
            if e["tag"] as? String == "journal", e["condition"] as? String == "comm", e["event"] as? String == "raised" {
                journalRaised = true
            }
        }
        let gas = events.filter { $0["tag"] as? String == "GT-101" }
        #expect(gas.count == 7, "every alarm event still arrives while the journal is full")
        #expect(gas.allSatisfy { ($0["flags"] as? [String] ?? []).contains("unjournaled") })
        #expect(journalRaised, "the journal system alarm is raised")
        #expect(daemon.log.contains("full"), "the log says why")

        // Free the space: the journal recovers by itself and commits what it missed.
        #expect(try inNamespace("rm -f \(volume)/filler") == 0)
        var cleared: [String: Any]?
        let until = Date().addingTimeInterval(10)
        while Date() < until, cleared == nil {
            if let e = client.nextEvent(timeout: 1), e["tag"] as? String == "journal", e["event"] as? String == "cleared" { cleared = e }
        }
        if cleared == nil {
            _ = try inNamespace("ls -la \(volume); df -k \(volume)")
            let listing = (try? String(contentsOfFile: dir.path + "/nsenter.out", encoding: .utf8)) ?? ""
            Issue.record("the journal alarm clears on recovery; the volume:\n\(listing)\nthe daemon's log:\n\(daemon.log.suffix(4000))")
        }
        #expect(cleared.map { ($0["flags"] as? [String] ?? []).isEmpty } == true, "the clearing itself is journaled")
        let out = dir.path + "/history.out"
        let code = try ChildProcess("/usr/bin/nsenter", ["--target", "\(daemon.child.pid)", "--mount", hazmonBinary,
                                                         "history", "--journal", volume + "/journal.db", "--json"],
                                    output: out).wait()
        let journaled = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(code == 0)
        let seqs = journaled.compactMap { line in line.range(of: #""seq":"#).map { Int(line[$0.upperBound...].prefix { $0.isNumber }) ?? -1 } }
        #expect(seqs == Array(1...(seqs.last ?? 1)), "the journal has every seq, the missed ones included: \(seqs)")
        #expect(seqs.count >= 1 + 7 + 1)
    }
}
