import Foundation
import HazmonCore
import HazmonFeed
import HazmonJournal
import Logging
import Metrics

/// Between the pipeline and the sinks: commits events to the journal, then hands them on.
///
/// Threads of its own, never Swift's cooperative pool (SQLite blocks):
/// - the **writer** takes every batch queued since its last commit and commits them in one
///   transaction (group commit: one fsync for however many events arrived meanwhile), then
///   hands the committed batches to the sinks itself, strictly in `seq` order;
/// - the **watchdog** looks four times per `maxWait` for a batch still waiting past its
///   deadline (a commit that hangs on a sick disk).
///
/// Annunciation never waits on a sick journal: if a commit fails, or has not finished within
/// `maxWait`, the batch is delivered anyway with the flag `unjournaled`, and the `journal`
/// system alarm is raised through `onHealth`. Failed batches stay in a bounded backlog the
/// writer retries every second, so they reach the journal once it recovers (and the alarm
/// clears then). Every failed attempt also appends what is new in the backlog to the spill file
/// (on another filesystem), so neither a backlog overflow nor a shutdown loses them: the next
/// start commits the spill file. Only events in neither place are lost, and `stop()` names them.
public final class JournalWriter: @unchecked Sendable {
    struct Batch {
        var events: [AlarmEvent]
        var json: [String]
        var states: [AlarmStateChange]
        var deadline: ContinuousClock.Instant
        var lastSeq: UInt64 { events.last?.seq ?? 0 }
    }

    let journal: Journal
    let spill: JournalSpill
    let sinks: [EventSink]
    let maxWait: Duration
    let backlogLimit: Int
    let logger: Logger
    /// Called (outside every lock) when the journal fails or recovers: (healthy, reason).
    var onHealth: (@Sendable (Bool, String?) -> Void)?

    // Everything below is guarded by `cond`.
    private let cond = NSCondition()
    private var toWrite: [Batch] = []
    private var toDeliver: [Batch] = []
    private var deliverHead = 0
    /// One thread delivers at a time, so sinks see batches in order; another finding it busy
    /// asks it for one more pass instead.
    private var delivering = false
    private var anotherPass = false
    private var committedThrough: UInt64 = 0
    private var failedThrough: UInt64 = 0
    private var backlog: [Batch] = []
    /// Every batch through this seq is in the spill file (0: the file is empty or absent).
    private var spilledThrough: UInt64 = 0
    /// Events in no journal and no spill file: reported at stop as an error.
    private var lost: [ClosedRange<UInt64>] = []
    private var healthy = true
    private var stopping = false
    private var running = 0
    private var lastError: String?
    private var commits = 0
    private var committedEvents = 0

    let commitTimer: Metrics.Timer?
    let problems: RateLimitedLog

    public init(journal: Journal, spill: JournalSpill, sinks: [EventSink], maxWait: Duration, backlogLimit: Int = 100_000,
                commitTimer: Metrics.Timer? = nil, logger: Logger) {
        self.commitTimer = commitTimer
        self.journal = journal
        self.spill = spill
        self.problems = RateLimitedLog(logger: logger)
        self.sinks = sinks
        self.maxWait = maxWait
        self.backlogLimit = backlogLimit
        self.logger = logger
    }

    public func start() {
        cond.lock()
        running = 3
        cond.unlock()
        for (name, body) in [("hazmon-journal", writerLoop), ("hazmon-jwatch", watchdogLoop), ("hazmon-ckpt", checkpointLoop)] {
            let t = Thread {
                // Named from inside: Linux threads otherwise inherit their creator's name.
                Thread.current.name = name
                body()
            }
            t.start()
        }
    }

    /// Queues numbered events (and the alarm states they leave) for commit and delivery. Called
    /// under the pipeline's lock, so batches arrive in `seq` order; it only appends.
    public func submit(_ events: [AlarmEvent], json: [String], states: [AlarmStateChange]) {
        let b = Batch(events: events, json: json, states: states, deadline: .now + maxWait)
        cond.lock()
        toWrite.append(b)
        toDeliver.append(b)
        cond.signal()
        cond.unlock()
    }

