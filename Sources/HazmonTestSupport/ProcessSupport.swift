import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Why a helper process or resource could not be had.
public struct ProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A private temporary directory, removed by `remove()`.
public struct TempDir: Sendable {
    public let path: String
    public init(prefix: String) throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw ProcessError("mkdtemp: \(String(cString: strerror(errno)))") }
        path = String(cString: p)
    }
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A free TCP port on 127.0.0.1 for a server a test starts (a broker, a Modbus peer, a
/// console).
///
/// Not the kernel's pick for port 0: that comes from the ephemeral range, where every outgoing
/// connection also takes its local port, and the kernel hands a port just closed to the next
/// caller again, so two tests running in parallel could be given the same one and the second
/// server would fail to bind ("Address already in use") while its test talked to the first.
/// The port is drawn below the ephemeral range (`ip_local_port_range`), is never handed out
/// twice in one process, and was bindable when drawn.
public enum FreePort {
    private static let given = Mutex<Set<Int>>([])
    /// Below Linux's default ephemeral range (32768-60999), above the well-known services.
    static let range = 20_000...32_767

    public static func find() throws -> Int {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: range, using: &generator)
            let fresh = given.withLock { $0.insert(port).inserted }
            guard fresh else { continue }
            if try canBind(port) { return port }
        }
        throw ProcessError("no free loopback port found in \(range.lowerBound)-\(range.upperBound) after 200 tries")
    }

    /// Whether a listener could bind `port` on 127.0.0.1 now.
    static func canBind(_ port: Int) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProcessError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var yes: Int32 = 1
        // As servers bind (mosquitto, libmodbus and NIO set it): a port in TIME_WAIT counts as free.
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        return Loopback.withAddress(port: port) { bind(fd, $0, $1) == 0 }
    }
}

/// 127.0.0.1 and a port as a socket address, for `bind` and `connect`.
public enum Loopback {
    public static func withAddress<R>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}

/// A child process started with a clean signal mask and default signal actions.
///
/// Foundation's `Process` spawns from a Dispatch worker thread whose signals are blocked, and a
/// child inherits that mask: it would ignore the SIGTERM we stop it with. posix_spawn with
/// POSIX_SPAWN_SETSIGMASK and POSIX_SPAWN_SETSIGDEF gives the child a normal start.
public final class ChildProcess: Sendable {
    public let pid: pid_t

    /// Starts `executable` with stdin from /dev/null and stdout and stderr appended to `output`;
    /// `environment` replaces the inherited one when given.
    public init(_ executable: String, _ arguments: [String], output: String, environment: [String: String]? = nil) throws {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in env.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = envp.map { posix_spawn(&pid, executable, &actions, &attr, argv, $0) } ?? posix_spawn(&pid, executable, &actions, &attr, argv, environ)
        guard rc == 0 else { throw ProcessError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Whether the process is still running (not yet exited and reaped).
    public var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    /// Waits for the process to exit and returns its exit status (128 + signal if killed).
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; reaps it either way.
    public func stop(grace: Duration = .seconds(5)) {
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }
}

/// A mosquitto broker of our own on a loopback port (the demo's, when none is configured).
public final class Broker: Sendable {
    public let child: ChildProcess
    public let port: Int

    /// - Parameter persistent: keep sessions, subscriptions and queued messages on disk (in
    ///   `dir/broker`, saved every second and at a clean stop), so they survive a restart.
    public static func start(port: Int, dir: String, persistent: Bool = false) throws -> Broker {
        let candidates: [String] = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]
        guard let exe = candidates
            .first(where: { access($0, X_OK) == 0 }) else {
            throw ProcessError("mosquitto is not installed (apt-get install mosquitto; the README's demo command does this)")
        }
        let conf = dir + "/mosquitto.conf"
        // A queue deep enough for the tests' bursts: mosquitto's default (1,000 per client)
        // drops QoS 1 messages to a subscriber that falls behind on a loaded host.
        var text = "listener \(port) 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n"
        if persistent {
            // mosquitto started as root runs as its own user, which must write its store.
            let store = dir + "/broker"
            mkdir(store, 0o777)
            chmod(store, 0o777)
            chmod(dir, 0o755)
            text += "persistence true\npersistence_location \(store)/\nautosave_interval 1\n"
        } else {
            text += "persistence false\n"
        }
        try text.write(toFile: conf, atomically: true, encoding: .utf8)
        let b = Broker(child: try ChildProcess(exe, ["-c", conf], output: dir + "/mosquitto.log"), port: port)
        // Wait until it accepts connections (at most 5 s).
        for _ in 0..<100 {
            if Broker.canConnect(port: port) { return b }
            usleep(50_000)
        }
        b.stop()
        throw ProcessError("mosquitto did not start on 127.0.0.1:\(port); see \(dir)/mosquitto.log")
    }

    private init(child: ChildProcess, port: Int) {
        self.child = child
        self.port = port
    }

    public func stop() { child.stop() }

    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Loopback.withAddress(port: port) { connect(fd, $0, $1) == 0 }
    }
}
