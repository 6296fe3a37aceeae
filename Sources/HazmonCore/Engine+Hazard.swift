/// A hazard source's live grade (spec §13), as the snapshot, metrics and `hazmon alarms` show it.
public struct HazardSourceStatus: Sendable, Hashable {
    public var id: String
    public var code: String
    public var name: String
    public var alpha: Double
    /// R = α · Σ β·q/Q; nil while any level tag cannot be read (never a guess).
    public var r: Double?
    /// S = Σ q/Q: at 1 or more the inventory now reaches the critical quantity.
    public var s: Double?
    /// The level by R (1 一级 … 4 四级) as last announced, with the deadband applied.
    public var level: Int?
    public var substances: [SubstanceStatus]
    /// Why R is unknown: each unreadable level tag and why.
    public var unknown: [String]
    /// The declared operating mode, until when, by whom and why (nil times while normal).
    public var mode: OperatingMode = .normal
    public var modeUntil: Instant?
    public var modeBy: String?
    public var modeNote: String?

    public struct SubstanceStatus: Sendable, Hashable {
        public var name: String
        /// Tonnes present; nil while a vessel's level cannot be read.
        public var q: Double?
        public var criticalQuantity: Double
        public var beta: Double
    }

    public var json: String {
        var w = JSONWriter(capacity: 256)
        w.field("id", id)
        if !code.isEmpty { w.field("code", code) }
        w.field("name", name)
        w.field("alpha", alpha)
        w.field("r", r.map(Self.round))
        w.field("s", s.map(Self.round))
        if let level { w.field("level", level); w.field("color", Grade(level)?.color ?? "") }
        else { w.field("level", nil as Double?) }
        var items: [String] = []
        for sub in substances {
            var x = JSONWriter(capacity: 96)
            x.field("name", sub.name)
            x.field("q", sub.q.map(Self.round))
            x.field("critical_quantity", sub.criticalQuantity)
            x.field("beta", sub.beta)
            items.append(x.finish())
        }
        w.field("substances", raw: "[" + items.joined(separator: ",") + "]")
        if !unknown.isEmpty { w.field("unknown", strings: unknown) }
        w.field("mode", mode.rawValue)
        if let modeUntil { w.field("mode_until", modeUntil.iso8601) }
        if let modeBy { w.field("mode_by", modeBy) }
        if let modeNote { w.field("mode_note", modeNote) }
        return w.finish()
    }

    static func round(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

    /// The same with its mode's end moved by `d` (engine time to wall time).
    public func shifted(by d: Duration) -> HazardSourceStatus {
        var s = self
        s.modeUntil = modeUntil.map { $0 + d }
        return s
    }
}

/// A hazard source inside the engine: its vessels' tags and the level it last announced.
struct HazardSourceRuntime: Sendable {
    let definition: HazardSourceDefinition
    /// Per substance, per vessel: the level tag's position (nil: the engine has no such tag).
    let vesselTags: [[Int?]]
    /// Per mode: the tags it design-suppresses.
    let modeTags: [OperatingMode: [Int]]
    var status: HazardSourceStatus
    /// The level last announced by an event (and kept in the journal): a restart compares with
    /// it, so it neither forgets a level nor announces it again.
    var announced: Int?

    /// How far past a level's boundary R must go before the level changes: 2 % of the boundary,
    /// so an inventory resting on a boundary does not chatter.
    static let deadband = 0.02

    init(_ d: HazardSourceDefinition, handles: TagNameIndex) {
        definition = d
        vesselTags = d.substances.map { $0.vessels.map { handles[$0.levelTag]?.index } }
        modeTags = d.modes.mapValues { $0.suppress.compactMap { handles[$0]?.index } }
        status = HazardSourceStatus(
            id: d.id, code: d.code, name: d.name, alpha: d.alpha, r: nil, s: nil, level: nil,
            substances: d.substances.map { .init(name: $0.name, q: nil, criticalQuantity: $0.criticalQuantity, beta: $0.beta) },
            unknown: ["no level reading yet"])
    }

