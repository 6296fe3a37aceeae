import HazmonCore
import HazmonModbus

extension ConfigBuilder {
    func readModbus() -> [ModbusDeviceSettings] {
        // `[modbus]` of the main file and of each point table: only `[[modbus.device]]` in it.
        let sections = ([top] + includes).compactMap { $0.table("modbus") }
        var devices: [ModbusDeviceSettings] = []
        var first: [String: TableReader] = [:]
        let entries = sections.flatMap { $0.arrayOfTables("device", context: { i, t in "modbus.device \(t["id"]?.string?.quoted() ?? "#\(i + 1)")" }) }
        for m in sections { m.rejectUnknownKeys() }
        for d in entries {
            let id = d.string("id") ?? ""
            if !Self.isIdentifier(id) { d.error("id", "each device needs an id of letters, digits, '-', '_' or '.'") }
            else if let prev = first[id] { d.error("id", "duplicate device id (first defined at \(Self.place(of: prev, from: d)))") }
            else { first[id] = d }
            let url = d.string("url") ?? ""
            var transport = ModbusTransport.tcp(host: "127.0.0.1", port: 502)
            if url.isEmpty { d.error("url", "is required: \"tcp://HOST:PORT\" or \"rtu:///dev/ttyS1?baud=9600&parity=N&data_bits=8&stop_bits=1\"") }
            else {
                switch Self.parseModbusURL(url) {
                case .success(let t): transport = t
                case .failure(let e): d.error("url", e.description)
                }
            }
            var dev = ModbusDeviceSettings(id: id, url: url, transport: transport)
            if !url.isEmpty, case .rtu(let path, _, _, _, _) = transport {
                if let other = devices.first(where: { if case .rtu(path, _, _, _, _) = $0.transport { return true } else { return false } }),
                   other.transport != transport {
                    d.error("url", "shares \(path) with device \"\(other.id)\" but not its serial settings (one bus, one setting)")
                }
            }
            if let u = d.int("unit") {
                if (0...247).contains(u) { dev.unit = u } else { d.error("unit", "must be 0...247") }
            }
            if let p = d.duration("poll") {
                if p >= .milliseconds(10) { dev.poll = p } else { d.error("poll", "must be at least 10ms") }
            }
            if let t = d.duration("timeout") {
                if t >= .milliseconds(10) && t <= .seconds(60) { dev.timeout = t } else { d.error("timeout", "must be 10ms...60s") }
            }
            if let r = d.int("retries") {
                if (0...100).contains(r) { dev.retries = r } else { d.error("retries", "must be 0...100") }
            }
            if let b = d.int("address_base") {
                if b == 0 || b == 1 { dev.addressBase = b } else { d.error("address_base", "must be 0 or 1") }
            }
            if let p = d.duration("pause") {
                if p <= .seconds(10) { dev.pause = p } else { d.error("pause", "must be at most 10s") }
            }
            if let g = d.int("max_gap") {
                if (0...124).contains(g) { dev.maxGap = g } else { d.error("max_gap", "must be 0...124 registers") }
            }
            if let n = d.int("comm_after") {
                if (1...100).contains(n) { dev.commAfter = n } else { d.error("comm_after", "must be 1...100 failed polls") }
            }
            if let b = d.duration("backoff_max") {
                if b >= dev.poll && b <= .seconds(3600) { dev.backoffMax = b } else { d.error("backoff_max", "must be poll...1h") }
            }
            if let r = d.bool("rs485") {
                if case .rtu = transport { dev.rs485 = r } else if r { d.error("rs485", "applies to rtu:// devices only") }
            }
            if let h = d.table("heartbeat") {
                var table: ModbusTable?
                if let t = h.string("table") {
                    table = ModbusTable(rawValue: t)
                    if table == nil { h.error("table", "\"\(t)\" is not one of coil, discrete, input, holding") }
                } else {
                    h.error("table", "is required")
                }
                let address = h.int("address").map { $0 - dev.addressBase }
                if address == nil { h.error("address", "is required") } else if address! < 0 || address! > 65_535 {
                    h.error("address", "is outside the register range")
                }
                let bit = h.int("bit")
                if let bit, !(0...15).contains(bit) { h.error("bit", "must be 0...15") }
                let within = h.duration("within") ?? .seconds(10)
                if within < dev.poll * 2 { h.error("within", "must be at least two polls (\(DurationParser.format(dev.poll * 2)))") }
                h.rejectUnknownKeys()
                if let table, let address { dev.heartbeat = ModbusHeartbeat(table: table, address: address, bit: bit, within: within) }
            }
            d.rejectUnknownKeys()
            devices.append(dev)
        }
        return devices
    }

    /// Where an entry was first defined, as an error about a later one says it: "line 12" in
    /// the same file, "points/area-b.toml:12" in another.
    static func place(of first: TableReader, from later: TableReader) -> String {
        let line = first.diagnostics.locator.line(of: first.location) ?? 0
        return first.diagnostics.file == later.diagnostics.file ? "line \(line)" : "\(first.diagnostics.file):\(line)"
    }

    struct URLProblem: Error, CustomStringConvertible { let description: String }

    static func parseModbusURL(_ url: String) -> Result<ModbusTransport, URLProblem> {
        if url.hasPrefix("tcp://") {
            guard let (_, host, port) = parseBrokerURL("mqtt://" + url.dropFirst(6)) else {
                return .failure(URLProblem(description: "\"\(url)\" is not tcp://HOST[:PORT]"))
            }
            return .success(.tcp(host: host, port: url.dropFirst(6).contains(":") ? port : 502))
        }
        if url.hasPrefix("rtu://") {
            let rest = url.dropFirst(6)
            let parts = rest.split(separator: "?", maxSplits: 1)
            guard let dev = parts.first, dev.hasPrefix("/") else {
                return .failure(URLProblem(description: "\"\(url)\": an RTU url names a device path, e.g. rtu:///dev/ttyS1?baud=9600"))
            }
            var baud = 9600, parity: Character = "N", dataBits = 8, stopBits = 1
            if parts.count == 2 {
                for kv in parts[1].split(separator: "&") {
                    let pair = kv.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2 else { return .failure(URLProblem(description: "\"\(kv)\" is not key=value")) }
                    let v = pair[1]
                    switch pair[0] {
                    case "baud":
                        guard let b = Int(v), [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200].contains(b) else {
                            return .failure(URLProblem(description: "baud \(v) is not one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200"))
                        }
                        baud = b
                    case "parity":
                        guard v.count == 1, let c = v.uppercased().first, "NEO".contains(c) else {
                            return .failure(URLProblem(description: "parity \(v) is not N, E or O"))
                        }
                        parity = c
                    case "data_bits":
                        guard let b = Int(v), (5...8).contains(b) else { return .failure(URLProblem(description: "data_bits \(v) is not 5...8")) }
                        dataBits = b
                    case "stop_bits":
                        guard let b = Int(v), b == 1 || b == 2 else { return .failure(URLProblem(description: "stop_bits \(v) is not 1 or 2")) }
                        stopBits = b
                    default:
                        return .failure(URLProblem(description: "unknown serial setting \"\(pair[0])\" (baud, parity, data_bits, stop_bits)"))
                    }
                }
            }
            return .success(.rtu(device: String(dev), baud: baud, parity: parity, dataBits: dataBits, stopBits: stopBits))
        }
        return .failure(URLProblem(description: "\"\(url)\" is neither tcp://HOST:PORT nor rtu:///dev/DEVICE?..."))
    }

    /// Reads a Modbus tag source; `reader` is the `source` inline table.
    func readModbusSource(_ s: TableReader, device: ModbusDeviceSettings?) -> ModbusTagSource? {
        let deviceID = s.string("modbus") ?? ""
        var table: ModbusTable?
        if let t = s.string("table") {
            table = ModbusTable(rawValue: t)
            if table == nil { s.error("table", "\"\(t)\" is not one of coil, discrete, input, holding") }
        }
        let address = Self.readAddress(s, table: &table, device: device)
        if table == nil && s.table["table"] == nil { s.error("table", "is required: coil, discrete, input or holding") }
        let isBitTable = table == .coil || table == .discrete
        var type: ModbusValueType = isBitTable ? .bool : .uint16
        if let t = s.string("type") {
            switch t {
            case "bool": type = .bool
            case "int16": type = .int16
            case "uint16": type = .uint16
            case "int32": type = .int32
            case "uint32": type = .uint32
            case "float32", "float": type = .float32
            case "float64", "double": type = .float64
            case "bit": type = .bit(0)
            default: s.error("type", "\"\(t)\" is not one of bool, int16, uint16, int32, uint32, float32, float64, bit")
            }
        }
        if let b = s.int("bit") {
            if (0...15).contains(b) { type = .bit(b) } else { s.error("bit", "must be 0...15") }
        } else if case .bit = type, s.table["type"] != nil {
            s.error("bit", "type \"bit\" needs bit = 0...15")
        }
        if let table {
            switch (isBitTable, type) {
            case (true, .bool), (false, .bit): break
            case (true, _): s.error("type", "a \(table.rawValue) holds single bits: use type \"bool\"")
            case (false, .bool): s.error("type", "a \(table.rawValue) register is 16 bits: use \"bit\" with bit = N for one bit")
            default: break
            }
        }
        if let address, address >= 0, address + type.registerCount > 65_536 {
            s.error("address", "\(address) + \(type.registerCount) registers runs past 65535")
        }
        var order = WordOrder.abcd
        if let o = s.string("order") {
            if let v = WordOrder(rawValue: o.uppercased()) { order = v } else { s.error("order", "\"\(o)\" is not one of ABCD, CDAB, BADC, DCBA") }
        }
        var scale: LinearScale?
        if let sc = s.table("scale") {
            let raw = Self.pair(sc, "raw"), eu = Self.pair(sc, "eu")
            if let raw, let eu {
                if raw.0 == raw.1 { sc.error("raw", "the raw range must not be empty") }
                scale = LinearScale(raw: raw, eu: eu)
            }
            sc.rejectUnknownKeys()
        }
        var signal = false
        if let sig = s.string("signal") {
            if sig == "4-20mA" {
                signal = true
                if scale == nil { s.error("signal", "\"4-20mA\" needs scale = { raw = [COUNTS_AT_4MA, COUNTS_AT_20MA], eu = [LO, HI] }") }
            } else {
                s.error("signal", "\"\(sig)\" is not a known signal (only \"4-20mA\")")
            }
        }
        var faultBit: ModbusFaultBit?
        if let f = s.table("fault_bit") {
            var fTable: ModbusTable? = table
            if let t = f.string("table") {
                fTable = ModbusTable(rawValue: t)
                if fTable == nil { f.error("table", "\"\(t)\" is not one of coil, discrete, input, holding") }
            }
            let fAddress = Self.readAddress(f, table: &fTable, device: device)
            if let fAddress, fAddress > 65_535 { f.error("address", "is outside the register range") }
            let isBits = fTable == .coil || fTable == .discrete
            let bit = f.int("bit")
            if isBits, bit != nil {
                f.error("bit", "a \(fTable!.rawValue) is a single bit: leave bit out")
            } else if !isBits, bit == nil {
                f.error("bit", "is required: which bit of the register (0...15) is the fault")
            } else if let bit, !(0...15).contains(bit) {
                f.error("bit", "must be 0...15")
            }
            f.rejectUnknownKeys()
            if let fTable, let fAddress, fAddress >= 0 { faultBit = ModbusFaultBit(table: fTable, address: fAddress, bit: isBits ? 0 : bit ?? 0) }
        }
        s.rejectUnknownKeys()
        guard let table, let address, address >= 0 else { return nil }
        return ModbusTagSource(device: deviceID, table: table, address: address, type: type, order: order,
                               scale: scale, signal4to20mA: signal, faultBit: faultBit)
    }

    /// `address` of a source or a fault bit: an integer (after the device's `address_base`) or
    /// a "40001" style string whose leading digit names the table (then one-based).
    static func readAddress(_ s: TableReader, table: inout ModbusTable?, device: ModbusDeviceSettings?) -> Int? {
        guard let raw = s.table["address"] else {
            s.error("address", "is required")
            return nil
        }
        s.markSeen("address")
        if let text = raw.string {
            if text.count >= 5, let lead = text.first, let num = Int(text.dropFirst()), num >= 1,
               let implied = (["0": .coil, "1": .discrete, "3": .input, "4": .holding] as [Character: ModbusTable])[lead] {
                if let t = table, t != implied, s.table["table"] != nil {
                    s.error("address", "\"\(text)\" is a \(implied.rawValue) address but table is \(t.rawValue)")
                }
                table = implied
                return num - 1
            }
            s.error("address", "\"\(text)\" is not a 0xxxx/1xxxx/3xxxx/4xxxx style address; write an integer or e.g. \"40001\"")
        } else if let a = raw.int {
            let base = device?.addressBase ?? 0
            if a < base { s.error("address", "\(a) is below the device's address_base \(base)") } else { return a - base }
        } else {
            s.error("address", "expected an integer or a \"40001\" style string, found \(raw.type)")
        }
        return nil
    }

    static func pair(_ t: TableReader, _ key: String) -> (Double, Double)? {
        guard let raw = t.table[key] else { t.error(key, "is required: [LOW, HIGH]"); return nil }
        t.markSeen(key)
        guard let a = raw.array, a.count == 2 else { t.error(key, "must be [LOW, HIGH]"); return nil }
        var v: [Double] = []
        for x in a {
            if let i = x.int { v.append(Double(i)) } else if let d = x.double, d.isFinite { v.append(d) } else {
                t.error(key, "must be two numbers"); return nil
            }
        }
        return (v[0], v[1])
    }
}
