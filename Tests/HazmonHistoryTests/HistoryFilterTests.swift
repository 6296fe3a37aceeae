import HazmonCore
import Testing
@testable import HazmonHistory

@Suite("What is stored: deadband, max_gap, quality")
struct HistoryFilterTests {
    static func admitted(_ values: [(Int64, Double, Quality)], policy: HistoryPolicy) -> [Int64] {
        var f = HistoryFilter(policy: policy)
        return values.filter { f.admit(HistoryPoint(time: $0.0 * 1000, value: $0.1, quality: $0.2)) }.map(\.0)
    }

    @Test func deadbandZeroStoresEveryChangeAndFlatOncePerGap() {
        let s: [(Int64, Double, Quality)] = (0..<200).map { ($0, $0 < 100 ? 5 : Double($0), .good) }
        let kept = Self.admitted(s, policy: HistoryPolicy(deadband: 0, maxGapMillis: 60_000))
        // Flat 5 for 100 s: the first, then once every 60 s; from 100 on every second changes.
        #expect(kept == [0, 60] + Array(100..<200))
    }

    @Test func aDeadbandKeepsMovesBeyondIt() {
        let values: [Double] = [10, 10.3, 10.4, 10.6, 10.2, 9.9, 11]
        let s = values.enumerated().map { (Int64($0.offset), $0.element, Quality.good) }
        // Against the last *stored* value: 10 → 10.6 (> 0.5) → 9.9 (0.7) → 11.
        #expect(Self.admitted(s, policy: HistoryPolicy(deadband: 0.5)) == [0, 3, 5, 6])
    }

    @Test func everyQualityChangeIsKept() {
        let s: [(Int64, Double, Quality)] = [(0, 1, .good), (1, 1, .bad), (2, 1, .bad), (3, 1, .good), (4, 1, .uncertain)]
        #expect(Self.admitted(s, policy: HistoryPolicy(deadband: 100)) == [0, 1, 3, 4])
    }

    @Test func theFirstAfterAGapInTheDataIsKept() {
        // 5 s of silence with max_gap 2 s: the value after it is stored although unchanged.
        let s: [(Int64, Double, Quality)] = [(0, 1, .good), (1, 1, .good), (6, 1, .good), (7, 1, .good)]
        #expect(Self.admitted(s, policy: HistoryPolicy(deadband: 0, maxGapMillis: 2_000)) == [0, 6])
    }

    @Test func float32ChangesTooSmallToStoreAreNoChange() {
        let s: [(Int64, Double, Quality)] = [(0, 1, .good), (1, 1 + 1e-12, .good), (2, 1.001, .good)]
        #expect(Self.admitted(s, policy: HistoryPolicy()) == [0, 2])
        #expect(Self.admitted(s, policy: HistoryPolicy(float64: true)) == [0, 1, 2])
    }

    @Test func nanIsAChangeOnceAndARestartSeedsTheLastStored() {
        let s: [(Int64, Double, Quality)] = [(0, 1, .good), (1, .nan, .bad), (2, .nan, .bad), (3, 1, .good)]
        #expect(Self.admitted(s, policy: HistoryPolicy()) == [0, 1, 3])
        var f = HistoryFilter(policy: HistoryPolicy(), lastStored: HistoryPoint(time: 0, value: 4))
        let same = f.admit(HistoryPoint(time: 1000, value: 4))
        let moved = f.admit(HistoryPoint(time: 2000, value: 4.5))
        #expect(!same && moved)
    }
}

@Suite("Aggregates")
struct AggregateTests {
    static func p(_ s: Int64, _ v: Double, _ q: Quality = .good) -> HistoryPoint { HistoryPoint(time: s * 1000, value: v, quality: q) }

