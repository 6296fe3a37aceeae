import Foundation
import HazmonDaemon
import HazmonJournal
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13's reproductions, each against the real binary and real files: a second daemon on
/// one journal, events unjournaled through a full disk and a shutdown, a journal truncated or
/// overwritten, a client ahead of the journal, and the feed's strict requests.
@Suite("Journal integrity: one owner, no reused seq, damage refused", .serialized)
struct JournalIntegrityTests {
    func run(_ args: [String], in dir: TempDir, name: String = "cmd") throws -> (Int32, String) {
        let out = dir.path + "/\(name)-\(UInt32.random(in: 0...UInt32.max)).out"
        let code = try ChildProcess(hazmonBinary, args, output: out).wait()
        return (code, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    /// A second `hazmon run` naming the same journal (another socket, no tags) is refused
    /// before it touches anything; the first keeps journaling; `history` reads alongside.
    @Test func aSecondDaemonOnTheSameJournalIsRefused() throws {
        let rig = try Rig()
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["event"] as? String == "raised")
        try """
            [alert_socket]
            path = "\(rig.dir.path)/other.sock"
            [journal]
            path = "\(rig.daemon.journalPath)"
            """.write(toFile: rig.dir.path + "/other.toml", atomically: true, encoding: .utf8)
        let (code, text) = try run(["run", "--config", rig.dir.path + "/other.toml"], in: rig.dir, name: "second")
        #expect(code == 1)
        #expect(text.contains("is in use by another hazmon daemon (pid \(rig.daemon.child.pid))"), "\(text)")
        #expect(!text.contains("alarm removed"))
        rig.publisher.publish("plant/t101/gas", "2")
        let cleared = rig.client.nextEvent()
        #expect(cleared?["event"] as? String == "cleared" && cleared?["seq"] as? Int == 2)
        #expect((cleared?["flags"] as? [String] ?? []).isEmpty, "still journaled")
        let (h, lines) = try run(["history", "--journal", rig.daemon.journalPath, "--json"], in: rig.dir)
        #expect(h == 0 && lines.split(separator: "\n").count == 2)
    }

    /// A clean stop writes the high-water mark down to the last number used: the next start
    /// continues with no gap.
    @Test func aCleanRestartContinuesWithoutAGap() throws {
        let rig = try Rig()
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "45")
        #expect(rig.client.nextEvent()?["seq"] as? Int == 1)
        kill(rig.daemon.child.pid, SIGTERM)
        #expect(rig.daemon.child.wait() == 0)
        let mark = try SeqHighWater.read(journalPath: rig.daemon.journalPath)
        #expect(mark?.seq == 1, "the mark comes down to the last seq used")
        let again = try DaemonUnderTest(config: rig.config, dir: rig.dir, log: "run2.log")
        defer { again.stop() }
        let (c, hello) = try again.subscriber(since: 1)
        defer { c.close() }
        #expect(hello["seq"] as? Int == 1)
        for _ in 0..<200 where !again.log.contains("MQTT connected") { usleep(25_000) }
        rig.publisher.publish("plant/t101/gas", "2")
        #expect(c.nextEvent()?["seq"] as? Int == 2)
    }

