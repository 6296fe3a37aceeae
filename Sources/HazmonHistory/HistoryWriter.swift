import Foundation
import HazmonCore
import Logging
import Synchronization

/// What the history writer needs from `[history]`.
public struct HistoryWriterSettings: Sendable {
    public var path: String
    public var retention: Duration
    public var maxGap: Duration
    /// How often queued samples are written: a crash loses at most this much (plus the write).
    public var batch: Duration
    /// How often the points in `recent` are compressed into a chunk per tag (then `recent` is emptied).
    public var flushEvery: Duration = .seconds(60)
    /// How much of a tag's history one chunk holds: that many flushes' chunks are merged into one.
    public var chunkSpan: Duration = .seconds(600)
    /// Samples queued at most (while the disk is slow or failing); past it new ones are counted and dropped.
    public var queueLimit = 1_000_000
    /// Points kept in memory while writes fail; past it the oldest are counted and dropped.
    public var unwrittenLimit = 2_000_000
    /// The store-and-forward readers of the file's outbox (`postgres`, `uplink:ID`): every
    /// stored point is queued for them. None: nothing is queued (and what was queued goes).
    public var outboxReaders: [String] = []
    public var outbox: Bool { !outboxReaders.isEmpty }
    /// Points the outbox holds at most (while the far side is away); past it the oldest go.
    public var outboxLimit = 50_000_000

    public init(path: String, retention: Duration, maxGap: Duration, batch: Duration) {
        self.path = path
        self.retention = retention
        self.maxGap = maxGap
        self.batch = batch
    }
}

/// The tags of one engine generation, by handle index: names and how each is recorded.
public struct HistoryTagTable: Sendable {
    public var generation: Int
    public var names: [String]
    public var policies: [HistoryPolicy]
    public init(generation: Int, names: [String], policies: [HistoryPolicy]) {
        self.generation = generation
        self.names = names
        self.policies = policies
    }
}

/// Records every sample of every tag (spec §8), on a thread of its own, never on the
/// evaluation path: `record` only appends to a bounded queue; every `batch` the thread decides
/// what to store (deadband, max_gap, quality changes) and appends it to the `recent` log in one
/// transaction (sequential writes: a batch touches the log's last pages only); every
/// `flushEvery` it compresses each tag's points since the last flush into a chunk and empties
/// the log, in one transaction; a few tags per round have their one-minute chunks merged into
/// one of `chunkSpan`; chunks past `retention` are pruned hourly.
///
/// If the file cannot be written (a full disk, a missing directory), points stay in memory
/// (bounded), `onHealth(false, reason)` raises the `history` comm alarm, and every round
/// retries; the first success clears it. A damaged file is set aside, never written over.
public final class HistoryWriter: Sendable {
    struct Queue {
        var batches: [(generation: Int, offset: Duration, samples: [Sample])] = []
        var count = 0
        var dropped = 0
        var tables: [HistoryTagTable] = []
        var stopping = false
        var stopped = false
    }

    let settings: HistoryWriterSettings
    let logger: Logger
    let onHealth: @Sendable (Bool, String?) -> Void
    /// Wall time now, milliseconds since 1970 (injected by tests that run through a month).
    let clock: @Sendable () -> Int64
    private let queue = Mutex(Queue())
    private let wake = NSCondition()
    /// The thread's own state: touched only by the history thread.
    private let thread: ThreadState

    public init(settings: HistoryWriterSettings, logger: Logger, clock: @escaping @Sendable () -> Int64 = { Instant.now.milliseconds },
                onHealth: @escaping @Sendable (Bool, String?) -> Void) {
        self.clock = clock
        self.settings = settings
        self.logger = logger
        self.onHealth = onHealth
        self.thread = ThreadState(settings: settings)
    }

    /// The current engine's tags (at start and after every reload).
    public func setTags(_ table: HistoryTagTable) {
        queue.withLock { q in
            q.tables.append(table)
            if q.tables.count > 2 { q.tables.removeFirst(q.tables.count - 2) }
        }
    }

    /// Queues samples of engine generation `generation`; `offset` turns their engine times
    /// into wall time. Never blocks: past `queueLimit` the samples are counted and dropped.
    public func record(_ samples: [Sample], generation: Int, offset: Duration) {
        queue.withLock { q in
            guard q.count + samples.count <= settings.queueLimit, !q.stopped else { q.dropped += samples.count; return }
            q.batches.append((generation, offset, samples))
            q.count += samples.count
        }
    }

    public func start() {
        let t = Thread { [self] in
            // Named from inside: a Linux thread otherwise keeps its creator's name.
            Thread.current.name = "hazmon-history"
            run()
        }
        t.start()
    }

