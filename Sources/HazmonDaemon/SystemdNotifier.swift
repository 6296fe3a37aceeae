#if canImport(Glibc)
import Glibc
#endif

/// The systemd notify protocol, written directly: datagrams to `$NOTIFY_SOCKET` (a path, or an
/// abstract socket when it starts with `@`). Without `NOTIFY_SOCKET` (not under systemd) every
/// call does nothing.
public struct SystemdNotifier: Sendable {
    let address: String?
    /// Half of `$WATCHDOG_USEC`: how often to send `WATCHDOG=1`, if systemd asked for it.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = SystemdNotifier.processEnvironment()) {
        let a = environment["NOTIFY_SOCKET"]
        address = (a?.isEmpty ?? true) ? nil : a
        if let usec = environment["WATCHDOG_USEC"].flatMap({ Int64($0) }), usec > 0,
           environment["WATCHDOG_PID"].flatMap({ Int32($0) }).map({ $0 == getpid() }) ?? true {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { address != nil }

    /// Sends one notification (`READY=1`, `STATUS=...`, ...); false if it could not be sent.
    ///
    /// Never waits: a receiver that does not read (its queue of datagrams full) gets nothing
    /// more, and the daemon goes on. A blocking send there stopped a thread of Swift's
    /// concurrency pool in `sendto`, and with it the daemon's answer to SIGTERM (found with a
    /// load script that read its notify socket only now and then; systemd reads its own at once).
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let address else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var path = Array(address.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }   // abstract namespace
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &addr) { ap in
            ap.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sa, length) }
            }
        }
        return sent == bytes.count
    }

    public static func processEnvironment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return env
    }
}
