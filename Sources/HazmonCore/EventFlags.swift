/// What an event's `flags` field says about the alarm at that moment (spec §4): a set, written
/// as names in this fixed order.
public struct EventFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// An alarm raised again after its re-alarm time while still acknowledged and active.
    public static let realarm = EventFlags(rawValue: 1 << 0)
    /// Raised and cleared too often within the chatter window (ISA-18.2).
    public static let chattering = EventFlags(rawValue: 1 << 1)
    /// Recorded while shelved (not annunciated).
    public static let shelved = EventFlags(rawValue: 1 << 2)
    /// Recorded while suppressed by design (`suppress_if`).
    public static let suppressed = EventFlags(rawValue: 1 << 3)
    /// Raised during an alarm flood (ISA-18.2).
    public static let flood = EventFlags(rawValue: 1 << 4)
    /// Delivered before (or without) its journal commit: the journal was failing or slow.
    public static let unjournaled = EventFlags(rawValue: 1 << 5)

    static let named: [(EventFlags, String)] = [
        (.realarm, "realarm"), (.chattering, "chattering"), (.shelved, "shelved"), (.suppressed, "suppressed"),
        (.flood, "flood"), (.unjournaled, "unjournaled"),
    ]

    /// The names, in the order the JSON lists them.
    public var names: [String] { Self.named.compactMap { contains($0.0) ? $0.1 : nil } }
}
