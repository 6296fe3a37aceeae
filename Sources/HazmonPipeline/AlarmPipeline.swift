import HazmonCore
import HazmonJournal
import Synchronization

/// Where numbered events go next: the journal writer (commit, then the sinks).
public protocol EventOutlet: Sendable {
    /// Takes events in `seq` order with their JSON lines and the durable state each changed
    /// alarm is left in. Called under the pipeline's lock: must only queue.
    func submit(_ events: [AlarmEvent], json: [String], states: [AlarmStateChange])
}

/// Receives numbered events, in `seq` order, from the journal writer once they are committed
/// (or flagged `unjournaled`), one delivery at a time. Must not block: it holds up the next
/// delivery.
public protocol EventSink: Sendable {
    /// `json` holds each event's JSON line (spec §4), encoded once for every sink.
    func deliver(_ events: [AlarmEvent], json: [String])
}

/// Receives every sample the engine evaluated (the process history). Called outside the
/// pipeline's lock, after evaluation: must only queue.
public protocol SampleRecorder: Sendable {
    /// `generation` says which engine's handles the samples carry; `wallOffset` turns their
    /// engine times into wall time.
    func record(_ samples: [Sample], generation: Int, wallOffset: Duration)
}

/// The one place events are made and numbered: samples and operator actions go in, the engine
/// decides, each event gets the next `seq` and goes to the journal writer, which commits it
/// and then hands it to the sinks (log, socket) in order.
///
/// Everything happens under one lock, so `seq` order is commit and delivery order. The outlet
/// only queues, so the lock is held for microseconds.
///
/// The engine runs on engine time (`Instant.steadyNow`: monotonic, never stepped); every time
/// that leaves the pipeline (event `time`, the alarm states the journal keeps, snapshots) is
/// turned into wall time here, and journaled states are turned back when restored. Callers
/// pass engine times.
///
/// Numbers are reserved durably before they are handed out, `reserveBlock` at a time (one
/// fsync of the high-water file per block), so no seq is ever used twice: after a crash,
/// numbering continues after the reserved block, even if events went out unjournaled.
public final class AlarmPipeline: Sendable {
    /// Numbers reserved per write of the high-water mark: after a crash, seq skips at most this many.
    public static let reserveBlock: UInt64 = 1_000

    struct State {
        var engine: Engine
        var seq: UInt64
        /// Numbers up to here are reserved durably.
        var reserved: UInt64
        var buffer: [AlarmEvent] = []
        /// Bumped by every engine swap (a reload): handles of an older generation index another
        /// engine's tags, and their samples are dropped.
        var generation = 0
    }

    private let state: Mutex<State>
    private let outlet: EventOutlet
    private let clock: TimeSource
    /// Persists a new high-water mark (under the lock, once per block); nil: no durable reservation.
    private let reserve: (@Sendable (UInt64) -> Void)?
    /// Where evaluated samples go next (the history); nil: nowhere.
    private let recorder: SampleRecorder?
    private let tickCount = Atomic<Int>(0)
    public var tagCount: Int { state.withLock { $0.engine.tags.count } }

    public init(engine: Engine, lastSeq: UInt64, outlet: EventOutlet, clock: TimeSource = SystemTime(),
                recorder: SampleRecorder? = nil, reserve: (@Sendable (UInt64) -> Void)? = nil) {
        self.recorder = recorder
        var s = State(engine: engine, seq: lastSeq, reserved: reserve == nil ? .max : lastSeq)
        s.buffer.reserveCapacity(64)
        self.state = Mutex(s)
        self.outlet = outlet
        self.clock = clock
        self.reserve = reserve
    }

    /// Puts the alarms the journal kept (in wall time) back into the engine before the first
    /// sample, re-based on engine time: a shelf expires at the wall time it was given, whatever
    /// the clocks did while the daemon was down. Alarms the configuration no longer has are
    /// cleared with an event.
    public func restore(_ saved: [SavedAlarm], at now: Instant) {
        let back = .zero - clock.wallOffset
        state.withLock { s in
            s.buffer.removeAll(keepingCapacity: true)
            s.engine.restore(saved.map { $0.shifted(by: back) }, now: now, into: &s.buffer)
            deliver(&s)
        }
    }

    /// Every tag's handle in the current engine, and the generation they belong to.
    public func handles() -> (generation: Int, handles: TagNameIndex) {
        state.withLock { ($0.generation, $0.engine.tagHandles) }
    }

