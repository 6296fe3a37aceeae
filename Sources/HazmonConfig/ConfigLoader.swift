import Foundation
import HazmonCore
import HazmonModbus

#if canImport(Glibc)
import Glibc
#endif

/// Reads `hazmon.toml` into a validated `HazmonConfiguration`, or every error it finds.
public enum ConfigLoader {
    /// Reads and validates the file at `path`. With `checkPaths`, the directories the daemon
    /// writes into (journal, alert socket, spill) must exist and be writable, so `hazmon check`
    /// (the unit's ExecStartPre) stops a start that could only fail.
    public static func load(path: String, checkPaths: Bool = false) throws(ConfigErrors) -> HazmonConfiguration {
        guard let text = readFile(path) else {
            throw ConfigErrors([ConfigError(file: path, line: nil, keyPath: "", message: "cannot read the file: \(String(cString: strerror(errno)))")])
        }
        defer { FreedMemory.release() }   // the TOML tree is gone by now
        return try parse(text: text, file: path, checkPaths: checkPaths)
    }

    /// Validates TOML text; `file` is the name errors use.
    public static func parse(text: String, file: String, checkPaths: Bool = false) throws(ConfigErrors) -> HazmonConfiguration {
        let (config, warnings) = try read(text: text, file: file) { top in
            let points = PointTables.load(top)
            var c = ConfigBuilder(top: top, includes: points.readers, checkPaths: checkPaths).build()
            points.rejectUnknownKeys()
            c.includedFiles = points.files
            return c
        }
        var result = config
        result.warnings = warnings
        return result
    }

    /// Parses TOML text and hands its top table to `build`; every error `build` reports (and
    /// every key it did not read) comes back as `ConfigErrors`, with file and line.
    package static func read<T>(text: String, file: String, _ build: (TableReader) -> T) throws(ConfigErrors) -> (T, [ConfigError]) {
        let document: TOMLDocument
        switch parseTOML(text, file: file, headerExample: "[journal]") {
        case .success(let d): document = d
        case .failure(let e): throw ConfigErrors([e])
        }
        let diag = ConfigDiagnostics(file: file, text: text)
        let top = TableReader(document.root, document: document, diagnostics: diag, location: [], display: [], context: nil)
        let result = build(top)
        top.rejectUnknownKeys()
        if !diag.errors.isEmpty {
            // The main file's errors first, then each included file's, each by line.
            let order = diag.errors.map(\.file).reduce(into: [file]) { seen, f in if !seen.contains(f) { seen.append(f) } }
            throw ConfigErrors(diag.errors.sorted {
                (order.firstIndex(of: $0.file)!, $0.line ?? 0) < (order.firstIndex(of: $1.file)!, $1.line ?? 0)
            })
        }
        return (result, diag.warnings)
    }

    /// A file's TOML, or its syntax error with file and line. `headerExample` is a header the
    /// file may hold, for the message about a header that does not start with a key.
    static func parseTOML(_ text: String, file: String, headerExample: String) -> Result<TOMLDocument, ConfigError> {
        switch TOMLHeaderGuard.firstProblem(in: text) {
        case (let line, .header)?:
            return .failure(ConfigError(file: file, line: line, keyPath: "",
                                        message: "TOML syntax: a table header must start with a key, e.g. \(headerExample)"))
        case (let line, .braceInArray)?:
            return .failure(ConfigError(file: file, line: line, keyPath: "",
                                        message: "TOML syntax: '}' inside an array (a value, ',' or ']' was expected)"))
        case nil:
            break
        }
        if let line = TOMLHeaderGuard.firstDeepKey(in: text) {
            return .failure(ConfigError(file: file, line: line, keyPath: "",
                                        message: "a dotted key of more than \(TOMLHeaderGuard.maxKeyParts) parts: no hazmon key is that deep"))
        }
        do {
            return .success(try TOMLDocument.parse(text))
        } catch {
            return .failure(ConfigError(file: file, line: error.line, keyPath: "", message: "TOML syntax: \(error.description)"))
        }
    }

    /// A secret from a file: its first line, without surrounding blanks.
    public static func token(_ text: String) -> [UInt8] {
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return Array(line.utf8.drop { $0 == 32 || $0 == 9 || $0 == 13 }.reversed().drop { $0 == 32 || $0 == 9 || $0 == 13 }.reversed())
    }

