/// The alarm engine: samples and operator actions in, events out. A value type with no I/O
/// and no clock of its own: every call carries its time, and `tick` runs the timers.
///
/// `evaluate` is the hot path: it touches one tag's state and appends to a caller-owned
/// buffer, allocating only when an alarm actually changes (the event and its message).
public struct Engine: Sendable {
    public let site: String
    public internal(set) var tags: [TagRuntime]
    public internal(set) var votes: [GroupAlarm]
    /// Per vote, its own `fault` alarm: raised while any member is bad (spec §12), so a vote
    /// never shrinks without a word.
    public internal(set) var voteFaults: [GroupAlarm]
    public internal(set) var connections: [GroupAlarm]
    public internal(set) var flood: GroupAlarm
    /// The hazard sources graded live from their level tags (spec §13).
    var sources: [HazardSourceRuntime]
    let sourceIndex: [String: Int]
    /// Per tag: the sources whose inventory it feeds.
    let tagSources: [[Int]]
    let handles: TagNameIndex
    let voteIndex: [String: Int]
    let connectionIndex: [String: Int]
    /// Per vote: its member tags; per tag: the votes and the suppressed tags that depend on it.
    let voteMembers: [[Int]]
    let voteRules: [VoteDefinition]
    let tagVotes: [[Int]]
    let suppressedBy: [[Int]]
    var connectionMembers: [[Int]]
    var ctx: EngineContext
    let start: Instant
    var raiseTimes: RingOfTimes
    /// No tag or group timer can fire before this: `tick` skips its pass over the tags until
    /// then. Anything that can start an earlier timer (a delay, an operator action, a restore)
    /// pulls it back.
    var nextDue = Instant.distantPast

