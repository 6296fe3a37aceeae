import Foundation
import HazmonCore
import Synchronization

/// Logged-in sessions and failed-login locks.
///
/// Sessions are also kept in `file` (mode 0600, beside the journal), written at each login and
/// logout and at most once a minute as they are used, so a daemon restart does not log the
/// control room out and a browser's stream resumes where it was. Locks stay in memory.
///
/// A session is a random 256-bit token in an HttpOnly cookie plus a separate random CSRF
/// token the page sends back in `X-CSRF-Token` on every POST; it ends after `idle` without a
/// request, or at logout. Five failed logins for one name within a minute lock the name for a
/// minute (whoever tries it, so guessing from many addresses does not help).
public final class Sessions: Sendable {
    public struct Session: Sendable, Equatable {
        public var user: String
        public var role: ConsoleRole
        public var csrf: String
        public var lastSeen: Instant
    }

    public enum LoginCheck: Equatable, Sendable { case allowed, locked(retryAfterSeconds: Int) }

    struct State {
        var sessions: [String: Session] = [:]
        var failures: [String: [Instant]] = [:]
        var lockedUntil: [String: Instant] = [:]
        var savedAt = Instant(nanoseconds: 0)
    }

    public let idle: Duration
    public static let maxFailures = 5
    public static let failureWindow = Duration.seconds(60)
    public static let lockFor = Duration.seconds(60)
    /// Sessions kept at most; the least recently used one goes first.
    public static let maxSessions = 1_000
    private let state = Mutex(State())

    /// Where sessions survive a restart; nil: memory only.
    public let file: String?

    public init(idle: Duration, file: String? = nil, now: Instant = .now) {
        self.idle = idle
        self.file = file
        if let file, let loaded = Self.load(file) {
            state.withLock { $0.sessions = loaded.filter { now - $0.value.lastSeen < idle } }
        }
    }

    /// Whether `name` may try a password now.
    public func check(_ name: String, at now: Instant) -> LoginCheck {
        state.withLock { s in
            guard let until = s.lockedUntil[name] else { return .allowed }
            if now < until { return .locked(retryAfterSeconds: max(1, Int((until - now).components.seconds) + 1)) }
            s.lockedUntil[name] = nil
            return .allowed
        }
    }

    /// Counts a failed login; returns true if this one locked the name.
    @discardableResult
    public func failed(_ name: String, at now: Instant) -> Bool {
        state.withLock { s in
            var list = (s.failures[name] ?? []).filter { now - $0 < Self.failureWindow }
            list.append(now)
            if list.count >= Self.maxFailures {
                s.failures[name] = nil
                s.lockedUntil[name] = now + Self.lockFor
                return true
            }
            s.failures[name] = list
            // Names nobody has: bounded, so a scan of random names cannot grow this forever.
            if s.failures.count > 10_000 { s.failures = s.failures.filter { now - ($0.value.last ?? now) < Self.failureWindow } }
            return false
        }
    }

    /// A new session for a user whose password was right; returns its token.
    public func open(user: String, role: ConsoleRole, at now: Instant) -> (token: String, session: Session) {
        let session = Session(user: user, role: role, csrf: Self.randomToken(), lastSeen: now)
        let token = Self.randomToken()
        state.withLock { s in
            s.failures[user] = nil
            s.sessions = s.sessions.filter { now - $0.value.lastSeen < idle }
            if s.sessions.count >= Self.maxSessions, let oldest = s.sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                s.sessions[oldest.key] = nil
            }
            s.sessions[token] = session
            save(&s, at: now)
        }
        return (token, session)
    }

    /// The live session for `token`, touched; nil if unknown or idle too long.
    public func session(_ token: String, at now: Instant) -> Session? {
        state.withLock { s in
            guard var session = s.sessions[token] else { return nil }
            guard now - session.lastSeen < idle else { s.sessions[token] = nil; return nil }
            session.lastSeen = now
            s.sessions[token] = session
            if now - s.savedAt > .seconds(60) { save(&s, at: now) }
            return session
        }
    }

    public func close(_ token: String) {
        state.withLock { s in
            if s.sessions.removeValue(forKey: token) != nil { save(&s, at: .now) }
        }
    }

    /// Writes the sessions now (at a shutdown: their last use is kept).
    public func flush() { state.withLock { save(&$0, at: .now) } }

    struct Stored: Codable {
        var token: String
        var user: String
        var role: String
        var csrf: String
        var lastSeenMs: Int64
    }

    private func save(_ s: inout State, at now: Instant) {
        guard let file else { return }
        s.savedAt = now
        let list = s.sessions.map { Stored(token: $0.key, user: $0.value.user, role: $0.value.role.rawValue, csrf: $0.value.csrf,
                                           lastSeenMs: $0.value.lastSeen.nanoseconds / 1_000_000) }
        guard let data = try? JSONEncoder().encode(list) else { return }
        writeOwnerOnly(data, to: file)
    }

    static func load(_ file: String) -> [String: Session]? {
        guard let data = FileManager.default.contents(atPath: file),
              let list = try? JSONDecoder().decode([Stored].self, from: data) else { return nil }
        var out: [String: Session] = [:]
        for e in list {
            guard let role = ConsoleRole(rawValue: e.role) else { continue }
            out[e.token] = Session(user: e.user, role: role, csrf: e.csrf, lastSeen: Instant(nanoseconds: e.lastSeenMs * 1_000_000))
        }
        return out
    }

    /// 32 random bytes from the system's generator, hex.
    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        var out = ""
        out.reserveCapacity(64)
        for _ in 0..<4 {
            let v = g.next() as UInt64
            out += String(repeating: "0", count: 16 - String(v, radix: 16).count) + String(v, radix: 16)
        }
        return out
    }

    /// Compares two tokens in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in 0..<x.count { d |= x[i] ^ y[i] }
        return d == 0
    }
}

/// Replaces `path` with `data` through a temp file created mode 0600 (never readable by others,
/// not even for a moment).
private func writeOwnerOnly(_ data: Data, to path: String) {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return }
    let ok = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) == $0.count }
    close(fd)
    if !ok || rename(tmp, path) != 0 { unlink(tmp) }
}