    /// The directory a path names a file in (`/` for `/x`, `.` for a bare name).
    static func directory(of path: String) -> String {
        let slash = path.lastIndex(of: "/")
        return slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    }

    /// The whole file as UTF-8 text, or nil if it cannot be read.
    public static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
            if n < buf.count { break }
        }
        if ferror(f) != 0 { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Walks the parsed tables section by section. Each reader reports its own unknown keys.
struct ConfigBuilder {
    let top: TableReader
    /// The top tables of the included point-table files: their `[[tag]]`, `[[vote]]` and
    /// `[[modbus.device]]` entries join the main file's.
    var includes: [TableReader] = []
    /// Whether to check that the directories the daemon writes into exist (see `load`).
    var checkPaths = false

    /// `[[name]]` entries of the main file, then of each included file.
    func entries(_ key: String, context: @escaping (Int, TOMLTableNode) -> String?) -> [TableReader] {
        top.arrayOfTables(key, context: context) + includes.flatMap { $0.arrayOfTables(key, context: context) }
    }

    func build() -> HazmonConfiguration {
        let site = readSite()
        let log = readLog()
        let journal = readJournal()
        let history = readHistory(journal: journal)
        let socket = readAlertSocket()
        let remote = readRemoteFeed()
        let metrics = readMetrics()
        let console = readConsole()
        let mqtt = readMQTT(siteID: site.id)
        let devices = readModbus()
        var (engine, defaultStale) = readEngine()
        engine.language = site.language
        let tags = readTags(mqtt: mqtt, devices: devices, defaultStale: defaultStale)
        let votes = readVotes(tags: tags)
        var config = HazmonConfiguration(
            file: top.diagnostics.file, site: site, log: log, journal: journal, history: history, alertSocket: socket,
            remoteFeed: remote, metrics: metrics, mqtt: mqtt, modbusDevices: devices, tags: tags, engine: engine, votes: votes, warnings: [])
        config.console = console
        config.hazardSources = readHazardSources(tags: tags, votes: votes)
        config.positions = readPositions(tags: tags, sources: config.hazardSources)
        config.uplinks = readUplinks(site: site, history: history)
        config.notify = readNotify(hazardSources: config.hazardSources)
        return config
    }

    func readSite() -> SiteSettings {
        var s = SiteSettings(id: "hazmon", name: "")
        if let t = top.table("site") {
            if let id = t.string("id") {
                if Self.isIdentifier(id) { s.id = id } else { t.error("id", "\"\(id)\" must be letters, digits, '-', '_' or '.' (it appears in every event and MQTT topic)") }
            }
            s.name = t.string("name", default: "")
            if let l = t.string("language") {
                if let v = Language(rawValue: l) { s.language = v } else { t.error("language", "\"\(l)\" is not one of zh-CN, en") }
            }
            if let z = t.string("timezone") {
                if TimeZone(identifier: z) != nil, z.contains("/") || z == "UTC" { s.timezone = z }
                else { t.error("timezone", "\"\(z)\" is not an IANA time zone such as Asia/Shanghai or UTC (see /usr/share/zoneinfo)") }
            }
            t.rejectUnknownKeys()
        }
        if s.name.isEmpty { s.name = s.id }
        return s
    }

    func readLog() -> LogSettings {
        var s = LogSettings()
        guard let t = top.table("log") else { return s }
        if let f = t.string("format") {
            if let v = LogFormat(rawValue: f) { s.format = v } else { t.error("format", "\"\(f)\" is not one of journal, json, text") }
        }
        if let l = t.string("level") {
            if let v = LogLevelSetting(rawValue: l) { s.level = v } else {
                t.error("level", "\"\(l)\" is not one of \(LogLevelSetting.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        t.rejectUnknownKeys()
        return s
    }

    func readJournal() -> JournalSettings {
        var s = JournalSettings()
        let t = top.table("journal")
        defer {
            if checkPaths {
                checkDirectory(of: s.path, t, "journal", "path", what: "the journal")
                if let d = s.spillDir { checkDirectory(of: d + "/x", t, "journal", "spill_dir", what: "spilled events") }
            }
        }
        guard let t else { return s }
        if let p = t.string("path") { s.path = p }
        if let r = t.duration("retention") {
            if r < .seconds(30 * 86_400) {
                t.error("retention", "\(DurationParser.format(r)) is below the legal minimum of 30 days of records")
            } else {
                s.retention = r
            }
        }
        if let v = t.string("sync") {
            if let m = JournalSyncSetting(rawValue: v) { s.sync = m } else { t.error("sync", "\"\(v)\" is not one of full, normal") }
        }
        if let w = t.duration("max_wait") {
            if w < .milliseconds(10) || w > .seconds(10) {
                t.error("max_wait", "\(DurationParser.format(w)) is outside 10ms ... 10s")
            } else {
                s.maxWait = w
            }
        }
        if let d = t.string("spill_dir") {
            if d.isEmpty { t.error("spill_dir", "must be a directory path") } else { s.spillDir = d }
        }
        t.rejectUnknownKeys()
        return s
    }

    /// `[history]`: on unless `enabled = false`; its file beside the journal unless `path` says.
    func readHistory(journal: JournalSettings) -> HistorySettings? {
        let dir = journal.path.lastIndex(of: "/").map { String(journal.path[..<$0]) } ?? "."
        var s = HistorySettings(path: (dir.isEmpty ? "" : dir) + "/history.db")
        let t = top.table("history")
        var enabled = true
        defer { if checkPaths && enabled { checkDirectory(of: s.path, t, "history", "path", what: "the process history") } }
        guard let t else { return s }
        if let e = t.bool("enabled") { enabled = e }
        if let p = t.string("path") {
            if p.isEmpty { t.error("path", "must be a file path") }
            else if p == journal.path { t.error("path", "must not be the journal's file") }
            else { s.path = p }
        }
        if let r = t.duration("retention") {
            if r < .seconds(30 * 86_400) {
                t.error("retention", "\(DurationParser.format(r)) is below the legal minimum of 30 days of records (安监总局令第40号 Art. 13)")
            } else {
                s.retention = r
            }
        }
        if let g = t.duration("max_gap") {
            if g < .seconds(1) || g > .seconds(3600) { t.error("max_gap", "\(DurationParser.format(g)) is outside 1s ... 1h") } else { s.maxGap = g }
        }
        if let b = t.duration("batch") {
            if b < .milliseconds(100) || b > .seconds(10) { t.error("batch", "\(DurationParser.format(b)) is outside 100ms ... 10s") } else { s.batch = b }
        }
        if let pg = t.table("postgres") { s.postgres = readHistoryPostgres(pg) }
        t.rejectUnknownKeys()
        return enabled ? s : nil
    }

    /// `[history.postgres]`: `url = "postgres://USER@HOST[:PORT]/DB"`, the password in a file.
    func readHistoryPostgres(_ t: TableReader) -> HistoryPostgresSettings? {
        defer { t.rejectUnknownKeys() }
        guard let url = t.string("url") else {
            t.error("url", "is required: postgres://USER@HOST[:PORT]/DATABASE")
            return nil
        }
        guard let c = URLComponents(string: url), ["postgres", "postgresql"].contains(c.scheme ?? ""),
              let host = c.host, !host.isEmpty, let user = c.user, !user.isEmpty else {
            t.error("url", "\"\(url)\" is not postgres://USER@HOST[:PORT]/DATABASE")
            return nil
        }
        if c.password != nil { t.error("url", "must not hold the password: put it in password_file (mode 600)") }
        let db = String(c.path.drop { $0 == "/" })
        var s = HistoryPostgresSettings(url: url, host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), user: user,
                                        database: db.isEmpty ? user : db)
        if let p = c.port {
            if (1...65535).contains(p) { s.port = p } else { t.error("url", "port \(p) is outside 1...65535") }
        }
        for item in c.queryItems ?? [] {
            if item.name == "sslmode", let v = item.value {
                if let m = HistoryPostgresSettings.SSLMode(rawValue: v) { s.sslmode = m } else {
                    t.error("url", "sslmode=\(v) is not one of disable, require, verify-full")
                }
            } else {
                t.error("url", "?\(item.name) is not understood (only sslmode; ca_file and password_file are keys of their own)")
            }
        }
        if let m = t.string("sslmode") {
            if let v = HistoryPostgresSettings.SSLMode(rawValue: m) { s.sslmode = v } else { t.error("sslmode", "\"\(m)\" is not one of disable, require, verify-full") }
        }
        if let f = t.string("password_file") {
            if access(f, R_OK) != 0 { t.error("password_file", "cannot read \"\(f)\": \(String(cString: strerror(errno)))") }
            else { Self.checkSecret(t, "password_file", f) }
            s.passwordFile = f
        }
        if let f = t.string("ca_file") {
            if access(f, R_OK) != 0 { t.error("ca_file", "cannot read \"\(f)\": \(String(cString: strerror(errno)))") }
            if s.sslmode != .verifyFull { t.error("ca_file", "is used with sslmode = \"verify-full\" only") }
            s.caFile = f
        }
        if let name = t.string("table") {
            let ok = name.utf8.count <= 48 && name.utf8.first.map { ($0 >= 97 && $0 <= 122) || $0 == 95 } == true
                && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
            if ok { s.table = name } else { t.error("table", "\"\(name)\" must be a lower-case SQL name of at most 48 characters (letters, digits, _)") }
        }
        if let n = t.int("queue_max") {
            if n >= 10_000 { s.queueMax = n } else { t.error("queue_max", "must be at least 10000 points") }
        }
        return s
    }

    /// The directory `path` is in must exist and be writable by this user; the error goes to
    /// `key` of `t` (or, for a default path, to the file).
    func checkDirectory(of path: String, _ t: TableReader?, _ section: String, _ key: String, what: String) {
        let dir = ConfigLoader.directory(of: path)
        var st = stat()
        let problem: String?
        if stat(dir, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR {
            problem = "the directory \(dir) for \(what) does not exist (create it, or under systemd let StateDirectory= / RuntimeDirectory= make it)"
        } else if access(dir, W_OK) != 0 {
            problem = "the directory \(dir) for \(what) is not writable by this user (uid \(getuid()))"
        } else {
            problem = nil
        }
        guard let problem else { return }
        if let t, t.has(key) { t.error(key, problem) } else { top.error(section + "." + key, problem) }
    }

    func readMetrics() -> MetricsSettings? {
        guard let t = top.table("metrics") else { return nil }
        var s = MetricsSettings(host: "127.0.0.1", port: 9464)
        if let (h, p) = Self.listenAddress(t, example: "\"127.0.0.1:9464\"") { s.host = h; s.port = p }
        t.rejectUnknownKeys()
        return s
    }

    func readConsole() -> ConsoleSettings? {
        guard let t = top.table("console") else { return nil }
        var s = ConsoleSettings(host: "127.0.0.1", port: 8080)
        if !t.has("listen") { t.error("listen", "is required: HOST:PORT, e.g. \"127.0.0.1:8080\"") }
        if let (h, p) = Self.listenAddress(t, example: "\"127.0.0.1:8080\", \"[::1]:8080\"") { s.host = h; s.port = p }
        for key in ["cert_file", "key_file"] {
            guard let path = t.string(key) else { continue }
            if access(path, R_OK) != 0 { t.error(key, "cannot read \"\(path)\": \(String(cString: strerror(errno)))") }
            else if key == "key_file" { Self.checkSecret(t, key, path) }
            if key == "cert_file" { s.certFile = path } else { s.keyFile = path }
        }
        if (s.certFile == nil) != (s.keyFile == nil) {
            t.error(s.certFile == nil ? "cert_file" : "key_file", "TLS needs both cert_file and key_file")
        }
        if let f = t.string("users_file") { s.usersFile = f }
        if let f = t.string("sessions_file") {
            s.sessionsFile = f
            if checkPaths { checkDirectory(of: f, t, "console", "sessions_file", what: "the console's sessions") }
        }
        if let text = ConfigLoader.readFile(s.usersFile) {
            do { _ = try UsersFileFormat.parse(text) } catch {
                if t.has("users_file") { t.error("users_file", "\(s.usersFile): \(error)") } else { top.error("console.users_file", "\(s.usersFile): \(error)") }
            }
        } else if access(s.usersFile, F_OK) == 0 {
            t.error("users_file", "cannot read \"\(s.usersFile)\": \(String(cString: strerror(errno)))")
        }
        if let d = t.duration("session_idle") {
            if d >= .seconds(60) && d <= .seconds(7 * 86_400) { s.sessionIdle = d } else { t.error("session_idle", "must be from 1m to 7d") }
        }
        if let n = t.int("max_streams") {
            if (1...10_000).contains(n) { s.maxStreams = n } else { t.error("max_streams", "must be from 1 to 10000") }
        }
        if let n = t.int("stream_queue") {
            if (100...1_000_000).contains(n) { s.streamQueue = n } else { t.error("stream_queue", "must be from 100 to 1000000 events") }
        }
        t.rejectUnknownKeys()
        return s
    }

    func readRemoteFeed() -> RemoteFeedSettings? {
        guard let t = top.table("remote_feed") else { return nil }
        var host = "127.0.0.1", port = 0
        if !t.has("listen") { t.error("listen", "is required: HOST:PORT") }
        if let (h, p) = Self.listenAddress(t, example: "\"127.0.0.1:7443\", \"[::1]:7443\"") { host = h; port = p }
        var files: [String: String] = [:]
        for key in ["cert_file", "key_file", "token_file"] {
            guard let path = t.string(key) else { t.error(key, "is required"); continue }
            if access(path, R_OK) != 0 { t.error(key, "cannot read \"\(path)\": \(String(cString: strerror(errno)))") }
            else if key != "cert_file" { Self.checkSecret(t, key, path) }
            files[key] = path
        }
        if let tf = files["token_file"], let text = ConfigLoader.readFile(tf) {
            if ConfigLoader.token(text).count < 16 { t.error("token_file", "the token must be at least 16 characters") }
        }
        var s = RemoteFeedSettings(host: host, port: port, certFile: files["cert_file"] ?? "", keyFile: files["key_file"] ?? "",
                                   tokenFile: files["token_file"] ?? "")
        if let n = t.int("max_clients") {
            if (1...1024).contains(n) { s.maxClients = n } else { t.error("max_clients", "must be 1...1024") }
        }
        if let d = t.duration("auth_timeout") {
            if d >= .seconds(1) && d <= .seconds(60) { s.authTimeout = d } else { t.error("auth_timeout", "must be 1s ... 60s") }
        }
        t.rejectUnknownKeys()
        return s
    }

    /// A secret (token, password, private key) readable by group or others is refused, as ssh
    /// refuses such a private key: anyone on the host could otherwise use it.
    static func checkSecret(_ t: TableReader, _ key: String, _ path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        let mode = st.st_mode & 0o777
        if mode & 0o077 != 0 {
            t.error(key, "\"\(path)\" is readable by group or others (mode \(String(mode, radix: 8))): a secret must be "
                + "readable by its owner only (chmod 600, owned by the daemon's user)")
        }
    }

    /// `listen = "HOST:PORT"` of a table (IPv6 in brackets), if given and well formed.
    static func listenAddress(_ t: TableReader, example: String) -> (String, Int)? {
        guard let listen = t.string("listen") else { return nil }
        if let (_, h, p) = parseBrokerURL("mqtt://" + listen), listen.contains(":") { return (h, p) }
        t.error("listen", "\"\(listen)\" is not HOST:PORT (e.g. \(example))")
        return nil
    }

    func readAlertSocket() -> AlertSocketSettings {
        var s = AlertSocketSettings()
        let t = top.table("alert_socket")
        defer { if checkPaths { checkDirectory(of: s.path, t, "alert_socket", "path", what: "the alert socket") } }
        guard let t else { return s }
        if let p = t.string("path") {
            if p.isEmpty || p.utf8.count > 107 { t.error("path", "must be a non-empty path of at most 107 bytes (a Unix socket limit)") } else { s.path = p }
        }
        if let m = t.string("mode") {
            if let v = UInt32(m, radix: 8), v <= 0o777 { s.mode = v } else { t.error("mode", "\"\(m)\" is not an octal file mode like \"0660\"") }
        }
        if let n = t.int("max_clients") {
            if n >= 1 && n <= 10_000 { s.maxClients = n } else { t.error("max_clients", "must be 1...10000") }
        }
        if let n = t.int("client_queue") {
            if n >= 100 { s.clientQueue = n } else { t.error("client_queue", "must be at least 100 events (a burst must not cut off a healthy client)") }
        }
        t.rejectUnknownKeys()
        return s
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46
        }
    }
}
