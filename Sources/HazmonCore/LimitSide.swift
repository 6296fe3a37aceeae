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
    /// The set points and deadbands alone, 40 bytes: what the hot path reads per sample.
    let bands: LimitBands

    public init(direction: LimitDirection, first: LimitRule?, second: LimitRule?) {
        self.direction = direction
        self.first = first
        self.second = second
        self.bands = LimitBands(high: direction == .high, first: first, second: second)
    }

    public var isConfigured: Bool { first != nil || second != nil }

    /// The level `value` puts this side at, given the level it is at now.
    public func level(for value: Double, current: LimitLevel) -> LimitLevel {
        bands.level(for: value, current: current)
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

/// A side's set points and deadbands as plain numbers, small enough to pass in registers.
struct LimitBands: Sendable, Hashable {
    let high: Bool
    let hasFirst: Bool, hasSecond: Bool
    let firstAt: Double, firstBand: Double
    let secondAt: Double, secondBand: Double

    init(high: Bool, first: LimitRule?, second: LimitRule?) {
        self.high = high
        hasFirst = first != nil
        hasSecond = second != nil
        firstAt = first?.at ?? 0
        firstBand = first?.deadband ?? 0
        secondAt = second?.at ?? 0
        secondBand = second?.deadband ?? 0
    }

    @inline(__always)
    func level(for value: Double, current: LimitLevel) -> LimitLevel {
        if hasSecond, reaches(secondAt, current == .second ? secondBand : 0, value) { return .second }
        if hasFirst, reaches(firstAt, current != .none ? firstBand : 0, value) { return .first }
        return .none
    }

    @inline(__always)
    func reaches(_ at: Double, _ band: Double, _ value: Double) -> Bool {
        high ? value >= at - band : value <= at + band
    }
}
