import Foundation
import HazmonCore
import HazmonHistory
import HazmonJournal
import HazmonPipeline
import Logging
import Metrics
import NIOPosix
import Synchronization

/// What one uplink sends, and how often (the daemon fills it from `[[uplink]]`).
public struct UplinkOptions: Sendable {
    public var id: String
    public var alarms = true
    /// The history file whose outbox holds the stored values; nil: no values on change.
    public var historyPath: String?
    public var snapshotEvery: Duration?
    public var heartbeat: Duration?
    public var batch = 500
    public var downAfter: Duration = .seconds(60)
    public var backlogMax = 10_000_000

    public init(id: String) { self.id = id }

    /// The uplink's names: its journal cursor and its reader of the history's outbox.
    public var cursorName: String { "uplink:" + id }
}

/// What an uplink reads from the running daemon for a snapshot: every tag's current value and
/// the hazard sources' live R and level.
public protocol UplinkLiveState: Sendable {
    func tagViews() -> [TagView]
    func hazardSources() -> [HazardSourceStatus]
}

/// One platform's store-and-forward sender (spec §9). A single loop, so everything leaves in
/// order: a heartbeat and a snapshot when due, then the alarm events after its journal cursor,
/// then the stored values after its position in the history's outbox. Each batch moves its
/// cursor only once the platform confirmed it, so an outage of hours (or a restart, or a
/// SIGKILL, in the middle of one) ends with every record delivered once, in order, with its
/// own time; a failure backs off from 1 s to 30 s and offers the same batch again.
///
/// Health: while something has waited longer than `downAfter` without a confirmed delivery,
/// `onHealth(false, why)` raises the uplink's `comm` alarm; the next confirmed batch clears it.
/// Values past `backlogMax` (or past the outbox's own bound) are dropped oldest first, counted,
/// logged and reported through `onDropped` (the daemon raises a journaled alarm); alarm
/// events are never dropped: they stay in the journal until delivered.
public final class Uplink: Sendable {
    public let options: UplinkOptions
    let format: UplinkFormat
    let cipher: UplinkCipher?
    let transport: UplinkTransport
    let journal: Journal
    let live: UplinkLiveState
    let logger: Logger
    let onHealth: @Sendable (Bool, String?) -> Void
    let onDropped: @Sendable (Int, Int) -> Void
    let pool: NIOThreadPool

    struct Health {
        /// Since when something has been waiting for the platform (nil: nothing waits).
        var waitingSince: ContinuousClock.Instant?
        var down = false
        var lastError: String?
        /// Whether a delivery has been confirmed since the start: the first one clears a comm
        /// alarm that the journal restored from before a restart.
        var confirmedOnce = false
    }
    private let health = Mutex(Health())
    private let signal = WakeSignal()
    /// What waits (alarm events, stored values) and how many values were dropped so far.
    private let counters = Mutex((backlogAlarms: 0, backlogValues: 0, dropped: 0))

    public init(options: UplinkOptions, format: UplinkFormat, cipher: UplinkCipher?, transport: UplinkTransport, journal: Journal,
                live: UplinkLiveState, logger: Logger, pool: NIOThreadPool = .singleton,
                onHealth: @escaping @Sendable (Bool, String?) -> Void,
                onDropped: @escaping @Sendable (_ dropped: Int, _ total: Int) -> Void) {
        self.options = options
        self.format = format
        self.cipher = cipher
        self.transport = transport
        self.journal = journal
        self.live = live
        self.logger = logger
        self.pool = pool
        self.onHealth = onHealth
        self.onDropped = onDropped
    }

    /// New events were committed: look now rather than at the next poll.
    public func wake() { signal.fire() }

    /// What waits (alarm events, stored values) and how many values were dropped so far.
    public var figures: (backlogAlarms: Int, backlogValues: Int, dropped: Int) { counters.withLock { $0 } }

