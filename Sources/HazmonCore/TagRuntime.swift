/// One alarm slot's live state (the high or the low side of a tag).
public struct SideState: Sendable, Hashable {
    public var level: LimitLevel = .none
    public var state: AlarmState = .normal
    /// The level the alarm last held while active; kept after it clears for `rtn_unack`.
    public var lastLevel: LimitLevel = .none
    public var since: Instant?
}

/// A tag's definition and live state inside the engine.
public struct TagRuntime: Sendable {
    public let definition: TagDefinition
    public let highSide: LimitSide
    public let lowSide: LimitSide
    public internal(set) var high = SideState()
    public internal(set) var low = SideState()
    public internal(set) var lastValue: Double?
    public internal(set) var lastQuality: Quality = .bad
    public internal(set) var lastSourceTime: Instant?
    public internal(set) var lastTime: Instant?

    init(_ d: TagDefinition) {
        definition = d
        highSide = LimitSide(direction: .high, first: d.h, second: d.hh)
        lowSide = LimitSide(direction: .low, first: d.l, second: d.ll)
    }

    mutating func evaluate(_ s: Sample, site: String, into events: inout [AlarmEvent]) {
        lastQuality = s.quality
        lastTime = s.time
        // Bad or uncertain samples never raise or clear a limit alarm: a dead loop reading 0 is
        // not "back to normal".
        guard s.quality == .good, s.value.isFinite else { return }
        lastValue = s.value
        lastSourceTime = s.sourceTime
        if highSide.isConfigured {
            let next = highSide.level(for: s.value, current: high.level)
            if next != high.level { transition(&high, side: highSide, to: next, sample: s, site: site, into: &events) }
        }
        if lowSide.isConfigured {
            let next = lowSide.level(for: s.value, current: low.level)
            if next != low.level { transition(&low, side: lowSide, to: next, sample: s, site: site, into: &events) }
        }
    }

    private func transition(
        _ st: inout SideState, side: LimitSide, to next: LimitLevel, sample s: Sample, site: String,
        into events: inout [AlarmEvent]
    ) {
        let previous = st.level
        let kind: EventKind
        let shown: LimitLevel
        if previous == .none {
            kind = .raised
            shown = next
            st.state = .unack
            st.since = s.time
        } else if next == .none {
            kind = .cleared
            shown = previous
            st.state = st.state == .acked ? .normal : .rtnUnack
        } else if next > previous {
            kind = .escalated
            shown = next
            st.state = .unack
        } else {
            kind = .deescalated
            shown = next
        }
        st.level = next
        if next != .none { st.lastLevel = next }
        if st.state == .normal { st.since = nil }
        let rule = side.rule(at: shown)!
        let condition = side.condition(at: shown)
        events.append(AlarmEvent(
            time: s.time, site: site, tag: definition.id, condition: condition, event: kind,
            grade: rule.grade, state: st.state, value: s.value, unit: definition.unit,
            limit: rule.at, quality: s.quality, source: definition.source, sourceTime: s.sourceTime,
            message: message(kind, condition: condition, value: s.value, limit: rule.at),
            hazardSource: definition.hazardSource
        ))
    }

    func message(_ kind: EventKind, condition: Condition, value: Double, limit: Double) -> String {
        let v = "\(definition.name) \(JSONWriter.number(value))\(definition.unit.isEmpty ? "" : " " + definition.unit)"
        let which: String
        switch condition {
        case .hh: which = "above second-level limit"
        case .h: which = "above first-level limit"
        case .ll: which = "below second-level low limit"
        case .l: which = "below first-level low limit"
        default: which = "at limit"
        }
        switch kind {
        case .cleared: return "\(v) back within limits (\(condition.rawValue) \(JSONWriter.number(limit)) cleared)"
        default: return "\(v) \(which) \(JSONWriter.number(limit))"
        }
    }

    mutating func acknowledge(
        slot: AlarmSlot, user: String?, note: String?, at time: Instant, site: String
    ) throws(OperatorError) -> AlarmEvent {
        let side: LimitSide
        switch slot {
        case .high: side = highSide
        case .low: side = lowSide
        default: throw .noSuchAlarm(tag: definition.id, slot: slot)
        }
        var st = slot == .high ? high : low
        switch st.state {
        case .normal: throw .noSuchAlarm(tag: definition.id, slot: slot)
        case .acked: throw .alreadyAcknowledged(tag: definition.id, slot: slot)
        case .unack: st.state = .acked
        case .rtnUnack: st.state = .normal; st.since = nil
        }
        let level = st.level == .none ? st.lastLevel : st.level
        if st.state == .normal { st.lastLevel = .none }
        if slot == .high { high = st } else { low = st }
        let rule = side.rule(at: level) ?? side.first ?? side.second!
        let condition = side.condition(at: level)
        return AlarmEvent(
            time: time, site: site, tag: definition.id, condition: condition, event: .acknowledged,
            grade: rule.grade, state: st.state, value: lastValue, unit: definition.unit,
            limit: rule.at, quality: lastQuality, source: definition.source, sourceTime: lastSourceTime,
            message: "\(definition.name) \(condition.rawValue) alarm acknowledged\(user.map { " by \($0)" } ?? "")",
            user: user, note: note, hazardSource: definition.hazardSource
        )
    }

    func activeAlarm(_ slot: AlarmSlot) -> ActiveAlarm {
        let (side, st) = slot == .high ? (highSide, high) : (lowSide, low)
        let level = st.level == .none ? st.lastLevel : st.level
        let rule = side.rule(at: level) ?? side.first ?? side.second!
        return ActiveAlarm(
            tag: definition.id, name: definition.name, condition: side.condition(at: level),
            grade: rule.grade, state: st.state, active: st.level != .none, value: lastValue,
            unit: definition.unit, limit: rule.at, quality: lastQuality, since: st.since,
            tagClass: definition.tagClass
        )
    }
}

/// An alarm not in `normal`, as snapshots and tables show it.
public struct ActiveAlarm: Sendable, Hashable {
    public var tag: String
    public var name: String
    public var condition: Condition
    public var grade: Grade
    public var state: AlarmState
    public var active: Bool
    public var value: Double?
    public var unit: String
    public var limit: Double?
    public var quality: Quality
    public var since: Instant?
    public var tagClass: TagClass

    /// Most severe first; at equal grade toxic gas before combustible gas; then oldest first.
    public static func displayOrder(_ a: ActiveAlarm, _ b: ActiveAlarm) -> Bool {
        if a.grade != b.grade { return a.grade < b.grade }
        if a.tagClass.priorityRank != b.tagClass.priorityRank { return a.tagClass.priorityRank < b.tagClass.priorityRank }
        let ta = a.since?.nanoseconds ?? .max, tb = b.since?.nanoseconds ?? .max
        if ta != tb { return ta < tb }
        return (a.tag, a.condition.rawValue) < (b.tag, b.condition.rawValue)
    }

    public var json: String {
        var w = JSONWriter(capacity: 200)
        w.field("tag", tag)
        w.field("name", name)
        w.field("condition", condition.rawValue)
        w.field("grade", grade.rawValue)
        w.field("color", grade.color)
        w.field("state", state.rawValue)
        w.field("active", active)
        w.field("value", value)
        w.field("unit", unit)
        w.field("limit", limit)
        w.field("quality", quality.rawValue)
        if let since { w.field("since", since.iso8601) }
        return w.finish()
    }
}
