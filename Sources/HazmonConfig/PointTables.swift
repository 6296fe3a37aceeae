import HazmonCore

#if canImport(Glibc)
import Glibc
#endif

/// `include = ["points/*.toml", ...]` at the top of `hazmon.toml`: point-table files (the plant's
/// 位号表, one per area or device, say) holding `[[tag]]`, `[[vote]]` and `[[modbus.device]]`
/// entries, read as if they were in the main file. Paths are relative to the main file's
/// directory; `*`, `?` and `[...]` patterns match in name order. Every error in an included
/// file names that file, its line and key; a pattern that matches nothing is an error (a
/// point table that silently went missing would be a blind spot), and so is any other section
/// in a point table, or an `include` there (one level only).
struct PointTables {
    var readers: [TableReader] = []
    var files: [String] = []

    static let allowedKeys: Set<String> = ["tag", "vote", "modbus"]

    static func load(_ top: TableReader) -> PointTables {
        var out = PointTables()
        guard let patterns = top.stringArray("include") else { return out }
        let main = top.diagnostics.file
        let base = main.contains("/") ? String(main[..<main.lastIndex(of: "/")!]) : "."
        for pattern in patterns {
            let full = pattern.hasPrefix("/") || base == "." ? pattern : base + "/" + pattern
            let paths: [String]
            if pattern.contains(where: { "*?[".contains($0) }) {
                paths = Self.glob(full)
                if paths.isEmpty { top.error("include", "\"\(pattern)\" matches no file (in \(base))") }
            } else {
                paths = [full]
            }
            for path in paths where !out.files.contains(path) && path != main {
                out.files.append(path)
                guard let text = ConfigLoader.readFile(path) else {
                    top.error("include", "cannot read \(path): \(String(cString: strerror(errno)))")
                    continue
                }
                if let reader = Self.parse(text, file: path, into: top.diagnostics) { out.readers.append(reader) }
            }
        }
        return out
    }

    /// One point table's top table, or nil (its syntax error reported) if it is not TOML.
    static func parse(_ text: String, file: String, into parent: ConfigDiagnostics) -> TableReader? {
        let document: TOMLDocument
        switch ConfigLoader.parseTOML(text, file: file, headerExample: "[[tag]]") {
        case .success(let d): document = d
        case .failure(let e):
            parent.append(error: e)
            return nil
        }
        let root = document.root
        let reader = TableReader(root, document: document, diagnostics: ConfigDiagnostics(file: file, text: text, parent: parent),
                                 location: [], display: [], context: nil)
        for key in root.keys where !allowedKeys.contains(key) {
            reader.error(key, "a point table holds [[tag]], [[vote]] and [[modbus.device]] entries only\(key == "include" ? " (includes do not nest)" : "")")
            reader.markSeen(key)
        }
        return reader
    }

    /// Reports what no reader asked for in the included files (after the build).
    func rejectUnknownKeys() {
        for r in readers { r.rejectUnknownKeys() }
    }

    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
