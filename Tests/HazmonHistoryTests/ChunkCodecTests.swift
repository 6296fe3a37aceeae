import Foundation
import HazmonCore
import Testing
@testable import HazmonHistory

@Suite("Chunk codec")
struct ChunkCodecTests {
    /// A 4–20 mA-like reading at 1 Hz: a slow process swing, noise, receive jitter of a few ms.
    static func noisySeries(count: Int, seed: UInt64, start: Int64 = 1_764_000_000_000) -> [HistoryPoint] {
        var rng = SplitMix64(seed: seed)
        var out: [HistoryPoint] = []
        for i in 0..<count {
            let jitter = Int64(rng.next() % 7) - 3
            let noise = (Double(rng.next() % 10_000) / 10_000 - 0.5) * 0.2
            let v = 50 + 10 * sin(Double(i) / 600) + noise
            out.append(HistoryPoint(time: start + Int64(i) * 1000 + jitter, value: Double(Float(v)), float32: true))
        }
        return out
    }

    @Test(arguments: [false, true])
    func everythingComesBackExactly(float64: Bool) throws {
        var rng = SplitMix64(seed: 42)
        var t: Int64 = 1_764_000_000_000
        var points: [HistoryPoint] = []
        for i in 0..<5_000 {
            // Regular steps, jitter, long gaps, a step back (a clock set back), huge jumps.
            switch rng.next() % 20 {
            case 0: t += Int64(rng.next() % 10_000_000)
            case 1: t -= 500
            case 2: t += 1 << 40
            default: t += 1000 + Int64(rng.next() % 9) - 4
            }
            var value: Double
            switch i % 50 {
            case 7: value = .nan
            case 8: value = .infinity
            case 9: value = -0.0
            case 10: value = 1e300
            default: value = Double(rng.next() % 1_000_000) / 1000 - 500
            }
            if !float64 { value = Double(Float(value)) }
            let quality: Quality = [.good, .good, .good, .uncertain, .bad][Int(rng.next() % 5)]
            let source: Int64? = switch rng.next() % 4 {
            case 0: nil
            case 1: t - 20
            case 2: t - Int64(rng.next() % 3000)
            default: t + (1 << 50)
            }
            points.append(HistoryPoint(time: t, value: value, quality: quality, sourceTime: source, float32: !float64))
        }
        let decoded = try #require(ChunkCodec.decode(ChunkCodec.encode(points, float64: float64)))
        #expect(decoded.count == points.count)
        for (a, b) in zip(decoded, points) {
            #expect(a.time == b.time && a.quality == b.quality && a.sourceTime == b.sourceTime && a.float32 == b.float32)
            #expect(a.value.bitPattern == b.value.bitPattern || (a.value.isNaN && b.value.isNaN))
        }
    }

    @Test func emptyAndSingle() throws {
        #expect(ChunkCodec.decode(ChunkCodec.encode([], float64: false)) == [])
        let one = [HistoryPoint(time: -5, value: 3.5, quality: .bad, sourceTime: 7, float32: true)]
        #expect(ChunkCodec.decode(ChunkCodec.encode(one, float64: false)) == one)
    }

    /// The figure the issue asks for: a noisy 1 Hz signal, deadband 0, at most 4 bytes a point.
    @Test func aNoisySecondlySignalCostsUnderFourBytesAPoint() {
        let points = Self.noisySeries(count: 600, seed: 7)
        let bytes = ChunkCodec.encode(points, float64: false).count
        #expect(Double(bytes) / 600 < 4, "\(bytes) bytes for 600 points")
        #expect(Double(bytes) / 600 > 2, "a figure too good to be true means the test signal is not noisy")
        // A flat value costs one bit, its jittered receive time at most six more...
        let flat = points.map { HistoryPoint(time: $0.time, value: 20, float32: true) }
        #expect(ChunkCodec.encode(flat, float64: false).count <= 600)
        // ...and a regular cadence one.
        let regular = (0..<600).map { HistoryPoint(time: Int64($0) * 1000, value: 20, float32: true) }
        #expect(ChunkCodec.encode(regular, float64: false).count < 600 * 3 / 8 + 24)
    }

    @Test func damagedChunksAreRefusedNeverACrash() {
        let good = ChunkCodec.encode(Self.noisySeries(count: 200, seed: 3), float64: false)
        var rng = SplitMix64(seed: 9)
        var refused = 0
        for _ in 0..<3_000 {
            var b = good
            switch rng.next() % 3 {
            case 0: b = Array(b.prefix(Int(rng.next() % UInt64(b.count))))
            case 1: for _ in 0..<4 { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: rng.next()) }
            default: b = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            if ChunkCodec.decode(b) == nil { refused += 1 }
        }
        #expect(refused > 0)
        #expect(ChunkCodec.decode([]) == nil)
        #expect(ChunkCodec.decode([7, 1]) == nil)
        #expect(ChunkCodec.decode([0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]) == nil, "a count far beyond the bytes")
    }

    @Test func float32ValuesReadAsWritten() {
        let p = ChunkCodec.decode(ChunkCodec.encode([HistoryPoint(time: 0, value: 41.7, float32: true)], float64: false))!
        #expect(p[0].valueText == "41.7")
        #expect(HistoryPoint(time: 0, value: .nan).valueText == nil)
    }
}