    /// The level R moves an announced level to, with the deadband: up only once R is 2 % past
    /// the higher level's boundary, down only once 2 % below the current one's.
    static func nextLevel(r: Double, announced: Int?) -> Int {
        guard let a = announced else { return GB18218.level(r: r) }
        let worse = GB18218.level(r: r / (1 + deadband))
        if worse < a { return worse }
        let better = GB18218.level(r: r / (1 - deadband))
        if better > a { return better }
        return a
    }
}

extension Engine {
    /// Every hazard source's live grade, in configuration order.
    public var hazardSources: [HazardSourceStatus] { sources.map(\.status) }

    /// Works out a source's R from its level tags and announces a change of level.
    mutating func regrade(_ i: Int, now: Instant, into events: inout [AlarmEvent]) {
        let d = sources[i].definition
        var unknown: [String] = []
        var s = 0.0, weighted = 0.0
        var subs = sources[i].status.substances
        for (k, sub) in d.substances.enumerated() {
            var q = 0.0
            var known = true
            for (v, vessel) in sub.vessels.enumerated() {
                guard let t = sources[i].vesselTags[k][v] else {
                    unknown.append("\(vessel.levelTag): no such tag"); known = false; continue
                }
                if let why = levelProblem(t) { unknown.append("\(vessel.levelTag): \(why)"); known = false; continue }
                switch vessel.tonnes(atReading: tags[t].lastValue!) {
                case .success(let tonnes): q += tonnes
                case .failure(let e): unknown.append("\(vessel.levelTag): \(e)"); known = false
                }
            }
            subs[k].q = known ? q : nil
            s += q / sub.criticalQuantity
            weighted += sub.beta * q / sub.criticalQuantity
        }
        sources[i].status.substances = subs
        sources[i].status.unknown = unknown
        guard unknown.isEmpty else {
            // Unknown, never a guess: R and S say nothing; the announced level stays as it was.
            sources[i].status.r = nil
            sources[i].status.s = nil
            return
        }
        let r = d.alpha * weighted
        sources[i].status.r = r
        sources[i].status.s = s
        let old = sources[i].announced
        let new = HazardSourceRuntime.nextLevel(r: r, announced: old)
        sources[i].status.level = new
        guard new != old else { return }
        sources[i].announced = new
        events.append(levelEvent(i, from: old, to: new, r: r, now: now))
    }

    /// Why a level tag gives no reading now, or nil when its last value is good.
    private func levelProblem(_ t: Int) -> String? {
        let tag = tags[t]
        if tag.definition.outOfService != nil { return "out of service" }
        if let why = tag.badness { return why == .comm ? "no connection" : why == .stale ? "stale" : "sensor fault" }
        guard let v = tag.lastValue, tag.lastTime != nil else { return "no reading yet" }
        if tag.lastQuality != .good { return "quality \(tag.lastQuality.rawValue)" }
        if !v.isFinite { return "not a number" }
        return nil
    }

    private func levelEvent(_ i: Int, from old: Int?, to new: Int, r: Double, now: Instant) -> AlarmEvent {
        let d = sources[i].definition
        let worse = old.map { new < $0 } ?? true
        // The boundary crossed: the new level's lower bound going up, the old one's going down.
        let limit = worse ? GB18218.threshold(level: new) : GB18218.threshold(level: old ?? new)
        let rText = JSONWriter.number(HazardSourceStatus.round(r))
        return AlarmEvent(
            time: now, site: site, tag: d.id, condition: .level, event: worse ? .escalated : .deescalated,
            grade: Grade(new) ?? .blue, state: .normal, value: HazardSourceStatus.round(r), unit: "", limit: limit,
            quality: .good, source: "gb18218", sourceTime: nil,
            message: ctx.settings.language.text(.hazardLevel(name: d.name, r: rText, level: new, previous: old)),
            hazardSource: d.id, origin: .hazardSource(i))
    }

