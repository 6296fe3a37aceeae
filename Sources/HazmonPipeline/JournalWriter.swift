import Foundation
import HazmonCore
import HazmonJournal
import Logging
import Synchronization

/// Between the pipeline and the sinks: commits events to the journal, then hands them on.
///
/// The decisions are `JournalWriterMachine`'s; this shell carries out its actions on threads of
/// its own, never Swift's cooperative pool (SQLite blocks):
/// - **hazmon-journal** runs the blocking I/O the machine asks for: a commit (a group of
///   batches in one transaction, joined by those submitted while the thread woke), a spill,
///   committing the spill file. After a commit it usually delivers the committed batches
///   itself, as one delivery: no further thread hop.
/// - **hazmon-jwatch** ticks the machine four times per `maxWait`, so batches whose commit hangs
///   on a sick disk are annunciated anyway (flagged `unjournaled`), and a failing journal is
///   retried every second; it also delivers what becomes due at submission (while the journal
///   fails), so the pipeline's lock never waits on a sink.
///   Between commits, while no batch waits, it also does the journal's upkeep that needs the
///   writer (`WriterUpkeep`): half a second after a commit it folds the alarm states the new
///   event rows carry into the `alarm` table, a piece of `Journal.foldPiece` rows at a time,
///   and it finishes a checkpoint the checkpoint thread asked it to. A batch submitted
///   meanwhile waits for one piece at most (2.2 ms at the median in a 2,000/s flood), never
///   for the whole fold.
/// - **hazmon-ckpt** twice a second after commits copies the WAL back into the database on a
///   connection of its own, never inside a commit; when the WAL is long (a flood) it asks the
///   journal thread to copy the last frames between two commits, so the WAL starts over.
public final class JournalWriter: EventOutlet, Sendable {
    let journal: Journal
    let spill: JournalSpill
    let sinks: [EventSink]
    let maxWait: Duration
    let logger: Logger
    let onCommit: (@Sendable (Duration) -> Void)?
    private let machine: Mutex<JournalWriterMachine>
    /// Called when the journal fails or recovers: (up, reason). Set once, before `start`.
    private let health = Mutex<(@Sendable (Bool, String?) -> Void)?>(nil)
    /// The blocking actions for the journal thread, and whether the threads should end.
    private let inbox = NSCondition()
    private nonisolated(unsafe) var work: [JournalWriterMachine.Action] = []
    private let ending = Atomic<Bool>(false)
    /// Deliveries for the watch thread (those that became due at submission), under `watch`.
    private let watch = NSCondition()
    private nonisolated(unsafe) var handedOver: [JournalWriterMachine.Action] = []
    private let finished = Mutex<[ClosedRange<UInt64>]?>(nil)
    /// Set by the checkpoint thread: the WAL is long, copy its last frames between commits.
    private let finishCheckpoint = Atomic<Bool>(false)
    private let threadsLeft = Atomic<Int>(0)

    public init(journal: Journal, spill: JournalSpill, sinks: [EventSink], maxWait: Duration, backlogLimit: Int = 100_000,
                onCommit: (@Sendable (Duration) -> Void)? = nil, logger: Logger) {
        self.journal = journal
        self.spill = spill
        self.sinks = sinks
        self.maxWait = maxWait
        self.logger = logger
        self.onCommit = onCommit
        self.machine = Mutex(JournalWriterMachine(maxWait: maxWait, backlogLimit: backlogLimit))
    }

    /// What to do when the journal fails or recovers (raise or clear its alarm).
    public func onHealth(_ report: @escaping @Sendable (Bool, String?) -> Void) {
        health.withLock { $0 = report }
    }

    public func start() {
        threadsLeft.store(3, ordering: .relaxed)
        NamedThread.start("hazmon-journal") { [self] in journalLoop(); threadsLeft.wrappingSubtract(1, ordering: .relaxed) }
        NamedThread.start("hazmon-jwatch") { [self] in watchLoop(); threadsLeft.wrappingSubtract(1, ordering: .relaxed) }
        NamedThread.start("hazmon-ckpt") { [self] in checkpointLoop(); threadsLeft.wrappingSubtract(1, ordering: .relaxed) }
    }

    /// Queues numbered events (and the alarm states they leave) for commit and delivery. Called
    /// under the pipeline's lock, so batches arrive in `seq` order; it only queues.
    public func submit(_ events: [AlarmEvent], json: [String], states: [AlarmStateChange]) {
        let batch = JournalBatch(events: events, json: json, states: states)
        perform(machine.withLock { $0.submitted(batch, now: .steadyNow) }, underPipelineLock: true)
    }

