import Foundation
import GRDB
import HazmonCore
import Logging
import Synchronization
import Testing
@testable import HazmonHistory

/// A directory under /tmp for one test, removed afterwards.
final class ScratchDir {
    let path: String
    init() {
        var template = Array("/tmp/hazmon-history-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A wall clock the test moves.
final class FakeWallClock: Sendable {
    let ms: Atomic<Int64>
    init(_ start: Int64) { ms = Atomic(start) }
    func advance(by d: Int64) { ms.wrappingAdd(d, ordering: .relaxed) }
    var now: Int64 { ms.load(ordering: .relaxed) }
}

/// The writer's health reports, in order.
final class HealthLog: Sendable {
    let reports = Mutex<[(Bool, String?)]>([])
    func add(_ up: Bool, _ reason: String?) { reports.withLock { $0.append((up, reason)) } }
    var all: [(Bool, String?)] { reports.withLock { $0 } }
}

@Suite("History store and writer", .serialized)
struct HistoryStoreTests {
    static let logger = Logger(label: "test")
    static let day: Int64 = 86_400_000

    static func settings(_ dir: ScratchDir, chunkSpan: Duration = .seconds(600)) -> HistoryWriterSettings {
        var s = HistoryWriterSettings(path: dir.path + "/history.db", retention: .seconds(30 * 86_400), maxGap: .seconds(60),
                                      batch: .milliseconds(20))
        s.chunkSpan = chunkSpan
        return s
    }

    /// Feeds `values` (one per simulated second from `clock`) through a writer, one round each.
    static func feed(_ writer: HistoryWriter, _ clock: FakeWallClock, _ values: [Double], tag: Int = 0, quality: Quality = .good) {
        for v in values {
            let wall = clock.now
            writer.record([Sample(tag: TagHandle(tag), value: v, quality: quality, time: Instant(nanoseconds: wall * 1_000_000))],
                          generation: 1, offset: .zero)
            clock.advance(by: 1000)
            Thread.sleep(forTimeInterval: 0.003)
        }
    }

    @Test func pointsAreReadBackFromRecentAndFromChunks() throws {
        let dir = ScratchDir()
        let clock = FakeWallClock(1_764_547_200_000)
        let start = clock.now
        let writer = HistoryWriter(settings: Self.settings(dir, chunkSpan: .seconds(60)), logger: Self.logger, clock: { clock.now },
                                   onHealth: { _, _ in })
        writer.setTags(HistoryTagTable(generation: 1, names: ["PT-1", "GT-1"], policies: [HistoryPolicy(), HistoryPolicy(deadband: 1)]))
        writer.start()
        let values = (0..<300).map { 1 + Double($0 % 17) / 10 }
        Self.feed(writer, clock, values)
        writer.stop()
        let reader = try HistoryReader(path: dir.path + "/history.db")
        let points = try reader.points(tag: "PT-1")
        // Deadband 0: every change; the series changes every second.
        #expect(points.count == 300)
        #expect(points.map(\.time) == (0..<300).map { start + Int64($0) * 1000 })
        #expect(points.map { Float($0.value) } == values.map { Float($0) })
        #expect(try reader.tags() == ["GT-1", "PT-1"])
        // Some of it went into chunks (the span is a minute), the rest is still recent.
        let chunks = try DatabaseCount.chunks(dir.path + "/history.db")
        #expect(chunks > 0)
        #expect(try DatabaseCount.chunks(dir.path + "/history.db", merged: true) > 0, "one-minute chunks were merged")
        // A time range.
        let mid = try reader.points(tag: "PT-1", from: start + 100_000, until: start + 110_000)
        #expect(mid.count == 10 && mid.first?.time == start + 100_000)
        // Minute aggregates from chunks and recent agree with computing them from the points.
        let agg = try reader.aggregates(tag: "PT-1", from: start, until: start + 300_000, every: 60_000)
        let direct = Aggregator.aggregate(points, every: 60_000, end: start + 300_000, maxHold: 90_000)
        #expect(agg.count == 5)
        #expect(agg.map(\.count) == direct.map(\.count))
        #expect(zip(agg, direct).allSatisfy { abs($0.mean - $1.mean) < 1e-4 && Float($0.max) == Float($1.max) })
        let fiveMinutes = try reader.aggregates(tag: "PT-1", from: start, until: start + 300_000, every: 300_000)
        #expect(fiveMinutes.count == 1 && fiveMinutes[0].count == 300)
    }

    /// A sparse tag (a value every 45 s): each minute's aggregate holds the value that came
    /// before it, also across the writer's one-minute flushes (the carry each flush keeps).
    @Test func minutesOfASparseTagCarryTheValueBeforeThemAcrossFlushes() throws {
        let dir = ScratchDir()
        let clock = FakeWallClock(1_764_547_200_000)
        let start = clock.now
        let writer = HistoryWriter(settings: Self.settings(dir), logger: Self.logger, clock: { clock.now }, onHealth: { _, _ in })
        writer.setTags(HistoryTagTable(generation: 1, names: ["LT-1"], policies: [HistoryPolicy()]))
        writer.start()
        for second in 0..<300 {
            if second % 45 == 0 {
                writer.record([Sample(tag: TagHandle(0), value: Double(second), quality: .good,
                                      time: Instant(nanoseconds: clock.now * 1_000_000))], generation: 1, offset: .zero)
            }
            clock.advance(by: 1000)
            Thread.sleep(forTimeInterval: 0.003)
        }
        writer.stop()
        let reader = try HistoryReader(path: dir.path + "/history.db")
        let points = try reader.points(tag: "LT-1")
        #expect(points.count == 7)
        #expect(try DatabaseCount.chunks(dir.path + "/history.db") >= 3, "flushed more than once")
        let agg = try reader.aggregates(tag: "LT-1", from: start, until: start + 300_000, every: 60_000)
        let direct = Aggregator.aggregate(points, every: 60_000, end: start + 300_000, maxHold: 90_000)
        #expect(agg.count == 5)
        // (Stored minutes are 32-bit: equal to a few millionths.)
        #expect(zip(agg, direct).allSatisfy { abs($0.mean - $1.mean) < 1e-3 }, "\(agg.map(\.mean)) vs \(direct.map(\.mean))")
    }

    @Test func aRestartCarriesOnWithoutRepeatingOrLosingPoints() throws {
        let dir = ScratchDir()
        let clock = FakeWallClock(1_764_547_200_000)
        for round in 0..<3 {
            let writer = HistoryWriter(settings: Self.settings(dir, chunkSpan: .seconds(30)), logger: Self.logger, clock: { clock.now },
                                       onHealth: { _, _ in })
            writer.setTags(HistoryTagTable(generation: 1, names: ["LT-1"], policies: [HistoryPolicy()]))
            writer.start()
            Self.feed(writer, clock, (0..<50).map { Double(round * 1000 + $0) })
            writer.stop()
        }
        let points = try HistoryReader(path: dir.path + "/history.db").points(tag: "LT-1")
        #expect(points.map(\.value) == (0..<3).flatMap { r in (0..<50).map { Double(r * 1000 + $0) } })
    }

    @Test func retentionPrunesWholeChunksOverAMonth() throws {
        let dir = ScratchDir()
        let clock = FakeWallClock(1_764_547_200_000)
        let start = clock.now
        var s = Self.settings(dir, chunkSpan: .seconds(600))
        s.retention = .seconds(30 * 86_400)
        let writer = HistoryWriter(settings: s, logger: Self.logger, clock: { clock.now }, onHealth: { _, _ in })
        writer.setTags(HistoryTagTable(generation: 1, names: ["TT-1"], policies: [HistoryPolicy(maxGapMillis: 3_600_000)]))
        writer.start()
        // 31 days and a bit, a value every two hours (each a new chunk after an hour).
        for i in 0..<(31 * 12 + 6) {
            Self.feed(writer, clock, [Double(i)])
            clock.advance(by: 2 * 3_600_000 - 1000)
            Thread.sleep(forTimeInterval: 0.005)
        }
        // A last round prunes at the final time.
        clock.advance(by: 3_600_000)
        Thread.sleep(forTimeInterval: 0.1)
        writer.stop()
        let points = try HistoryReader(path: dir.path + "/history.db").points(tag: "TT-1")
        let oldest = try #require(points.first)
        let end = clock.now
        // Nothing older than 30 days is left (but for the rest of a chunk that straddles the
        // cutoff: the writer's rounds lag the test's clock by a few points); everything newer is.
        #expect(oldest.time >= end - 30 * Self.day - 24 * 3_600_000)
        #expect(oldest.time <= end - 30 * Self.day + 3 * 3_600_000)
        #expect(oldest.time > start)
        #expect(points.last?.value == Double(31 * 12 + 5))
        #expect(zip(points, points.dropFirst()).allSatisfy { $1.value == $0.value + 1 }, "pruned by whole chunks, nothing in between lost")
    }

    @Test func aDamagedFileIsSetAsideAndANewOneStarts() throws {
        let dir = ScratchDir()
        let path = dir.path + "/history.db"
        try Data(repeating: 0x5a, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(throws: HistoryError.self) { _ = try HistoryStore(path: path) }
        let health = HealthLog()
        let clock = FakeWallClock(1_764_547_200_000)
        let writer = HistoryWriter(settings: Self.settings(dir), logger: Self.logger, clock: { clock.now }, onHealth: health.add)
        writer.setTags(HistoryTagTable(generation: 1, names: ["X"], policies: [HistoryPolicy()]))
        writer.start()
        Self.feed(writer, clock, [1, 2, 3])
        writer.stop()
        let aside = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("history.db.damaged-") }
        try #require(aside.count == 1, "set aside: \(aside)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + aside[0])) == Data(repeating: 0x5a, count: 8192))
        #expect(try HistoryReader(path: path).points(tag: "X").map(\.value) == [1, 2, 3])
    }

    @Test func anUnwritableFileRaisesTheAlarmKeepsValuesAndRecovers() throws {
        let dir = ScratchDir()
        let sub = dir.path + "/missing"
        var s = Self.settings(dir)
        s.path = sub + "/history.db"
        let health = HealthLog()
        let clock = FakeWallClock(1_764_547_200_000)
        let writer = HistoryWriter(settings: s, logger: Self.logger, clock: { clock.now }, onHealth: health.add)
        writer.setTags(HistoryTagTable(generation: 1, names: ["X"], policies: [HistoryPolicy()]))
        writer.start()
        Self.feed(writer, clock, [1, 2, 3])
        Thread.sleep(forTimeInterval: 0.1)
        #expect(health.all.first?.0 == false)
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        // The writer retries opening every 5 s of its clock.
        clock.advance(by: 6_000)
        Self.feed(writer, clock, [4])
        Thread.sleep(forTimeInterval: 0.1)
        writer.stop()
        #expect(health.all.last?.0 == true)
        #expect(try HistoryReader(path: s.path).points(tag: "X").map(\.value) == [1, 2, 3, 4])
    }
}

/// Looks into the file directly.
enum DatabaseCount {
    static func chunks(_ path: String, merged: Bool? = nil) throws -> Int {
        let store = try HistoryStore(path: path)
        let filter = merged.map { " WHERE merged = \($0 ? 1 : 0)" } ?? ""
        return try store.queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM chunk" + filter) ?? 0 }
    }
}
