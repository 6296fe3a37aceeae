import HazmonFeed
import NIOCore
import Synchronization

/// A browser's Server-Sent Events stream as a client of the console's feed hub: the hub
/// writes lines under its lock, in order; the response body takes them from this stream.
/// Each event is `id: SEQ` + `data: JSON`, so the browser's `Last-Event-ID` is the journal
/// cursor it resumes from; other lines (`bye`, `error`) go as named events.
final class EventStreamOutput: FeedOutput {
    struct Chunk: Sendable {
        var bytes: ByteBuffer
        var taken: (@Sendable () -> Void)?
    }

    struct State {
        var pending: [Chunk] = []
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let state = Mutex(State())
    /// The browser's connection: closed a second after the stream ends, in case its writer is
    /// stuck behind a browser that stopped reading (a reading one has finished by then).
    let channel: (any Channel)?

    init(channel: (any Channel)? = nil) { self.channel = channel }

    func write(_ batch: FeedBatch, taken: @escaping @Sendable () -> Void) {
        enqueue(Chunk(bytes: batch.bytes(for: EventStreamOutput.self) { ByteBuffer(string: Self.frame($0)) }, taken: taken))
    }

    /// Queues a chunk and wakes the response's writer; false if the stream has ended.
    @discardableResult
    private func enqueue(_ chunk: Chunk) -> Bool {
        let (accepted, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !s.closed else { return (false, nil) }
            s.pending.append(chunk)
            let w = s.waiter
            s.waiter = nil
            return (true, w)
        }
        waiter?.resume()
        if !accepted { chunk.taken?() }
        return accepted
    }

    func writeAndWait(_ batch: FeedBatch) async throws {
        let bytes = ByteBuffer(string: Self.frame(batch.lines))
        // `taken` runs exactly once: when written, when dropped, or at once if the stream ended.
        await withCheckedContinuation { done in enqueue(Chunk(bytes: bytes, taken: { done.resume() })) }
        if state.withLock({ $0.closed }) { throw CancellationError() }
    }

    func close() {
        let (waiter, first) = state.withLock { s -> (CheckedContinuation<Void, Never>?, Bool) in
            let first = !s.closed
            s.closed = true
            let w = s.waiter
            s.waiter = nil
            return (w, first)
        }
        waiter?.resume()
        if first, let channel {
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }

    /// Everything queued since the last call, as one write (a writer behind the events catches
    /// up in one syscall instead of one per batch); nil once the stream is closed and drained.
    func next() async -> [Chunk]? {
        while true {
            let taken = state.withLock { s -> [Chunk]?? in
                if !s.pending.isEmpty {
                    let out = s.pending
                    s.pending.removeAll(keepingCapacity: true)
                    return .some(out)
                }
                return s.closed ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if !s.pending.isEmpty || s.closed { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        }
    }

    /// Ends the stream and releases what it still held (the browser is gone).
    func drop() {
        close()
        let rest = state.withLock { s -> [Chunk] in
            let out = s.pending
            s.pending.removeAll()
            return out
        }
        for c in rest { c.taken?() }
    }

    /// A comment line: keeps proxies from timing the stream out and finds a gone browser.
    func keepAlive() { enqueue(Chunk(bytes: ByteBuffer(string: ": keep-alive\n\n"), taken: nil)) }

    /// SSE framing of feed lines.
    static func frame(_ lines: [String]) -> String {
        var out = ""
        out.reserveCapacity(lines.reduce(0) { $0 + $1.utf8.count + 24 })
        for line in lines {
            if let seq = eventSeq(line) {
                out += "id: \(seq)\ndata: \(line)\n\n"
            } else {
                out += "event: \(lineType(line) ?? "message")\ndata: \(line)\n\n"
            }
        }
        return out
    }

    /// The seq of an event line (`{"type":"event","v":1,"seq":N,...`, as the journal writes
    /// every event), or nil for any other line.
    static func eventSeq(_ line: String) -> UInt64? {
        let prefix = #"{"type":"event","v":1,"seq":"#
        guard line.utf8.starts(with: prefix.utf8) else { return nil }
        var n: UInt64 = 0
        var digits = 0
        for b in line.utf8.dropFirst(prefix.utf8.count) {
            guard b >= 48, b <= 57 else { break }
            n = n &* 10 &+ UInt64(b - 48)
            digits += 1
        }
        return digits > 0 ? n : nil
    }

    /// The `type` of a reply line such as `{"type":"bye",...}`.
    static func lineType(_ line: String) -> String? {
        let prefix = #"{"type":""#
        guard line.hasPrefix(prefix) else { return nil }
        let rest = line.dropFirst(prefix.count)
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        let t = rest[..<end]
        return t.allSatisfy { $0.isLetter || $0 == "_" } ? String(t) : nil
    }
}