    /// - Parameter start: when monitoring began; a tag that never reports goes stale
    ///   `stale_after` after it.
    public init(site: String, tags definitions: [TagDefinition], votes voteDefs: [VoteDefinition] = [],
                connections connectionDefs: [ConnectionDefinition] = [], hazardSources sourceDefs: [HazardSourceDefinition] = [],
                settings: EngineSettings = .init(), start: Instant = Instant(nanoseconds: 0)) {
        self.site = site
        self.start = start
        self.tags = definitions.map(TagRuntime.init)
        for i in tags.indices { tags[i].index = i }
        let handles = TagNameIndex(definitions.lazy.enumerated().map { ($0.element.id, TagHandle($0.offset)) })
        self.handles = handles
        var tagVotes = Array(repeating: [Int](), count: definitions.count)
        var members: [[Int]] = []
        var votes: [GroupAlarm] = []
        var voteFaults: [GroupAlarm] = []
        var voteIndex: [String: Int] = [:]
        for (vi, v) in voteDefs.enumerated() {
            let m = v.tags.compactMap { handles[$0]?.index }
            for t in m { tagVotes[t].append(vi) }
            members.append(m)
            var g = GroupAlarm(id: v.id, name: v.name, condition: .vote, grade: v.grade,
                               source: "vote:\(v.k)oo\(v.tags.count)", limit: Double(v.k))
            g.origin = .vote(vi)
            // A vote of gas detectors confirms a gas alarm: it carries its condition's GB level.
            let classes = m.map { definitions[$0].tagClass }
            if let c = classes.first, classes.allSatisfy({ $0 == c }) { g.gbLevel = v.condition.gbLevel(for: c) }
            votes.append(g)
            var f = GroupAlarm(id: v.id, name: v.name, condition: .fault, grade: .yellow, source: g.source)
            f.origin = .voteFault(vi)
            voteFaults.append(f)
            voteIndex[v.id] = vi
        }
        self.voteMembers = members
        self.voteRules = voteDefs
        self.tagVotes = tagVotes
        for (i, v) in tagVotes.enumerated() where !v.isEmpty { tags[i].inVote = true }
        self.votes = votes
        self.voteFaults = voteFaults
        self.voteIndex = voteIndex
        var suppressedBy = Array(repeating: [Int](), count: definitions.count)
        for (i, d) in definitions.enumerated() {
            if let s = d.suppressIf, let by = handles[s.tag] { suppressedBy[by.index].append(i) }
        }
        self.suppressedBy = suppressedBy
        for (i, s) in suppressedBy.enumerated() where !s.isEmpty { tags[i].suppressesOthers = true }
        var conns: [GroupAlarm] = []
        var connIndex: [String: Int] = [:]
        var connMembers: [[Int]] = []
        for (ci, c) in connectionDefs.enumerated() {
            var g = GroupAlarm(id: c.id, name: c.name, condition: .comm, grade: c.grade, source: "connection:\(c.id)")
            g.origin = .connection(ci)
            conns.append(g)
            connIndex[c.id] = ci
            connMembers.append(c.tags.compactMap { handles[$0]?.index })
        }
        self.connections = conns
        self.connectionIndex = connIndex
        self.connectionMembers = connMembers
        self.flood = GroupAlarm(id: site, name: "site \(site)", condition: .flood, grade: .orange, source: "engine",
                                limit: Double(settings.floodRaised))
        self.flood.origin = .flood
        self.sources = sourceDefs.map { HazardSourceRuntime($0, handles: handles) }
        self.sourceIndex = Dictionary(sourceDefs.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        var tagSources = Array(repeating: [Int](), count: definitions.count)
        for (si, s) in sources.enumerated() {
            for t in Set(s.vesselTags.joined().compactMap { $0 }) { tagSources[t].append(si) }
        }
        self.tagSources = tagSources
        for (i, s) in tagSources.enumerated() where !s.isEmpty { tags[i].feedsSource = true }
        self.ctx = EngineContext(site: site, settings: settings)
        self.raiseTimes = RingOfTimes(capacity: max(64, settings.floodRaised * 4))
    }

    /// The handle of a tag id, or nil if the engine has no such tag.
    public func handle(for tagID: String) -> TagHandle? { handles[tagID] }

    /// Every tag id's handle.
    public var tagHandles: TagNameIndex { handles }

    public var settings: EngineSettings { ctx.settings }

    /// Evaluates one sample and appends the events it causes to `events`.
    public mutating func evaluate(_ sample: Sample, into events: inout [AlarmEvent]) {
        let i = sample.tag.index
        let first = events.count
        let outcome = tags[i].evaluate(sample, ctx: ctx, into: &events)
        if outcome.timerStarted { nextDue = .distantPast }
        // Most tags have nothing depending on them: one test, and the rest out of line.
        if outcome.hasDependents { evaluateDependents(of: i, outcome, sample, into: &events) }
        if events.count > first { countRaises(events[first...], now: sample.time, into: &events) }
    }

    /// What depends on a tag's sample: the tags it suppresses, its votes, its hazard sources.
    @inline(never)
    mutating func evaluateDependents(of i: Int, _ outcome: TagRuntime.Outcome, _ sample: Sample, into events: inout [AlarmEvent]) {
        if outcome.suppressesOthers, sample.quality == .good, sample.fault == nil, sample.value.isFinite {
            for d in suppressedBy[i] { updateSuppression(d, by: sample.value, now: sample.time, into: &events) }
        }
        if outcome.inVote, outcome.limitLevelChanged || outcome.healthChanged {
            for v in tagVotes[i] { evaluateVote(v, now: sample.time, into: &events) }
        }
        if outcome.feedsSource { regradeSources(of: i, now: sample.time, into: &events) }
    }

    /// Runs the timers due by `now`: on- and off-delays, stale data, re-alarms, shelve expiry
    /// and the end of a flood. Call it a few times a second; it costs one pass over the tags.
    ///
    /// Between due times it costs nothing: a pass also works out when the next timer can fire.
    public mutating func tick(now: Instant, into events: inout [AlarmEvent]) {
        let first = events.count
        if now >= nextDue {
            var due = Instant.distantFuture
            for i in tags.indices {
                tags[i].tick(now: now, start: start, ctx: ctx, into: &events)
                due = min(due, tags[i].nextDue(start: start))
                // Stale data raised or a fault timed out: the tag's votes count it again.
                if tags[i].inVote, tags[i].voteHealthChanged() {
                    for v in tagVotes[i] { evaluateVote(v, now: now, into: &events) }
                }
            }
            for i in votes.indices {
                Self.expireShelf(&votes[i], now: now, ctx: ctx, into: &events)
                if let until = votes[i].slot.shelvedUntil { due = min(due, until) }
                Self.expireShelf(&voteFaults[i], now: now, ctx: ctx, into: &events)
                if let until = voteFaults[i].slot.shelvedUntil { due = min(due, until) }
            }
            for i in connections.indices {
                Self.expireShelf(&connections[i], now: now, ctx: ctx, into: &events)
                if let until = connections[i].slot.shelvedUntil { due = min(due, until) }
            }
            // A level tag that went stale makes its source's R unknown; a mode's time runs out.
            for i in sources.indices { regrade(i, now: now, into: &events) }
            due = min(due, expireModes(now: now, into: &events))
            nextDue = due
        }
        if events.count > first { countRaises(events[first...], now: now, into: &events) }
        checkFloodEnd(now: now, into: &events)
    }

    /// Forgets the timer plan: the next `tick` makes a full pass. (Tests compare with it.)
    public mutating func planTimersAgain() { nextDue = .distantPast }

    // Static, like `emit`: a method of `self` handed `&votes[i]` would make Swift copy the whole
    // array first (the call borrows `self` while the element is mutated), on every tick.
    private static func expireShelf(_ g: inout GroupAlarm, now: Instant, ctx: EngineContext, into events: inout [AlarmEvent]) {
        if let until = g.slot.shelvedUntil, until <= now {
            g.slot.unshelve()
            events.append(g.event(.unshelved, now: now, ctx: ctx, user: "hazmon", note: "shelve expired"))
        }
    }

    /// A device or connection went down or came back: its `comm` alarm follows, and while it
    /// is down its tags' quality is bad.
    public mutating func setConnection(_ id: String, up: Bool, reason: String?, at now: Instant, into events: inout [AlarmEvent]) {
        guard let ci = connectionIndex[id] else { return }
        let wasDown = connections[ci].slot.level != .none
        guard wasDown == up else { return }
        connections[ci].reason = reason
        // The members' stale timers are held while it is down and count again when it is back.
        nextDue = .distantPast
        for m in connectionMembers[ci] {
            tags[m].connectionsDown += up ? -1 : 1
            if !up { tags[m].lastQuality = .bad }
        }
        let change = connections[ci].slot.step(target: up ? .none : .first, now: now, delay: .zero, latch: false)
        let first = events.count
        Self.emit(change, &connections[ci], now: now, ctx: ctx, into: &events)
        // After the comm event: the votes' fault says why they degraded.
        for m in connectionMembers[ci] where tags[m].inVote && tags[m].voteHealthChanged() {
            for v in tagVotes[m] { evaluateVote(v, now: now, into: &events) }
        }
        for m in connectionMembers[ci] where tags[m].feedsSource { regradeSources(of: m, now: now, into: &events) }
        if events.count > first { countRaises(events[first...], now: now, into: &events) }
    }

    /// Replaces the tags a connection holds (an input that learns them at run time). While the
    /// connection is down, tags that leave it count it no more and tags that join it go bad.
    public mutating func setConnectionMembers(_ id: String, tags new: [TagHandle]) {
        guard let ci = connectionIndex[id] else { return }
        let isDown = connections[ci].slot.level != .none
        let indices = new.map(\.index).filter { $0 >= 0 && $0 < tags.count }
        if isDown {
            for m in connectionMembers[ci] { tags[m].connectionsDown -= 1 }
            for m in indices {
                tags[m].connectionsDown += 1
                tags[m].lastQuality = .bad
            }
            nextDue = .distantPast
        }
        connectionMembers[ci] = indices
    }

    mutating func updateSuppression(_ t: Int, by value: Double, now: Instant, into events: inout [AlarmEvent]) {
        guard let rule = tags[t].definition.suppressIf else { return }
        tags[t].suppressedByRule = rule.holds(value)
        let suppressedNow = tags[t].suppressedByRule || tags[t].modeSuppressions > 0
        guard suppressedNow != tags[t].suppressed else { return }
        tags[t].suppressed = suppressedNow
        for slot in [AlarmSlot.high, .low] where tags[t].isConfigured(slot) {
            events.append(tags[t].event(suppressedNow ? .suppressed : .unsuppressed, slot: slot, now: now, ctx: ctx))
        }
    }

    /// Counts a vote's members again (spec §12). A bad member (fault, stale, comm) never
    /// silently leaves the vote: `degrade` trips on max(1, k − b) of the healthy members with b
    /// bad, `trip` counts a bad member as in alarm; either way the vote's own `fault` alarm is
    /// up while any member is bad, raised before the vote's own change.
    mutating func evaluateVote(_ v: Int, now: Instant, into events: inout [AlarmEvent]) {
        let rule = voteRules[v]
        var inAlarm = 0
        var bad: [VoteMember] = []
        let needed: LimitLevel = rule.condition == .hh || rule.condition == .ll ? .second : .first
        for m in voteMembers[v] {
            if let why = tags[m].badness {
                bad.append(VoteMember(tag: tags[m].definition.id, why: why))
                continue
            }
            let side = rule.condition == .h || rule.condition == .hh ? tags[m].slots.high : tags[m].slots.low
            if side.level >= needed { inAlarm += 1 }
        }
        let required: Int
        switch rule.onBad {
        case .degrade:
            required = max(1, rule.k - bad.count)
            votes[v].value = Double(inAlarm)
        case .trip:
            required = rule.k
            votes[v].value = Double(inAlarm + bad.count)
        }
        votes[v].limit = Double(required)
        votes[v].voteNote = bad.isEmpty ? nil : rule.onBad == .degrade
            ? .degraded(required: required, healthy: voteMembers[v].count - bad.count) : .badCountsAsAlarm
        if !bad.isEmpty {
            voteFaults[v].badMembers = bad
            voteFaults[v].onBad = rule.onBad
        }
        voteFaults[v].value = Double(bad.count)
        let faultChange = voteFaults[v].slot.step(target: bad.isEmpty ? .none : .first, now: now, delay: .zero, latch: false)
        Self.emit(faultChange, &voteFaults[v], now: now, ctx: ctx, into: &events)
        let trips = Int(votes[v].value ?? 0) >= required
        let change = votes[v].slot.step(target: trips ? .first : .none, now: now, delay: .zero, latch: false)
        Self.emit(change, &votes[v], now: now, ctx: ctx, into: &events)
    }

    static func emit(_ change: SlotChange, _ g: inout GroupAlarm, now: Instant, ctx: EngineContext, into events: inout [AlarmEvent]) {
        switch change {
        case .raised: events.append(g.event(.raised, now: now, ctx: ctx))
        case .cleared: events.append(g.event(.cleared, now: now, ctx: ctx))
        case .escalated: events.append(g.event(.escalated, now: now, ctx: ctx))
        case .deescalated: events.append(g.event(.deescalated, now: now, ctx: ctx))
        case .none, .latched: break
        }
    }
}
