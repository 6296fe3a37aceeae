import Foundation
import HazmonCore
import HazmonHistory
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// Where the history's copy goes: the park's PostgreSQL (spec §8, `[history.postgres]`).
public struct PostgresCopySettings: Sendable {
    public enum TLSMode: Sendable, Equatable {
        case disable
        /// Encrypted, the server's certificate not checked (libpq's `require`).
        case require
        /// Encrypted, the certificate checked against `caFile` (or the system's roots) and the host name.
        case verifyFull(caFile: String?)
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// The table (created if missing): a TimescaleDB hypertable where the extension is
    /// installed, else a table partitioned by day.
    public var table: String
    public var site: String
    /// Points per INSERT.
    public var batch = 5_000

    public init(host: String, port: Int, username: String, password: String?, database: String, tls: TLSMode, table: String,
                site: String) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.table = table
        self.site = site
    }
}

/// Forwards the history's outbox to PostgreSQL: the oldest points first, a batch per
/// transaction, removed from the outbox only once PostgreSQL has committed them. Each row
/// carries the history's id and the point's number, its primary key with the time, so a batch
/// sent again after a crash (committed there, not yet removed here) is not stored twice: every
/// point arrives once, in order, with its own time, after an outage of hours.
///
/// While PostgreSQL cannot be reached, `onHealth(false, reason)` raises the connection's `comm`
/// alarm; the outbox keeps growing on disk (bounded by `[history.postgres] queue_max`); the
/// first committed batch clears it.
public final class PostgresCopy: Sendable {
    let settings: PostgresCopySettings
    let historyPath: String
    let logger: Logger
    let onHealth: @Sendable (Bool, String?) -> Void
    /// Runs the outbox's SQLite calls off the cooperative pool.
    let pool: NIOThreadPool

    public init(settings: PostgresCopySettings, historyPath: String, logger: Logger, pool: NIOThreadPool = .singleton,
                onHealth: @escaping @Sendable (Bool, String?) -> Void) {
        self.settings = settings
        self.historyPath = historyPath
        self.logger = logger
        self.pool = pool
        self.onHealth = onHealth
    }

    /// Forwards until the task is cancelled; what is not yet delivered waits in the outbox.
    public func run() async {
        var state = ForwardState()
        var connection: PostgresConnection?
        defer { if let connection { Task { try? await connection.close() } } }
        while !Task.isCancelled {
            let pause: Duration
            do {
                pause = try await step(&state, &connection)
                if state.down {
                    logger.notice("history copy: PostgreSQL takes points again", metadata: ["host": "\(settings.host)"])
                    onHealth(true, nil)
                    state.down = false
                }
                state.backoff = .seconds(1)
            } catch is CancellationError {
                break
            } catch {
                let reason = Self.describe(error)
                if !state.down || reason != state.reason {
                    logger.error("history copy: \(reason); points wait in the outbox",
                                 metadata: ["host": "\(settings.host)", "table": "\(settings.table)"])
                    onHealth(false, reason)
                }
                state.down = true
                state.reason = reason
                state.schemaReady = false
                if let c = connection { try? await c.close() }
                connection = nil
                pause = state.backoff
                state.backoff = min(state.backoff * 2, .seconds(30))
            }
            try? await Task.sleep(for: pause)
        }
    }

    struct ForwardState {
        var outbox: HistoryOutbox?
        var schemaReady = false
        var partitioned = false
        var days = Set<Int64>()
        var down = false
        var reason: String?
        var backoff: Duration = .seconds(1)
        var connectionNumber = 0
    }

    /// One batch: returns how long to wait before the next.
    func step(_ s: inout ForwardState, _ connection: inout PostgresConnection?) async throws -> Duration {
        if s.outbox == nil {
            let path = historyPath
            // The history's writer creates the file and its outbox; until then there is nothing to send.
            guard let o = try? await pool.runIfActive({ try HistoryOutbox(path: path) }) else { return .seconds(1) }
            s.outbox = o
        }
        let outbox = s.outbox!
        let limit = settings.batch
        let rows = try await pool.runIfActive { try outbox.next(limit: limit) }
        if rows.isEmpty { return .milliseconds(250) }
        if let c = connection, c.isClosed {
            // The server closed it (a restart, an administrator): a query on it would never end.
            connection = nil
            s.schemaReady = false
        }
        if connection == nil {
            s.connectionNumber += 1
            connection = try await withTimeout(.seconds(15)) { [settings, logger, n = s.connectionNumber] in
                try await PostgresConnection.connect(configuration: try Self.configuration(settings), id: n, logger: logger)
            }
        }
        let c = connection!
        if !s.schemaReady {
            s.partitioned = try await createTable(c)
            s.schemaReady = true
            s.days = []
        }
        if s.partitioned {
            for day in Set(rows.map { Self.day(of: $0.time) }).subtracting(s.days).sorted() {
                try await createPartition(c, day: day)
                s.days.insert(day)
            }
        }
        logger.debug("history copy: sending", metadata: ["points": "\(rows.count)", "through": "\(rows.last!.id)"])
        try await insert(rows, historyID: outbox.historyID, on: c)
        let last = rows.last!.id
        try await pool.runIfActive { try outbox.confirm(through: last) }
        return rows.count == limit ? .zero : .milliseconds(100)
    }

