import HazmonCore

/// Collects the errors of one file and knows where each key is.
final class ConfigDiagnostics {
    let file: String
    private let text: String
    /// Where each key is: built only when a message needs a line (a clean file of 50,000 tags
    /// spends no time or memory on it).
    private(set) lazy var locator = SourceLocator(text: text)
    /// An included file's diagnostics report into the main file's: one list for the whole run.
    let parent: ConfigDiagnostics?
    private(set) var errors: [ConfigError] = []
    private(set) var warnings: [ConfigError] = []

    init(file: String, text: String, parent: ConfigDiagnostics? = nil) {
        self.file = file
        self.text = text
        self.parent = parent
    }

    func error(_ at: [String], context: String?, display: [String], _ message: String) {
        append(error: ConfigError(
            file: file, line: locator.line(of: at), context: context,
            keyPath: display.joined(separator: "."), message: message))
    }

    func warning(_ at: [String], context: String?, display: [String], _ message: String) {
        let w = ConfigError(file: file, line: locator.line(of: at), context: context,
                            keyPath: display.joined(separator: "."), message: message)
        if let parent { parent.warnings.append(w) } else { warnings.append(w) }
    }

    /// An error found before any key could be located (a file's TOML syntax).
    func append(error e: ConfigError) {
        if let parent { parent.append(error: e) } else { errors.append(e) }
    }
}

/// Reads one TOML table with typed getters, remembering which keys were read so that any
/// other key is reported as unknown: a typo in a safety config must not pass silently.
package final class TableReader {
    package let table: TOMLTableNode
    /// The file this table is in: held so that its tree outlives every reader of it.
    let document: TOMLDocument
    let diagnostics: ConfigDiagnostics
    /// Path as the locator knows it: `tag[3]`, `alarms`, `hh`.
    let location: [String]
    /// Path as errors show it, after `context`.
    let display: [String]
    let context: String?
    /// Keys read so far. A table has a handful of keys, so a list searched in order is cheaper
    /// than hashing every key of a 50,000-tag file into a set.
    private var seen: [String] = []
    /// How many of the keys read the table has: when that is all of them, no key is unknown
    /// and `rejectUnknownKeys` need not list the table's keys (which TOMLKit copies each time).
    private var seenPresent = 0

    private func noteSeen(_ key: String, present: Bool) {
        guard !seen.contains(key) else { return }
        seen.append(key)
        if present { seenPresent += 1 }
    }

    init(_ table: TOMLTableNode, document: TOMLDocument, diagnostics: ConfigDiagnostics, location: [String], display: [String],
         context: String?) {
        self.table = table
        self.document = document
        self.diagnostics = diagnostics
        self.location = location
        self.display = display
        self.context = context
    }

    package func has(_ key: String) -> Bool { table[key] != nil }

    /// Marks a key as read by a caller that inspected the raw value itself.
    package func markSeen(_ key: String) { noteSeen(key, present: table[key] != nil) }

    package func error(_ key: String?, _ message: String) {
        let k = key.map { [$0] } ?? []
        diagnostics.error(location + k, context: context, display: display + k, message)
    }

    package func warning(_ key: String?, _ message: String) {
        let k = key.map { [$0] } ?? []
        diagnostics.warning(location + k, context: context, display: display + k, message)
    }

    private func value(_ key: String) -> TOMLNode? {
        let v = table[key]
        noteSeen(key, present: v != nil)
        return v
    }

    package func string(_ key: String) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { error(key, "expected a string, found \(v.type)"); return nil }
        return s
    }

    package func string(_ key: String, default d: String) -> String { string(key) ?? d }

    /// A number: TOML integers and floats are both accepted; NaN and infinities are not.
    package func double(_ key: String) -> Double? {
        guard let v = value(key) else { return nil }
        if let i = v.int { return Double(i) }
        if let d = v.double {
            guard d.isFinite else { error(key, "must be a finite number"); return nil }
            return d
        }
        error(key, "expected a number, found \(v.type)")
        return nil
    }

    package func int(_ key: String) -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.int else { error(key, "expected an integer, found \(v.type)"); return nil }
        return i
    }

    /// Whether `key` holds a table (without marking it read or reporting anything).
    package func isTable(_ key: String) -> Bool { table[key]?.table != nil }

    /// Whether `key` holds an array (without marking it read or reporting anything).
    package func isArray(_ key: String) -> Bool { table[key]?.array != nil }

    package func bool(_ key: String) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { error(key, "expected true or false, found \(v.type)"); return nil }
        return b
    }

    package func duration(_ key: String) -> Duration? {
        guard let s = string(key) else { return nil }
        do {
            return try DurationParser.parse(s)
        } catch {
            self.error(key, "\(error)")
            return nil
        }
    }

    package func stringArray(_ key: String) -> [String]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { error(key, "expected an array of strings, found \(v.type)"); return nil }
        var out: [String] = []
        for item in a {
            guard let s = item.string else { error(key, "expected an array of strings"); return nil }
            out.append(s)
        }
        return out
    }

    /// An array of integers; nil (with an error) if any item is not one.
    package func intArray(_ key: String) -> [Int]? {
        guard let v = value(key) else { return nil }
        guard let a = v.array else { error(key, "expected an array of integers, found \(v.type)"); return nil }
        var out: [Int] = []
        for item in a {
            guard let i = item.int else { error(key, "expected an array of integers"); return nil }
            out.append(i)
        }
        return out
    }

    package func table(_ key: String, displayAs: String? = nil) -> TableReader? {
        guard let v = value(key) else { return nil }
        guard let t = v.table else { error(key, "expected a table, found \(v.type)"); return nil }
        return TableReader(t, document: document, diagnostics: diagnostics, location: location + [key],
                           display: display + [displayAs ?? key], context: context)
    }

    /// `[[name]]` entries; each gets its index in the locator path.
    package func arrayOfTables(_ key: String, context: (Int, TOMLTableNode) -> String?) -> [TableReader] {
        guard let v = value(key) else { return [] }
        guard let a = v.array else { error(key, "expected an array of tables ([[\(key)]]), found \(v.type)"); return [] }
        var out: [TableReader] = []
        for (i, item) in a.enumerated() {
            guard let t = item.table else { error(key, "entry \(i + 1) is not a table"); continue }
            let ctx = context(i, t)
            out.append(TableReader(t, document: document, diagnostics: diagnostics, location: location + ["\(key)[\(i)]"],
                                   display: ctx == nil ? display + [key] : [], context: ctx ?? self.context))
        }
        return out
    }

    /// Reports every key of this table that no getter asked for.
    package func rejectUnknownKeys(hint: String = "check its spelling; see Config/hazmon.example.toml") {
        guard seenPresent < table.count else { return }
        for k in table.keys where !seen.contains(k) {
            error(k, "unknown key (\(hint))")
        }
    }
}
