import Foundation
import GRDB
import HazmonConfig
import HazmonCore
import HazmonFeed
import HazmonJournal

/// What a route needs to know of a tag to match it: its class and hazard source.
public struct NotifyTagInfo: Sendable, Hashable {
    public var name: String
    public var tagClass: String
    public var hazardSource: String?
    public init(name: String, tagClass: String, hazardSource: String?) {
        self.name = name
        self.tagClass = tagClass
        self.hazardSource = hazardSource
    }
}

/// One message of the outbox, as a channel sends it.
public struct NotifyMessage: Sendable, Hashable {
    public enum Kind: String, Sendable {
        /// The first step's message about an alarm.
        case alarm
        /// A later step's: the alarm is still unacknowledged after the step's `after`.
        case escalation
        /// The alarm returned to normal before anyone acknowledged it.
        case cleared
        /// Alarms collected during a flood, in one message.
        case digest
    }

    public var id: Int64
    /// The idempotency key: the same for every attempt, and across restarts.
    public var key: String
    public var channel: String
    public var route: String
    public var kind: Kind
    public var step: Int
    public var due: Instant
    public var attempts: Int
    /// The event's JSON line; a digest: a JSON array of `{"kind","event"}` objects.
    public var body: String
}

/// The notification outbox in the journal's database (spec §9). `plan()` reads the events after
/// the `notify` cursor and, in the same transaction that moves it, writes each route step's
/// messages, cancels later steps when an alarm is acknowledged (or shelved, suppressed, reset)
/// and queues a "cleared" to those already told when it clears first. During an alarm flood a
/// message that falls due is put aside for its route's digest instead.
public final class NotifyStore: Sendable {
    let db: DatabasePool
    let routes: [NotifyRouteSettings]
    let tags: [String: NotifyTagInfo]
    public static let cursorName = "notify"

    public init(journal: Journal, routes: [NotifyRouteSettings], tags: [String: NotifyTagInfo]) {
        db = journal.database
        self.routes = routes
        self.tags = tags
    }

