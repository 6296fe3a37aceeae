import HazmonCore
import HazmonJournal

/// Numbered events from one pipeline call, with the alarm states they leave: what is committed
/// in one piece and delivered in one piece.
public struct JournalBatch: Sendable {
    public var events: [AlarmEvent]
    public var json: [String]
    public var states: [AlarmStateChange]

    public init(events: [AlarmEvent], json: [String], states: [AlarmStateChange]) {
        self.events = events
        self.json = json
        self.states = states
    }

    var firstSeq: UInt64 { events.first?.seq ?? 0 }
    var lastSeq: UInt64 { events.last?.seq ?? 0 }
}

/// The journal writer's decisions, as a value type: events in (a batch submitted, a commit or
/// spill finished, a delivery done, the timer, stop), actions out (commit these, deliver those,
/// spill, report health, log). No threads, no clock, no I/O: `JournalWriter` carries the
/// actions out, and the tests drive it with a fake clock, one event at a time.
///
/// The rules:
/// - **Group commit.** One commit at a time; everything submitted meanwhile goes in the next.
/// - **Journal before delivery, in order.** A batch is delivered once committed, or flagged
///   `unjournaled` once its commit failed or `maxWait` passed; always in `seq` order, by one
///   deliverer at a time (`deliveryFinished` hands out what became due meanwhile).
/// - **Failing.** A failed commit reports the journal down (once; then "still failing" at most
///   once per `stillFailingEvery`); its batches, and those waiting for the next commit, are
///   spilled and kept in a bounded backlog in seq order, retried every `retryEvery`; new
///   batches are delivered unjournaled at once and join the backlog. Each batch is spilled
///   once. A successful retry reports the journal up and commits the spill file; a batch the
///   backlog let go of stays flagged however the commits around it end. While the spill file
///   holds such batches, the retry is the file's import: events are committed in seq order,
///   which the journal's cursor readers rely on.
/// - **Stop.** The last commit is awaited, one more attempt is made for what is left; what still
///   failed is spilled, everything is delivered, and `finished` names what reached neither.
struct JournalWriterMachine {
    enum Status { case waiting, committed, failed }

    struct Entry {
        var batch: JournalBatch
        var deadline: Instant
        var status: Status
    }

    enum LogLevel: Equatable { case warning, error, critical }

    enum Action {
        /// Commit these batches in one transaction, then call `commitFinished`.
        case commit([JournalBatch])
        /// Hand these to the sinks, in order (`journaled` false: flag them), then call `deliveryFinished`.
        case deliver([(batch: JournalBatch, journaled: Bool)])
        /// Append these to the spill file, then call `spillFinished`.
        case spill([JournalBatch])
        /// Commit the spill file's batches and remove it, then call `spillCommitted`.
        case commitSpill
        /// The journal went down (with why) or came back: log it, raise or clear its alarm.
        case health(up: Bool, reason: String?)
        case log(LogLevel, String)
        /// Stopped: these seq ranges are in no journal and no spill file; the spill file holds
        /// batches through `spilledThrough` (0: none) for the next start.
        case finished(lost: [ClosedRange<UInt64>], spilledThrough: UInt64)
    }

    let maxWait: Duration
    let backlogLimit: Int
    let retryEvery: Duration
    let stillFailingEvery: Duration

