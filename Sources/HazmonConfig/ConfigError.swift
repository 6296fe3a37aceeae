/// A configuration problem, located in its file: `hazmon.toml:42: tag "GT-101": alarms.hh.at: ...`.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// `tag "GT-101"` for errors inside a tag or device, nil elsewhere.
    public var context: String?
    /// The key path inside `context` (or from the top), e.g. `alarms.hh.at`.
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int?, context: String? = nil, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.context = context
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if let context { s += "\(context): " }
        if !keyPath.isEmpty { s += "\(keyPath): " }
        return s + message
    }
}

/// Every problem found in one file, in file order. Validation goes on past the first error so
/// an engineer fixes them all in one round.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]
    public init(_ errors: [ConfigError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