    /// Writes what is queued and returns once the thread has ended.
    public func stop() {
        wake.lock()
        queue.withLock { $0.stopping = true }
        wake.broadcast()
        while !queue.withLock({ $0.stopped }) { wake.wait(until: Date().addingTimeInterval(0.05)) }
        wake.unlock()
    }


    private func run() {
        let batch = settings.batch.secondsDouble
        var nextPrune = Int64.min
        var lastDropped = 0
        while true {
            wake.lock()
            let stopping = queue.withLock { $0.stopping }
            if !stopping { wake.wait(until: Date().addingTimeInterval(batch)) }
            wake.unlock()
            let (batches, tables, dropped, ending) = queue.withLock { q in
                defer { q.batches.removeAll(keepingCapacity: true); q.count = 0 }
                return (q.batches, q.tables, q.dropped, q.stopping)
            }
            if dropped > lastDropped {
                logger.error("history: samples dropped, the writer is behind", metadata: ["dropped_total": "\(dropped)"])
                lastDropped = dropped
            }
            let now = clock()
            thread.round(batches: batches, tables: tables, now: now, compact: !ending, writer: self)
            if !ending, now >= nextPrune, thread.store != nil {
                thread.prune(now: now, writer: self)
                nextPrune = now + 3_600_000
            }
            if ending { break }
        }
        thread.close()
        wake.lock()
        queue.withLock { $0.stopped = true }
        wake.broadcast()
        wake.unlock()
    }
}

/// The history thread's state. Only that thread touches it.
final class ThreadState: @unchecked Sendable {
    // @unchecked: every field is read and written by the history thread alone (HistoryWriter.run).
    struct Tag {
        var filter: HistoryFilter
        /// Stored points since the last flush (in `recent`, or in `unwritten` while writes fail).
        var open: [HistoryPoint] = []
        // In this order, the last compacted point's spare bytes hold the flag (128 bytes a tag).
        var lastCompacted: HistoryPoint?
        var float64 = false
        var coveredUntil: Int64?
        /// Chunks written by flushes and not yet merged.
        var unmerged = 0
    }

    let settings: HistoryWriterSettings
    var store: HistoryStore?
    /// Each registered engine generation's file tag ids, by handle index (at most the two
    /// generations `setTags` keeps): an array, not a map by name (4.5 MB at 50,000 tags).
    var fileIDs: [Int: [Int64]] = [:]
    var tags = TagIDTable<Tag>()
    var unwritten: [HistoryStore.RecentRow] = []
    /// Samples that came while the file could not be opened.
    var held: [(generation: Int, offset: Duration, samples: [Sample])] = []
    var heldCount = 0
    var lostWhileFailing = 0
    var outboxDropped = 0
    var nextOutboxComplaint: Int64 = .min
    var healthy = true
    var lastComplaint: String?
    var nextOpenAttempt: Int64 = .min
    var nextFlush: Int64 = .min

    init(settings: HistoryWriterSettings) { self.settings = settings }

    var maxGapMillis: Int64 { settings.maxGap.nanosecondsClamped / 1_000_000 }
    var flushMillis: Int64 { max(1, settings.flushEvery.nanosecondsClamped / 1_000_000) }
    /// Unmerged chunks at which a tag's are merged.
    var mergeAt: Int { max(2, Int(settings.chunkSpan.nanosecondsClamped / 1_000_000 / flushMillis)) }

    func report(_ up: Bool, _ reason: String?, writer: HistoryWriter) {
        if up {
            if !healthy { writer.logger.notice("history: writing again", metadata: ["path": "\(settings.path)"]) }
            if !healthy || lastComplaint != nil { writer.onHealth(true, nil) }
            healthy = true
            lastComplaint = nil
            return
        }
        if reason != lastComplaint {
            writer.logger.error("history: \(reason ?? "failing"); values are kept in memory and written when it works again",
                                metadata: ["path": "\(settings.path)", "unwritten": "\(unwritten.count + heldCount)",
                                           "lost_total": "\(lostWhileFailing)"])
            writer.onHealth(false, reason)
        }
        healthy = false
        lastComplaint = reason
    }

