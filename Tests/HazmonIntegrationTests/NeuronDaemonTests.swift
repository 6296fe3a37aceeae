import Foundation
import HazmonDaemon
import Testing

/// A Neuron gateway's upload through the real broker and daemon (issue 20, item 2): a value
/// raises its limit alarm, Neuron's per-tag error raises that tag's `fault` with the code.
@Suite("Neuron uploads in the daemon", .serialized)
struct NeuronDaemonTests {
    @Test func anUploadFeedsItsTagsAndAnErrorCodeIsAFault() throws {
        let rig = try Rig(extra: """
            [[mqtt.map]]
            id = "neuron"
            topic = "neuron/upload"
            format = "neuron"
            tag = "{node}-{tag}"
            [[tag]]
            id = "gc1-ch1"
            unit = "%LEL"
            class = "combustible_gas"
            source = { mqtt_map = "neuron" }
            [[tag]]
            id = "gc1-ch2"
            unit = "%LEL"
            class = "combustible_gas"
            source = { mqtt_map = "neuron" }
            """)
        defer { rig.close() }
        rig.publisher.publish("neuron/upload", """
            {"timestamp": \(Int(Date().timeIntervalSince1970 * 1000)), "node": "gc1", "group": "gas",
             "tags": [{"name": "ch1", "value": 25.5}, {"name": "ch2", "error": 2014}]}
            """)
        var seen: [String: [String: Any]] = [:]
        for _ in 0..<10 {
            guard let e = rig.client.nextEvent() else { break }
            seen["\(e["tag"] as? String ?? "")/\(e["condition"] as? String ?? "")"] = e
            if seen.count == 2 { break }
        }
        #expect(seen["gc1-ch1/h"]?["event"] as? String == "raised" && seen["gc1-ch1/h"]?["value"] as? Double == 25.5)
        let fault = seen["gc1-ch2/fault"]
        #expect(fault?["event"] as? String == "raised" && fault?["quality"] as? String == "bad")
        #expect((fault?["message"] as? String)?.contains("device reports fault code 2014") == true, "\(String(describing: fault))")
    }
}