    /// Commits and delivers everything queued; what the journal cannot take goes to the spill
    /// file. Returns the seq ranges that reached neither (empty when nothing was lost).
    public func stop() -> [ClosedRange<UInt64>] {
        perform(machine.withLock { $0.stopRequested(now: .steadyNow) })
        let deadline = ContinuousClock.now + .seconds(5)
        while finished.withLock({ $0 }) == nil, ContinuousClock.now < deadline { usleep(5_000) }
        // A commit still hanging on a sick disk: what it holds is in neither place.
        let lost = finished.withLock { $0 } ?? machine.withLock { $0.unsavedRanges }
        inbox.lock()
        ending.store(true, ordering: .relaxed)
        inbox.broadcast()
        inbox.unlock()
        watch.lock()
        watch.broadcast()
        watch.unlock()
        while threadsLeft.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline + .seconds(1) { usleep(5_000) }
        _ = try? journal.foldAlarmStates()
        _ = try? journal.checkpoint()
        let (commits, events) = commitStats
        if lost.isEmpty {
            logger.info("journal closed", metadata: ["commits": "\(commits)", "events": "\(events)"])
        } else {
            logger.critical("journal closed with events in no journal and no spill file", metadata: [
                "lost_seq": "\(lost.map { "\($0.lowerBound)...\($0.upperBound)" }.joined(separator: ","))", "commits": "\(commits)"])
        }
        return lost
    }

    /// (commits, events committed): group commit shows as many events per commit under load.
    public var commitStats: (commits: Int, events: Int) {
        machine.withLock { ($0.commits, $0.committedEvents) }
    }

    // MARK: carrying out the machine's actions

    /// Carries out actions: blocking I/O goes to the journal thread; deliveries run here, or,
    /// `underPipelineLock`, on the watch thread. A worklist, not recursion: a delivery's
    /// follow-ups (more became due meanwhile) join the end of the list.
    private func perform(_ actions: [JournalWriterMachine.Action], underPipelineLock: Bool = false) {
        var work = actions[...]
        while let action = work.popFirst() {
            switch action {
            case .commit, .spill, .commitSpill:
                inbox.lock()
                self.work.append(action)
                inbox.signal()
                inbox.unlock()
            case .deliver where underPipelineLock:
                watch.lock()
                handedOver.append(action)
                watch.signal()
                watch.unlock()
            case .deliver(let batches):
                deliver(batches)
                work.append(contentsOf: machine.withLock { $0.deliveryFinished(now: .steadyNow) })
            case .health(let up, let reason):
                if up {
                    logger.notice("alarm journal recovered; events it missed are now committed")
                } else {
                    logger.error("alarm journal failing; events are delivered unjournaled", metadata: ["reason": "\(reason ?? "")"])
                }
                health.withLock { $0 }?(up, reason)
            case .log(let level, let message):
                logger.log(level: level == .warning ? .warning : level == .error ? .error : .critical, "\(message)")
            case .finished(let lost, let spilledThrough):
                if spilledThrough > 0 {
                    logger.error("the journal could not take every event; the rest are in the spill file and are committed at the next start",
                                 metadata: ["spill": "\(spill.path)", "through_seq": "\(spilledThrough)"])
                }
                finished.withLock { $0 = lost }
            }
        }
    }

    /// The blocking I/O, one action at a time, in the order the machine asked for it; while
    /// none waits, one step of upkeep at a time.
    private func journalLoop() {
        var upkeep = WriterUpkeep(foldAfter: .milliseconds(500))
        var upkeepFailing = false
        while true {
            inbox.lock()
            while work.isEmpty, !ending.load(ordering: .relaxed) {
                if finishCheckpoint.load(ordering: .relaxed) || upkeep.foldDue(at: .now) { break }
                if let due = upkeep.foldTime {
                    _ = inbox.wait(until: Date(timeIntervalSinceNow: Double((due - .now).nanosecondsClamped) / 1e9))
                } else {
                    inbox.wait()
                }
            }
            if work.isEmpty {
                inbox.unlock()
                if ending.load(ordering: .relaxed) { return }   // `stop` folds and checkpoints what is left
                do {
                    try upkeepStep(&upkeep)
                    if upkeepFailing { logger.notice("journal upkeep (alarm-state fold, checkpoint) works again") }
                    upkeepFailing = false
                } catch {
                    // The events are committed; only the alarm table (read at start, which folds
                    // what is left) and the WAL's length wait. Tried again half a second on.
                    if !upkeepFailing { logger.warning("journal upkeep failed (commits continue): \(error)") }
                    upkeepFailing = true
                    upkeep.failed(at: .now)
                }
                continue
            }
            let action = work.removeFirst()
            inbox.unlock()
            switch action {
            case .commit(var batches):
                batches += machine.withLock { $0.joinInFlight() }
                let started = onCommit == nil ? nil : ContinuousClock.now
                var failure: String?
                do { try journal.append(entries(batches), states: batches.flatMap(\.states)) } catch { failure = "\(error)" }
                if let onCommit, let started { onCommit(ContinuousClock.now - started) }
                if failure == nil { upkeep.committed(at: .now) }
                perform(machine.withLock { $0.commitFinished(error: failure, now: .steadyNow) })
            case .spill(let batches):
                var failure: String?
                do {
                    try spill.append(batches.map { b in
                        SpilledBatch(entries: b.events.indices.map { JournalEntry(b.events[$0], json: b.json[$0]) }, states: b.states)
                    })
                } catch { failure = "\(error)" }
                perform(machine.withLock { $0.spillFinished(error: failure, now: .steadyNow) })
            case .commitSpill:
                var failure: String?
                do {
                    try journal.importSpilled(spill.read().batches)
                    spill.remove()
                } catch { failure = "\(error)" }
                if failure == nil { upkeep.committed(at: .now) }
                perform(machine.withLock { $0.spillCommitted(error: failure, now: .steadyNow) })
            default:
                break
            }
        }
    }

