import Foundation
import GRDB
import GRDBSQLite
import HazmonCore

/// A failure of the history file, with SQLite's words for it.
public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The file is not a sound history (damaged, or some other file): set it aside, never reuse it.
    public let damaged: Bool

    public init(_ description: String, damaged: Bool = false) {
        self.description = description
        self.damaged = damaged
    }

    init(_ error: any Error, doing what: String) {
        if let db = error as? DatabaseError {
            description = "\(what): \(db.message ?? "SQLite error") (SQLite code \(db.resultCode.rawValue))"
            damaged = [.SQLITE_CORRUPT, .SQLITE_NOTADB].contains(db.resultCode.primaryResultCode)
        } else if let h = error as? HistoryError {
            self = h
        } else {
            description = "\(what): \(error)"
            damaged = false
        }
    }
}

/// The process history on disk (spec §8): SQLite in WAL mode, one writer (the history thread),
/// any number of readers (`hazmon trend`, the console).
///
/// Tables: `tag` (id ↔ name); `chunk` (one tag's points, compressed by `ChunkCodec`, with their
/// one-minute aggregates: written a minute at a time, merged into ten-minute chunks later);
/// `recent` (points not yet in a chunk, an append-only log written every batch so a crash
/// loses at most one batch, emptied by every flush); `outbox` (the copy's queue); `meta`.
public final class HistoryStore {
    let queue: DatabaseQueue
    public let path: String

    /// Opens (creating if needed) the history at `path`, checks it (`quick_check`) and brings its
    /// schema up to date. A damaged file or another kind of file throws with `damaged` set.
    public init(path: String) throws(HistoryError) {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.label = "hazmon-history"
        config.prepareDatabase { db in
            // 32 KiB pages for a new file (an existing one keeps its own): a ten-minute chunk of a
            // noisy 1 Hz tag is about 2.4 KB, and 4 KiB pages held one such row each, wasting
            // 40 % of the file (6.9 bytes a sample measured, against 3.9 of data).
            try db.execute(sql: "PRAGMA page_size = \(Self.pageSize)")
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            // A crash of hazmon loses nothing committed; a power cut at most the last commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            let check = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(3)") }
            guard check == ["ok"] else {
                throw HistoryError("the history \(path) is damaged: \(check.joined(separator: "; "))", damaged: true)
            }
            let foreign = try queue.read { db in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                return !tables.isEmpty && !tables.contains("chunk")
            }
            if foreign { throw HistoryError("\(path) is not a hazmon history (it has tables but no chunk table)", damaged: true) }
            try Self.migrator.migrate(queue)
        } catch {
            throw HistoryError(error, doing: "cannot open the history \(path)")
        }
    }

    /// The page size of a new history file.
    static let pageSize = 32_768

