import HazmonCore

/// The demo's small tank farm: its config and the script its gateway publishes.
///
/// Every 60 s the script runs one cycle: a combustible leak in the T101 dike ramps through both
/// limits and back, ammonia rises past its first level, the LPG sphere's pressure climbs past
/// its high limit, a tank level falls below its low limits, and all recover.
enum DemoPlant {
    static func config(port: Int, socket: String, journal: String, panelPort: Int) -> String {
        """
        # Written by `hazmon demo`; see Config/hazmon.example.toml for every key.
        [site]
        id = "demo-tankfarm"
        name = "Demo tank farm"

        [log]
        format = "text"
        level = "info"

        [journal]
        path = "\(journal)"

        [alert_socket]
        path = "\(socket)"
        mode = "0660"

        [mqtt]
        url = "mqtt://127.0.0.1:\(port)"
        client_id = "hazmon-demo"

        [[mqtt.map]]                       # one filter feeds every gas detector
        id = "gas"
        topic = "plant/tankfarm/gas/+"
        tag = "{4}"

        [[tag]]
        id = "GT-101"
        name = "T101 dike combustible gas"
        class = "combustible_gas"          # GB/T 50493 preset: h 20, hh 40 %LEL
        hazard_source = "T101 methanol tank"
        source = { mqtt_map = "gas" }

        [[tag]]
        id = "GT-103"
        name = "T101 dike combustible gas, east"
        class = "combustible_gas"
        hazard_source = "T101 methanol tank"
        source = { mqtt_map = "gas" }

        [[vote]]                           # two detectors in one dike agree: a confirmed leak
        id = "T101-dike"
        name = "T101 dike leak confirmed (2oo2)"
        tags = ["GT-101", "GT-103"]
        k = 2
        condition = "h"
        grade = 1

        [[tag]]
        id = "GT-102"
        name = "T102 dike combustible gas"
        class = "combustible_gas"
        hazard_source = "T102 benzene tank"
        source = { mqtt_map = "gas" }

        [[tag]]
        id = "AT-201"
        name = "Ammonia store NH3"
        class = "toxic_gas"
        oel = 20                           # ppm: h 20 (100 % OEL), hh 40 (200 % OEL)
        hazard_source = "V201 liquid ammonia"
        source = { mqtt_map = "gas" }

        [[tag]]
        id = "PT-301"
        name = "LPG sphere S301 pressure"
        unit = "MPa"
        class = "pressure"
        hazard_source = "S301 LPG sphere"
        source = { mqtt = "plant/tankfarm/S301/pressure", json = "value" }
        alarms.h  = { at = 1.4, grade = 3, deadband = 0.02 }
        alarms.hh = { at = 1.6, grade = 1, deadband = 0.02 }
        alarms.trend = { toward = "hh", window = "10s", horizon = "60s", grade = 2 }
        stale_after = "5s"

        [[modbus.device]]                  # a gas controller on Modbus TCP (the simulator plays it)
        id = "gas-panel-2"
        url = "tcp://127.0.0.1:\(panelPort)"
        poll = "500ms"
        timeout = "300ms"
        comm_after = 2
        backoff_max = "2s"

        [[tag]]
        id = "GT-104"
        name = "T102 dike combustible gas, north"
        class = "combustible_gas"
        hazard_source = "T102 benzene tank"
        source = { modbus = "gas-panel-2", table = "input", address = "30001", type = "float32", order = "CDAB" }

        [[tag]]
        id = "LT-402"
        name = "T102 benzene level"
        unit = "%"
        class = "level"
        source = { modbus = "gas-panel-2", table = "input", address = "30011", signal = "4-20mA", scale = { raw = [4000, 20000], eu = [0, 100] } }
        alarms.l  = { at = 20, deadband = 1 }

        [[tag]]
        id = "LT-401"
        name = "T101 methanol level"
        unit = "%"
        class = "level"
        source = { mqtt = "plant/tankfarm/T101/level" }
        alarms.l  = { at = 20, deadband = 1 }
        alarms.ll = { at = 10, deadband = 1 }
        """
    }

    /// The Modbus side, played once by the simulator: the level transmitter's loop fails at 18 s
    /// (3.5 mA: a sensor fault) and is repaired at 38 s; the gas controller drops off the
    /// network at 26 s for 8 s (a comm fault and its recovery).
    static let panelScenario = """
        speed = 1
        seed = 3
        [[device]]
        id = "gas-panel-2"
        port = 0
        [[signal]]
        id = "GT-104"
        device = "gas-panel-2"
        address = 0
        type = "float32"
        order = "CDAB"
        base = 1.5
        noise = 0.4
        [[signal]]
        id = "LT-402"
        device = "gas-panel-2"
        address = 10
        type = "4-20mA"
        span = [0, 100]
        base = 72
        noise = 0.3
        [[event]]
        at = "18s"
        signal = "LT-402"
        fault = "low"
        [[event]]
        at = "26s"
        device = "gas-panel-2"
        down = "8s"
        [[event]]
        at = "38s"
        signal = "LT-402"
        restore = true
        """

    /// (topic, payload) pairs to publish at `t` seconds into the demo.
    static func readings(at t: Double, noise: inout SplitMix64) -> [(String, String)] {
        let c = t.truncatingRemainder(dividingBy: 60)
        func n(_ amp: Double) -> Double { (noise.nextUnit() - 0.5) * 2 * amp }
        func fmt(_ v: Double, _ digits: Double = 10) -> String { JSONWriter.number((v * digits).rounded() / digits) }
        // T101 dike leak: ramps up from 5 s, peaks near 46 %LEL, decays after 28 s.
        let leak: Double = c < 5 ? 0 : c < 23 ? (c - 5) * 2.5 : c < 28 ? 45 : max(0, 45 - (c - 28) * 4)
        let gt101 = max(0, 1.5 + leak + n(0.6))
        let gt103 = max(0, 1.0 + leak * 0.7 + n(0.6))
        let gt102 = max(0, 1.0 + n(0.5))
        let nh3 = c > 15 && c < 32 ? 24 + n(1) : 3 + n(0.5)
        let pressure = 1.2 + (c > 20 && c < 42 ? (c < 35 ? (c - 20) * 0.03 : (42 - c) * 0.06) : 0) + n(0.004)
        let level = c < 10 ? 60 : c < 35 ? 60 - (c - 10) * 2.1 : min(60, 7.5 + (c - 35) * 4)
        let now = Instant.now.iso8601
        return [
            ("plant/tankfarm/gas/GT-101", fmt(gt101)),
            ("plant/tankfarm/gas/GT-102", fmt(gt102)),
            ("plant/tankfarm/gas/GT-103", fmt(gt103)),
            ("plant/tankfarm/gas/AT-201", #"{"value":\#(fmt(nh3)),"quality":"good"}"#),
            ("plant/tankfarm/S301/pressure", #"{"value":\#(fmt(pressure, 1000)),"time":"\#(now)"}"#),
            ("plant/tankfarm/T101/level", fmt(level + n(0.2))),
        ]
    }
}