    /// Regrades the sources a tag's value feeds (after its sample or a change of its health).
    mutating func regradeSources(of tag: Int, now: Instant, into events: inout [AlarmEvent]) {
        for s in tagSources[tag] { regrade(s, now: now, into: &events) }
    }

    /// The durable record of a source's announced level: slot `level`, `level` 1…4, state normal.
    func savedLevel(_ i: Int) -> SavedAlarm? {
        guard let level = sources[i].announced else { return nil }
        let d = sources[i].definition
        return SavedAlarm(tag: d.id, slot: .level, level: level, lastLevel: level, state: .normal, latched: false, since: nil,
                          shelvedUntil: nil, ackedAt: nil, condition: .level, grade: Grade(level) ?? .blue, name: d.name,
                          unit: "", value: sources[i].status.r)
    }

    /// Puts a source's announced level back (from the journal or the engine before a reload).
    mutating func restoreLevel(_ a: SavedAlarm) -> Bool {
        guard let i = sourceIndex[a.tag], (1...4).contains(a.level) else { return false }
        sources[i].announced = a.level
        sources[i].status.level = a.level
        return true
    }
}

extension Engine {
    /// Declares a hazard source's operating mode (spec §13): `startup`, `shutdown` or
    /// `maintenance` for a bounded time with a reason, or `normal` to end one early. Journaled
    /// as `mode_start` / `mode_end` on the source's id; the mode's `suppress` tags are
    /// design-suppressed while it lasts. Returns the events, in order.
    public mutating func setMode(source id: String, mode: OperatingMode, for duration: Duration?, user: String?,
                                 note: String?, at now: Instant) throws(OperatorError) -> [AlarmEvent] {
        guard let i = sourceIndex[id] else { throw .unknownSource(id) }
        var events: [AlarmEvent] = []
        if mode == .normal {
            guard sources[i].status.mode != .normal else { throw .notInMode(id) }
            endMode(i, now: now, expired: false, user: user, note: note, into: &events)
            return events
        }
        guard let duration, duration > .zero else { throw .modeNeedsDuration }
        let rule = sources[i].definition.modes[mode] ?? ModeRule()
        guard duration <= rule.max else { throw .modeTooLong(mode: mode.rawValue, max: rule.max) }
        guard let note, !note.trimmingSpaces.isEmpty else { throw .modeNeedsReason }
        if sources[i].status.mode != .normal { endMode(i, now: now, expired: false, user: user, note: "changed to \(mode.rawValue)", into: &events) }
        sources[i].status.mode = mode
        sources[i].status.modeUntil = now + duration
        sources[i].status.modeBy = user
        sources[i].status.modeNote = note
        events.append(modeEvent(i, .modeStart, now: now, user: user, note: note,
                                phrase: .modeStart(name: sources[i].definition.name, mode: mode.rawValue, duration: duration, user: user)))
        for t in sources[i].modeTags[mode] ?? [] { setModeSuppression(t, by: 1, source: i, now: now, into: &events) }
        nextDue = .distantPast
        return events
    }

    mutating func endMode(_ i: Int, now: Instant, expired: Bool, user: String?, note: String?, into events: inout [AlarmEvent]) {
        let mode = sources[i].status.mode
        guard mode != .normal else { return }
        sources[i].status.mode = .normal
        sources[i].status.modeUntil = nil
        sources[i].status.modeBy = nil
        sources[i].status.modeNote = nil
        events.append(modeEvent(i, .modeEnd, now: now, user: user, note: note,
                                phrase: .modeEnd(name: sources[i].definition.name, mode: mode.rawValue, expired: expired, user: user),
                                mode: mode))
        for t in sources[i].modeTags[mode] ?? [] { setModeSuppression(t, by: -1, source: i, now: now, into: &events) }
    }