    /// Commits and delivers everything queued, then stops the threads (graceful shutdown).
    /// What the journal still could not take goes to the spill file. Returns the seq ranges
    /// that reached neither (empty when nothing was lost).
    public func stop() -> [ClosedRange<UInt64>] {
        cond.lock()
        stopping = true
        cond.broadcast()
        let deadline = Date().addingTimeInterval(5)
        while running > 0, cond.wait(until: deadline) {}
        cond.unlock()
        spillBacklog()
        cond.lock()
        // Whatever is still neither committed nor spilled: in flight when the wait gave up, or
        // the spill failed.
        let unsaved = (backlog + toWrite).filter { $0.lastSeq > spilledThrough && $0.lastSeq > committedThrough }
        let lostNow = lost + unsaved.compactMap { b in b.events.first.map { $0.seq...b.lastSeq } }
        let (c, e) = (commits, committedEvents)
        let spilled = spilledThrough
        cond.unlock()
        if lostNow.isEmpty {
            logger.info("journal closed", metadata: ["commits": "\(c)", "events": "\(e)"])
        } else {
            logger.critical("journal closed with events in no journal and no spill file", metadata: [
                "lost_seq": "\(lostNow.map { "\($0.lowerBound)...\($0.upperBound)" }.joined(separator: ","))", "commits": "\(c)"])
        }
        if spilled > 0 {
            logger.error("the journal could not take every event; the rest are in the spill file and are committed at the next start",
                         metadata: ["spill": "\(spill.path)", "through_seq": "\(spilled)"])
        }
        return lostNow
    }

    /// (commits, events committed): group commit shows as many events per commit under load.
    public var commitStats: (commits: Int, events: Int) {
        cond.lock(); defer { cond.unlock() }
        return (commits, committedEvents)
    }

    // MARK: the writer

    private func writerLoop() {
        cond.lock()
        while true {
            while toWrite.isEmpty, backlog.isEmpty, !stopping { cond.wait() }
            if !backlog.isEmpty, toWrite.isEmpty, !stopping {
                // Failing: retry once a second even when nothing new arrives.
                _ = cond.wait(until: Date().addingTimeInterval(1))
            }
            if toWrite.isEmpty, backlog.isEmpty, stopping { break }
            let batches = backlog + toWrite
            toWrite.removeAll(keepingCapacity: true)
            cond.unlock()

            var entries: [JournalEntry] = []
            entries.reserveCapacity(batches.reduce(0) { $0 + $1.events.count })
            for b in batches { for i in b.events.indices { entries.append(JournalEntry(b.events[i], json: b.json[i])) } }
            let states = batches.flatMap(\.states)
            let result: JournalError?
            let started = commitTimer == nil ? nil : ContinuousClock.now
            do { try journal.append(entries, states: states); result = nil } catch { result = error }
            if let commitTimer, let started { commitTimer.recordNanoseconds((ContinuousClock.now - started).nanosecondsClamped) }

            cond.lock()
            let last = batches.last?.lastSeq ?? 0
            var change: (Bool, String?)?
            var recovered = false
            if let result {
                failedThrough = max(failedThrough, last)
                backlog = batches
                // Said once when the journal starts failing; while it keeps failing (each retry,
                // with a growing count in SQLite's words) only at most once per interval.
                if healthy { change = (false, result.description) }
                lastError = result.description
                healthy = false
            } else {
                committedThrough = max(committedThrough, last)
                commits += 1
                committedEvents += entries.count
                backlog = []
                lastError = nil
                recovered = spilledThrough > 0
                if !healthy { healthy = true; change = (true, nil) }
            }
            cond.unlock()
            if let change { report(change.0, change.1) }
            if change == nil, let result {
                problems.log(.warning, key: "still-failing", "alarm journal still failing; retrying",
                             metadata: ["reason": "\(result)", "backlog_events": "\(entries.count)"])
            }
            if result != nil {
                spillBacklog()
                trimBacklog()
            } else if recovered {
                commitSpilled()
            }
            deliverDue()
            cond.lock()
            if result != nil, stopping { break }
        }
        cond.unlock()
        deliverDue(all: true)
        cond.lock()
        running -= 1
        cond.broadcast()
        cond.unlock()
    }

    /// Appends the backlog's batches not yet in the spill file to it.
    private func spillBacklog() {
        cond.lock()
        let fresh = backlog.filter { $0.lastSeq > spilledThrough }
        cond.unlock()
        guard let through = fresh.last?.lastSeq else { return }
        do {
            try spill.append(fresh.map { b in
                SpilledBatch(entries: b.events.indices.map { JournalEntry(b.events[$0], json: b.json[$0]) }, states: b.states)
            })
            cond.lock()
            spilledThrough = max(spilledThrough, through)
            cond.unlock()
        } catch {
            problems.log(.error, key: "spill", "cannot spill unjournaled events either; they are only in memory",
                         metadata: ["reason": "\(error)"])
        }
    }

    /// Keeps the backlog within its bound: the oldest batches go, and are lost only if the
    /// spill file does not hold them.
    private func trimBacklog() {
        cond.lock()
        var dropped: [ClosedRange<UInt64>] = []
        while backlog.count > 1, backlog.reduce(0, { $0 + $1.events.count }) > backlogLimit {
            let b = backlog.removeFirst()
            if b.lastSeq > spilledThrough, let first = b.events.first { dropped.append(first.seq...b.lastSeq) }
        }
        lost += dropped
        cond.unlock()
        if let range = dropped.first {
            problems.log(.critical, key: "lost", "journal backlog full and the spill file failing: events are in no journal",
                         metadata: ["lost_seq_from": "\(range.lowerBound)", "lost_seq_to": "\(dropped.last!.upperBound)"])
        }
    }

