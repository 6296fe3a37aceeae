import HazmonCore
import Logging
import Synchronization

/// Logs a recurring problem at most once per interval per key, with how many were held back,
/// so a gateway spewing garbage, a failing disk or a crowd of refused clients cannot flood the
/// log. Intervals run on the monotonic clock.
public final class RateLimitedLog: Sendable {
    private struct Entry { var last: ContinuousClock.Instant; var suppressed: Int }
    private let entries = Mutex([String: Entry]())
    private let interval: Duration
    private let logger: Logger

    static let maxKeys = 1_000

    public init(logger: Logger, interval: Duration = .seconds(10)) {
        self.logger = logger
        self.interval = interval
    }

    public func warning(key: String, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata = [:]) {
        log(.warning, key: key, message(), metadata: metadata)
    }

    public func log(_ level: Logger.Level, key: String, _ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata = [:]) {
        let now = ContinuousClock.now
        let held: Int? = entries.withLock { e in
            // Keys carry topics, and a wildcard subscription admits endless topics: forget the
            // quiet ones before the table grows past a bound.
            if e.count >= Self.maxKeys {
                e = e.filter { now - $0.value.last < interval }
                if e.count >= Self.maxKeys { e.removeAll() }
            }
            if var entry = e[key], now - entry.last < interval {
                entry.suppressed += 1
                e[key] = entry
                return nil
            }
            let held = e[key]?.suppressed ?? 0
            e[key] = Entry(last: now, suppressed: 0)
            return held
        }
        guard let held else { return }
        var m = metadata
        if held > 0 { m["suppressed_since_last"] = "\(held)" }
        logger.log(level: level, message(), metadata: m)
    }
}
