import Foundation
import GRDB
import HazmonCore

#if canImport(Glibc)
import Glibc
#endif

/// The journal as the daemon owns it: locked against a second daemon, checked at start, its
/// seq high-water mark kept outside the database file, and any spilled events committed.
public struct OwnedJournal: Sendable {
    public let journal: Journal
    public let lock: JournalLock
    public let highWater: SeqHighWater
    /// The id in the high-water file (the database's own).
    public let journalID: Int64
    /// The last seq ever handed out as far as anything durable knows: numbering continues after it.
    public let lastSeq: UInt64
    /// What opening found and did, for the log.
    public let notes: [String]

    static let recoverHint = "run `hazmon journal recover` with this configuration to set it aside and start a new journal "
        + "that continues its seq numbers (or restore it from a backup)"

    /// Opens the journal at `path` for the daemon. Refuses (throws) if another daemon holds it,
    /// if the file is damaged, or if it is empty, missing or another journal while its
    /// high-water file says it held events.
    public static func open(path: String, sync: JournalSync, spill: JournalSpill) throws(JournalError) -> OwnedJournal {
        let lock = try JournalLock(journalPath: path)
        let mark = try SeqHighWater.read(journalPath: path)
        var st = stat()
        let present = stat(path, &st) == 0 && st.st_size > 0
        if let mark, mark.seq > 0, !present {
            throw JournalError("the journal \(path) is missing or empty, but \(path).seq says it held events up to seq "
                + "\(mark.seq): it was deleted, truncated or replaced. Nothing was started; \(recoverHint)")
        }
        let journal: Journal
        let problem: String?
        do {
            journal = try Journal(path: path, sync: sync)
            problem = try journal.quickCheck()
        } catch {
            throw JournalError("\(error.description): the journal is damaged or unreadable. Nothing was started; \(recoverHint)")
        }
        if let problem {
            throw JournalError("the journal \(path) is damaged (\(problem)). Nothing was started; \(recoverHint)")
        }
        let id = try journal.journalID()
        if let mark, mark.journalID != id {
            throw JournalError("the journal \(path) is not the one \(path).seq belongs to (journal id \(id), expected "
                + "\(mark.journalID)); it was replaced. Nothing was started; \(recoverHint)")
        }
        var notes: [String] = []
        let (batches, torn) = try spill.read()
        if !batches.isEmpty {
            let done = try journal.importSpilled(batches)
            let seqs = batches.flatMap(\.entries).map(\.seq)
            notes.append("committed \(done.events) spilled events (seq \(seqs.min() ?? 0)...\(seqs.max() ?? 0)) from \(spill.path)")
        }
        if torn { notes.append("the last line of \(spill.path) was cut short by a crash and was skipped") }
        if !batches.isEmpty || torn { spill.remove() }
        let committed = try journal.lastSeq()
        var last = committed
        if let mark, mark.seq > committed {
            last = mark.seq
            notes.append("seq continues at \(last + 1): numbers \(committed + 1)...\(mark.seq) were reserved before an "
                + "unclean stop and are in no journal (none was journaled; any delivered were flagged unjournaled)")
        }
        let highWater = try SeqHighWater(journalPath: path, mark: .init(journalID: id, seq: last))
        return OwnedJournal(journal: journal, lock: lock, highWater: highWater, journalID: id, lastSeq: last, notes: notes)
    }

    /// `hazmon journal recover`: sets a damaged, emptied or replaced journal aside (renamed with
    /// a UTC time stamp, its WAL and shared-memory files with it) and starts a new one whose
    /// seq continues after the old high-water mark. A sound journal is left alone. Returns
    /// what it did, for a person.
    public static func recover(path: String) throws(JournalError) -> String {
        let lock = try JournalLock(journalPath: path)
        defer { withExtendedLifetime(lock) {} }
        let mark = (try? SeqHighWater.read(journalPath: path)) ?? nil
        var st = stat()
        let present = stat(path, &st) == 0
        var oldLast: UInt64 = 0
        if present, let reader = try? JournalReader(path: path) {
            oldLast = (try? reader.lastSeq()) ?? 0
            if let sound = try? reader.isSound(expectingID: mark?.journalID), sound {
                return "the journal \(path) is sound and belongs to \(path).seq; nothing to recover"
            }
        }
        var moved: [String] = []
        if present {
            let stamp = Instant.now.iso8601.replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
            let aside = "\(path).damaged-\(stamp)"
            for suffix in ["", "-wal", "-shm"] where access(path + suffix, F_OK) == 0 {
                guard rename(path + suffix, aside + suffix) == 0 else {
                    throw JournalError("cannot move \(path + suffix) aside to \(aside + suffix): \(systemError())")
                }
                moved.append(aside + suffix)
            }
            syncDirectory(of: path)
        }
        let continueAfter = max(oldLast, mark?.seq ?? 0)
        let journal = try Journal(path: path)
        try journal.raiseLastSeq(to: continueAfter)
        let id = try journal.journalID()
        _ = try SeqHighWater(journalPath: path, mark: .init(journalID: id, seq: continueAfter))
        var text = "started a new journal \(path) whose seq continues after \(continueAfter)"
        if !moved.isEmpty { text += "; the old one is kept as \(moved[0]) (for an investigation or `hazmon history --journal`)" }
        return text
    }
}

extension JournalReader {
    /// The highest seq the file knows (0 for an empty one).
    public func lastSeq() throws(JournalError) -> UInt64 {
        do {
            return try queue.read(Journal.lastSeq)
        } catch {
            throw JournalError(error, doing: "cannot read the journal's last seq")
        }
    }

    /// Whether the file passes `quick_check` and carries the id its high-water file expects.
    func isSound(expectingID id: Int64?) throws -> Bool {
        try queue.read { db in
            guard try String.fetchAll(db, sql: "PRAGMA quick_check(1)") == ["ok"] else { return false }
            guard let id else { return true }
            return try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'journal_id'") == id
        }
    }
}
