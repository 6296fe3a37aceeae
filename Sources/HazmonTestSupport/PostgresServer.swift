import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL 15 server of our own (Debian's postgresql-15): `initdb` in a directory, on a
/// loopback port, password (SCRAM) authentication; stopped and started at will, for tests of
/// the history's copy and its outages.
public final class PostgresServer: Sendable {
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public let dir: String
    public let port: Int
    public let password: String
    /// fsync as a production server does (benchmarks); tests run without it.
    public let durable: Bool
    var data: String { dir + "/pg" }

    /// Creates the cluster (user `postgres`, this password) and starts it.
    public init(dir: String, port: Int, password: String = "hazmon-test-\(UInt32.random(in: 0...UInt32.max))", durable: Bool = false) throws {
        self.durable = durable
        guard access(Self.binaries + "/initdb", X_OK) == 0 else {
            throw ProcessError("PostgreSQL 15 is not installed (apt-get install postgresql-15; .ci/setup does this)")
        }
        self.dir = dir
        self.port = port
        self.password = password
        mkdir(dir + "/pg", 0o700)
        let pwfile = dir + "/pg-initdb.pass"
        try password.write(toFile: pwfile, atomically: true, encoding: .utf8)
        if getuid() == 0 {
            // initdb refuses to run as root: the cluster belongs to Debian's postgres user.
            chmod(dir, 0o755)
            guard let pw = getpwnam("postgres") else { throw ProcessError("no postgres user (apt-get install postgresql-15)") }
            chown(dir + "/pg", pw.pointee.pw_uid, pw.pointee.pw_gid)
            chown(pwfile, pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        try run("initdb", ["-D", data, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=\(pwfile)", "-E", "UTF8",
                           "--locale=C.UTF-8"])
        unlink(pwfile)
        try start()
    }

    /// Starts the server and waits until it accepts connections.
    public func start() throws {
        try run("pg_ctl", ["-D", data, "-l", data + "/postgres.log", "-w", "-t", "30", "-o",
                           "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(data)" + (durable ? "" : " -c fsync=off"), "start"])
    }

    /// Stops it at once (`-m fast`: open sessions are cut, as when the database host goes away).
    public func stop() {
        _ = try? run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"])
    }

    /// Runs SQL with psql and returns its unaligned output, one row a line.
    public func psql(_ sql: String) throws -> String {
        let out = dir + "/psql-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(out) }
        let code = try ChildProcess(Self.binaries + "/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", "postgres",
                                                              "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                                    output: out, environment: ["PGPASSWORD": password, "PATH": "/usr/bin:/bin"]).wait()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard code == 0 else { throw ProcessError("psql failed (\(code)): \(text)") }
        return text
    }

    func run(_ tool: String, _ args: [String]) throws {
        let out = dir + "/\(tool).out"
        let argv = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", Self.binaries + "/" + tool] + args
                                 : [Self.binaries + "/" + tool] + args
        let code = try ChildProcess(argv[0], Array(argv.dropFirst()), output: out).wait()
        guard code == 0 else {
            throw ProcessError("\(tool) failed (\(code)): \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
        }
    }
}