    /// Opens the file if it is not open; a damaged one is set aside first.
    func open(now: Int64, writer: HistoryWriter) -> Bool {
        if store != nil { return true }
        guard now >= nextOpenAttempt else { return false }
        nextOpenAttempt = now + 5_000
        do {
            let s: HistoryStore
            do {
                s = try HistoryStore(path: settings.path)
            } catch let e where e.damaged {
                let aside = try HistoryStore.setAside(path: settings.path)
                writer.logger.critical("history: \(e.description); moved aside to \(aside) (kept for reading with hazmon trend --history) and a new history started; the journal is not affected")
                s = try HistoryStore(path: settings.path)
            }
            try s.setMaxGap(maxGapMillis)
            try s.setOutboxReaders(settings.outboxReaders)
            let last = try s.lastCompacted()
            let recent = try s.recentPoints()
            let unmerged = try s.unmergedCounts()
            store = s
            for (id, c) in last {
                tags[id] = Tag(filter: HistoryFilter(policy: HistoryPolicy(maxGapMillis: maxGapMillis), lastStored: c.point),
                               lastCompacted: c.point, coveredUntil: c.until)
            }
            for (id, n) in unmerged { tags[id, default: Tag(filter: HistoryFilter(policy: HistoryPolicy()))].unmerged = n }
            // What a crash left in `recent` stays there and goes into the next flush's chunks.
            for (id, r) in recent {
                var t = tags[id] ?? Tag(filter: HistoryFilter(policy: HistoryPolicy(maxGapMillis: maxGapMillis)))
                t.filter = HistoryFilter(policy: t.filter.policy, lastStored: r.points.last)
                t.open = r.points
                t.float64 = r.float64
                tags[id] = t
            }
            fileIDs = [:]
            nextFlush = now + flushMillis
            return true
        } catch {
            report(false, error.description, writer: writer)
            return false
        }
    }

    func round(batches: [(generation: Int, offset: Duration, samples: [Sample])], tables: [HistoryTagTable], now: Int64,
               compact: Bool, writer: HistoryWriter) {
        // Until the file opens, samples wait as they came (tag ids come from the file).
        held += batches
        heldCount += batches.reduce(0) { $0 + $1.samples.count }
        while heldCount > settings.unwrittenLimit, !held.isEmpty {
            heldCount -= held[0].samples.count
            lostWhileFailing += held.removeFirst().samples.count
        }
        guard open(now: now, writer: writer), let store else { return }
        for t in tables where fileIDs[t.generation] == nil {
            do {
                let ids = try store.tagIDs(for: t.names)
                tags.reserve(through: ids.max() ?? 0)
                fileIDs[t.generation] = ids
            } catch {
                report(false, error.description, writer: writer)
                return
            }
        }
        for g in fileIDs.keys where !tables.contains(where: { $0.generation == g }) { fileIDs[g] = nil }
        var rows = unwritten
        unwritten = []
        for b in held {
            guard let table = tables.last(where: { $0.generation == b.generation }), let ids = fileIDs[b.generation] else { continue }
            for s in b.samples {
                let i = s.tag.index
                guard i < ids.count else { continue }
                let id = ids[i]
                let policy = table.policies[i]
                let p = HistoryPoint(time: (s.time + b.offset).milliseconds, value: s.value,
                                     quality: s.fault != nil ? .bad : s.quality, sourceTime: s.sourceTime?.milliseconds,
                                     float32: !policy.float64)
                // In place: a copy of the entry would copy its open points on every sample.
                let stored = Self.admit(p, policy: policy, into: &tags[id, default: Tag(filter: HistoryFilter(policy: policy))])
                if stored { rows.append(.init(tag: id, point: p, float64: policy.float64)) }
            }
        }
        held = []
        heldCount = 0
        do {
            let dropped = try store.append(rows, outbox: settings.outbox, outboxLimit: settings.outboxLimit)
            if dropped > 0 {
                outboxDropped += dropped
                if now >= nextOutboxComplaint {
                    writer.logger.error("history: the store-and-forward outbox is full; the oldest points were dropped from it (they stay in the history file)", metadata: ["dropped_total": "\(outboxDropped)",
                                                                        "limit": "\(settings.outboxLimit)"])
                    nextOutboxComplaint = now + 60_000
                }
            }
            report(true, nil, writer: writer)
        } catch {
            keepUnwritten(rows)
            report(false, error.description, writer: writer)
            return
        }
        guard compact else { return }
        if now >= nextFlush { flush(now: now, writer: writer) }
        mergeSome(writer: writer)
    }

    /// Runs the tag's filter on `p` and keeps it among the open points if it is stored.
    static func admit(_ p: HistoryPoint, policy: HistoryPolicy, into tag: inout Tag) -> Bool {
        if tag.filter.policy != policy { tag.filter.policy = policy }
        guard tag.filter.admit(p) else { return false }
        if tag.open.isEmpty { tag.float64 = policy.float64 }
        tag.open.append(p)
        return true
    }