    /// One step of the writer's upkeep: the checkpoint's last pass if it was asked for, else
    /// one piece of the alarm-state fold.
    private func upkeepStep(_ upkeep: inout WriterUpkeep) throws {
        if finishCheckpoint.exchange(false, ordering: .relaxed) {
            try journal.finishWALCopy()
        } else if try !journal.foldAlarmStates(piece: Journal.foldPiece) {
            upkeep.caughtUp()
        }
    }

    private func entries(_ batches: [JournalBatch]) -> [JournalEntry] {
        var out: [JournalEntry] = []
        out.reserveCapacity(batches.reduce(0) { $0 + $1.events.count })
        for b in batches { for i in b.events.indices { out.append(JournalEntry(b.events[i], json: b.json[i])) } }
        return out
    }

    /// Hands batches to the sinks in order, each run of them alike (journaled or not) as one
    /// delivery: a group commit of many small batches is one log write and one hand-off to the
    /// socket's event loop, not one per batch.
    private func deliver(_ batches: [(batch: JournalBatch, journaled: Bool)]) {
        var start = batches.startIndex
        while start < batches.endIndex {
            let journaled = batches[start].journaled
            let end = batches[start...].firstIndex { $0.journaled != journaled } ?? batches.endIndex
            var events = batches[start].batch.events
            var json = batches[start].batch.json
            for b in batches[start + 1 ..< end] {
                events.append(contentsOf: b.batch.events)
                json.append(contentsOf: b.batch.json)
            }
            if !journaled {
                for i in events.indices { events[i].flags.insert(.unjournaled) }
                json = events.map(\.jsonLine)
            }
            for sink in sinks { sink.deliver(events, json: json) }
            start = end
        }
    }

    private var isEnding: Bool { ending.load(ordering: .relaxed) }

    /// Four times per `maxWait` (at least every 5 ms apart): overdue batches and retries; and
    /// at once for deliveries handed over from `submit`.
    private func watchLoop() {
        let period = Double(max(5_000_000, maxWait.nanosecondsClamped / 4)) / 1e9
        var next = Date().addingTimeInterval(period)
        while !isEnding {
            watch.lock()
            while handedOver.isEmpty, !ending.load(ordering: .relaxed), watch.wait(until: next) {}
            let deliveries = handedOver
            handedOver = []
            watch.unlock()
            perform(deliveries)
            if Date() >= next {
                next = Date().addingTimeInterval(period)
                perform(machine.withLock { $0.timerFired(now: .steadyNow) })
            }
        }
    }

    /// Twice a second, if anything was committed since the last time, copies the WAL back into
    /// the database on a connection of its own; when the WAL is long, asks the journal thread
    /// to copy the last frames between two commits.
    private func checkpointLoop() {
        var failing = false
        var checkpointed = -1
        while !isEnding {
            usleep(500_000)
            let done = commitStats.commits
            if done == checkpointed, !failing { continue }
            checkpointed = done
            do {
                let pass = try journal.copyWAL()
                if pass.log > Journal.walRestartFrames {
                    inbox.lock()
                    finishCheckpoint.store(true, ordering: .relaxed)
                    inbox.signal()
                    inbox.unlock()
                }
                failing = false
            } catch {
                if !failing { logger.warning("journal checkpoint failed (commits continue in the WAL): \(error)") }
                failing = true
            }
        }
    }
}

/// When the journal thread folds: `foldAfter` after the first commit not yet folded, then one
/// piece per moment no batch waits, until the fold has caught up.
struct WriterUpkeep {
    let foldAfter: Duration
    /// The first commit since the fold last caught up (nil: nothing to fold).
    private(set) var unfoldedSince: ContinuousClock.Instant?

    init(foldAfter: Duration) { self.foldAfter = foldAfter }

    var foldTime: ContinuousClock.Instant? { unfoldedSince.map { $0 + foldAfter } }

    func foldDue(at now: ContinuousClock.Instant) -> Bool { foldTime.map { now >= $0 } ?? false }

    mutating func committed(at now: ContinuousClock.Instant) {
        if unfoldedSince == nil { unfoldedSince = now }
    }

    /// The last piece left nothing to fold (the thread that commits is the one that folds, so
    /// no commit came in between).
    mutating func caughtUp() { unfoldedSince = nil }

    /// The fold or the checkpoint failed: try again `foldAfter` from now.
    mutating func failed(at now: ContinuousClock.Instant) { unfoldedSince = now }
}
