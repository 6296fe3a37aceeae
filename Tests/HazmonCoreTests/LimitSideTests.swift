import HazmonCore
import Testing

@Suite("LimitSide: levels and deadband")
struct LimitSideTests {
    static let high = LimitSide(direction: .high,
                                first: LimitRule(at: 20, grade: .yellow, deadband: 2),
                                second: LimitRule(at: 40, grade: .orange, deadband: 2))
    static let low = LimitSide(direction: .low,
                               first: LimitRule(at: 20, grade: .yellow, deadband: 1),
                               second: LimitRule(at: 10, grade: .orange, deadband: 1))

    @Test("high side", arguments: [
        // (current, value, expected)
        (LimitLevel.none, 19.99, LimitLevel.none),
        (.none, 20, .first),            // the set point itself is in alarm
        (.none, 39.9, .first),
        (.none, 40, .second),           // a jump straight to the second level
        (.first, 18.5, .first),         // inside the deadband: stays
        (.first, 17.99, .none),         // below at - deadband: clears
        (.second, 38.5, .second),       // inside hh's deadband
        (.second, 37.9, .first),        // de-escalates
        (.second, 5, .none),            // straight to normal
        (.first, 40, .second),
    ])
    func high(current: LimitLevel, value: Double, expected: LimitLevel) {
        #expect(Self.high.level(for: value, current: current) == expected)
    }

    @Test("low side", arguments: [
        (LimitLevel.none, 20.01, LimitLevel.none),
        (.none, 20, .first),
        (.none, 10, .second),
        (.first, 20.9, .first),
        (.first, 21.01, .none),
        (.second, 10.9, .second),
        (.second, 11.5, .first),
    ])
    func low(current: LimitLevel, value: Double, expected: LimitLevel) {
        #expect(Self.low.level(for: value, current: current) == expected)
    }

    @Test func onlySecondLevelConfigured() {
        let side = LimitSide(direction: .high, first: nil, second: LimitRule(at: 1.6, grade: .red))
        #expect(side.level(for: 1.59, current: .none) == .none)
        #expect(side.level(for: 1.6, current: .none) == .second)
        #expect(side.condition(at: .second) == .hh)
    }
}