    /// The schema, versioned like the journal's: each step runs once per database, in order.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE tag (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                -- One tag's points, compressed (ChunkCodec), with their one-minute aggregates.
                -- Written a minute at a time (merged = 0), merged into longer chunks later.
                CREATE TABLE chunk (
                    id INTEGER PRIMARY KEY,
                    tag INTEGER NOT NULL REFERENCES tag(id),
                    first_ms INTEGER NOT NULL,
                    last_ms INTEGER NOT NULL,
                    -- Where the chunk's aggregates stop: the next chunk's start from here.
                    until_ms INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    points BLOB NOT NULL,
                    minutes BLOB NOT NULL,
                    merged INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX chunk_by_tag ON chunk(tag, last_ms);
                -- Points not yet in a chunk, in the order they came: an append-only log of one
                -- row per batch (RecentCodec records), emptied by every flush.
                CREATE TABLE recent (n INTEGER PRIMARY KEY, points BLOB NOT NULL);
                CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
                -- The outbox of a store-and-forward copy (the park's PostgreSQL), and the id that
                -- makes each history's numbers unique there (a new file after a damaged one gets a new id).
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tag INTEGER NOT NULL,
                    time_ms INTEGER NOT NULL,
                    value REAL,
                    quality INTEGER NOT NULL,
                    source_ms INTEGER
                );
                INSERT INTO meta (key, value) VALUES ('history_id', abs(random()));
                """)
        }
        // Minute aggregates compressed (MinuteCodec format 2, about a third of the size).
        m.registerMigration("v2") { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT id, minutes FROM chunk")
            var updates: [(Int64, [UInt8])] = []
            while let r = try rows.next() {
                let data: Data = r[1]
                guard let minutes = MinuteCodec.decodeFormat1([UInt8](data)) else {
                    throw HistoryError("chunk \(r[0] as Int64) of the history is damaged (its minute aggregates)", damaged: true)
                }
                updates.append((r[0], MinuteCodec.encode(minutes)))
            }
            for (id, bytes) in updates {
                try db.execute(sql: "UPDATE chunk SET minutes = ? WHERE id = ?", arguments: [Data(bytes), id])
            }
        }
        // Several store-and-forward readers (the PostgreSQL copy, each uplink) share the
        // outbox: each has its own position; a point goes once every reader has passed it.
        m.registerMigration("v3") { db in
            try db.execute(sql: """
                CREATE TABLE outbox_reader (name TEXT PRIMARY KEY, after INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO outbox_reader (name, after) SELECT 'postgres', min(id) - 1 FROM outbox HAVING count(*) > 0;
                """)
        }
        return m
    }

    /// Makes `names` the outbox's readers: a new one starts after the last point queued so far
    /// (enabling a reader does not replay what others already sent); a reader no longer named
    /// is forgotten, so it holds nothing back. Points every reader has passed are removed.
    public func setOutboxReaders(_ names: [String]) throws(HistoryError) {
        do {
            try queue.write { db in
                let end = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") ?? 0
                let known = try String.fetchAll(db, sql: "SELECT name FROM outbox_reader")
                for gone in known where !names.contains(gone) {
                    try db.execute(sql: "DELETE FROM outbox_reader WHERE name = ?", arguments: [gone])
                }
                for name in names where !known.contains(name) {
                    try db.execute(sql: "INSERT INTO outbox_reader (name, after) VALUES (?, ?)", arguments: [name, end])
                }
                try Self.pruneOutbox(db)
            }
        } catch {
            throw HistoryError(error, doing: "cannot set the history outbox's readers")
        }
    }

    /// Removes the points every reader has passed (all of them when there is no reader).
    static func pruneOutbox(_ db: Database) throws {
        let low = try Int64.fetchOne(db, sql: "SELECT min(after) FROM outbox_reader")
        try db.execute(sql: "DELETE FROM outbox WHERE id <= ?", arguments: [low ?? .max])
    }

    /// The database ids of these tag names, in their order, created where new.
    public func tagIDs(for names: [String]) throws(HistoryError) -> [Int64] {
        do {
            return try queue.write { db in
                // One indexed look-up per name (`name` is UNIQUE), no map of the file's every
                // tag: at a park's 50,000 tags that map was 4.5 MB.
                let find = try db.cachedStatement(sql: "SELECT id FROM tag WHERE name = ?")
                let add = try db.cachedStatement(sql: "INSERT INTO tag (name) VALUES (?)")
                var ids: [Int64] = []
                ids.reserveCapacity(names.count)
                for name in names {
                    if let id = try Int64.fetchOne(find, arguments: [name]) {
                        ids.append(id)
                    } else {
                        try add.execute(arguments: [name])
                        ids.append(db.lastInsertedRowID)
                    }
                }
                return ids
            }
        } catch {
            throw HistoryError(error, doing: "cannot register tags in the history")
        }
    }

    /// One point for `recent`: its tag and how it is stored.
    public struct RecentRow: Sendable {
        public var tag: Int64
        public var point: HistoryPoint
        public var float64: Bool
        public init(tag: Int64, point: HistoryPoint, float64: Bool) {
            self.tag = tag
            self.point = point
            self.float64 = float64
        }
    }

    /// Writes a batch of new points to the `recent` log, in one transaction; with `outbox`,
    /// also queues them for the store-and-forward copy, in the same transaction (a point is in
    /// both or in neither). The outbox keeps at most `outboxLimit` points: older ones are
    /// dropped and counted (a reader that was behind them finds the gap and says so).
    /// - Returns: how many queued points were dropped to stay within the limit.
    @discardableResult
    public func append(_ rows: [RecentRow], outbox: Bool = false, outboxLimit: Int = .max) throws(HistoryError) -> Int {
        guard !rows.isEmpty else { return 0 }
        do {
            return try queue.write { db in
                try db.execute(sql: "INSERT INTO recent (points) VALUES (?)", arguments: [Data(RecentCodec.encode(rows))])
                if outbox {
                    let queue = try db.cachedStatement(sql: """
                        INSERT INTO outbox (tag, time_ms, value, quality, source_ms) VALUES (?, ?, ?, ?, ?)
                        """)
                    // Bound column by column through SQLite itself: a row of GRDB arguments
                    // (an array of boxed values per point) cost more than the insert.
                    let stmt = queue.sqliteStatement
                    for r in rows {
                        sqlite3_reset(stmt)
                        sqlite3_bind_int64(stmt, 1, r.tag)
                        sqlite3_bind_int64(stmt, 2, r.point.time)
                        if r.point.value.isNaN { sqlite3_bind_null(stmt, 3) } else { sqlite3_bind_double(stmt, 3, r.point.value) }
                        sqlite3_bind_int64(stmt, 4, Int64(r.point.quality.code))
                        if let t = r.point.sourceTime { sqlite3_bind_int64(stmt, 5, t) } else { sqlite3_bind_null(stmt, 5) }
                        let code = sqlite3_step(stmt)
                        guard code == SQLITE_DONE else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection))) }
                    }
                    sqlite3_reset(stmt)
                }
                guard outbox, outboxLimit < .max,
                      let range = try Row.fetchOne(db, sql: "SELECT min(id), max(id) FROM outbox"),
                      let low = range[0] as Int64?, let high = range[1] as Int64?, high - low + 1 > Int64(outboxLimit)
                else { return 0 }
                try db.execute(sql: "DELETE FROM outbox WHERE id <= ?", arguments: [high - Int64(outboxLimit)])
                return db.changesCount
            }
        } catch {
            throw HistoryError(error, doing: "cannot write to the history")
        }
    }

    /// Every point not yet in a chunk, by tag, in order (what a crash left behind).
    public func recentPoints() throws(HistoryError) -> [Int64: (points: [HistoryPoint], float64: Bool)] {
        do {
            return try queue.read { db in try Self.recent(db) }
        } catch {
            throw HistoryError(error, doing: "cannot read the history's recent points")
        }
    }

    /// The `recent` log's points, by tag, in order; only `tag`'s when given.
    static func recent(_ db: Database, tag: Int64? = nil) throws -> [Int64: (points: [HistoryPoint], float64: Bool)] {
        var out: [Int64: (points: [HistoryPoint], float64: Bool)] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT points FROM recent ORDER BY n")
        while let r = try rows.next() {
            let data: Data = r[0]
            let whole = data.withUnsafeBytes { raw in
                RecentCodec.decode(raw, onlyTag: tag) { id, p, float64 in out[id, default: ([], float64)].points.append(p) }
            }
            guard whole else { throw HistoryError("the history's recent log is damaged", damaged: true) }
        }
        return out
    }

    /// One tag's points and their one-minute aggregates, to be stored as a chunk.
    public struct Chunk: Sendable {
        public var tag: Int64
        public var points: [HistoryPoint]
        public var float64: Bool
        public var minutes: [Aggregate]
        /// Where the aggregates stop.
        public var until: Int64
        public init(tag: Int64, points: [HistoryPoint], float64: Bool, minutes: [Aggregate], until: Int64) {
            self.tag = tag
            self.points = points
            self.float64 = float64
            self.minutes = minutes
            self.until = until
        }
    }

    static func insert(_ c: Chunk, merged: Bool, _ db: Database) throws {
        guard !c.points.isEmpty else { return }
        let times = c.points.map(\.time)
        try db.execute(sql: """
            INSERT INTO chunk (tag, first_ms, last_ms, until_ms, count, points, minutes, merged) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [c.tag, times.min()!, times.max()!, c.until, c.points.count,
                             Data(ChunkCodec.encode(c.points, float64: c.float64)), Data(MinuteCodec.encode(c.minutes)), merged])
    }

