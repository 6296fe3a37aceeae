import HazmonCore

/// One recorded value of one tag, as the history keeps it.
public struct HistoryPoint: Sendable, Hashable {
    /// When hazmon received it: wall time, milliseconds since 1970 (UTC).
    public var time: Int64
    public var value: Double
    /// `sourceTime`, with `Int64.min` for none: an `Int64?` pads to 16 bytes, and a park's
    /// history holds a point per tag several times over (the last stored, the last compacted,
    /// the open ones), so a point is 26 bytes (32 in an array), not 34 (40).
    private var sourceMillis: Int64
    public var quality: Quality
    /// Stored as a 32-bit float (the default, as most historians do): print with `Float`'s
    /// shortest digits, so 41.7 reads 41.7 and not 41.70000076.
    public var float32: Bool

    /// When the source says it measured the value (milliseconds since 1970), if it said.
    public var sourceTime: Int64? {
        get { sourceMillis == .min ? nil : sourceMillis }
        set { sourceMillis = newValue ?? .min }
    }

    public init(time: Int64, value: Double, quality: Quality = .good, sourceTime: Int64? = nil, float32: Bool = false) {
        self.time = time
        self.value = value
        self.quality = quality
        self.float32 = float32
        self.sourceMillis = sourceTime ?? .min
    }

    /// The value as people should read it: shortest digits of the width it was stored in;
    /// nil for NaN or infinity (JSON has no such numbers).
    public var valueText: String? {
        guard value.isFinite else { return nil }
        if float32 {
            let f = Float(value)
            return f == f.rounded() && abs(f) < 1e7 ? String(Int64(f)) : "\(f)"
        }
        return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}

extension Quality {
    /// Two bits in a chunk.
    var code: UInt64 {
        switch self {
        case .good: 0
        case .uncertain: 1
        case .bad: 2
        }
    }

    init(code: UInt64) {
        switch code {
        case 0: self = .good
        case 1: self = .uncertain
        default: self = .bad
        }
    }
}
