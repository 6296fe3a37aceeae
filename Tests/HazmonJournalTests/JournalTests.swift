import Foundation
import GRDB
import HazmonCore
import HazmonJournal
import Synchronization
import Testing

/// A fresh directory for one journal file, removed afterwards.
struct JournalDir: ~Copyable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "hazmon-journal-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    var file: String { path + "/journal.db" }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func entry(_ seq: UInt64, tag: String = "GT-101", at seconds: Double = 1_000) -> JournalEntry {
    JournalEntry(seq: seq, time: Instant(seconds: seconds), tag: tag, condition: "h", event: "raised", grade: 3,
                 json: #"{"type":"event","v":1,"seq":\#(seq),"tag":"\#(tag)"}"#)
}

func saved(_ tag: String, shelvedUntil: Instant? = nil) -> SavedAlarm {
    SavedAlarm(tag: tag, slot: .high, level: 2, lastLevel: 2, state: .acked, latched: false, since: Instant(seconds: 10),
               shelvedUntil: shelvedUntil, ackedAt: Instant(seconds: 11), condition: .hh, grade: .orange, name: "gas",
               unit: "%LEL", value: 41.5)
}

@Suite("Journal store")
struct JournalStoreTests {
    @Test func appendsReadsAndKeepsTheLastSeq() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        #expect(try j.lastSeq() == 0)
        try j.append((1...5).map { entry($0) }, states: [])
        try j.append([entry(6, tag: "GT-102")], states: [])
        #expect(try j.lastSeq() == 6)
        #expect(try j.lines(after: 2, through: 5, limit: 100).map(\.seq) == [3, 4, 5])
        #expect(try j.lines(after: 0, through: 6, limit: 2).map(\.seq) == [1, 2])
        #expect(try j.lines(after: 5, through: 6, limit: 9).first?.json.contains(#""tag":"GT-102""#) == true)
    }

    @Test func aSeqIsNeverWrittenTwice() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        try j.append([entry(1), entry(2)], states: [])
        #expect(throws: JournalError.self) { try j.append([entry(3), entry(2)], states: [AlarmStateChange(tag: "X", slot: .high, saved: saved("X"))]) }
        // The failed transaction left nothing behind: neither event 3 nor the state.
        #expect(try j.lastSeq() == 2)
        #expect(try j.activeAlarms().isEmpty)
    }

    @Test func alarmStatesAreUpsertedAndForgotten() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        try j.append([entry(1)], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: saved("GT-101"))])
        let until = Instant(seconds: 5_000)
        try j.append([entry(2)], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: saved("GT-101", shelvedUntil: until)),
                                          AlarmStateChange(tag: "GT-102", slot: .high, saved: saved("GT-102"))])
        #expect(try j.activeAlarms() == [saved("GT-101", shelvedUntil: until), saved("GT-102")])
        try j.append([entry(3)], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: nil)])
        #expect(try j.activeAlarms().map(\.tag) == ["GT-102"])
    }

    /// An alarm flood commits without a pause; checkpoints twice a second must still bring the
    /// WAL back to its start, or it grows for as long as the flood lasts (17 MB a second at
    /// 2,000 events a second, before the checkpoint's last pass on the writer's connection).
    @Test func aSteadyStreamOfCommitsDoesNotGrowTheWAL() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file, sync: .normal)
        let stop = Mutex(false)
        let checkpoints = Thread {
            while !stop.withLock({ $0 }) {
                _ = try? j.checkpoint(restartAbove: 256)
                usleep(20_000)
            }
        }
        checkpoints.start()
        let states = (0..<20).map { AlarmStateChange(tag: "GT-\($0)", slot: .high, saved: saved("GT-\($0)")) }
        for seq in 1...6_000 as ClosedRange<UInt64> {
            try j.append([entry(seq, tag: "GT-\(seq % 20)")], states: [states[Int(seq % 20)]])
            usleep(200)   // a flood's commits come a tick apart, not back to back
        }
        stop.withLock { $0 = true }
        usleep(50_000)
        let wal = (try FileManager.default.attributesOfItem(atPath: d.file + "-wal")[.size] as? Int) ?? -1
        // Unchecked, 6,000 commits of two or three pages each reach about 60 MB.
        #expect(wal > 0 && wal < 8 << 20, "the WAL is \(wal) bytes")
        #expect(try j.lastSeq() == 6_000)
    }

    /// A reader inside the WAL (a long replay or export) keeps the frames after its snapshot;
    /// the checkpoint's last pass (PASSIVE, on the writer's connection) must not wait for it
    /// and so hold the commits behind it (the 5 s busy timeout; a RESTART pass waited).
    @Test func aLongReaderDoesNotHoldCommitsBehindACheckpoint() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file, sync: .normal)
        for seq in 1...400 as ClosedRange<UInt64> { try j.append([entry(seq)], states: []) }
        let reader = try DatabaseQueue(path: d.file)
        let readerInside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let hold = Thread {
            try? reader.read { db in
                _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM event")   // a snapshot inside the WAL
                readerInside.signal()
                release.wait()
            }
        }
        hold.start()
        readerInside.wait()
        for seq in 401...800 as ClosedRange<UInt64> { try j.append([entry(seq)], states: []) }
        let left = Mutex(-1)
        let done = DispatchSemaphore(value: 0)
        let checkpoint = Thread {
            left.withLock { $0 = (try? j.checkpoint(restartAbove: 100)) ?? -2 }
            done.signal()
        }
        let start = ContinuousClock.now
        checkpoint.start()
        for seq in 801...850 as ClosedRange<UInt64> { try j.append([entry(seq)], states: []) }
        #expect(done.wait(timeout: .now() + 3) == .success, "the checkpoint still waits for the reader")
        #expect(ContinuousClock.now - start < .seconds(2), "commits waited \(ContinuousClock.now - start) behind the checkpoint")
        #expect(left.withLock { $0 } > 0)   // the reader kept part of the WAL; it restarts later
        release.signal()
        #expect(try j.lastSeq() == 850)
    }

    @Test func survivesReopeningAndPruningKeepsTheSeq() throws {
        let d = JournalDir()
        do {
            let j = try Journal(path: d.file, sync: .normal)
            try j.append([entry(1, at: 100), entry(2, at: 200), entry(3, at: 300)], states: [])
        }
        let j = try Journal(path: d.file)   // migrations run once; reopening is clean
        #expect(try j.lastSeq() == 3)
        #expect(try j.prune(before: Instant(seconds: 250)) == 2)
        #expect(try j.lines(after: 0, through: 10, limit: 10).map(\.seq) == [3])
        #expect(try j.prune(before: Instant(seconds: 10_000)) == 1)
        #expect(try j.lines(after: 0, through: 10, limit: 10).isEmpty)
        #expect(try j.lastSeq() == 3, "seq never goes back, even with every event pruned")
    }

    @Test func theReaderFiltersByTagAndTimeAndNeverWrites() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        try j.append([entry(1, at: 100), entry(2, tag: "B", at: 200), entry(3, at: 300), entry(4, tag: "B", at: 400)], states: [])
        let r = try JournalReader(path: d.file)
        #expect(try r.events().map(\.seq) == [1, 2, 3, 4])
        #expect(try r.events(tag: "B").map(\.seq) == [2, 4])
        #expect(try r.events(since: Instant(seconds: 200), until: Instant(seconds: 400)).map(\.seq) == [2, 3])
        #expect(try r.events(limit: 1).map(\.seq) == [1])
        #expect(try r.events().first?.time == Instant(seconds: 100))
    }

    @Test func notAJournalIsAClearError() throws {
        let d = JournalDir()
        try "this is not SQLite".write(toFile: d.file, atomically: true, encoding: .utf8)
        #expect { try Journal(path: d.file) } throws: { error in
            "\(error)".contains("cannot open the journal") && "\(error)".contains("not a database")
        }
        #expect { try Journal(path: d.path + "/missing/dir/journal.db") } throws: { "\($0)".contains("cannot open the journal") }
    }
}
