/// What the engine passes down to a tag: site, engine settings and the flood state.
struct EngineContext: Sendable {
    var site: String
    var settings: EngineSettings
    var flooding = false
}

/// A tag's definition and live state inside the engine.
public struct TagRuntime: Sendable {
    public let definition: TagDefinition
    /// Its position in `Engine.tags` (its events' origin).
    var index = 0
    let highBands: LimitBands
    let lowBands: LimitBands
    /// One alarm per slot, in `AlarmSlot.tagSlots` order, stored inline (no heap array: the
    /// hot path touches one contiguous tag record).
    public internal(set) var slots = SlotTable()
    public internal(set) var lastValue: Double?
    public internal(set) var lastQuality: Quality = .bad
    public internal(set) var lastSourceTime: Instant?
    public internal(set) var lastTime: Instant?
    /// The last good sample's time; stale data counts from it (or from the engine's start).
    public internal(set) var lastGoodTime: Instant?
    /// Suppressed by design: by its `suppress_if` rule, or by a hazard source's mode (spec §13).
    public internal(set) var suppressed = false
    /// How many of the tag's connections are down; while any is, its quality is bad.
    var connectionsDown = 0
    /// Whether votes or suppressed tags depend on this one (checked per sample, kept inline).
    var inVote = false
    /// Whether this tag was bad when its votes last counted it (`voteHealthChanged`).
    var votedBad = false
    var suppressesOthers = false
    var faultReason: String?
    /// A step of this evaluation started a timer (a delay, or stale data counting again).
    var timerStarted = false
    /// The rate and trend windows, for a tag with such a rule; nil for the rest (most of a park).
    var windows: TagWindows?
    /// Frozen-value check: the value good samples have stayed near, and since when.
    var frozenValue = 0.0
    var frozenSince: Instant?
    /// A frozen-rule tag's fault alarm came back from before a restart: the first sample does
    /// not clear it unless the value moves (a frozen tag is not raised again as new).
    var faultRestored = false
    // Small fields, next to the other flags: a wider tag record costs every sample a copy (an
    // 8-byte Int here made the record's copy a memcpy call: +57 instructions for a full tag).
    /// Whether a hazard source's inventory is computed from this tag (a vessel's level).
    var feedsSource = false
    /// Suppressed by its `suppress_if` rule (`suppressed` also counts declared modes).
    var suppressedByRule = false
    /// How many declared modes suppress this tag now (a tag is in one source: at most a few).
    var modeSuppressions: UInt8 = 0
    /// Whether the tag has a frozen-value rule: tested per sample before the rule is read (it
    /// lives with the definition's rarer rules, one pointer further).
    let hasFrozenRule: Bool

    init(_ d: TagDefinition) {
        definition = d
        highBands = LimitBands(high: true, first: d.h, second: d.hh)
        lowBands = LimitBands(high: false, first: d.l, second: d.ll)
        if d.rate != nil || d.trend != nil { windows = TagWindows(d) }
        hasFrozenRule = d.frozen != nil
    }

    /// The high side's two limits (h, hh), made from the definition where a step needs its
    /// rules: the per-sample path reads `highBands`.
    var highSide: LimitSide { LimitSide(direction: .high, first: definition.h, second: definition.hh) }
    var lowSide: LimitSide { LimitSide(direction: .low, first: definition.l, second: definition.ll) }

    /// Seconds until the trend forecast reaches its limit, as last evaluated.
    var trendETA: Double? { windows?.state.pointee.trendETA }

    public func slot(_ s: AlarmSlot) -> AlarmSlotState? { s.tagIndex.map { slots[$0] } }

    /// Missing data with a cause already alarmed: the tag's connection is down (`comm`) or it is
    /// in `fault`. Stale data is then not raised as well: one alarm per cause, not a consequential
    /// alarm per tag (ISA-18.2). It counts again once the cause clears.
    var staleExplained: Bool { connectionsDown > 0 || slots.fault.level != .none }

    /// Why a vote cannot count this tag now (`comm`, `fault` or `stale`), or nil while it is
    /// healthy (spec §12).
    var badness: Condition? {
        if connectionsDown > 0 { return .comm }
        if slots.fault.level != .none { return .fault }
        if slots.stale.level != .none { return .stale }
        return nil
    }

    /// Whether the tag turned bad or healthy since its votes last counted it; remembers the
    /// answer. Called only for tags in a vote.
    mutating func voteHealthChanged() -> Bool {
        let bad = badness != nil
        defer { votedBad = bad }
        return bad != votedBad
    }

