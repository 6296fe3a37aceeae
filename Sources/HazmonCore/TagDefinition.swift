/// What a tag measures, which shapes its presets and its priority among alarms of equal grade.
public enum TagClass: String, Sendable, Hashable, CaseIterable {
    case combustibleGas = "combustible_gas"
    case toxicGas = "toxic_gas"
    case oxygen, pressure, level, temperature, flow
    /// An interlock's in-service status (1 in service, 0 bypassed / 摘除): its one alarm is
    /// `bypass`, the low side of the tag (below 0.5 for `alarms.bypass.after`).
    case interlock
    case none

    /// A gas detector (combustible, toxic or oxygen): its limits are GB/T 50493 alarm levels
    /// and it must never go silent (a default `stale_after`).
    public var isGas: Bool { self == .combustibleGas || self == .toxicGas || self == .oxygen }

    /// At equal grade, alarms sort by this rank (lower first): toxic gas before combustible gas
    /// (GB/T 50493), gases before process values.
    public var priorityRank: Int {
        switch self {
        case .toxicGas: return 0
        case .combustibleGas: return 1
        case .oxygen: return 2
        default: return 3
        }
    }
}

/// A tag as the engine sees it: identity, display data and alarm rules. Built from the config.
///
/// A value type whose fields live in one immutable heap object shared by every copy (a change
/// makes a new one): the configuration and the engine hold the same definitions, once
/// (a park has 50,000), and the engine's per-tag record carries a pointer, not 700 bytes.
public struct TagDefinition: Sendable, Hashable {
    struct Fields: Hashable {
        var id: String
        var name: String
        var unit: String
        var tagClass: TagClass
        var source: String
        var hazardSource: String?
        var h: LimitRule?
        var hh: LimitRule?
        var staleAfter: Duration?
        var staleGrade: Grade = .yellow
        var faultGrade: Grade = .yellow
        var outOfService: String?
        /// The rules most tags do not have, apart: nil when the tag has none of them.
        var rare: RareRules?
    }

    /// Low limits, rate, trend, frozen-value and suppression rules: 340 bytes that a park's
    /// typical tag (a gas detector with h and hh) would otherwise carry empty.
    struct Rare: Hashable {
        var l: LimitRule?
        var ll: LimitRule?
        var rate: RateRule?
        var trend: TrendRule?
        var frozen: FrozenRule?
        var suppressIf: SuppressionRule?
        var isEmpty: Bool { self == Rare() }
    }

    /// Immutable once made; a change makes a new one (`editRare`).
    final class RareRules: Hashable, Sendable {
        let rules: Rare
        init(_ rules: Rare) { self.rules = rules }
        static func == (a: RareRules, b: RareRules) -> Bool { a === b || a.rules == b.rules }
        func hash(into h: inout Hasher) { h.combine(rules) }
    }

    /// Never changed once made: a change makes a new one (`edit`; only the configuration's
    /// builder changes definitions). A `let`, so reading a field on the per-sample path costs
    /// no run-time exclusivity check (a class's `var` does).
    private final class Storage: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var storage: Storage

    private mutating func edit(_ change: (inout Fields) -> Void) {
        var f = storage.fields
        change(&f)
        storage = Storage(f)
    }

    private var rare: Rare { storage.fields.rare?.rules ?? Rare() }

    private mutating func editRare(_ change: (inout Rare) -> Void) {
        var r = rare
        change(&r)
        edit { $0.rare = r.isEmpty ? nil : RareRules(r) }
    }

    public var id: String { get { storage.fields.id } set { edit { $0.id = newValue } } }
    public var name: String { get { storage.fields.name } set { edit { $0.name = newValue } } }
    public var unit: String { get { storage.fields.unit } set { edit { $0.unit = newValue } } }
    public var tagClass: TagClass { get { storage.fields.tagClass } set { edit { $0.tagClass = newValue } } }
    /// Where samples come from, as events show it: `modbus:gas-panel-1`, `mqtt:plant/t1/p`.
    public var source: String { get { storage.fields.source } set { edit { $0.source = newValue } } }
    public var hazardSource: String? { get { storage.fields.hazardSource } set { edit { $0.hazardSource = newValue } } }
    public var h: LimitRule? { get { storage.fields.h } set { edit { $0.h = newValue } } }
    public var hh: LimitRule? { get { storage.fields.hh } set { edit { $0.hh = newValue } } }
    public var l: LimitRule? { get { storage.fields.rare?.rules.l } set { editRare { $0.l = newValue } } }
    public var ll: LimitRule? { get { storage.fields.rare?.rules.ll } set { editRare { $0.ll = newValue } } }
    public var rate: RateRule? { get { storage.fields.rare?.rules.rate } set { editRare { $0.rate = newValue } } }
    public var trend: TrendRule? { get { storage.fields.rare?.rules.trend } set { editRare { $0.trend = newValue } } }
    /// No good sample for this long raises `stale`; nil: never.
    public var staleAfter: Duration? { get { storage.fields.staleAfter } set { edit { $0.staleAfter = newValue } } }
    /// Good samples that do not move for a while are a sensor fault; nil: never checked.
    public var frozen: FrozenRule? { get { storage.fields.rare?.rules.frozen } set { editRare { $0.frozen = newValue } } }
    public var staleGrade: Grade { get { storage.fields.staleGrade } set { edit { $0.staleGrade = newValue } } }
    public var faultGrade: Grade { get { storage.fields.faultGrade } set { edit { $0.faultGrade = newValue } } }
    public var suppressIf: SuppressionRule? { get { storage.fields.rare?.rules.suppressIf } set { editRare { $0.suppressIf = newValue } } }
    /// Out of service (maintenance): samples are not evaluated and no alarm is raised.
    public var outOfService: String? { get { storage.fields.outOfService } set { edit { $0.outOfService = newValue } } }

