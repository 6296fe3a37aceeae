import Foundation
import HummingbirdBcrypt
import Synchronization

/// What a console user may do (spec §10). Viewers see everything; operators also act on
/// alarms; engineers also declare hazard-source modes (hazmon's out-of-service is a setting of
/// the configuration, `out_of_service` on a tag, not a runtime action).
public enum ConsoleRole: String, Sendable, CaseIterable, Comparable {
    case viewer
    case `operator`
    case engineer

    var rank: Int {
        switch self {
        case .viewer: return 0
        case .operator: return 1
        case .engineer: return 2
        }
    }

    public static func < (a: ConsoleRole, b: ConsoleRole) -> Bool { a.rank < b.rank }
}

/// One `[[user]]` of the users file.
public struct ConsoleUser: Sendable, Equatable {
    public var name: String
    public var role: ConsoleRole
    /// bcrypt, `$2b$…`.
    public var passwordHash: String

    public init(name: String, role: ConsoleRole, passwordHash: String) {
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
    }

    /// Whether `password` matches the hash (bcrypt's own constant-time comparison).
    public func verify(_ password: String) -> Bool {
        Bcrypt.verify(password, hash: passwordHash)
    }

    /// A bcrypt hash of `password` at `cost` (12 by default: about a quarter of a second here).
    public static func hash(_ password: String, cost: UInt8 = 12) -> String {
        Bcrypt.hash(password, cost: cost)
    }
}

/// The users, re-read when the file changes (so `hazmon user add` takes effect at the next
/// login, without a restart). A file that stops parsing keeps the last good list, logged.
public final class UsersFile: Sendable {
    public let path: String
    let parse: @Sendable (String) throws -> [ConsoleUser]
    struct Loaded { var mtime: timespec?; var size: Int64 = -1; var users: [String: ConsoleUser] = [:]; var problem: String? }
    private let loaded = Mutex(Loaded())

    /// - Parameter parse: the file's text to its users (HazmonConfig's `UsersFileFormat.parse`).
    public init(path: String, parse: @escaping @Sendable (String) throws -> [ConsoleUser]) {
        self.path = path
        self.parse = parse
    }

    /// The user named `name`, from the file as it is now.
    public func user(named name: String) -> ConsoleUser? {
        refresh()
        return loaded.withLock { $0.users[name] }
    }

    /// Why the last read failed (missing, unreadable, malformed), or nil.
    public var problem: String? {
        refresh()
        return loaded.withLock { $0.problem }
    }

    public var count: Int {
        refresh()
        return loaded.withLock { $0.users.count }
    }

    private func refresh() {
        var st = stat()
        guard stat(path, &st) == 0 else {
            loaded.withLock { $0 = Loaded(problem: "cannot read users_file \(path): \(String(cString: strerror(errno)))") }
            return
        }
        let changed = loaded.withLock { l in
            l.mtime.map { $0.tv_sec != st.st_mtim.tv_sec || $0.tv_nsec != st.st_mtim.tv_nsec } ?? true || l.size != Int64(st.st_size)
        }
        guard changed else { return }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            loaded.withLock { $0.problem = "cannot read users_file \(path)" }
            return
        }
        do {
            let users = try parse(text)
            loaded.withLock { $0 = Loaded(mtime: st.st_mtim, size: Int64(st.st_size),
                                          users: Dictionary(users.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })) }
        } catch {
            loaded.withLock { l in l.mtime = st.st_mtim; l.size = Int64(st.st_size); l.problem = "\(path): \(error)" }
        }
    }
}
