/// What a step of an alarm did, for the owner to turn into an event.
enum SlotChange: Equatable {
    case none
    case raised(LimitLevel)
    case escalated(LimitLevel)
    case deescalated(LimitLevel)
    case cleared(LimitLevel)
    /// The condition cleared but the alarm is latched: it stays until reset.
    case latched(LimitLevel)
}

/// The live state of one alarm (a tag's high side, its rate alarm, a vote, a connection…):
/// ISA-18.2 state, delays, latch, shelving and chatter, independent of what the alarm watches.
///
/// `step` is a pure state machine: the owner computes the level its condition asks for
/// (`target`), and the delay and latch that apply; the machine decides and says what changed.
public struct AlarmSlotState: Sendable, Hashable {
    // The fields are ordered so that the one-byte ones share a word, and the optional times
    // are stored as plain nanoseconds (48 bytes, not 144 with the transition times inline and
    // optional times: a tag has six of these, a park 50,000 tags).
    var transitions = TransitionLog()
    /// The annunciated level: none (normal or returned), first (h / l / the alarm) or second.
    public internal(set) var level: LimitLevel = .none
    public internal(set) var state: AlarmState = .normal
    /// Condition gone, alarm held for an operator's reset.
    public internal(set) var latched = false
    /// The level shown while returned-unacknowledged or latched.
    public internal(set) var lastLevel: LimitLevel = .none
    /// The level the condition asks for, kept so timers can finish a delay.
    var target: LimitLevel = .none
    var pending: LimitLevel?
    var pendingSince = Instant(nanoseconds: 0)
    /// When the alarm last raised, while it is not normal.
    public internal(set) var since: Instant? {
        get { Self.instant(sinceNanoseconds) }
        set { sinceNanoseconds = newValue?.nanoseconds ?? Self.unset }
    }
    public internal(set) var shelvedUntil: Instant? {
        get { Self.instant(shelvedUntilNanoseconds) }
        set { shelvedUntilNanoseconds = newValue?.nanoseconds ?? Self.unset }
    }
    /// When the operator acknowledged it (for re-alarm).
    var ackedAt: Instant? {
        get { Self.instant(ackedAtNanoseconds) }
        set { ackedAtNanoseconds = newValue?.nanoseconds ?? Self.unset }
    }
    // The three times above, stored as nanoseconds with `unset` for none: an `Instant?` takes
    // 9 bytes and pads to 16, these 8 (72 -> 48 bytes a slot; a park's 50,000 tags have 300,000).
    private var sinceNanoseconds = unset
    private var shelvedUntilNanoseconds = unset
    private var ackedAtNanoseconds = unset
    private static let unset = Int64.min
    private static func instant(_ n: Int64) -> Instant? { n == unset ? nil : Instant(nanoseconds: n) }

    public var isShelved: Bool { shelvedUntil != nil }
    /// The level to describe the alarm with: the current one, or the last one held.
    var shownLevel: LimitLevel { level == .none ? lastLevel : level }

    /// Moves toward `target`. `delay` is the time the change must persist (on-delay when
    /// getting worse, off-delay when getting better); `latch` whether clearing is held.
    mutating func step(target: LimitLevel, now: Instant, delay: Duration, latch: Bool) -> SlotChange {
        self.target = target
        if latched {
            if target == .none { return .none }
            latched = false   // the condition is back: the held alarm simply continues
        }
        if target == level {
            pending = nil
            return .none
        }
        if delay > .zero {
            if pending != target {
                pending = target
                pendingSince = now
                return .none
            }
            if now - pendingSince < delay { return .none }
        }
        pending = nil
        let from = level
        if target == .none {
            if latch {
                latched = true
                lastLevel = from
                return .latched(from)
            }
            level = .none
            lastLevel = from
            state = state == .acked ? .normal : .rtnUnack
            if state == .normal { since = nil; lastLevel = .none }
            transitions.record(now)
            return .cleared(from)
        }
        level = target
        lastLevel = target
        if from == .none {
            state = .unack
            since = now
            ackedAt = nil
            transitions.record(now)
            return .raised(target)
        }
        if target > from {
            state = .unack
            ackedAt = nil
            return .escalated(target)
        }
        return .deescalated(target)
    }

    /// ISA-18.2 acknowledge. Returns false if there is nothing to acknowledge.
    mutating func acknowledge(now: Instant) -> Bool {
        switch state {
        case .unack:
            state = .acked
            ackedAt = now
            return true
        case .rtnUnack:
            state = .normal
            since = nil
            lastLevel = .none
            return true
        case .acked, .normal:
            return false
        }
    }

    /// Releases a latched alarm whose condition has cleared.
    mutating func reset(now: Instant) -> Bool {
        guard latched else { return false }
        latched = false
        level = .none
        state = state == .acked ? .normal : .rtnUnack
        if state == .normal { since = nil; lastLevel = .none }
        transitions.record(now)
        return true
    }

    /// Re-annunciates an acknowledged alarm still active after `after`.
    mutating func realarm(now: Instant, after: Duration) -> Bool {
        guard state == .acked, level != .none || latched, let ackedAt, now - ackedAt >= after else { return false }
        state = .unack
        self.ackedAt = nil
        return true
    }

    mutating func shelve(until: Instant) { shelvedUntil = until }
    mutating func unshelve() { shelvedUntil = nil }
}

/// The times of an alarm's last few raises and clears, for chatter.
///
/// Kept in an array made on the first raise: most alarms of a park never raise, and six
/// inline logs of 64 bytes were a third of every tag's record (the empty array is shared, so
/// an alarm that never raised carries one pointer). Recording allocates once per alarm, on a
/// raise, which makes an event anyway.
struct TransitionLog: Sendable, Hashable {
    private var times: [Int64] = []
    private var next: UInt8 = 0
    private var stored: UInt8 = 0
    var count: Int { Int(stored) }
    static let capacity = 8

    mutating func record(_ t: Instant) {
        if times.isEmpty { times = Array(repeating: 0, count: Self.capacity) }
        times[Int(next)] = t.nanoseconds
        next = UInt8((Int(next) + 1) % Self.capacity)
        stored = UInt8(min(count + 1, Self.capacity))
    }

    /// Whether at least `n` transitions happened within `per` before `now`.
    func atLeast(_ n: Int, within per: Duration, now: Instant) -> Bool {
        guard n >= 1, n <= count else { return false }
        let idx = (Int(next) - n + Self.capacity) % Self.capacity
        return now.nanoseconds - times[idx] <= per.nanosecondsClamped
    }
}
