/// What an alarm watches. `h`/`hh` are the levels of one high-side alarm, `l`/`ll` of one
/// low-side alarm (spec §3). `flood` is the site's own alarm flood (its tag is the site id);
/// `level` a hazard source's GB 18218 level (its tag is the source id, spec §13).
public enum Condition: String, Sendable, Hashable, CaseIterable {
    case h, hh, l, ll, rate, trend, stale, fault, comm, vote, flood, level
    /// An interlock bypassed too long (spec §13): the interlock tag's low side.
    case bypass
    /// A hazard source's operating mode (startup, shutdown, maintenance; its tag is the source id).
    case mode

    /// The alarm a condition belongs to: `h` and `hh` share the high side, `l` and `ll` the low.
    public var slot: AlarmSlot {
        switch self {
        case .h, .hh: return .high
        case .l, .ll, .bypass: return .low
        case .rate: return .rate
        case .trend: return .trend
        case .stale: return .stale
        case .fault: return .fault
        case .comm: return .comm
        case .vote: return .vote
        case .flood: return .flood
        case .level: return .level
        case .mode: return .mode
        }
    }
}

/// One alarm per owner and slot; the high and low sides each move between two levels.
public enum AlarmSlot: String, Sendable, Hashable, CaseIterable {
    case high, low, rate, trend, stale, fault, comm, vote, flood, level, mode

    /// Position in a tag's slot table, for the slots a tag has.
    var tagIndex: Int? {
        switch self {
        case .high: return 0
        case .low: return 1
        case .rate: return 2
        case .trend: return 3
        case .stale: return 4
        case .fault: return 5
        default: return nil
        }
    }

    static let tagSlots: [AlarmSlot] = [.high, .low, .rate, .trend, .stale, .fault]
}

/// What happened to an alarm (spec §4).
public enum EventKind: String, Sendable, Hashable, CaseIterable {
    case raised, escalated, deescalated, cleared, acknowledged, shelved, unshelved
    case suppressed, unsuppressed, reset, predicted
    case floodStart = "flood_start"
    case floodEnd = "flood_end"
    /// A hazard source entered a declared operating mode, and left it (back to normal).
    case modeStart = "mode_start"
    case modeEnd = "mode_end"
}

/// ISA-18.2 alarm states (spec §3).
public enum AlarmState: String, Sendable, Hashable, CaseIterable {
    case unack, acked
    case rtnUnack = "rtn_unack"
    case normal
}

/// What kind of alarm an event is about, as park and regulator platforms name it (报警类型,
/// spec §12). `flood` is hazmon's own: the site's alarm flood, not a process alarm.
public enum AlarmType: String, Sendable, Hashable, CaseIterable {
    case high
    case highHigh = "high_high"
    case low
    case lowLow = "low_low"
    case rate, trend, stale, fault, comm, vote, flood, level, bypass, mode
}

extension Condition {
    /// The platforms' name for the alarm: `hh` is `high_high`, `l` is `low`, and so on.
    public var alarmType: AlarmType {
        switch self {
        case .h: return .high
        case .hh: return .highHigh
        case .l: return .low
        case .ll: return .lowLow
        // The others are named alike (checked for every case by a test).
        default: return AlarmType(rawValue: rawValue)!
        }
    }

    /// An instrument or communication fault (sensor fault, stale data, lost connection), not a
    /// process alarm. GB 16808 shows faults apart from gas alarms (fault indicators yellow,
    /// alarm indicators red), so every display labels these as faults whatever their grade.
    public var isFault: Bool { self == .fault || self == .stale || self == .comm }

    /// GB/T 50493's alarm level of a gas detector's limit alarm: 1 (一级, the first and lower
    /// set point) for `h` / `l`, 2 (二级) for `hh` / `ll`; nil for other conditions and for
    /// tags that are not gas detectors. Not the grade: grade 1 is the most severe.
    public func gbLevel(for tagClass: TagClass) -> Int? {
        guard tagClass.isGas else { return nil }
        switch self {
        case .h, .l: return 1
        case .hh, .ll: return 2
        default: return nil
        }
    }
}
