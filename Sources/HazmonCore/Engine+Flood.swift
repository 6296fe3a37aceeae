/// Fixed-capacity ring of timestamps (nanoseconds), oldest first.
struct RingOfTimes: Sendable {
    private var items: [Int64]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { items = Array(repeating: 0, count: capacity) }

    mutating func append(_ t: Int64) {
        if count == items.count { head = (head + 1) % items.count; count -= 1 }
        items[(head + count) % items.count] = t
        count += 1
    }

    /// Drops entries older than `cutoff`.
    mutating func drop(before cutoff: Int64) {
        while count > 0, items[head] < cutoff { head = (head + 1) % items.count; count -= 1 }
    }
}

extension Engine {
    /// Counts raises toward the flood threshold (ISA-18.2: more than 10 in 10 minutes per
    /// operator position). A flood is marked, never hidden: every event is still delivered.
    mutating func countRaises(_ new: ArraySlice<AlarmEvent>, now: Instant, into events: inout [AlarmEvent]) {
        var raised = 0
        for e in new where e.event == .raised || e.event == .predicted { raised += 1 }
        guard raised > 0 else { return }
        for _ in 0..<raised { raiseTimes.append(now.nanoseconds) }
        raiseTimes.drop(before: now.nanoseconds - ctx.settings.floodPer.nanosecondsClamped)
        flood.value = Double(raiseTimes.count)
        if !ctx.flooding, raiseTimes.count > ctx.settings.floodRaised {
            ctx.flooding = true
            _ = flood.slot.step(target: .first, now: now, delay: .zero, latch: false)
            events.append(flood.event(.floodStart, now: now, ctx: ctx))
        }
    }

    mutating func checkFloodEnd(now: Instant, into events: inout [AlarmEvent]) {
        raiseTimes.drop(before: now.nanoseconds - ctx.settings.floodPer.nanosecondsClamped)
        guard ctx.flooding, raiseTimes.count < ctx.settings.floodEndBelow else { return }
        ctx.flooding = false
        flood.value = Double(raiseTimes.count)
        _ = flood.slot.step(target: .none, now: now, delay: .zero, latch: false)
        // A flood needs no acknowledgement: it ends as a state of the site, not an alarm.
        _ = flood.slot.acknowledge(now: now)
        events.append(flood.event(.floodEnd, now: now, ctx: ctx))
    }

    /// Whether the site is in an alarm flood now.
    public var isFlooding: Bool { ctx.flooding }
}
