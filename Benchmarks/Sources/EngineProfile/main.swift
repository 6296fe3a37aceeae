import EngineScenarios
import HazmonCore

// Runs one engine scenario for N samples, for instruction counts under callgrind and profiles
// under perf (this machine has no hardware counters for the benchmark harness to read):
//   swift build -c release --product EngineProfile
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null .build/release/EngineProfile limits 200000
// Instructions per sample = (Ir at N2 - Ir at N1) / (N2 - N1): setup cost cancels out.
// Scenarios: limits, full, mixed (10,000 tags, one in four full); `events N` encodes N alarm
// events' JSON lines instead (what every event costs before it is journaled).

let args = CommandLine.arguments
let scenario = args.count > 1 ? args[1] : "mixed"
let n = args.count > 2 ? Int(args[2]) ?? 1_000_000 : 1_000_000

let defs: [TagDefinition]
switch scenario {
case "limits": defs = [Scenarios.limitsOnly]
case "full": defs = [Scenarios.full]
default: defs = Scenarios.mixed
}
/// The measured loop, in a function so `engine` is a local (globals add dynamic exclusivity
/// checks the daemon does not pay).
func run(_ defs: [TagDefinition], _ n: Int) -> Int {
    var engine = Engine(site: "p", tags: defs)
    let isFull = defs.map { $0.rate != nil }
    var events: [AlarmEvent] = []
    events.reserveCapacity(64)
    var t: Int64 = 1_000_000_000
    var next = 0
    for i in 0..<n {
        t &+= 1_000_000
        let value = Scenarios.value(i, full: isFull[next])
        engine.evaluate(Sample(tag: TagHandle(next), value: value, time: Instant(nanoseconds: t)), into: &events)
        next += 1
        if next == defs.count { next = 0 }
    }
    return events.count
}

/// N events' JSON lines, each event a little different (seq, value, time).
func encode(_ n: Int) -> Int {
    var e = AlarmEvent(seq: 1, time: Instant(seconds: 1_764_800_000), site: "plant-1", tag: "GT-101", condition: .h,
                       event: .raised, grade: .yellow, state: .unack, value: 25.5, unit: "%LEL", limit: 20, quality: .good,
                       source: "mqtt", sourceTime: nil, message: "GT-101 combustible gas high: 25.5 %LEL (limit 20)")
    var bytes = 0
    for i in 0..<n {
        e.seq = UInt64(i)
        e.value = 25 + Double(i % 1_000) / 1_000
        e.time = Instant(nanoseconds: e.time.nanoseconds &+ 1_000_000)
        bytes &+= e.jsonLine.utf8.count
    }
    return bytes
}

let clock = ContinuousClock()
let start = clock.now
let count = scenario == "events" ? encode(n) : run(defs, n)
let elapsed = clock.now - start
print("\(scenario): \(n) samples in \(elapsed), \(Int(Double(n) / elapsed.secondsDouble)) samples/s, events \(count)")
