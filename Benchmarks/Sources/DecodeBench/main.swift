import Foundation
import HazmonCore
import HazmonMQTT

// What one metric costs to decode, from message bytes to engine samples: a JSON batch of 50
// points on a [[mqtt.map]] (TopicRouter.decode) against a Sparkplug B NDATA of 50 metrics by
// alias (SparkplugHost.handle, after its NBIRTH). Quiet values, 20 nodes, as the load script.
//   DecodeBench json|sparkplug MESSAGES     decodes MESSAGES messages (callgrind: two lengths, the
//                                           difference / metrics = instructions per metric)
//   DecodeBench time                        ns per metric, both ways
let nodes = 20, metrics = 50
var rng = SplitMix64(seed: 20)
let handles: [String: TagHandle] = {
    var h: [String: TagHandle] = [:]
    for n in 0..<nodes { for m in 0..<metrics { h[String(format: "n%02d-m%02d", n, m)] = TagHandle(h.count) } }
    return h
}()

let router = TopicRouter(exact: [:], maps: [.init(id: "load", filter: "plant/batch/+", template: "{3}-{tag}", json: nil,
                                                  batch: true, tags: TagNameIndex(handles.map { ($0.key, $0.value) }))])
let jsonMessages: [(String, [UInt8])] = (0..<200).map { i in
    let n = i % nodes
    let points = (0..<metrics).map { m in String(format: "{\"tag\":\"m%02d\",\"value\":%.3f}", m, 40 + 10 * rng.nextUnit()) }
    return (String(format: "plant/batch/n%02d", n), Array(("{\"points\":[" + points.joined(separator: ",") + "]}").utf8))
}

func newHost() -> SparkplugHost {
    var host = SparkplugHost(groups: [.init(id: "load", group: "load", declared: [:], template: "{node}-{metric}", tags: handles,
                                           explicit: [:], rebirth: true, birthTimeout: .seconds(30))])
    var sink: [Sample] = []
    for n in 0..<nodes {
        let birth = SparkplugCodec.encode(timestamp: 1, seq: 0, metrics: (0..<metrics).map {
            SparkplugMetric(name: String(format: "m%02d", $0), alias: UInt64($0 + 1), datatype: 10, value: .number(45))
        })
        _ = host.handle(SparkplugTopic(String(format: "spBv1.0/load/NBIRTH/n%02d", n))!, payload: birth, received: Instant(seconds: 1),
                        wallMilliseconds: 1, maxPayload: 1 << 20, into: &sink)
    }
    return host
}
// Ten rounds of each node's seq 1...10 (the host then expects them in this order, round after round).
let sparkplugMessages: [(SparkplugTopic, [UInt8])] = (0..<256 * nodes).map { i in
    let n = i % nodes, seq = (i / nodes + 1) % 256
    let payload = SparkplugCodec.encode(timestamp: 1_764_000_000_000, seq: UInt64(seq), metrics: (0..<metrics).map {
        SparkplugMetric(name: nil, alias: UInt64($0 + 1), timestamp: 1_764_000_000_000, datatype: 10, value: .number(40 + 10 * rng.nextUnit()))
    })
    return (SparkplugTopic(String(format: "spBv1.0/load/NDATA/n%02d", n))!, payload)
}

@inline(never) func runJSON(_ count: Int) -> Int {
    var samples: [Sample] = []
    samples.reserveCapacity(metrics)
    var total = 0
    for i in 0..<count {
        samples.removeAll(keepingCapacity: true)
        let (topic, payload) = jsonMessages[i % jsonMessages.count]
        _ = router.decode(topic: topic, payload: payload, received: Instant(seconds: 2), maxPayload: 1 << 20, into: &samples)
        total += samples.count
    }
    return total
}

@inline(never) func runSparkplug(_ count: Int) -> Int {
    var host = newHost()
    var samples: [Sample] = []
    samples.reserveCapacity(metrics)
    var total = 0
    for i in 0..<count {
        samples.removeAll(keepingCapacity: true)
        let (topic, payload) = sparkplugMessages[i % sparkplugMessages.count]
        let a = host.handle(topic, payload: payload, received: Instant(seconds: 2), wallMilliseconds: 2, maxPayload: 1 << 20, into: &samples)
        precondition(a.drops.isEmpty, "\(a.drops)")
        total += samples.count
    }
    return total
}

let args = CommandLine.arguments
switch args.count > 1 ? args[1] : "time" {
case "json": print(runJSON(Int(args[2]) ?? 1000))
case "sparkplug": print(runSparkplug(Int(args[2]) ?? 1000))
default:
    let count = sparkplugMessages.count * 4
    for (name, run) in [("JSON batch", runJSON), ("Sparkplug B NDATA", runSparkplug), ("JSON batch", runJSON), ("Sparkplug B NDATA", runSparkplug)] {
        let start = ContinuousClock.now
        let n = run(count)
        let ns = Double((ContinuousClock.now - start).components.attoseconds) / 1e9 + Double((ContinuousClock.now - start).components.seconds) * 1e9
        print(String(format: "%@: %d metrics, %.0f ns per metric", name, n, ns / Double(n)))
    }
}
