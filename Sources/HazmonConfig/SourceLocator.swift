import HazmonCore

/// Maps TOML key paths to the line that defines them, so errors can say `file:line`.
///
/// TOMLKit parses the document but does not expose node positions, so this reads the text once
/// more for nothing but positions: table headers (`[a.b]`, `[[tag]]` with its index), `key =`
/// lines (dotted keys included) and the keys inside inline tables. Paths look like
/// `tag[3].alarms.hh.at`. It never decides what the document means; TOMLKit does.
struct SourceLocator {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var arrayCounts: [String: Int] = [:]
        var elementCounts: [String: Int] = [:]
        var table: [String] = []
        var lineNo = 0
        var pendingMultiline = false
        var continuing: InlineScan?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.drop(while: { $0 == " " || $0 == "\t" })
            if pendingMultiline {
                if line.contains("\"\"\"") || line.contains("'''") { pendingMultiline = false }
                continue
            }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if var scan = continuing {
                // A line inside a value that began on an earlier line (not a header, even if it starts with '[').
                recordInline(line, scan: &scan, line: lineNo)
                continuing = scan.open ? scan : nil
                continue
            }
            if line.hasPrefix("[[") {
                let name = SourceLocator.keyPath(String(line.dropFirst(2).prefix(while: { $0 != "]" })))
                let joined = name.joined(separator: ".")
                // A nested array (`[[hazard_source.substance]]`) belongs to its parent's latest
                // element and counts from 0 within it.
                var parent: [String] = []
                for (i, part) in name.dropLast().enumerated() {
                    let prefix = name[0...i].joined(separator: ".")
                    parent.append(arrayCounts[prefix].map { "\(part)[\($0 - 1)]" } ?? part)
                }
                let counter = (parent + [name[name.count - 1]]).joined(separator: ".")
                let idx = elementCounts[counter, default: 0]
                elementCounts[counter] = idx + 1
                arrayCounts[joined] = idx + 1
                table = SourceLocator.withIndex(parent + [name[name.count - 1]], idx)
                record(table, lineNo)
                continue
            }
            if line.hasPrefix("[") {
                let name = SourceLocator.keyPath(String(line.dropFirst().prefix(while: { $0 != "]" })))
                // A sub-table of an array of tables belongs to its latest element.
                var resolved: [String] = []
                for (i, part) in name.enumerated() {
                    let prefix = name[0...i].joined(separator: ".")
                    if let n = arrayCounts[prefix], i < name.count - 1 {
                        resolved.append("\(part)[\(n - 1)]")
                    } else {
                        resolved.append(part)
                    }
                }
                table = resolved
                record(table, lineNo)
                continue
            }
            guard let eq = SourceLocator.topLevelEquals(line) else { continue }
            let key = SourceLocator.keyPath(String(line[line.startIndex..<eq]))
            let value = line[line.index(after: eq)...]
            record(table + key, lineNo)
            var scan = InlineScan(prefix: table + key)
            recordInline(value, scan: &scan, line: lineNo)
            continuing = scan.open ? scan : nil
            if value.contains("\"\"\"") && value.components(separatedBy: "\"\"\"").count == 2 { pendingMultiline = true }
        }
    }

    private mutating func record(_ path: [String], _ line: Int) {
        let k = path.joined(separator: ".")
        if lines[k] == nil { lines[k] = line }
    }

    /// Where a value spanning lines (an array of inline tables, say) is in its parsing: the
    /// open `{` and `[` and what each is, carried from one line to the next.
    struct InlineScan {
        enum Frame {
            /// An inline table at `path`; `key`: the key whose value comes next.
            case table(path: [String], key: [String]?)
            /// An array at `path`, now at element `index`.
            case array(path: [String], index: Int)
        }
        let prefix: [String]
        var frames: [Frame] = []
        var token = ""
        var expectKey = false
        var open: Bool { !frames.isEmpty }
    }

    /// Records `k = v` pairs inside `{ ... }` values, nested ones and those inside arrays
    /// included: `inventory = [{ level = ... }, { level = ... }]` records `inventory[1].level`
    /// (and `inventory.level` for the first). Returns the scan if the value goes on past the line.
    private mutating func recordInline(_ value: Substring, scan: inout InlineScan, line: Int) {
        var inString: Character? = nil
        func valuePath() -> [String]? {
            switch scan.frames.last {
            case nil: return scan.prefix
            case .table(let path, let key)?: return key.map { path + $0 }
            case .array(let path, let index)?:
                var p = path
                p[p.count - 1] += "[\(index)]"
                return p
            }
        }
        for ch in value {
            if let q = inString {
                if ch == q { inString = nil }
                if scan.expectKey { scan.token.append(ch) }
                continue
            }
            switch ch {
            case "\"", "'":
                inString = ch
                if scan.expectKey { scan.token.append(ch) }
            case "{":
                guard let path = valuePath() else { return }
                scan.frames.append(.table(path: path, key: nil))
                record(path, line)
                scan.expectKey = true
                scan.token = ""
            case "[":
                guard let path = valuePath() else { return }
                scan.frames.append(.array(path: path, index: 0))
                scan.expectKey = false
            case "}", "]":
                _ = scan.frames.popLast()
                scan.expectKey = false
                if !scan.open { return }
            case ",":
                switch scan.frames.last {
                case .array(let path, let index)?:
                    scan.frames[scan.frames.count - 1] = .array(path: path, index: index + 1)
                case .table(let path, _)?:
                    scan.frames[scan.frames.count - 1] = .table(path: path, key: nil)
                    scan.expectKey = true
                    scan.token = ""
                case nil: break
                }
            case "=":
                if scan.expectKey, case .table(let path, _)? = scan.frames.last {
                    let key = SourceLocator.keyPath(scan.token)
                    record(path + key, line)
                    // The first element of an array also answers for the array's key alone.
                    record(path.map { $0.replacingOccurrences(of: "[0]", with: "") } + key, line)
                    scan.frames[scan.frames.count - 1] = .table(path: path, key: key)
                    scan.expectKey = false
                }
            case "#":
                return
            default:
                if scan.expectKey { scan.token.append(ch) }
            }
        }
    }

    private static func withIndex(_ name: [String], _ idx: Int) -> [String] {
        var n = name
        n[n.count - 1] += "[\(idx)]"
        return n
    }

    /// Splits `a."b.c".d` into its parts, unquoting and trimming.
    static func keyPath(_ s: String) -> [String] {
        var parts: [String] = []
        var cur = ""
        var quote: Character? = nil
        for ch in s {
            if let q = quote {
                if ch == q { quote = nil } else { cur.append(ch) }
            } else if ch == "\"" || ch == "'" {
                quote = ch
            } else if ch == "." {
                parts.append(cur.trimmingSpaces); cur = ""
            } else {
                cur.append(ch)
            }
        }
        parts.append(cur.trimmingSpaces)
        return parts
    }

    /// The first `=` outside quotes, if the line is a key/value line.
    static func topLevelEquals(_ line: Substring) -> Substring.Index? {
        var quote: Character? = nil
        var i = line.startIndex
        while i < line.endIndex {
            let ch = line[i]
            if let q = quote {
                if ch == q { quote = nil }
            } else if ch == "\"" || ch == "'" {
                quote = ch
            } else if ch == "=" {
                return i
            } else if ch == "#" || ch == "[" || ch == "{" {
                return nil
            }
            i = line.index(after: i)
        }
        return nil
    }

    /// The line of `path`, or of its nearest enclosing key or table.
    func line(of path: [String]) -> Int? {
        var p = path
        while !p.isEmpty {
            if let l = lines[p.joined(separator: ".")] { return l }
            p.removeLast()
        }
        return nil
    }
}