    func isConfigured(_ s: AlarmSlot) -> Bool {
        switch s {
        case .high: return highSide.isConfigured
        case .low: return lowSide.isConfigured
        case .rate: return definition.rate != nil
        case .trend: return definition.trend != nil
        case .stale: return definition.staleAfter != nil
        case .fault: return true
        default: return false
        }
    }

    // MARK: evaluation

    /// What the engine must look at after a tag's evaluation, answered from inside the call so
    /// the engine never reads the (large) tag record through the array's getter, which copies.
    struct Outcome {
        var limitLevelChanged = false
        var inVote = false
        /// In a vote, and turned bad or healthy (a fault raised or cleared, fresh data).
        var healthChanged = false
        var suppressesOthers = false
        /// A hazard source's inventory is computed from this tag.
        var feedsSource = false
        var hasDependents: Bool { inVote || suppressesOthers || feedsSource }
        /// A timer may now fire sooner than the engine planned: an on- or off-delay runs, or
        /// fresh data cleared a stale alarm (its timer starts again).
        var timerStarted = false
    }

    mutating func evaluate(_ s: Sample, ctx: EngineContext, into events: inout [AlarmEvent]) -> Outcome {
        let before = (slots.high.level, slots.low.level)
        evaluateSample(s, ctx: ctx, into: &events)
        // Set by `step`, which a quiet sample never reaches: the steady state pays one test.
        let started = timerStarted
        if started { timerStarted = false }
        return Outcome(limitLevelChanged: before != (slots.high.level, slots.low.level),
                       inVote: inVote, healthChanged: inVote && voteHealthChanged(),
                       suppressesOthers: suppressesOthers, feedsSource: feedsSource, timerStarted: started)
    }

    /// The earliest time a timer of this tag can fire: a running delay (now), stale data, a
    /// re-alarm, a shelf's expiry. `.distantFuture` if none can.
    func nextDue(start: Instant) -> Instant {
        guard definition.outOfService == nil else { return .distantFuture }
        if slots.high.pending != nil || slots.low.pending != nil { return .distantPast }
        var due = Instant.distantFuture
        if let after = definition.staleAfter, slots.stale.level == .none, !staleExplained {
            due = min(due, (lastGoodTime ?? start) + after)
        }
        // Written out for both sides: this runs per tag on every full timer pass (no array).
        if slots.high.state == .acked, let after = highSide.rule(at: slots.high.shownLevel)?.realarm, let at = slots.high.ackedAt {
            due = min(due, at + after)
        }
        if slots.low.state == .acked, let after = lowSide.rule(at: slots.low.shownLevel)?.realarm, let at = slots.low.ackedAt {
            due = min(due, at + after)
        }
        for i in SlotTable.indices { if let until = slots[i].shelvedUntil { due = min(due, until) } }
        return due
    }

    private mutating func evaluateSample(_ s: Sample, ctx: EngineContext, into events: inout [AlarmEvent]) {
        guard definition.outOfService == nil else { return }
        lastTime = s.time
        if let fault = s.fault {
            lastQuality = .bad
            faultReason = ctx.settings.language.text(.sensor(fault))
            step(.fault, to: .first, now: s.time, ctx: ctx, into: &events)
            return
        }
        guard s.value.isFinite else { return }
        switch s.quality {
        case .bad:
            lastQuality = .bad
            faultReason = ctx.settings.language.text(.badQuality)
            step(.fault, to: .first, now: s.time, ctx: ctx, into: &events)
            return
        case .uncertain:
            // Uncertain data neither raises nor clears anything, nor counts as fresh.
            lastQuality = .uncertain
            return
        case .good:
            break
        }
        if hasFrozenRule, let rule = definition.frozen, isFrozen(s, rule) {
            lastQuality = .bad
            lastGoodTime = s.time   // data keeps arriving: a frozen tag is not also stale
            if slots.fault.level == .none && slots.fault.pending == nil {
                // Worded once, when raised: a frozen tag's samples keep coming.
                faultReason = ctx.settings.language.text(.frozen(value: JSONWriter.number(frozenValue), unit: definition.unit, after: rule.after))
                step(.fault, to: .first, now: s.time, ctx: ctx, into: &events)
            }
            return
        }
        lastQuality = connectionsDown > 0 ? .bad : .good
        lastValue = s.value
        lastSourceTime = s.sourceTime
        lastGoodTime = s.time
        if slots.fault.level != .none || slots.fault.pending != nil { step(.fault, to: .none, now: s.time, ctx: ctx, into: &events) }
        if slots.stale.level != .none || slots.stale.latched { step(.stale, to: .none, now: s.time, ctx: ctx, into: &events) }
        if highBands.hasFirst || highBands.hasSecond {
            let target = highBands.level(for: s.value, current: slots.high.level)
            if target != slots.high.level || slots.high.pending != nil || slots.high.latched {
                step(.high, to: target, now: s.time, ctx: ctx, into: &events)
            }
        }
        if lowBands.hasFirst || lowBands.hasSecond {
            let target = lowBands.level(for: s.value, current: slots.low.level)
            if target != slots.low.level || slots.low.pending != nil || slots.low.latched {
                step(.low, to: target, now: s.time, ctx: ctx, into: &events)
            }
        }
        if windows != nil { evaluateWindows(s, ctx: ctx, into: &events) }
    }

