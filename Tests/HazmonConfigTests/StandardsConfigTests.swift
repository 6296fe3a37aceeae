import HazmonConfig
import HazmonCore
import Testing

/// Issue 18 items 3–5 as the config reads them: votes' `on_bad`, gas detectors that may not go
/// silent, exposure limits in the standard's units.
@Suite("Config: standards (stale gas detectors, OEL units, votes)")
struct StandardsConfigTests {
    func tag(_ body: String) -> String {
        mqttHeader + """
            [[tag]]
            id = "AT-1"
            source = { mqtt = "a/b" }
            \(body)
            """
    }

    // MARK: no gas detector goes silent

    @Test func gasTagsGetAStaleDefaultAndOthersDoNot() throws {
        let c = try parse(mqttHeader + """
            [[modbus.device]]
            id = "panel"
            url = "tcp://127.0.0.1:1502"
            poll = "2s"
            [[modbus.device]]
            id = "slow"
            url = "tcp://127.0.0.1:1503"
            poll = "30s"
            [[tag]]
            id = "GT-mqtt"
            class = "combustible_gas"
            source = { mqtt = "a/b" }
            [[tag]]
            id = "GT-modbus"
            class = "combustible_gas"
            source = { modbus = "panel", table = "holding", address = 0 }
            [[tag]]
            id = "O2-slow"
            class = "oxygen"
            source = { modbus = "slow", table = "holding", address = 1 }
            [[tag]]
            id = "PT"
            class = "pressure"
            source = { mqtt = "a/c" }
            alarms.h = { at = 1 }
            """)
        let stale = Dictionary(uniqueKeysWithValues: c.tags.map { ($0.definition.id, $0.definition.staleAfter) })
        #expect(stale["GT-mqtt"] == .seconds(60))      // period unknown: at most 60 s
        #expect(stale["GT-modbus"] == .seconds(10))    // 3 × 2 s, at least 10 s
        #expect(stale["O2-slow"] == .seconds(60))      // 3 × 30 s, capped at 60 s
        #expect(stale["PT"] == .some(nil))
    }

    @Test func theEngineDefaultAndTheTagsOwnWin() throws {
        let c = try parse(mqttHeader + """
            [engine]
            stale_after = "20s"
            [[tag]]
            id = "GT-1"
            class = "combustible_gas"
            source = { mqtt = "a/b" }
            [[tag]]
            id = "GT-2"
            class = "combustible_gas"
            stale_after = "5s"
            source = { mqtt = "a/c" }
            """)
        #expect(c.tags.map(\.definition.staleAfter) == [.seconds(20), .seconds(5)])
    }

    @Test func aGasTagWithStalenessOffIsRefusedWithItsPlace() {
        let e = errors(mqttHeader + """
            [[tag]]
            id = "GT-1"
            class = "combustible_gas"
            stale_after = "off"
            source = { mqtt = "a/b" }
            """)
        #expect(e.count == 1)
        #expect(e.first?.hasPrefix(#"hazmon.toml:8: tag "GT-1": stale_after: a combustible_gas detector must not go silent"#) == true)
        #expect(e.first?.contains("compliance_override") == true)
    }

    @Test func complianceOverrideLetsStalenessBeTurnedOffWithAWarning() throws {
        let c = try parse(mqttHeader + """
            [[tag]]
            id = "GT-1"
            class = "combustible_gas"
            stale_after = "off"
            compliance_override = "gateway heartbeat watched by the DCS, MOC-2026-17"
            source = { mqtt = "a/b" }
            [[tag]]
            id = "PT"
            stale_after = "off"
            source = { mqtt = "a/c" }
            """)
        #expect(c.tags.map(\.definition.staleAfter) == [nil, nil])
        #expect(c.warnings.count == 1 && c.warnings[0].description.contains("MOC-2026-17"))
    }

    // MARK: OEL in the standard's units

    @Test("mg/m3 converts to ppm by molar mass at 25 °C", arguments: [
        ("H2S", 10.0, 7.174),      // 10 × 24.45 / 34.08 = 7.1743
        ("chlorine", 1, 0.3449),   // 1 × 24.45 / 70.90 = 0.34485
        ("benzene", 6, 1.878),     // 6 × 24.45 / 78.11 = 1.8781
        ("NH3", 20, 28.71),        // 20 × 24.45 / 17.03 = 28.714
    ])
    func milligramsToPPM(gas: String, mg: Double, ppm: Double) throws {
        let c = try parse(tag("""
            class = "toxic_gas"
            gas = "\(gas)"
            oel = "\(mg) mg/m3"
            """))
        let d = c.tags[0].definition
        #expect(d.unit == "ppm")
        #expect(d.h?.at == ppm)
        #expect(c.tags[0].oel.map { abs($0 - ppm) <= 0.001 * ppm } == true)
        #expect(d.hh.map { abs($0.at - 2 * ppm) <= 0.001 * ppm } == true)
    }

