/// An alarm grade, 1 (red, most severe) to 4 (blue), as Chinese emergency management grades
/// early warnings in four colours.
public struct Grade: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Kept in a byte: a grade is in every limit rule and alarm of a park's 50,000 tags.
    private let raw: UInt8
    public var rawValue: Int { Int(raw) }

    /// Returns nil unless `rawValue` is 1...4.
    public init?(_ rawValue: Int) {
        guard (1...4).contains(rawValue) else { return nil }
        raw = UInt8(rawValue)
    }

    private init(unchecked: UInt8) { raw = unchecked }

    public static let red = Grade(unchecked: 1)
    public static let orange = Grade(unchecked: 2)
    public static let yellow = Grade(unchecked: 3)
    public static let blue = Grade(unchecked: 4)

    /// The warning colour: red, orange, yellow or blue.
    public var color: String {
        switch rawValue {
        case 1: return "red"
        case 2: return "orange"
        case 3: return "yellow"
        default: return "blue"
        }
    }

    /// The colour as an ANSI terminal attribute (white on red, black on orange, black on
    /// yellow, white on blue): the one place a terminal's colours are defined.
    public var ansi: String {
        switch rawValue {
        case 1: return "1;97;41"
        case 2: return "1;30;48;5;208"
        case 3: return "30;43"
        default: return "97;44"
        }
    }

    /// "More severe" sorts first: grade 1 < grade 2 in severity order means 1 is worse.
    public static func < (lhs: Grade, rhs: Grade) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}

/// Quality of a sample, as OPC and Sparkplug carry it.
public enum Quality: String, Sendable, Hashable, CaseIterable {
    case good, uncertain, bad
}
