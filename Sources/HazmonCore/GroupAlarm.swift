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
    /// A vote counted otherwise than written, and its bad members (spec §12).
    var voteNote: VoteNote?
    var badMembers: [VoteMember] = []
    var onBad = VoteOnBad.degrade
    /// A vote of gas detectors: its condition's GB/T 50493 level.
    var gbLevel: Int?

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
            message: message(kind, user: user, language: ctx.settings.language), user: user, note: note, flags: flags, gbLevel: gbLevel, origin: origin)
    }

    /// The event's message, in the site's language (`Language.text` holds the wording).
    func message(_ kind: EventKind, user: String?, language: Language) -> String {
        let v = value.map { JSONWriter.number($0) } ?? "?"
        let k = limit.map { JSONWriter.number($0) } ?? "?"
        let p: Phrase
        switch (condition, kind) {
        case (_, .acknowledged), (_, .shelved), (_, .unshelved), (_, .reset): p = .groupAction(name: name, action: kind, user: user)
        case (.vote, .cleared): p = .voteCleared(name: name, inAlarm: v, required: k, note: voteNote)
        case (.vote, _): p = .vote(name: name, inAlarm: v, required: k, note: voteNote)
        case (.fault, .cleared): p = .voteFaultCleared(name: name)
        case (.fault, _): p = .voteFault(name: name, onBad: onBad, members: badMembers)
        case (.comm, .cleared): p = .commCleared(name: name)
        case (.comm, _): p = .comm(name: name, reason: reason ?? "unreachable")
        case (.flood, .floodStart): p = .flood(count: v)
        case (.flood, _): p = .floodEnd(count: v)
        default: p = .other(name: name, event: kind)
        }
        return language.text(p)
    }
}