    @Test func aTimeWeightedMeanNotAnAverageOfPoints() throws {
        // 0 for 59 s, then 100 for the last second of the minute.
        let a = Aggregator.aggregate([Self.p(0, 0), Self.p(59, 100)], every: 60_000, end: 60_000)
        let m = try #require(a.first)
        #expect(a.count == 1)
        #expect(m.min == 0 && m.max == 100 && m.last == 100 && m.count == 2 && m.covered == 60_000)
        #expect(abs(m.mean - 100.0 / 60) < 1e-9)
    }

    @Test func aValueHoldsIntoTheNextIntervalsButNotPastMaxHold() {
        // 7 at 0 s, then silence until 300 s: with max hold 90 s it covers minute 0 and 30 s of minute 1.
        let a = Aggregator.aggregate([Self.p(0, 7), Self.p(300, 9)], every: 60_000, end: 310_000, maxHold: 90_000)
        #expect(a.map(\.start) == [0, 60_000, 300_000])
        #expect(a[0].covered == 60_000 && a[0].count == 1)
        #expect(a[1].covered == 30_000 && a[1].count == 0 && a[1].mean == 7 && a[1].last == 7)
        #expect(a[2].covered == 10_000 && a[2].mean == 9)
    }

    @Test func badValuesAreLeftOut() {
        let a = Aggregator.aggregate([Self.p(0, 10), Self.p(30, 999, .bad), Self.p(45, 20)], every: 60_000, end: 60_000)
        #expect(a.count == 1)
        #expect(a[0].max == 20 && a[0].count == 2 && a[0].covered == 45_000)
        #expect(abs(a[0].mean - (10 * 30 + 20 * 15) / 45.0) < 1e-9)
    }

    @Test func aCarriedValueCoversFromWhereTheLastChunkStopped() {
        let a = Aggregator.aggregate([Self.p(40, 5)], every: 60_000, carry: Self.p(10, 1), from: 20_000, end: 60_000)
        #expect(a.count == 1)
        #expect(a[0].covered == 40_000 && a[0].min == 1 && a[0].max == 5)
        #expect(abs(a[0].mean - (1 * 20 + 5 * 20) / 40.0) < 1e-9)
    }

    @Test func minutesCombineIntoLongerIntervals() throws {
        var minutes: [Aggregate] = []
        for i in 0..<5 {
            let d = Double(i)
            let covered: Int64 = i == 4 ? 30_000 : 60_000
            minutes.append(Aggregate(start: Int64(i) * 60_000, min: d, max: d + 1, mean: d + 0.5, last: d, count: 60, covered: covered))
        }
        let c = try #require(Aggregate.combine(minutes, start: 0))
        #expect(c.min == 0 && c.max == 5 && c.last == 4 && c.count == 300 && c.covered == 270_000)
        let expected: Double = (8.0 * 60_000 + 4.5 * 30_000) / 270_000
        #expect(abs(c.mean - expected) < 1e-9)
    }

    @Test func theSameSeriesGivesTheSameFiguresInOnePassOrSplit() {
        let pts = ChunkCodecTests.noisySeries(count: 900, seed: 11, start: 0)
        let whole = Aggregator.aggregate(pts, every: 60_000, end: 900_000)
        let cut: Int64 = 437_000
        let a = Aggregator.aggregate(pts.filter { $0.time < cut }, every: 60_000, end: cut)
        let b = Aggregator.aggregate(pts.filter { $0.time >= cut }, every: 60_000, carry: pts.last { $0.time < cut }, from: cut,
                                     end: 900_000)
        var merged: [Aggregate] = []
        for m in (a + b).sorted(by: { $0.start < $1.start }) {
            if let last = merged.last, last.start == m.start { merged[merged.count - 1] = Aggregate.combine([last, m], start: m.start)! }
            else { merged.append(m) }
        }
        #expect(merged.count == whole.count)
        for (x, y) in zip(merged, whole) {
            #expect(x.start == y.start && x.count == y.count && x.covered == y.covered && x.min == y.min && x.max == y.max)
            #expect(abs(x.mean - y.mean) < 1e-9)
        }
    }
}