    /// Submitted and not yet delivered, in seq order, from `head`.
    private var queue: [Entry] = []
    private var head = 0
    /// Submitted, not yet in a commit.
    private var toCommit: [JournalBatch] = []
    /// Failed and to be retried (bounded by `backlogLimit` events).
    private var backlog: [JournalBatch] = []
    /// The batches of the commit in flight, if any.
    private var inFlight: [JournalBatch]?
    private var delivering = false
    private(set) var healthy = true
    private var lastAttempt = Instant.distantPast
    private var lastStillFailing = Instant.distantPast
    /// Every batch through this seq is in the spill file (0: none is).
    private var spilledThrough: UInt64 = 0
    /// A spill in progress, through this seq (0: none).
    private var spillingThrough: UInt64 = 0
    private var spilling: Bool { spillingThrough > 0 }
    /// Dropped from the backlog while their spill was still being written: lost if it fails.
    private var droppedWhileSpilling: [ClosedRange<UInt64>] = []
    /// The spill file holds batches the backlog let go of. They are older than everything in
    /// the backlog, and the journal is read by cursors over seq (uplinks, notifications, MQTT
    /// out), so the retry imports the file before it commits anything newer.
    private var spillOnly = false
    /// The spill file's import is in flight as the retry (`commitSpill` while failing).
    private var importing = false
    private var lost: [ClosedRange<UInt64>] = []
    private var stopping = false
    private var finalAttemptMade = false
    private var spillTried = false
    private var done = false
    private(set) var commits = 0
    private(set) var committedEvents = 0

    init(maxWait: Duration, backlogLimit: Int = 100_000, retryEvery: Duration = .seconds(1),
         stillFailingEvery: Duration = .seconds(10)) {
        self.maxWait = maxWait
        self.backlogLimit = backlogLimit
        self.retryEvery = retryEvery
        self.stillFailingEvery = stillFailingEvery
    }

    /// What is neither committed nor spilled right now, with what was lost already: what a
    /// stop that could not finish (a commit hanging past its wait) must report.
    var unsavedRanges: [ClosedRange<UInt64>] {
        let pending = (inFlight ?? []) + backlog + toCommit
        return lost + pending.filter { $0.lastSeq > spilledThrough }.map { $0.firstSeq...$0.lastSeq }
    }

    // MARK: events in

    mutating func submitted(_ b: JournalBatch, now: Instant) -> [Action] {
        if healthy {
            queue.append(Entry(batch: b, deadline: now + maxWait, status: .waiting))
            toCommit.append(b)
        } else {
            // A commit now would only fail again: annunciate at once, retry on the timer.
            queue.append(Entry(batch: b, deadline: now, status: .failed))
            backlog.append(b)
        }
        return startCommit(now: now) + startDelivery(now: now)
    }

    mutating func commitFinished(error: String?, now: Instant) -> [Action] {
        let batches = inFlight ?? []
        inFlight = nil
        var actions: [Action] = []
        if let error {
            // Everything not committed is failed now, the batches that waited for the next
            // commit too: they are annunciated, retried and spilled with the rest, in seq order
            // (the spill mark says every batch through it is in the file).
            backlog = Self.inSeqOrder(batches + backlog + toCommit)
            toCommit = []
            mark(through: backlog.last?.lastSeq ?? 0, .failed)
            if healthy {
                healthy = false
                lastStillFailing = now
                actions.append(.health(up: false, reason: error))
            } else if now - lastStillFailing >= stillFailingEvery {
                lastStillFailing = now
                actions.append(.log(.warning, "alarm journal still failing; retrying every \(DurationParser.format(retryEvery)): \(error)"))
            }
            actions += startSpill()
            actions += trimBacklog()
        } else {
            markCommitted(batches)
            commits += 1
            committedEvents += batches.reduce(0) { $0 + $1.events.count }
            if !healthy {
                healthy = true
                actions.append(.health(up: true, reason: nil))
            }
            if spilledThrough > 0 && !spilling { actions.append(.commitSpill) }
        }
        actions += startDelivery(now: now)
        actions += startCommit(now: now)
        return actions + finishIfDone(now: now)
    }

    /// Batches submitted since the commit in flight was handed out, joined to it: the journal
    /// thread asks just before it writes, so a burst that arrives while the thread wakes goes
    /// into one transaction (one fsync), not two. Empty when no commit is in flight.
    mutating func joinInFlight() -> [JournalBatch] {
        guard inFlight != nil, !toCommit.isEmpty else { return [] }
        let more = toCommit
        toCommit = []
        inFlight! += more
        return more
    }

    mutating func deliveryFinished(now: Instant) -> [Action] {
        delivering = false
        return startDelivery(now: now) + finishIfDone(now: now)
    }

