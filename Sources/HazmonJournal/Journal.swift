import GRDB
import GRDBSQLite
import HazmonCore

/// How hard a commit works to survive a power cut. Every committed event survives a crash of
/// the daemon (SIGKILL, a fault) in either mode; the difference is the operating system going
/// down before the disk caught up.
public enum JournalSync: String, Sendable, CaseIterable {
    /// `synchronous = FULL`: each commit (one per group of events) waits for fsync.
    case full
    /// `synchronous = NORMAL`: commits reach the OS at once, the disk at the next checkpoint.
    /// A power cut can lose the last commits; a process crash cannot.
    case normal

    /// `PRAGMA synchronous`'s name and number for it.
    var pragma: String { self == .full ? "FULL" : "NORMAL" }
    var sqliteLevel: Int { self == .full ? 2 : 1 }
}

/// One event as the journal stores it.
public struct JournalEntry: Sendable, Hashable {
    public var seq: UInt64
    public var time: Instant
    public var tag: String
    public var condition: String
    public var event: String
    public var grade: Int
    /// The event exactly as it was (or will be) sent: one JSON line.
    public var json: String

    public init(seq: UInt64, time: Instant, tag: String, condition: String, event: String, grade: Int, json: String) {
        self.seq = seq
        self.time = time
        self.tag = tag
        self.condition = condition
        self.event = event
        self.grade = grade
        self.json = json
    }

    /// A row of `SELECT seq, time_ns, tag, condition, event, grade, json`.
    package init(row r: Row) {
        self.init(seq: UInt64(r[0] as Int64), time: Instant(nanoseconds: r[1]), tag: r[2], condition: r[3],
                  event: r[4], grade: r[5], json: r[6])
    }

    public init(_ e: AlarmEvent, json: String) {
        self.init(seq: e.seq, time: e.time, tag: e.tag, condition: e.condition.rawValue, event: e.event.rawValue,
                  grade: e.grade.rawValue, json: json)
    }
}

/// One event as a long pass reads it (`JournalReader.forEachSummary`): the indexed columns, the
/// JSON line where asked for, and the start of its `flags` list (`"flags":[...`) if it has one.
public struct EventSummary: Sendable {
    public var time: Int64
    public var tag: String
    public var condition: String
    public var event: String
    public var grade: Int
    public var json: String?
    public var flags: String?

    public init(time: Int64, tag: String, condition: String, event: String, grade: Int, json: String?, flags: String?) {
        self.time = time
        self.tag = tag
        self.condition = condition
        self.event = event
        self.grade = grade
        self.json = json
        self.flags = flags
    }
}

/// The alarm an event changed, and its durable state afterwards (`nil`: back to normal).
public struct AlarmStateChange: Sendable, Hashable {
    public var tag: String
    public var slot: AlarmSlot
    public var saved: SavedAlarm?

    public init(tag: String, slot: AlarmSlot, saved: SavedAlarm?) {
        self.tag = tag
        self.slot = slot
        self.saved = saved
    }
}

/// A failure of the journal, with SQLite's words for it.
public struct JournalError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    init(_ error: any Error, doing what: String) {
        if let db = error as? DatabaseError {
            // SQLite's own words once, and its result code for a search.
            description = "\(what): \(db.message ?? "SQLite error") (SQLite code \(db.resultCode.rawValue))"
        } else {
            description = "\(what): \(error)"
        }
    }
}

/// The durable alarm journal: every event by `seq`, and the state of every alarm not in normal.
/// SQLite in WAL mode through GRDB; one writer (the daemon's journal thread), any number of
/// readers (feed replays, `hazmon history`).
public final class Journal: Sendable {
    let pool: DatabasePool
    /// A connection of its own for checkpoints, so copying the WAL back into the database
    /// never runs inside (and delays) a commit.
    let checkpointer: DatabaseQueue
    public let path: String

    /// How long a connection waits for a lock another holds before a statement fails.
    static let busyTimeout: Double = 5