    static func configuration(_ s: PostgresCopySettings) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch s.tls {
        case .disable:
            tls = .disable
        case .require:
            var t = TLSConfiguration.makeClientConfiguration()
            t.certificateVerification = .none
            tls = .require(try NIOSSLContext(configuration: t))
        case .verifyFull(let ca):
            var t = TLSConfiguration.makeClientConfiguration()
            if let ca { t.trustRoots = .file(ca) }
            tls = .require(try NIOSSLContext(configuration: t))
        }
        return .init(host: s.host, port: s.port, username: s.username, password: s.password, database: s.database, tls: tls)
    }

    /// A quoted SQL identifier: the table name from the config.
    var table: String { "\"" + settings.table.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// Creates the table if missing; returns whether it is partitioned by day by us (false: a
    /// TimescaleDB hypertable, which partitions itself).
    func createTable(_ c: PostgresConnection) async throws -> Bool {
        let timescale = try await withTimeout(.seconds(30)) { [logger] in
            try await c.query("SELECT count(*)::bigint FROM pg_extension WHERE extname = 'timescaledb'", logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
        } > 0
        let columns = """
            history_id bigint NOT NULL, seq bigint NOT NULL, site text NOT NULL, tag text NOT NULL,
            time timestamptz NOT NULL, value double precision, quality text NOT NULL, source_time timestamptz,
            PRIMARY KEY (history_id, seq, time)
            """
        if timescale {
            try await run("CREATE TABLE IF NOT EXISTS \(table) (\(columns))", on: c)
            try await run("SELECT create_hypertable('\(settings.table.replacingOccurrences(of: "'", with: "''"))', 'time', if_not_exists => TRUE)", on: c)
        } else {
            try await run("CREATE TABLE IF NOT EXISTS \(table) (\(columns)) PARTITION BY RANGE (time)", on: c)
        }
        let index = "\"" + (settings.table + "_tag_time").replacingOccurrences(of: "\"", with: "\"\"") + "\""
        try await run("CREATE INDEX IF NOT EXISTS \(index) ON \(table) (tag, time)", on: c)
        logger.info("history copy: table ready", metadata: ["table": "\(settings.table)", "timescaledb": "\(timescale)"])
        return !timescale
    }

    /// UTC days since 1970.
    static func day(of ms: Int64) -> Int64 { ms >= 0 ? ms / 86_400_000 : (ms + 1) / 86_400_000 - 1 }

    func createPartition(_ c: PostgresConnection, day: Int64) async throws {
        let start = Date(timeIntervalSince1970: Double(day) * 86_400)
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let d = cal.dateComponents([.year, .month, .day], from: start)
        let name = String(format: "%@_%04d%02d%02d", settings.table, d.year!, d.month!, d.day!)
        let from = Instant(nanoseconds: day * 86_400_000_000_000).iso8601
        let to = Instant(nanoseconds: (day + 1) * 86_400_000_000_000).iso8601
        try await run("CREATE TABLE IF NOT EXISTS \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\" PARTITION OF \(table) "
            + "FOR VALUES FROM ('\(from)') TO ('\(to)')", on: c)
    }

    func run(_ sql: String, on c: PostgresConnection) async throws {
        _ = try await withTimeout(.seconds(30)) { [logger] in try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect() }
    }

    /// One multi-row INSERT of the batch (arrays unnested), in its own transaction.
    func insert(_ rows: [OutboxRow], historyID: Int64, on c: PostgresConnection) async throws {
        let seq = rows.map(\.id), tag = rows.map(\.tag), time = rows.map(\.time), value = rows.map(\.value)
        let quality = rows.map(\.quality.rawValue), source = rows.map { $0.sourceTime ?? Int64.min }
        let site = settings.site
        let q: PostgresQuery = """
            INSERT INTO \(unescaped: table) (history_id, seq, site, tag, time, value, quality, source_time)
            SELECT \(historyID), s, \(site), t, to_timestamp(ms::double precision / 1000), v, q,
                   CASE WHEN src = -9223372036854775808 THEN NULL ELSE to_timestamp(src::double precision / 1000) END
            FROM unnest(\(seq)::bigint[], \(tag)::text[], \(time)::bigint[], \(value)::float8[], \(quality)::text[], \(source)::bigint[])
                 AS u(s, t, ms, v, q, src)
            ON CONFLICT DO NOTHING
            """
        _ = try await withTimeout(.seconds(20)) { [logger, q] in try await c.query(q, logger: logger).collect() }
    }

    static func describe(_ error: Error) -> String {
        if let p = error as? PSQLError {
            if let m = p.serverInfo?[.message] { return "PostgreSQL refused: \(m)" }
            if let u = p.underlying { return "cannot reach PostgreSQL: \(u)" }
            return "PostgreSQL: \(p.code)"
        }
        if let h = error as? HistoryError { return h.description }
        return "\(error)"
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let after: Duration
    var description: String { "no answer from PostgreSQL within \(after)" }
}

/// Runs `body`, or throws `TimedOut` after `limit` (a blackholed server never answers) without
/// waiting for `body` to notice its cancellation: the caller then closes the connection, which
/// ends the query for good.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let pending = Once<T>()
    return try await withCheckedThrowingContinuation { (done: CheckedContinuation<T, any Error>) in
        pending.set(done)
        let timer = Task {
            try await Task.sleep(for: limit)
            pending.take()?.resume(throwing: TimedOut(after: limit))
        }
        Task {
            do {
                let value = try await body()
                timer.cancel()
                pending.take()?.resume(returning: value)
            } catch {
                timer.cancel()
                pending.take()?.resume(throwing: error)
            }
        }
    }
}

/// A continuation resumed once, by whichever of two tasks comes first.
final class Once<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)
    func set(_ c: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = c } }
    func take() -> CheckedContinuation<T, any Error>? { continuation.withLock { $0.take() } }
}