    /// Plans the messages of every event committed since the last call; returns how many events it read.
    @discardableResult
    public func plan(limit: Int = 500) throws -> Int {
        // Looked at with a read first: the journal's commits share the writer, and most calls
        // (every channel's loop, every wake-up) find nothing new.
        let idle = try db.read { db -> Bool in
            guard let cursor = try Int64.fetchOne(db, sql: "SELECT seq FROM cursor WHERE name = ?", arguments: [Self.cursorName]) else { return false }
            return (try Int64.fetchOne(db, sql: "SELECT max(seq) FROM event") ?? 0) <= cursor
        }
        if idle { return 0 }
        return try db.write { db in
            let name = Self.cursorName
            let end = UInt64(try Int64.fetchOne(db, sql: "SELECT max(seq) FROM event") ?? 0)
            guard let cursor = try Int64.fetchOne(db, sql: "SELECT seq FROM cursor WHERE name = ?", arguments: [name]).map(UInt64.init) else {
                // Notifications start at the journal's end: enabling them does not page anyone for last year.
                try db.execute(sql: "INSERT INTO cursor (name, seq) VALUES (?, ?)", arguments: [name, Int64(end)])
                return 0
            }
            guard end > cursor else { return 0 }
            let rows = try Row.fetchAll(db, sql: "SELECT seq, time_ns, tag, condition, event, grade, json FROM event WHERE seq > ? ORDER BY seq LIMIT ?",
                                        arguments: [Int64(cursor), limit])
            var flooding = try Int64.fetchOne(db, sql: "SELECT value FROM notify_state WHERE key = 'flooding'") == 1
            let entries = rows.map(JournalEntry.init(row:))
            for e in entries { try handle(e, flooding: &flooding, db) }
            try db.execute(sql: "INSERT INTO notify_state (key, value) VALUES ('flooding', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: [flooding ? 1 : 0])
            if let last = entries.last?.seq {
                try db.execute(sql: "UPDATE cursor SET seq = max(seq, ?) WHERE name = ?", arguments: [Int64(last), name])
            }
            return entries.count
        }
    }

    /// The alarm an event is about: its tag and slot (`h` and `hh` are levels of one high-side
    /// alarm, so an acknowledgement of `hh` stops the steps that `h` started).
    static func alarmKey(_ e: JournalEntry) -> String { e.tag + "/" + (Condition(rawValue: e.condition)?.slot.rawValue ?? e.condition) }

    func handle(_ e: JournalEntry, flooding: inout Bool, _ db: Database) throws {
        let alarm = Self.alarmKey(e)
        let event = FeedEvent.decode(e.json)
        let t = e.time.nanoseconds
        switch e.event {
        case EventKind.floodStart.rawValue:
            flooding = true
        case EventKind.floodEnd.rawValue:
            flooding = false
        case EventKind.raised.rawValue, EventKind.predicted.rawValue, EventKind.escalated.rawValue:
            let escalated = e.event == EventKind.escalated.rawValue
            if escalated {
                // A worse level of the same alarm: everyone hears of it now; later steps keep
                // their time (the clock started at the raise) but speak of the new level.
                try db.execute(sql: """
                    UPDATE notify_message SET body = ?, seq = ? WHERE alarm = ? AND kind = 'escalation' AND status IN ('pending', 'digest')
                    """, arguments: [e.json, Int64(e.seq), alarm])
            } else {
                // A new episode: later steps of the one before are moot.
                try cancelLaterSteps(alarm, db)
                try db.execute(sql: "INSERT OR REPLACE INTO notify_state (key, value) VALUES (?, ?)", arguments: ["episode:" + alarm, Int64(e.seq)])
            }
            var told: Set<String> = []
            for route in routes where matches(route, e, hazardSource: event?.hazardSource) {
                for (i, step) in route.steps.enumerated() {
                    for channel in step.to {
                        // Once per event, channel and delay, whichever routes ask for it.
                        let key = "\(e.seq):\(channel):\(step.after.nanosecondsClamped)"
                        guard told.insert(key).inserted else { continue }
                        if i > 0 && escalated, try Bool.fetchOne(db, sql: """
                            SELECT 1 FROM notify_message WHERE alarm = ? AND channel = ? AND kind = 'escalation' AND status IN ('pending', 'digest')
                            """, arguments: [alarm, channel]) == true { continue }
                        let due = t &+ step.after.nanosecondsClamped
                        try insert(key: key, channel: channel, route: route.id, alarm: alarm, kind: i == 0 ? .alarm : .escalation, step: i,
                                   seq: e.seq, due: due, status: flooding && due <= t ? "digest" : "pending", body: e.json, db)
                    }
                }
            }
        case EventKind.acknowledged.rawValue, EventKind.shelved.rawValue, EventKind.suppressed.rawValue, EventKind.reset.rawValue:
            try cancelLaterSteps(alarm, db)
        case EventKind.cleared.rawValue:
            // Cleared before anyone acknowledged: a short word to those already told.
            if event?.state == AlarmState.rtnUnack.rawValue {
                let episode = try Int64.fetchOne(db, sql: "SELECT value FROM notify_state WHERE key = ?", arguments: ["episode:" + alarm]) ?? 0
                let told = try Row.fetchAll(db, sql: """
                    SELECT channel, min(route) AS route FROM notify_message
                    WHERE alarm = ? AND kind IN ('alarm', 'escalation') AND status <> 'cancelled' AND due_ns <= ? AND seq >= ?
                    GROUP BY channel ORDER BY min(id)
                    """, arguments: [alarm, t, episode])
                for r in told {
                    let channel: String = r["channel"]
                    try insert(key: "\(e.seq):\(channel):cleared", channel: channel, route: r["route"], alarm: alarm, kind: .cleared, step: -1,
                               seq: e.seq, due: t, status: flooding ? "digest" : "pending", body: e.json, db)
                }
            }
            try cancelLaterSteps(alarm, db, after: t)
            try db.execute(sql: "DELETE FROM notify_state WHERE key = ?", arguments: ["episode:" + alarm])
        default:
            break
        }
    }

    /// Later steps not yet due (all of them, or those due after `time`) will not go out.
    func cancelLaterSteps(_ alarm: String, _ db: Database, after time: Int64? = nil) throws {
        try db.execute(sql: """
            UPDATE notify_message SET status = 'cancelled'
            WHERE alarm = ? AND kind = 'escalation' AND status IN ('pending', 'digest') AND due_ns > ?
            """, arguments: [alarm, time ?? Int64.min])
    }

    func insert(key: String, channel: String, route: String, alarm: String, kind: NotifyMessage.Kind, step: Int, seq: UInt64,
                due: Int64, status: String, body: String, _ db: Database) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO notify_message (key, channel, route, alarm, kind, step, seq, due_ns, status, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [key, channel, route, alarm, kind.rawValue, step, Int64(seq), due, status, body])
    }

