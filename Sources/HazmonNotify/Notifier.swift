import AsyncHTTPClient
import Foundation
import HazmonCore
import HazmonJournal
import HazmonPipeline
import Logging
import Metrics
import NIOPosix
import Synchronization

/// Tells people on call (spec §9): plans messages from the journal into the outbox, and sends
/// each channel's in order, one loop per channel so one that is down holds up no other. A
/// failure is retried with backoff (1 s doubling to 5 min) until the channel takes it; a
/// channel that has taken nothing for its `down_after` raises its `comm` alarm through
/// `onHealth`, and the next message it takes clears it.
public final class Notifier: Sendable {
    let store: NotifyStore
    let channels: [NotifyChannel]
    let text: NotifyText
    let logger: Logger
    let pool: NIOThreadPool
    let client: HTTPClient
    let onHealth: @Sendable (_ channel: String, _ up: Bool, _ reason: String?) -> Void
    /// Collected flood messages wait at least this long for company before their digest.
    let gather: Duration
    let wakes: [String: WakeSignal]
    let clock: @Sendable () -> Instant

    public init(store: NotifyStore, channels: [NotifyChannel], text: NotifyText, logger: Logger, pool: NIOThreadPool = .singleton,
                gather: Duration = .seconds(10), clock: @escaping @Sendable () -> Instant = { .now },
                onHealth: @escaping @Sendable (String, Bool, String?) -> Void) {
        self.store = store
        self.channels = channels
        self.text = text
        self.logger = logger
        self.pool = pool
        self.gather = gather
        self.clock = clock
        self.onHealth = onHealth
        var config = HTTPClient.Configuration(redirectConfiguration: .disallow)
        config.timeout = .init(connect: .seconds(10), read: .seconds(120))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        wakes = Dictionary(channels.map { ($0.settings.id, WakeSignal()) }, uniquingKeysWith: { a, _ in a })
    }

    /// New events were committed: plan and send now rather than at the next look.
    public func wake() { for w in wakes.values { w.fire() } }

    /// Plans and sends until the task is cancelled; what is not sent waits in the outbox.
    public func run() async {
        let known = Set(channels.map(\.settings.id))
        if let n = try? await pool.runIfActive({ try self.store.cancelUnknownChannels(known) }), n > 0 {
            logger.warning("notify: \(n) waiting messages were for channels no longer configured; they will not go out")
        }
        await withTaskGroup(of: Void.self) { group in
            for c in channels { group.addTask { await self.runChannel(c) } }
            group.addTask { await self.housekeeping() }
        }
        try? await client.shutdown()
    }

    struct Health {
        var failingSince: ContinuousClock.Instant?
        var down = false
        var tookOnce = false
    }

    func runChannel(_ c: NotifyChannel) async {
        let id = c.settings.id
        var health = Health()
        var backoff: Duration = .seconds(1)
        let wake = wakes[id]!
        let sent = Counter(label: "hazmon_notify_sent_total", dimensions: [("channel", id)])
        let failed = Counter(label: "hazmon_notify_failures_total", dimensions: [("channel", id)])
        while !Task.isCancelled {
            do {
                let now = clock()
                let store = store, gather = gather
                let message = try await pool.runIfActive { () -> NotifyMessage? in
                    try store.plan()
                    try store.makeDigests(channel: id, now: now, gather: gather)
                    return try store.next(channel: id, now: now)
                }
                guard let m = message else {
                    let due = try await pool.runIfActive { try store.wakeAt(channel: id, gather: gather) }
                    let wait = Duration.nanoseconds(max(0, min((due?.nanoseconds ?? .max) &- clock().nanoseconds, 1_000_000_000)))
                    _ = await wake.wait(upTo: max(wait, .milliseconds(20)))
                    continue
                }
                if m.step > 0 {
                    // An acknowledgement committed a moment ago may not be planned yet: plan once
                    // more, and send the later step only if it still stands.
                    let still = try await pool.runIfActive { () -> Bool in
                        try store.plan()
                        return try store.next(channel: id, now: now)?.id == m.id
                    }
                    if !still { continue }
                }
                let rendered = text.render(m)
                do {
                    try await c.send(m, rendered, client: client, now: clock())
                } catch {
                    failed.increment()
                    let reason = "\(error)"
                    if health.failingSince == nil { health.failingSince = .now }
                    try await pool.runIfActive { try store.markFailed(m.id, error: reason) }
                    logger.warning("notify \(id): \(m.kind.rawValue) \(m.key) not taken: \(reason); again in \(DurationParser.format(backoff))",
                                   metadata: ["channel": "\(id)", "attempts": "\(m.attempts + 1)"])
                    if !health.down, let since = health.failingSince, ContinuousClock.now - since >= c.settings.downAfter {
                        health.down = true
                        logger.error("notify \(id): the channel has taken nothing for \(DurationParser.format(c.settings.downAfter)): \(reason)")
                        onHealth(id, false, reason)
                    }
                    try await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(300))
                    continue
                }
                try await pool.runIfActive { try store.markSent(m.id, at: self.clock()) }
                sent.increment()
                logger.info("notify \(id): \(m.kind.rawValue) sent: \(rendered.title)", metadata: ["channel": "\(id)", "key": "\(m.key)"])
                backoff = .seconds(1)
                health.failingSince = nil
                if health.down || !health.tookOnce {
                    if health.down { logger.notice("notify \(id): the channel takes messages again") }
                    onHealth(id, true, nil)
                }
                health.down = false
                health.tookOnce = true
            } catch is CancellationError {
                return
            } catch {
                logger.error("notify \(id): \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The backlog gauge, and finished messages forgotten after 30 days.
    func housekeeping() async {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        var gauges: [String: Gauge] = [:]
        for c in channels { gauges[c.settings.id] = Gauge(label: "hazmon_notify_backlog", dimensions: [("channel", c.settings.id)]) }
        while !Task.isCancelled {
            let store = store
            if let b = try? await pool.runIfActive({ try store.backlog() }) {
                for (id, g) in gauges { g.record(b[id] ?? 0) }
            }
            if ContinuousClock.now - lastPrune >= .seconds(3600) {
                lastPrune = .now
                let cutoff = Instant(nanoseconds: clock().nanoseconds &- 30 * 86_400 * 1_000_000_000)
                _ = try? await pool.runIfActive { try store.prune(before: cutoff) }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
