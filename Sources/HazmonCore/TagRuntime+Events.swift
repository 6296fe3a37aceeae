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
            message: message(kind, slot: slot, condition: condition, limit: limit, now: now, user: user),
            user: user, note: note, etaSeconds: kind == .predicted ? trendETA.map { ($0 * 10).rounded() / 10 } : nil,
            flags: flags, hazardSource: definition.hazardSource, origin: .tag(index))
    }

    func message(_ kind: EventKind, slot: AlarmSlot, condition: Condition, limit: Double?, now: Instant, user: String?) -> String {
        let name = definition.name
        let u = definition.unit.isEmpty ? "" : " " + definition.unit
        // Messages are for people: three decimals at most (the event's `value` stays exact).
        let value = lastValue.map { JSONWriter.number(($0 * 1000).rounded() / 1000) + u } ?? "no value"
        let lim = limit.map { JSONWriter.number($0) } ?? ""
        let by = user.map { " by \($0)" } ?? ""
        switch kind {
        case .acknowledged: return "\(name) \(condition.rawValue) alarm acknowledged\(by)"
        case .shelved: return "\(name) \(condition.rawValue) alarm shelved\(by)"
        case .unshelved: return "\(name) \(condition.rawValue) alarm unshelved\(by)"
        case .reset: return "\(name) \(condition.rawValue) alarm reset\(by)"
        case .suppressed: return "\(name) alarms suppressed by design (\(definition.suppressIf?.tag ?? "") condition)"
        case .unsuppressed: return "\(name) alarms no longer suppressed"
        case .cleared:
            switch slot {
            case .stale: return "\(name) data fresh again: \(value)"
            case .fault: return "\(name) sensor fault cleared: \(value)"
            case .trend: return "\(name) no longer forecast to reach \(definition.trend!.toward.rawValue) \(lim)"
            case .rate: return "\(name) rate of change back within \(lim)\(u) per \(definition.rate.map { Self.seconds($0.per) } ?? "")"
            default: return "\(name) \(value) back within limits (\(condition.rawValue) \(lim) cleared)"
            }
        default:
            switch slot {
            case .stale:
                let age = now - (lastGoodTime ?? now)
                return lastGoodTime == nil ? "\(name) no good data received" : "\(name) no good data for \(Self.seconds(age)) (last \(value))"
            case .fault: return "\(name) sensor fault: \(faultReason ?? "fault"); last good value \(value)"
            case .trend:
                let eta = trendETA.map { Self.seconds(.milliseconds(Int64($0 * 1000))) } ?? "?"
                return "\(name) \(value) forecast to reach \(definition.trend!.toward.rawValue) \(lim) in \(eta)"
            case .rate:
                let r = definition.rate!
                return "\(name) \(value) changing faster than \(lim)\(u) per \(Self.seconds(r.per))"
            default:
                let which: String
                switch condition {
                case .hh: which = "above second-level limit"
                case .h: which = "above first-level limit"
                case .ll: which = "below second-level low limit"
                default: which = "below first-level low limit"
                }
                return "\(name) \(value) \(which) \(lim)"
            }
        }
    }

    static func seconds(_ d: Duration) -> String {
        let s = d.secondsDouble
        if s >= 3600, s.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(s) / 3600)h\(Int(s) % 3600 / 60 == 0 ? "" : "\(Int(s) % 3600 / 60)m")" }
        if s >= 60 { return "\(Int(s) / 60)m\(Int(s) % 60 == 0 ? "" : "\(Int(s) % 60)s")" }
        return "\(JSONWriter.number((s * 10).rounded() / 10))s"
    }
}