    /// The journal on a 1 MiB tmpfs in a mount namespace held open by a `sleep`, so the journal
    /// outlives one daemon and the next can be started on it. Events go out unjournaled while
    /// it is full; SIGTERM spills them (exit 0); after space is freed the next start commits
    /// the spill file and numbers new events after every one a client saw.
    @Test func unjournaledEventsAreSpilledAndNoSeqIsReused() throws {
        let dir = try TempDir(prefix: "hazmon-spill")
        defer { dir.remove() }
        let port = try FreePort.find()
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        let volume = dir.path + "/vol"
        try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
        let holder = try ChildProcess("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                                           "mount -t tmpfs -o size=1m hazmon-test \(volume) && exec sleep 600"],
                                      output: dir.path + "/holder.out")
        defer { holder.stop(grace: .milliseconds(100)) }
        func inNamespace(_ script: String) throws -> Int32 {
            try ChildProcess("/usr/bin/nsenter", ["--target", "\(holder.pid)", "--mount", "/bin/sh", "-c", script],
                             output: dir.path + "/nsenter.out").wait()
        }
        for _ in 0..<100 where try inNamespace("mountpoint -q \(volume)") != 0 { usleep(20_000) }
        #expect(try inNamespace("mountpoint -q \(volume)") == 0, "the tmpfs is mounted")
        let wrapper = ["/usr/bin/nsenter", "--target", "\(holder.pid)", "--mount"]
        let config = gasConfig(port: port) + "\n[journal]\npath = \"\(volume)/journal.db\"\nmax_wait = \"300ms\"\n"
        let first = try DaemonUnderTest(config: config, dir: dir, wrapper: wrapper)
        for _ in 0..<200 where !first.log.contains("MQTT connected") { usleep(25_000) }
        var (client, _) = try first.subscriber(since: nil)
        let publisher = try Publisher(port: port)
        publisher.publish("plant/t101/gas", "45")
        #expect(client.nextEvent()?["seq"] as? Int == 1)

        _ = try inNamespace("dd if=/dev/zero of=\(volume)/filler bs=4k 2>/dev/null; sync")
        for i in 0..<20 { publisher.publish("plant/t101/gas", i % 2 == 0 ? "3" : "45") }
        var seen: [Int] = [1]
        var unjournaled = 0
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, seen.count < 21 + 1 {
            guard let e = client.nextEvent(timeout: 1) else { continue }
            seen.append(e["seq"] as? Int ?? -1)
            if (e["flags"] as? [String] ?? []).contains("unjournaled") { unjournaled += 1 }
        }
        client.close()
        #expect(unjournaled >= 20, "the events while the disk is full went out unjournaled (\(unjournaled))")
        let failing = first.log.components(separatedBy: "alarm journal failing").count - 1
        let still = first.log.components(separatedBy: "alarm journal still failing").count - 1
        #expect(failing == 1 && still <= 2, "said once, then at most once per interval, not per retry (\(failing), \(still))")
        let maxSeen = seen.max() ?? 0

        kill(first.child.pid, SIGTERM)
        #expect(first.child.wait() == 0, "nothing lost: every unjournaled event is in the spill file")
        #expect(first.log.contains("the rest are in the spill file"))
        let spill = dir.path + "/journal.db.spill"
        let spilled = (try? String(contentsOfFile: spill, encoding: .utf8)) ?? ""
        #expect(spilled.contains("\"seq\":\(maxSeen)"), "the last event seen is spilled")

        #expect(try inNamespace("rm -f \(volume)/filler") == 0)
        let second = try DaemonUnderTest(config: config, dir: dir, log: "run2.log", wrapper: wrapper)
        defer { second.stop() }
        #expect(second.log.contains("committed") && second.log.contains("spilled events"), "\(second.log.suffix(2000))")
        #expect(access(spill, F_OK) != 0, "the spill file is gone once committed")
        for _ in 0..<200 where !second.log.contains("MQTT connected") { usleep(25_000) }
        let (c2, hello) = try second.subscriber(since: maxSeen)
        client = c2
        defer { client.close() }
        #expect((hello["seq"] as? Int ?? 0) >= maxSeen, "hello never goes back")
        publisher.publish("plant/t101/gas", "3")
        publisher.publish("plant/t101/gas", "45")
        var fresh: [Int] = []
        while let e = client.nextEvent(timeout: 2) {
            if e["tag"] as? String == "GT-101" { fresh.append(e["seq"] as? Int ?? -1) }
            if fresh.count == 2 { break }
        }
        #expect(!fresh.isEmpty && fresh.allSatisfy { $0 > maxSeen }, "new events are numbered after every seq a client saw: \(fresh) vs \(maxSeen)")
        let out = dir.path + "/history.out"
        _ = try ChildProcess("/usr/bin/nsenter", ["--target", "\(holder.pid)", "--mount", hazmonBinary, "history", "--journal",
                                                  volume + "/journal.db", "--json"], output: out).wait()
        let journaled = Set(((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            line.range(of: #""seq":"#).flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) }
        })
        #expect(Set(seen).isSubset(of: journaled), "every event a client saw is in the journal: missing \(Set(seen).subtracting(journaled).sorted())")
    }

    /// Truncated to nothing, or overwritten with garbage: refused with what to do; `journal
    /// recover` sets the file aside and the next start continues after the old high-water mark.
    @Test func aDamagedJournalIsRefusedAndRecovered() throws {
        let rig = try Rig()
        defer { rig.close() }
        for i in 0..<30 { rig.publisher.publish("plant/t101/gas", i % 2 == 0 ? "45" : "3") }
        var last = 0
        while let e = rig.client.nextEvent(timeout: 2) { last = max(last, e["seq"] as? Int ?? 0) }
        #expect(last >= 30)
        rig.daemon.stop()
        let journal = rig.daemon.journalPath
        let config = rig.dir.path + "/hazmon.toml"

        // Garbage over every page but the first.
        let fd = open(journal, O_WRONLY)
        var st = stat()
        fstat(fd, &st)
        let garbage = [UInt8]((0..<Int(st.st_size) - 4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        #expect(pwrite(fd, garbage, garbage.count, 4096) == garbage.count)
        close(fd)
        var (code, text) = try run(["run", "--config", config], in: rig.dir)
        #expect(code == 1)
        #expect(text.contains("damaged") && text.contains("hazmon journal recover"), "\(text)")

        // Truncated to 0 bytes: refused too, not taken as new.
        #expect(truncate(journal, 0) == 0)
        unlink(journal + "-wal")
        (code, text) = try run(["run", "--config", config], in: rig.dir)
        #expect(code == 1)
        #expect(text.contains("is missing or empty, but \(journal).seq says it held events up to seq \(last)"), "\(text)")

        (code, text) = try run(["journal", "recover", "--config", config], in: rig.dir)
        #expect(code == 0 && text.contains("continues after \(last)"), "\(text)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: rig.dir.path).filter { $0.hasPrefix("journal.db.damaged-") }
        #expect(aside.count == 1, "the old file is kept: \(aside)")
        (code, text) = try run(["journal", "recover", "--config", config], in: rig.dir)
        #expect(code == 0 && text.contains("nothing to recover"))

        rig.daemon = try DaemonUnderTest(config: rig.config, dir: rig.dir, log: "run2.log")
        rig.waitForMQTT()
        let (c, hello) = try rig.daemon.subscriber(since: last)
        defer { c.close() }
        #expect(hello["seq"] as? Int == last)
        rig.publisher.publish("plant/t101/gas", "45")
        let next = c.nextEvent()?["seq"] as? Int ?? 0
        #expect(next > last, "seq continues after the old journal's: \(next) after \(last)")
    }

    /// A client whose `since` is ahead of the journal gets an error, not silence; requests are
    /// strict about numbers, shapes, repeated keys and lengths.
    @Test func strictRequestsAndAClientAheadOfTheJournal() throws {
        let rig = try Rig()
        defer { rig.close() }
        let c = try SocketClient(path: rig.daemon.socketPath)
        defer { c.close() }
        _ = c.readJSON()
        func ask(_ line: String) -> (code: String, message: String) {
            c.send(line)
            guard case .error(let code, let message)? = c.readLine().flatMap(FeedMessage.init(line:)) else { return ("", "") }
            return (code, message)
        }
        let ahead = ask(#"{"type":"subscribe","since":105}"#)
        #expect(ahead.code == "since_ahead")
        #expect(ahead.message.contains("since 105 is ahead of the journal, whose last seq is 0"))
        for bad in [#"{"type":"subscribe","since":-1}"#, #"{"type":"subscribe","since":1e30}"#, #"{"type":"subscribe","since":1.5}"#] {
            let r = ask(bad)
            #expect(r.code == "bad_request" && r.message.contains("must be a seq"), "\(bad): \(r)")
        }
        #expect(ask("[]").message.contains("a request is a JSON object"))
        let twice = ask(#"{"type":"ping","type":"snapshot"}"#)
        #expect(twice.code == "bad_request" && twice.message.contains(#""type" appears twice"#))
        let long = ask(#"{"type":"ack","tag":"GT-101","condition":"hh","user":"\#(String(repeating: "u", count: 65))"}"#)
        #expect(long.message.contains(#""user" is longer than 64 characters"#))
        let newline = ask(#"{"type":"ack","tag":"GT\n101","condition":"hh"}"#)
        #expect(newline.message.contains(#""GT\n101""#), "a tag with a newline is shown escaped")
        c.send(#"{"type":"ping"}"#)
        #expect(c.readLine().flatMap(FeedMessage.init(line:)) == .pong, "the connection stays usable")
    }

    /// Missing directories are configuration errors that `check` catches (exit 78), so the
    /// unit's ExecStartPre stops a restart loop; `history` on a file that is no journal says so.
    @Test func missingDirectoriesAndNonJournalsAreClearErrors() throws {
        let dir = try TempDir(prefix: "hazmon-dirs")
        defer { dir.remove() }
        try """
            [journal]
            path = "\(dir.path)/nowhere/journal.db"
            [alert_socket]
            path = "\(dir.path)/norun/alerts.sock"
            """.write(toFile: dir.path + "/hazmon.toml", atomically: true, encoding: .utf8)
        for cmd in ["check", "run"] {
            let (code, text) = try run([cmd, "--config", dir.path + "/hazmon.toml"], in: dir)
            #expect(code == 78, "\(cmd): \(text)")
            #expect(text.contains("hazmon.toml:2: journal.path: the directory \(dir.path)/nowhere for the journal does not exist"), "\(text)")
            #expect(text.contains("hazmon.toml:4: alert_socket.path: the directory \(dir.path)/norun for the alert socket does not exist"))
        }
        #expect(try run(["check", "--offline", "--config", dir.path + "/hazmon.toml"], in: dir).0 == 0)
        FileManager.default.createFile(atPath: dir.path + "/empty.db", contents: Data())
        let (code, text) = try run(["history", "--journal", dir.path + "/empty.db"], in: dir)
        #expect(code == 1 && text.contains("is not a hazmon journal"), "\(text)")
    }
}