    /// Sends until the task is cancelled; what is not yet confirmed waits behind the cursors.
    public func run() async {
        let watch = Task { await watchHealth() }
        defer { watch.cancel() }
        let clock = ContinuousClock()
        // The first snapshot after a second, once the inputs have had a chance to read.
        var state = LoopState(nextHeartbeat: clock.now, nextSnapshot: clock.now + .seconds(1))
        while !Task.isCancelled {
            do {
                let busy = try await round(&state, now: clock.now)
                state.backoff = .seconds(1)
                if !busy {
                    // Only the timers in use: with no heartbeat and no snapshots their instants
                    // stay in the past, and waiting for them would spin.
                    let due = [options.heartbeat.map { _ in state.nextHeartbeat }, options.snapshotEvery.map { _ in state.nextSnapshot }]
                    await idle(until: due.compactMap { $0 }.min() ?? clock.now + .milliseconds(250))
                }
            } catch is CancellationError {
                return
            } catch {
                let reason = "\(error)"
                let changed = health.withLock { h -> Bool in
                    defer { h.lastError = reason }
                    return h.lastError != reason
                }
                if changed {
                    logger.warning("uplink \(options.id): \(reason); the same records are offered again",
                                   metadata: ["uplink": "\(options.id)", "backoff": "\(state.backoff)"])
                }
                try? await Task.sleep(for: state.backoff)
                state.backoff = min(state.backoff * 2, .seconds(30))
            }
        }
    }

    struct LoopState {
        var nextHeartbeat: ContinuousClock.Instant
        var nextSnapshot: ContinuousClock.Instant
        var alarmCursor: UInt64?
        var outbox: HistoryOutbox?
        var valuePosition: Int64?
        var backoff: Duration = .seconds(1)
        /// A batch offered and not confirmed: offered again as it was, under the same name, so a
        /// platform that took it after all (a timeout) can tell the repeat by its name.
        var unconfirmedAlarms: [JournalEntry]?
        var unconfirmedValues: [OutboxRow]?
    }

    /// One pass; true if there may be more to send at once.
    func round(_ s: inout LoopState, now: ContinuousClock.Instant) async throws -> Bool {
        if let every = options.heartbeat, now >= s.nextHeartbeat {
            try await deliver([payload(kind: "heartbeat", format.heartbeat(at: .now))], id: "heartbeat-\(Instant.now.nanoseconds / 1_000_000)")
            s.nextHeartbeat = now + every
        }
        if let every = options.snapshotEvery, now >= s.nextSnapshot {
            let views = live.tagViews()
            let points = views.map { UplinkPoint(tag: $0.id, value: $0.value, quality: $0.quality, time: $0.time ?? .now) }
            let at = Instant.now
            let text = format.values(points, at: at, snapshot: true, sources: live.hazardSources())
            try await deliver([payload(kind: "values", text)], id: "snapshot-\(at.nanoseconds / 1_000_000)")
            s.nextSnapshot = now + every
        }
        var busy = false
        if options.alarms { busy = try await sendAlarms(&s) || busy }
        if options.historyPath != nil { busy = try await sendValues(&s) || busy }
        return busy
    }

    func sendAlarms(_ s: inout LoopState) async throws -> Bool {
        let journal = self.journal, name = options.cursorName, limit = options.batch
        if s.alarmCursor == nil {
            // A new uplink starts at the journal's end: enabling it does not replay years.
            s.alarmCursor = try await pool.runIfActive { try journal.cursorOrEnd(name) }
        }
        let from = s.alarmCursor!
        let (fresh, end) = try await pool.runIfActive { (try journal.entries(after: from, limit: limit), try journal.lastCommittedSeq()) }
        counters.withLock { $0.backlogAlarms = Int(end > from ? end - from : 0) }
        let batch = s.unconfirmedAlarms ?? fresh
        guard let last = batch.last?.seq else { return false }
        let messages = try batch.map { try payload(kind: "alarms", tag: $0.tag, format.alarm($0.json)) }
        s.unconfirmedAlarms = batch
        try await deliver(messages, id: "alarms-\(batch.first!.seq)-\(last)")
        s.unconfirmedAlarms = nil
        try await pool.runIfActive { try journal.advanceCursor(name, to: last) }
        s.alarmCursor = last
        counters.withLock { $0.backlogAlarms = Int(end > last ? end - last : 0) }
        return batch.count == limit
    }