    /// The rate and trend rules: each sample joins their windows.
    private mutating func evaluateWindows(_ s: Sample, ctx: EngineContext, into events: inout [AlarmEvent]) {
        if !isKnownUniquelyReferenced(&windows) { windows = windows.map(TagWindows.init(copying:)) }
        guard let w = windows?.state else { return }
        if let rule = w.pointee.rateRule {
            w.pointee.rate.add(time: s.time, value: s.value)
            var hit = false
            if let rise = rule.rise, let lo = w.pointee.rate.minimum, s.value - lo >= rise { hit = true }
            if let fall = rule.fall, let hi = w.pointee.rate.maximum, hi - s.value >= fall { hit = true }
            let target: LimitLevel = hit ? .first : .none
            if target != slots.rate.level { step(.rate, to: target, now: s.time, ctx: ctx, into: &events) }
        }
        if let trend = w.pointee.trendRule {
            w.pointee.trend.add(time: s.time, value: s.value)
            let eta = Self.forecast(trend, limit: w.pointee.trendLimit, window: w.pointee.trend, now: s.time)
            w.pointee.trendETA = eta
            let target: LimitLevel = eta == nil ? .none : .first
            if target != slots.trend.level { step(.trend, to: target, now: s.time, ctx: ctx, into: &events) }
        }
    }

    /// Whether the value has stayed within the rule's band for its time. A move starts the
    /// watch again from this sample.
    mutating func isFrozen(_ s: Sample, _ rule: FrozenRule) -> Bool {
        if let since = frozenSince, abs(s.value - frozenValue) <= rule.band {
            return s.time - since >= rule.after
        }
        frozenValue = s.value
        if faultRestored, slots.fault.level != .none {
            // Faulted before the restart: stays so until the value moves.
            faultRestored = false
            frozenSince = Instant(nanoseconds: s.time.nanoseconds - rule.after.nanosecondsClamped)
            return true
        }
        frozenSince = s.time
        return false
    }

    /// Seconds until the fitted line reaches the trend's limit, if within the horizon and
    /// the fit is good enough; nil otherwise (also once the value is already past the limit:
    /// the limit alarm has taken over).
    @inline(__always) static func forecast(_ t: TrendRule, limit: Double, window: borrowing SampleWindow, now: Instant) -> Double? {
        guard window.count >= t.minSamples, let fit = window.fit(at: now), fit.r2 >= t.minFit else { return nil }
        let high = t.toward == .h || t.toward == .hh
        let gap = high ? limit - fit.value : fit.value - limit
        let speed = high ? fit.slope : -fit.slope
        guard gap > 0, speed > 0 else { return nil }
        let eta = gap / speed
        return eta <= t.horizon.secondsDouble ? eta : nil
    }

    /// Moves one slot toward `target`, applying its delays and latch, and records the event.
    mutating func step(_ slot: AlarmSlot, to target: LimitLevel, now: Instant, ctx: EngineContext,
                       into events: inout [AlarmEvent]) {
        let i = slot.tagIndex!
        var delay = Duration.zero
        var latch = false
        if slot == .high || slot == .low {
            let side = slot == .high ? highSide : lowSide
            let current = slots[i].level
            if target > current {
                delay = side.rule(at: target)?.onDelay ?? .zero
            } else if let r = side.rule(at: current) {
                delay = r.offDelay
                latch = target == .none && r.latch
            }
        }
        let change = slots[i].step(target: target, now: now, delay: delay, latch: latch)
        // Stale data counting again, or a fault cleared (stale may count again): replan.
        if slots[i].pending != nil || ((slot == .stale || slot == .fault) && change != .none) { timerStarted = true }
        record(change, slot: slot, now: now, ctx: ctx, into: &events)
    }

