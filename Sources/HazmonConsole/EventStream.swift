import HazmonFeed
import NIOCore

/// A browser's Server-Sent Events stream as a client of the console's feed hub: the hub
/// writes lines under its lock, in order; the response body takes them from this stream.
/// Each event is `id: SEQ` + `data: JSON`, so the browser's `Last-Event-ID` is the journal
/// cursor it resumes from; other lines (`bye`, `error`) go as named events.
final class EventStreamOutput: FeedOutput {
    struct Chunk: Sendable {
        var text: String
        var taken: (@Sendable () -> Void)?
    }

    let stream: AsyncStream<Chunk>
    private let continuation: AsyncStream<Chunk>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Chunk.self)
    }

    func write(_ lines: [String], taken: @escaping @Sendable () -> Void) {
        if case .terminated = continuation.yield(Chunk(text: Self.frame(lines), taken: taken)) { taken() }
    }

    func writeAndWait(_ lines: [String]) async throws {
        let text = Self.frame(lines)
        let gone: Bool = await withCheckedContinuation { done in
            if case .terminated = continuation.yield(Chunk(text: text, taken: { done.resume(returning: false) })) {
                done.resume(returning: true)
            }
        }
        if gone { throw CancellationError() }
    }

    func close() { continuation.finish() }

    /// A comment line: keeps proxies from timing the stream out and finds a gone browser.
    func keepAlive() { continuation.yield(Chunk(text: ": keep-alive\n\n", taken: nil)) }

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