    /// Ends modes whose time ran out; returns the earliest end still to come.
    mutating func expireModes(now: Instant, into events: inout [AlarmEvent]) -> Instant {
        var due = Instant.distantFuture
        for i in sources.indices {
            guard let until = sources[i].status.modeUntil else { continue }
            if until <= now { endMode(i, now: now, expired: true, user: "hazmon", note: "mode time ran out", into: &events) }
            else { due = min(due, until) }
        }
        return due
    }

    private func modeEvent(_ i: Int, _ kind: EventKind, now: Instant, user: String?, note: String?, phrase: Phrase,
                           mode: OperatingMode? = nil) -> AlarmEvent {
        let d = sources[i].definition
        return AlarmEvent(time: now, site: site, tag: d.id, condition: .mode, event: kind, grade: .blue, state: .normal,
                          value: Double((mode ?? sources[i].status.mode).code), unit: "", limit: nil, quality: .good, source: "mode",
                          sourceTime: nil, message: ctx.settings.language.text(phrase), user: user, note: note,
                          hazardSource: d.id, origin: .hazardSourceMode(i))
    }

    /// One more (or one fewer) mode suppressing a tag's process alarms; an event on each of its
    /// limit alarms when that changes whether it is suppressed.
    mutating func setModeSuppression(_ t: Int, by delta: Int, source i: Int, now: Instant, into events: inout [AlarmEvent], silent: Bool = false) {
        let before = tags[t].suppressed
        tags[t].modeSuppressions = UInt8(clamping: Int(tags[t].modeSuppressions) + delta)
        tags[t].suppressed = tags[t].suppressedByRule || tags[t].modeSuppressions > 0
        guard before != tags[t].suppressed, !silent else { return }
        let kind: EventKind = tags[t].suppressed ? .suppressed : .unsuppressed
        for slot in [AlarmSlot.high, .low, .rate, .trend] where tags[t].isConfigured(slot) {
            var e = tags[t].event(kind, slot: slot, now: now, ctx: ctx)
            if kind == .suppressed {
                e.message = ctx.settings.language.text(.suppressedByMode(name: tags[t].definition.name, source: sources[i].definition.id,
                                                                         mode: sources[i].status.mode.rawValue))
            }
            events.append(e)
        }
    }

    /// The durable record of a declared mode: slot `mode`, `level` its number, `shelvedUntil` its
    /// end, and who declared it and why in `unit` ("user<TAB>note": a mode has no unit).
    func savedMode(_ i: Int) -> SavedAlarm? {
        let s = sources[i].status
        guard s.mode != .normal else { return nil }
        return SavedAlarm(tag: s.id, slot: .mode, level: s.mode.code, lastLevel: s.mode.code, state: .normal, latched: false,
                          since: nil, shelvedUntil: s.modeUntil, ackedAt: nil, condition: .mode, grade: .blue,
                          name: s.name, unit: (s.modeBy ?? "") + "\t" + (s.modeNote ?? ""), value: nil)
    }

    /// Puts a declared mode back (after a restart or a reload): its tags suppressed again, silently
    /// (the journal holds the events); a mode whose time ran out meanwhile ends at the next tick.
    mutating func restoreMode(_ a: SavedAlarm) -> Bool {
        guard let i = sourceIndex[a.tag], OperatingMode.allCases.indices.contains(a.level), a.level > 0 else { return false }
        let mode = OperatingMode.allCases[a.level]
        sources[i].status.mode = mode
        sources[i].status.modeUntil = a.shelvedUntil
        let who = a.unit.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        sources[i].status.modeBy = who.first.flatMap { $0.isEmpty ? nil : $0 }
        sources[i].status.modeNote = who.count > 1 && !who[1].isEmpty ? who[1] : nil
        var none: [AlarmEvent] = []
        for t in sources[i].modeTags[mode] ?? [] { setModeSuppression(t, by: 1, source: i, now: .distantPast, into: &none, silent: true) }
        return true
    }
}
