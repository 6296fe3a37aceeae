import Foundation
import GRDB
import HazmonCore
@testable import HazmonJournal
import Testing

/// The alarm states a commit carries ride in their events' rows (schema v5); the `alarm`
/// table catches up when they are folded in. What the daemon restores must be the same either
/// way, in every order a state can arrive in.
@Suite("Journal alarm states in event rows")
struct JournalAlarmStateTests {
    func event(_ seq: UInt64, _ tag: String, _ condition: Condition = .h, _ kind: String = "raised") -> JournalEntry {
        JournalEntry(seq: seq, time: Instant(seconds: 1_000 + Double(seq)), tag: tag, condition: condition.rawValue,
                     event: kind, grade: 3, json: #"{"seq":\#(seq)}"#)
    }

    func state(_ tag: String, level: Int = 1, state: AlarmState = .unack, name: String = "gas", value: Double? = 30.5) -> AlarmStateChange {
        AlarmStateChange(tag: tag, slot: .high, saved: SavedAlarm(
            tag: tag, slot: .high, level: level, lastLevel: level, state: state, latched: level == 2,
            since: Instant(seconds: 10), shelvedUntil: level == 2 ? Instant(seconds: 99) : nil, ackedAt: nil,
            condition: level == 2 ? .hh : .h, grade: level == 2 ? .orange : .yellow, name: name, unit: "%LEL \"wet\"", value: value))
    }

    /// The rows of the `alarm` table itself, read past the journal (no fold).
    func tableRows(_ path: String) throws -> [String] {
        try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT tag || '/' || state FROM alarm ORDER BY tag") }
    }

    @Test func aCommitWritesNoAlarmRowAndTheFoldMatchesTheStatesInOrder() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        let odd = "甲烷 \\ \"泄漏\"\n"
        try j.append([event(1, "GT-101"), event(2, "GT-102")], states: [state("GT-101"), state("GT-102", name: odd, value: nil)])
        try j.append([event(3, "GT-101", .hh), event(4, "GT-101", .hh, "acknowledged")],
                     states: [state("GT-101", level: 2, state: .acked, value: 0.1 + 0.2)])
        try j.append([event(5, "GT-102", .h, "cleared")], states: [AlarmStateChange(tag: "GT-102", slot: .high, saved: nil)])
        // Nothing in the alarm table yet: the commits wrote event rows only.
        #expect(try tableRows(d.file).isEmpty)
        let expected = [state("GT-101", level: 2, state: .acked, value: 0.1 + 0.2).saved!]
        #expect(try j.activeAlarms() == expected)
        #expect(try tableRows(d.file) == ["GT-101/acked"])
        // Folding again changes nothing; a reopened journal restores the same.
        try j.foldAlarmStates()
        #expect(try Journal(path: d.file).activeAlarms() == expected)
        // A name and unit that need escaping, and a missing value, come back as they were.
        try j.append([event(6, "GT-102")], states: [state("GT-102", name: odd, value: nil)])
        #expect(try j.activeAlarms().last == state("GT-102", name: odd, value: nil).saved)
    }

    /// `sync = full` must reach the connection that commits: GRDB's pool sets NORMAL on it
    /// after the journal's own setup, and for a while every commit went without an fsync.
    @Test(arguments: [JournalSync.full, .normal])
    func theSyncSettingReachesTheWritingConnection(_ sync: JournalSync) throws {
        let d = JournalDir()
        let j = try Journal(path: d.file, sync: sync)
        let level = try j.database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(level == (sync == .full ? 2 : 1))
    }

    /// A group commit joins batches, so one alarm can leave several states in one commit (raised
    /// in one batch, cleared in the next). The newest must win whatever the group's size: with
    /// more than 8 states the carriers were looked up through a table that kept one state per
    /// alarm, the older ones went straight into the `alarm` table after the fold, and it kept
    /// a stale state (GT-0 active though cleared, GT-1 forgotten though raised).
    @Test(arguments: [3, 12])
    func theNewestOfAnAlarmsStatesInOneCommitWins(_ others: Int) throws {
        let d = JournalDir()
        let j = try Journal(path: d.file, sync: .normal)
        let cleared = AlarmStateChange(tag: "GT-0", slot: .high, saved: nil)
        var events = [event(1, "GT-0"), event(2, "GT-1", .h, "cleared")]
        var states = [state("GT-0"), AlarmStateChange(tag: "GT-1", slot: .high, saved: nil)]
        for n in 0..<others {   // the rest of the group: other alarms, raised once
            events.append(event(UInt64(3 + n), "GT-X\(n)"))
            states.append(state("GT-X\(n)"))
        }
        let last = UInt64(3 + others)
        events += [event(last, "GT-0", .h, "cleared"), event(last + 1, "GT-1")]
        states += [cleared, state("GT-1", level: 2)]
        try j.append(events, states: states)
        let active = try j.activeAlarms()
        #expect(active.map(\.tag) == (["GT-1"] + (0..<others).map { "GT-X\($0)" }).sorted())
        #expect(active.first == state("GT-1", level: 2).saved)
        #expect(try tableRows(d.file).count == others + 1)
    }

