import Foundation
import HazmonConfig
import HazmonCore
import HazmonFeed
import HazmonJournal
import Synchronization
import Testing
@testable import HazmonConsole

@Suite("Console sessions")
struct SessionsTests {
    let t0 = Instant(nanoseconds: 1_800_000_000_000_000_000)

    @Test func fiveFailuresWithinAMinuteLockTheNameForAMinute() {
        let s = Sessions(idle: .seconds(3600))
        for i in 0..<4 {
            #expect(!s.failed("zhang", at: t0 + .seconds(i)))
            #expect(s.check("zhang", at: t0 + .seconds(i)) == .allowed)
        }
        #expect(s.failed("zhang", at: t0 + .seconds(4)))
        guard case .locked(let after) = s.check("zhang", at: t0 + .seconds(5)) else { Issue.record("not locked"); return }
        #expect(after > 50 && after <= 60)
        #expect(s.check("li", at: t0 + .seconds(5)) == .allowed, "other names are not locked")
        #expect(s.check("zhang", at: t0 + .seconds(65)) == .allowed, "the lock ends after a minute")
    }

    @Test func failuresSpreadOverMoreThanAMinuteDoNotLock() {
        let s = Sessions(idle: .seconds(3600))
        for i in 0..<10 { #expect(!s.failed("zhang", at: t0 + .seconds(i * 20))) }
        #expect(s.check("zhang", at: t0 + .seconds(200)) == .allowed)
    }

    @Test func aSessionEndsAfterItsIdleTimeAndAtLogout() {
        let s = Sessions(idle: .seconds(600))
        let (token, session) = s.open(user: "zhang", role: .operator, at: t0)
        #expect(session.csrf.count == 64 && token.count == 64 && token != session.csrf)
        #expect(s.session(token, at: t0 + .seconds(599))?.user == "zhang")
        #expect(s.session(token, at: t0 + .seconds(1198)) != nil, "use keeps it alive")
        #expect(s.session(token, at: t0 + .seconds(1800)) == nil, "idle too long")
        let (other, _) = s.open(user: "li", role: .viewer, at: t0)
        s.close(other)
        #expect(s.session(other, at: t0 + .seconds(1)) == nil)
        #expect(s.session("not-a-token", at: t0) == nil)
    }

    @Test func sessionsOutliveARestartThroughTheirFileOnly() throws {
        let dir = NSTemporaryDirectory() + "hazmon-sessions-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/s.json"
        let a = Sessions(idle: .seconds(600), file: file, now: t0)
        let (token, session) = a.open(user: "zhang", role: .engineer, at: t0)
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600, "the file is readable by its owner only")
        let b = Sessions(idle: .seconds(600), file: file, now: t0 + .seconds(10))
        #expect(b.session(token, at: t0 + .seconds(10)) == Sessions.Session(user: "zhang", role: .engineer, csrf: session.csrf,
                                                                            lastSeen: t0 + .seconds(10)))
        let c = Sessions(idle: .seconds(600), file: file, now: t0 + .seconds(3600))
        #expect(c.session(token, at: t0 + .seconds(3600)) == nil, "expired while the daemon was down")
    }

    @Test func tokensCompareWholly() {
        #expect(Sessions.same("abcd", "abcd"))
        #expect(!Sessions.same("abcd", "abce"))
        #expect(!Sessions.same("abcd", "abc"))
        #expect(Sessions.randomToken() != Sessions.randomToken())
    }

    @Test func rolesAreOrdered() {
        #expect(ConsoleRole.viewer < .operator && ConsoleRole.operator < .engineer)
    }

    @Test func passwordsAreCheckedAgainstBcrypt() {
        let hash = ConsoleUser.hash("correct horse", cost: 4)
        #expect(hash.hasPrefix("$2") && hash.count == 60)
        let u = ConsoleUser(name: "zhang", role: .operator, passwordHash: hash)
        #expect(u.verify("correct horse"))
        #expect(!u.verify("correct horse "))
        #expect(!ConsoleUser(name: "x", role: .viewer, passwordHash: "not a hash").verify("x"))
    }
}

