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
    public var clientCount: Int { state.withLock { $0.clients.count } }

    /// Records the events and sends them to every subscribed client.
    public func publish(_ events: [AlarmEvent]) {
        guard !events.isEmpty else { return }
        let lines = events.map { $0.jsonLine }
        state.withLock { s in
            for e in events {
                s.history.append(e)
                if s.history.count > historyLimit { s.history.removeFirst() }
                s.lastSeq = max(s.lastSeq, e.seq)
            }
            for id in s.subscribed {
                guard let c = s.clients[id] else { continue }
                for line in lines { send(line, to: c) }
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
                    for e in s.history where e.seq > since { send(e.jsonLine, to: c) }
                }
            }
            s.subscribed.insert(c.id)
            return nil
        }
    }

    /// Writes one line; a client that has fallen `queueLimit` lines behind is disconnected.
    func send(_ line: String, to c: Client) {
        guard !c.closing.load(ordering: .relaxed) else { return }
        let queued = c.pending.wrappingAdd(1, ordering: .relaxed).newValue
        if queued > queueLimit {
            if !c.closing.exchange(true, ordering: .relaxed) {
                logger.warning("alert socket client too slow; disconnecting", metadata: ["client": "\(c.id)", "queued": "\(queued)"])
                c.channel.close(promise: nil)
            }
            return
        }
        var buf = c.channel.allocator.buffer(capacity: line.utf8.count + 1)
        buf.writeString(line)
        buf.writeInteger(UInt8(ascii: "\n"))
        let promise = c.channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in c.pending.wrappingSubtract(1, ordering: .relaxed) }
        c.channel.writeAndFlush(buf, promise: promise)
    }
}
