import HazmonCore
import Logging
import NIOCore
import Synchronization

/// The live side of the feed: which clients follow events, and the recent history that
/// `subscribe` with `since` replays from.
///
/// `publish` and `subscribe` take the same lock, and both write to a client only while holding
/// it, so a client sees every event exactly once and in `seq` order: the replay ends where the
/// live stream begins.
public final class FeedHub: Sendable {
    final class Client: Sendable {
        let channel: Channel
        let id: Int
        /// Lines written but not yet flushed to the socket.
        let pending = Atomic<Int>(0)
        let closing = Atomic<Bool>(false)
        init(channel: Channel, id: Int) { self.channel = channel; self.id = id }
    }

    struct State {
        var clients: [Int: Client] = [:]
        var subscribed: Set<Int> = []
        var history = CircularBuffer<AlarmEvent>(initialCapacity: 1024)
        var lastSeq: UInt64 = 0
        var nextID = 0
    }

    private let state = Mutex(State())
    let queueLimit: Int
    let historyLimit: Int
    let logger: Logger

    /// - Parameters:
    ///   - queueLimit: events queued for one client before it is dropped as too slow.
    ///   - historyLimit: events kept in memory for `subscribe` with `since`.
    public init(queueLimit: Int, historyLimit: Int = 100_000, lastSeq: UInt64 = 0, logger: Logger) {
        self.queueLimit = queueLimit
        self.historyLimit = historyLimit
        self.logger = logger
        state.withLock { $0.lastSeq = lastSeq }
    }

    public var lastSeq: UInt64 { state.withLock { $0.lastSeq } }

    /// Records the events and sends them to every subscribed client; `json` holds each
    /// event's JSON line. Each client gets the whole batch in one write.
    public func publish(_ events: [AlarmEvent], json lines: [String]) {
        guard !events.isEmpty else { return }
        state.withLock { s in
            for e in events {
                s.history.append(e)
                if s.history.count > historyLimit { s.history.removeFirst() }
                s.lastSeq = max(s.lastSeq, e.seq)
            }
            for id in s.subscribed {
                guard let c = s.clients[id] else { continue }
                send(lines, to: c)
            }
        }
    }

    func register(_ channel: Channel, maxClients: Int) -> Client? {
        state.withLock { s in
            guard s.clients.count < maxClients else { return nil }
            s.nextID += 1
            let c = Client(channel: channel, id: s.nextID)
            s.clients[c.id] = c
            return c
        }
    }

    func unregister(_ c: Client) {
        state.withLock { s in
            s.clients[c.id] = nil
            s.subscribed.remove(c.id)
        }
    }

    /// Starts the live stream for `c`, first replaying every event after `since` if given.
    func subscribe(_ c: Client, since: UInt64?) -> FeedReply? {
        state.withLock { s in
            if let since {
                if since < s.lastSeq {
                    guard let oldest = s.history.first?.seq, oldest <= since + 1 else {
                        return .error(code: "history_unavailable",
                                      message: "events after seq \(since) are no longer in memory (oldest kept: \(s.history.first?.seq ?? s.lastSeq + 1))")
                    }
                    // A replay is one write the client asked for; it counts once against the queue.
                    send(s.history.filter { $0.seq > since }.map(\.jsonLine), to: c, weight: 1)
                }
            }
            s.subscribed.insert(c.id)
            return nil
        }
    }

    func send(_ line: String, to c: Client) { send(CollectionOfOne(line), to: c) }

    /// Writes lines in one buffer. A client still holding more than `queueLimit` lines
    /// written earlier and not yet taken by the kernel is disconnected instead: it has stopped
    /// reading. (A single large batch to a reading client is not held against it.)
    func send(_ lines: some Collection<String>, to c: Client, weight: Int? = nil) {
        guard !lines.isEmpty, !c.closing.load(ordering: .relaxed) else { return }
        let n = weight ?? lines.count
        let queued = c.pending.wrappingAdd(n, ordering: .relaxed).newValue
        if queued - n > queueLimit {
            c.pending.wrappingSubtract(n, ordering: .relaxed)
            if !c.closing.exchange(true, ordering: .relaxed) {
                logger.warning("alert socket client too slow; disconnecting", metadata: ["client": "\(c.id)", "queued": "\(queued - n)"])
                c.channel.eventLoop.execute { c.channel.close(promise: nil) }
            }
            return
        }
        var buf = c.channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            buf.writeString(line)
            buf.writeInteger(UInt8(ascii: "\n"))
        }
        // Always through the loop's task queue, even when already on the loop: a write may fail
        // and close the channel, whose handler then calls back into the hub, whose lock the
        // caller holds. Tasks queued under the lock also keep every client's lines in order.
        let channel = c.channel
        channel.eventLoop.execute {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in c.pending.wrappingSubtract(n, ordering: .relaxed) }
            channel.writeAndFlush(buf, promise: promise)
        }
    }
}