    /// Opens (creating if needed) the journal at `path` and brings its schema up to date.
    public init(path: String, sync: JournalSync = .full) throws(JournalError) {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(Journal.busyTimeout)
        config.label = "hazmon-journal"
        let pragma = sync.pragma
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(pragma)")
            // Commits never checkpoint; `checkpoint()` does, from its own thread.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            // GRDB sets `synchronous = NORMAL` on a pool's writer once it has turned WAL on,
            // after `prepareDatabase`: set it again, and check it took, or `sync = full` is
            // silently NORMAL (no fsync per commit: a power cut loses the last commits).
            let level = try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(pragma)")
                return try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
            }
            guard level == sync.sqliteLevel else {
                throw JournalError("cannot set synchronous = \(pragma) on the journal \(path) (SQLite reports \(level))")
            }
            try Self.migrator.migrate(pool)
            checkpointer = try DatabaseQueue(path: path, configuration: config)
        } catch {
            throw JournalError(error, doing: "cannot open the journal \(path)")
        }
    }

    /// The schema, versioned: each step runs once per database, in order.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE event (
                    seq INTEGER PRIMARY KEY,
                    time_ns INTEGER NOT NULL,
                    tag TEXT NOT NULL,
                    condition TEXT NOT NULL,
                    event TEXT NOT NULL,
                    grade INTEGER NOT NULL,
                    json TEXT NOT NULL
                );
                CREATE INDEX event_time ON event(time_ns);
                CREATE TABLE alarm (
                    tag TEXT NOT NULL,
                    slot TEXT NOT NULL,
                    level INTEGER NOT NULL,
                    last_level INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    latched INTEGER NOT NULL,
                    since_ns INTEGER,
                    shelved_until_ns INTEGER,
                    acked_at_ns INTEGER,
                    condition TEXT NOT NULL,
                    grade INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    unit TEXT NOT NULL,
                    value REAL,
                    PRIMARY KEY (tag, slot)
                ) WITHOUT ROWID;
                -- The highest seq when events were last pruned (written by prune, not per
                -- commit): seq never repeats, even once pruning has removed every event.
                CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO meta (key, value) VALUES ('last_seq', 0);
                """)
        }
        m.registerMigration("v2") { db in
            // Which journal this is: the high-water file beside it names the same id, so a
            // journal replaced by another (or by a new empty one) is told apart.
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('journal_id', ?)",
                           arguments: [Int64.random(in: 1...Int64.max)])
        }
        m.registerMigration("v3") { db in
            // Durable cursors: how far each consumer that must not miss an event (MQTT out, an
            // uplink, a notification channel) has had its events confirmed.
            try db.execute(sql: "CREATE TABLE cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID")
        }
        m.registerMigration("v4") { db in
            // The notification outbox (spec §9): one row per message to a channel, written in
            // the transaction that moves the `notify` cursor past the event, so a message is
            // planned once; `key` (event, channel, delay) makes it so even if planned again.
            try db.execute(sql: """
                CREATE TABLE notify_message (
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL UNIQUE,
                    channel TEXT NOT NULL,
                    route TEXT NOT NULL,
                    alarm TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    step INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    due_ns INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    sent_ns INTEGER,
                    error TEXT,
                    body TEXT NOT NULL
                );
                CREATE INDEX notify_due ON notify_message(channel, status, due_ns);
                CREATE INDEX notify_alarm ON notify_message(alarm, seq);
                CREATE TABLE notify_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                """)
        }
        m.registerMigration("v5") { db in
            // The state an event leaves its alarm in travels in the event's own row (the
            // `alarm` table is brought up to date from them later, `foldAlarmStates`): a commit
            // writes the event table's last page and its time index, not a page of the alarm
            // table per alarm besides. `alarm_slot` NULL: the event changed no alarm's durable
            // state; `alarm_state` NULL beside a slot: the alarm went back to normal.
            try db.execute(sql: """
                ALTER TABLE event ADD COLUMN alarm_slot TEXT;
                ALTER TABLE event ADD COLUMN alarm_state TEXT;
                INSERT INTO meta (key, value) VALUES ('alarm_folded_seq', (SELECT coalesce(max(seq), 0) FROM event));
                """)
        }
        return m
    }

    /// Notifications waiting per channel: to send, or gathered for a flood's digest.
    package static func notifyBacklog(_ db: Database) throws -> [String: Int] {
        let rows = try Row.fetchAll(db, sql: "SELECT channel, count(*) FROM notify_message WHERE status IN ('pending', 'digest') GROUP BY channel")
        return Dictionary(rows.map { ($0[0] as String, $0[1] as Int) }, uniquingKeysWith: +)
    }

    /// The journal's database, for the notification outbox that lives in it (the same file, so
    /// a message is planned in the transaction that moves its cursor).
    package var database: DatabasePool { pool }

    /// The seq a named consumer has confirmed through, or nil if it has none yet.
    public func cursor(_ name: String) throws(JournalError) -> UInt64? {
        do {
            return try pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT seq FROM cursor WHERE name = ?", arguments: [name]).map(UInt64.init)
            }
        } catch {
            throw JournalError(error, doing: "cannot read the cursor \(name)")
        }
    }

    /// A named consumer's cursor; one that has none yet starts at the journal's end (stored
    /// now), so enabling an output does not replay the whole history into it.
    public func cursorOrEnd(_ name: String) throws(JournalError) -> UInt64 {
        if let c = try cursor(name) { return c }
        let end = try lastCommittedSeq()
        try advanceCursor(name, to: end)
        return end
    }

    /// Moves a named consumer's cursor forward to `seq` (never back), durably.
    public func advanceCursor(_ name: String, to seq: UInt64) throws(JournalError) {
        do {
            try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO cursor (name, seq) VALUES (?, ?)
                    ON CONFLICT(name) DO UPDATE SET seq = max(seq, excluded.seq)
                    """, arguments: [name, Int64(clamping: seq)])
            }
        } catch {
            throw JournalError(error, doing: "cannot advance the cursor \(name)")
        }
    }

    /// The highest seq committed so far (events only: what a cursor can read up to).
    public func lastCommittedSeq() throws(JournalError) -> UInt64 {
        do {
            return try pool.read { db in UInt64(try Int64.fetchOne(db, sql: "SELECT max(seq) FROM event") ?? 0) }
        } catch {
            throw JournalError(error, doing: "cannot read the journal's last seq")
        }
    }

    /// This journal's id (see `SeqHighWater`).
    public func journalID() throws(JournalError) -> Int64 {
        do {
            return try pool.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'journal_id'") ?? 0 }
        } catch {
            throw JournalError(error, doing: "cannot read the journal's id")
        }
    }

    /// `PRAGMA quick_check`: nil if the file is sound, else SQLite's first complaint.
    public func quickCheck() throws(JournalError) -> String? {
        do {
            let rows = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(5)") }
            return rows == ["ok"] ? nil : rows.joined(separator: "; ")
        } catch {
            throw JournalError(error, doing: "the journal's integrity check failed")
        }
    }

    /// Raises the stored high-water mark to `seq` (a journal that continues another one).
    public func raiseLastSeq(to seq: UInt64) throws(JournalError) {
        do {
            try pool.write { db in
                try db.execute(sql: "UPDATE meta SET value = max(value, ?) WHERE key = 'last_seq'", arguments: [Int64(clamping: seq)])
            }
        } catch {
            throw JournalError(error, doing: "cannot write the journal's last seq")
        }
    }

    /// The highest `seq` committed so far (0 for a new journal).
    public func lastSeq() throws(JournalError) -> UInt64 {
        do {
            return try pool.read(Self.lastSeq)
        } catch {
            throw JournalError(error, doing: "cannot read the journal's last seq")
        }
    }

    /// The higher of the pruning high-water mark and the newest event's seq.
    static func lastSeq(_ db: Database) throws -> UInt64 {
        let v = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'last_seq'") ?? 0
        let m = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM event") ?? 0
        return UInt64(max(v, m))
    }

    /// Appends events and alarm state changes in one transaction (one fsync with `sync = full`).
    /// Either all of it is committed or none. Each state rides in the row of the last event of
    /// its alarm (the `alarm` table catches up in `foldAlarmStates`).
    public func append(_ entries: [JournalEntry], states: [AlarmStateChange]) throws(JournalError) {
        guard !entries.isEmpty || !states.isEmpty else { return }
        do {
            try pool.writeWithoutTransaction { db in
                // BEGIN and COMMIT prepared once: `write { }` parses its BEGIN on every commit.
                try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                do {
                    try Self.write(entries, states: states, into: db)
                    try db.cachedStatement(sql: "COMMIT").execute()
                } catch {
                    if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK") }
                    throw error
                }
            }
        } catch {
            throw JournalError(error, doing: "cannot commit \(entries.count) events to the journal")
        }
    }

    /// Batches a spill file kept (events the journal could not take before), committed now.
    /// A batch whose events are already in the journal was committed after all and is skipped,
    /// states included. A spilled state reaches the `alarm` table only if no committed row
    /// after it carries a state of that alarm, so an older state never overwrites a newer one.
    /// The writer imports a file that holds batches its backlog let go of before it commits
    /// anything newer, so its own files always import in order. A spill file written by an
    /// earlier hazmon can still hold batches older than commits already made: until 2026-12-07
    /// such a file was imported after the backlog's retry. Returns (batches, events) committed.
    @discardableResult
    public func importSpilled(_ batches: [SpilledBatch]) throws(JournalError) -> (batches: Int, events: Int) {
        do {
            return try pool.write { db in
                // A batch is skipped when its first event is committed already or comes in a
                // batch taken before it: a spill file written by an earlier hazmon can hold a
                // batch twice (its writer's backlog could fall out of seq order), and only its
                // first copy counts.
                var fresh: [SpilledBatch] = []
                var taken = Set<UInt64>()
                for b in batches {
                    guard let first = b.entries.first, !taken.contains(first.seq),
                          try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE seq = ?", arguments: [Int64(first.seq)]) == 0
                    else { continue }
                    fresh.append(b)
                    taken.formUnion(b.entries.map(\.seq))
                }
                guard let oldest = fresh.compactMap(\.entries.first?.seq).min() else { return (0, 0) }
                // The table first takes every committed state; then the spilled ones that are
                // still the newest go straight in, and the fold's mark moves past the spilled
                // rows, so no later fold puts an older spilled state back over a newer one.
                try Self.foldAlarmStates(db)
                // Per alarm, the newest seq whose row carries a state, among the commits since
                // the oldest spilled event; read before the spilled rows go in.
                var newest: [StateKey: UInt64] = [:]
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT tag, alarm_slot, max(seq) FROM event WHERE seq >= ? AND alarm_slot IS NOT NULL GROUP BY tag, alarm_slot
                    """, arguments: [Int64(oldest)])
                while let r = try rows.next() {
                    guard let slot = AlarmSlot(rawValue: r[1]) else { continue }
                    newest[StateKey(tag: r[0], slot: slot)] = UInt64(r[2] as Int64)
                }
                // Per alarm, the last spilled state and the seq it stands at: its carrier's, or
                // its batch's last for a state no event of the batch names.
                var last: [StateKey: (seq: UInt64, change: AlarmStateChange)] = [:]
                for b in fresh {
                    let carrier = try Self.insert(b.entries, states: b.states, into: db)
                    for (c, at) in zip(b.states, carrier) {
                        let seq = at >= 0 ? b.entries[at].seq : b.entries.last!.seq
                        last[StateKey(tag: c.tag, slot: c.slot)] = (seq, c)
                    }
                }
                try Self.writeToTable(last.filter { key, s in (newest[key] ?? 0) < s.seq }.values.map(\.change), in: db)
                try db.execute(sql: "UPDATE meta SET value = (SELECT max(seq) FROM event) WHERE key = 'alarm_folded_seq'")
                return (fresh.count, fresh.reduce(0) { $0 + $1.entries.count })
            }
        } catch {
            throw JournalError(error, doing: "cannot commit the spilled events to the journal")
        }
    }

    /// Inserts the events, each state in the row of the last event of its alarm; a state no
    /// event of the batch names goes straight into the `alarm` table, after the states still in
    /// event rows are folded in (they are older).
    static func write(_ entries: [JournalEntry], states: [AlarmStateChange], into db: Database) throws {
        let carrier = try insert(entries, states: states, into: db)
        guard carrier.contains(-1) else { return }   // the usual commit: every state in its row
        try foldAlarmStates(db)
        try writeToTable(zip(states, carrier).filter { $0.1 < 0 }.map(\.0), in: db)
    }

    /// Inserts the events, each state in the row of the last event of its alarm (its carrier).
    /// Returns each state's carrier, -1 for a state no event of the batch names (not written).
    static func insert(_ entries: [JournalEntry], states: [AlarmStateChange], into db: Database) throws -> [Int] {
        let carrier = carriers(of: states, in: entries)
        var stateOf = [Int](repeating: -1, count: entries.count)
        for (i, at) in carrier.enumerated() where at >= 0 { stateOf[at] = i }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO event (seq, time_ns, tag, condition, event, grade, json, alarm_slot, alarm_state)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // Bound column by column through SQLite itself: GRDB's arguments (an array of boxed
        // values per row) cost more than the insert.
        let stmt = insert.sqliteStatement
        defer { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        for (n, e) in entries.enumerated() {
            sqlite3_reset(stmt)
            sqlite3_bind_int64(stmt, 1, Int64(e.seq))
            sqlite3_bind_int64(stmt, 2, e.time.nanoseconds)
            bindText(stmt, 3, e.tag)
            bindText(stmt, 4, e.condition)
            bindText(stmt, 5, e.event)
            sqlite3_bind_int64(stmt, 6, Int64(e.grade))
            bindText(stmt, 7, e.json)
            if stateOf[n] >= 0 {
                let c = states[stateOf[n]]
                bindText(stmt, 8, c.slot.rawValue)
                if let a = c.saved { bindText(stmt, 9, encodeState(a)) } else { sqlite3_bind_null(stmt, 9) }
            } else {
                sqlite3_bind_null(stmt, 8)
                sqlite3_bind_null(stmt, 9)
            }
            let code = sqlite3_step(stmt)
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
        }
        return carrier
    }

    /// Writes alarm states straight into the `alarm` table, in order (a later one for the same
    /// alarm wins): a row replaced, or deleted for back to normal.
    static func writeToTable(_ states: [AlarmStateChange], in db: Database) throws {
        guard !states.isEmpty else { return }
        let upsert = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO alarm (tag, slot, level, last_level, state, latched, since_ns, shelved_until_ns,
                                          acked_at_ns, condition, grade, name, unit, value)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let delete = try db.cachedStatement(sql: "DELETE FROM alarm WHERE tag = ? AND slot = ?")
        for c in states {
            guard let a = c.saved else {
                try delete.execute(arguments: [c.tag, c.slot.rawValue])
                continue
            }
            try upsert.execute(arguments: [
                a.tag, a.slot.rawValue, a.level, a.lastLevel, a.state.rawValue, a.latched,
                a.since?.nanoseconds, a.shelvedUntil?.nanoseconds, a.ackedAt?.nanoseconds,
                a.condition.rawValue, a.grade.rawValue, a.name, a.unit, a.value,
            ])
        }
    }

    /// For each state, the index of the last entry of its alarm (same tag, a condition of its
    /// slot), or -1 if the batch has none. A group commit joins batches, so one alarm can have
    /// several states here, oldest first: they all get the same carrier, whose row then takes
    /// the newest (`write` assigns them in order).
    static func carriers(of states: [AlarmStateChange], in entries: [JournalEntry]) -> [Int] {
        func slot(_ e: JournalEntry) -> AlarmSlot? { Condition(rawValue: e.condition)?.slot }
        guard states.count > 8 else {
            // A few alarms (the usual batch): a scan from the end costs less than a table.
            return states.map { c in entries.lastIndex { $0.tag == c.tag && slot($0) == c.slot } ?? -1 }
        }
        var last: [StateKey: Int] = [:]
        last.reserveCapacity(states.count)
        for (n, e) in entries.enumerated() {
            guard let s = slot(e) else { continue }
            last[StateKey(tag: e.tag, slot: s)] = n
        }
        return states.map { c in last[StateKey(tag: c.tag, slot: c.slot)] ?? -1 }
    }

    struct StateKey: Hashable {
        var tag: String
        var slot: AlarmSlot
    }

    /// An alarm's durable state as JSON, keyed by the `alarm` table's columns (the fold reads
    /// it with `->>`); a time the alarm does not have is left out (read as NULL).
    static func encodeState(_ a: SavedAlarm) -> String {
        var w = JSONWriter(capacity: 160)
        w.field("level", a.level)
        w.field("last_level", a.lastLevel)
        w.field("state", a.state.rawValue)
        w.field("latched", a.latched)
        if let t = a.since { w.field("since_ns", t.nanoseconds) }
        if let t = a.shelvedUntil { w.field("shelved_until_ns", t.nanoseconds) }
        if let t = a.ackedAt { w.field("acked_at_ns", t.nanoseconds) }
        w.field("condition", a.condition.rawValue)
        w.field("grade", a.grade.rawValue)
        w.field("name", a.name)
        w.field("unit", a.unit)
        w.field("value", a.value)
        return w.finish()
    }

    /// Brings the `alarm` table up to date with the states in event rows not yet folded in:
    /// per alarm the last one wins (a row replaced, or deleted for back to normal). With
    /// `piece`, only the rows of that many seq numbers after the last fold (the writer's thread
    /// folds in pieces between commits, so no one transaction holds the writer for long);
    /// folding (a, b] then (b, c] leaves the table as folding (a, c] does. Returns whether rows
    /// are left. Also run in full before the active alarms are read and before pruning.
    @discardableResult
    static func foldAlarmStates(_ db: Database, piece: Int64? = nil) throws -> Bool {
        let mark = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'alarm_folded_seq'") ?? 0
        guard let top = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM event"), top > mark else { return false }
        let through = piece.map { min(top, mark + $0) } ?? top
        try db.execute(sql: """
            DELETE FROM alarm WHERE (tag, slot) IN
                (SELECT tag, alarm_slot FROM event WHERE seq > ? AND seq <= ? AND alarm_slot IS NOT NULL)
            """, arguments: [mark, through])
        try db.execute(sql: """
            INSERT INTO alarm (tag, slot, level, last_level, state, latched, since_ns, shelved_until_ns,
                               acked_at_ns, condition, grade, name, unit, value)
            SELECT tag, alarm_slot, s ->> 'level', s ->> 'last_level', s ->> 'state', s ->> 'latched', s ->> 'since_ns',
                   s ->> 'shelved_until_ns', s ->> 'acked_at_ns', s ->> 'condition', s ->> 'grade', s ->> 'name',
                   s ->> 'unit', s ->> 'value'
            FROM (SELECT tag, alarm_slot, alarm_state AS s FROM event
                  WHERE seq IN (SELECT max(seq) FROM event WHERE seq > ? AND seq <= ? AND alarm_slot IS NOT NULL
                                GROUP BY tag, alarm_slot))
            WHERE s IS NOT NULL
            """, arguments: [mark, through])
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = 'alarm_folded_seq'", arguments: [through])
        return through < top
    }

    /// Event rows per fold transaction when the writer folds between commits. The fold shares
    /// the writer with the commits: a batch that comes during a piece waits for it. 1,000 rows
    /// in one transaction took 3.8 ms on this project's VM (twice a second in a 2,000/s
    /// flood: the p99's tail); 200 took 2.2 ms at the median in that flood (2.9 ms p90), their
    /// commit's fsync included.
    public static let foldPiece: Int64 = 200

    /// Folds the alarm states committed in event rows into the `alarm` table (see
    /// `foldAlarmStates`), all of them in one transaction: at a stop, after the writer's
    /// thread has ended.
    public func foldAlarmStates() throws(JournalError) {
        do {
            _ = try pool.write { db in try Self.foldAlarmStates(db) }
        } catch {
            throw JournalError(error, doing: "cannot bring the journal's alarm table up to date")
        }
    }

    /// Folds one piece: the states of the next `piece` seq numbers after the last fold, in one
    /// transaction. Returns whether rows are left to fold. The writer's thread calls it while
    /// no commit waits, so the rows to fold stay few (a start reads the alarms after folding
    /// what is left).
    public func foldAlarmStates(piece: Int64) throws(JournalError) -> Bool {
        do {
            return try pool.write { db in try Self.foldAlarmStates(db, piece: piece) }
        } catch {
            throw JournalError(error, doing: "cannot bring the journal's alarm table up to date")
        }
    }

    private static func bindText(_ stmt: OpaquePointer?, _ index: Int32, _ text: String) {
        _ = text.withCString { sqlite3_bind_text(stmt, index, $0, Int32(text.utf8.count), sqliteTransient) }
    }

    /// Copies committed WAL frames into the database file. Returns the frames left in the WAL.
    ///
    /// A PASSIVE pass on the checkpoint's own connection copies the bulk and never waits for,
    /// or blocks, the writer. But SQLite starts the WAL over from its beginning only when a
    /// commit finds every frame copied and no reader inside the WAL, and under a steady stream
    /// of commits (an alarm flood: one every 1-2 ms) a pass beside them never copies the
    /// frames the commits add meanwhile: at 2,000 events a second the WAL grew by 17 MB a
    /// second for as long as the flood lasted, every commit writing to new blocks of the file.
    /// So once the WAL holds more than `restartAbove` frames, a second PASSIVE pass runs on
    /// the writer's own connection, between two commits (`finishWALCopy`; the daemon's writer
    /// thread runs it while no commit waits): no commit can add a frame while it copies the few
    /// left, so it finishes, and the next commit starts the WAL over. A batch that comes
    /// meanwhile waits for that pass (the frames of a few ms and the database file's fsync:
    /// 1.1 ms at the median in a 2,000/s flood, twice a second at most, and only while the WAL is
    /// long).
    ///
    /// Not a RESTART pass on the checkpoint's connection, as before 2026-12-06: that holds
    /// SQLite's write lock across its copy and its fsync, and a commit that meets it sleeps in
    /// SQLite's busy handler (1, then 2, then 5 ms) until it is gone: 3 to 8 ms added to the
    /// events behind it, twice a second. A PASSIVE pass never waits for a reader: one still
    /// inside the WAL (a long replay or CSV export) keeps the frames after its snapshot until
    /// a later pass.
    @discardableResult
    public func checkpoint(restartAbove: Int = Journal.walRestartFrames) throws(JournalError) -> Int {
        let first = try copyWAL()
        guard first.log > restartAbove else { return first.left }
        return try finishWALCopy()
    }

    /// Frames in the WAL past which a checkpoint finishes its copy on the writer's connection
    /// (4 MiB of 4 KiB pages), so the next commit starts the WAL over.
    public static let walRestartFrames = 1_024

    /// A checkpoint's first pass: PASSIVE, on the checkpoint's own connection, beside the
    /// commits. Returns (frames in the WAL, frames not yet copied).
    public func copyWAL() throws(JournalError) -> (log: Int, left: Int) {
        do {
            return try checkpointer.writeWithoutTransaction(Self.passiveCheckpoint)
        } catch {
            throw JournalError(error, doing: "cannot checkpoint the journal")
        }
    }

    /// A checkpoint's last pass: PASSIVE, on the writer's connection, so no commit adds a frame
    /// while it copies the ones left. Returns the frames not yet copied (a reader's).
    @discardableResult
    public func finishWALCopy() throws(JournalError) -> Int {
        do {
            return try pool.writeWithoutTransaction(Self.passiveCheckpoint).left
        } catch {
            throw JournalError(error, doing: "cannot checkpoint the journal")
        }
    }

    /// One PASSIVE checkpoint: (frames in the WAL, frames not yet copied).
    static func passiveCheckpoint(_ db: Database) throws -> (log: Int, left: Int) {
        let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
        let busy: Int = row?[0] ?? 0, log: Int = row?[1] ?? 0, done: Int = row?[2] ?? 0
        return (log, busy != 0 ? max(1, log - done) : max(0, log - done))
    }

    /// Every alarm that was not in normal when the journal was last written.
    public func activeAlarms() throws(JournalError) -> [SavedAlarm] {
        do {
            return try pool.write { db in
                try Self.foldAlarmStates(db)
                return try Row.fetchAll(db, sql: "SELECT * FROM alarm ORDER BY tag, slot").compactMap(Self.savedAlarm)
            }
        } catch {
            throw JournalError(error, doing: "cannot read the active alarms from the journal")
        }
    }

    static func savedAlarm(_ r: Row) -> SavedAlarm? {
        guard let slot = AlarmSlot(rawValue: r["slot"]), let state = AlarmState(rawValue: r["state"]),
              let condition = Condition(rawValue: r["condition"]), let grade = Grade(r["grade"] as Int)
        else { return nil }
        let ns: (String) -> Instant? = { (r[$0] as Int64?).map(Instant.init(nanoseconds:)) }
        return SavedAlarm(tag: r["tag"], slot: slot, level: r["level"], lastLevel: r["last_level"], state: state,
                          latched: r["latched"], since: ns("since_ns"), shelvedUntil: ns("shelved_until_ns"),
                          ackedAt: ns("acked_at_ns"), condition: condition, grade: grade, name: r["name"],
                          unit: r["unit"], value: r["value"])
    }

    /// Events with `seq` in `after+1 ... through`, oldest first, at most `limit`.
    public func lines(after: UInt64, through: UInt64, limit: Int) throws(JournalError) -> [(seq: UInt64, json: String)] {
        do {
            return try pool.read { db in
                let rows = try Row.fetchCursor(db, sql: "SELECT seq, json FROM event WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                                               arguments: [Int64(clamping: after), Int64(clamping: through), limit])
                var out: [(seq: UInt64, json: String)] = []
                while let r = try rows.next() { out.append((UInt64(r[0] as Int64), r[1])) }
                return out
            }
        } catch {
            throw JournalError(error, doing: "cannot read events after seq \(after) from the journal")
        }
    }

    /// Whole events with `seq` after `after`, oldest first, at most `limit`: what a cursor reads.
    public func entries(after: UInt64, limit: Int) throws(JournalError) -> [JournalEntry] {
        do {
            return try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, time_ns, tag, condition, event, grade, json FROM event WHERE seq > ? ORDER BY seq LIMIT ?",
                                 arguments: [Int64(clamping: after), limit]).map(JournalEntry.init(row:))
            }
        } catch {
            throw JournalError(error, doing: "cannot read events after seq \(after) from the journal")
        }
    }

    /// Events matching `q`, oldest first: the console's history search and its event list.
    public func search(_ q: EventQuery) throws(JournalError) -> [JournalEntry] {
        var sql = "SELECT seq, time_ns, tag, condition, event, grade, json FROM event WHERE seq > ?"
        var args: [any DatabaseValueConvertible] = [Int64(clamping: q.afterSeq)]
        if let tag = q.tag { sql += " AND tag = ?"; args.append(tag) }
        if let c = q.condition { sql += " AND condition = ?"; args.append(c) }
        if let e = q.event { sql += " AND event = ?"; args.append(e) }
        if let g = q.grade { sql += " AND grade = ?"; args.append(g) }
        if let from = q.from { sql += " AND time_ns >= ?"; args.append(from.nanoseconds) }
        if let until = q.until { sql += " AND time_ns < ?"; args.append(until.nanoseconds) }
        sql += q.newestFirst ? " ORDER BY seq DESC LIMIT ?" : " ORDER BY seq LIMIT ?"
        args.append(q.limit)
        do {
            let rows = try pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(JournalEntry.init(row:))
            }
            return q.newestFirst ? rows.reversed() : rows
        } catch {
            throw JournalError(error, doing: "cannot search the journal")
        }
    }

    /// Deletes events older than `cutoff`; returns how many. Alarm states are kept.
    @discardableResult
    public func prune(before cutoff: Instant) throws(JournalError) -> Int {
        do {
            return try pool.write { db in
                // The alarm states the events carry first, then the high-water mark: seq must not
                // restart once every event is pruned.
                try Self.foldAlarmStates(db)
                try db.execute(sql: "UPDATE meta SET value = max(value, coalesce((SELECT max(seq) FROM event), 0)) WHERE key = 'last_seq'")
                try db.execute(sql: "DELETE FROM event WHERE time_ns < ?", arguments: [cutoff.nanoseconds])
                return db.changesCount
            }
        } catch {
            throw JournalError(error, doing: "cannot prune the journal")
        }
    }
}

/// What `Journal.search` looks for; nil fields match everything.
public struct EventQuery: Sendable, Equatable {
    public var afterSeq: UInt64 = 0
    public var tag: String?
    public var condition: String?
    public var event: String?
    public var grade: Int?
    /// Event time from (inclusive) and until (exclusive), wall time.
    public var from: Instant?
    public var until: Instant?
    public var limit: Int = 1_000
    /// The newest `limit` matches (still returned oldest first) instead of the oldest.
    public var newestFirst = false
    public init() {}
}

/// A read-only view of a journal file, for `hazmon history`: it never writes, so it can run
/// beside the daemon (or after it) without disturbing it.
public struct JournalReader: Sendable {
    let queue: DatabaseQueue

    public init(path: String) throws(JournalError) {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(Journal.busyTimeout)
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            let isJournal = try queue.read { db in try db.tableExists("event") && db.tableExists("meta") }
            guard isJournal else { throw JournalError("\(path) is not a hazmon journal (it has no event table)") }
        } catch let e as JournalError {
            throw e
        } catch {
            throw JournalError(error, doing: "cannot open the journal \(path) for reading")
        }
    }

    /// Events committed after a named consumer's cursor (an uplink's, MQTT out's); nil if it has
    /// none yet.
    public func backlog(cursor name: String) throws(JournalError) -> Int? {
        do {
            return try queue.read { db -> Int? in
                guard try db.tableExists("cursor"),
                      let at = try Int64.fetchOne(db, sql: "SELECT seq FROM cursor WHERE name = ?", arguments: [name]) else { return nil }
                return try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE seq > ?", arguments: [at]) ?? 0
            }
        } catch {
            throw JournalError(error, doing: "cannot read the cursor \(name)")
        }
    }

    /// Notifications waiting per channel (to send, or gathered for a flood's digest).
    public func notifyBacklog() throws(JournalError) -> [String: Int] {
        do {
            return try queue.read { db in try db.tableExists("notify_message") ? Journal.notifyBacklog(db) : [:] }
        } catch {
            throw JournalError(error, doing: "cannot read the notification outbox")
        }
    }

    /// Events with `since <= time < until`, oldest first, one at a time without holding them all
    /// (a year of a busy site is millions): `hazmon report`'s single pass. The JSON line is read
    /// only for the kinds in `jsonFor`, and of the others only their `flags` list.
    public func forEachSummary(since: Instant, until: Instant, jsonFor kinds: [String],
                               _ body: (EventSummary) throws -> Void) throws(JournalError) {
        let marks = kinds.map { _ in "?" }.joined(separator: ",")
        let sql = """
            SELECT time_ns, tag, condition, event, grade,
                   CASE WHEN event IN (\(marks.isEmpty ? "NULL" : marks)) THEN json END,
                   CASE WHEN instr(json, '"flags":[') > 0 THEN substr(json, instr(json, '"flags":['), 96) END
            FROM event WHERE time_ns >= ? AND time_ns < ? ORDER BY seq
            """
        var args: [any DatabaseValueConvertible] = kinds
        args += [since.nanoseconds, until.nanoseconds]
        do {
            try queue.read { db in
                let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(args))
                while let r = try rows.next() {
                    try body(EventSummary(time: r[0], tag: r[1], condition: r[2], event: r[3], grade: r[4], json: r[5], flags: r[6]))
                }
            }
        } catch let e as JournalError {
            throw e
        } catch {
            throw JournalError(error, doing: "cannot read the journal")
        }
    }

    /// The alarms active at `time` by the events before it: per tag and side (h and hh are one
    /// alarm, l and ll another), the last raise not followed by a clear, and whether it was
    /// acknowledged since. For a report whose period starts after such a raise.
    public func activeAlarms(at time: Instant) throws(JournalError) -> [(tag: String, condition: String, since: Instant, acknowledged: Bool)] {
        // One scan, grouped: per alarm its last raise or clear, last raise and last acknowledgement.
        let sql = """
            SELECT e.tag, e.condition, e.time_ns, coalesce(g.last_ack > g.last_raise, 0)
            FROM (
                SELECT tag,
                       CASE condition WHEN 'hh' THEN 'h' WHEN 'll' THEN 'l' WHEN 'bypass' THEN 'l' ELSE condition END AS side,
                       max(CASE WHEN event IN ('raised', 'predicted', 'cleared') THEN seq END) AS last_change,
                       max(CASE WHEN event IN ('raised', 'predicted') THEN seq END) AS last_raise,
                       max(CASE WHEN event = 'acknowledged' THEN seq END) AS last_ack
                FROM event WHERE time_ns < ? AND condition NOT IN ('flood', 'level', 'mode')
                GROUP BY tag, side
            ) AS g JOIN event AS e ON e.seq = g.last_raise
            WHERE g.last_raise = g.last_change
            """
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: sql, arguments: [time.nanoseconds]).map {
                    (tag: $0[0], condition: $0[1], since: Instant(nanoseconds: $0[2]), acknowledged: ($0[3] as Bool?) ?? false)
                }
            }
        } catch {
            throw JournalError(error, doing: "cannot read the journal")
        }
    }

    /// Events oldest first, filtered by tag and by time (`since` inclusive, `until` exclusive).
    public func events(tag: String? = nil, since: Instant? = nil, until: Instant? = nil,
                       limit: Int = .max) throws(JournalError) -> [JournalEntry] {
        var sql = "SELECT seq, time_ns, tag, condition, event, grade, json FROM event WHERE 1"
        var args: [any DatabaseValueConvertible] = []
        if let tag { sql += " AND tag = ?"; args.append(tag) }
        if let since { sql += " AND time_ns >= ?"; args.append(since.nanoseconds) }
        if let until { sql += " AND time_ns < ?"; args.append(until.nanoseconds) }
        sql += " ORDER BY seq LIMIT ?"
        args.append(Int64(clamping: limit))
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(JournalEntry.init(row:))
            }
        } catch {
            throw JournalError(error, doing: "cannot read the journal")
        }
    }
}

/// SQLite copies the bound bytes (the Swift string's storage is not kept past the call).
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
