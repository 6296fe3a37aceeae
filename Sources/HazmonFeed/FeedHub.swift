import HazmonCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The live side of the feed: which clients follow events, and the recent history that
/// `subscribe` with `since` replays from (older events come from the archive, the journal).
///
/// `publish` and `subscribe` take the same lock, and both write to a client only while holding
/// it, so a client sees every event exactly once and in `seq` order: the replay ends where the
/// live stream begins. A replay from the archive runs off the lock, in chunks, each written
/// after the last one was taken by the client; the client joins the live stream only once the
/// replay has reached what memory still holds.
public final class FeedHub: Sendable {
    /// One client of the hub: where its lines go and how many it has not taken yet.
    public final class Client: Sendable {
        let output: any FeedOutput
        let id: Int
        /// Lines written but not yet flushed to the socket.
        let pending = Atomic<Int>(0)
        let closing = Atomic<Bool>(false)
        init(output: any FeedOutput, id: Int) { self.output = output; self.id = id }
    }

    struct State {
        var clients: [Int: Client] = [:]
        var subscribed: Set<Int> = []
        var history = CircularBuffer<AlarmEvent>(initialCapacity: 1024)
        var lastSeq: UInt64 = 0
        var nextID = 0
        var saidGoodbye = false
    }

    private let state = Mutex(State())
    let label: String
    let queueLimit: Int
    let historyLimit: Int
    let archive: FeedArchive?
    let threadPool: NIOThreadPool
    let logger: Logger
    /// Refused and dropped clients, logged at most once per interval however many there are.
    let clientProblems: RateLimitedLog
    /// Events per archive read and write during a replay.
    static let replayChunk = 2_000

    /// - Parameters:
    ///   - queueLimit: events queued for one client before it is dropped as too slow.
    ///   - historyLimit: events kept in memory for `subscribe` with `since`.
    ///   - archive: where older events are read from (the journal); nil: memory only.
    ///   - label: how log lines name its clients.
    public init(queueLimit: Int, historyLimit: Int = 100_000, lastSeq: UInt64 = 0, archive: FeedArchive? = nil,
                threadPool: NIOThreadPool = .singleton, label: String = "alert socket", logger: Logger) {
        self.label = label
        self.queueLimit = queueLimit
        self.historyLimit = historyLimit
        self.archive = archive
        self.threadPool = threadPool
        self.logger = logger
        self.clientProblems = RateLimitedLog(logger: logger)
        state.withLock { $0.lastSeq = lastSeq }
    }

    public var lastSeq: UInt64 { state.withLock { $0.lastSeq } }

    /// Tells every client the daemon is stopping (`{"type":"bye","reason":"shutdown"}`), once,
    /// before the listeners close: a display can show "hazmon stopped" instead of guessing.
    public func goodbye() {
        state.withLock { s in
            guard !s.saidGoodbye else { return }
            s.saidGoodbye = true
            for c in s.clients.values { send(#"{"type":"bye","reason":"shutdown"}"#, to: c) }
        }
    }

    /// Closes every client's output after what was queued for it (the console's streams at a
    /// shutdown: an HTTP server waits for open responses to end).
    public func closeAll() {
        state.withLock { s in
            for c in s.clients.values where !c.closing.exchange(true, ordering: .relaxed) { c.output.close() }
        }
    }

    /// Clients connected now (subscribed or not).
    public var clientCount: Int { state.withLock { $0.clients.count } }

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
            // One batch for every client: each kind of output frames it once, not once per client.
            let batch = FeedBatch(lines)
            for id in s.subscribed {
                guard let c = s.clients[id] else { continue }
                send(batch, to: c)
            }
        }
    }

    func register(_ channel: Channel, maxClients: Int) -> Client? {
        register(ChannelOutput(channel: channel), maxClients: maxClients)
    }

    /// A client whose lines go to `output` (a console's event stream); nil if `maxClients`
    /// are connected already. Follow with `subscribe` and end with `unregister`.
    public func register(_ output: any FeedOutput, maxClients: Int) -> Client? {
        state.withLock { s in
            guard s.clients.count < maxClients else { return nil }
            s.nextID += 1
            let c = Client(output: output, id: s.nextID)
            s.clients[c.id] = c
            return c
        }
    }

    public func unregister(_ c: Client) {
        state.withLock { s in
            s.clients[c.id] = nil
            s.subscribed.remove(c.id)
        }
    }

    /// Starts the live stream for `c`, first replaying every event after `since` if given.
    /// Returns an error reply, or nil once the client is subscribed or its replay has begun.
    public func subscribe(_ c: Client, since: UInt64?) -> FeedReply? {
        if let since {
            let last = lastSeq
            // A client ahead of the journal remembers events this journal never had (another
            // journal, or one restored from an old backup): say so instead of waiting in silence.
            if since > last {
                return .error(code: "since_ahead",
                              message: "since \(since) is ahead of the journal, whose last seq is \(last): resubscribe with since \(last) or lower, or without since")
            }
        }
        switch joinFromMemory(c, since: since) {
        case .joined:
            return nil
        case .needsArchive(let through):
            guard let archive else {
                return .error(code: "history_unavailable",
                              message: "events after seq \(since ?? 0) are no longer in memory and there is no journal")
            }
            Task { await replay(c, after: since ?? 0, through: through, archive: archive) }
            return nil
        }
    }

    enum Join { case joined, needsArchive(through: UInt64) }