    @Test func aLimitInTheTagsOwnUnitNeedsNoGas() throws {
        let ppm = try parse(tag("class = \"toxic_gas\"\noel = \"5 ppm\""))
        #expect(ppm.tags[0].definition.h?.at == 5 && ppm.tags[0].definition.hh?.at == 10)
        let mg = try parse(tag("class = \"toxic_gas\"\nunit = \"mg/m3\"\noel = \"1 mg/m3\""))
        #expect(mg.tags[0].definition.h?.at == 1)
        let number = try parse(tag("class = \"toxic_gas\"\noel = 10"))
        #expect(number.tags[0].definition.h?.at == 10)
    }

    @Test func unitsThatDoNotMeetAreRefused() {
        let noGas = errors(tag("class = \"toxic_gas\"\noel = \"10 mg/m3\""))
        #expect(noGas.count == 1 && noGas[0].contains(#"hazmon.toml:9: tag "AT-1": oel: is in mg/m3 and the tag reads ppm: name the gas"#))
        let wrongUnit = errors(tag("class = \"toxic_gas\"\nunit = \"%LEL\"\noel = \"10 ppm\""))
        #expect(wrongUnit.count == 1 && wrongUnit[0].contains(#"oel: is in ppm but the tag reads "%LEL""#))
        let unknownGas = errors(tag("class = \"toxic_gas\"\ngas = \"unobtainium\"\noel = \"10 mg/m3\""))
        #expect(unknownGas.first?.contains(#"gas: "unobtainium" is not a gas hazmon knows"#) == true)
        let garbled = errors(tag("class = \"toxic_gas\"\noel = \"ten mg/m3\""))
        #expect(garbled.first?.contains(#"oel: "ten mg/m3" is not an amount and a unit"#) == true)
        let notToxic = errors(tag("class = \"pressure\"\noel = 10\nalarms.h = { at = 1 }"))
        #expect(notToxic.first?.contains("oel: only a toxic_gas tag has an exposure limit") == true)
    }

    @Test func idlhWhereNoOELApplies() throws {
        let c = try parse(tag("class = \"toxic_gas\"\nidlh = \"100 ppm\""))
        #expect(c.tags[0].definition.h?.at == 5 && c.tags[0].definition.hh?.at == 10)
        let tooHigh = errors(tag("class = \"toxic_gas\"\nidlh = \"100 ppm\"\nalarms.hh = { at = 15 }"))
        #expect(tooHigh.first?.contains("alarms.hh.at: 15 exceeds the GB/T 50493 second-level maximum of 10 % IDLH (10 ppm)") == true)
        let both = errors(tag("class = \"toxic_gas\"\noel = 10\nidlh = \"100 ppm\""))
        #expect(both.first?.contains("give oel or idlh, not both") == true)
    }

    // MARK: votes

    @Test func votesDegradeUnlessToldToTrip() throws {
        let body = """
            [[tag]]
            id = "G1"
            class = "combustible_gas"
            source = { mqtt = "a/1" }
            [[tag]]
            id = "G2"
            class = "combustible_gas"
            source = { mqtt = "a/2" }
            [[vote]]
            id = "v"
            tags = ["G1", "G2"]
            k = 2
            condition = "h"

            """
        #expect(try parse(mqttHeader + body).votes[0].onBad == .degrade)
        #expect(try parse(mqttHeader + body + "on_bad = \"trip\"").votes[0].onBad == .trip)
        #expect(errors(mqttHeader + body + "on_bad = \"ignore\"").first?.contains(#"on_bad: "ignore" is not one of degrade"#) == true)
    }

    // MARK: language and time zone

    @Test func languageAndTimezoneOfTheSite() throws {
        let c = try parse("[site]\nid = \"yx\"\nlanguage = \"zh-CN\"\ntimezone = \"Asia/Shanghai\"\n")
        #expect(c.site.language == .zhCN && c.engine.language == .zhCN)
        #expect(c.site.timezone == "Asia/Shanghai" && c.site.timeZone.identifier == "Asia/Shanghai")
        let en = try parse("[site]\nid = \"yx\"\nlanguage = \"en\"\n")
        #expect(en.site.language == .en && en.site.timezone == nil)
        #expect(errors("[site]\nid = \"yx\"\nlanguage = \"fr\"\n") == [#"hazmon.toml:3: site.language: "fr" is not one of zh-CN, en"#])
        #expect(errors("[site]\nid = \"yx\"\ntimezone = \"Mars/Olympus\"\n").first?.contains(#"timezone: "Mars/Olympus" is not an IANA time zone"#) == true)
    }
}
