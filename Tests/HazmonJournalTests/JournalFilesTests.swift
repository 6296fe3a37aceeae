import Foundation
import HazmonCore
@testable import HazmonJournal
import Testing

@Suite("Journal files: lock, high-water mark, spill, opening")
struct JournalFilesTests {
    @Test func theHighWaterRecordRoundTripsAtAFixedSize() throws {
        for mark in [SeqHighWater.Mark(journalID: 1, seq: 0), .init(journalID: .max, seq: .max), .init(journalID: 42, seq: 1_001)] {
            let bytes = SeqHighWater.encode(mark)
            #expect(bytes.count == 60, "overwritten in place, so always the same size")
            #expect(SeqHighWater.decode(bytes) == mark)
        }
        #expect(SeqHighWater.decode(Array("hazmon-seq id=1 seq=x\n".utf8)) == nil)
        let d = JournalDir()
        try "garbage".write(toFile: d.file + ".seq", atomically: true, encoding: .utf8)
        #expect(throws: JournalError.self) { try SeqHighWater.read(journalPath: d.file) }
    }

    @Test func oneLockHolderAtATime() throws {
        let d = JournalDir()
        var first: JournalLock? = try JournalLock(journalPath: d.file)
        #expect(first != nil)
        do {
            _ = try JournalLock(journalPath: d.file)
            Issue.record("a second lock was granted")
        } catch {
            #expect(error.description.contains("is in use by another hazmon daemon (pid \(getpid()))"))
        }
        first = nil
        #expect(throws: Never.self) { _ = try JournalLock(journalPath: d.file) }
    }

    @Test func spilledBatchesRoundTripAndATornTailIsSkipped() throws {
        let d = JournalDir()
        let spill = JournalSpill(path: d.path + "/journal.db.spill")
        #expect(try spill.read().batches.isEmpty)
        let a = SpilledBatch(entries: [entry(1), entry(2)], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: saved("GT-101"))])
        let b = SpilledBatch(entries: [entry(3)], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: nil)])
        try spill.append([a])
        try spill.append([b])
        #expect(try spill.read().batches == [a, b])
        let h = FileHandle(forWritingAtPath: spill.path)!
        h.seekToEndOfFile()
        h.write(Data(#"{"events":[{"seq":4,"#.utf8))
        h.closeFile()
        let (batches, torn) = try spill.read()
        #expect(batches == [a, b] && torn)
    }

    @Test func importSkipsBatchesAlreadyCommitted() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        let committed = SpilledBatch(entries: [entry(1)], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: nil)])
        try j.append(committed.entries, states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: saved("GT-101"))])
        let fresh = SpilledBatch(entries: [entry(2), entry(3)], states: [AlarmStateChange(tag: "GT-102", slot: .high, saved: saved("GT-102"))])
        let done = try j.importSpilled([committed, fresh])
        #expect(done.batches == 1 && done.events == 2)
        #expect(try j.lastSeq() == 3)
        // The committed batch's (older) state did not overwrite the journal's.
        #expect(try j.activeAlarms().map(\.tag) == ["GT-101", "GT-102"])
    }

    /// A spill file can hold a batch twice (hazmon wrote such files before 2026-12-07, when its
    /// writer's backlog could fall out of seq order): the import takes it once, and does not
    /// fail the start on the second copy's seq.
    @Test func importTakesABatchTheSpillFileHoldsTwiceOnce() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        try j.append([entry(1)], states: [])
        let twice = SpilledBatch(entries: [entry(2), entry(3)], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: saved("GT-101"))])
        let done = try j.importSpilled([twice, twice, SpilledBatch(entries: [entry(4)], states: [])])
        #expect(done.batches == 2 && done.events == 3)
        #expect(try j.lastSeq() == 4)
        #expect(try j.activeAlarms().map(\.tag) == ["GT-101"])
    }

    @Test func openingContinuesAfterTheMarkAndRefusesAnotherJournal() throws {
        let d = JournalDir()
        let spill = JournalSpill(path: d.path + "/journal.db.spill")
        var owned: OwnedJournal? = try OwnedJournal.open(path: d.file, sync: .normal, spill: spill)
        try owned!.journal.append([entry(1), entry(2)], states: [])
        // Numbers reserved through 1000, then a crash: the next opening continues after them.
        try owned!.highWater.write(.init(journalID: owned!.journalID, seq: 1_000))
        owned = nil
        owned = try OwnedJournal.open(path: d.file, sync: .normal, spill: spill)
        #expect(owned!.lastSeq == 1_000)
        #expect(owned!.notes.contains { $0.contains("seq continues at 1001") })
        owned = nil
        // Another journal put in its place.
        let other = JournalDir()
        _ = try Journal(path: other.file)
        for suffix in ["", "-wal", "-shm"] { unlink(d.file + suffix) }
        try FileManager.default.copyItem(atPath: other.file, toPath: d.file)
        do {
            _ = try OwnedJournal.open(path: d.file, sync: .normal, spill: spill)
            Issue.record("a replaced journal was accepted")
        } catch {
            #expect(error.description.contains("is not the one \(d.file).seq belongs to"))
        }
    }
}
