import HazmonCore

// The Modbus vocabulary: devices, transports, tables, value types, word orders, scaling and a
// tag's Modbus source. HazmonModbus owns it; the configuration maps into it.

public struct ModbusDeviceSettings: Sendable, Equatable {
    public var id: String
    public var url: String
    public var transport: ModbusTransport
    public var unit: Int = 1
    public var poll: Duration = .seconds(1)
    public var timeout: Duration = .milliseconds(500)
    /// Immediate repeats of a request that got no answer (the link is reconnected first).
    public var retries: Int = 1
    public var addressBase: Int = 0
    /// Silence before each request (and after connecting) on this device's link.
    public var pause: Duration = .zero
    /// Unused registers a block read may span to join two neighbours (bits: 16 times this).
    public var maxGap: Int = 8
    /// Consecutive failed polls before the device's `comm` alarm.
    public var commAfter: Int = 3
    /// Longest wait between reconnect attempts to a device that is down (backoff from `poll`).
    public var backoffMax: Duration = .seconds(30)
    /// RTU: put the port in RS-485 mode (for ports that need it set by software).
    public var rs485 = false
    public var heartbeat: ModbusHeartbeat?

    public init(id: String, url: String, transport: ModbusTransport) {
        self.id = id
        self.url = url
        self.transport = transport
    }
}

/// A register (or one bit of it) the device changes all the time; if it stops changing for
/// `within`, the device is treated as failed (a frozen controller still answers requests).
public struct ModbusHeartbeat: Sendable, Equatable {
    public var table: ModbusTable
    public var address: Int
    public var bit: Int?
    public var within: Duration

    public init(table: ModbusTable, address: Int, bit: Int?, within: Duration) {
        self.table = table
        self.address = address
        self.bit = bit
        self.within = within
    }
}

public enum ModbusTransport: Sendable, Equatable {
    case tcp(host: String, port: Int)
    case rtu(device: String, baud: Int, parity: Character, dataBits: Int, stopBits: Int)
}

public enum ModbusTable: String, Sendable, CaseIterable {
    case coil, discrete, input, holding
}

public enum ModbusValueType: Sendable, Equatable {
    case bool, int16, uint16, int32, uint32, float32, float64
    case bit(Int)

    /// Registers (16-bit words) the type spans; 1 for bits and bools.
    public var registerCount: Int {
        switch self {
        case .int32, .uint32, .float32: return 2
        case .float64: return 4
        default: return 1
        }
    }
}

public enum WordOrder: String, Sendable, CaseIterable {
    case abcd = "ABCD", cdab = "CDAB", badc = "BADC", dcba = "DCBA"
}

public struct LinearScale: Sendable, Equatable {
    public var raw: (Double, Double)
    public var eu: (Double, Double)

    public init(raw: (Double, Double), eu: (Double, Double)) {
        self.raw = raw
        self.eu = eu
    }
    public static func == (a: LinearScale, b: LinearScale) -> Bool { a.raw == b.raw && a.eu == b.eu }
}

public struct ModbusTagSource: Sendable, Equatable {
    public var device: String
    public var table: ModbusTable
    /// Zero-based protocol address, after `address_base` and "4xxxx" style are applied.
    public var address: Int
    public var type: ModbusValueType
    public var order: WordOrder
    public var scale: LinearScale?
    public var signal4to20mA: Bool
    /// A bit on the same device that says this value is not to be trusted (a gas controller's
    /// per-channel fault bit in its status word): while it is 1 the tag's quality is bad with
    /// a sensor fault, so a detector fault is told apart from a gas alarm (GB 15322).
    public var faultBit: ModbusFaultBit?

    public init(device: String, table: ModbusTable, address: Int, type: ModbusValueType, order: WordOrder = .abcd,
                scale: LinearScale? = nil, signal4to20mA: Bool = false, faultBit: ModbusFaultBit? = nil) {
        self.device = device
        self.table = table
        self.address = address
        self.type = type
        self.order = order
        self.scale = scale
        self.signal4to20mA = signal4to20mA
        self.faultBit = faultBit
    }
}

/// One bit of a register (input or holding, bit 0...15) or a single coil / discrete input.
public struct ModbusFaultBit: Sendable, Equatable {
    public var table: ModbusTable
    /// Zero-based protocol address.
    public var address: Int
    /// The bit of the register (0 for coils and discrete inputs).
    public var bit: Int

    public init(table: ModbusTable, address: Int, bit: Int) {
        self.table = table
        self.address = address
        self.bit = bit
    }
}