    private func keepUnwritten(_ rows: [HistoryStore.RecentRow]) {
        unwritten = rows
        if unwritten.count > settings.unwrittenLimit {
            let excess = unwritten.count - settings.unwrittenLimit
            lostWhileFailing += excess
            unwritten.removeFirst(excess)
        }
    }

    /// Every tag's points since the last flush into a chunk each, and `recent` emptied.
    private func flush(now: Int64, writer: HistoryWriter) {
        guard let store else { return }
        let hold = maxGapMillis + maxGapMillis / 2
        let ids = tags.ids(where: { !$0.open.isEmpty })
        do {
            // Each tag's chunk is made as it is written, not all of them first. (The sequence
            // holds the table only in here: changed while it is alive, the table would be copied.)
            let chunks = ids.lazy.map { [tags] id in
                let t = tags[id]!
                let minutes = Aggregator.aggregate(t.open, every: 60_000, carry: t.lastCompacted, from: t.coveredUntil, end: now,
                                                   maxHold: hold)
                return HistoryStore.Chunk(tag: id, points: t.open, float64: t.float64, minutes: minutes, until: now)
            }
            try store.flush(chunks)
        } catch {
            report(false, error.description, writer: writer)
            return
        }
        for id in ids {
            tags[id]!.lastCompacted = tags[id]!.open.last
            tags[id]!.open = []
            tags[id]!.coveredUntil = now
            tags[id]!.unmerged += 1
        }
        nextFlush = now + flushMillis
    }

    /// Merges the one-minute chunks of a few tags that have `mergeAt` of them: the work spreads
    /// over the rounds of a chunk span.
    private func mergeSome(writer: HistoryWriter) {
        guard let store else { return }
        let rounds = max(1, Int(settings.chunkSpan.nanosecondsClamped / max(1, settings.batch.nanosecondsClamped)))
        let budget = max(8, tags.count / rounds * 2)
        let due = tags.ids(where: { $0.unmerged >= mergeAt }).prefix(budget)
        for id in due {
            do {
                try store.merge(tag: id, maxSpan: 2 * settings.chunkSpan.nanosecondsClamped / 1_000_000)
                tags[id]!.unmerged = 0
            } catch {
                report(false, error.description, writer: writer)
                return
            }
        }
    }

    func prune(now: Int64, writer: HistoryWriter) {
        let cutoff = now - settings.retention.nanosecondsClamped / 1_000_000
        do {
            let n = try store?.prune(before: cutoff) ?? 0
            if n > 0 { writer.logger.info("history pruned", metadata: ["chunks": "\(n)"]) }
        } catch {
            report(false, error.description, writer: writer)
        }
    }

    func close() {
        store?.checkpoint()
        store = nil
    }
}

/// Per-tag entries keyed by the history file's tag id, in an array indexed by it. The ids are
/// the `tag` table's rowids, handed out from 1 as tags are first seen, so the array is dense; a
/// dictionary of a park's 50,000 tags kept 131,072 buckets of the entry's size (27 MB).
struct TagIDTable<Value> {
    private var slots: [Value?] = []
    private(set) var count = 0

    subscript(id: Int64) -> Value? {
        get { id >= 0 && Int(id) < slots.count ? slots[Int(id)] : nil }
        set {
            let i = Int(id)
            if i >= slots.count {
                guard newValue != nil else { return }
                slots.append(contentsOf: repeatElement(nil, count: i - slots.count + 1))
            }
            count += (newValue != nil ? 1 : 0) - (slots[i] != nil ? 1 : 0)
            slots[i] = newValue
        }
    }

    /// Room for every id up to `id`, made at once: grown an entry at a time as tags are first
    /// seen, the array doubled its room each time it filled (up to twice the entries' size).
    mutating func reserve(through id: Int64) {
        let n = Int(id) + 1
        guard n > slots.count else { return }
        slots.reserveCapacity(n)
        slots.append(contentsOf: repeatElement(nil, count: n - slots.count))
    }

    /// The entry for `id`, made from `make` first if there is none; changed in place.
    subscript(id: Int64, default make: @autoclosure () -> Value) -> Value {
        get { self[id] ?? make() }
        _modify {
            let i = Int(id)
            if i >= slots.count { slots.append(contentsOf: repeatElement(nil, count: i - slots.count + 1)) }
            if slots[i] == nil {
                slots[i] = make()
                count += 1
            }
            yield &slots[i]!
        }
    }

    /// The ids whose entries `include` accepts, in order.
    func ids(where include: (Value) -> Bool) -> [Int64] {
        var out: [Int64] = []
        for i in slots.indices { if let v = slots[i], include(v) { out.append(Int64(i)) } }
        return out
    }
}
