import HazmonCore

/// The tags the engine benchmarks and the profiling executable evaluate, defined once.
public enum Scenarios {
    /// A combustible-gas tag with h / hh and deadband.
    public static let limitsOnly = TagDefinition(
        id: "GT-101", unit: "%LEL", tagClass: .combustibleGas,
        h: LimitRule(at: 20, grade: .yellow, deadband: 2), hh: LimitRule(at: 40, grade: .orange, deadband: 2))

    /// A pressure tag with limits, rate of rise, trend forecast and stale timer.
    public static let full = TagDefinition(
        id: "PT-201", unit: "MPa", tagClass: .pressure,
        h: LimitRule(at: 1.4, grade: .yellow, deadband: 0.02), hh: LimitRule(at: 1.6, grade: .red, deadband: 0.02),
        rate: RateRule(rise: 0.2, per: .seconds(10), grade: .orange),
        trend: TrendRule(toward: .hh, window: .seconds(60), horizon: .seconds(300), grade: .orange),
        staleAfter: .seconds(10))

    /// 10,000 tags, one in four fully configured.
    public static let mixed: [TagDefinition] = (0..<10_000).map { i in
        var d = i % 4 == 0 ? full : limitsOnly
        d.id = "T\(i)"
        return d
    }

    /// A value for sample `i` of a tag that keeps its alarms unchanged: a limits-only tag sways
    /// between 3 and 10 %LEL, a full tag between 1.000 and 1.007 MPa in a trendless order.
    public static func value(_ i: Int, full: Bool) -> Double {
        full ? 1.0 + Double((i &* 5) & 7) * 0.001 : 3 + Double(i & 7)
    }
}