    /// Replaces the engine (a reload): every alarm not in normal moves into the new engine with
    /// its state; alarms the new configuration no longer has are cleared with an event.
    /// Returns the new generation: inputs resolve their handles again for it.
    @discardableResult
    public func replaceEngine(with new: Engine, at now: Instant) -> Int {
        state.withLock { s in
            var engine = new
            s.buffer.removeAll(keepingCapacity: true)
            engine.restore(s.engine.savedAlarms(), now: now, into: &s.buffer)
            s.engine = engine
            s.generation += 1
            deliver(&s)
            return s.generation
        }
    }

    /// Evaluates samples whose handles belong to `generation`; after a reload, samples of an
    /// older generation are dropped (their handles index the old engine's tags). Then hands
    /// them to the recorder, outside the lock.
    public func ingest(_ samples: [Sample], generation: Int) {
        let current = state.withLock { s in
            guard s.generation == generation else { return false }
            s.buffer.removeAll(keepingCapacity: true)
            for sample in samples { s.engine.evaluate(sample, into: &s.buffer) }
            deliver(&s)
            return true
        }
        if current, let recorder { recorder.record(samples, generation: generation, wallOffset: clock.wallOffset) }
    }

    public var lastSeq: UInt64 { state.withLock { $0.seq } }


    /// The last seq and every alarm not in normal, times in wall time.
    public func snapshot() -> (seq: UInt64, alarms: [ActiveAlarm]) {
        let offset = clock.wallOffset
        let (seq, alarms) = state.withLock { ($0.seq, $0.engine.snapshot()) }
        return (seq, alarms.map { $0.shifted(by: offset) })
    }

    /// Every configured tag's value, quality, limits and alarms (or only the tag `id`), times
    /// in wall time.
    public func tagViews(only id: String? = nil) -> [TagView] {
        let offset = clock.wallOffset
        return state.withLock { $0.engine.tagViews(only: id) }.map { $0.shifted(by: offset) }
    }

    /// Every hazard source's live R and level (spec §13).
    public func hazardSources() -> [HazardSourceStatus] {
        let offset = clock.wallOffset
        return state.withLock { $0.engine.hazardSources }.map { $0.shifted(by: offset) }
    }

    /// Declares a hazard source's operating mode (or `normal` to end one), journaled.
    public func setMode(source: String, mode: OperatingMode, for duration: Duration?, user: String?, note: String?,
                        at time: Instant) throws(OperatorError) {
        try state.withLock { s throws(OperatorError) in
            let events = try s.engine.setMode(source: source, mode: mode, for: duration, user: user, note: note, at: time)
            s.buffer.removeAll(keepingCapacity: true)
            s.buffer.append(contentsOf: events)
            deliver(&s)
        }
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

    /// Which tags a connection holds, for inputs that learn it at run time (a Sparkplug birth
    /// names its metrics); ignored when `generation` is not the engine's.
    public func setConnectionMembers(_ id: String, tags: [TagHandle], generation: Int) {
        state.withLock { s in
            guard s.generation == generation else { return }
            s.engine.setConnectionMembers(id, tags: tags)
        }
    }

    private func deliver(_ s: inout State) {
        guard !s.buffer.isEmpty else { return }
        let through = s.seq + UInt64(s.buffer.count)
        if through > s.reserved, let reserve {
            s.reserved = through + Self.reserveBlock
            reserve(s.reserved)
        }
        let offset = clock.wallOffset
        for i in s.buffer.indices {
            s.seq += 1
            s.buffer[i].seq = s.seq
            s.buffer[i].time = s.buffer[i].time + offset
        }
        let json = s.buffer.map(\.jsonLine)
        // The state each alarm is left in, once per alarm (a flood can touch thousands at once).
        var states: [AlarmStateChange] = []
        var seen = Set<AlarmKey>()
        for e in s.buffer where seen.insert(AlarmKey(tag: e.tag, slot: e.condition.slot)).inserted {
            // nil: back to normal, or an alarm the engine no longer has; the journal forgets it.
            let saved = s.engine.savedState(after: e)
            states.append(AlarmStateChange(tag: e.tag, slot: e.condition.slot, saved: saved?.shifted(by: offset)))
        }
        outlet.submit(s.buffer, json: json, states: states)
    }
}

struct AlarmKey: Hashable {
    var tag: String
    var slot: AlarmSlot
}

