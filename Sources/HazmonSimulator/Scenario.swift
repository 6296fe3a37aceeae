import HazmonConfig
import HazmonCore
import HazmonModbus

/// A plant scenario for `hazmon simulate`: Modbus devices, the signals they serve, and events
/// on a script (a leak ramp, an overpressure, a loop fault, a stuck value, a device that drops
/// and returns). Read from TOML with the same file:line errors as the configuration.
public struct Scenario: Sendable {
    /// Scenario seconds per real second (10: a ten-minute script plays in a minute).
    public var speed: Double = 1
    public var seed: UInt64 = 1
    /// How long the script runs (nil: until stopped).
    public var duration: Duration?
    /// The script starts over every this long (signals back to their base, events replayed),
    /// so a demo can run for hours; nil: it plays once.
    public var repeatEvery: Duration?
    public var devices: [Device] = []
    /// `[mqtt]`: the broker the scenario's MQTT signals are published to, as an edge gateway
    /// would (`--mqtt-url` overrides it).
    public var mqttURL: String?
    /// Real time between two publications of every MQTT signal.
    public var mqttEvery: Duration = .milliseconds(500)
    /// How the gateway publishes: hazmon's JSON per topic, as a Sparkplug B edge node, or as
    /// an EMQX Neuron gateway (`[mqtt] format`).
    public var mqttFormat: GatewayFormat = .json
    /// The Sparkplug group / Neuron group, and the edge node / Neuron node, it plays.
    public var mqttGroup = "plant"
    public var mqttNode = "edge1"
    /// Neuron: the upload topic (default `neuron/<node>/upload`).
    public var mqttTopic: String?

    public enum GatewayFormat: String, Sendable, Equatable, CaseIterable {
        case json, sparkplug, neuron
    }
    public var signals: [Signal] = []
    public var events: [Event] = []

    public struct Device: Sendable, Equatable {
        public var id: String
        /// TCP port on 127.0.0.1; 0: any free port (printed at start).
        public var port: Int
        /// A holding register counting half seconds of real time (its bit 0 toggles every 0.5 s).
        public var heartbeat: Int?
        /// A gas controller's status word, if the device has one.
        public var status: StatusWord?
    }

    /// A gas controller's status word, as such controllers report their common relays and
    /// channel faults: bit 0 a channel at or above the first alarm level (the AL1 relay), bit
    /// 1 at or above the second (AL2), bit 2 a channel in fault (the fault relay), and bit 8 + k
    /// channel k + 1 in fault (a `fault` event: the detector's loop failed), for up to eight
    /// channels. A channel in fault counts for no alarm; a stuck one goes unnoticed, as it would.
    public struct StatusWord: Sendable, Equatable {
        public var table: ModbusTable
        public var address: Int
        /// Signal ids, channel 1 first.
        public var channels: [String]
        public var alarm1: Double
        public var alarm2: Double
    }

    public enum Encoding: Sendable, Equatable {
        case float32(WordOrder)
        case uint16
        case int16
        /// 4–20 mA as raw counts: 4000 at `span.0`, 20000 at `span.1` (1 count = 1 µA).
        case loop(span: (Double, Double))

        public static func == (a: Encoding, b: Encoding) -> Bool {
            switch (a, b) {
            case (.float32(let x), .float32(let y)): return x == y
            case (.uint16, .uint16), (.int16, .int16): return true
            case (.loop(let x), .loop(let y)): return x == y
            default: return false
            }
        }
    }

    public struct Signal: Sendable, Equatable {
        public var id: String
        /// The Modbus device serving it ("" for an MQTT signal).
        public var device: String
        /// The MQTT topic it is published on (JSON `{"value":…,"quality":…}`), instead of a device.
        public var topic: String?
        public var table: ModbusTable
        public var address: Int
        public var encoding: Encoding
        public var base: Double
        /// Uniform noise, ± this much, fresh every tick.
        public var noise: Double
    }

    public enum Action: Sendable, Equatable {
        /// Linear from the value at the event to `to`, over `over`.
        case ramp(to: Double, over: Duration)
        case step(Double)
        /// The transmitter's loop fails: 3.5 mA (low) or 21.5 mA (high).
        case loopFault(high: Bool)
        /// The value freezes where it is, noise and all.
        case stuck
        /// Back to the signal's own behaviour (a fault or a freeze ends).
        case restore
        /// The device stops answering (connections closed, new ones refused) for a while.
        case deviceDown(Duration)
    }

    public struct Event: Sendable, Equatable {
        public var at: Duration
        /// A signal id, or a device id for `deviceDown`.
        public var target: String
        public var action: Action
    }

    public init() {}
}

public enum ScenarioLoader {
    public static func load(path: String) throws(ConfigErrors) -> Scenario {
        guard let text = ConfigLoader.readFile(path) else {
            throw ConfigErrors([ConfigError(file: path, line: nil, keyPath: "", message: "cannot read the scenario")])
        }
        return try parse(text: text, file: path)
    }

