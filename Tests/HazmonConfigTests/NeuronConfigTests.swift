import HazmonConfig
import Testing

@Suite("Config: Neuron maps")
struct NeuronConfigTests {
    /// `[[mqtt.map]] format = "neuron"` (issue 20, item 2): its template names and its refusals.
    @Test func neuronMaps() throws {
        let c = try parse(mqttHeader + """
            [[mqtt.map]]
            id = "neuron"
            topic = "neuron/+"
            format = "neuron"
            tag = "{node}-{tag}"
            [[tag]]
            id = "modbus-tag0"
            source = { mqtt_map = "neuron" }
            """)
        #expect(c.mqtt?.maps.first?.format == .neuron && c.mqtt?.maps.first?.tag == "{node}-{tag}")
        let errs = errors(mqttHeader + """
            [[mqtt.map]]
            id = "n"
            topic = "neuron/+"
            format = "neuron"
            batch = true
            json = "x"
            [[mqtt.map]]
            id = "plain"
            topic = "gw/+"
            tag = "{node}"
            [[mqtt.map]]
            id = "other"
            topic = "x/+"
            format = "sparkplug"
            tag = "{2}"
            """)
        let expected = [
            #"hazmon.toml:9: mqtt.map.batch: a Neuron upload is always a batch of tags"#,
            #"hazmon.toml:10: mqtt.map.json: a Neuron upload's values are where Neuron puts them"#,
            #"hazmon.toml:14: mqtt.map.tag: {node} is for Neuron maps (format = "neuron")"#,
            #"hazmon.toml:18: mqtt.map.format: "sparkplug" is not one of plain"#,
        ]
        for e in expected { #expect(errs.contains { $0.hasPrefix(e) }, "\(e)\n in \(errs.joined(separator: "\n"))") }
        #expect(errs.count == expected.count, "\(errs.joined(separator: "\n"))")
    }
}
