import HazmonPipeline
import Logging
import ServiceLifecycle
import Synchronization

/// The parts of the daemon that must be up before it tells systemd it is ready.
enum ReadinessPart: String, Sendable, CaseIterable {
    case journal, socket, engine, mqtt, modbus, remoteFeed = "remote_feed", console
}

/// What must be up before the daemon tells systemd it is ready.
public final class Readiness: Sendable {
    private let pending: Mutex<Set<ReadinessPart>>

    init(waitingFor parts: Set<ReadinessPart>) { pending = Mutex(parts) }

    func markReady(_ part: ReadinessPart) { _ = pending.withLock { $0.remove(part) } }
    var isReady: Bool { pending.withLock { $0.isEmpty } }
}

/// One watchdog period's decision: `WATCHDOG=1` only if the engine's timer ran since the last
/// period (its tick count moved). A stalled engine withholds it, and systemd restarts us.
struct WatchdogBeat {
    var lastTicks: Int
    mutating func beat(ticks: Int) -> Bool {
        defer { lastTicks = ticks }
        return ticks != lastTicks
    }
}

/// `READY=1` once the inputs, the engine and the alert socket are up; `WATCHDOG=1` at half of
/// `WATCHDOG_USEC`, only while the engine's timer keeps evaluating (a stalled engine lets
/// systemd restart the daemon); `STATUS=` with a summary; `STOPPING=1` on shutdown.
struct NotifyService: Service {
    let notifier: SystemdNotifier
    let readiness: Readiness
    let pipeline: AlarmPipeline
    let logger: Logger
    /// The engine timer's proof of life (the pipeline's tick count; a test can freeze it).
    var ticks: @Sendable () -> Int
    /// How the service waits between beats: `Task.sleep`, whose wake-up passes through Swift's
    /// global pool. A test whose neighbours block that pool passes a sleep that does not.
    var sleep: @Sendable (Duration) async throws -> Void

    init(notifier: SystemdNotifier, readiness: Readiness, pipeline: AlarmPipeline, logger: Logger,
         ticks: (@Sendable () -> Int)? = nil,
         sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.notifier = notifier
        self.readiness = readiness
        self.pipeline = pipeline
        self.logger = logger
        self.ticks = ticks ?? { [pipeline] in pipeline.ticks }
        self.sleep = sleep
    }

    func run() async throws {
        while !readiness.isReady, !Task.isCancelledOrShuttingDown {
            try? await sleep(.milliseconds(20))
        }
        guard !Task.isCancelledOrShuttingDown else { return }
        notifier.send("READY=1\nSTATUS=\(status())")
        logger.info("ready", metadata: ["systemd": "\(notifier.isActive)"])
        var watchdog = WatchdogBeat(lastTicks: ticks())
        let interval = notifier.watchdogInterval ?? .seconds(10)
        while !Task.isCancelledOrShuttingDown {
            // Sleep in slices of at most 100 ms, so STOPPING=1 never waits for the next beat. No
            // child tasks (cancelWhenGracefulShutdown makes two per beat): with them, the stalled-
            // engine test, which runs this loop on a thread of its own, saw no beat for 60 s in
            // the full suite; without them it passes.
            var slept = Duration.zero
            while slept < interval, !Task.isCancelledOrShuttingDown {
                let slice = min(interval - slept, .milliseconds(100))
                try? await sleep(slice)
                slept += slice
            }
            if Task.isCancelledOrShuttingDown { break }
            if watchdog.beat(ticks: ticks()) {
                if notifier.watchdogInterval != nil { notifier.send("WATCHDOG=1") }
            } else {
                logger.error("engine timer has not run for \(interval); withholding the watchdog")
            }
            notifier.send("STATUS=\(status())")
        }
        notifier.send("STOPPING=1\nSTATUS=stopping")
    }

    func status() -> String {
        let (_, alarms) = pipeline.snapshot()
        return "\(pipeline.tagCount) tags, \(alarms.count) alarms not normal, seq \(pipeline.lastSeq)"
    }
}
