/// The durable part of one alarm not in `normal`: what the journal keeps so a restart
/// restores the alarm (level, ISA-18.2 state, latch, shelf, acknowledgement) instead of
/// forgetting it or raising it again.
///
/// Delays in progress, chatter history and trend windows are not kept: they rebuild from the
/// samples that follow. `condition`, `grade`, `name` and `unit` describe the alarm as it was
/// last shown, so an alarm whose tag has left the configuration can still be cleared by name.
public struct SavedAlarm: Sendable, Hashable {
    /// The tag, voting group, connection or site id.
    public var tag: String
    public var slot: AlarmSlot
    /// The annunciated level: 1 first, 2 second; 0 while returned or latched.
    public var level: Int
    public var lastLevel: Int
    public var state: AlarmState
    public var latched: Bool
    public var since: Instant?
    public var shelvedUntil: Instant?
    public var ackedAt: Instant?
    public var condition: Condition
    public var grade: Grade
    public var name: String
    public var unit: String
    public var value: Double?

    public init(tag: String, slot: AlarmSlot, level: Int, lastLevel: Int, state: AlarmState, latched: Bool,
                since: Instant?, shelvedUntil: Instant?, ackedAt: Instant?, condition: Condition, grade: Grade,
                name: String, unit: String, value: Double?) {
        self.tag = tag
        self.slot = slot
        self.level = level
        self.lastLevel = lastLevel
        self.state = state
        self.latched = latched
        self.since = since
        self.shelvedUntil = shelvedUntil
        self.ackedAt = ackedAt
        self.condition = condition
        self.grade = grade
        self.name = name
        self.unit = unit
        self.value = value
    }
}

extension LimitLevel {
    init(saved: Int) { self = saved >= 2 ? .second : saved == 1 ? .first : .none }
    var saved: Int { self == .second ? 2 : self == .first ? 1 : 0 }
}

extension AlarmSlotState {
    /// Whether the journal must keep this alarm: anything but a quiet, normal, unshelved one.
    var needsSaving: Bool { state != .normal || latched || isShelved || level != .none }

    init(restoring a: SavedAlarm) {
        self.init()
        level = LimitLevel(saved: a.level)
        lastLevel = LimitLevel(saved: a.lastLevel)
        state = a.state
        latched = a.latched
        since = a.since
        shelvedUntil = a.shelvedUntil
        ackedAt = a.ackedAt
        // The condition is taken to be where it was; the first evaluation says otherwise.
        target = level
    }

    func saved(tag: String, slot: AlarmSlot, condition: Condition, grade: Grade, name: String, unit: String,
               value: Double?) -> SavedAlarm {
        SavedAlarm(tag: tag, slot: slot, level: level.saved, lastLevel: lastLevel.saved, state: state, latched: latched,
                   since: since, shelvedUntil: shelvedUntil, ackedAt: ackedAt, condition: condition, grade: grade,
                   name: name, unit: unit, value: value)
    }
}

extension Engine {
    /// The durable state of the alarm an event is about: `nil` when it is back to normal (the
    /// journal then forgets it), or when the engine has no such alarm.
    public func saved(tag: String, condition: Condition) -> SavedAlarm?? {
        let slot = condition.slot
        if let index = slot.tagIndex, let h = handles[tag] {
            let t = tags[h.index]
            guard t.isConfigured(slot) else { return .none }
            let s = t.slots[index]
            guard s.needsSaving else { return .some(nil) }
            let (cond, grade, _) = t.shown(slot)
            return s.saved(tag: tag, slot: slot, condition: cond, grade: grade, name: t.definition.name,
                           unit: t.definition.unit, value: t.lastValue)
        }
        guard let g = group(tag, slot) else { return .none }
        guard g.slot.needsSaving else { return .some(nil) }
        return g.slot.saved(tag: tag, slot: slot, condition: g.condition, grade: g.grade, name: g.name, unit: "",
                            value: g.value)
    }

    /// The durable state an event leaves its alarm in, found by the event's origin (by
    /// position, no lookup by name): `nil` when it is back to normal or the engine no longer
    /// has it. What the pipeline journals with each event.
    public func savedState(after e: AlarmEvent) -> SavedAlarm? {
        let g: GroupAlarm
        switch e.origin {
        case .none:
            return nil
        case .tag(let i):
            let slot = e.condition.slot
            guard let index = slot.tagIndex, tags.indices.contains(i) else { return nil }
            let t = tags[i]
            let s = t.slots[index]
            guard s.needsSaving else { return nil }
            let (cond, grade, _) = t.shown(slot)
            return s.saved(tag: t.definition.id, slot: slot, condition: cond, grade: grade, name: t.definition.name,
                           unit: t.definition.unit, value: t.lastValue)
        case .vote(let i): g = votes[i]
        case .voteFault(let i): g = voteFaults[i]
        case .connection(let i): g = connections[i]
        case .flood: g = flood
        case .hazardSource(let i): return sources.indices.contains(i) ? savedLevel(i) : nil
        case .hazardSourceMode(let i): return sources.indices.contains(i) ? savedMode(i) : nil
        }
        guard g.slot.needsSaving else { return nil }
        return g.slot.saved(tag: g.id, slot: g.condition.slot, condition: g.condition, grade: g.grade, name: g.name, unit: "",
                            value: g.value)
    }

