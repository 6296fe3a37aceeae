import Foundation
import GRDB
import HazmonCore
import HazmonJournal
@testable import HazmonPipeline
import Synchronization
import Testing

/// The journal's upkeep that needs the writer (the alarm-state fold, a checkpoint's last pass)
/// runs on the journal thread between commits, not on the checkpoint thread beside them: there
/// the fold held the writer twice a second in a flood (3.8 ms for 1,000 rows), and the RESTART
/// pass made the commit behind it sleep 3 to 8 ms in SQLite's busy handler. What the upkeep
/// must still do, through the real writer, a real journal file and its threads.
@Suite("Journal writer upkeep")
struct JournalWriterUpkeepTests {
    final class Collect: EventSink {
        let seqs = Mutex<[UInt64]>([])
        func deliver(_ events: [AlarmEvent], json: [String]) { seqs.withLock { $0 += events.map(\.seq) } }
    }

    struct Dir: ~Copyable {
        let path = NSTemporaryDirectory() + "hazmon-upkeep-\(UUID().uuidString)"
        init() { try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        var journal: String { path + "/journal.db" }
    }

    func event(_ seq: UInt64, _ tag: String, _ kind: EventKind) -> AlarmEvent {
        AlarmEvent(seq: seq, time: Instant(seconds: 1_000 + Double(seq)), site: "t", tag: tag, condition: .h, event: kind,
                   grade: .yellow, state: kind == .cleared ? .normal : .unack, value: 25, unit: "%LEL", limit: 20,
                   quality: .good, source: "test", sourceTime: nil, message: "m")
    }

    func saved(_ tag: String, _ seq: UInt64) -> SavedAlarm {
        SavedAlarm(tag: tag, slot: .high, level: 1, lastLevel: 1, state: .unack, latched: false, since: Instant(seconds: 10),
                   shelvedUntil: nil, ackedAt: nil, condition: .h, grade: .yellow, name: "gas", unit: "%LEL", value: Double(seq))
    }

    /// Raises and clears `tags` in turn, one event a batch, `pause` apart, as a flood does.
    func flood(_ writer: JournalWriter, tags: Int, events: Int, pause: useconds_t) {
        for seq in 1...UInt64(events) {
            let tag = "GT-\(seq % UInt64(tags))", raise = (seq / UInt64(tags)) % 2 == 0
            let e = event(seq, tag, raise ? .raised : .cleared)
            writer.submit([e], json: [e.jsonLine],
                          states: [AlarmStateChange(tag: tag, slot: .high, saved: raise ? saved(tag, seq) : nil)])
            if pause > 0 { usleep(pause) }
        }
    }

    func folded(_ journal: Journal) throws -> (mark: Int64, rows: Int) {
        try journal.database.read { db in
            (try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'alarm_folded_seq'") ?? -1,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM alarm") ?? -1)
        }
    }

    /// Half a second after the first commit not yet folded, the writer's thread folds every
    /// state into the `alarm` table by itself (no stop, no read of the alarms that folds first).
    @Test func theWriterFoldsTheAlarmStatesBetweenCommits() throws {
        let d = Dir()
        let journal = try Journal(path: d.journal, sync: .normal)
        let sink = Collect()
        let writer = JournalWriter(journal: journal, spill: JournalSpill(path: d.path + "/spill"), sinks: [sink],
                                   maxWait: .seconds(2), logger: quiet)
        writer.start()
        defer { _ = writer.stop() }
        // 10 tags, 1,049 events: seq 1,040-1,049 raise tags 0-9, so all ten end active.
        flood(writer, tags: 10, events: 1_049, pause: 0)
        let deadline = ContinuousClock.now + .seconds(10)
        var state = try folded(journal)
        while state.mark < 1_049, ContinuousClock.now < deadline {
            usleep(50_000)
            state = try folded(journal)
        }
        #expect(state.mark == 1_049, "folded through seq \(state.mark) of 1,049")
        #expect(state.rows == 10)
        #expect(sink.seqs.withLock { $0 } == Array(1...1_049))
    }

    /// A flood through the writer, a commit every few hundred microseconds for seconds: the
    /// checkpoint thread copies the WAL beside the commits and has the journal thread copy its
    /// last frames between two of them, so the WAL starts over and stays short: at most what
    /// half a second of commits writes. (With the first pass alone it grows for as long as the
    /// flood lasts: 75 MB after these 7,900 commits, measured with the writer's pass disabled.)
    @Test func aFloodThroughTheWriterDoesNotGrowTheWAL() throws {
        let d = Dir()
        let journal = try Journal(path: d.journal, sync: .normal)
        let writer = JournalWriter(journal: journal, spill: JournalSpill(path: d.path + "/spill"), sinks: [Collect()],
                                   maxWait: .seconds(2), logger: quiet)
        writer.start()
        flood(writer, tags: 200, events: 8_000, pause: 250)
        let wal = (try FileManager.default.attributesOfItem(atPath: d.journal + "-wal")[.size] as? Int) ?? -1
        let commits = writer.commitStats.commits
        let lost = writer.stop()
        #expect(lost.isEmpty)
        #expect(wal > 0 && wal < 20 << 20, "the WAL is \(wal) bytes after \(commits) commits")
        #expect(try journal.lastSeq() == 8_000)
        #expect(try folded(journal).mark == 8_000, "folded through the last event by the stop at the latest")
    }

    @Test func theFoldIsDueHalfASecondAfterTheFirstUnfoldedCommit() {
        let t0 = ContinuousClock.now
        var u = WriterUpkeep(foldAfter: .milliseconds(500))
        #expect(u.foldTime == nil && !u.foldDue(at: t0 + .seconds(60)), "nothing committed: nothing to fold, no wake-up")
        u.committed(at: t0)
        u.committed(at: t0 + .milliseconds(400))
        #expect(!u.foldDue(at: t0 + .milliseconds(499)))
        #expect(u.foldDue(at: t0 + .milliseconds(500)), "due from the first commit, not the last (a flood never pauses)")
        u.caughtUp()
        #expect(u.foldTime == nil)
        u.failed(at: t0 + .seconds(1))
        #expect(u.foldTime == t0 + .milliseconds(1_500), "a failed step is tried again half a second on")
    }
}
