import Foundation
import GRDB
import HazmonCore
import Testing
@testable import HazmonHistory

@Suite("Minute aggregates codec")
struct MinuteCodecTests {
    /// A day of minutes of a noisy 1 Hz tag, with gaps, partly covered minutes and count swings.
    /// Noise of about ±3 counts of a 16-bit ADC over a span of 100.
    static func minutes(count: Int, seed: UInt64) -> [Aggregate] {
        var rng = SplitMix64(seed: seed)
        var start: Int64 = 1_764_000_000_000
        var out: [Aggregate] = []
        for i in 0..<count {
            start += rng.next() % 40 == 0 ? Int64(rng.next() % 300 + 2) * 60_000 : 60_000
            let level = 50 + 10 * sin(Double(i) / 60)
            func noisy() -> Double { Double(Float(level + Double(Int(rng.next() % 7) - 3) * 100 / 65_535)) }
            let lo = noisy(), hi = lo + abs(noisy() - level)
            let count = rng.next() % 30 == 0 ? Int(rng.next() % 70_000) : 58 + Int(rng.next() % 3)
            let covered: Int64 = rng.next() % 20 == 0 ? Int64(rng.next() % 60_000) : 60_000
            out.append(Aggregate(start: start, min: lo, max: Double(Float(hi)), mean: noisy(), last: noisy(),
                                 count: min(count, 65_535), covered: covered))
        }
        return out
    }

    @Test func everyFigureComesBackAsA32BitFloat() throws {
        let minutes = Self.minutes(count: 1_440, seed: 7)
        let back = try #require(MinuteCodec.decode(MinuteCodec.encode(minutes)))
        #expect(back == minutes)
        #expect(MinuteCodec.decode(MinuteCodec.encode([])) == [])
        #expect(try #require(MinuteCodec.decode(MinuteCodec.encode([minutes[0]]))) == [minutes[0]])
    }

    @Test func aNoisyTagCostsUnderTenBytesAMinute() {
        var steady = Self.minutes(count: 1_440, seed: 9)
        for i in steady.indices { steady[i].start = steady[0].start + Int64(i) * 60_000; steady[i].covered = 60_000 }
        let bytes = MinuteCodec.encode(steady).count
        #expect(Double(bytes) / 1_440 < 10, "\(bytes) bytes for a day")
    }

    @Test func damagedBytesAreRefusedNeverACrash() {
        let good = MinuteCodec.encode(Self.minutes(count: 200, seed: 3))
        #expect(MinuteCodec.decode(Array(good.prefix(good.count / 2))) == nil)
        #expect(MinuteCodec.decode([1, 2, 3]) == nil)
        var rng = SplitMix64(seed: 11)
        for _ in 0..<2_000 {
            var b = good
            for _ in 0..<3 { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = MinuteCodec.decode(b)
            _ = MinuteCodec.decode(Array(b.prefix(Int(rng.next() % UInt64(b.count)))))
        }
    }

    /// A new file gets 32 KiB pages (ten-minute chunks pack into them); an older file keeps its own.
    @Test func aNewFileHasLargePagesAnOldOneKeepsItsOwn() throws {
        let dir = try ScratchDir()
        let fresh = try HistoryStore(path: dir.path + "/new.db")
        #expect(try fresh.queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } == HistoryStore.pageSize)
        let old = try DatabaseQueue(path: dir.path + "/old.db")
        try HistoryStore.migrator.migrate(old, upTo: "v1")
        try old.close()
        let reopened = try HistoryStore(path: dir.path + "/old.db")
        #expect(try reopened.queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } == 4_096)
    }

    /// A history written by schema v1 (24-byte minutes) opens with the same aggregates.
    @Test func aVersion1FileIsMigratedWithItsAggregates() throws {
        let dir = try ScratchDir()
        let path = dir.path + "/h.db"
        let minutes = Self.minutes(count: 30, seed: 5)
        // The v1 schema exactly as it was, then one chunk with format-1 minutes.
        let queue = try DatabaseQueue(path: path)
        try HistoryStore.migrator.migrate(queue, upTo: "v1")
        var v1: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { v1.append(contentsOf: $0) } }
        put(minutes[0].start)
        for m in minutes {
            put(UInt32((m.start - minutes[0].start) / 60_000))
            for v in [m.min, m.max, m.mean, m.last] { put(Float(v).bitPattern) }
            put(UInt16(m.count))
            put(UInt16(m.covered))
        }
        let points = ChunkCodecTests.noisySeries(count: 10, seed: 1)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO tag (id, name) VALUES (1, 'PT-1')")
            try db.execute(sql: """
                INSERT INTO chunk (tag, first_ms, last_ms, until_ms, count, points, minutes, merged) VALUES (1, ?, ?, ?, 10, ?, ?, 1)
                """, arguments: [points.first!.time, points.last!.time, points.last!.time,
                                 Data(ChunkCodec.encode(points, float64: false)), Data(v1)])
        }
        try queue.close()
        let store = try HistoryStore(path: path)
        let stored = try store.queue.read { db in try Data.fetchOne(db, sql: "SELECT minutes FROM chunk")! }
        #expect(stored.first == MinuteCodec.format)
        #expect(MinuteCodec.decode([UInt8](stored)) == minutes)
    }
}
