extension TagRuntime {
    /// Turns a slot's change into its event.
    mutating func record(_ change: SlotChange, slot: AlarmSlot, now: Instant, ctx: EngineContext,
                         into events: inout [AlarmEvent]) {
        let kind: EventKind
        switch change {
        case .none, .latched: return
        case .raised: kind = slot == .trend ? .predicted : .raised
        case .escalated: kind = .escalated
        case .deescalated: kind = .deescalated
        case .cleared: kind = .cleared
        }
        events.append(event(kind, slot: slot, now: now, ctx: ctx))
    }

    /// The condition, grade and limit an alarm shows at its current (or last) level.
    func shown(_ slot: AlarmSlot) -> (condition: Condition, grade: Grade, limit: Double?) {
        let st = slots[slot.tagIndex!]
        switch slot {
        case .high, .low:
            let side = slot == .high ? highSide : lowSide
            let level = st.shownLevel == .none ? (side.first != nil ? LimitLevel.first : .second) : st.shownLevel
            let rule = side.rule(at: level)!
            if definition.tagClass == .interlock, slot == .low { return (.bypass, rule.grade, rule.at) }
            return (side.condition(at: level), rule.grade, rule.at)
        case .rate:
            let r = definition.rate!
            return (.rate, r.grade, r.rise ?? r.fall)
        case .trend:
            let t = definition.trend!
            return (.trend, t.grade, definition.rule(t.toward)?.at)
        case .stale:
            return (.stale, definition.staleGrade, nil)
        default:
            return (.fault, definition.faultGrade, nil)
        }
    }

    func event(_ kind: EventKind, slot: AlarmSlot, now: Instant, ctx: EngineContext, user: String? = nil,
               note: String? = nil, extraFlags: EventFlags = []) -> AlarmEvent {
        let st = slots[slot.tagIndex!]
        let (condition, grade, limit) = shown(slot)
        var flags = extraFlags
        if st.transitions.atLeast(ctx.settings.chatterTransitions, within: ctx.settings.chatterPer, now: now) {
            flags.insert(.chattering)
        }
        if st.isShelved && kind != .shelved && kind != .unshelved { flags.insert(.shelved) }
        if suppressed && kind != .suppressed && kind != .unsuppressed { flags.insert(.suppressed) }
        if ctx.flooding { flags.insert(.flood) }
        return AlarmEvent(
            time: now, site: ctx.site, tag: definition.id, condition: condition, event: kind, grade: grade,
            state: st.state, value: lastValue, unit: definition.unit, limit: limit, quality: lastQuality,
            source: definition.source, sourceTime: lastSourceTime,
            message: message(kind, slot: slot, condition: condition, limit: limit, now: now, user: user,
                             language: ctx.settings.language),
            user: user, note: note, etaSeconds: kind == .predicted ? trendETA.map { ($0 * 10).rounded() / 10 } : nil,
            flags: flags, hazardSource: definition.hazardSource, gbLevel: condition.gbLevel(for: definition.tagClass),
            origin: .tag(index))
    }

    /// The event's message, in the site's language (`Language.text` holds the wording).
    func message(_ kind: EventKind, slot: AlarmSlot, condition: Condition, limit: Double?, now: Instant, user: String?,
                 language: Language) -> String {
        language.text(phrase(kind, slot: slot, condition: condition, limit: limit, now: now, user: user))
    }

    func phrase(_ kind: EventKind, slot: AlarmSlot, condition: Condition, limit: Double?, now: Instant, user: String?) -> Phrase {
        let name = definition.name
        let u = definition.unit.isEmpty ? "" : " " + definition.unit
        // Messages are for people: three decimals at most (the event's `value` stays exact).
        let value = lastValue.map { JSONWriter.number(($0 * 1000).rounded() / 1000) + u } ?? "no value"
        let lim = limit.map { JSONWriter.number($0) } ?? ""
        switch kind {
        case .acknowledged, .shelved, .unshelved, .reset:
            return .action(name: name, condition: condition, action: kind, user: user)
        case .suppressed: return .suppressed(name: name, by: definition.suppressIf?.tag ?? "")
        case .unsuppressed: return .unsuppressed(name: name)
        case .cleared:
            if condition == .bypass { return .bypassCleared(name: name) }
            switch slot {
            case .stale: return .staleCleared(name: name, value: value)
            case .fault: return .faultCleared(name: name, value: value)
            case .trend: return .trendCleared(name: name, toward: definition.trend!.toward, limit: lim)
            case .rate: return .rateCleared(name: name, limit: lim, unit: u, per: definition.rate?.per ?? .zero)
            default: return .limitCleared(name: name, value: value, condition: condition, limit: lim)
            }
        default:
            if condition == .bypass { return .bypassed(name: name, after: definition.l?.onDelay ?? .zero) }
            switch slot {
            case .stale:
                guard let last = lastGoodTime else { return .noData(name: name) }
                return .stale(name: name, age: now - last, last: value)
            case .fault: return .fault(name: name, reason: faultReason ?? "fault", last: value)
            case .trend:
                return .trend(name: name, value: value, toward: definition.trend!.toward, limit: lim,
                              eta: trendETA.map { .milliseconds(Int64($0 * 1000)) })
            case .rate:
                return .rate(name: name, value: value, limit: lim, unit: u, per: definition.rate!.per)
            default:
                return .limit(name: name, value: value, condition: condition, limit: lim)
            }
        }
    }

    static func seconds(_ d: Duration) -> String { Language.en.duration(d) }
}