    mutating func spillFinished(error: String?, now: Instant) -> [Action] {
        var actions: [Action] = []
        if let error {
            actions.append(.log(.error, "cannot spill unjournaled events either; they are only in memory: \(error)"))
            if let first = droppedWhileSpilling.first, let last = droppedWhileSpilling.last {
                lost += droppedWhileSpilling
                actions.append(.log(.critical, "journal backlog full and the spill file failing: seq \(first.lowerBound)...\(last.upperBound) are in no journal"))
            }
        } else {
            spilledThrough = max(spilledThrough, spillingThrough)
            if !droppedWhileSpilling.isEmpty { spillOnly = true }
        }
        spillingThrough = 0
        droppedWhileSpilling = []
        return actions + startCommit(now: now) + finishIfDone(now: now)
    }

    mutating func spillCommitted(error: String?, now: Instant) -> [Action] {
        let asRetry = importing
        importing = false
        var actions: [Action] = []
        if let error {
            if !asRetry {
                return [.log(.error, "cannot commit the spill file yet; it is kept for the next start: \(error)")]
            }
            // The retry failed: as a failed commit, but nothing new to spill.
            if stopping { finalAttemptMade = true }
            if now - lastStillFailing >= stillFailingEvery {
                lastStillFailing = now
                actions.append(.log(.warning, "alarm journal still failing; retrying every \(DurationParser.format(retryEvery)): \(error)"))
            }
            return actions + finishIfDone(now: now)
        }
        if asRetry {
            // The file held every backlog batch through `spilledThrough` too: those are
            // committed now; what is newer follows in the next commit, after them.
            let imported = backlog.prefix { $0.lastSeq <= spilledThrough }
            backlog.removeFirst(imported.count)
            markCommitted(Array(imported))
            commits += 1
            committedEvents += imported.reduce(0) { $0 + $1.events.count }
            spillOnly = false
            if !healthy {
                healthy = true
                actions.append(.health(up: true, reason: nil))
            }
        }
        spilledThrough = 0
        return actions + startDelivery(now: now) + startCommit(now: now) + finishIfDone(now: now)
    }

    /// Four times per `maxWait`: overdue batches, and the retry while failing.
    mutating func timerFired(now: Instant) -> [Action] {
        var actions: [Action] = []
        if healthy, head < queue.count, queue[head].status == .waiting, now >= queue[head].deadline {
            healthy = false
            lastStillFailing = now
            actions.append(.health(up: false, reason: "a commit has not finished within \(DurationParser.format(maxWait))"))
        }
        return actions + startDelivery(now: now) + startCommit(now: now)
    }

    mutating func stopRequested(now: Instant) -> [Action] {
        stopping = true
        return startCommit(now: now) + finishIfDone(now: now)
    }

    // MARK: decisions

    private mutating func mark(through seq: UInt64, _ status: Status) {
        var i = head
        while i < queue.count, queue[i].batch.lastSeq <= seq {
            if queue[i].status != .committed { queue[i].status = status }
            i += 1
        }
    }

    /// Marks the batches of a commit (in seq order) committed, and only those: a batch the
    /// bounded backlog let go of lies among them in `queue`, in no journal, and is still
    /// delivered flagged.
    private mutating func markCommitted(_ batches: [JournalBatch]) {
        var i = head
        for b in batches {
            while i < queue.count, queue[i].batch.firstSeq < b.firstSeq { i += 1 }
            guard i < queue.count else { return }
            if queue[i].batch.firstSeq == b.firstSeq { queue[i].status = .committed }
        }
    }

    /// Batches in seq order: the backlog and the batches waiting for a commit are each in
    /// order, but either can be the older (a commit past `maxWait` makes the journal sick while
    /// batches wait behind it).
    private static func inSeqOrder(_ batches: [JournalBatch]) -> [JournalBatch] {
        guard zip(batches, batches.dropFirst()).contains(where: { $0.firstSeq > $1.firstSeq }) else { return batches }
        return batches.sorted { $0.firstSeq < $1.firstSeq }
    }

