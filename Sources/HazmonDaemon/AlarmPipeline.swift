import HazmonCore
import HazmonFeed
import Synchronization

/// The one place events are made and numbered: samples and operator actions go in, the engine
/// decides, each event gets the next `seq` and reaches every sink in order.
///
/// Everything happens under one lock, so `seq` order is delivery order for every sink. Sinks
/// only queue (the socket hub writes asynchronously), so the lock is held for microseconds.
public final class AlarmPipeline: Sendable {
    struct State {
        var engine: Engine
        var seq: UInt64
        var buffer: [AlarmEvent] = []
    }

    private let state: Mutex<State>
    private let sinks: [EventSink]
    private let tickCount = Atomic<Int>(0)
    public let tagCount: Int

    public init(engine: Engine, lastSeq: UInt64, sinks: [EventSink]) {
        var s = State(engine: engine, seq: lastSeq)
        s.buffer.reserveCapacity(64)
        self.tagCount = engine.tags.count
        self.state = Mutex(s)
        self.sinks = sinks
    }

    public func handle(for tag: String) -> TagHandle? { state.withLock { $0.engine.handle(for: tag) } }

    public var lastSeq: UInt64 { state.withLock { $0.seq } }

    /// Evaluates samples in order and delivers what they cause.
    public func ingest(_ samples: some Sequence<Sample>) {
        state.withLock { s in
            s.buffer.removeAll(keepingCapacity: true)
            for sample in samples { s.engine.evaluate(sample, into: &s.buffer) }
            deliver(&s)
        }
    }

    public func ingest(_ sample: Sample) { ingest(CollectionOfOne(sample)) }

    public func snapshot() -> (seq: UInt64, alarms: [ActiveAlarm]) {
        state.withLock { ($0.seq, $0.engine.snapshot()) }
    }

    /// An operator's action (acknowledge, shelve, unshelve, reset) on one alarm.
    public func apply(_ action: OperatorAction, tag: String, condition: Condition, user: String?, note: String?,
                      at time: Instant) throws(OperatorError) {
        try state.withLock { s throws(OperatorError) in
            let e = try s.engine.apply(action, tag: tag, condition: condition, user: user, note: note, at: time)
            s.buffer.removeAll(keepingCapacity: true)
            s.buffer.append(e)
            deliver(&s)
        }
    }

    /// Runs the engine's timers (delays, stale data, re-alarms, shelve expiry, flood end).
    public func tick(at now: Instant) {
        state.withLock { s in
            s.buffer.removeAll(keepingCapacity: true)
            s.engine.tick(now: now, into: &s.buffer)
            deliver(&s)
        }
        tickCount.wrappingAdd(1, ordering: .relaxed)
    }

    /// How many times the engine's timers have run: the watchdog's proof of life.
    public var ticks: Int { tickCount.load(ordering: .relaxed) }

    /// A device or connection went down or came back.
    public func setConnection(_ id: String, up: Bool, reason: String?, at now: Instant) {
        state.withLock { s in
            s.buffer.removeAll(keepingCapacity: true)
            s.engine.setConnection(id, up: up, reason: reason, at: now, into: &s.buffer)
            deliver(&s)
        }
    }

    private func deliver(_ s: inout State) {
        guard !s.buffer.isEmpty else { return }
        for i in s.buffer.indices {
            s.seq += 1
            s.buffer[i].seq = s.seq
        }
        let json = s.buffer.map(\.jsonLine)
        for sink in sinks { sink.deliver(s.buffer, json: json) }
    }
}

/// The feed's view of the pipeline.
struct PipelineFeedHandler: FeedRequestHandler {
    let pipeline: AlarmPipeline

    func snapshot() -> (seq: UInt64, alarms: [String]) {
        let (seq, alarms) = pipeline.snapshot()
        return (seq, alarms.map(\.json))
    }

    func operate(_ action: OperatorAction, tag: String, condition: Condition, user: String?, note: String?) -> FeedReply {
        do {
            try pipeline.apply(action, tag: tag, condition: condition, user: user, note: note, at: .now)
            return .ok
        } catch {
            return .error(code: error.code, message: error.description)
        }
    }
}

extension FeedHub: EventSink {
    public func deliver(_ events: [AlarmEvent], json: [String]) { publish(events, json: json) }
}
