import Foundation
import HazmonConfig
import HazmonSimulator
import HazmonCore
import HazmonModbus
import Testing

/// The repository root, to reach Config/.
let repoRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

func parse(_ text: String) throws(ConfigErrors) -> HazmonConfiguration {
    try ConfigLoader.parse(text: text, file: "hazmon.toml")
}

/// The errors a config produces, as the CLI prints them.
func errors(_ text: String) -> [String] {
    do {
        _ = try parse(text)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

let mqttHeader = """
    [site]
    id = "t"
    [mqtt]
    url = "mqtt://127.0.0.1:1883"

    """

@Suite("Config: good files")
struct GoodConfigTests {
    @Test func exampleConfigIsValid() throws {
        let c = try ConfigLoader.load(path: repoRoot + "/Config/hazmon.example.toml")
        #expect(c.site.id == "yx-tankfarm")
        #expect(c.tags.count >= 5)
        #expect(c.mqtt?.maps.count == 2)
        #expect(c.modbusDevices.first?.transport == .tcp(host: "127.0.0.1", port: 1502))
        #expect(c.warnings.isEmpty)
    }

    @Test func defaultsApplyWhenSectionsAreMissing() throws {
        let c = try parse("")
        #expect(c.site.id == "hazmon")
        #expect(c.log == LogSettings(format: .journal, level: .info))
        #expect(c.alertSocket.path == "/run/hazmon/alerts.sock" && c.alertSocket.mode == 0o660)
        #expect(c.journal.retention == .seconds(400 * 86_400))
        #expect(c.mqtt == nil && c.tags.isEmpty)
    }

    @Test func combustiblePresetFillsLimits() throws {
        let c = try parse(mqttHeader + """
            [[tag]]
            id = "GT-1"
            class = "combustible_gas"
            source = { mqtt = "a/b" }
            alarms.hh = { at = 35, grade = 1 }
            """)
        let d = c.tags[0].definition
        #expect(d.unit == "%LEL")
        #expect(d.h == LimitRule(at: 20, grade: .yellow, deadband: 2))
        #expect(d.hh == LimitRule(at: 35, grade: .red, deadband: 2))
        #expect(d.source == "mqtt:a/b")
        #expect(c.tags[0].source == .mqtt(.topic("a/b", json: nil)))
    }

    @Test func toxicPresetComesFromOEL() throws {
        let c = try parse(mqttHeader + """
            [[tag]]
            id = "AT-1"
            class = "toxic_gas"
            oel = 10
            source = { mqtt = "a/b", json = "data.nh3" }
            """)
        #expect(c.tags[0].definition.h?.at == 10)
        #expect(c.tags[0].definition.hh?.at == 20)
        #expect(c.tags[0].source == .mqtt(.topic("a/b", json: "data.nh3")))
    }

    @Test func complianceOverrideTurnsTheErrorIntoALoggedWarning() throws {
        let c = try parse(mqttHeader + """
            [[tag]]
            id = "GT-1"
            class = "combustible_gas"
            compliance_override = "open-path detector range agreed with the safety authority, ticket 42"
            source = { mqtt = "a/b" }
            alarms.hh = { at = 60 }
            """)
        #expect(c.warnings.count == 1)
        #expect(c.warnings[0].description.contains("alarms.hh.at: 60 exceeds the GB/T 50493 second-level maximum of 50 %LEL (accepted by compliance_override: open-path"))
        #expect(c.warnings[0].line == 10)
    }

    @Test func modbusAddressingStyles() throws {
        let c = try parse("""
            [[modbus.device]]
            id = "panel"
            url = "rtu:///dev/ttyS1?baud=38400&parity=N&data_bits=8&stop_bits=2"
            address_base = 1

            [[tag]]
            id = "A"
            source = { modbus = "panel", address = "40003", type = "float32", order = "cdab" }

            [[tag]]
            id = "B"
            source = { modbus = "panel", table = "input", address = 1, type = "bit", bit = 6 }

            [[tag]]
            id = "C"
            source = { modbus = "panel", table = "holding", address = 10, signal = "4-20mA", scale = { raw = [4000, 20000], eu = [0, 100] } }
            """)
        #expect(c.modbusDevices[0].transport == .rtu(device: "/dev/ttyS1", baud: 38400, parity: "N", dataBits: 8, stopBits: 2))
        guard case .modbus(let a) = c.tags[0].source, case .modbus(let b) = c.tags[1].source, case .modbus(let cc) = c.tags[2].source else {
            Issue.record("not modbus sources"); return
        }
        #expect(a.table == .holding && a.address == 2 && a.type == .float32 && a.order == .cdab)
        #expect(b.table == .input && b.address == 0 && b.type == .bit(6))
        #expect(cc.address == 9 && cc.signal4to20mA && cc.scale == LinearScale(raw: (4000, 20000), eu: (0, 100)))
    }

    /// A directory with `files` (name → text), removed after `body`.
    func inDirectory<T>(_ files: [String: String], _ body: (String) throws -> T) throws -> T {
        let dir = NSTemporaryDirectory() + "hazmon-points-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, text) in files {
            let path = dir + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return try body(dir)
    }

    /// `include`: point tables with tags, votes and devices join the main file's, in name order.
    @Test func pointTablesAreIncluded() throws {
        let c = try inDirectory([
            "hazmon.toml": """
                include = ["points/*.toml", "extra/gc-9.toml"]
                [site]
                id = "s"
                [[tag]]
                id = "MAIN-1"
                source = { modbus = "gc-9", table = "input", address = 0 }
                """,
            "points/a-dike.toml": """
                [[tag]]
                id = "GT-A1"
                class = "combustible_gas"
                source = { modbus = "gc-9", table = "input", address = 2, type = "float32" }
                [[tag]]
                id = "GT-A2"
                class = "combustible_gas"
                source = { modbus = "gc-9", table = "input", address = 4, type = "float32" }
                [[vote]]
                id = "A-dike"
                tags = ["GT-A1", "GT-A2"]
                k = 2
                condition = "hh"
                """,
            "points/b-dike.toml": """
                [[tag]]
                id = "GT-B1"
                class = "combustible_gas"
                source = { modbus = "gc-9", table = "input", address = 6, type = "float32" }
                """,
            "extra/gc-9.toml": """
                [[modbus.device]]
                id = "gc-9"
                url = "tcp://127.0.0.1:1502"
                """,
        ]) { dir in try ConfigLoader.load(path: dir + "/hazmon.toml") }
        #expect(c.tags.map(\.definition.id) == ["MAIN-1", "GT-A1", "GT-A2", "GT-B1"])
        #expect(c.votes.map(\.id) == ["A-dike"] && c.modbusDevices.map(\.id) == ["gc-9"])
        #expect(c.includedFiles.map { ($0 as NSString).lastPathComponent } == ["a-dike.toml", "b-dike.toml", "gc-9.toml"])
    }

    /// Mistakes in point tables name their own file, line and key; a pattern that matches
    /// nothing, another section, a nested include and a duplicate across files are errors.
    @Test func pointTableMistakesNameTheirFile() throws {
        let errors: [String] = try inDirectory([
            "hazmon.toml": """
                include = ["points/*.toml", "missing/*.toml"]
                [mqtt]
                url = "mqtt://127.0.0.1:1883"
                [[tag]]
                id = "GT-1"
                source = { mqtt = "plant/gt1" }
                """,
            "points/a.toml": """
                include = ["b.toml"]
                [site]
                id = "x"
                [[tag]]
                id = "GT-1"
                source = { mqtt = "plant/gt1b" }
                [[tag]]
                id = "GT-2"
                class = "combustible_gas"
                source = { mqtt = "plant/gt2" }
                alarms.hh = { at = 60 }
                """,
            "points/b.toml": "[[tag]\nid = 3\n",
        ]) { dir in
            do throws(ConfigErrors) {
                _ = try ConfigLoader.load(path: dir + "/hazmon.toml")
                return []
            } catch {
                return error.errors.map { $0.description.replacingOccurrences(of: dir + "/", with: "") }
            }
        }
        #expect(errors.contains { $0.hasPrefix(#"hazmon.toml:1: include: "missing/*.toml" matches no file"#) }, "\(errors)")
        #expect(errors.contains("points/a.toml:1: include: a point table holds [[tag]], [[vote]] and [[modbus.device]] entries only (includes do not nest)"), "\(errors)")
        #expect(errors.contains("points/a.toml:2: site: a point table holds [[tag]], [[vote]] and [[modbus.device]] entries only"), "\(errors)")
        #expect(errors.contains(#"points/a.toml:5: tag "GT-1": id: duplicate tag id (first defined at hazmon.toml:4)"#), "\(errors)")
        #expect(errors.contains { $0.hasPrefix(#"points/a.toml:11: tag "GT-2": alarms.hh.at: 60 exceeds the GB/T 50493 second-level maximum"#) }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("points/b.toml:1: TOML syntax") }, "\(errors)")
        #expect(errors.first?.hasPrefix("hazmon.toml") == true, "the main file's errors first")
    }

    /// `frozen = { after, band }`: an unmoving value as a sensor fault.
    @Test func frozenRule() throws {
        let c = try parse("""
            [mqtt]
            url = "mqtt://127.0.0.1:1883"
            [[tag]]
            id = "GT-1"
            class = "combustible_gas"
            source = { mqtt = "plant/gt1" }
            frozen = { after = "30m", band = 0.1 }
            """)
        #expect(c.tags[0].definition.frozen == FrozenRule(after: .seconds(1800), band: 0.1))
        let e = errors("""
            [mqtt]
            url = "mqtt://127.0.0.1:1883"
            [[tag]]
            id = "GT-1"
            source = { mqtt = "plant/gt1" }
            frozen = { band = -1 }
            [[tag]]
            id = "GT-2"
            source = { mqtt = "plant/gt2" }
            frozen = { after = "500ms", within = 3 }
            """)
        #expect(e.contains(#"hazmon.toml:6: tag "GT-1": frozen.after: is required: how long an unmoving value is believed (e.g. "30m")"#), "\(e)")
        #expect(e.contains(#"hazmon.toml:6: tag "GT-1": frozen.band: must be 0 or more (in the tag's unit)"#), "\(e)")
        #expect(e.contains(#"hazmon.toml:10: tag "GT-2": frozen.after: must be at least 1s"#), "\(e)")
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:10: tag "GT-2": frozen.within: unknown key"#) }, "\(e)")
    }

    /// `fault_bit`: a bit of the device's status word (same table as the value unless named,
    /// the same address styles and address_base), or a discrete input.
    @Test func modbusFaultBits() throws {
        let c = try parse("""
            [[modbus.device]]
            id = "gc"
            url = "tcp://127.0.0.1:1502"
            address_base = 1
            [[tag]]
            id = "A"
            source = { modbus = "gc", table = "input", address = 1, type = "float32", fault_bit = { address = 41, bit = 8 } }
            [[tag]]
            id = "B"
            source = { modbus = "gc", table = "input", address = 3, type = "float32", fault_bit = { address = "40051", bit = 15 } }
            [[tag]]
            id = "C"
            source = { modbus = "gc", table = "input", address = 5, type = "float32", fault_bit = { table = "discrete", address = 3 } }
            """)
        let bits = c.tags.compactMap { t -> ModbusFaultBit? in if case .modbus(let m) = t.source { return m.faultBit } else { return nil } }
        #expect(bits == [ModbusFaultBit(table: .input, address: 40, bit: 8), ModbusFaultBit(table: .holding, address: 50, bit: 15),
                         ModbusFaultBit(table: .discrete, address: 2, bit: 0)])
        let e = errors("""
            [[modbus.device]]
            id = "gc"
            url = "tcp://127.0.0.1:1502"
            [[tag]]
            id = "A"
            source = { modbus = "gc", table = "input", address = 0, type = "float32", fault_bit = { address = 40 } }
            [[tag]]
            id = "B"
            source = { modbus = "gc", table = "input", address = 2, type = "float32", fault_bit = { table = "coil", address = 1, bit = 3 } }
            [[tag]]
            id = "C"
            source = { modbus = "gc", table = "input", address = 4, type = "float32", fault_bit = { address = 40, bit = 16, mask = 1 } }
            """)
        #expect(e.contains(#"hazmon.toml:6: tag "A": source.fault_bit.bit: is required: which bit of the register (0...15) is the fault"#), "\(e)")
        #expect(e.contains(#"hazmon.toml:9: tag "B": source.fault_bit.bit: a coil is a single bit: leave bit out"#), "\(e)")
        #expect(e.contains(#"hazmon.toml:12: tag "C": source.fault_bit.bit: must be 0...15"#), "\(e)")
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:12: tag "C": source.fault_bit.mask: unknown key"#) }, "\(e)")
    }

    @Test func mqttMapsAndTLS() throws {
        let c = try parse("""
            [mqtt]
            url = "mqtts://[::1]:8884"
            [[mqtt.map]]
            id = "gw"
            topic = "gw/+/+/telemetry"
            tag = "{2}-{3}"
            [[mqtt.map]]
            id = "batch"
            topic = "gw/batch/#"
            batch = true
            [[tag]]
            id = "T1-P"
            source = { mqtt_map = "gw" }
            """)
        let m = try #require(c.mqtt)
        #expect(m.tls && m.host == "::1" && m.port == 8884)
        #expect(m.maps[1].tag == "{tag}" && m.maps[1].batch)
        #expect(c.tags[0].definition.source == "mqtt:gw/+/+/telemetry")
    }

    @Test("durations", arguments: [
        ("500ms", Duration.milliseconds(500)), ("2s", .seconds(2)), ("10m", .seconds(600)),
        ("1h30m", .seconds(5400)), ("400d", .seconds(400 * 86_400)), ("1.5s", .milliseconds(1500)),
    ])
    func durations(text: String, expected: Duration) throws {
        #expect(try DurationParser.parse(text) == expected)
    }

    @Test("bad durations", arguments: ["", "5", "5 parsecs", "s", "-1s", "1e9999d"])
    func badDurations(_ text: String) {
        #expect(throws: DurationParser.Failure.self) { try DurationParser.parse(text) }
    }
}