    /// A commit of everything waiting, if none is in flight and one is due: at once while
    /// healthy, every `retryEvery` while failing, and one last time at stop.
    ///
    /// While the spill file holds batches the backlog let go of, the attempt is the file's
    /// import instead (none while a spill that holds such batches is still being written):
    /// events are committed in seq order, never one below an event committed before it.
    private mutating func startCommit(now: Instant) -> [Action] {
        guard inFlight == nil, !importing, droppedWhileSpilling.isEmpty,
              !(toCommit.isEmpty && backlog.isEmpty) || spillOnly else { return [] }
        if stopping {
            guard !finalAttemptMade else { return [] }
            if !spillOnly { finalAttemptMade = !healthy }
        } else if !healthy, !backlog.isEmpty || spillOnly, now - lastAttempt < retryEvery {
            return []
        }
        if spillOnly {
            guard !spilling else { return [] }
            importing = true
            lastAttempt = now
            return [.commitSpill]
        }
        let batches = Self.inSeqOrder(backlog + toCommit)
        backlog = []
        toCommit = []
        inFlight = batches
        lastAttempt = now
        return [.commit(batches)]
    }

    private mutating func startDelivery(now: Instant) -> [Action] {
        guard !delivering else { return [] }
        var due: [(batch: JournalBatch, journaled: Bool)] = []
        let flushAll = stopping && inFlight == nil && !importing && (finalAttemptMade || (toCommit.isEmpty && backlog.isEmpty))
        while head < queue.count {
            let e = queue[head]
            guard e.status != .waiting || now >= e.deadline || flushAll else { break }
            due.append((e.batch, e.status == .committed))
            head += 1
        }
        if head > 1024 {
            queue.removeFirst(head)
            head = 0
        }
        guard !due.isEmpty else { return [] }
        delivering = true
        return [.deliver(due)]
    }

    private mutating func startSpill() -> [Action] {
        guard !spilling else { return [] }
        let fresh = backlog.filter { $0.lastSeq > spilledThrough }
        guard let through = fresh.last?.lastSeq else { return [] }
        spillingThrough = through
        return [.spill(fresh)]
    }

    /// Keeps the backlog within its bound: the oldest batches go, lost unless already spilled.
    private mutating func trimBacklog() -> [Action] {
        var dropped: [ClosedRange<UInt64>] = []
        var count = backlog.reduce(0) { $0 + $1.events.count }
        while backlog.count > 1, count > backlogLimit {
            let b = backlog.removeFirst()
            count -= b.events.count
            if b.lastSeq <= spilledThrough {
                spillOnly = true
                continue
            }
            if b.lastSeq <= spillingThrough {
                droppedWhileSpilling.append(b.firstSeq...b.lastSeq)
            } else {
                dropped.append(b.firstSeq...b.lastSeq)
            }
        }
        guard let first = dropped.first, let last = dropped.last else { return [] }
        lost += dropped
        return [.log(.critical, "journal backlog full and the spill file failing: seq \(first.lowerBound)...\(last.upperBound) are in no journal")]
    }

    /// At stop, once nothing is in flight: spill what is still uncommitted, deliver everything,
    /// and say what was lost.
    private mutating func finishIfDone(now: Instant) -> [Action] {
        guard stopping, !done, inFlight == nil, !importing, !spilling, !delivering else { return [] }
        guard toCommit.isEmpty && backlog.isEmpty || finalAttemptMade else { return [] }
        let unsaved = Self.inSeqOrder(backlog + toCommit).filter { $0.lastSeq > spilledThrough }
        if !unsaved.isEmpty, !spillTried {
            spillTried = true
            backlog = unsaved
            toCommit = []
            return startSpill()
        }
        let delivery = startDelivery(now: now)
        guard delivery.isEmpty else { return delivery }
        done = true
        let unspilled = (backlog + toCommit).filter { $0.lastSeq > spilledThrough }.map { $0.firstSeq...$0.lastSeq }
        return [.finished(lost: lost + unspilled, spilledThrough: spilledThrough)]
    }
}
