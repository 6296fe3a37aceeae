/// What an alarm watches. `h`/`hh` are the levels of one high-side alarm, `l`/`ll` of one
/// low-side alarm (spec §3).
public enum Condition: String, Sendable, Hashable, CaseIterable {
    case h, hh, l, ll, rate, trend, stale, fault, comm, vote

    /// The alarm a condition belongs to: `h` and `hh` share the high side, `l` and `ll` the low.
    public var slot: AlarmSlot {
        switch self {
        case .h, .hh: return .high
        case .l, .ll: return .low
        case .rate: return .rate
        case .trend: return .trend
        case .stale: return .stale
        case .fault: return .fault
        case .comm: return .comm
        case .vote: return .vote
        }
    }
}

/// One alarm per tag and slot; the high and low sides each move between two levels.
public enum AlarmSlot: String, Sendable, Hashable, CaseIterable {
    case high, low, rate, trend, stale, fault, comm, vote
}

/// What happened to an alarm (spec §4).
public enum EventKind: String, Sendable, Hashable, CaseIterable {
    case raised, escalated, deescalated, cleared, acknowledged, shelved, unshelved
    case suppressed, unsuppressed, reset, predicted
    case floodStart = "flood_start"
    case floodEnd = "flood_end"
}

/// ISA-18.2 alarm states (spec §3).
public enum AlarmState: String, Sendable, Hashable, CaseIterable {
    case unack, acked
    case rtnUnack = "rtn_unack"
    case normal
}
