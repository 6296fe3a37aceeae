import HazmonCore
import Testing
@testable import HazmonMQTT

/// EMQX Neuron's JSON uploads (issue 20, item 2): both formats as its documentation shows them,
/// an `error` code making the tag bad with the code, and hostile variants dropped and counted.
@Suite("Neuron uploads")
struct NeuronDecoderTests {
    static let router = TopicRouter(exact: [:], maps: [
        .init(id: "neuron", filter: "neuron/+", template: "{node}.{group}.{tag}", json: nil, batch: false, format: .neuron,
              tags: ["modbus.grp.tag0": TagHandle(0), "modbus.grp.tag1": TagHandle(1), "modbus.grp.tag2": TagHandle(2)]),
    ])

    static func decode(_ payload: String, max: Int = 65_536) -> ([Sample], MessageDrops) {
        var samples: [Sample] = []
        let drops = router.decode(topic: "neuron/up", payload: Array(payload.utf8), received: Instant(seconds: 9), maxPayload: max, into: &samples)
        return (samples, drops)
    }

    /// The tags-format example of Neuron's MQTT plugin documentation, with an error entry.
    @Test func tagsFormatWithAnErrorCode() {
        let (samples, drops) = Self.decode("""
            {"timestamp": 1650006388943, "node": "modbus", "group": "grp",
             "tags": [{"name": "tag0", "value": 4}, {"name": "tag1", "value": true}, {"name": "tag2", "error": 2014}]}
            """)
        #expect(drops.isEmpty)
        #expect(samples.map(\.tag) == [TagHandle(0), TagHandle(1), TagHandle(2)])
        #expect(samples[0].value == 4 && samples[0].quality == .good && samples[1].value == 1)
        #expect(samples[0].sourceTime == Instant(nanoseconds: 1_650_006_388_943_000_000) && samples[0].time == Instant(seconds: 9))
        #expect(samples[2].quality == .bad && samples[2].fault == .device(code: 2014) && samples[2].value.isNaN)
        #expect(samples[2].fault?.description == "device reports fault code 2014")
    }

    /// The values-format example: `values` and `errors` maps.
    @Test func valuesFormat() {
        let (samples, drops) = Self.decode("""
            {"timestamp": 1650006388943, "node": "modbus", "group": "grp",
             "values": {"tag0": 42, "tag1": 3.5}, "errors": {"tag2": 2014}, "metas": {}}
            """)
        #expect(drops.isEmpty)
        #expect(samples.map(\.value).prefix(2) == [42, 3.5] && samples.last?.fault == .device(code: 2014))
        // Neuron 2.0's field names.
        let (old, oldDrops) = Self.decode(#"{"node_name":"modbus","group_name":"grp","timestamp":1647497389075,"tags":[{"value":4,"name":"tag0"}]}"#)
        #expect(oldDrops.isEmpty && old.map(\.value) == [4])
    }

    @Test func hostileVariantsAreDroppedAndCountedNeverHidingGoodTags() {
        var (samples, drops) = Self.decode(#"{"node":"modbus","group":"grp","tags":[{"name":"tag0","value":"4"},{"name":"tag1","value":7},{"value":1},{"name":"nope","value":1},{"name":"tag2","error":"x"}]}"#)
        #expect(samples.map(\.value) == [7])
        #expect(drops.payloadErrors.map(\.reason) == ["wrong_type", "missing_field", "wrong_type"])
        #expect(drops.unmapped?.contains("modbus.grp.nope") == true)
        (samples, drops) = Self.decode(#"{"group":"grp","tags":[]}"#)
        #expect(samples.isEmpty && drops.payloadErrors == [.missing("node")])
        (samples, drops) = Self.decode(#"{"node":"modbus","group":"grp","timestamp":"soon","tags":[]}"#)
        #expect(drops.payloadErrors == [.badTime("timestamp")])
        (samples, drops) = Self.decode(#"{"node":"modbus","group":"grp","timestamp":1e15,"tags":[]}"#)
        #expect(drops.payloadErrors == [.badTime("timestamp")], "past the year 2255: found by the fuzz below as an overflow")
        (samples, drops) = Self.decode(#"{"node":"modbus","group":"grp","values":[1,2]}"#)
        #expect(drops.payloadErrors.map(\.reason) == ["wrong_type"])
        (samples, drops) = Self.decode(#"{"node":"modbus","group":"grp"}"#)
        #expect(drops.payloadErrors == [.missing("tags")])
        // A huge array is refused by max_payload before it is read.
        let huge = #"{"node":"modbus","group":"grp","tags":["# + Array(repeating: #"{"name":"tag0","value":1}"#, count: 5_000).joined(separator: ",") + "]}"
        (samples, drops) = Self.decode(huge, max: 65_536)
        #expect(samples.isEmpty && drops.payloadErrors.map(\.reason) == ["oversized"])
        // Mutations of a good upload never crash, and every tag is either a sample or a counted drop.
        var rng = SplitMix64(seed: 20)
        let good = Array(#"{"timestamp":1650006388943,"node":"modbus","group":"grp","tags":[{"name":"tag0","value":4},{"name":"tag2","error":2014}],"values":{"tag1":1}}"#.utf8)
        let alphabet = Array(#"{}[]":,0123456789.-eE"ntag"#.utf8)
        for _ in 0..<5_000 {
            var b = good
            for _ in 0..<Int(rng.next() % 4 + 1) { b[Int(rng.next() % UInt64(b.count))] = alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var out: [Sample] = []
            _ = Self.router.decode(topic: "neuron/up", payload: b, received: Instant(seconds: 1), maxPayload: 4096, into: &out)
            #expect(out.allSatisfy { $0.quality == .good ? $0.value.isFinite : $0.fault != nil })
        }
    }
}