@Suite("Console streams and exports")
struct StreamFramingTests {
    @Test func eventsCarryTheirSeqAsTheEventID() {
        let line = #"{"type":"event","v":1,"seq":1042,"tag":"GT-101"}"#
        #expect(EventStreamOutput.frame([line, #"{"type":"bye","reason":"shutdown"}"#])
                == "id: 1042\ndata: \(line)\n\nevent: bye\ndata: {\"type\":\"bye\",\"reason\":\"shutdown\"}\n\n")
        #expect(EventStreamOutput.eventSeq(#"{"type":"event","v":1,"seq":x}"#) == nil)
        #expect(EventStreamOutput.eventSeq(#"{"type":"snapshot","seq":3}"#) == nil)
        #expect(EventStreamOutput.lineType(#"{"type":"err\nor"}"#) == nil, "no line break can get into the event name")
    }

    @Test func aWriteToAGoneStreamStillReleasesItsCount() async {
        let out = EventStreamOutput()
        out.close()
        let taken = Mutex(false)
        out.write(FeedBatch(["x"])) { taken.withLock { $0 = true } }
        #expect(taken.withLock { $0 })
        await #expect(throws: CancellationError.self) { try await out.writeAndWait(FeedBatch(["y"])) }
    }

    @Test func aWriterBehindTheEventsTakesThemInOneGo() async {
        let out = EventStreamOutput()
        let count = Mutex(0)
        for i in 0..<3 { out.write(FeedBatch([#"{"type":"event","v":1,"seq":\#(i + 1)}"#])) { count.withLock { $0 += 1 } } }
        let chunks = await out.next()
        #expect(chunks?.count == 3)
        #expect(count.withLock { $0 } == 0, "taken only once written")
        out.write(FeedBatch(["z"])) { count.withLock { $0 += 1 } }
        out.drop()
        #expect(count.withLock { $0 } == 1, "dropping releases what was still queued")
        #expect(await out.next() == nil)
    }

    @Test func csvFieldsAreQuotedAndFormulasDefused() {
        #expect(EventCSV.escape("plain") == "plain")
        #expect(EventCSV.escape("a,b") == "\"a,b\"")
        #expect(EventCSV.escape("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(EventCSV.escape("=cmd|'/c calc'!A1") == "'=cmd|'/c calc'!A1")
        #expect(EventCSV.escape("-12.5") == "-12.5", "a negative number stays a number")
        let e = JournalEntry(seq: 7, time: Instant(nanoseconds: 1_764_000_000_000_000_000), tag: "GT-101", condition: "hh",
                             event: "acknowledged", grade: 2,
                             json: #"{"seq":7,"tag":"GT-101","condition":"hh","event":"acknowledged","grade":2,"value":41.5,"user":"zhang","note":"checked, ok"}"#)
        let csv = EventCSV.render([e], zone: TimeZone(identifier: "Asia/Shanghai")!)
        let lines = csv.split(separator: "\r\n")
        #expect(lines.count == 2)
        #expect(lines[1].hasPrefix("7,2025-11-25 00:00:00.000+08:00,GT-101,hh,acknowledged,2,,,41.5,,,,zhang,\"checked, ok\""), "\(lines[1])")
    }

    @Test func typedTimesAreReadInTheSiteZone() {
        let zone = TimeZone(identifier: "Asia/Shanghai")!
        #expect(TimeInput.parse("2026-11-23 16:15", zone: zone)?.iso8601 == "2026-11-23T08:15:00.000Z")
        #expect(TimeInput.parse("2026-11-23T08:15:00Z", zone: zone)?.iso8601 == "2026-11-23T08:15:00.000Z")
        let now = Instant(nanoseconds: 1_800_000_000_000_000_000)
        #expect(TimeInput.parse("2h", zone: zone, now: now) == Instant(nanoseconds: now.nanoseconds - 7_200_000_000_000))
        #expect(TimeInput.parse("2026-02-30", zone: zone) == nil)
        #expect(TimeInput.parse("yesterday", zone: zone) == nil)
    }
}

@Suite("Users file")
struct UsersFileTests {
    let hash = "$2b$04$" + String(repeating: "a", count: 53)

    @Test func roundTripsThroughItsOwnWriter() throws {
        let records = [UsersFileFormat.Record(name: "zhang.wei", role: "operator", passwordHash: hash),
                       UsersFileFormat.Record(name: "li-na", role: "engineer", passwordHash: hash)]
        #expect(try UsersFileFormat.parse(UsersFileFormat.render(records)) == records)
    }

    @Test func mistakesAreNamed() {
        func problem(_ text: String) -> String {
            do { _ = try UsersFileFormat.parse(text); return "" } catch { return error.description }
        }
        #expect(problem("[[user]]\nname = \"a\"\nrole = \"admin\"\npassword_hash = \"\(hash)\"\n").contains("user[1] (a).role: must be one of viewer, operator, engineer"))
        #expect(problem("[[user]]\nname = \"a\"\nrole = \"viewer\"\npassword_hash = \"secret\"\n").contains("password_hash: must be a bcrypt hash"))
        #expect(problem("[[user]]\nname = \"a b\"\nrole = \"viewer\"\n").contains("user[1].name"))
        #expect(problem("[[user]]\nname = \"a\"\nrole = \"viewer\"\npassword_hash = \"\(hash)\"\npassword = \"x\"\n").contains("unknown key \"password\""))
        let twice = "[[user]]\nname = \"a\"\nrole = \"viewer\"\npassword_hash = \"\(hash)\"\n"
        #expect(problem(twice + twice).contains("appears twice"))
        #expect(problem("[users]\n").contains("unknown key \"users\""))
        #expect(problem("[[user]\n").contains("TOML syntax"))
    }

    @Test func theConsoleSeesAnEditWithoutARestart() throws {
        let path = NSTemporaryDirectory() + "hazmon-users-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).toml"
        defer { unlink(path) }
        let users = UsersFile(path: path) { text in
            try UsersFileFormat.parse(text).map { ConsoleUser(name: $0.name, role: ConsoleRole(rawValue: $0.role)!, passwordHash: $0.passwordHash) }
        }
        #expect(users.user(named: "zhang") == nil && users.problem?.contains("cannot read users_file") == true)
        try UsersFileFormat.write([.init(name: "zhang", role: "operator", passwordHash: hash)], to: path)
        #expect(users.user(named: "zhang")?.role == .operator)
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o640, "a new users file: owner writes, group reads")
        try UsersFileFormat.write([.init(name: "zhang", role: "viewer", passwordHash: hash),
                                   .init(name: "li", role: "engineer", passwordHash: hash)], to: path)
        #expect(users.user(named: "zhang")?.role == .viewer && users.user(named: "li")?.role == .engineer)
        try "[[user]]\nname = 1\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(users.user(named: "zhang")?.role == .viewer, "a broken edit keeps the last good list")
        #expect(users.problem?.contains("user[1].name") == true)
    }
}

@Suite("[console] config")
struct ConsoleConfigTests {
    func load(_ console: String) -> Result<HazmonConfiguration, ConfigErrors> {
        let text = """
            [site]
            id = "s"
            \(console)
            """
        let path = NSTemporaryDirectory() + "hazmon-console-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).toml"
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        do { return .success(try ConfigLoader.load(path: path)) } catch { return .failure(error) }
    }

    func message(_ console: String) -> String {
        if case .failure(let e) = load(console) { return e.description }
        return ""
    }

    @Test func offUnlessSetAndDefaultsWhenSet() throws {
        if case .success(let c) = load("") { #expect(c.console == nil) } else { Issue.record("plain config failed") }
        guard case .success(let c) = load("[console]\nlisten = \"127.0.0.1:8081\"\nusers_file = \"/nonexistent/users.toml\"") else {
            Issue.record("console config failed"); return
        }
        #expect(c.console?.port == 8081 && c.console?.host == "127.0.0.1")
        #expect(c.console?.sessionIdle == .seconds(12 * 3600) && c.console?.certFile == nil)
    }

    @Test func mistakesNameTheKey() {
        #expect(message("[console]\nusers_file = \"/nonexistent\"").contains("console.listen: is required"))
        #expect(message("[console]\nlisten = \"127.0.0.1:8080\"\ncert_file = \"/etc/hostname\"\nusers_file = \"/x\"").contains("TLS needs both cert_file and key_file"))
        #expect(message("[console]\nlisten = \"127.0.0.1:8080\"\nsession_idle = \"5s\"\nusers_file = \"/x\"").contains("session_idle: must be from 1m to 7d"))
        #expect(message("[console]\nlisten = \"127.0.0.1:8080\"\nport = 1\nusers_file = \"/x\"").contains("port"))
        #expect(message("[console]\nlisten = \"127.0.0.1:8080\"\nkey_file = \"/nonexistent.key\"").contains("cannot read \"/nonexistent.key\""))
    }
}
