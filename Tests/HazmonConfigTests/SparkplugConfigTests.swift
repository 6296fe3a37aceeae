import HazmonConfig
import HazmonCore
import Testing

@Suite("Config: Sparkplug B groups")
struct SparkplugConfigTests {
    /// `[[mqtt.sparkplug]]` and `source = { sparkplug = ... }` (issue 20, item 1).
    @Test func groupsAndTheirTags() throws {
        let c = try parse(mqttHeader.replacingOccurrences(of: "[mqtt]\n", with: "[mqtt]\nsparkplug_host = \"scada-1\"\n") + """
            [[mqtt.sparkplug]]
            id = "east"
            group = "tankfarm"
            nodes = ["gc1", "gc1/panel"]
            tag = "{node}-{metric}"
            birth_timeout = "10s"
            rebirth = false
            [[tag]]
            id = "gc1-CH4"
            source = { sparkplug = "east" }
            [[tag]]
            id = "TT-7"
            source = { sparkplug = "east", node = "gc1", device = "panel", metric = "Temp/PV" }
            """)
        let g = try #require(c.mqtt?.sparkplug.first)
        #expect(g.group == "tankfarm" && g.nodes == ["gc1", "gc1/panel"] && g.tag == "{node}-{metric}")
        #expect(g.birthTimeout == .seconds(10) && !g.rebirth && c.mqtt?.sparkplugHost == "scada-1")
        #expect(g.connectionID("gc1/panel") == "sparkplug:tankfarm/gc1/panel")
        #expect(c.tags.first { $0.definition.id == "TT-7" }?.source
                == .mqtt(.sparkplug("east", metric: SparkplugMetricName(node: "gc1", device: "panel", metric: "Temp/PV"))))
        #expect(c.tags.first { $0.definition.id == "gc1-CH4" }?.source == .mqtt(.sparkplug("east", metric: nil)))
    }

    @Test func refusalsSayWhereAndWhy() {
        let errs = errors(mqttHeader.replacingOccurrences(of: "[mqtt]\n", with: "[mqtt]\nsparkplug_host = \"a/b\"\n") + """
            [[mqtt.sparkplug]]
            id = "east"
            group = "tank+farm"
            nodes = ["gc1", "gc1", "a/b/c"]
            tag = "{node}"
            birth_timeout = "0s"
            [[mqtt.sparkplug]]
            id = "west"
            group = "w"
            [[tag]]
            id = "A"
            source = { sparkplug = "nope" }
            [[tag]]
            id = "B"
            source = { sparkplug = "west", metric = "x" }
            [[tag]]
            id = "C"
            source = { sparkplug = "west", node = "gc9", metric = "x" }
            [[tag]]
            id = "D"
            source = { sparkplug = "west", device = "d" }
            """)
        let expected = [
            #"hazmon.toml:4: mqtt.sparkplug_host: "a/b" is not a Sparkplug id"#,
            #"hazmon.toml:8: mqtt.sparkplug.group: is required: the Sparkplug group id"#,
            #"hazmon.toml:9: mqtt.sparkplug.nodes: "gc1" is listed twice"#,
            #"hazmon.toml:9: mqtt.sparkplug.nodes: "a/b/c" is not "NODE" or "NODE/DEVICE""#,
            #"hazmon.toml:10: mqtt.sparkplug.tag: "{node}" names every metric alike; it needs {metric}"#,
            #"hazmon.toml:11: mqtt.sparkplug.birth_timeout: must be 1s...1h"#,
            #"hazmon.toml:12: mqtt.sparkplug.nodes: is required"#,
            #"hazmon.toml:17: tag "A": source.sparkplug: no [[mqtt.sparkplug]] has id "nope""#,
            #"hazmon.toml:20: tag "B": source.node: is required with metric"#,
            #"hazmon.toml:23: tag "C": source.node: "gc9" is not in [[mqtt.sparkplug]] "west"'s nodes"#,
            #"hazmon.toml:26: tag "D": source.device: goes with metric"#,
        ]
        for e in expected { #expect(errs.contains { $0.hasPrefix(e) }, "\(e)\n in \(errs.joined(separator: "\n"))") }
        #expect(errs.count == expected.count, "\(errs.joined(separator: "\n"))")
    }

    /// One broker connection has one last will: STATE and [mqtt.publish]'s status cannot share it.
    @Test func hostStateAndPublishStatusConflict() {
        let errs = errors(mqttHeader.replacingOccurrences(of: "[mqtt]\n", with: "[mqtt]\nsparkplug_host = \"h\"\n") + """
            [mqtt.publish]
            topic = "x/{tag}"
            [[mqtt.sparkplug]]
            id = "s"
            group = "g"
            nodes = ["n"]
            """)
        #expect(errs.count == 1 && errs[0].contains("last will"), "\(errs)")
    }
}
