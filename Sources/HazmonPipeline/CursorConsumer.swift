import HazmonCore
import HazmonJournal
import Logging
import Synchronization

/// Where a cursor consumer hands its events: MQTT out today, uplinks and notification channels
/// next.
public protocol CursorDelivery: Sendable {
    /// Delivers journaled events in `seq` order and returns once the receiver has confirmed
    /// every one of them. Throws if it could not: the consumer backs off and offers the same
    /// events again (at least once; never out of order, never skipping one).
    func deliver(_ events: [JournalEntry]) async throws
}

/// A consumer that must not miss an event, reading the journal as a cursor over `seq`: its
/// position is stored in the journal under its name and advanced only after the receiver
/// confirmed, so neither a receiver that is away for hours nor a restart (clean, or SIGKILL
/// mid-delivery) loses an event; a restart offers at most the unconfirmed batch again.
///
/// It reads what is committed, in batches, woken by each commit (`wake`, from a sink) or once
/// a second; failures back off from 1 s to 30 s. A consumer without a cursor yet starts at the
/// journal's end: enabling an output does not replay the whole history into it.
public final class CursorConsumer: Sendable {
    public let name: String
    let journal: Journal
    let delivery: CursorDelivery
    let batchSize: Int
    let logger: Logger
    private let signal = WakeSignal()
    private let position = Atomic<UInt64>(0)

    public init(name: String, journal: Journal, delivery: CursorDelivery, batchSize: Int = 500, logger: Logger) {
        self.name = name
        self.journal = journal
        self.delivery = delivery
        self.batchSize = batchSize
        self.logger = logger
    }

    /// New events were committed: look now rather than at the next poll.
    public func wake() { signal.fire() }

    /// The seq confirmed so far (for metrics and tests).
    public var confirmedThrough: UInt64 { position.load(ordering: .relaxed) }

    /// Runs until the task is cancelled.
    public func run() async {
        let journal = self.journal, name = self.name, batchSize = self.batchSize
        var cursor: UInt64
        while true {
            do {
                cursor = try await NamedThread.run("hazmon-cursor") { Result { () throws(JournalError) in try journal.cursorOrEnd(name) } }.get()
                break
            } catch {
                logger.error("cursor \(name): cannot read its position; retrying", metadata: ["reason": "\(error)"])
                guard await pause(.seconds(5)) else { return }
            }
        }
        position.store(cursor, ordering: .relaxed)
        var backoff = Duration.seconds(1)
        while !Task.isCancelled {
            let from = cursor
            let batch: [JournalEntry]
            do {
                batch = try await NamedThread.run("hazmon-cursor") { Result { () throws(JournalError) in try journal.entries(after: from, limit: batchSize) } }.get()
            } catch {
                logger.error("cursor \(name): cannot read the journal", metadata: ["reason": "\(error)"])
                guard await pause(backoff) else { return }
                continue
            }
            guard let last = batch.last?.seq else {
                guard await signal.wait(upTo: .seconds(1)) else { return }
                continue
            }
            do {
                try await delivery.deliver(batch)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("cursor \(name): delivery failed; offering the same events again",
                               metadata: ["reason": "\(error)", "from_seq": "\(from + 1)", "backoff": "\(backoff)"])
                guard await pause(backoff) else { return }
                backoff = min(backoff * 2, .seconds(30))
                continue
            }
            backoff = .seconds(1)
            do {
                try await NamedThread.run("hazmon-cursor") { Result { () throws(JournalError) in try journal.advanceCursor(name, to: last) } }.get()
            } catch {
                // Delivered but not recorded: offered again after a restart (at least once).
                logger.error("cursor \(name): cannot store its position", metadata: ["reason": "\(error)"])
            }
            cursor = last
            position.store(last, ordering: .relaxed)
        }
    }

    /// Sleeps, false if cancelled meanwhile.
    private func pause(_ d: Duration) async -> Bool {
        (try? await Task.sleep(for: d)) != nil
    }
}

/// A one-slot wake-up: `fire` wakes the waiter, or the next `wait` if none is waiting. A wait's
/// timeout wakes only that wait: it never leaves a wake-up behind for the next one (which would
/// make every later wait return at once, a loop that spins).
public final class WakeSignal: Sendable {
    struct State {
        var fired = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Which wait is current, and the last one whose timeout has passed.
        var generation: UInt64 = 0
        var expired: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func fire() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter else { s.fired = true; return nil }
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// The timeout of wait `generation` has passed: wake it if it is still waiting.
    private func expire(_ generation: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.generation == generation else { return nil }
            s.expired = generation
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Returns when fired or after `timeout`; false if the task was cancelled.
    public func wait(upTo timeout: Duration) async -> Bool {
        let generation = state.withLock { s -> UInt64 in
            s.generation &+= 1
            return s.generation
        }
        let timer = Task { [self] in
            // Cancelled (the wait ended first): nothing to do.
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            expire(generation)
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.fired { s.fired = false; return true }
                    if s.expired == generation { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: { [self] in fire() }
        return !Task.isCancelled
    }
}