@Suite("Config: every kind of bad file names file:line and key")
struct BadConfigTests {
    @Test func combustibleSecondLevelAbove50() {
        let e = errors(mqttHeader + """
            [[tag]]
            id = "GT-101"
            class = "combustible_gas"
            source = { mqtt = "a/b" }
            alarms.h  = { at = 20 }
            alarms.hh = { at = 60 }
            """)
        #expect(e == [#"hazmon.toml:10: tag "GT-101": alarms.hh.at: 60 exceeds the GB/T 50493 second-level maximum of 50 %LEL"#])
    }

    @Test func combustibleFirstLevelAbove25() {
        let e = errors(mqttHeader + """
            [[tag]]
            id = "GT-101"
            class = "combustible_gas"
            source = { mqtt = "a/b" }
            alarms.h  = { at = 30 }
            """)
        #expect(e == [#"hazmon.toml:9: tag "GT-101": alarms.h.at: 30 exceeds the GB/T 50493 first-level maximum of 25 %LEL"#])
    }

    @Test func toxicRules() {
        #expect(errors(mqttHeader + """
            [[tag]]
            id = "AT-1"
            class = "toxic_gas"
            source = { mqtt = "a/b" }
            """).first?.contains("hazmon.toml:5: tag \"AT-1\": oel: a toxic_gas tag needs") == true)
        #expect(errors(mqttHeader + """
            [[tag]]
            id = "AT-1"
            class = "toxic_gas"
            oel = 10
            source = { mqtt = "a/b" }
            alarms.hh = { at = 25 }
            """) == [#"hazmon.toml:10: tag "AT-1": alarms.hh.at: 25 exceeds the GB/T 50493 second-level maximum of 200 % OEL (20 ppm)"#])
    }

    @Test func oxygenRules() {
        let e = errors(mqttHeader + """
            [[tag]]
            id = "OX-1"
            class = "oxygen"
            source = { mqtt = "a/b" }
            alarms.l = { at = 18 }
            alarms.h = { at = 25 }
            """)
        #expect(e.count == 2)
        #expect(e[0].hasPrefix("hazmon.toml:9: tag \"OX-1\": alarms.l.at: 18 is below"))
        #expect(e[1].hasPrefix("hazmon.toml:10: tag \"OX-1\": alarms.h.at: 25 is above"))
    }

    @Test func unknownKeysAnywhere() {
        let e = errors("""
            [site]
            idd = "x"
            [logg]
            [[tag]]
            id = "A"
            sauce = 1
            source = { mqtt = "a", jsn = "v" }
            alarms.h = { at = 1, grad = 3 }
            """)
        #expect(e.contains("hazmon.toml:2: site.idd: unknown key (check its spelling; see Config/hazmon.example.toml)"))
        #expect(e.contains("hazmon.toml:3: logg: unknown key (check its spelling; see Config/hazmon.example.toml)"))
        #expect(e.contains(#"hazmon.toml:6: tag "A": sauce: unknown key (check its spelling; see Config/hazmon.example.toml)"#))
        #expect(e.contains(#"hazmon.toml:7: tag "A": source.jsn: unknown key (check its spelling; see Config/hazmon.example.toml)"#))
        #expect(e.contains(#"hazmon.toml:8: tag "A": alarms.h.grad: unknown key (check its spelling; see Config/hazmon.example.toml)"#))
    }

    @Test func referencesAndDuplicates() {
        let e = errors("""
            [[modbus.device]]
            id = "p1"
            url = "tcp://127.0.0.1"
            [[modbus.device]]
            id = "p1"
            url = "tcp://127.0.0.1:1502"

            [[tag]]
            id = "A"
            source = { mqtt = "x/y" }

            [[tag]]
            id = "A"
            source = { modbus = "nope", table = "input", address = 0 }
            """)
        #expect(e.contains(#"hazmon.toml:5: modbus.device "p1": id: duplicate device id (first defined at line 1)"#))
        #expect(e.contains(#"hazmon.toml:10: tag "A": source.mqtt: an MQTT source needs an [mqtt] section with the broker url"#))
        #expect(e.contains(#"hazmon.toml:13: tag "A": id: duplicate tag id (first defined at line 8)"#))
        #expect(e.contains(#"hazmon.toml:14: tag "A": source.modbus: no [[modbus.device]] has id "nope""#))
    }

    @Test func wrongTypesAndRanges() {
        let e = errors(mqttHeader + """
            qos = 3
            [alert_socket]
            mode = "rw-rw----"
            [journal]
            retention = "7d"
            [[tag]]
            id = "P"
            source = { mqtt = "a/b" }
            alarms.h = { at = "high", grade = 0, deadband = -1 }
            alarms.hh = { at = 1 }
            """)
        #expect(e.contains("hazmon.toml:5: mqtt.qos: must be 0, 1 or 2"))
        #expect(e.contains(#"hazmon.toml:7: alert_socket.mode: "rw-rw----" is not an octal file mode like "0660""#))
        #expect(e.contains("hazmon.toml:9: journal.retention: 7d is below the legal minimum of 30 days of records"))
        #expect(e.contains(#"hazmon.toml:13: tag "P": alarms.h.at: expected a number, found string"#))
        #expect(e.contains(#"hazmon.toml:13: tag "P": alarms.h.grade: 0 is not a grade 1 (red) ... 4 (blue)"#))
        #expect(e.contains(#"hazmon.toml:13: tag "P": alarms.h.deadband: must not be negative"#))
    }

    @Test func limitOrdering() {
        let e = errors(mqttHeader + """
            [[tag]]
            id = "P"
            source = { mqtt = "a/b" }
            alarms.h = { at = 5 }
            alarms.hh = { at = 4 }
            alarms.l = { at = 6 }
            """)
        #expect(e.contains(#"hazmon.toml:9: tag "P": alarms.hh.at: 4 must be above alarms.h.at 5"#))
        #expect(e.contains { $0.contains("the high limits (from 4) must lie above the low limits (up to 6)") })
    }

    @Test func modbusSourceMistakes() {
        let e = errors("""
            [[modbus.device]]
            id = "d"
            url = "rtu:///dev/ttyS0?baud=12345&flow=rts"
            address_base = 2
            [[tag]]
            id = "A"
            source = { modbus = "d", table = "coil", address = 0, type = "float32" }
            [[tag]]
            id = "B"
            source = { modbus = "d", table = "holding", address = 65535, type = "float32", order = "ACBD" }
            [[tag]]
            id = "C"
            source = { modbus = "d", table = "input", address = 1, signal = "0-10V" }
            """)
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:3: modbus.device "d": url: baud 12345 is not one of"#) })
        #expect(e.contains(#"hazmon.toml:4: modbus.device "d": address_base: must be 0 or 1"#))
        #expect(e.contains(#"hazmon.toml:7: tag "A": source.type: a coil holds single bits: use type "bool""#))
        #expect(e.contains(#"hazmon.toml:10: tag "B": source.address: 65535 + 2 registers runs past 65535"#))
        #expect(e.contains(#"hazmon.toml:10: tag "B": source.order: "ACBD" is not one of ABCD, CDAB, BADC, DCBA"#))
        #expect(e.contains(#"hazmon.toml:13: tag "C": source.signal: "0-10V" is not a known signal (only "4-20mA")"#))
    }

    @Test func modbusDeviceAndLayoutMistakes() {
        let e = errors("""
            [[modbus.device]]
            id = "a"
            url = "rtu:///dev/ttyS1?baud=9600"
            [[modbus.device]]
            id = "b"
            url = "rtu:///dev/ttyS1?baud=19200"
            [[modbus.device]]
            id = "c"
            url = "tcp://10.0.0.5"
            rs485 = true
            comm_after = 0
            max_gap = 200
            heartbeat = { table = "register", address = 3, within = "1s" }
            [[tag]]
            id = "F1"
            source = { modbus = "c", table = "input", address = 0, type = "float32" }
            [[tag]]
            id = "F2"
            source = { modbus = "c", table = "input", address = 1, type = "float32" }
            [[tag]]
            id = "W"
            source = { modbus = "c", table = "input", address = 0, type = "float32" }
            [[tag]]
            id = "S"
            source = { modbus = "c", table = "holding", address = 1 }
            [[tag]]
            id = "S7"
            source = { modbus = "c", table = "holding", address = 1, type = "bit", bit = 7 }
            """)
        #expect(e.contains(#"hazmon.toml:6: modbus.device "b": url: shares /dev/ttyS1 with device "a" but not its serial settings (one bus, one setting)"#))
        #expect(e.contains(#"hazmon.toml:10: modbus.device "c": rs485: applies to rtu:// devices only"#))
        #expect(e.contains(#"hazmon.toml:11: modbus.device "c": comm_after: must be 1...100 failed polls"#))
        #expect(e.contains(#"hazmon.toml:12: modbus.device "c": max_gap: must be 0...124 registers"#))
        #expect(e.contains { $0.contains(#"heartbeat.table: "register" is not one of coil, discrete, input, holding"#) })
        #expect(e.contains { $0.contains(#"heartbeat.within: must be at least two polls (2s)"#) })
        #expect(e.contains { $0.contains(#"tag "F2": source.address: registers 1...2 overlap tag "F1" (registers 0...1)"#) })
        #expect(!e.contains { $0.contains(#"tag "W""#) }, "the same registers read twice are fine")
        #expect(!e.contains { $0.contains(#"tag "S7""#) }, "a bit of a word read as a whole is fine")
    }

    @Test func mqttMistakes() {
        let e = errors("""
            [mqtt]
            url = "http://broker"
            password_file = "/nonexistent/pass"
            [[mqtt.map]]
            id = "m"
            topic = "a/#/b"
            tag = "{7}-{x}"
            [[tag]]
            id = "A"
            source = { mqtt = "a/+/c" }
            [[tag]]
            id = "B"
            source = { mqtt_map = "nope" }
            """)
        #expect(e.contains(#"hazmon.toml:2: mqtt.url: "http://broker" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"#))
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:3: mqtt.password_file: cannot read "/nonexistent/pass""#) })
        #expect(e.contains("hazmon.toml:6: mqtt.map.topic: '#' must be a whole level and the last one"))
        #expect(e.contains { $0.hasPrefix("hazmon.toml:7: mqtt.map.tag: {7}") })
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:10: tag "A": source.mqtt: a tag's topic must be exact"#) })
        #expect(e.contains(#"hazmon.toml:13: tag "B": source.mqtt_map: no [[mqtt.map]] has id "nope""#))
    }

    @Test func syntaxErrorsNameTheirLine() {
        let e = errors("[site]\nid = \"x\"\nname = \"unterminated\n")
        #expect(e.count == 1)
        #expect(e[0].hasPrefix("hazmon.toml:3: TOML syntax:"))
    }

    /// toml++ aborts on these (an assertion in its header parser); hazmon must answer instead.
    @Test("headers that do not start with a key", arguments: ["[#journal]\npath = \"x\"", "x = 1\n  [[ @tag]]", "[ +a ]", "[\n[log]", "[\r\n"])
    func headersThatDoNotStartWithAKey(_ text: String) {
        let e = errors(text)
        #expect(e.count == 1 && e[0].contains("TOML syntax: a table header must start with a key"))
    }

    /// toml++ asserts that no array value starts with '}' (found by the fuzzer below):
    /// refused with its line before parsing; a '}' in a string or a comment is fine.
    @Test("a brace inside an array", arguments: [("[site]\nid = \"x\"\na = [0,}100]", 3), ("[site]\nid = \"x\"\na = [\n  }", 4)])
    func aBraceInsideAnArray(_ text: String, line: Int) {
        let e = errors(text)
        #expect(e.count == 1 && e[0].hasPrefix("hazmon.toml:\(line): TOML syntax: '}' inside an array"), "\(e)")
        #expect(errors("[site]\nid = \"x\"\nname = \"[}\" # [}\n").isEmpty)
    }

    /// toml++ takes time quadratic in a dotted key's parts: a key of 100,000 parts took over a
    /// minute. Refused with its line before parsing, in a header, a key or an inline table.
    @Test("dotted keys too deep to be hazmon's", arguments: ["[site]\nid = \"x\"\n[" + Array(repeating: "a", count: 100_000).joined(separator: ".") + "]",
                                                          "x = 1\n\n" + Array(repeating: "b", count: 40).joined(separator: ".") + " = 1",
                                                          "[site]\ny = 1\nz = { " + Array(repeating: "c", count: 33).joined(separator: " . ") + " = 2 }"])
    func deepDottedKeys(_ text: String) {
        let started = ContinuousClock.now
        let e = errors(text)
        #expect(e.count == 1 && e[0].hasPrefix("hazmon.toml:3: a dotted key of more than 32 parts"), "\(e.map { $0.prefix(120) })")
        #expect(ContinuousClock.now - started < .seconds(5), "refused before the parser, not after it")
    }

    @Test func dotsInStringsNumbersAndCommentsAreNoKeys() throws {
        let dots = Array(repeating: "x", count: 50).joined(separator: ".")
        let c = try parse("""
            [site]
            id = "x"   # \(dots)
            name = "\(dots)"
            [engine]
            stale_after = "1.5s"
            """)
        #expect(c.site.name == dots)
    }

    @Test func arraysSpanningLinesAreNotHeaders() throws {
        let c = try parse(#"""
            [site]
            id = "x"
            [[modbus.device]]
            id = "d"
            url = "tcp://127.0.0.1"
            [[tag]]
            id = "A"
            name = """
            [#not a header]"""
            source = { modbus = "d", table = "holding", address = 0, scale = { raw = [-1, 1], eu = [0, 1] } }
            """#)
        #expect(c.tags.count == 1)
        // A value line starting with "[" inside a multi-line array is not a header.
        #expect(errors("[site]\nid = \"x\"\nname = [\n[+1],\n]\n") == ["hazmon.toml:3: site.name: expected a string, found array"])
    }

    @Test func missingFile() {
        #expect(throws: ConfigErrors.self) { try ConfigLoader.load(path: "/nonexistent/hazmon.toml") }
    }

    /// Fuzz: mutated versions of the shipped files (configs and scenarios) never crash their
    /// loader; they load or produce errors that each name the file.
    @Test(arguments: ["Config/hazmon.example.toml", "Config/demo/points/gc-1.toml", "Config/demo/points/rio-1.toml", "Config/demo/scenario.toml",
                      "Config/scenarios/drill.toml", "Config/scenarios/gateway.toml"])
    func mutatedFilesNeverCrash(_ path: String) throws {
        let text = try #require(ConfigLoader.readFile(repoRoot + "/" + path))
        let bytes = Array(text.utf8)
        var rng = SplitMix64(seed: 0x4841_5A4D_4F4E &+ UInt64(path.utf8.count))
        let alphabet = Array("=[]{}\"'#.,\n 0123456789abcxyz-+".utf8)
        let isScenario = path.hasSuffix("scenario.toml") || path.contains("scenarios/")
        for _ in 0..<(path.hasSuffix("example.toml") ? 2_000 : 600) {
            let mutated = mutated(bytes, maxEdits: 8, alphabet: alphabet, using: &rng)
            do {
                if isScenario {
                    _ = try ScenarioLoader.parse(text: mutated, file: "fuzz.toml")
                } else {
                    _ = try ConfigLoader.parse(text: mutated, file: "fuzz.toml")
                }
            } catch {
                #expect(!error.errors.isEmpty)
                #expect(error.errors.allSatisfy { $0.description.hasPrefix("fuzz.toml") })
            }
        }
    }
}
