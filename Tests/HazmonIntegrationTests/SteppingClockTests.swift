import HazmonCore
import HazmonPipeline
@testable import HazmonDaemon
import HazmonJournal
import Synchronization
import Testing

/// Engine time that the test moves by hand, and a wall clock it can step (NTP) on its own.
final class SteppingClock: TimeSource {
    private let state = Mutex((steady: Instant(seconds: 1_800_000_000), offset: Duration.zero))
    var steadyNow: Instant { state.withLock { $0.steady } }
    var wallOffset: Duration { state.withLock { $0.offset } }
    var wallNow: Instant { state.withLock { $0.steady + $0.offset } }
    /// Time passes: both clocks move.
    func advance(_ d: Duration) { state.withLock { $0.steady = $0.steady + d } }
    /// The wall clock is stepped (forward or back); engine time does not move.
    func stepWall(_ d: Duration) { state.withLock { $0.offset += d } }
}

/// Keeps what the pipeline hands on.
final class KeepingOutlet: EventOutlet {
    let kept = Mutex<[(AlarmEvent, [AlarmStateChange])]>([])
    func submit(_ events: [AlarmEvent], json: [String], states: [AlarmStateChange]) {
        kept.withLock { k in for e in events { k.append((e, states)) } }
    }
    var events: [AlarmEvent] { kept.withLock { $0.map(\.0) } }
    var lastStates: [AlarmStateChange] { kept.withLock { $0.last?.1 ?? [] } }
}

/// Issue 13 item 4: every duration on engine time (monotonic), wall time only for what people
/// and platforms read. The wall clock steps an hour back and forward mid-delay, mid-shelf and
/// mid-silence; none of the durations moves, and the times shown follow the wall clock.
@Suite("Timers on a monotonic clock while the wall clock steps")
struct SteppingClockTests {
    func rig() -> (AlarmPipeline, SteppingClock, KeepingOutlet, TagHandle) {
        let clock = SteppingClock()
        let outlet = KeepingOutlet()
        var settings = EngineSettings()
        settings.shelveMax = .seconds(3600)
        let engine = Engine(site: "t", tags: [
            TagDefinition(id: "GT-101", unit: "%LEL", tagClass: .combustibleGas,
                          h: LimitRule(at: 20, grade: .yellow, onDelay: .seconds(5)), staleAfter: .seconds(30)),
        ], settings: settings, start: clock.steadyNow)
        let pipeline = AlarmPipeline(engine: engine, lastSeq: 0, outlet: outlet, clock: clock)
        return (pipeline, clock, outlet, pipeline.handles().handles["GT-101"]!)
    }

    func sample(_ h: TagHandle, _ v: Double, _ clock: SteppingClock) -> Sample {
        Sample(tag: h, value: v, time: clock.steadyNow)
    }

    @Test func anOnDelayIsNotStretchedByAStepBack() {
        let (p, clock, outlet, h) = rig()
        let gen = p.handles().generation
        p.ingest([sample(h, 25, clock)], generation: gen)
        clock.advance(.seconds(3))
        clock.stepWall(.seconds(-3600))          // NTP steps the wall clock an hour back
        p.ingest([sample(h, 25, clock)], generation: gen)
        clock.advance(.seconds(2))
        p.tick(at: clock.steadyNow)
        let raised = outlet.events.filter { $0.event == .raised }
        #expect(raised.count == 1, "raised after 5 s of engine time, not 5 s + 1 h")
        #expect(raised.first?.time == clock.wallNow, "the event carries the (stepped) wall time")
    }

    @Test func noStaleStormWhenTheWallClockJumpsForward() {
        let (p, clock, outlet, h) = rig()
        let gen = p.handles().generation
        p.ingest([sample(h, 5, clock)], generation: gen)
        clock.advance(.seconds(10))
        clock.stepWall(.seconds(3600))
        p.tick(at: clock.steadyNow)
        #expect(!outlet.events.contains { $0.condition == .stale }, "10 s without data is not 1 h")
        clock.advance(.seconds(21))
        p.tick(at: clock.steadyNow)
        #expect(outlet.events.filter { $0.condition == .stale && $0.event == .raised }.count == 1, "stale after 30 s of engine time")
    }

    @Test func aShelfLastsItsDurationAndIsJournaledInWallTime() throws {
        let (p, clock, outlet, h) = rig()
        let gen = p.handles().generation
        p.ingest([sample(h, 25, clock)], generation: gen)
        clock.advance(.seconds(6))
        p.tick(at: clock.steadyNow)
        try p.apply(.shelve(.seconds(1800)), tag: "GT-101", condition: .h, user: "li", note: "calibration", at: clock.steadyNow)
        let shelvedAtWall = clock.wallNow
        let journaled = outlet.lastStates.first?.saved?.shelvedUntil
        #expect(journaled == shelvedAtWall + .seconds(1800), "the journal keeps the expiry as wall time")
        clock.stepWall(.seconds(-3600))
        clock.advance(.seconds(1799))
        p.tick(at: clock.steadyNow)
        #expect(!outlet.events.contains { $0.event == .unshelved }, "not before its 30 minutes")
        #expect(p.snapshot().alarms.first?.shelvedUntil == shelvedAtWall + .seconds(1800) - .seconds(3600),
                "a snapshot shows the expiry on the wall clock as it reads now")
        clock.advance(.seconds(2))
        p.tick(at: clock.steadyNow)
        #expect(outlet.events.filter { $0.event == .unshelved }.count == 1, "and not an hour late")
    }

    /// A restart: the journal's wall-time expiry is re-based on the new process's engine time.
    @Test func aRestoredShelfExpiresAtItsWallTime() {
        let outlet = KeepingOutlet()
        let restartClock = SteppingClock()
        restartClock.stepWall(.seconds(-500_000))   // another process: another engine-time origin
        let until = restartClock.wallNow + .seconds(60)
        let saved = SavedAlarm(tag: "GT-101", slot: .high, level: 1, lastLevel: 1, state: .unack, latched: false,
                               since: restartClock.wallNow - .seconds(100), shelvedUntil: until, ackedAt: nil, condition: .h,
                               grade: .yellow, name: "GT-101", unit: "%LEL", value: 25)
        let engine = Engine(site: "t", tags: [TagDefinition(id: "GT-101", unit: "%LEL", tagClass: .combustibleGas,
                                                            h: LimitRule(at: 20, grade: .yellow))],
                            start: restartClock.steadyNow)
        let pipeline = AlarmPipeline(engine: engine, lastSeq: 0, outlet: outlet, clock: restartClock)
        pipeline.restore([saved], at: restartClock.steadyNow)
        #expect(pipeline.snapshot().alarms.first?.shelvedUntil == until)
        restartClock.advance(.seconds(59))
        pipeline.tick(at: restartClock.steadyNow)
        #expect(!outlet.events.contains { $0.event == .unshelved })
        restartClock.advance(.seconds(2))
        pipeline.tick(at: restartClock.steadyNow)
        #expect(outlet.events.contains { $0.event == .unshelved }, "expired at the wall time it was given")
    }
}

extension Instant {
    static func - (lhs: Instant, rhs: Duration) -> Instant { lhs + (.zero - rhs) }
}
