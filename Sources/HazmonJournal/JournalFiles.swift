#if canImport(Glibc)
import Glibc
#endif

/// The error text of the last failed system call.
func systemError() -> String { String(cString: strerror(errno)) }

/// The directory a path is in (`.` for a bare name).
func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Makes a new or renamed directory entry survive a power cut.
func syncDirectory(of path: String) {
    let dir = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dir >= 0 { _ = fsync(dir); close(dir) }
}

/// `<journal>.lock`: held with `flock` for the daemon's whole life, so a second daemon on the
/// same journal is refused instead of writing into it. Readers (`history`, `trend`, `report`)
/// never take it. The lock goes with the process: a crash releases it.
public final class JournalLock: Sendable {
    let fd: Int32
    public let path: String

    /// Takes the lock or throws, naming the process that holds it.
    public init(journalPath: String) throws(JournalError) {
        path = journalPath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw JournalError("cannot open the journal's lock file \(path): \(systemError())") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let why = systemError()
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, buf.count, 0)
            close(fd)
            guard busy else { throw JournalError("cannot lock the journal \(journalPath) (\(path)): \(why)") }
            let pid = String(decoding: buf.prefix(max(0, n)), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "?"
            throw JournalError("the journal \(journalPath) is in use by another hazmon daemon (pid \(pid)): one daemon per journal. "
                + "hazmon history can read it alongside; give this configuration a [journal] path of its own")
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
        self.fd = fd
    }

    deinit { close(fd) }
}

/// `<journal>.seq`: the seq high-water mark and the id of the journal it belongs to, outside
/// the database file. Numbers are reserved here, durably, before the pipeline hands them out,
/// so a number is never used twice: not after a crash with events unjournaled, not after the
/// database file was lost. Also how a journal that was deleted, truncated or replaced is told
/// from a new one.
///
/// One fixed-size record, overwritten in place and fsync'd: an overwrite needs no new disk
/// blocks, so it succeeds on a full disk too.
public final class SeqHighWater: @unchecked Sendable {
    // @unchecked: `fd` is immutable; `write` is called by one thread at a time (the pipeline
    // under its lock, or start and stop).
    public struct Mark: Sendable, Equatable {
        public var journalID: Int64
        public var seq: UInt64
        public init(journalID: Int64, seq: UInt64) {
            self.journalID = journalID
            self.seq = seq
        }
    }

    let fd: Int32
    public let path: String

    /// The record: `hazmon-seq id=<20 digits> seq=<20 digits>\n`, always 60 bytes.
    static func encode(_ m: Mark) -> [UInt8] {
        func pad(_ s: String) -> String { String(repeating: "0", count: max(0, 20 - s.count)) + s }
        return Array("hazmon-seq id=\(pad(String(m.journalID))) seq=\(pad(String(m.seq)))\n".utf8)
    }

    static func decode(_ bytes: some Collection<UInt8>) -> Mark? {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 3, parts[0] == "hazmon-seq", parts[1].hasPrefix("id="), parts[2].hasPrefix("seq="),
              let id = Int64(parts[1].dropFirst(3)), let seq = UInt64(parts[2].dropFirst(4)) else { return nil }
        return Mark(journalID: id, seq: seq)
    }

    /// Reads the mark beside `journalPath` without opening it for writing: nil if there is none.
    /// A file that is there but unreadable or garbled is an error: the journal's history is in doubt.
    public static func read(journalPath: String) throws(JournalError) -> Mark? {
        let path = journalPath + ".seq"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw JournalError("cannot read the journal's high-water file \(path): \(systemError())")
        }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 128)
        let n = pread(fd, &buf, buf.count, 0)
        guard n > 0, let m = decode(buf.prefix(n)) else {
            throw JournalError("the journal's high-water file \(path) is garbled; it must read "
                + "\"hazmon-seq id=<journal id> seq=<last seq>\" (hazmon journal recover rewrites it)")
        }
        return m
    }

    /// Opens (creating if needed) the file and writes `mark` into it.
    public init(journalPath: String, mark: Mark) throws(JournalError) {
        path = journalPath + ".seq"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw JournalError("cannot open the journal's high-water file \(path): \(systemError())") }
        self.fd = fd
        try write(mark)
        // The file's directory entry must survive a power cut too.
        syncDirectory(of: path)
    }

    deinit { close(fd) }

    /// Overwrites the mark in place and waits for the disk.
    public func write(_ mark: Mark) throws(JournalError) {
        let bytes = Self.encode(mark)
        guard pwrite(fd, bytes, bytes.count, 0) == bytes.count, fdatasync(fd) == 0 else {
            throw JournalError("cannot write the seq high-water mark to \(path): \(systemError())")
        }
    }
}
