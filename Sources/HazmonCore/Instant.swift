#if canImport(Glibc)
import Glibc
#endif

/// A point in wall-clock time: nanoseconds since the Unix epoch, UTC.
///
/// The engine never reads a clock itself; every caller passes the time in, so tests are
/// deterministic and a replay gives the same events.
public struct Instant: Sendable, Hashable, Comparable {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Double) { self.nanoseconds = Int64((seconds * 1e9).rounded()) }

    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static let distantPast = Instant(nanoseconds: .min)
    public static let distantFuture = Instant(nanoseconds: .max)

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds + rhs.nanosecondsClamped)
    }

    public static func - (lhs: Instant, rhs: Instant) -> Duration {
        .nanoseconds(lhs.nanoseconds - rhs.nanoseconds)
    }
}

extension Instant {
    /// The wall clock now: for times people and platforms read (event `time`, a journal
    /// query). Never for measuring a duration: NTP can step it back or forward.
    public static var now: Instant { Instant(nanoseconds: clockNanoseconds(CLOCK_REALTIME)) }

    /// Engine time now: the wall clock as it read when the process first asked, advanced since
    /// by CLOCK_BOOTTIME, which never steps (and keeps counting through a suspend). Every
    /// duration the engine measures (delays, stale data, shelf expiry, re-alarm, chatter,
    /// flood, rate and trend windows) is a difference of these, so a step of the wall clock
    /// changes none of them. The pipeline turns engine times into wall times for what leaves it.
    public static var steadyNow: Instant {
        Instant(nanoseconds: steadyAnchor.wall + (clockNanoseconds(CLOCK_BOOTTIME) - steadyAnchor.boot))
    }

    /// Wall time minus engine time now: what to add to an engine time to show it to a person.
    public static var wallOffset: Duration { .nanoseconds(now.nanoseconds - steadyNow.nanoseconds) }
}

/// Where engine time started (a global: initialised once, on first use, thread-safely).
private let steadyAnchor = (wall: clockNanoseconds(CLOCK_REALTIME), boot: clockNanoseconds(CLOCK_BOOTTIME))

private func clockNanoseconds(_ clock: clockid_t) -> Int64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// Engine time and its relation to the wall clock, injectable so tests can step the wall clock.
public protocol TimeSource: Sendable {
    /// Engine time now (monotonic).
    var steadyNow: Instant { get }
    /// Wall time minus engine time now.
    var wallOffset: Duration { get }
}

/// The system's clocks (`Instant.steadyNow`, `Instant.now`).
public struct SystemTime: TimeSource {
    public init() {}
    public var steadyNow: Instant { .steadyNow }
    public var wallOffset: Duration { Instant.wallOffset }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    public var nanosecondsClamped: Int64 {
        let (s, atto) = components
        let (mul, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        let (sum, o2) = mul.addingReportingOverflow(atto / 1_000_000_000)
        if o2 { return s < 0 ? .min : .max }
        return sum
    }

    /// The duration in seconds as a `Double`.
    public var secondsDouble: Double { Double(nanosecondsClamped) / 1e9 }
}

extension Instant {
    /// RFC 3339 / ISO 8601 in UTC with millisecond precision: `2026-11-23T08:15:02.123Z`.
    public var iso8601: String {
        var ns = nanoseconds
        var days = ns / 86_400_000_000_000
        ns -= days * 86_400_000_000_000
        if ns < 0 { ns += 86_400_000_000_000; days -= 1 }
        let millis = Int(ns / 1_000_000)
        let secOfDay = millis / 1000
        let (y, m, d) = Instant.civil(fromDays: days)
        // Digits straight into the string's storage: every event line carries one or two. An
        // Instant spans the years 1677 to 2262, so the year always has four digits.
        return String(unsafeUninitializedCapacity: 24) { buf in
            func put(_ v: Int, _ width: Int, at i: Int) {
                var v = v
                for k in (i ..< i + width).reversed() {
                    buf[k] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
            }
            put(y, 4, at: 0); buf[4] = UInt8(ascii: "-")
            put(m, 2, at: 5); buf[7] = UInt8(ascii: "-")
            put(d, 2, at: 8); buf[10] = UInt8(ascii: "T")
            put(secOfDay / 3600, 2, at: 11); buf[13] = UInt8(ascii: ":")
            put((secOfDay / 60) % 60, 2, at: 14); buf[16] = UInt8(ascii: ":")
            put(secOfDay % 60, 2, at: 17); buf[19] = UInt8(ascii: ".")
            put(millis % 1000, 3, at: 20); buf[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// RFC 3339 at a UTC offset, for people reading local time: `2026-11-23T16:15:02.123+08:00`
    /// (`offsetSeconds` east of UTC, as `TimeZone.secondsFromGMT` gives it).
    public func iso8601(offsetSeconds: Int) -> String {
        var out = String(Instant(nanoseconds: nanoseconds &+ Int64(offsetSeconds) * 1_000_000_000).iso8601.dropLast())
        let a = abs(offsetSeconds)
        out += offsetSeconds < 0 ? "-" : "+"
        Instant.pad(&out, a / 3600, 2); out += ":"
        Instant.pad(&out, a % 3600 / 60, 2)
        return out
    }

    /// Parses RFC 3339 timestamps (`2026-11-23T08:15:02.123Z`, `...+08:00`, fractional seconds
    /// optional), years 1900...2200 (what nanoseconds in an Int64 can hold, with margin).
    /// Returns nil for anything else.
    public init?(iso8601 text: Substring) {
        let b = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 20,
              let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              b[10] == 84 || b[10] == 116 || b[10] == 32,
              let h = num(11, 2), b[13] == 58, let mi = num(14, 2), b[16] == 58, let s = num(17, 2),
              (1900...2200).contains(y), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var i = 19
        var fracNanos: Int64 = 0
        if i < b.count && b[i] == 46 {
            i += 1
            var scale: Int64 = 100_000_000
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fracNanos += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            if i == start { return nil }
        }
        guard i < b.count else { return nil }
        var offsetSeconds = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45 {
            guard let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = Instant.days(fromCivil: y, mo, d)
        let secs = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s) - Int64(offsetSeconds)
        self.nanoseconds = secs * 1_000_000_000 + fracNanos
    }

    private static func pad(_ out: inout String, _ v: Int, _ width: Int) {
        let s = String(v)
        if s.count < width { out += String(repeating: "0", count: width - s.count) }
        out += s
    }

    // Howard Hinnant's days-from-civil algorithms (public domain arithmetic).
    static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    static func days(fromCivil y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
