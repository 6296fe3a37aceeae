import Foundation
import HazmonCore
import HazmonJournal
import Logging

/// Between the pipeline and the sinks: commits events to the journal, then hands them on.
///
/// Two threads of its own, never Swift's cooperative pool (SQLite blocks):
/// - the **writer** takes every batch queued since its last commit and commits them in one
///   transaction (group commit: one fsync for however many events arrived meanwhile);
/// - the **deliverer** hands batches to the sinks strictly in `seq` order, each once the
///   writer has committed it.
///
/// Annunciation never waits on a sick journal: if a commit fails, or has not finished within
/// `maxWait`, the deliverer sends the batch anyway with the flag `unjournaled`, and the
/// `journal` system alarm is raised through `onHealth`. Failed batches stay in a bounded
/// backlog the writer retries every second, so they reach the journal once it recovers (and
/// the alarm clears then).
public final class JournalWriter: @unchecked Sendable {
    struct Batch {
        var events: [AlarmEvent]
        var json: [String]
        var states: [AlarmStateChange]
        var queued: ContinuousClock.Instant
        var lastSeq: UInt64 { events.last?.seq ?? 0 }
    }

    let journal: Journal
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
    private var committedThrough: UInt64 = 0
    private var failedThrough: UInt64 = 0
    private var backlog: [Batch] = []
    private var backlogDropped = 0
    private var healthy = true
    private var stopping = false
    private var writerDone = false
    private var delivererDone = false
    private var lastError: String?
    private var commits = 0
    private var committedEvents = 0

    public init(journal: Journal, sinks: [EventSink], maxWait: Duration, backlogLimit: Int = 100_000, logger: Logger) {
        self.journal = journal
        self.sinks = sinks
        self.maxWait = maxWait
        self.backlogLimit = backlogLimit
        self.logger = logger
    }

    public func start() {
        let w = Thread { [self] in writerLoop() }
        w.name = "hazmon-journal"
        w.start()
        let d = Thread { [self] in delivererLoop() }
        d.name = "hazmon-deliver"
        d.start()
    }

    /// Queues numbered events (and the alarm states they leave) for commit and delivery. Called
    /// under the pipeline's lock, so batches arrive in `seq` order; it only appends.
    public func submit(_ events: [AlarmEvent], json: [String], states: [AlarmStateChange]) {
        let b = Batch(events: events, json: json, states: states, queued: .now)
        cond.lock()
        toWrite.append(b)
        toDeliver.append(b)
        cond.broadcast()
        cond.unlock()
    }

    /// Commits and delivers everything queued, then stops both threads (graceful shutdown).
    public func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        let deadline = Date().addingTimeInterval(5)
        while !(writerDone && delivererDone), cond.wait(until: deadline) {}
        cond.unlock()
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

            let entries = batches.flatMap { b in zip(b.events, b.json).map { JournalEntry($0, json: $1) } }
            let states = batches.flatMap(\.states)
            let result: JournalError?
            do { try journal.append(entries, states: states); result = nil } catch { result = error }

            cond.lock()
            let last = batches.last?.lastSeq ?? 0
            var change: (Bool, String?)?
            if let result {
                failedThrough = max(failedThrough, last)
                backlog = batches
                while backlog.count > 1, backlog.reduce(0, { $0 + $1.events.count }) > backlogLimit {
                    // Already delivered (flagged unjournaled); only the journal's copy is lost.
                    backlogDropped += backlog.removeFirst().events.count
                    logger.error("journal backlog full; oldest unjournaled events will not reach the journal",
                                 metadata: ["dropped_total": "\(backlogDropped)"])
                }
                if lastError != result.description { lastError = result.description; change = (false, result.description) }
                if healthy { healthy = false; change = (false, result.description) }
                if stopping { break }
            } else {
                committedThrough = max(committedThrough, last)
                commits += 1
                committedEvents += entries.count
                backlog = []
                lastError = nil
                if !healthy { healthy = true; change = (true, nil) }
            }
            cond.broadcast()
            if let change {
                cond.unlock()
                report(change.0, change.1)
                cond.lock()
            }
        }
        writerDone = true
        cond.broadcast()
        cond.unlock()
    }

    private func report(_ up: Bool, _ reason: String?) {
        if up {
            logger.notice("alarm journal recovered; events it missed are now committed")
        } else {
            logger.error("alarm journal failing; events are delivered unjournaled", metadata: ["reason": "\(reason ?? "")"])
        }
        onHealth?(up, reason)
    }

    // MARK: the deliverer

    private func delivererLoop() {
        cond.lock()
        while true {
            while deliverHead == toDeliver.count, !stopping { cond.wait() }
            if deliverHead == toDeliver.count { break }
            let b = toDeliver[deliverHead]
            let deadline = Date().addingTimeInterval(max(0, (maxWait - (ContinuousClock.now - b.queued)).secondsDouble))
            while committedThrough < b.lastSeq, failedThrough < b.lastSeq, !writerDone {
                if !cond.wait(until: deadline) { break }
            }
            let journaled = committedThrough >= b.lastSeq
            let timedOut = !journaled && failedThrough < b.lastSeq
            deliverHead += 1
            if deliverHead > 1024 {
                toDeliver.removeFirst(deliverHead)
                deliverHead = 0
            }
            var goingSick = false
            if timedOut, healthy {
                healthy = false
                lastError = "a commit has not finished within \(DurationParser.format(maxWait))"
                goingSick = true
            }
            let reason = lastError
            cond.unlock()
            if goingSick { report(false, reason) }
            deliver(b, journaled: journaled)
            cond.lock()
        }
        delivererDone = true
        cond.broadcast()
        cond.unlock()
    }

    private func deliver(_ b: Batch, journaled: Bool) {
        guard !journaled else {
            for sink in sinks { sink.deliver(b.events, json: b.json) }
            return
        }
        var events = b.events
        for i in events.indices { events[i].flags.append("unjournaled") }
        let json = events.map(\.jsonLine)
        for sink in sinks { sink.deliver(events, json: json) }
    }
}
