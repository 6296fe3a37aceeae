import Foundation
import GRDB
import HazmonCore

/// Reads a history file, read-only, beside the running daemon (`hazmon trend`, the console).
public struct HistoryReader: Sendable {
    let queue: DatabaseQueue
    /// `[history] max_gap` as the writer recorded it: a value holds at most 1.5 × this in
    /// aggregates (longer, the tag was silent).
    public let maxGapMillis: Int64

    public init(path: String) throws(HistoryError) {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            let (isHistory, gap) = try queue.read { db -> (Bool, Int64?) in
                guard try db.tableExists("chunk") && db.tableExists("recent") else { return (false, nil) }
                return (true, try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'max_gap_ms'"))
            }
            guard isHistory else { throw HistoryError("\(path) is not a hazmon history (it has no chunk table)") }
            maxGapMillis = gap ?? 60_000
        } catch {
            throw HistoryError(error, doing: "cannot open the history \(path) for reading")
        }
    }

    /// Stored values waiting for an outbox reader (an uplink, the PostgreSQL copy); nil if the
    /// file has no such reader (yet).
    public func outboxPending(reader: String) throws(HistoryError) -> Int? {
        do {
            return try queue.read { db in try HistoryOutbox.pending(db, reader: reader) }
        } catch {
            throw HistoryError(error, doing: "cannot read the history's outbox")
        }
    }

    /// The names of every tag the history holds.
    public func tags() throws(HistoryError) -> [String] {
        do { return try queue.read { db in try String.fetchAll(db, sql: "SELECT name FROM tag ORDER BY name") } } catch {
            throw HistoryError(error, doing: "cannot read the history")
        }
    }

    /// One tag's stored points with `from <= time < until` (ms since 1970), oldest first.
    public func points(tag: String, from: Int64 = .min, until: Int64 = .max) throws(HistoryError) -> [HistoryPoint] {
        do {
            return try queue.read { db in
                guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM tag WHERE name = ?", arguments: [tag]) else { return [] }
                var out: [HistoryPoint] = []
                let chunks = try Row.fetchCursor(db, sql: """
                    SELECT points FROM chunk WHERE tag = ? AND last_ms >= ? AND first_ms < ? ORDER BY last_ms, id
                    """, arguments: [id, from, until])
                while let r = try chunks.next() {
                    let data: Data = r[0]
                    guard let pts = data.withUnsafeBytes({ ChunkCodec.decode($0.bindMemory(to: UInt8.self)) }) else {
                        throw HistoryError("a chunk of \(tag) in the history is damaged", damaged: true)
                    }
                    out.append(contentsOf: pts.lazy.filter { $0.time >= from && $0.time < until })
                }
                let recent = try HistoryStore.recent(db, tag: id)[id]?.points ?? []
                out.append(contentsOf: recent.lazy.filter { $0.time >= from && $0.time < until })
                return out
            }
        } catch {
            throw HistoryError(error, doing: "cannot read the history")
        }
    }

    /// One tag's aggregates over intervals of `every` milliseconds starting at multiples of it
    /// (in UTC), for intervals that start in [from, until). Whole minutes come from the
    /// one-minute aggregates the chunks keep (so 30 days read 43,200 of them, not millions of
    /// points); other intervals, and the points not yet compacted, are computed from the points.
    public func aggregates(tag: String, from: Int64, until: Int64, every: Int64) throws(HistoryError) -> [Aggregate] {
        guard every > 0, until > from else { return [] }
        let start = Aggregator.Run.bucket(from, every)
        let hold = maxGapMillis + maxGapMillis / 2
        guard every % 60_000 == 0 else {
            let pts = try points(tag: tag, from: start - hold, until: until)
            let carry = pts.last { $0.time < start }
            return Aggregator.aggregate(pts.filter { $0.time >= start }, every: every, carry: carry,
                                        end: min(until, Instant.now.milliseconds), maxHold: hold)
                .filter { $0.start >= start && $0.start < until }
        }
        do {
            let (minutes, recent, carry) = try queue.read { db -> ([Aggregate], [HistoryPoint], (HistoryPoint, Int64)?) in
                guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM tag WHERE name = ?", arguments: [tag]) else { return ([], [], nil) }
                var minutes: [Aggregate] = []
                let chunks = try Row.fetchCursor(db, sql: """
                    SELECT minutes FROM chunk WHERE tag = ? AND last_ms >= ? AND first_ms < ? ORDER BY last_ms, id
                    """, arguments: [id, start, until])
                while let r = try chunks.next() {
                    let data: Data = r[0]
                    guard let m = MinuteCodec.decode([UInt8](data)) else {
                        throw HistoryError("a chunk of \(tag) in the history is damaged", damaged: true)
                    }
                    minutes.append(contentsOf: m.lazy.filter { $0.start >= start && $0.start < until })
                }
                let recent = (try HistoryStore.recent(db, tag: id)[id]?.points ?? []).filter { $0.time < until }
                // The value the recent points start from: the last compacted one, from where
                // that chunk's aggregates stopped.
                var carry: (HistoryPoint, Int64)?
                if let last = try Row.fetchOne(db, sql: "SELECT points, until_ms FROM chunk WHERE tag = ? ORDER BY id DESC LIMIT 1",
                                               arguments: [id]) {
                    let data: Data = last[0]
                    if let p = ChunkCodec.decode([UInt8](data))?.last { carry = (p, last[1]) }
                }
                return (minutes, recent, carry)
            }
            let recentMinutes = Aggregator.aggregate(recent, every: 60_000, carry: carry?.0, from: carry?.1,
                                                     end: min(until, Instant.now.milliseconds), maxHold: hold)
            // A minute both compacted and recent (a compaction inside it) is merged.
            var all = minutes + recentMinutes.filter { $0.start >= start && $0.start < until }
            all.sort { $0.start < $1.start }
            var out: [Aggregate] = []
            var i = 0
            while i < all.count {
                let bucket = Aggregator.Run.bucket(all[i].start, every)
                var j = i
                while j < all.count && Aggregator.Run.bucket(all[j].start, every) == bucket { j += 1 }
                if let a = Aggregate.combine(all[i..<j], start: bucket) { out.append(a) }
                i = j
            }
            return out
        } catch {
            throw HistoryError(error, doing: "cannot read the history")
        }
    }
}

extension Instant {
    /// Milliseconds since 1970.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
