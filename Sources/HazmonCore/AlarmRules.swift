/// One limit of a tag: set point, grade, deadband (hysteresis), delays, latching, re-alarm.
public struct LimitRule: Sendable, Hashable {
    /// The set point: the alarm is in when the value reaches it (>= for high, <= for low).
    public var at: Double
    public var grade: Grade
    // (`latch` beside `grade`: the two bytes share a word, 80 bytes a rule, not 88.)
    /// A latched alarm stays active after the condition clears, until an operator resets it.
    public var latch: Bool
    /// How far the value must come back past `at` before the alarm clears.
    public var deadband: Double
    /// How long the value must stay past the limit before the alarm raises (or escalates).
    public var onDelay: Duration
    /// How long the value must stay back before the alarm clears (or de-escalates).
    public var offDelay: Duration
    /// An acknowledged alarm still active after this long is annunciated again.
    public var realarm: Duration?

    public init(at: Double, grade: Grade, deadband: Double = 0, onDelay: Duration = .zero,
                offDelay: Duration = .zero, latch: Bool = false, realarm: Duration? = nil) {
        self.at = at
        self.grade = grade
        self.deadband = deadband
        self.onDelay = onDelay
        self.offDelay = offDelay
        self.latch = latch
        self.realarm = realarm
    }
}

/// Rate of change: a rise and / or a fall of more than an amount within a time window.
public struct RateRule: Sendable, Hashable {
    public var rise: Double?
    public var fall: Double?
    public var per: Duration
    public var grade: Grade

    public init(rise: Double? = nil, fall: Double? = nil, per: Duration, grade: Grade = .yellow) {
        self.rise = rise
        self.fall = fall
        self.per = per
        self.grade = grade
    }
}

/// Trend forecast: a least-squares line over `window` predicts when the value reaches the
/// limit named by `toward`; within `horizon` it raises a `trend` alarm.
public struct TrendRule: Sendable, Hashable {
    public var toward: Condition
    public var window: Duration
    public var horizon: Duration
    public var grade: Grade
    public var minSamples: Int
    /// The least R² of the fit for a forecast to count (noise is not a trend).
    public var minFit: Double

    public init(toward: Condition, window: Duration, horizon: Duration, grade: Grade = .yellow,
                minSamples: Int = 5, minFit: Double = 0.8) {
        self.toward = toward
        self.window = window
        self.horizon = horizon
        self.grade = grade
        self.minSamples = minSamples
        self.minFit = minFit
    }
}

/// A frozen value: a tag whose good samples stay within `band` of each other for `after` is a
/// sensor fault (a stuck transmitter, a gas controller channel that stopped updating), raised
/// as its `fault` alarm. Meant for signals that always move a little (a gas detector's zero
/// noise); `after` long enough that a steady process value is not mistaken for one.
public struct FrozenRule: Sendable, Hashable {
    public var after: Duration
    public var band: Double

    public init(after: Duration, band: Double = 0) {
        self.after = after
        self.band = band
    }
}

/// Suppression by design: a tag's alarms are suppressed while another tag's value is below
/// (or above) a threshold, e.g. while its unit is shut down.
public struct SuppressionRule: Sendable, Hashable {
    public var tag: String
    public var below: Double?
    public var above: Double?

    public init(tag: String, below: Double? = nil, above: Double? = nil) {
        self.tag = tag
        self.below = below
        self.above = above
    }

    func holds(_ v: Double) -> Bool {
        if let below, v < below { return true }
        if let above, v > above { return true }
        return false
    }
}

/// A voting group: `k` of the member tags in `condition` (h, hh, l or ll) raise the group's
/// `vote` alarm, e.g. 2oo3 gas detectors in one dike confirm a leak.
/// What a vote does with a member that is bad (a sensor fault, stale data or a lost
/// connection, spec §12). Either way the vote raises its own `fault` while any member is bad:
/// a vote never silently shrinks.
public enum VoteOnBad: String, Sendable, Hashable {
    /// k-of-n with b bad members trips on max(1, k − b) healthy members in alarm (2oo3 with one
    /// bad member becomes 1oo2).
    case degrade
    /// A bad member counts as in alarm (the fail-safe choice where a trip is cheap).
    case trip
}

public struct VoteDefinition: Sendable, Hashable {
    public var id: String
    public var name: String
    public var tags: [String]
    public var k: Int
    public var condition: Condition
    public var grade: Grade
    public var onBad: VoteOnBad

    public init(id: String, name: String? = nil, tags: [String], k: Int, condition: Condition, grade: Grade = .red,
                onBad: VoteOnBad = .degrade) {
        self.onBad = onBad
        self.id = id
        self.name = name ?? id
        self.tags = tags
        self.k = k
        self.condition = condition
        self.grade = grade
    }
}

/// A device or connection whose loss raises a `comm` alarm and makes its tags' quality bad.
public struct ConnectionDefinition: Sendable, Hashable {
    public var id: String
    public var name: String
    public var tags: [String]
    public var grade: Grade

    public init(id: String, name: String? = nil, tags: [String], grade: Grade = .yellow) {
        self.id = id
        self.name = name ?? id
        self.tags = tags
        self.grade = grade
    }
}

/// Engine-wide settings (`[engine]`).
public struct EngineSettings: Sendable, Hashable {
    /// The longest an operator may shelve an alarm.
    public var shelveMax: Duration = .seconds(8 * 3600)
    /// `transitions` raises and clears of one alarm within `chatterPer` mark it chattering.
    public var chatterTransitions: Int = 3
    public var chatterPer: Duration = .seconds(60)
    /// More than `floodRaised` raises within `floodPer` start a flood; it ends under `floodEndBelow`.
    public var floodRaised: Int = 10
    public var floodPer: Duration = .seconds(600)
    public var floodEndBelow: Int = 5
    /// The language of event messages (`[site] language`).
    public var language: Language = .en

    public init() {}
}
