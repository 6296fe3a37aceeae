/// An alarm that belongs to no single tag: a voting group, a device or broker connection, or
/// the site's alarm flood. Its "tag" in events is the group's, connection's or site's id.
public struct GroupAlarm: Sendable {
    public let id: String
    public let name: String
    public let condition: Condition
    public let grade: Grade
    public let source: String
    /// Its events' origin (its position among the votes or connections, or the flood).
    var origin: EventOrigin = .none
    public internal(set) var slot = AlarmSlotState()
    /// What the event shows as value and limit (votes: members in condition and k).
    var value: Double?
    var limit: Double?
    /// The reason of the last change (a connection's error), for messages.
    var reason: String?

    init(id: String, name: String, condition: Condition, grade: Grade, source: String, limit: Double? = nil) {
        self.id = id
        self.name = name
        self.condition = condition
        self.grade = grade
        self.source = source
        self.limit = limit
    }

    func event(_ kind: EventKind, now: Instant, ctx: EngineContext, user: String? = nil, note: String? = nil) -> AlarmEvent {
        var flags: EventFlags = []
        if slot.transitions.atLeast(ctx.settings.chatterTransitions, within: ctx.settings.chatterPer, now: now) {
            flags.insert(.chattering)
        }
        if slot.isShelved && kind != .shelved && kind != .unshelved { flags.insert(.shelved) }
        if ctx.flooding && condition != .flood { flags.insert(.flood) }
        return AlarmEvent(
            time: now, site: ctx.site, tag: id, condition: condition, event: kind, grade: grade, state: slot.state,
            value: value, unit: "", limit: limit, quality: .good, source: source, sourceTime: nil,
            message: message(kind, user: user), user: user, note: note, flags: flags, origin: origin)
    }

    func message(_ kind: EventKind, user: String?) -> String {
        let by = user.map { " by \($0)" } ?? ""
        let v = value.map { JSONWriter.number($0) } ?? "?"
        let k = limit.map { JSONWriter.number($0) } ?? "?"
        switch (condition, kind) {
        case (_, .acknowledged): return "\(name) alarm acknowledged\(by)"
        case (_, .shelved): return "\(name) alarm shelved\(by)"
        case (_, .unshelved): return "\(name) alarm unshelved\(by)"
        case (_, .reset): return "\(name) alarm reset\(by)"
        case (.vote, .cleared): return "\(name): \(v) of the group in alarm, below \(k): vote cleared"
        case (.vote, _): return "\(name): \(v) of the group in alarm (\(k) required): confirmed"
        case (.comm, .cleared): return "\(name) communication restored"
        case (.comm, _): return "\(name) communication lost: \(reason ?? "unreachable")"
        case (.flood, .floodStart): return "alarm flood: \(v) alarms raised within the flood window"
        case (.flood, _): return "alarm flood over: \(v) alarms raised within the flood window"
        default: return "\(name) \(kind.rawValue)"
        }
    }
}
