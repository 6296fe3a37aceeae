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

/// The history's outbox as its forwarder sees it: read the oldest points, and remove them once
/// the far side has committed them. Its own connection to the history file (SQLite serialises
/// it with the history's writer; each transaction is short).
public final class HistoryOutbox: Sendable {
    let queue: DatabaseQueue
    /// This history's id (random, made with the file): with a point's `id` it names the point
    /// uniquely wherever it is copied, even after a damaged file was set aside for a new one.
    public let historyID: Int64

    public init(path: String) throws(HistoryError) {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "hazmon-history-outbox"
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            let id = try queue.read { db -> Int64? in
                guard try db.tableExists("outbox") else { return nil }
                return try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'history_id'")
            }
            guard let id else { throw HistoryError("\(path) has no outbox yet (the daemon creates it)") }
            historyID = id
        } catch {
            throw HistoryError(error, doing: "cannot open the history's outbox \(path)")
        }
    }

    /// The oldest `limit` points, oldest first.
    public func next(limit: Int) throws(HistoryError) -> [OutboxRow] {
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT o.id, t.name, o.time_ms, o.value, o.quality, o.source_ms FROM outbox o JOIN tag t ON t.id = o.tag
                    ORDER BY o.id LIMIT ?
                    """, arguments: [limit]).map { r in
                    let v: Double? = r[3]
                    return OutboxRow(id: r[0], tag: r[1], time: r[2], value: v ?? .nan, quality: Quality(code: UInt64(r[4] as Int)),
                                     sourceTime: r[5])
                }
            }
        } catch {
            throw HistoryError(error, doing: "cannot read the history's outbox")
        }
    }

    /// Forgets every point up to `id` (delivered).
    public func remove(through id: Int64) throws(HistoryError) {
        do {
            try queue.write { db in try db.execute(sql: "DELETE FROM outbox WHERE id <= ?", arguments: [id]) }
        } catch {
            throw HistoryError(error, doing: "cannot update the history's outbox")
        }
    }

    /// How many points wait.
    public func pending() throws(HistoryError) -> Int {
        do {
            return try queue.read { db in
                let r = try Row.fetchOne(db, sql: "SELECT min(id), max(id) FROM outbox")
                guard let low = r?[0] as Int64?, let high = r?[1] as Int64? else { return 0 }
                return Int(high - low + 1)
            }
        } catch {
            throw HistoryError(error, doing: "cannot read the history's outbox")
        }
    }
}