    /// Every column of the `alarm` table, read past the journal (no fold).
    func fullTable(_ path: String) throws -> [[String]] {
        try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alarm ORDER BY tag, slot").map { r in r.columnNames.map { "\($0)=\(r[$0] as DatabaseValue)" } }
        }
    }

    /// The writer folds in pieces between commits (`Journal.foldPiece` seq numbers each): the
    /// table must end as one fold of everything leaves it, whatever the pieces and wherever
    /// they cut an alarm's run of states, with gaps in seq (numbers reserved before a crash).
    @Test(arguments: [1, 2, 7, 50] as [Int64])
    func foldingInPiecesLeavesTheTableAsOneFoldDoes(_ piece: Int64) throws {
        var rng = SplitMix64(seed: UInt64(piece))
        let whole = JournalDir(), pieces = JournalDir()
        let a = try Journal(path: whole.file, sync: .normal), b = try Journal(path: pieces.file, sync: .normal)
        var seq: UInt64 = 0
        for _ in 0..<60 {
            var events: [JournalEntry] = []
            var states: [AlarmStateChange] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                seq += UInt64.random(in: 1...3, using: &rng)
                let tag = "GT-\(Int.random(in: 1...6, using: &rng))"
                events.append(event(seq, tag))
                if !states.contains(where: { $0.tag == tag }) {
                    states.append(Bool.random(using: &rng) ? AlarmStateChange(tag: tag, slot: .high, saved: nil)
                                  : state(tag, level: Int.random(in: 1...2, using: &rng), value: Double(seq)))
                }
            }
            try a.append(events, states: states)
            try b.append(events, states: states)
            // Some folds happen while commits go on.
            if Int.random(in: 0..<5, using: &rng) == 0 { _ = try b.foldAlarmStates(piece: piece) }
        }
        try a.foldAlarmStates()
        var steps = 0
        while try b.foldAlarmStates(piece: piece) { steps += 1 }
        #expect(try !b.foldAlarmStates(piece: piece), "caught up: nothing left")
        #expect(piece >= 50 || steps > 0, "the pieces were smaller than the rows to fold")
        #expect(try fullTable(pieces.file) == fullTable(whole.file))
        #expect(try b.activeAlarms() == a.activeAlarms())
    }

    @Test func aBigBatchPutsEachStateOnItsAlarmsLastEvent() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        // 40 alarms (the table path, not the short scan), each with two events in the batch,
        // and one state per alarm: the state after both.
        let tags = (0..<40).map { "GT-\(100 + $0)" }
        let events = tags.enumerated().flatMap { i, t in [event(UInt64(2 * i + 1), t), event(UInt64(2 * i + 2), t, .hh)] }
        try j.append(events, states: tags.map { state($0, level: 2) })
        let carriers = try DatabaseQueue(path: d.file).read { db in
            try Int.fetchAll(db, sql: "SELECT seq FROM event WHERE alarm_slot IS NOT NULL ORDER BY seq")
        }
        #expect(carriers == (1...40).map { 2 * $0 })
        #expect(try j.activeAlarms() == tags.map { state($0, level: 2).saved! })
    }

    @Test func aSpilledStateCommittedAfterUnfoldedOnesWins() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        try j.append([event(1, "GT-101")], states: [state("GT-101")])
        // Events 2 and 3 were spilled while the journal failed; committed now, after event 1
        // whose state is still only in its row. The spilled (newer) state must win.
        try j.importSpilled([SpilledBatch(entries: [event(2, "GT-101", .hh), event(3, "GT-101", .hh, "acknowledged")],
                                          states: [state("GT-101", level: 2, state: .acked)])])
        #expect(try j.activeAlarms() == [state("GT-101", level: 2, state: .acked).saved!])
        // A state no event of its batch names goes straight to the table, after the older ones.
        try j.append([event(4, "GT-101", .hh, "cleared")], states: [state("GT-101", level: 2, state: .rtnUnack)])
        try j.append([event(5, "GT-101", .hh, "acknowledged")], states: [AlarmStateChange(tag: "GT-999", slot: .high, saved: state("GT-999").saved)])
        #expect(try j.activeAlarms() == [state("GT-101", level: 2, state: .rtnUnack).saved!, state("GT-999").saved!])
    }

    /// A spill file whose batches are older than commits already made (one written by hazmon
    /// before 2026-12-07, which imported the oldest batches of a long outage after the
    /// backlog's retry had committed newer ones). A spilled state older than a committed one must not overwrite it (folded or not), an
    /// alarm only the spill knows comes back, and no later fold puts an older state back.
    @Test(arguments: [true, false])
    func anOlderSpilledStateLosesToANewerCommittedOne(foldedFirst: Bool) throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        // The backlog's retry: GT-101 at HH, acknowledged (seq 11 and 12).
        try j.append([event(11, "GT-101", .hh), event(12, "GT-101", .hh, "acknowledged")],
                     states: [state("GT-101", level: 2, state: .acked)])
        if foldedFirst { try j.foldAlarmStates() }
        // From before, only in the spill file: GT-101 at H, GT-102 raised, GT-103 raised, then
        // cleared in the next batch; and GT-104's state with no event of its batch naming it.
        let done = try j.importSpilled([
            SpilledBatch(entries: [event(1, "GT-101"), event(2, "GT-102"), event(3, "GT-103")],
                         states: [state("GT-101"), state("GT-102"), state("GT-103")]),
            SpilledBatch(entries: [event(4, "GT-103", .h, "cleared")],
                         states: [AlarmStateChange(tag: "GT-103", slot: .high, saved: nil), state("GT-104", state: .acked)]),
        ])
        #expect(done.batches == 2 && done.events == 4)
        let expected = [state("GT-101", level: 2, state: .acked).saved!, state("GT-102").saved!, state("GT-104", state: .acked).saved!]
        #expect(try tableRows(d.file) == ["GT-101/acked", "GT-102/unack", "GT-104/acked"])
        #expect(try j.activeAlarms() == expected)
        #expect(try Journal(path: d.file).activeAlarms() == expected)
        // The commits after the import fold as before.
        try j.append([event(13, "GT-102", .h, "cleared")], states: [AlarmStateChange(tag: "GT-102", slot: .high, saved: nil)])
        #expect(try j.activeAlarms() == [expected[0], expected[2]])
    }

    /// Spilled rows newer than every commit (a spill imported at the next start): a spilled
    /// state no event of its batch names, newer than a spilled row of its alarm, stays in the
    /// table; the fold after the import does not put the row's older state back.
    @Test func aLaterFoldLeavesTheImportedStatesAlone() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        try j.append([event(1, "GT-101")], states: [state("GT-101")])
        try j.importSpilled([
            SpilledBatch(entries: [event(2, "GT-102")], states: [state("GT-102")]),
            SpilledBatch(entries: [event(3, "GT-101", .h, "acknowledged")],
                         states: [state("GT-101", state: .acked), state("GT-102", state: .acked)]),
        ])
        #expect(try j.activeAlarms() == [state("GT-101", state: .acked).saved!, state("GT-102", state: .acked).saved!])
    }

    @Test func pruningTheEventsKeepsTheStatesTheyCarried() throws {
        let d = JournalDir()
        let j = try Journal(path: d.file)
        try j.append([event(1, "GT-101"), event(2, "GT-102")], states: [state("GT-101"), state("GT-102")])
        #expect(try j.prune(before: Instant(seconds: 1_000_000)) == 2)
        #expect(try j.activeAlarms().map(\.tag) == ["GT-101", "GT-102"])
        #expect(try j.lastSeq() == 2)
    }

    @Test func aVersion4JournalKeepsItsAlarmsThroughTheMigration() throws {
        let d = JournalDir()
        do {
            let queue = try DatabaseQueue(path: d.file)
            try Journal.migrator.migrate(queue, upTo: "v4")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO event (seq, time_ns, tag, condition, event, grade, json) VALUES (7, 1, 'GT-101', 'h', 'raised', 3, '{}');
                    INSERT INTO alarm (tag, slot, level, last_level, state, latched, condition, grade, name, unit, value)
                    VALUES ('GT-101', 'high', 1, 1, 'unack', 0, 'h', 3, 'gas', '%LEL', 30.5);
                    """)
            }
        }
        let j = try Journal(path: d.file)
        #expect(try j.activeAlarms().map(\.tag) == ["GT-101"])
        try j.append([event(8, "GT-101", .h, "cleared")], states: [AlarmStateChange(tag: "GT-101", slot: .high, saved: nil)])
        #expect(try j.activeAlarms().isEmpty)
        #expect(try j.lastSeq() == 8)
    }
}
