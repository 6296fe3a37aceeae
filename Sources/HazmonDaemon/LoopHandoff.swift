import NIOCore
import Synchronization

/// Hands elements from a foreign thread (libmosquitto's) to one SwiftNIO event loop, in
/// batches: the first element queued schedules one task on the loop, which takes everything
/// queued by the time it runs. Producers never block; past `capacity` an element is refused.
///
/// The loop is the one that serves the alert socket. A message's path has three thread hops:
/// libmosquitto's thread → this loop (decode, evaluate, number, queue for the journal) → the
/// journal writer's thread (commit, then hand to the sinks) → the loop again (socket writes).
/// Work on the loop stays in microseconds.
final class LoopHandoff<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var scheduled = false
    }

    private let state = Mutex(State())
    private let loop: EventLoop
    private let capacity: Int
    private let consume: @Sendable ([Element]) -> Void

    /// - Parameter consume: runs on `loop` with each batch, in arrival order.
    init(loop: EventLoop, capacity: Int, consume: @escaping @Sendable ([Element]) -> Void) {
        self.loop = loop
        self.capacity = capacity
        self.consume = consume
    }

    /// Queues `e`; false (and `e` dropped) when `capacity` elements are already waiting.
    func push(_ e: Element) -> Bool {
        let (accepted, schedule) = state.withLock { s -> (Bool, Bool) in
            guard s.items.count < capacity else { return (false, false) }
            s.items.append(e)
            defer { s.scheduled = true }
            return (true, !s.scheduled)
        }
        if schedule { loop.execute { self.drain() } }
        return accepted
    }

    private func drain() {
        let batch = state.withLock { s -> [Element] in
            s.scheduled = false
            var out: [Element] = []
            swap(&out, &s.items)
            return out
        }
        if !batch.isEmpty { consume(batch) }
    }
}
