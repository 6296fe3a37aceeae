/// The samples of one tag within a time window, in fixed storage allocated once: running sums
/// for the least-squares trend, or monotonic queues for the window's minimum and maximum (a
/// rate alarm's window), so both cost O(1) per sample (amortised) and never allocate.
///
/// When more samples fall inside the window than `capacity` (a power of two, 128 by default),
/// the oldest are dropped early: the window then spans the newest `capacity` samples.
struct SampleWindow: Sendable {
    let span: Double
    let capacity: Int
    private let mask: Int
    /// Rate alarms need the window's extremes, trends its sums; each window keeps only its own.
    private let extremes: Bool
    private var times: [Double]
    private var values: [Double]
    private var head = 0
    private(set) var count = 0
    /// Times are kept relative to `anchor` (seconds) so the sums stay precise.
    private var anchor: Double = 0
    private var st = 0.0, sv = 0.0, stt = 0.0, stv = 0.0, svv = 0.0
    // Monotonic queues of absolute sample numbers (head-relative positions).
    private var minQ: [Int], maxQ: [Int]
    private var minHead = 0, minCount = 0, maxHead = 0, maxCount = 0
    private var seqNo = 0

    init(span: Duration, extremes: Bool, capacity: Int = 128) {
        self.extremes = extremes
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "capacity must be a power of two")
        self.span = span.secondsDouble
        self.capacity = capacity
        self.mask = capacity - 1
        times = Array(repeating: 0, count: capacity)
        values = Array(repeating: 0, count: capacity)
        minQ = Array(repeating: 0, count: extremes ? capacity : 0)
        maxQ = Array(repeating: 0, count: extremes ? capacity : 0)
    }

    /// A placeholder for tags without a rate or trend rule.
    static let unused = SampleWindow(span: .zero, extremes: false, capacity: 1)

    private func slot(_ seq: Int) -> Int { seq & mask }

    /// The sequence number of the oldest sample kept.
    private var oldestSeq: Int { seqNo - count }

    mutating func add(time: Instant, value: Double) {
        let t = time.seconds
        if count == 0 { anchor = t; st = 0; sv = 0; stt = 0; stv = 0; svv = 0 }
        // Drop what has left the window, and the oldest if storage is full.
        while count > 0, t - (times[slot(oldestSeq)] + anchor) > span { removeOldest() }
        if count == capacity { removeOldest() }
        let rt = t - anchor
        let s = slot(seqNo)
        times[s] = rt
        values[s] = value
        if extremes {
            pushExtremes(value)
        } else {
            st += rt; sv += value; stt += rt * rt; stv += rt * value; svv += value * value
        }
        seqNo += 1
        count += 1
    }

    private mutating func pushExtremes(_ value: Double) {
        while minCount > 0, values[slot(minQ[(minHead + minCount - 1) & mask])] >= value { minCount -= 1 }
        minQ[(minHead + minCount) & mask] = seqNo
        minCount += 1
        while maxCount > 0, values[slot(maxQ[(maxHead + maxCount - 1) & mask])] <= value { maxCount -= 1 }
        maxQ[(maxHead + maxCount) & mask] = seqNo
        maxCount += 1
    }

    private mutating func removeOldest() {
        let old = oldestSeq
        let s = slot(old)
        if !extremes {
            let rt = times[s], v = values[s]
            st -= rt; sv -= v; stt -= rt * rt; stv -= rt * v; svv -= v * v
        }
        if extremes, minCount > 0, minQ[minHead] == old { minHead = (minHead + 1) & mask; minCount -= 1 }
        if extremes, maxCount > 0, maxQ[maxHead] == old { maxHead = (maxHead + 1) & mask; maxCount -= 1 }
        count -= 1
        if count == 0 { minCount = 0; maxCount = 0 }
    }

    @inline(__always) var minimum: Double? { minCount > 0 ? values[slot(minQ[minHead])] : nil }
    @inline(__always) var maximum: Double? { maxCount > 0 ? values[slot(maxQ[maxHead])] : nil }

    /// The least-squares line through the window: value at `time`, slope per second, and R².
    func fit(at time: Instant) -> (value: Double, slope: Double, r2: Double)? {
        guard count >= 2 else { return nil }
        let n = Double(count)
        let dt = n * stt - st * st
        guard dt > 1e-12 else { return nil }
        let slope = (n * stv - st * sv) / dt
        let intercept = (sv - slope * st) / n
        let dv = n * svv - sv * sv
        let cov = n * stv - st * sv
        let r2 = dv > 1e-12 ? (cov * cov) / (dt * dv) : 1
        return (intercept + slope * (time.seconds - anchor), slope, r2)
    }
}
