import Foundation
import GRDB
import HazmonCore

/// One point waiting for the store-and-forward copy.
public struct OutboxRow: Sendable, Hashable {
    /// Its number in this history: increasing, never reused (SQLite AUTOINCREMENT).
    public var id: Int64
    public var tag: String
    public var time: Int64
    public var value: Double
    public var quality: Quality
    public var sourceTime: Int64?
}

/// The history's outbox as one of its readers sees it (the PostgreSQL copy, an uplink): the
/// oldest points after the reader's position, and `confirm` once the far side has them. Each
/// reader has its own position in the file; a point is removed once every reader passed it.
/// Its own connection to the history file (SQLite serialises it with the history's writer;
/// each transaction is short).
public final class HistoryOutbox: Sendable {
    let queue: DatabaseQueue
    /// The reader's name (`postgres`, `uplink:ID`).
    public let reader: String
    /// This history's id (random, made with the file): with a point's `id` it names the point
    /// uniquely wherever it is copied, even after a damaged file was set aside for a new one.
    public let historyID: Int64

    /// Opens the outbox for `reader`. Throws until the history's writer has created the file
    /// and registered the reader (`HistoryStore.setOutboxReaders`); a caller tries again later.
    public init(path: String, reader: String = "postgres") throws(HistoryError) {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "hazmon-history-outbox"
        self.reader = reader
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            let id = try queue.read { db -> Int64? in
                guard try db.tableExists("outbox_reader"),
                      try Bool.fetchOne(db, sql: "SELECT 1 FROM outbox_reader WHERE name = ?", arguments: [reader]) == true
                else { return nil }
                return try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'history_id'")
            }
            guard let id else { throw HistoryError("\(path) has no outbox reader \(reader) yet (the daemon's history writer registers it)") }
            historyID = id
        } catch {
            throw HistoryError(error, doing: "cannot open the history's outbox \(path)")
        }
    }

    /// The reader's position: the last point it confirmed (or started after).
    public func position() throws(HistoryError) -> Int64 {
        do {
            return try queue.read { db in
                try Int64.fetchOne(db, sql: "SELECT after FROM outbox_reader WHERE name = ?", arguments: [reader]) ?? 0
            }
        } catch {
            throw HistoryError(error, doing: "cannot read the history's outbox")
        }
    }

    /// The oldest `limit` points after the reader's position, oldest first.
    public func next(limit: Int) throws(HistoryError) -> [OutboxRow] {
        do {
            return try queue.read { db in
                // A cursor's rows read the statement's columns in place (a fetched array copies
                // every row first, which was most of an uplink's cost per point).
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT o.id, t.name, o.time_ms, o.value, o.quality, o.source_ms FROM outbox o JOIN tag t ON t.id = o.tag
                    WHERE o.id > (SELECT after FROM outbox_reader WHERE name = ?) ORDER BY o.id LIMIT ?
                    """, arguments: [reader, limit])
                var out: [OutboxRow] = []
                out.reserveCapacity(min(limit, 10_000))
                while let r = try rows.next() {
                    let v: Double? = r[3]
                    out.append(OutboxRow(id: r[0], tag: r[1], time: r[2], value: v ?? .nan, quality: Quality(code: UInt64(r[4] as Int64)),
                                         sourceTime: r[5]))
                }
                return out
            }
        } catch {
            throw HistoryError(error, doing: "cannot read the history's outbox")
        }
    }

    /// The reader has delivered every point up to `id`: its position moves there, and points
    /// no reader still needs are removed.
    public func confirm(through id: Int64) throws(HistoryError) {
        do {
            try queue.write { db in
                try db.execute(sql: "UPDATE outbox_reader SET after = max(after, ?) WHERE name = ?", arguments: [id, reader])
                try HistoryStore.pruneOutbox(db)
            }
        } catch {
            throw HistoryError(error, doing: "cannot update the history's outbox")
        }
    }

    /// How many points wait for `reader`; nil if the file has no such reader (yet).
    static func pending(_ db: Database, reader: String) throws -> Int? {
        guard try db.tableExists("outbox_reader"),
              let after = try Int64.fetchOne(db, sql: "SELECT after FROM outbox_reader WHERE name = ?", arguments: [reader]) else { return nil }
        // Ids are consecutive; points below `low` were dropped by the outbox's bound.
        let r = try Row.fetchOne(db, sql: "SELECT min(id), max(id) FROM outbox")
        guard let low = r?[0] as Int64?, let high = r?[1] as Int64? else { return 0 }
        return Int(max(0, high - max(after, low - 1)))
    }

    /// How many points wait for this reader.
    public func pending() throws(HistoryError) -> Int {
        do {
            return try queue.read { db in try Self.pending(db, reader: reader) ?? 0 }
        } catch {
            throw HistoryError(error, doing: "cannot read the history's outbox")
        }
    }
}