    /// Whether a route takes this event: its grade, the tag's class and hazard source, the condition.
    func matches(_ r: NotifyRouteSettings, _ e: JournalEntry, hazardSource: String?) -> Bool {
        if let g = r.grades, !g.contains(e.grade) { return false }
        let info = tags[e.tag]
        if let c = r.classes, !c.contains(info?.tagClass ?? "") { return false }
        if let h = r.hazardSources {
            guard let source = info?.hazardSource ?? hazardSource, h.contains(source) else { return false }
        }
        if let c = r.conditions {
            let type = Condition(rawValue: e.condition)?.alarmType.rawValue
            if !c.contains(e.condition) && !(type.map(c.contains) ?? false) { return false }
        }
        return true
    }

    // MARK: - The sending side

    /// A channel's next message in order, if one is due at `now`; a message that falls due during
    /// a flood (not a digest) is put aside for its route's digest and the next one looked at.
    public func next(channel: String, now: Instant) throws -> NotifyMessage? {
        let due = try db.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM notify_message WHERE channel = ? AND status = 'pending' AND due_ns <= ? LIMIT 1",
                              arguments: [channel, now.nanoseconds]) ?? false
        }
        if !due { return nil }
        return try db.write { db in
            let flooding = try Int64.fetchOne(db, sql: "SELECT value FROM notify_state WHERE key = 'flooding'") == 1
            while let r = try Row.fetchOne(db, sql: """
                SELECT id, key, channel, route, kind, step, due_ns, attempts, body FROM notify_message
                WHERE channel = ? AND status = 'pending' AND due_ns <= ? ORDER BY due_ns, id LIMIT 1
                """, arguments: [channel, now.nanoseconds]) {
                let m = NotifyMessage(id: r["id"], key: r["key"], channel: r["channel"], route: r["route"],
                                      kind: NotifyMessage.Kind(rawValue: r["kind"]) ?? .alarm, step: r["step"],
                                      due: Instant(nanoseconds: r["due_ns"]), attempts: r["attempts"], body: r["body"])
                if flooding && m.kind != .digest && m.attempts == 0 {
                    try db.execute(sql: "UPDATE notify_message SET status = 'digest' WHERE id = ?", arguments: [m.id])
                    continue
                }
                return m
            }
            return nil
        }
    }

    /// Each route's messages collected for a channel's digest, and when they may become one: once
    /// the oldest has waited `gather` and `digest_every` has passed since the route's last digest.
    func digestsDue(_ db: Database, channel: String, gather: Duration) throws -> [(route: String, at: Int64, seq: Int64)] {
        let everyByRoute = Dictionary(routes.map { ($0.id, $0.digestEvery) }, uniquingKeysWith: { a, _ in a })
        return try Row.fetchAll(db, sql: """
            SELECT route, min(due_ns) AS oldest, max(seq) AS seq,
                   (SELECT max(d.due_ns) FROM notify_message d WHERE d.channel = m.channel AND d.route = m.route AND d.kind = 'digest') AS last
            FROM notify_message m WHERE channel = ? AND status = 'digest' GROUP BY route
            """, arguments: [channel]).map { w in
            let route: String = w["route"], oldest: Int64 = w["oldest"], last: Int64? = w["last"]
            let every = everyByRoute[route] ?? .seconds(300)
            return (route, max(oldest &+ gather.nanosecondsClamped, (last ?? Int64.min / 2) &+ every.nanosecondsClamped), w["seq"])
        }
    }

    /// Makes each route's digest for a channel that is due (see `digestsDue`): one message
    /// listing the collected ones, which it replaces.
    @discardableResult
    public func makeDigests(channel: String, now: Instant, gather: Duration) throws -> Int {
        let collected = try db.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM notify_message WHERE channel = ? AND status = 'digest' LIMIT 1", arguments: [channel]) ?? false
        }
        if !collected { return 0 }
        return try db.write { db in
            var made = 0
            for w in try digestsDue(db, channel: channel, gather: gather) where w.at <= now.nanoseconds {
                let items = try Row.fetchAll(db, sql: """
                    SELECT id, kind, body FROM notify_message WHERE channel = ? AND route = ? AND status = 'digest' ORDER BY due_ns, id
                    """, arguments: [channel, w.route])
                let body = "[" + items.map { "{\"kind\":\"\($0["kind"] as String)\",\"event\":\($0["body"] as String)}" }.joined(separator: ",") + "]"
                let first: Int64 = items.first?["id"] ?? 0, lastID: Int64 = items.last?["id"] ?? 0
                try insert(key: "digest:\(w.route):\(channel):\(first)-\(lastID)", channel: channel, route: w.route, alarm: "", kind: .digest,
                           step: -2, seq: UInt64(w.seq), due: now.nanoseconds, status: "pending", body: body, db)
                try db.execute(sql: "UPDATE notify_message SET status = 'digested' WHERE channel = ? AND route = ? AND status = 'digest' AND id <= ?",
                               arguments: [channel, w.route, lastID])
                made += 1
            }
            return made
        }
    }

    /// When the channel next has something to do: its next pending message falls due, or a
    /// digest may be made (nil: nothing waits).
    public func wakeAt(channel: String, gather: Duration) throws -> Instant? {
        try db.read { db in
            let pending = try Int64.fetchOne(db, sql: "SELECT min(due_ns) FROM notify_message WHERE channel = ? AND status = 'pending'",
                                             arguments: [channel])
            let digest = try digestsDue(db, channel: channel, gather: gather).map(\.at).min()
            return [pending, digest].compactMap { $0 }.min().map { Instant(nanoseconds: $0) }
        }
    }

    public func markSent(_ id: Int64, at now: Instant) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE notify_message SET status = 'sent', sent_ns = ?, attempts = attempts + 1, error = NULL WHERE id = ?",
                           arguments: [now.nanoseconds, id])
        }
    }

    public func markFailed(_ id: Int64, error: String) throws {
        try db.write { db in
            try db.execute(sql: "UPDATE notify_message SET attempts = attempts + 1, error = ? WHERE id = ?", arguments: [error, id])
        }
    }

    /// Messages for channels that are no longer configured will never go out: cancelled, counted.
    public func cancelUnknownChannels(_ known: Set<String>) throws -> Int {
        try db.write { db in
            let list = known.sorted()
            let marks = list.map { _ in "?" }.joined(separator: ",")
            try db.execute(sql: "UPDATE notify_message SET status = 'cancelled', error = 'channel removed' WHERE status IN ('pending', 'digest')"
                           + (list.isEmpty ? "" : " AND channel NOT IN (\(marks))"), arguments: StatementArguments(list))
            return db.changesCount
        }
    }

    /// Messages waiting per channel (pending or collected for a digest).
    public func backlog() throws -> [String: Int] {
        try db.read { db in try Journal.notifyBacklog(db) }
    }

    /// Forgets finished messages older than `cutoff` (sent, cancelled, digested).
    @discardableResult
    public func prune(before cutoff: Instant) throws -> Int {
        try db.write { db in
            try db.execute(sql: "DELETE FROM notify_message WHERE status IN ('sent', 'cancelled', 'digested') AND due_ns < ?", arguments: [cutoff.nanoseconds])
            return db.changesCount
        }
    }
}
