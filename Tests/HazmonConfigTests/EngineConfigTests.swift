import HazmonConfig
import HazmonCore
import Testing

@Suite("Config: engine rules")
struct EngineConfigTests {
    @Test func everyRuleKeyIsRead() throws {
        let c = try parse(mqttHeader + """
            [engine]
            stale_after = "30s"
            shelve_max = "4h"
            chatter = { transitions = 4, per = "2m" }
            flood = { raised = 20, per = "5m", end_below = 8 }

            [[tag]]
            id = "PT-201"
            unit = "MPa"
            source = { mqtt = "a/p" }
            alarms.hh = { at = 1.6, grade = 1, deadband = 0.02, on_delay = "2s", off_delay = "5s", latch = true, realarm = "30m" }
            alarms.h = { at = 1.4 }
            alarms.rate = { rise = 0.2, per = "10s", grade = 2 }
            alarms.trend = { toward = "hh", window = "60s", horizon = "5m", grade = 2, min_samples = 8 }
            suppress_if = { tag = "RUN", below = 0.5 }
            grades = { stale = 2, fault = 2 }

            [[tag]]
            id = "RUN"
            source = { mqtt = "a/run" }
            stale_after = "2m"
            out_of_service = "pump overhaul, ticket 4711"

            [[tag]]
            id = "PT-202"
            unit = "MPa"
            source = { mqtt = "a/q" }
            alarms.h = { at = 1.4 }

            [[vote]]
            id = "dike"
            name = "T201 dike pressure 2oo2"
            tags = ["PT-201", "PT-202"]
            k = 2
            condition = "h"
            """)
        #expect(c.engine.shelveMax == .seconds(4 * 3600))
        #expect(c.engine.chatterTransitions == 4 && c.engine.chatterPer == .seconds(120))
        #expect(c.engine.floodRaised == 20 && c.engine.floodPer == .seconds(300) && c.engine.floodEndBelow == 8)
        let d = c.tags[0].definition
        #expect(d.hh == LimitRule(at: 1.6, grade: .red, deadband: 0.02, onDelay: .seconds(2), offDelay: .seconds(5), latch: true, realarm: .seconds(1800)))
        #expect(d.rate == RateRule(rise: 0.2, per: .seconds(10), grade: .orange))
        #expect(d.trend == TrendRule(toward: .hh, window: .seconds(60), horizon: .seconds(300), grade: .orange, minSamples: 8))
        #expect(d.staleAfter == .seconds(30))          // the [engine] default
        #expect(d.suppressIf == SuppressionRule(tag: "RUN", below: 0.5))
        #expect(d.staleGrade == .orange && d.faultGrade == .orange)
        #expect(c.tags[1].definition.staleAfter == .seconds(120))
        #expect(c.tags[1].definition.outOfService == "pump overhaul, ticket 4711")
        #expect(c.votes == [VoteDefinition(id: "dike", name: "T201 dike pressure 2oo2", tags: ["PT-201", "PT-202"], k: 2, condition: .h)])
    }

    @Test func ruleMistakes() {
        let e = errors(mqttHeader + """
            [engine]
            chatter = { transitions = 1 }
            [[tag]]
            id = "P"
            source = { mqtt = "a/p" }
            alarms.h = { at = 1, on_delay = "soon" }
            alarms.rate = { per = "10s" }
            alarms.trend = { toward = "hh", window = "1m" }
            suppress_if = { tag = "P", below = 1 }
            [[vote]]
            id = "P"
            tags = ["P", "Q"]
            k = 3
            condition = "hh"
            """)
        #expect(e.contains("hazmon.toml:6: engine.chatter.transitions: must be 2...8"))
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:10: tag "P": alarms.h.on_delay: "soon" is not a duration"#) })
        #expect(e.contains(#"hazmon.toml:11: tag "P": alarms.rate: needs rise and / or fall: the amount of change per window"#))
        #expect(e.contains(#"hazmon.toml:12: tag "P": alarms.trend.toward: the tag has no hh limit to forecast"#))
        #expect(e.contains(#"hazmon.toml:12: tag "P": alarms.trend.horizon: is required, e.g. "5m""#))
        #expect(e.contains(#"hazmon.toml:13: tag "P": suppress_if.tag: a tag cannot suppress itself"#))
        #expect(e.contains(#"hazmon.toml:15: vote "P": id: "P" is already a tag id; a vote's id names its alarm"#))
        #expect(e.contains(#"hazmon.toml:16: vote "P": tags: no tag "Q""#))
        #expect(e.contains(#"hazmon.toml:16: vote "P": tags: tag "P" has no hh limit"#))
        #expect(e.contains(#"hazmon.toml:17: vote "P": k: must be 1...2"#))
    }
}