    /// The durable state of every alarm not in normal: what a reload carries into the engine
    /// built from the new configuration (through `restore`).
    public func savedAlarms() -> [SavedAlarm] {
        var out: [SavedAlarm] = []
        for t in tags {
            for slot in AlarmSlot.tagSlots where t.isConfigured(slot) && t.slots[slot.tagIndex!].needsSaving {
                let (cond, grade, _) = t.shown(slot)
                out.append(t.slots[slot.tagIndex!].saved(tag: t.definition.id, slot: slot, condition: cond, grade: grade,
                                                          name: t.definition.name, unit: t.definition.unit, value: t.lastValue))
            }
        }
        for g in votes + voteFaults + connections + [flood] where g.slot.needsSaving {
            out.append(g.slot.saved(tag: g.id, slot: g.condition.slot, condition: g.condition, grade: g.grade, name: g.name,
                                    unit: "", value: g.value))
        }
        out += sources.indices.compactMap(savedLevel)
        out += sources.indices.compactMap(savedMode)
        return out
    }

    private func group(_ id: String, _ slot: AlarmSlot) -> GroupAlarm? {
        switch slot {
        case .vote: return voteIndex[id].map { votes[$0] }
        case .fault: return voteIndex[id].map { voteFaults[$0] }
        case .comm: return connectionIndex[id].map { connections[$0] }
        case .flood: return id == flood.id ? flood : nil
        default: return nil
        }
    }

    /// Puts saved alarms back before the first evaluation. An alarm the configuration no
    /// longer has is cleared with an event (appended to `events`); the others come back
    /// silently, and the samples that follow clear them (with an event) or keep them (without).
    public mutating func restore(_ saved: [SavedAlarm], now: Instant, into events: inout [AlarmEvent]) {
        nextDue = .distantPast
        for a in saved {
            if let index = a.slot.tagIndex, let h = handles[a.tag], tags[h.index].isConfigured(a.slot) {
                tags[h.index].slots[index] = AlarmSlotState(restoring: a)
                if a.value != nil, tags[h.index].lastValue == nil { tags[h.index].lastValue = a.value }
                if a.slot == .fault, a.level > 0, tags[h.index].definition.frozen != nil { tags[h.index].faultRestored = true }
                continue
            }
            switch a.slot {
            case .vote:
                if let v = voteIndex[a.tag] {
                    votes[v].slot = AlarmSlotState(restoring: a)
                    votes[v].value = a.value
                    continue
                }
            case .fault:
                if let v = voteIndex[a.tag] {
                    voteFaults[v].slot = AlarmSlotState(restoring: a)
                    voteFaults[v].value = a.value
                    continue
                }
            case .comm:
                if let c = connectionIndex[a.tag] {
                    connections[c].slot = AlarmSlotState(restoring: a)
                    if a.level > 0 {
                        // Still down, as far as anyone knows: its tags stay bad until it is back.
                        for m in connectionMembers[c] { tags[m].connectionsDown += 1 }
                        connections[c].reason = "down before the restart"
                    }
                    continue
                }
            case .flood:
                if a.tag == flood.id {
                    flood.slot = AlarmSlotState(restoring: a)
                    ctx.flooding = a.level > 0
                    continue
                }
            case .level:
                // A source the configuration no longer has is cleared below (and forgotten).
                if restoreLevel(a) { continue }
            case .mode:
                if restoreMode(a) { continue }
            default:
                break
            }
            events.append(AlarmEvent(
                time: now, site: site, tag: a.tag, condition: a.condition, event: .cleared, grade: a.grade,
                state: .normal, value: a.value, unit: a.unit, limit: nil, quality: .bad, source: "engine",
                sourceTime: nil, message: ctx.settings.language.text(.removed(name: a.name, condition: a.condition))))
        }
    }
}

extension SavedAlarm {
    /// The same alarm with its times moved by `d`: engine time to wall time (+ offset) for the
    /// journal, back (− offset) when it is restored.
    public func shifted(by d: Duration) -> SavedAlarm {
        var a = self
        a.since = since.map { $0 + d }
        a.shelvedUntil = shelvedUntil.map { $0 + d }
        a.ackedAt = ackedAt.map { $0 + d }
        return a
    }
}

extension ActiveAlarm {
    /// The same alarm with its times moved by `d` (engine time to wall time, for a person).
    public func shifted(by d: Duration) -> ActiveAlarm {
        var a = self
        a.since = since.map { $0 + d }
        a.shelvedUntil = shelvedUntil.map { $0 + d }
        return a
    }
}
