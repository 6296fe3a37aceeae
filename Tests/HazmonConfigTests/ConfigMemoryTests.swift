import HazmonConfig
import Testing

/// TOMLKit frees neither a parsed document nor the copies of the values it hands out; hazmon
/// frees both (`TOMLDocument`, `Sources/CHeap/heap.c`). Without that a daemon keeps every
/// configuration it ever loaded: about 2 KiB per tag per load, at start and at every reload.
@Suite("Config: loading frees what it parsed")
struct ConfigMemoryTests {
    /// 2,000 tags with limits, a point-table include's worth of strings and numbers each.
    static let text: String = {
        var t = mqttHeader + "[[mqtt.map]]\nid = \"park\"\ntopic = \"park/+/gas\"\ntag = \"{2}\"\n"
        for i in 0..<2_000 {
            t += """
                [[tag]]
                id = "GT\(i)"
                name = "Gas detector \(i) at the tank farm's east side"
                class = "combustible_gas"
                source = { mqtt_map = "park" }
                alarms.h = { at = 20, deadband = 1.5, on_delay = "2s" }
                alarms.hh = { at = 40 }
                history = { deadband = 0.1 }

                """
        }
        return t
    }()

    /// The daemon's heap policy is set, unless GLIBC_TUNABLES already sets malloc's (then the
    /// operator's settings stand and this touches nothing).
    @Test func theHeapPolicyGivesWayToTheOperatorsTunables() {
        #expect(FreedMemory.useDaemonPolicy(tunables: "glibc.malloc.arena_max=8") == .leftToEnvironment)
        #expect(FreedMemory.useDaemonPolicy(tunables: "glibc.rtld.optional_static_tls=512") == .set)
        #expect(FreedMemory.useDaemonPolicy(tunables: nil) == .set)
    }

    @Test func repeatedLoadsDoNotGrowTheHeap() throws {
        // The heap is the whole test process's: other suites run beside this one. The median
        // of the growth from one load to the next is immune to their passing allocations; a
        // leak shows in every step (it was about 5 MB per load of this file).
        var inUse: [Int] = []
        for _ in 0..<12 {
            let c = try ConfigLoader.parse(text: Self.text, file: "park.toml")
            #expect(c.tags.count == 2_000)
            inUse.append(FreedMemory.heapInUse)
        }
        let steps = zip(inUse.dropFirst(), inUse).map { $0 - $1 }.sorted()
        let median = steps[steps.count / 2]
        #expect(median < 256 * 1024, "the heap grew by a median \(median) bytes per load (steps: \(steps))")
    }
}
