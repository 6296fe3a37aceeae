/// An alarm not in `normal` (or shelved, or latched), as snapshots and tables show it.
public struct ActiveAlarm: Sendable, Hashable {
    public var tag: String
    public var name: String
    public var condition: Condition
    public var grade: Grade
    public var state: AlarmState
    /// Whether the condition is present now (false: returned, or latched awaiting reset).
    public var active: Bool
    public var latched: Bool
    public var shelvedUntil: Instant?
    public var suppressed: Bool
    public var value: Double?
    public var unit: String
    public var limit: Double?
    public var quality: Quality
    public var since: Instant?
    public var tagClass: TagClass
    /// GB/T 50493's level of a gas alarm (spec §12).
    public var gbLevel: Int? = nil

    /// Most severe first; at equal grade toxic gas before combustible gas; then oldest first.
    public static func displayOrder(_ a: ActiveAlarm, _ b: ActiveAlarm) -> Bool {
        if a.grade != b.grade { return a.grade < b.grade }
        if a.tagClass.priorityRank != b.tagClass.priorityRank { return a.tagClass.priorityRank < b.tagClass.priorityRank }
        let ta = a.since?.nanoseconds ?? .max, tb = b.since?.nanoseconds ?? .max
        if ta != tb { return ta < tb }
        return (a.tag, a.condition.rawValue) < (b.tag, b.condition.rawValue)
    }

    public var json: String {
        var w = JSONWriter(capacity: 240)
        w.field("tag", tag)
        w.field("name", name)
        w.field("condition", condition.rawValue)
        w.field("alarm_type", condition.alarmType.rawValue)
        if let gbLevel { w.field("gb_level", gbLevel) }
        w.field("grade", grade.rawValue)
        w.field("color", grade.color)
        w.field("state", state.rawValue)
        w.field("active", active)
        if latched { w.field("latched", true) }
        if let shelvedUntil { w.field("shelved_until", shelvedUntil.iso8601) }
        if suppressed { w.field("suppressed", true) }
        w.field("value", value)
        w.field("unit", unit)
        w.field("limit", limit)
        w.field("quality", quality.rawValue)
        if let since { w.field("since", since.iso8601) }
        return w.finish()
    }
}

extension Engine {
    /// Every alarm not in `normal`, plus shelved and latched ones, most severe first; at equal
    /// grade toxic before combustible.
    public func snapshot() -> [ActiveAlarm] {
        var out: [ActiveAlarm] = []
        for t in tags {
            for slot in AlarmSlot.tagSlots where t.isConfigured(slot) {
                let s = t.slot(slot)!
                guard s.state != .normal || s.latched || s.isShelved || s.level != .none else { continue }
                let (condition, grade, limit) = t.shown(slot)
                out.append(ActiveAlarm(
                    tag: t.definition.id, name: t.definition.name, condition: condition, grade: grade, state: s.state,
                    active: s.level != .none && !s.latched, latched: s.latched, shelvedUntil: s.shelvedUntil,
                    suppressed: t.suppressed, value: t.lastValue, unit: t.definition.unit, limit: limit,
                    quality: t.lastQuality, since: s.since, tagClass: t.definition.tagClass,
                    gbLevel: condition.gbLevel(for: t.definition.tagClass)))
            }
        }
        for g in votes + voteFaults + connections + [flood] {
            let s = g.slot
            guard s.state != .normal || s.isShelved || s.level != .none else { continue }
            out.append(ActiveAlarm(
                tag: g.id, name: g.name, condition: g.condition, grade: g.grade, state: s.state, active: s.level != .none,
                latched: false, shelvedUntil: s.shelvedUntil, suppressed: false, value: g.value, unit: "", limit: g.limit,
                quality: .good, since: s.since, tagClass: g.condition == .vote ? .combustibleGas : .none, gbLevel: g.gbLevel))
        }
        return out.sorted(by: ActiveAlarm.displayOrder)
    }
}
