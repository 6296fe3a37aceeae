import HazmonConfig
import HazmonCore
import Testing

/// `[[hazard_source]]` (spec §13) as the config reads it: the spec's own example, the names
/// GB 18218 gives figures for, and every mistake with its file:line and key.
@Suite("Config: hazard sources")
struct HazardSourceConfigTests {
    static let tags = mqttHeader + """
        [[tag]]
        id = "LT-S101"
        unit = "m"
        source = { mqtt = "l/1" }
        [[tag]]
        id = "LT-S102"
        unit = "mm"
        source = { mqtt = "l/2" }
        [[tag]]
        id = "LT-NH3"
        unit = "%"
        source = { mqtt = "l/3" }
        [[tag]]
        id = "LT-T"
        unit = "cm"
        source = { mqtt = "l/4" }

        """

    @Test func theSpecsExampleAndNamedChemicals() throws {
        let c = try parse(Self.tags + """
            [[hazard_source]]
            id = "S10x"                     # referenced by tags' hazard_source
            code = "3707xx0001"
            name = "LPG spheres S101/S102"
            exposed_people = 120
            [[hazard_source.substance]]
            name = "液化石油气"
            critical_quantity = 50
            beta = 1.5
            inventory = [{ level = "LT-S101", shape = "sphere", diameter = 12.3, density = 0.51 },
                         { level = "LT-S102", shape = "sphere", diameter = 12.3, density = 0.51 }]
            [[hazard_source]]
            id = "NH3"
            exposed_people = 0
            [[hazard_source.substance]]
            name = "液氨"
            inventory = [{ level = "LT-NH3", shape = "horizontal_cylinder", diameter = 3, length = 12, density = 0.6 }]
            [[hazard_source.substance]]
            name = "methanol"
            beta = 1
            inventory = [{ level = "LT-T", shape = "table", density = 0.79, table = [[0, 0], [100, 5.5], [250, 14]] }]
            """)
        #expect(c.hazardSources.count == 2)
        let s = c.hazardSources[0]
        #expect(s.id == "S10x" && s.code == "3707xx0001" && s.alpha == 2 && s.substances[0].vessels.count == 2)
        #expect(s.substances[0].vessels[1] == VesselDefinition(levelTag: "LT-S102", shape: .sphere(diameter: 12.3), density: 0.51,
                                                                 levelUnit: .millimetres))
        let nh3 = c.hazardSources[1]
        #expect(nh3.alpha == 0.5 && nh3.name == "NH3")
        // Ammonia's Q (10 t) and β (2) from GB 18218; methanol's Q (500 t), β given.
        #expect(nh3.substances[0].criticalQuantity == 10 && nh3.substances[0].beta == 2)
        #expect(nh3.substances[0].vessels[0].levelUnit == .percent)
        #expect(nh3.substances[1].criticalQuantity == 500 && nh3.substances[1].vessels[0].levelUnit == .raw)
        #expect(nh3.substances[1].vessels[0].shape == .table([.init(level: 0, volume: 0), .init(level: 100, volume: 5.5),
                                                             .init(level: 250, volume: 14)]))
    }

    @Test func mistakesAreNamedWithTheirLine() {
        let errs = errors(Self.tags + """
            [[hazard_source]]
            id = "LT-S101"
            [[hazard_source.substance]]
            name = "unobtainium"
            inventory = [{ level = "LT-NOPE", shape = "sphere", diameter = 12, density = 0.5 }]
            [[hazard_source.substance]]
            name = "氯"
            inventory = [{ level = "LT-T", shape = "cube", density = 1.5 }]
            [[hazard_source.substance]]
            name = "氯"
            inventory = [{ level = "LT-T", shape = "sphere", diameter = 2, density = 40 }]
            [[hazard_source.substance]]
            name = "苯"
            beta = 1
            inventory = [{ level = "LT-S101", shape = "vertical_cylinder", diameter = 5, density = 0.88 },
                         { level = "LT-S102", shape = "table", density = 0.88, table = [
                [0, 0], [10, 5],
                [5, 9]] }]
            [site.x]
            """)
        let expected = [
            #"hazmon.toml:22: hazard_source "LT-S101": id: "LT-S101" is already a tag or vote id"#,
            #"hazmon.toml:21: hazard_source "LT-S101": exposed_people: is required"#,
            #"hazmon.toml:23: hazard_source "LT-S101": substance.critical_quantity: is required: hazmon does not know "unobtainium""#,
            #"hazmon.toml:23: hazard_source "LT-S101": substance.beta: is required for "unobtainium""#,
            #"hazmon.toml:25: hazard_source "LT-S101": substance.inventory.level: no tag "LT-NOPE""#,
            #"hazmon.toml:28: hazard_source "LT-S101": substance.inventory.shape: "cube" is not one of sphere"#,
            #"hazmon.toml:31: hazard_source "LT-S101": substance.inventory.density: must be a density in t/m³"#,
            #"hazmon.toml:31: hazard_source "LT-S101": substance.inventory.level: tag "LT-T" reads in "cm"; a vessel's level must be in m, mm or %"#,
            #"hazmon.toml:35: hazard_source "LT-S101": substance.inventory.height: is required for this shape"#,
            #"hazmon.toml:36: hazard_source "LT-S101": substance.inventory.table: levels must increase"#,
            #"hazmon.toml:39: site.x: unknown key"#,
        ]
        for e in expected { #expect(errs.contains { $0.hasPrefix(e) }, "\(e)\n in \(errs.joined(separator: "\n"))") }
        #expect(errs.count == expected.count, "\(errs.joined(separator: "\n"))")
    }

    @Test func positionsGroupHazardSources() throws {
        let c = try parse(Self.tags + """
            [[tag]]
            id = "GT-1"
            hazard_source = "V20x"
            source = { mqtt = "g/1" }
            [[position]]
            id = "east"
            name = "East console"
            hazard_sources = ["V20x"]
            """)
        #expect(c.positions == [PositionSettings(id: "east", name: "East console", hazardSources: ["V20x"])])
        let errs = errors(Self.tags + """
            [[tag]]
            id = "GT-1"
            hazard_source = "V20x"
            source = { mqtt = "g/1" }
            [[position]]
            id = "east"
            hazard_sources = ["V20x", "nowhere"]
            [[position]]
            id = "west"
            hazard_sources = ["V20x"]
            [[position]]
            id = "west"
            """)
        let expected = [
            #"hazmon.toml:27: position "east": hazard_sources: no hazard source "nowhere""#,
            #"hazmon.toml:30: position "west": hazard_sources: "V20x" is already position "east"'s"#,
            #"hazmon.toml:32: position "west": id: duplicate position id"#,
            #"hazmon.toml:31: position "west": hazard_sources: is required"#,
        ]
        for e in expected { #expect(errs.contains { $0.hasPrefix(e) }, "\(e)\n in \(errs.joined(separator: "\n"))") }
        #expect(errs.count == expected.count, "\(errs.joined(separator: "\n"))")
    }

    @Test func interlocksHaveABypassAlarmOnly() throws {
        let c = try parse(mqttHeader + """
            [[tag]]
            id = "XS-1"
            class = "interlock"
            source = { mqtt = "i/1" }
            [[tag]]
            id = "XS-2"
            class = "interlock"
            source = { mqtt = "i/2" }
            alarms.bypass = { after = "15m", grade = 1 }
            """)
        let d1 = c.tags[0].definition, d2 = c.tags[1].definition
        #expect(d1.l == LimitRule(at: 0.5, grade: .orange, onDelay: .seconds(3600)) && d1.h == nil)
        #expect(d2.l?.onDelay == .seconds(900) && d2.l?.grade == .red)
        let errs = errors(mqttHeader + """
            [[tag]]
            id = "XS-1"
            class = "interlock"
            source = { mqtt = "i/1" }
            alarms.h = { at = 2 }
            [[tag]]
            id = "PT-1"
            source = { mqtt = "i/2" }
            alarms.bypass = { after = "1m" }
            """)
        #expect(errs.contains { $0.hasPrefix(#"hazmon.toml:9: tag "XS-1": alarms.h: an interlock tag (1 in service, 0 bypassed) has alarms.bypass only"#) },
                "\(errs)")
        #expect(errs.contains { $0.hasPrefix(#"hazmon.toml:13: tag "PT-1": alarms.bypass: only a tag of class interlock has alarms.bypass"#) },
                "\(errs)")
    }

    @Test func modesNameTheirTagsAndBounds() throws {
        let source = """
            [[hazard_source]]
            id = "S1"
            exposed_people = 10
            MODES
            [[hazard_source.substance]]
            name = "LPG"
            beta = 1.5
            inventory = [{ level = "LT-S101", shape = "sphere", diameter = 12, density = 0.5 }]
            """
        let c = try parse(Self.tags + source.replacingOccurrences(of: "MODES", with: """
            modes.maintenance = { suppress = ["LT-S102"], max = "12h" }
            modes.startup = { suppress = ["LT-S101", "LT-S102"] }
            """))
        #expect(c.hazardSources[0].modes == [.maintenance: ModeRule(suppress: ["LT-S102"], max: .seconds(43_200)),
                                             .startup: ModeRule(suppress: ["LT-S101", "LT-S102"], max: .seconds(86_400))])
        let errs = errors(Self.tags + source.replacingOccurrences(of: "MODES", with: """
            modes.maintenance = { suppress = ["NOPE"], max = "0s" }
            modes.repair = { suppress = [] }
            """))
        let expected = [
            #"hazmon.toml:24: hazard_source "S1": modes.maintenance.suppress: no tag "NOPE""#,
            #"hazmon.toml:24: hazard_source "S1": modes.maintenance.max: must be more than 0"#,
            #"hazmon.toml:25: hazard_source "S1": modes.repair: unknown key"#,
        ]
        for e in expected { #expect(errs.contains { $0.hasPrefix(e) }, "\(e)\n in \(errs.joined(separator: "\n"))") }
        #expect(errs.count == expected.count, "\(errs.joined(separator: "\n"))")
    }
}
