import Foundation
import HazmonCore

#if canImport(Glibc)
import Glibc
#endif

/// Events the journal could not take, with the alarm states they leave: one commit's worth.
public struct SpilledBatch: Sendable, Equatable {
    public var entries: [JournalEntry]
    public var states: [AlarmStateChange]

    public init(entries: [JournalEntry], states: [AlarmStateChange]) {
        self.entries = entries
        self.states = states
    }
}

/// The fallback file for events the journal could not commit (a full or failing disk): written
/// on another filesystem (by default the runtime directory), on every failed retry and at
/// shutdown, and committed into the journal at the next start. One JSON object per batch and
/// line, appended and fsync'd.
public struct JournalSpill: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// Where the spill file of `journalPath` lives in `directory`: named after the journal, so
    /// two daemons sharing a runtime directory do not share a spill file.
    public static func path(forJournal journalPath: String, in directory: String) -> String {
        let name = journalPath.split(separator: "/").last.map(String.init) ?? "journal.db"
        return directory + "/" + name + ".spill"
    }

    /// Appends batches and waits for the disk.
    public func append(_ batches: [SpilledBatch]) throws(JournalError) {
        guard !batches.isEmpty else { return }
        var data = Data()
        let encoder = JSONEncoder()
        do {
            for b in batches {
                data.append(try encoder.encode(Record(b)))
                data.append(0x0A)
            }
        } catch {
            throw JournalError("cannot encode spilled events: \(error)")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw JournalError("cannot open the spill file \(path): \(systemError())") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else {
            throw JournalError("cannot write the spill file \(path): \(systemError())")
        }
        syncDirectory(of: path)
    }

    /// Every batch in the file (none if there is no file). A last line cut short by a crash is
    /// skipped and reported in `torn`.
    public func read() throws(JournalError) -> (batches: [SpilledBatch], torn: Bool) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], false) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JournalError("cannot read the spill file \(path)")
        }
        var batches: [SpilledBatch] = []
        var torn = false
        let decoder = JSONDecoder()
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
        for (i, line) in lines.enumerated() {
            do {
                batches.append(try decoder.decode(Record.self, from: line).batch)
            } catch {
                guard i == lines.count - 1 else {
                    throw JournalError("the spill file \(path) is garbled at line \(i + 1): \(error)")
                }
                torn = true
            }
        }
        return (batches, torn)
    }

    /// Removes the file once its batches are committed.
    public func remove() {
        unlink(path)
        syncDirectory(of: path)
    }

    // The file format: plain fields, so a person can read it (and jq can) if it must be rescued by hand.
    struct Record: Codable {
        struct Event: Codable {
            var seq: UInt64, time_ns: Int64, tag: String, condition: String, event: String, grade: Int, json: String
        }
        struct State: Codable {
            var tag: String, slot: String
            var level: Int?, last_level: Int?, state: String?, latched: Bool?
            var since_ns: Int64?, shelved_until_ns: Int64?, acked_at_ns: Int64?
            var condition: String?, grade: Int?, name: String?, unit: String?, value: Double?
        }
        var events: [Event]
        var states: [State]

        init(_ b: SpilledBatch) {
            events = b.entries.map {
                Event(seq: $0.seq, time_ns: $0.time.nanoseconds, tag: $0.tag, condition: $0.condition, event: $0.event,
                      grade: $0.grade, json: $0.json)
            }
            states = b.states.map { c in
                guard let a = c.saved else { return State(tag: c.tag, slot: c.slot.rawValue) }
                return State(tag: c.tag, slot: c.slot.rawValue, level: a.level, last_level: a.lastLevel, state: a.state.rawValue,
                             latched: a.latched, since_ns: a.since?.nanoseconds, shelved_until_ns: a.shelvedUntil?.nanoseconds,
                             acked_at_ns: a.ackedAt?.nanoseconds, condition: a.condition.rawValue, grade: a.grade.rawValue,
                             name: a.name, unit: a.unit, value: a.value)
            }
        }

        var batch: SpilledBatch {
            get throws {
                let entries = events.map {
                    JournalEntry(seq: $0.seq, time: Instant(nanoseconds: $0.time_ns), tag: $0.tag, condition: $0.condition,
                                 event: $0.event, grade: $0.grade, json: $0.json)
                }
                let changes = try states.map { s throws -> AlarmStateChange in
                    guard let slot = AlarmSlot(rawValue: s.slot) else { throw JournalError("unknown alarm slot \"\(s.slot)\"") }
                    guard let level = s.level else { return AlarmStateChange(tag: s.tag, slot: slot, saved: nil) }
                    guard let st = s.state.flatMap(AlarmState.init(rawValue:)), let cond = s.condition.flatMap(Condition.init(rawValue:)),
                          let grade = s.grade.flatMap(Grade.init) else {
                        throw JournalError("an alarm state of \(s.tag) is incomplete")
                    }
                    let ns = { (v: Int64?) in v.map(Instant.init(nanoseconds:)) }
                    return AlarmStateChange(tag: s.tag, slot: slot, saved: SavedAlarm(
                        tag: s.tag, slot: slot, level: level, lastLevel: s.last_level ?? level, state: st, latched: s.latched ?? false,
                        since: ns(s.since_ns), shelvedUntil: ns(s.shelved_until_ns), ackedAt: ns(s.acked_at_ns), condition: cond,
                        grade: grade, name: s.name ?? s.tag, unit: s.unit ?? "", value: s.value))
                }
                return SpilledBatch(entries: entries, states: changes)
            }
        }
    }
}