    /// Timers: delays that complete, stale data, re-alarms and shelves that expire.
    mutating func tick(now: Instant, start: Instant, ctx: EngineContext, into events: inout [AlarmEvent]) {
        guard definition.outOfService == nil else { return }
        // Runs for every tag four times a second: plain checks first, no arrays, nothing
        // retained unless a timer is actually due.
        if slots.high.pending != nil { step(.high, to: slots.high.target, now: now, ctx: ctx, into: &events) }
        if slots.low.pending != nil { step(.low, to: slots.low.target, now: now, ctx: ctx, into: &events) }
        if let after = definition.staleAfter, slots.stale.level == .none, !staleExplained, now - (lastGoodTime ?? start) >= after {
            step(.stale, to: .first, now: now, ctx: ctx, into: &events)
        }
        if slots.high.state == .acked { realarm(.high, now: now, ctx: ctx, into: &events) }
        if slots.low.state == .acked { realarm(.low, now: now, ctx: ctx, into: &events) }
        for i in SlotTable.indices where slots[i].shelvedUntil != nil {
            if let until = slots[i].shelvedUntil, until <= now {
                slots[i].unshelve()
                events.append(event(.unshelved, slot: AlarmSlot.tagSlots[i], now: now, ctx: ctx, user: "hazmon", note: "shelve expired"))
            }
        }
    }

    private mutating func realarm(_ slot: AlarmSlot, now: Instant, ctx: EngineContext, into events: inout [AlarmEvent]) {
        let i = slot.tagIndex!
        let side = slot == .high ? highSide : lowSide
        if let after = side.rule(at: slots[i].shownLevel)?.realarm, slots[i].realarm(now: now, after: after) {
            events.append(event(.raised, slot: slot, now: now, ctx: ctx, extraFlags: .realarm))
        }
    }
}

/// A tag's rate and trend windows, on the heap and only for a tag with such a rule: a
/// limits-only tag carries one nil pointer instead of 340 bytes of windows. Copied before a
/// change when shared (`TagRuntime.evaluateWindows`), so the engine stays a value.
///
/// The state sits behind a pointer rather than in stored properties: a class's stored
/// property changed in place is checked for exclusive access at run time on every sample.
final class TagWindows: @unchecked Sendable {
    struct State {
        var rate = SampleWindow.unused
        var trend = SampleWindow.unused
        /// The rules and the trend limit's set point, copied out of the definition.
        var rateRule: RateRule?
        var trendRule: TrendRule?
        var trendLimit = 0.0
        var trendETA: Double?
    }

    let state: UnsafeMutablePointer<State>

    init(_ d: TagDefinition) {
        var s = State()
        if let r = d.rate { s.rate = SampleWindow(span: r.per, extremes: true) }
        if let t = d.trend { s.trend = SampleWindow(span: t.window, extremes: false) }
        s.rateRule = d.rate
        s.trendRule = d.trend
        s.trendLimit = d.trend.flatMap { d.rule($0.toward)?.at } ?? 0
        state = .allocate(capacity: 1)
        state.initialize(to: s)
    }

    init(copying w: TagWindows) {
        state = .allocate(capacity: 1)
        state.initialize(to: w.state.pointee)
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }
}

/// A tag's six alarms, inline, indexed like `AlarmSlot.tagSlots`.
public struct SlotTable: Sendable {
    var high = AlarmSlotState(), low = AlarmSlotState(), rate = AlarmSlotState()
    var trend = AlarmSlotState(), stale = AlarmSlotState(), fault = AlarmSlotState()

    /// The slots by index, in `AlarmSlot.tagSlots` order: high, low, rate, trend, stale, fault.
    static let indices = 0..<6

    public subscript(i: Int) -> AlarmSlotState {
        get {
            switch i {
            case 0: return high
            case 1: return low
            case 2: return rate
            case 3: return trend
            case 4: return stale
            default: return fault
            }
        }
        _modify {
            switch i {
            case 0: yield &high
            case 1: yield &low
            case 2: yield &rate
            case 3: yield &trend
            case 4: yield &stale
            default: yield &fault
            }
        }
    }
}
