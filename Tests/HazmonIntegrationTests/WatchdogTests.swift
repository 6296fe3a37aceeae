import Foundation
import HazmonCore
@testable import HazmonDaemon
import HazmonJournal
import Logging
import Synchronization
import Testing

/// Drops events: the watchdog logic needs a pipeline, not a journal.
struct DroppingOutlet: EventOutlet {
    func submit(_ events: [AlarmEvent], json: [String], states: [AlarmStateChange]) {}
}

/// Runs a blocking call on a thread of its own, so the cooperative pool stays free for the
/// service under test.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { done in
        Thread { done.resume(returning: body()) }.start()
    }
}

extension FakeNotifySocket: @unchecked Sendable {}

@Suite("systemd watchdog withheld while the engine stalls")
struct WatchdogTests {
    /// The notify service against a fake NOTIFY_SOCKET with the engine's tick count frozen:
    /// READY=1, but no WATCHDOG=1; once the ticks move again, WATCHDOG=1 comes back.
    @Test func noWatchdogWhileTheEngineStalls() async throws {
        let dir = try TempDir(prefix: "hazmon-watchdog")
        defer { dir.remove() }
        let notify = try FakeNotifySocket(path: dir.path + "/notify.sock")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])
        let pipeline = AlarmPipeline(engine: Engine(site: "t", tags: []), lastSeq: 0, outlet: DroppingOutlet())
        let ticks = Atomic<Int>(0)
        let running = Atomic<Bool>(false)
        let service = NotifyService(notifier: notifier, readiness: Readiness(waitingFor: []), pipeline: pipeline,
                                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                    ticks: { ticks.load(ordering: .relaxed) })
        let task = Task { try await service.run() }
        // Stalled for a second (ten watchdog periods): READY, nothing else.
        let stalled = await offThePool { notify.collect(for: 1.0) }
        #expect(stalled.contains { $0.hasPrefix("READY=1") })
        #expect(!stalled.contains("WATCHDOG=1"), "\(stalled)")
        // The engine runs again: the watchdog follows.
        running.store(true, ordering: .relaxed)
        let ticker = Task {
            while running.load(ordering: .relaxed) {
                ticks.wrappingAdd(1, ordering: .relaxed)
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let alive = await offThePool { notify.collect(for: 2.0) { $0.filter { $0 == "WATCHDOG=1" }.count >= 3 } }
        running.store(false, ordering: .relaxed)
        task.cancel()
        _ = try? await ticker.value
        _ = try? await task.value
        #expect(alive.filter { $0 == "WATCHDOG=1" }.count >= 3, "\(alive)")
    }
}
