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
        var table: [String] = []
        var lineNo = 0
        var pendingMultiline = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.drop(while: { $0 == " " || $0 == "\t" })
            if pendingMultiline {
                if line.contains("\"\"\"") || line.contains("'''") { pendingMultiline = false }
                continue
            }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[[") {
                let name = SourceLocator.keyPath(String(line.dropFirst(2).prefix(while: { $0 != "]" })))
                let joined = name.joined(separator: ".")
                let idx = arrayCounts[joined, default: 0]
                arrayCounts[joined] = idx + 1
                table = SourceLocator.withIndex(name, idx)
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
            recordInline(value, prefix: table + key, line: lineNo)
            if value.contains("\"\"\"") && value.components(separatedBy: "\"\"\"").count == 2 { pendingMultiline = true }
        }
    }

    private mutating func record(_ path: [String], _ line: Int) {
        let k = path.joined(separator: ".")
        if lines[k] == nil { lines[k] = line }
    }

    /// Records `k = v` pairs inside `{ ... }` values, nested ones included.
    private mutating func recordInline(_ value: Substring, prefix: [String], line: Int) {
        var stack: [[String]] = []
        var current = prefix
        var token = ""
        var inString: Character? = nil
        var expectKey = false
        for ch in value {
            if let q = inString {
                if ch == q { inString = nil }
                if expectKey { token.append(ch) }
                continue
            }
            switch ch {
            case "\"", "'":
                inString = ch
                if expectKey { token.append(ch) }
            case "{":
                stack.append(current)
                expectKey = true
                token = ""
            case "}":
                current = stack.popLast() ?? prefix
                expectKey = false
            case ",":
                if !stack.isEmpty { expectKey = true; token = "" }
            case "=":
                if expectKey, let base = stack.last {
                    let key = base + SourceLocator.keyPath(token)
                    record(key, line)
                    current = key
                    expectKey = false
                }
            case "#":
                return
            default:
                if expectKey { token.append(ch) }
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

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
