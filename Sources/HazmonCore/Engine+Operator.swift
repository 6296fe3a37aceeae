/// Why an operator request was refused.
public enum OperatorError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownTag(String)
    case unknownCondition(tag: String, condition: Condition)
    case noSuchAlarm(tag: String, slot: AlarmSlot)
    case alreadyAcknowledged(tag: String, slot: AlarmSlot)
    case shelveNeedsDuration
    case shelveNeedsReason
    case shelveTooLong(max: Duration)
    case notShelved(tag: String, slot: AlarmSlot)
    case notLatched(tag: String, slot: AlarmSlot)
    case unknownSource(String)
    case notInMode(String)
    case modeNeedsDuration
    case modeNeedsReason
    case modeTooLong(mode: String, max: Duration)

    /// A short machine-readable code for socket replies.
    public var code: String {
        switch self {
        case .unknownTag: return "unknown_tag"
        case .unknownCondition: return "unknown_condition"
        case .noSuchAlarm: return "no_such_alarm"
        case .alreadyAcknowledged: return "already_acknowledged"
        case .shelveNeedsDuration: return "shelve_needs_duration"
        case .shelveNeedsReason: return "shelve_needs_reason"
        case .shelveTooLong: return "shelve_too_long"
        case .notShelved: return "not_shelved"
        case .notLatched: return "not_latched"
        case .unknownSource: return "unknown_source"
        case .notInMode: return "not_in_mode"
        case .modeNeedsDuration: return "mode_needs_duration"
        case .modeNeedsReason: return "mode_needs_reason"
        case .modeTooLong: return "mode_too_long"
        }
    }

    public var description: String {
        switch self {
        case .unknownTag(let t): return "no tag, vote or connection \(t.quoted()) is configured"
        case .unknownCondition(let t, let c): return "\(t.quoted()) has no \(c.rawValue) alarm configured"
        case .noSuchAlarm(let t, let s): return "\(t.quoted()) has no active \(s.rawValue) alarm"
        case .alreadyAcknowledged(let t, let s): return "the \(s.rawValue) alarm of \(t.quoted()) is already acknowledged"
        case .shelveNeedsDuration: return "shelving needs a duration (\"for\": e.g. \"30m\"): a shelved alarm always comes back"
        case .shelveNeedsReason: return "shelving needs a reason (\"note\"): it is recorded with the event"
        case .shelveTooLong(let m): return "shelving is limited to \(TagRuntime.seconds(m)) (engine.shelve_max)"
        case .notShelved(let t, let s): return "the \(s.rawValue) alarm of \(t.quoted()) is not shelved"
        case .notLatched(let t, let s): return "the \(s.rawValue) alarm of \(t.quoted()) is not latched with its condition cleared"
        case .unknownSource(let s): return "no hazard source \(s.quoted()) is configured"
        case .notInMode(let s): return "hazard source \(s.quoted()) is already in normal mode"
        case .modeNeedsDuration: return "a mode needs a duration (\"for\": e.g. \"8h\"): it always returns to normal by itself"
        case .modeNeedsReason: return "a mode needs a reason (\"note\"): it is recorded with the event"
        case .modeTooLong(let m, let max): return "\(m) mode is limited to \(TagRuntime.seconds(max)) for this source"
        }
    }
}

/// An operator's action on one alarm.
public enum OperatorAction: Sendable, Equatable {
    case acknowledge
    case shelve(Duration?)
    case unshelve
    case reset
}

extension Engine {
    /// Applies an operator action to the alarm `condition` of `tag` (a tag, vote, connection
    /// or, for `flood`, the site id). Returns the event it makes.
    public mutating func apply(_ action: OperatorAction, tag id: String, condition: Condition, user: String?,
                               note: String?, at now: Instant) throws(OperatorError) -> AlarmEvent {
        // An acknowledgement starts a re-alarm timer, a shelf an expiry: let the timers look.
        nextDue = .distantPast
        if case .shelve(let d) = action, d != nil, (note ?? "").allSatisfy({ $0 == " " || $0 == "\t" }) {
            throw .shelveNeedsReason
        }
        if let h = handles[id] {
            let slot = condition.slot
            guard let i = slot.tagIndex, tags[h.index].isConfigured(slot) else {
                throw .unknownCondition(tag: id, condition: condition)
            }
            let kind = try Self.perform(action, on: &tags[h.index].slots[i], id: id, slot: slot, now: now, settings: ctx.settings)
            return tags[h.index].event(kind, slot: slot, now: now, ctx: ctx, user: user, note: note)
        }
        if let v = voteIndex[id] {
            switch condition {
            case .vote:
                let kind = try Self.perform(action, on: &votes[v].slot, id: id, slot: .vote, now: now, settings: ctx.settings)
                return votes[v].event(kind, now: now, ctx: ctx, user: user, note: note)
            case .fault:
                let kind = try Self.perform(action, on: &voteFaults[v].slot, id: id, slot: .fault, now: now, settings: ctx.settings)
                return voteFaults[v].event(kind, now: now, ctx: ctx, user: user, note: note)
            default:
                throw .unknownCondition(tag: id, condition: condition)
            }
        }
        if let c = connectionIndex[id] {
            guard condition == .comm else { throw .unknownCondition(tag: id, condition: condition) }
            let kind = try Self.perform(action, on: &connections[c].slot, id: id, slot: .comm, now: now, settings: ctx.settings)
            return connections[c].event(kind, now: now, ctx: ctx, user: user, note: note)
        }
        if id == site, condition == .flood {
            let kind = try Self.perform(action, on: &flood.slot, id: id, slot: .flood, now: now, settings: ctx.settings)
            return flood.event(kind, now: now, ctx: ctx, user: user, note: note)
        }
        throw .unknownTag(id)
    }

    /// Acknowledges an alarm (`h` and `hh` both name the high side).
    public mutating func acknowledge(tag: String, condition: Condition, user: String?, note: String?,
                                     at time: Instant) throws(OperatorError) -> AlarmEvent {
        try apply(.acknowledge, tag: tag, condition: condition, user: user, note: note, at: time)
    }

    static func perform(_ action: OperatorAction, on s: inout AlarmSlotState, id: String, slot: AlarmSlot, now: Instant,
                        settings: EngineSettings) throws(OperatorError) -> EventKind {
        switch action {
        case .acknowledge:
            if s.state == .normal { throw .noSuchAlarm(tag: id, slot: slot) }
            guard s.acknowledge(now: now) else { throw .alreadyAcknowledged(tag: id, slot: slot) }
            return .acknowledged
        case .shelve(let d):
            guard let d, d > .zero else { throw .shelveNeedsDuration }
            guard d <= settings.shelveMax else { throw .shelveTooLong(max: settings.shelveMax) }
            s.shelve(until: now + d)
            return .shelved
        case .unshelve:
            guard s.isShelved else { throw .notShelved(tag: id, slot: slot) }
            s.unshelve()
            return .unshelved
        case .reset:
            guard s.reset(now: now) else { throw .notLatched(tag: id, slot: slot) }
            return .reset
        }
    }
}