    /// Under the lock: if memory holds every event after `since`, sends them and subscribes;
    /// otherwise says up to which seq the archive must be read first.
    private func joinFromMemory(_ c: Client, since: UInt64?) -> Join {
        state.withLock { s in
            if let since, since < s.lastSeq {
                let oldest = s.history.first?.seq ?? s.lastSeq + 1
                if oldest > since + 1 { return .needsArchive(through: oldest - 1) }
                // A replay is one write the client asked for; it counts once against the queue.
                send(FeedBatch(s.history.filter { $0.seq > since }.map(\.jsonLine)), to: c, weight: 1)
            }
            s.subscribed.insert(c.id)
            return .joined
        }
    }

    /// Reads the archive in chunks on the thread pool and writes each chunk once the previous
    /// one is written, then joins from memory (reading the archive again if memory moved on).
    private func replay(_ c: Client, after since: UInt64, through: UInt64, archive: FeedArchive) async {
        var next = since
        var end = through
        do {
            while true {
                while next < end {
                    let from = next, to = end
                    let events = try await threadPool.runIfActive {
                        try archive.lines(after: from, through: to, limit: Self.replayChunk)
                    }
                    // None left in the range: numbers reserved before a crash and never used
                    // (seq skips them), or events pruned past the retention.
                    guard let last = events.last else { next = to; break }
                    try await write(events.map(\.json), to: c)
                    next = last.seq

                }
                if c.closing.load(ordering: .relaxed) { return }
                switch joinFromMemory(c, since: next) {
                case .joined: return
                case .needsArchive(let t): end = t
                }
            }
        } catch let reply as FeedReply {
            send(reply.json, to: c)
        } catch {
            send(FeedReply.error(code: "history_unavailable", message: "journal read failed: \(error)").json, to: c)
        }
    }

    /// Writes lines and waits until the client's socket took them: a replay never queues more
    /// than one chunk for a client.
    private func write(_ lines: [String], to c: Client) async throws {
        try await c.output.writeAndWait(FeedBatch(lines))
    }

    func send(_ line: String, to c: Client) { send(FeedBatch([line]), to: c) }

    /// Writes lines in one buffer. A client still holding more than `queueLimit` lines
    /// written earlier and not yet taken by the kernel is disconnected instead: it has stopped
    /// reading. (A single large batch to a reading client is not held against it.)
    func send(_ batch: FeedBatch, to c: Client, weight: Int? = nil) {
        guard !batch.lines.isEmpty, !c.closing.load(ordering: .relaxed) else { return }
        let n = weight ?? batch.lines.count
        let queued = c.pending.wrappingAdd(n, ordering: .relaxed).newValue
        if queued - n > queueLimit {
            c.pending.wrappingSubtract(n, ordering: .relaxed)
            if !c.closing.exchange(true, ordering: .relaxed) {
                clientProblems.warning(key: "slow", "\(label) client too slow; disconnecting",
                                       metadata: ["client": "\(c.id)", "queued": "\(queued - n)"])
                c.output.close()
            }
            return
        }
        c.output.write(batch) { c.pending.wrappingSubtract(n, ordering: .relaxed) }
    }
}

/// Lines sent to clients together, with each output kind's framing of them made once (the
/// first client of a kind frames, the others share the bytes). A batch is framed only under
/// the hub's lock or by the one client it was made for, so its caches need no lock of their own.
public final class FeedBatch: @unchecked Sendable {
    public let lines: [String]
    private var framed: [ObjectIdentifier: ByteBuffer] = [:]

    public init(_ lines: [String]) { self.lines = lines }

    /// The lines framed by `frame` for outputs of type `kind`, made on first use.
    public func bytes(for kind: Any.Type, _ frame: ([String]) -> ByteBuffer) -> ByteBuffer {
        let key = ObjectIdentifier(kind)
        if let b = framed[key] { return b }
        let b = frame(lines)
        framed[key] = b
        return b
    }
}

/// Where a hub client's lines go: a socket, or a console's event stream. Writes are called
/// under the hub's lock, in order; an output must keep that order and must not call back into
/// the hub synchronously.
public protocol FeedOutput: Sendable {
    /// Queues a batch of lines (each one message) and calls `taken` once the transport took
    /// them, or once they can never be (the client is gone).
    func write(_ batch: FeedBatch, taken: @escaping @Sendable () -> Void)
    /// Writes a batch and returns once the transport took it; throws if the client is gone.
    func writeAndWait(_ batch: FeedBatch) async throws
    /// Ends the client's connection after what was queued.
    func close()
}

/// A socket client (the alert socket, the remote feed): newline-delimited JSON.
struct ChannelOutput: FeedOutput {
    let channel: Channel

    func write(_ batch: FeedBatch, taken: @escaping @Sendable () -> Void) {
        let allocator = channel.allocator
        let buf = batch.bytes(for: ChannelOutput.self) { Self.frame($0, allocator: allocator) }
        // Always through the loop's task queue, even when already on the loop: a write may fail
        // and close the channel, whose handler then calls back into the hub, whose lock the
        // caller holds. Tasks queued under the lock also keep every client's lines in order.
        let channel = channel
        channel.eventLoop.execute {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in taken() }
            channel.writeAndFlush(buf, promise: promise)
        }
    }

    func writeAndWait(_ batch: FeedBatch) async throws {
        let channel = channel
        let allocator = channel.allocator
        let bytes = batch.bytes(for: ChannelOutput.self) { Self.frame($0, allocator: allocator) }
        try await channel.eventLoop.flatSubmit { channel.writeAndFlush(bytes) }.get()
    }

    func close() {
        let channel = channel
        channel.eventLoop.execute { channel.close(promise: nil) }
    }

    /// Lines, each ending in a newline, in one buffer.
    static func frame(_ lines: some Collection<String>, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buf = allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            buf.writeString(line)
            buf.writeInteger(UInt8(ascii: "\n"))
        }
        return buf
    }
}