    /// Stores the chunks and empties `recent`, in one transaction: the chunks must hold every
    /// recent point (the writer flushes them all at once), so each point is in exactly one of
    /// the two at every moment.
    ///
    /// The chunks are made one by one as they are written (a park's 50,000 tags at once held
    /// every tag's chunk and aggregates alive together: 10 MB each minute).
    public func flush(_ chunks: some Sequence<Chunk>) throws(HistoryError) {
        do {
            try queue.write { db in
                for c in chunks { try Self.insert(c, merged: false, db) }
                try db.execute(sql: "DELETE FROM recent")
            }
        } catch {
            throw HistoryError(error, doing: "cannot write chunks to the history")
        }
    }

    /// Stores chunks that were made elsewhere (a generated file, a migration), merged.
    public func insertMerged(_ chunks: [Chunk]) throws(HistoryError) {
        do {
            try queue.write { db in for c in chunks { try Self.insert(c, merged: true, db) } }
        } catch {
            throw HistoryError(error, doing: "cannot write chunks to the history")
        }
    }

    /// How many unmerged (one-minute) chunks each tag has.
    public func unmergedCounts() throws(HistoryError) -> [Int64: Int] {
        do {
            return try queue.read { db in
                var out: [Int64: Int] = [:]
                for r in try Row.fetchAll(db, sql: "SELECT tag, count(*) FROM chunk WHERE merged = 0 GROUP BY tag") { out[r[0]] = r[1] }
                return out
            }
        } catch {
            throw HistoryError(error, doing: "cannot read the history")
        }
    }

