import Foundation
import HazmonCore

/// The console's users file (spec §10): one `[[user]]` each with `name`, `role` (viewer,
/// operator or engineer) and a bcrypt `password_hash`. `hazmon user add|passwd|remove` writes
/// it; the daemon re-reads it when it changes.
public enum UsersFileFormat {
    public struct Record: Sendable, Equatable {
        public var name: String
        public var role: String
        public var passwordHash: String
        public init(name: String, role: String, passwordHash: String) {
            self.name = name
            self.role = role
            self.passwordHash = passwordHash
        }
    }

    public static let roles = ["viewer", "operator", "engineer"]

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Names: letters, digits, `.`, `_`, `-`, up to 64; what a log line and a journal row can hold plainly.
    public static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) }
    }

    /// Every user in `text`, checked: a problem names the line's entry (`user[2]`) and key.
    public static func parse(_ text: String) throws(Problem) -> [Record] {
        let document: TOMLDocument
        switch ConfigLoader.parseTOML(text, file: "users file", headerExample: "[[user]]") {
        case .success(let d): document = d
        case .failure(let e): throw Problem(description: e.description)
        }
        // The tree is freed with the document: keep it until the last read below.
        defer { withExtendedLifetime(document) {} }
        let table = document.root
        for key in table.keys where key != "user" {
            throw Problem(description: "unknown key \(key.quoted()): the file holds [[user]] entries only")
        }
        guard let users = table["user"] else { return [] }
        guard let array = users.array else { throw Problem(description: "user must be an array of tables: [[user]]") }
        var out: [Record] = []
        var seen: Set<String> = []
        for (i, v) in array.enumerated() {
            let at = "user[\(i + 1)]"
            guard let t = v.table else { throw Problem(description: "\(at) must be a table") }
            for key in t.keys where !["name", "role", "password_hash"].contains(key) {
                throw Problem(description: "\(at): unknown key \(key.quoted()) (name, role, password_hash)")
            }
            guard let name = t["name"]?.string, validName(name) else {
                throw Problem(description: "\(at).name: a name of letters, digits, '.', '_' or '-', up to 64 characters, is required")
            }
            guard let role = t["role"]?.string, roles.contains(role) else {
                throw Problem(description: "\(at) (\(name)).role: must be one of \(roles.joined(separator: ", "))")
            }
            guard let hash = t["password_hash"]?.string, hash.hasPrefix("$2"), hash.count == 60 else {
                throw Problem(description: "\(at) (\(name)).password_hash: must be a bcrypt hash ($2b$…, 60 characters); set it with `hazmon user passwd \(name)`")
            }
            guard seen.insert(name).inserted else { throw Problem(description: "\(at): the name \(name.quoted()) appears twice") }
            out.append(Record(name: name, role: role, passwordHash: hash))
        }
        return out
    }

    /// The file's text for `records`.
    public static func render(_ records: [Record]) -> String {
        var out = "# hazmon console users (spec §10). Edit with `hazmon user add|passwd|remove NAME`.\n"
        for r in records {
            out += "\n[[user]]\nname = \(quote(r.name))\nrole = \(quote(r.role))\npassword_hash = \(quote(r.passwordHash))\n"
        }
        return out
    }

    /// A TOML basic string.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f { out += String(format: "\\u%04X", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// Writes `records` to `path` atomically (a temp file renamed over it). An existing file
    /// keeps its mode, owner and group; a new one gets mode 0640 and the group of its directory
    /// (under /etc/hazmon, root:hazmon: readable by the daemon, by nobody else).
    public static func write(_ records: [Record], to path: String) throws(Problem) {
        let tmp = path + ".tmp-\(getpid())"
        let text = render(records)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw Problem(description: "cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var old = stat()
        if stat(path, &old) == 0 {
            _ = fchown(fd, old.st_uid, old.st_gid)
            _ = fchmod(fd, old.st_mode & 0o777)
        } else {
            var dir = stat()
            if stat(ConfigLoader.directory(of: path), &dir) == 0 { _ = fchown(fd, uid_t.max, dir.st_gid) }
            _ = fchmod(fd, 0o640)
        }
        let ok = text.utf8CString.withUnsafeBufferPointer { p in
            let n = p.count - 1
            return Foundation.write(fd, p.baseAddress, n) == n
        } && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw Problem(description: "cannot write \(path): \(reason)")
        }
    }
}