    public static func parse(text: String, file: String) throws(ConfigErrors) -> Scenario {
        try ConfigLoader.read(text: text, file: file) { read($0) }.0
    }

    static func read(_ top: TableReader) -> Scenario {
        var s = Scenario()
        if let v = top.double("speed") {
            if v > 0 && v <= 1000 { s.speed = v } else { top.error("speed", "must be above 0 and at most 1000") }
        }
        if let v = top.int("seed") { s.seed = UInt64(truncatingIfNeeded: v) }
        s.duration = top.duration("duration")
        if let r = top.duration("repeat") {
            if r >= .seconds(1) { s.repeatEvery = r } else { top.error("repeat", "must be at least 1s") }
        }
        var deviceIDs: Set<String> = []
        var statusReaders: [(Int, TableReader)] = []
        for d in top.arrayOfTables("device", context: { i, t in "device \"\(t["id"]?.string ?? "#\(i + 1)")\"" }) {
            let id = d.string("id") ?? ""
            if id.isEmpty { d.error("id", "is required") } else if !deviceIDs.insert(id).inserted { d.error("id", "duplicate device id") }
            let port = d.int("port") ?? 0
            if !(0...65_535).contains(port) { d.error("port", "must be 0...65535") }
            let hb = d.int("heartbeat")
            if let hb, !(0...999).contains(hb) { d.error("heartbeat", "must be 0...999 (the simulator serves 1000 registers)") }
            if let st = d.table("status") { statusReaders.append((s.devices.count, st)) }
            s.devices.append(Scenario.Device(id: id, port: port, heartbeat: hb))
            d.rejectUnknownKeys()
        }
        if let m = top.table("mqtt") {
            if let u = m.string("url") {
                if BrokerURL.parse(u) == nil { m.error("url", "\"\(u)\" is not mqtt://HOST[:PORT]") } else { s.mqttURL = u }
            }
            if let e = m.duration("every") {
                if e >= .milliseconds(10) { s.mqttEvery = e } else { m.error("every", "must be at least 10ms") }
            }
            if let f = m.string("format") {
                if let v = Scenario.GatewayFormat(rawValue: f) { s.mqttFormat = v } else { m.error("format", "\"\(f)\" is not json, sparkplug or neuron") }
            }
            for (key, path) in [("group", \Scenario.mqttGroup), ("node", \.mqttNode)] {
                guard let v = m.string(key) else { continue }
                if s.mqttFormat == .json { m.error(key, "is for format = \"sparkplug\" or \"neuron\"") }
                else if v.isEmpty || v.contains("/") || v.contains("+") || v.contains("#") { m.error(key, "\"\(v)\" must be a non-empty id without '/', '+' or '#'") }
                else { s[keyPath: path] = v }
            }
            if let t = m.string("topic") {
                if s.mqttFormat != .neuron { m.error("topic", "is Neuron's upload topic (format = \"neuron\")") }
                else if t.isEmpty || t.contains("+") || t.contains("#") { m.error("topic", "must be an exact topic") }
                else { s.mqttTopic = t }
            }
            m.rejectUnknownKeys()

        }
        var signalIDs: Set<String> = []
        for g in top.arrayOfTables("signal", context: { i, t in "signal \"\(t["id"]?.string ?? "#\(i + 1)")\"" }) {
            let id = g.string("id") ?? ""
            if id.isEmpty { g.error("id", "is required") } else if !signalIDs.insert(id).inserted { g.error("id", "duplicate signal id") }
            let topic = g.string("mqtt")
            let device = g.string("device") ?? ""
            if let topic {
                if topic.isEmpty || topic.contains("+") || topic.contains("#") { g.error("mqtt", "must be an exact topic") }
                if g.has("device") { g.error("device", "a signal is served by a device or published on MQTT, not both") }
            } else if !deviceIDs.contains(device) {
                g.error("device", "no [[device]] has id \"\(device)\" (or give the signal an mqtt topic)")
            }
            var table = ModbusTable.input
            if let t = g.string("table") {
                if let v = ModbusTable(rawValue: t), v == .input || v == .holding { table = v } else {
                    g.error("table", "\"\(t)\" is not input or holding")
                }
            }
            let address = g.int("address") ?? (topic == nil ? -1 : 0)
            if !(0...999).contains(address) { g.error("address", "must be 0...999 (the simulator serves 1000 registers)") }
            var encoding = Scenario.Encoding.float32(.abcd)
            switch g.string("type") ?? "float32" {
            case "float32":
                var order = WordOrder.abcd
                if let o = g.string("order") {
                    if let v = WordOrder(rawValue: o.uppercased()) { order = v } else { g.error("order", "\"\(o)\" is not ABCD, CDAB, BADC or DCBA") }
                }
                encoding = .float32(order)
            case "uint16": encoding = .uint16
            case "int16": encoding = .int16
            case "4-20mA":
                if let a = g.table["span"]?.array, a.count == 2, let lo = a[0].double ?? a[0].int.map(Double.init),
                   let hi = a[1].double ?? a[1].int.map(Double.init), lo != hi {
                    g.markSeen("span")
                    encoding = .loop(span: (lo, hi))
                } else {
                    g.error("span", "\"4-20mA\" needs span = [LOW, HIGH] in engineering units")
                }
            case let other:
                g.error("type", "\"\(other)\" is not float32, uint16, int16 or 4-20mA")
            }
            let base = g.double("base") ?? 0
            let noise = g.double("noise") ?? 0
            if noise < 0 { g.error("noise", "must not be negative") }
            s.signals.append(Scenario.Signal(id: id, device: device, topic: topic, table: table, address: address,
                                             encoding: encoding, base: base, noise: noise))
            g.rejectUnknownKeys()
        }
        for (i, st) in statusReaders { s.devices[i].status = readStatus(st, device: s.devices[i].id, signals: s.signals) }
        for e in top.arrayOfTables("event", context: { i, _ in "event #\(i + 1)" }) {
            let at = e.duration("at") ?? {
                e.error("at", "is required: when, in scenario time (e.g. \"30s\")")
                return .zero
            }()
            var target = ""
            var action: Scenario.Action?
            if let sig = e.string("signal") {
                target = sig
                if !signalIDs.contains(sig) { e.error("signal", "no [[signal]] has id \"\(sig)\"") }
                if let r = e.table("ramp") {
                    let to = r.double("to")
                    let over = r.duration("over")
                    if to == nil { r.error("to", "is required") }
                    if over == nil { r.error("over", "is required") }
                    r.rejectUnknownKeys()
                    if let to, let over { action = .ramp(to: to, over: over) }
                } else if let v = e.double("step") {
                    action = .step(v)
                } else if let f = e.string("fault") {
                    if f == "low" || f == "high" { action = .loopFault(high: f == "high") } else { e.error("fault", "\"\(f)\" is not low (3.5 mA) or high (21.5 mA)") }
                } else if e.bool("stuck") == true {
                    action = .stuck
                } else if e.bool("restore") == true {
                    action = .restore
                }
            } else if let dev = e.string("device") {
                target = dev
                // The edge node / gateway can drop off like a device: `device = NODE, down = ...`.
                let gateway = s.mqttFormat == .json ? nil : s.mqttNode
                if !deviceIDs.contains(dev) && dev != gateway { e.error("device", "no [[device]] has id \"\(dev)\"" + (gateway == nil ? "" : " (and the gateway's [mqtt] node is \"\(gateway!)\")")) }
                if let d = e.duration("down") { action = .deviceDown(d) }
            }
            if action == nil, target.isEmpty {
                e.error(nil, "an event names a signal (with ramp, step, fault, stuck or restore) or a device (with down)")
            } else if action == nil {
                e.error(nil, "an event needs one of ramp, step, fault, stuck, restore (signals) or down (devices)")
            }
            if let action { s.events.append(Scenario.Event(at: at, target: target, action: action)) }
            e.rejectUnknownKeys()
        }
        s.events.sort { $0.at < $1.at }
        if let r = s.repeatEvery, let last = s.events.last, last.at >= r {
            top.error("repeat", "\(DurationParser.format(r)) ends the script before its last event (at \(DurationParser.format(last.at)))")
        }
        return s
    }

    static func readStatus(_ st: TableReader, device: String, signals: [Scenario.Signal]) -> Scenario.StatusWord? {
        var table = ModbusTable.input
        if let t = st.string("table") {
            if let v = ModbusTable(rawValue: t), v == .input || v == .holding { table = v } else {
                st.error("table", "\"\(t)\" is not input or holding")
            }
        }
        let address = st.int("address") ?? {
            st.error("address", "is required")
            return 0
        }()
        if !(0...999).contains(address) { st.error("address", "must be 0...999 (the simulator serves 1000 registers)") }
        var channels: [String] = []
        if let a = st.table["channels"]?.array {
            st.markSeen("channels")
            channels = a.compactMap(\.string)
            if channels.count != a.count || channels.isEmpty || channels.count > 8 {
                st.error("channels", "must be 1 to 8 signal ids")
            }
            for c in channels where !signals.contains(where: { $0.id == c && $0.device == device }) {
                st.error("channels", "\"\(c)\" is not a signal of device \"\(device)\"")
            }
        } else {
            st.error("channels", "is required: the signal ids of channels 1, 2, ...")
        }
        var levels: (Double, Double)?
        if let a = st.table["alarm"]?.array, a.count == 2, let lo = a[0].double ?? a[0].int.map(Double.init),
           let hi = a[1].double ?? a[1].int.map(Double.init), lo < hi {
            st.markSeen("alarm")
            levels = (lo, hi)
        } else {
            st.error("alarm", "must be [FIRST, SECOND], the controller's two alarm levels, first below second")
        }
        st.rejectUnknownKeys()
        guard let levels else { return nil }
        return Scenario.StatusWord(table: table, address: address, channels: channels, alarm1: levels.0, alarm2: levels.1)
    }
}
