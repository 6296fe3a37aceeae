import Foundation
import HazmonCore
import HazmonJournal
import HazmonPipeline
import Logging
import Synchronization
import Testing

/// A receiver that confirms slowly and remembers what it got.
final class SlowReceiver: CursorDelivery {
    let got = Mutex<[UInt64]>([])
    let failFirst = Atomic<Int>(0)
    let pause: Duration
    init(pause: Duration, failFirst: Int = 0) {
        self.pause = pause
        self.failFirst.store(failFirst, ordering: .relaxed)
    }
    func deliver(_ events: [JournalEntry]) async throws {
        if failFirst.load(ordering: .relaxed) > 0 {
            failFirst.wrappingSubtract(1, ordering: .relaxed)
            throw ReceiverDown()
        }
        got.withLock { $0 += events.map(\.seq) }
        try await Task.sleep(for: pause)   // confirms only after this
    }
    struct ReceiverDown: Error {}
}

func journalEntry(_ seq: UInt64) -> JournalEntry {
    JournalEntry(seq: seq, time: Instant(seconds: 1), tag: "GT-101", condition: "h", event: "raised", grade: 3, json: #"{"seq":\#(seq)}"#)
}

let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// Runs tasks on a serial dispatch queue of its own: the consumer under test must not wait for
/// Swift's cooperative pool, which the suite's other (blocking) tests may be holding.
final class OwnQueueExecutor: TaskExecutor, @unchecked Sendable {
    let queue = DispatchQueue(label: "hazmon-cursor-test")
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

@Suite("Durable cursor consumer", .serialized)
struct CursorConsumerTests {
    let executor = OwnQueueExecutor()

    func waitUntil(_ seconds: Double, _ ok: () -> Bool) async {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !ok() { usleep(10_000) }
    }

    /// Stopped in the middle of a slow delivery (as a crash would stop it), a new consumer on
    /// the same journal offers every event after the stored cursor exactly once, in order.
    @Test func resumesAfterItsCursorExactlyOnce() async throws {
        let dir = NSTemporaryDirectory() + "hazmon-cursor-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(path: dir + "/journal.db")
        try journal.append([journalEntry(1), journalEntry(2)], states: [])
        try journal.advanceCursor("test-out", to: 2)   // confirmed through 2 earlier
        try journal.append((3...60).map(journalEntry), states: [])

        let first = SlowReceiver(pause: .milliseconds(100))
        let c1 = CursorConsumer(name: "test-out", journal: journal, delivery: first, batchSize: 10, logger: quiet)
        let t1 = Task(executorPreference: executor) { await c1.run() }
        await waitUntil(30) { c1.confirmedThrough >= 22 }
        t1.cancel()                                       // mid-way through the next batch
        await t1.value
        let confirmed = try #require(try journal.cursor("test-out"))
        #expect(confirmed >= 22 && confirmed < 60, "stopped mid-stream at \(confirmed)")

        let second = SlowReceiver(pause: .milliseconds(1))
        let c2 = CursorConsumer(name: "test-out", journal: journal, delivery: second, batchSize: 10, logger: quiet)
        let t2 = Task(executorPreference: executor) { await c2.run() }
        await waitUntil(30) { c2.confirmedThrough == 60 }
        t2.cancel()
        await t2.value
        let got = second.got.withLock { $0 }
        #expect(got == Array((confirmed + 1)...60), "every event after the cursor, once, in order")
        #expect(first.got.withLock { $0 }.first == 3, "the first consumer started after its cursor")
    }

    /// A receiver that is down is offered the same events again after a back-off; a new
    /// consumer starts at the journal's end.
    @Test func failuresAreRetriedAndANewCursorStartsAtTheEnd() async throws {
        let dir = NSTemporaryDirectory() + "hazmon-cursor-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(path: dir + "/journal.db")
        try journal.append((1...5).map(journalEntry), states: [])
        let r = SlowReceiver(pause: .milliseconds(1), failFirst: 1)
        let c = CursorConsumer(name: "fresh", journal: journal, delivery: r, logger: quiet)
        let t = Task(executorPreference: executor) { await c.run() }
        await waitUntil(30) { (try? journal.cursor("fresh")) != nil }
        #expect(try journal.cursor("fresh") == 5, "history before the consumer existed is not replayed")
        try journal.append((6...8).map(journalEntry), states: [])
        c.wake()
        await waitUntil(30) { c.confirmedThrough == 8 }
        t.cancel()
        await t.value
        #expect(r.got.withLock { $0 } == [6, 7, 8], "offered again after the failure, once delivered")
    }
}
