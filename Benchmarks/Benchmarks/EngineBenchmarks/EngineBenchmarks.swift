import Benchmark
import EngineScenarios
import HazmonCore

/// The engine's hot path: `Engine.evaluate` per sample, with no alarm changing (the common
/// case: a plant is normal most of the time), for a limits-only tag, a fully configured tag
/// and 10,000 mixed tags. Each measured iteration evaluates 1,000 samples (`.kilo`); metrics
/// marked `*` in the output are per sample.
let benchmarks: @Sendable () -> Void = {
    // Allocations are exact and machine-independent: any allocation on the hot path fails the
    // static thresholds (Thresholds/, checked by check.sh). Wall clock and throughput are shown,
    // not gated (they vary with the machine); instructions are gated by check.sh with callgrind,
    // since this machine kind exposes no hardware counters.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 10_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p0: 0, .p50: 0, .p100: 0])]
    )

    /// One tag evaluated over and over: its state stays in cache, so this is the pure cost.
    func singleTag(_ name: String, _ definition: TagDefinition, full: Bool) {
        Benchmark(name) { benchmark in
            var engine = Engine(site: "b", tags: [definition])
            let h = engine.handle(for: definition.id)!
            var events: [AlarmEvent] = []
            events.reserveCapacity(64)
            var t: Int64 = 1_000_000_000
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                t &+= 100_000_000
                engine.evaluate(Sample(tag: h, value: Scenarios.value(i, full: full), time: Instant(nanoseconds: t)), into: &events)
            }
            benchmark.stopMeasurement()
            blackHole(events.count)
        }
    }
    singleTag("Engine.evaluate.limitsOnlyTag", Scenarios.limitsOnly, full: false)
    singleTag("Engine.evaluate.fullTag", Scenarios.full, full: true)

    // Names without spaces: the thresholds files are matched by name.
    // 10,000 tags, one in four fully configured, evaluated round robin: cache misses included.
    let mixed = Scenarios.mixed
    Benchmark("Engine.evaluate.mixed10000Tags") { benchmark in
        var engine = Engine(site: "b", tags: mixed)
        var events: [AlarmEvent] = []
        events.reserveCapacity(64)
        var t: Int64 = 1_000_000_000
        var next = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            t &+= 1_000_000
            let value = Scenarios.value(i, full: next % 4 == 0)
            engine.evaluate(Sample(tag: TagHandle(next), value: value, time: Instant(nanoseconds: t)), into: &events)
            next += 1
            if next == 10_000 { next = 0 }
        }
        benchmark.stopMeasurement()
        blackHole(events.count)
    }
}
