/// Which way a side of limits points.
public enum LimitDirection: Sendable {
    case high, low
}

/// The level a side is at: out of alarm, at its first (h / l) or second (hh / ll) limit.
public enum LimitLevel: Int, Sendable, Comparable {
    case none = 0, first = 1, second = 2
    public static func < (a: LimitLevel, b: LimitLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The high or the low side of a tag: two limits, one alarm that moves between them.
///
/// A pure function of (current level, value) → next level, with each limit's deadband applied
/// only while that limit is in alarm, so noise around a set point raises once and clears once.
public struct LimitSide: Sendable, Hashable {
    public let direction: LimitDirection
    public let first: LimitRule?
    public let second: LimitRule?

    public init(direction: LimitDirection, first: LimitRule?, second: LimitRule?) {
        self.direction = direction
        self.first = first
        self.second = second
    }

    public var isConfigured: Bool { first != nil || second != nil }

    /// The level `value` puts this side at, given the level it is at now.
    @inlinable
    public func level(for value: Double, current: LimitLevel) -> LimitLevel {
        if let second, reaches(second, value, active: current == .second) { return .second }
        if let first, reaches(first, value, active: current != .none) { return .first }
        return .none
    }

    @inlinable
    func reaches(_ rule: LimitRule, _ value: Double, active: Bool) -> Bool {
        let band = active ? rule.deadband : 0
        switch direction {
        case .high: return value >= rule.at - band
        case .low: return value <= rule.at + band
        }
    }

    public func rule(at level: LimitLevel) -> LimitRule? {
        switch level {
        case .none: return nil
        case .first: return first
        case .second: return second
        }
    }

    public func condition(at level: LimitLevel) -> Condition {
        switch (direction, level) {
        case (.high, .second): return .hh
        case (.high, _): return .h
        case (.low, .second): return .ll
        case (.low, _): return .l
        }
    }
}
