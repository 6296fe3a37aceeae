import HazmonCore

/// Figures of one tag over one interval: min, max, a time-weighted mean, the last value and the
/// number of stored points, from the values of good (or uncertain) quality.
public struct Aggregate: Sendable, Hashable {
    /// The interval's start, milliseconds since 1970.
    public var start: Int64
    public var min: Double
    public var max: Double
    /// Each value weighted by how long it held (until the next point or the interval's end):
    /// a historian's time-weighted average, right whatever the deadband left out.
    public var mean: Double
    public var last: Double
    /// Stored points of usable quality in the interval.
    public var count: Int
    /// Milliseconds of the interval covered by a usable value (the mean's weight).
    public var covered: Int64

    public init(start: Int64, min: Double, max: Double, mean: Double, last: Double, count: Int, covered: Int64) {
        self.start = start
        self.min = min
        self.max = max
        self.mean = mean
        self.last = last
        self.count = count
        self.covered = covered
    }

    /// Folds consecutive aggregates (of finer intervals, oldest first) into one starting at `start`.
    public static func combine(_ parts: some Collection<Aggregate>, start: Int64) -> Aggregate? {
        guard let first = parts.first else { return nil }
        var a = Aggregate(start: start, min: first.min, max: first.max, mean: 0, last: first.last, count: 0, covered: 0)
        var weighted = 0.0, plain = 0.0
        for p in parts {
            a.min = Swift.min(a.min, p.min)
            a.max = Swift.max(a.max, p.max)
            a.last = p.last
            a.count += p.count
            a.covered += p.covered
            weighted += p.mean * Double(p.covered)
            plain += p.mean
        }
        a.mean = a.covered > 0 ? weighted / Double(a.covered) : plain / Double(parts.count)
        return a
    }
}

/// Computes aggregates over fixed intervals from stored points, step-interpolated: a value holds
/// until the next point, but never longer than `maxHold` (past that the tag was silent: a gap,
/// not a flat line).
public enum Aggregator {
    /// - Parameters:
    ///   - points: oldest first.
    ///   - every: the interval, milliseconds; intervals start at multiples of it since 1970.
    ///   - carry: the last point before the first one, if known: it holds from `from` on.
    ///   - from: where coverage starts (with `carry`); default the first interval's start.
    ///   - end: where the last value stops holding (the query's end, or now); default its own time.
    ///   - maxHold: the longest a value holds, milliseconds.
    public static func aggregate(_ points: [HistoryPoint], every: Int64, carry: HistoryPoint? = nil, from: Int64? = nil,
                                 end: Int64? = nil, maxHold: Int64 = .max / 4) -> [Aggregate] {
        guard every > 0, let first = points.first else { return [] }
        var run = Run(every: every, maxHold: maxHold, holding: carry)
        if let c = carry, c.time <= first.time {
            let start = Swift.min(first.time, Swift.max(c.time, from ?? Run.bucket(first.time, every)))
            run.open(Run.bucket(start, every))
            run.cursor = start
        } else {
            run.holding = nil
            run.open(Run.bucket(first.time, every))
            run.cursor = first.time
        }
        for p in points {
            run.advance(to: p.time)
            run.record(p)
        }
        run.advance(to: Swift.max(end ?? first.time, points.last!.time))
        run.close()
        return run.out
    }

    /// The state of one pass.
    struct Run {
        let every: Int64
        let maxHold: Int64
        var holding: HistoryPoint?
        var out: [Aggregate] = []
        var current = Aggregate(start: 0, min: .infinity, max: -.infinity, mean: 0, last: .nan, count: 0, covered: 0)
        var weighted = 0.0
        var cursor: Int64 = 0

        static func bucket(_ t: Int64, _ every: Int64) -> Int64 {
            t >= 0 ? t / every * every : ((t + 1) / every - 1) * every
        }

        static func usable(_ p: HistoryPoint) -> Bool { p.quality != .bad && p.value.isFinite }

        /// Until when the held value counts.
        var holdEnd: Int64 {
            guard let h = holding, Self.usable(h) else { return .min }
            return h.time > .max - maxHold ? .max : h.time + maxHold
        }

        mutating func open(_ start: Int64) {
            current = Aggregate(start: start, min: .infinity, max: -.infinity, mean: 0, last: .nan, count: 0, covered: 0)
            weighted = 0
            if let h = holding, holdEnd > start {
                current.min = h.value
                current.max = h.value
                current.last = h.value
            }
        }

        mutating func close() {
            var c = current
            guard c.count > 0 || c.covered > 0 else { return }
            c.mean = c.covered > 0 ? weighted / Double(c.covered) : c.last
            out.append(c)
        }

        /// Lets the held value fill [cursor, t), closing the intervals it passes.
        mutating func advance(to t: Int64) {
            while cursor < t {
                let intervalEnd = current.start + every
                let segmentEnd = Swift.min(t, intervalEnd)
                let heldUntil = Swift.min(segmentEnd, holdEnd)
                if heldUntil > cursor, let h = holding {
                    current.covered += heldUntil - cursor
                    weighted += h.value * Double(heldUntil - cursor)
                }
                guard t >= intervalEnd else { cursor = t; return }
                close()
                // The next interval, if the held value still reaches into it; else the one of t.
                let next = holdEnd > intervalEnd ? intervalEnd : Swift.max(intervalEnd, Self.bucket(t, every))
                open(next)
                cursor = next
            }
        }

        mutating func record(_ p: HistoryPoint) {
            holding = p
            guard Self.usable(p) else { return }
            current.count += 1
            current.last = p.value
            current.min = Swift.min(current.min, p.value)
            current.max = Swift.max(current.max, p.value)
        }
    }
}
