import Foundation
import HazmonCore
import HazmonPipeline
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

/// Sleeps on a thread of its own and resumes the caller from there: unlike `Task.sleep`, whose
/// wake-up is a job on Swift's global pool, this wakes a task with an executor preference even
/// while every thread of that pool is held by the suite's blocking tests (seen in CI: no beat at
/// all in 60 s).
@Sendable func sleepOffThePool(_ d: Duration) async throws {
    let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    await offThePool { Thread.sleep(forTimeInterval: seconds) }
}

/// Runs tasks on a thread of its own. Not a DispatchQueue: a plain serial queue runs on
/// dispatch's global worker threads, as wide as the cores, and the suite's blocking tests can
/// hold every one of them, as they can Swift's cooperative pool (seen in CI: a service task
/// that did not run for 60 s).
final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is only touched under `lock`.
    private let lock = NSCondition()
    private var jobs: [UnownedJob] = []

    init() {
        // The thread serves this executor for the rest of the process (a test's lifetime).
        Thread { [self] in run() }.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.lock()
        jobs.append(job)
        lock.signal()
        lock.unlock()
    }

    private func run() {
        while true {
            lock.lock()
            while jobs.isEmpty { lock.wait() }
            let job = jobs.removeFirst()
            lock.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

@Suite("systemd watchdog withheld while the engine stalls")
struct WatchdogTests {
    @Test func aPeriodWithoutTicksWithholdsTheWatchdog() {
        var w = WatchdogBeat(lastTicks: 10)
        let beats = [10, 10, 14, 15, 15].map { w.beat(ticks: $0) }
        #expect(beats == [false, false, true, true, false], "stalled: none; running: one per period; stalled again: none")
    }

    /// The notify service against a fake NOTIFY_SOCKET with the engine's tick count frozen:
    /// READY=1, but no WATCHDOG=1; once the ticks move again, WATCHDOG=1 comes back.
    @Test func noWatchdogWhileTheEngineStalls() async throws {
        // The whole test on an executor of its own (see ThreadTaskExecutor).
        try await withTaskExecutorPreference(ThreadTaskExecutor()) { try await body() }
    }

    func body() async throws {
        let dir = try TempDir(prefix: "hazmon-watchdog")
        defer { dir.remove() }
        let notify = try FakeNotifySocket(path: dir.path + "/notify.sock")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])
        let pipeline = AlarmPipeline(engine: Engine(site: "t", tags: []), lastSeq: 0, outlet: DroppingOutlet())
        let ticks = Atomic<Int>(0)
        let running = Atomic<Bool>(false)
        let service = NotifyService(notifier: notifier, readiness: Readiness(waitingFor: []), pipeline: pipeline,
                                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                    ticks: { ticks.load(ordering: .relaxed) }, sleep: sleepOffThePool)
        let executor = ThreadTaskExecutor()
        let task = Task(executorPreference: executor) { try await service.run() }
        // Stalled for a second (ten watchdog periods): READY, nothing else.
        let stalled = await offThePool { notify.collect(for: 1.0) }
        #expect(stalled.contains { $0.hasPrefix("READY=1") })
        #expect(!stalled.contains("WATCHDOG=1"), "\(stalled)")
        // The engine runs again: the watchdog follows.
        running.store(true, ordering: .relaxed)
        Thread {
            while running.load(ordering: .relaxed) {
                ticks.wrappingAdd(1, ordering: .relaxed)
                usleep(20_000)
            }
        }.start()
        // Generous: the service and this test never wait for the cooperative pool (their own
        // executor, a thread-based sleep), but a 2-core host running the suite is slow. That the
        // beats come back at all is the point (none came while stalled, so any beat now is the
        // engine's); one per period is the unit test's above.
        let alive = await offThePool { notify.collect(for: 60) { $0.contains("WATCHDOG=1") } }
        running.store(false, ordering: .relaxed)
        task.cancel()
        _ = try? await task.value
        #expect(alive.contains("WATCHDOG=1"), "\(alive)")
    }
}