    /// After a recovery: the spill file may hold batches the backlog dropped; commit those too
    /// (batches already committed are skipped), then remove it.
    private func commitSpilled() {
        do {
            let (batches, _) = try spill.read()
            try journal.importSpilled(batches)
            spill.remove()
            cond.lock()
            spilledThrough = 0
            cond.unlock()
        } catch {
            problems.log(.error, key: "spill-import", "cannot commit the spill file yet; it is kept for the next start",
                         metadata: ["reason": "\(error)"])
        }
    }

    private func report(_ up: Bool, _ reason: String?) {
        if up {
            logger.notice("alarm journal recovered; events it missed are now committed")
        } else {
            logger.error("alarm journal failing; events are delivered unjournaled", metadata: ["reason": "\(reason ?? "")"])
        }
        onHealth?(up, reason)
    }

    // MARK: delivery

    /// Delivers, in order, every batch at the head of the queue that is committed, failed or
    /// overdue (`all`: everything left, at shutdown). Whichever thread finds the queue free
    /// delivers; the other returns at once.
    private func deliverDue(all: Bool = false) {
        cond.lock()
        defer { cond.unlock() }
        guard !delivering else { anotherPass = true; return }
        delivering = true
        defer { delivering = false }
        var now = ContinuousClock.now
        while true {
            if deliverHead == toDeliver.count || !isDue(toDeliver[deliverHead], now: now, all: all) {
                guard anotherPass else { break }
                anotherPass = false
                now = .now
                continue
            }
            let b = toDeliver[deliverHead]
            let journaled = committedThrough >= b.lastSeq
            let overdue = !journaled && failedThrough < b.lastSeq && now >= b.deadline
            deliverHead += 1
            if deliverHead > 1024 {
                toDeliver.removeFirst(deliverHead)
                deliverHead = 0
            }
            var goingSick: String?
            if overdue, healthy {
                healthy = false
                lastError = "a commit has not finished within \(DurationParser.format(maxWait))"
                goingSick = lastError
            }
            cond.unlock()
            if let goingSick { report(false, goingSick) }
            deliver(b, journaled: journaled)
            cond.lock()
        }
    }

    /// Whether a batch may go to the sinks now: committed, failed, overdue, or shutting down.
    private func isDue(_ b: Batch, now: ContinuousClock.Instant, all: Bool) -> Bool {
        all || committedThrough >= b.lastSeq || failedThrough >= b.lastSeq || now >= b.deadline
    }

    private func deliver(_ b: Batch, journaled: Bool) {
        guard !journaled else {
            for sink in sinks { sink.deliver(b.events, json: b.json) }
            return
        }
        var events = b.events
        for i in events.indices { events[i].flags.insert(.unjournaled) }
        let json = events.map(\.jsonLine)
        for sink in sinks { sink.deliver(events, json: json) }
    }

    // MARK: checkpoints

    /// Twice a second, if anything was committed since the last time, copies the WAL back into
    /// the database on a connection of its own.
    private func checkpointLoop() {
        var failing = false
        var checkpointed = -1
        cond.lock()
        while !stopping {
            let done = commits
            cond.unlock()
            usleep(500_000)
            if done == checkpointed, !failing {
                cond.lock()
                continue
            }
            checkpointed = done
            do {
                try journal.checkpoint()
                failing = false
            } catch {
                if !failing { logger.warning("journal checkpoint failed (commits continue in the WAL): \(error)") }
                failing = true
            }
            cond.lock()
        }
        cond.unlock()
        try? journal.checkpoint()
        cond.lock()
        running -= 1
        cond.broadcast()
        cond.unlock()
    }

    // MARK: the watchdog

    /// Wakes four times per `maxWait` and delivers batches whose commit is overdue. It sleeps
    /// rather than waiting on the condition, so it never wakes per event, and the writer is the
    /// only thread a new batch signals.
    private func watchdogLoop() {
        let period = useconds_t(max(5_000, maxWait.nanosecondsClamped / 4_000))
        cond.lock()
        while !stopping {
            cond.unlock()
            usleep(period)
            cond.lock()
            guard !stopping else { break }
            let overdue = deliverHead < toDeliver.count && ContinuousClock.now >= toDeliver[deliverHead].deadline
            if overdue {
                cond.unlock()
                deliverDue()
                cond.lock()
            }
        }
        running -= 1
        cond.broadcast()
        cond.unlock()
    }
}
