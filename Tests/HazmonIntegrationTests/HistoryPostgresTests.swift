import Foundation
import HazmonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The history's copy in a real PostgreSQL 15 (Debian's, initdb'd by the test on a free port):
/// every stored point arrives once, in order, with its own time, across an outage of the
/// database and a crash of the daemon during it.
@Suite("History copy in PostgreSQL", .serialized)
struct HistoryPostgresTests {
    static func config(port: Int, passwordFile: String) -> String {
        """
        [history]
        batch = "200ms"
        [history.postgres]
        url = "postgres://postgres@127.0.0.1:\(port)/postgres"
        password_file = "\(passwordFile)"
        table = "plant_history"
        """
    }

    /// Values of GT-101 in PostgreSQL, in seq order, with their times (ms since 1970).
    static func copied(_ pg: PostgresServer) throws -> [(seq: Int, value: Double, time: Int64, quality: String)] {
        let text = try pg.psql("SELECT seq, value, (extract(epoch FROM time) * 1000)::bigint, quality FROM plant_history "
            + "WHERE tag = 'GT-101' ORDER BY seq")
        return text.split(separator: "\n").map { line in
            let f = line.split(separator: "|").map(String.init)
            return (Int(f[0])!, Double(f[1])!, Int64(f[2])!, f[3])
        }
    }

    @Test func everyPointOnceInOrderAcrossAnOutageAndACrash() throws {
        let dir = try TempDir(prefix: "hazmon-pg")
        defer { dir.remove() }
        let pg = try PostgresServer(dir: dir.path, port: try FreePort.find())
        defer { pg.stop() }
        let passwordFile = dir.path + "/hazmon-pg.pass"
        try pg.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile, 0o600)
        let rig = try Rig(extra: Self.config(port: pg.port, passwordFile: passwordFile))
        defer { rig.close() }

        var sent: [Double] = []
        func publish(_ n: Int) {
            for _ in 0..<n {
                let v = Double(sent.count) / 4 + 1
                rig.publisher.publish("plant/t101/gas", "\(v)")
                sent.append(v)
                usleep(5_000)
            }
        }
        publish(40)
        var copied: [(seq: Int, value: Double, time: Int64, quality: String)] = []
        for _ in 0..<100 where copied.count < 40 { usleep(100_000); copied = (try? Self.copied(pg)) ?? [] }
        #expect(copied.map(\.value) == sent, "the first points arrive while the database is up")
        let partitions = try pg.psql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'plant_history'::regclass")
        #expect(Int(partitions.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 1, "a day partition was made")

        // The database goes away: the copy's alarm is raised; points wait in the outbox.
        pg.stop()
        publish(60)
        var raised: [String: Any]?
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, raised == nil {
            if let e = rig.client.nextEvent(timeout: 1), e["tag"] as? String == "history-postgres", e["event"] as? String == "raised" {
                raised = e
            }
        }
        #expect(raised?["condition"] as? String == "comm", "the copy's comm alarm:\n\(rig.daemon.log.split(separator: "\n").filter { $0.contains("history") }.suffix(20).joined(separator: "\n"))")
        // A crash during the outage loses nothing: the outbox is on disk.
        usleep(400_000)
        try rig.crashAndRestart()
        publish(30)
        usleep(400_000)
        try pg.start()
        let (c, _) = try rig.daemon.subscriber(since: nil)
        defer { c.close() }
        var cleared = false
        let until = Date().addingTimeInterval(30)
        while Date() < until, !cleared {
            if let e = c.nextEvent(timeout: 1), e["tag"] as? String == "history-postgres", e["event"] as? String == "cleared" { cleared = true }
        }
        #expect(cleared, "the alarm clears when the database is back")
        for _ in 0..<100 where copied.count < sent.count { usleep(100_000); copied = (try? Self.copied(pg)) ?? [] }
        #expect(copied.map(\.value) == sent, "every point once, in order: \(copied.count) of \(sent.count)")
        #expect(zip(copied, copied.dropFirst()).allSatisfy { $0.seq < $1.seq && $0.time <= $1.time })
        // The times are the history's own (the receive times), not the time of the late insert.
        let local = jsonLines(try runTrend(["GT-101", "--history", rig.dir.path + "/history.db", "--json", "--since", "1h"],
                                           in: rig.dir.path).out)
        let times = local.compactMap { $0["time"] as? String }.compactMap { iso -> Int64? in
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return f.date(from: iso).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
        }
        #expect(times == copied.map(\.time), "PostgreSQL holds each point with the time the history gave it")
        #expect(Set(try pg.psql("SELECT DISTINCT site FROM plant_history").split(separator: "\n")) == ["it-site"])
    }

    @Test func aWrongPasswordIsAClearAlarmAndABadURLAConfigError() throws {
        let dir = try TempDir(prefix: "hazmon-pgbad")
        defer { dir.remove() }
        let pg = try PostgresServer(dir: dir.path, port: try FreePort.find())
        defer { pg.stop() }
        let passwordFile = dir.path + "/wrong.pass"
        try "not-the-password".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile, 0o600)
        let rig = try Rig(extra: Self.config(port: pg.port, passwordFile: passwordFile))
        defer { rig.close() }
        rig.publisher.publish("plant/t101/gas", "5")
        var raised: [String: Any]?
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, raised == nil {
            if let e = rig.client.nextEvent(timeout: 1), e["tag"] as? String == "history-postgres" { raised = e }
        }
        #expect(raised?["event"] as? String == "raised")
        #expect((raised?["message"] as? String ?? "").contains("password authentication failed"), "\(raised?["message"] ?? "")")

        // A readable-by-all password file and a password in the URL are refused by check.
        chmod(passwordFile, 0o644)
        try (Self.config(port: pg.port, passwordFile: passwordFile).replacingOccurrences(of: "postgres@", with: "postgres:pw@")
             + "\n[alert_socket]\npath = \"\(dir.path)/a.sock\"\n[journal]\npath = \"\(dir.path)/j.db\"\n")
            .write(toFile: dir.path + "/bad.toml", atomically: true, encoding: .utf8)
        let out = dir.path + "/check.out"
        let code = try ChildProcess(hazmonBinary, ["check", "--config", dir.path + "/bad.toml"], output: out).wait()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(code == 78)
        #expect(text.contains("bad.toml:4: history.postgres.url: must not hold the password: put it in password_file (mode 600)"), "\(text)")
        #expect(text.contains("bad.toml:5: history.postgres.password_file:") && text.contains("readable by group or others"))
    }
}