    public init(
        id: String, name: String? = nil, unit: String = "", tagClass: TagClass = .none,
        source: String = "", hazardSource: String? = nil,
        h: LimitRule? = nil, hh: LimitRule? = nil, l: LimitRule? = nil, ll: LimitRule? = nil,
        rate: RateRule? = nil, trend: TrendRule? = nil, staleAfter: Duration? = nil,
        suppressIf: SuppressionRule? = nil, outOfService: String? = nil
    ) {
        let rare = Rare(l: l, ll: ll, rate: rate, trend: trend, suppressIf: suppressIf)
        storage = Storage(Fields(
            id: id, name: name ?? id, unit: unit, tagClass: tagClass, source: source, hazardSource: hazardSource,
            h: h, hh: hh, staleAfter: staleAfter, outOfService: outOfService,
            rare: rare.isEmpty ? nil : RareRules(rare)))
    }

    public static func == (a: TagDefinition, b: TagDefinition) -> Bool {
        a.storage === b.storage || a.storage.fields == b.storage.fields
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(storage.fields) }

    /// The limit rule a condition names, if the tag has it.
    public func rule(_ c: Condition) -> LimitRule? {
        switch c {
        case .h: return h
        case .hh: return hh
        case .l: return l
        case .ll: return ll
        default: return nil
        }
    }
}

/// A sample of one tag, as an input hands it to the engine.
public struct Sample: Sendable, Hashable {
    /// The tag's position in the engine (from `Engine.handle(for:)`).
    public var tag: TagHandle
    public var value: Double
    public var quality: Quality
    /// When the source says the value was measured, if it says.
    public var sourceTime: Instant?
    /// When hazmon received it; the engine's notion of now for this sample.
    public var time: Instant
    /// A sensor fault the input detected (NAMUR NE 43 loop current, a device fault bit). The
    /// value is then not a measurement.
    public var fault: SensorFault?

    public init(tag: TagHandle, value: Double, quality: Quality = .good, sourceTime: Instant? = nil, time: Instant,
                fault: SensorFault? = nil) {
        self.tag = tag
        self.value = value
        self.quality = quality
        self.sourceTime = sourceTime
        self.time = time
        self.fault = fault
    }
}

/// An index into the engine's tag table: resolved once per topic or register, then O(1).
public struct TagHandle: Sendable, Hashable {
    public let index: Int
    public init(_ index: Int) { self.index = index }
}

/// A sensor fault an input detected. Plain values only: a `Sample` stays a trivial type, so
/// passing samples around costs no reference counting on the hot path.
public enum SensorFault: Sendable, Hashable, CustomStringConvertible {
    /// NAMUR NE 43: loop current at or below 3.6 mA (a failed transmitter or a broken loop).
    case loopCurrentLow(milliamps: Double)
    /// NAMUR NE 43: loop current at or above 21 mA.
    case loopCurrentHigh(milliamps: Double)
    /// The device's own fault bit or code.
    case device(code: Int)
    /// The device answered the request that reads this tag with a Modbus exception.
    /// (Integers only: a `Sample` must stay a trivial type, copied without retains.)
    case modbusException(code: Int, table: Int, address: Int, count: Int)
    /// The registers decode to NaN or an infinity: the wrong type or word order, most likely.
    case notANumber
    /// The device's own fault bit for this value is set (a gas controller's channel fault in
    /// its status word); `table` as in `modbusException`, `bit` of the register.
    case faultBit(table: Int, address: Int, bit: Int)
    /// The source sends the value as null: it has no reading (a Sparkplug metric's `is_null`).
    case noValue

    public var description: String {
        switch self {
        case .loopCurrentLow(let ma): return "loop current \(JSONWriter.number((ma * 100).rounded() / 100)) mA (NAMUR NE 43: <= 3.6 mA)"
        case .loopCurrentHigh(let ma): return "loop current \(JSONWriter.number((ma * 100).rounded() / 100)) mA (NAMUR NE 43: >= 21 mA)"
        case .device(let code): return "device reports fault code \(code)"
        case .modbusException(let code, let table, let address, let count):
            let names = [1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "server device failure",
                         5: "acknowledge", 6: "server device busy", 8: "memory parity error", 10: "gateway path unavailable",
                         11: "gateway target device failed to respond"]
            return "Modbus exception \(code) (\(names[code] ?? "unknown")) reading \(Self.tableName(table)) \(address)+\(count)"
        case .notANumber: return "the registers hold no number (NaN or infinity); check the type and word order"
        case .noValue: return "the source reports no value (null)"
        case .faultBit(let table, let address, let bit):
            let isRegister = table == 3 || table == 4
            return "the device reports a fault (\(Self.tableName(table)) \(address)\(isRegister ? " bit \(bit)" : "") set)"
        }
    }

    /// A Modbus table by its "4xxxx" digit: 0 coil, 1 discrete, 3 input, 4 holding.
    static func tableName(_ n: Int) -> String {
        switch n {
        case 0: return "coil"
        case 1: return "discrete"
        case 3: return "input"
        case 4: return "holding"
        default: return "table \(n)"
        }
    }
}