    func sendValues(_ s: inout LoopState) async throws -> Bool {
        guard let path = options.historyPath else { return false }
        if s.outbox == nil {
            // The history's writer creates the file and its outbox; until then nothing waits.
            let name = options.cursorName
            guard let o = try? await pool.runIfActive({ try HistoryOutbox(path: path, reader: name) }) else { return false }
            s.outbox = o
            s.valuePosition = try await pool.runIfActive { try o.position() }
        }
        let outbox = s.outbox!, limit = options.batch, most = options.backlogMax
        var position = s.valuePosition ?? 0
        var pending = try await pool.runIfActive { try outbox.pending() }
        if pending > most {
            // Past this uplink's bound: the oldest values go (the history keeps them all).
            let skip = Int64(pending - most), through = position + skip
            try await pool.runIfActive { try outbox.confirm(through: through) }
            dropped(Int(skip))
            position += skip
            // A batch still unconfirmed is among what was just dropped.
            s.unconfirmedValues = nil
            pending = most
        }
        let rows: [OutboxRow]
        if let again = s.unconfirmedValues { rows = again } else { rows = try await pool.runIfActive { try outbox.next(limit: limit) } }
        counters.withLock { $0.backlogValues = pending }
        guard let first = rows.first, let last = rows.last else {
            s.valuePosition = position
            return false
        }
        // The outbox's own bound dropped points this reader had not sent.
        if first.id > position + 1 { dropped(Int(first.id - position - 1)) }
        let points = rows.map { r in
            UplinkPoint(tag: r.tag, value: r.value.isNaN ? nil : r.value, quality: r.quality, time: Instant(nanoseconds: r.time &* 1_000_000))
        }
        let text = format.values(points, at: .now, snapshot: false)
        s.unconfirmedValues = rows
        try await deliver([payload(kind: "values", text)], id: "values-\(outbox.historyID)-\(first.id)-\(last.id)")
        s.unconfirmedValues = nil
        try await pool.runIfActive { try outbox.confirm(through: last.id) }
        s.valuePosition = last.id
        counters.withLock { $0.backlogValues = max(0, pending - rows.count) }
        return rows.count == limit
    }

    func dropped(_ n: Int) {
        let total = counters.withLock { c -> Int in
            c.dropped += n
            return c.dropped
        }
        logger.error("uplink \(options.id): \(n) stored values dropped from its backlog (the platform has been away too long; the history keeps them)",
                     metadata: ["uplink": "\(options.id)", "dropped_total": "\(total)", "backlog_max": "\(options.backlogMax)"])
        onDropped(n, total)
    }

    func payload(kind: String, tag: String? = nil, _ text: String) throws -> UplinkPayload {
        guard let cipher else { return UplinkPayload(kind: kind, tag: tag, text: text, isJSON: true) }
        return UplinkPayload(kind: kind, tag: tag, text: try cipher.seal(text), isJSON: false)
    }

    /// Sends one batch, keeping the health watch informed.
    func deliver(_ batch: [UplinkPayload], id: String) async throws {
        health.withLock { h in if h.waitingSince == nil { h.waitingSince = .now } }
        try await transport.send(batch, id: id)
        let (wasDown, first) = health.withLock { h -> (Bool, Bool) in
            defer { h.waitingSince = nil; h.down = false; h.lastError = nil; h.confirmedOnce = true }
            return (h.down, !h.confirmedOnce)
        }
        if wasDown { logger.notice("uplink \(options.id): the platform takes records again", metadata: ["uplink": "\(options.id)"]) }
        if wasDown || first { onHealth(true, nil) }
    }

    /// Raises the comm alarm once something has waited `downAfter` without a confirmed delivery.
    func watchHealth() async {
        let alarmsWaiting = Gauge(label: "hazmon_uplink_backlog", dimensions: [("uplink", options.id), ("kind", "alarms")])
        let valuesWaiting = Gauge(label: "hazmon_uplink_backlog", dimensions: [("uplink", options.id), ("kind", "values")])
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let reason = health.withLock { h -> String? in
                guard !h.down, let since = h.waitingSince, ContinuousClock.now - since >= options.downAfter else { return nil }
                h.down = true
                return h.lastError ?? "nothing confirmed for \(DurationParser.format(options.downAfter))"
            }
            if let reason {
                logger.error("uplink \(options.id): the platform has taken nothing for \(DurationParser.format(options.downAfter)): \(reason)",
                             metadata: ["uplink": "\(options.id)"])
                onHealth(false, reason)
            }
            let f = figures
            alarmsWaiting.record(f.backlogAlarms)
            valuesWaiting.record(f.backlogValues)
        }
    }

    /// Waits for a commit's wake-up or the next due message, at most 250 ms (new stored values
    /// are looked for that often).
    func idle(until due: ContinuousClock.Instant) async {
        let wait = min(due - .now, .milliseconds(250))
        if wait > .zero { _ = await signal.wait(upTo: wait) }
    }
}