    /// Merges a tag's unmerged chunks into one (points in order, minutes that straddled two
    /// chunks combined), in one transaction, if together they span at most `maxSpan`
    /// milliseconds; a sparse tag's chunks that span more stay as they are (retention prunes
    /// whole chunks: a chunk never holds much more than a chunk span). Returns how many were merged.
    @discardableResult
    public func merge(tag: Int64, maxSpan: Int64 = .max) throws(HistoryError) -> Int {
        do {
            return try queue.write { db in
                let rows = try Row.fetchAll(db, sql: """
                    SELECT id, points, minutes, until_ms, first_ms, last_ms FROM chunk WHERE tag = ? AND merged = 0 ORDER BY id
                    """, arguments: [tag])
                guard rows.count > 1 else { return 0 }
                let first = rows.map { $0[4] as Int64 }.min()!, last = rows.map { $0[5] as Int64 }.max()!
                guard last - first <= maxSpan else {
                    try db.execute(sql: "UPDATE chunk SET merged = 1 WHERE tag = ? AND merged = 0", arguments: [tag])
                    return 0
                }
                var points: [HistoryPoint] = []
                var minutes: [Aggregate] = []
                var float64 = false
                for r in rows {
                    let p: Data = r[1], m: Data = r[2]
                    guard let pts = ChunkCodec.decode([UInt8](p)), let mins = MinuteCodec.decode([UInt8](m)) else {
                        throw HistoryError("a chunk of tag \(tag) is damaged", damaged: true)
                    }
                    float64 = float64 || p.first == 1
                    points += pts
                    for a in mins {
                        if let last = minutes.last, last.start == a.start { minutes[minutes.count - 1] = Aggregate.combine([last, a], start: a.start)! }
                        else { minutes.append(a) }
                    }
                }
                let until: Int64 = rows.last![3]
                try Self.insert(Chunk(tag: tag, points: points, float64: float64, minutes: minutes, until: until), merged: true, db)
                let ids = rows.map { $0[0] as Int64 }
                try db.execute(sql: "DELETE FROM chunk WHERE id IN (\(ids.map(String.init).joined(separator: ",")))")
                return rows.count
            }
        } catch {
            throw HistoryError(error, doing: "cannot merge the history's chunks")
        }
    }

    /// Each tag's last stored point in a chunk and where its aggregates stopped: where the next
    /// chunk carries on from after a restart.
    public func lastCompacted() throws(HistoryError) -> [Int64: (point: HistoryPoint, until: Int64)] {
        do {
            return try queue.read { db in
                var out: [Int64: (point: HistoryPoint, until: Int64)] = [:]
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT tag, points, until_ms FROM chunk WHERE id IN (SELECT max(id) FROM chunk GROUP BY tag)
                    """)
                while let r = try rows.next() {
                    let data: Data = r[1]
                    if let last = ChunkCodec.decode([UInt8](data))?.last { out[r[0]] = (last, r[2]) }
                }
                return out
            }
        } catch {
            throw HistoryError(error, doing: "cannot read the history")
        }
    }

    /// Removes whole chunks whose newest point is older than `cutoff` (ms since 1970).
    @discardableResult
    public func prune(before cutoff: Int64) throws(HistoryError) -> Int {
        do {
            return try queue.write { db in
                try db.execute(sql: "DELETE FROM chunk WHERE last_ms < ?", arguments: [cutoff])
                return db.changesCount
            }
        } catch {
            throw HistoryError(error, doing: "cannot prune the history")
        }
    }

    /// Records `[history] max_gap` for readers (how long a value holds in aggregates).
    public func setMaxGap(_ millis: Int64) throws(HistoryError) {
        do {
            try queue.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('max_gap_ms', ?)", arguments: [millis])
            }
        } catch {
            throw HistoryError(error, doing: "cannot write to the history")
        }
    }

    /// Copies the write-ahead log back into the file (the writer does it after compactions).
    public func checkpoint() {
        _ = try? queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// Moves a damaged history (and its -wal and -shm) aside to `<path>.damaged-<UTC time>`, so
    /// a new one can start without losing what the old one holds. Returns the new name.
    public static func setAside(path: String, now: Instant = .now) throws(HistoryError) -> String {
        let stamp = String(now.iso8601.prefix(19)).replacingOccurrences(of: ":", with: "")
        let target = "\(path).damaged-\(stamp)Z"
        for suffix in ["", "-wal", "-shm"] where access(path + suffix, F_OK) == 0 {
            guard rename(path + suffix, target + suffix) == 0 else {
                throw HistoryError("cannot move \(path + suffix) aside: \(String(cString: strerror(errno)))")
            }
        }
        return target
    }
}
