/// Finds table headers that toml++ (inside TOMLKit) cannot survive.
///
/// toml++ 3.x asserts, and in release builds assumes, that a table header's first character
/// starts a key; `[#journal]` (a commented-out header typed by hand) then aborts the process in
/// debug builds and is undefined behaviour in release ones. A config typo must get an error,
/// so such headers are caught here, before the text reaches the parser. Likewise a `}` where an
/// array's next value should start (`eu = [0,}100]`): toml++ asserts that no value starts with
/// a terminator.
enum TOMLHeaderGuard {
    enum Problem: Equatable {
        /// A table header that does not start with a key.
        case header
        /// A `}` inside an array.
        case braceInArray
    }

    /// The 1-based line of the first bad header, if any.
    static func firstBadHeader(in text: String) -> Int? {
        firstProblem(in: text).flatMap { $0.problem == .header ? $0.line : nil }
    }

    /// The first construct toml++ cannot survive, with its 1-based line. One pass over the
    /// UTF-8 bytes (every delimiter is ASCII), line by line, allocating nothing per line.
    static func firstProblem(in text: String) -> (line: Int, problem: Problem)? {
        var text = text
        return text.withUTF8 { firstProblem(in: $0) }
    }

    private static func firstProblem(in b: UnsafeBufferPointer<UInt8>) -> (line: Int, problem: Problem)? {
        let newline = UInt8(ascii: "\n"), space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        let openBracket = UInt8(ascii: "["), openBrace = UInt8(ascii: "{")
        let closeBracket = UInt8(ascii: "]"), closeBrace = UInt8(ascii: "}")
        let quoteMark = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'")
        /// Where `c` three times over starts in `from..<end`, if anywhere.
        func triple(_ c: UInt8, from: Int, end: Int) -> Int? {
            var k = from
            while k + 2 < end {
                if b[k] == c, b[k + 1] == c, b[k + 2] == c { return k }
                k += 1
            }
            return nil
        }
        var open: [UInt8] = []           // open [ / { of values, possibly spanning lines
        var multiline: UInt8? = nil      // inside a triple-quoted string: its quote character
        var lineNo = 0
        var start = 0
        while start <= b.count {
            lineNo += 1
            var end = start
            while end < b.count, b[end] != newline { end += 1 }
            defer { start = end + 1 }
            var i = start
            if let m = multiline {
                guard let close = triple(m, from: i, end: end) else { continue }
                multiline = nil
                i = close + 3
            }
            while i < end, b[i] == space || b[i] == tab { i += 1 }
            if open.isEmpty, i < end, b[i] == openBracket {
                var j = i + 1
                if j < end, b[j] == openBracket { j += 1 }
                while j < end, b[j] == space || b[j] == tab { j += 1 }
                if j >= end || (!isKeyStart(b[j]) && b[j] != closeBracket) { return (lineNo, .header) }
                continue
            }
            // Track brackets of values that continue onto later lines, outside strings.
            var quote: UInt8? = nil
            while i < end {
                let c = b[i]
                if let q = quote {
                    if c == UInt8(ascii: "\\") && q == quoteMark { i += 2; continue }
                    if c == q { quote = nil }
                } else if c == UInt8(ascii: "#") {
                    break
                } else if c == quoteMark || c == apostrophe {
                    if i + 2 < end, b[i + 1] == c, b[i + 2] == c {
                        if let close = triple(c, from: i + 3, end: end) {
                            i = close + 3
                            continue
                        }
                        multiline = c
                        break
                    }
                    quote = c
                } else if c == openBracket || c == openBrace {
                    open.append(c)
                } else if c == closeBrace, open.last == openBracket {
                    return (lineNo, .braceInArray)
                } else if c == closeBracket || c == closeBrace {
                    _ = open.popLast()
                }
                i += 1
            }
        }
        return nil
    }

    /// Dotted keys of more parts than this are refused before parsing: toml++ takes time
    /// quadratic in the parts (8,000 parts: seconds; 100,000: over a minute), and no hazmon
    /// key has more than a handful.
    static let maxKeyParts = 32

    /// The 1-based line of the first dotted key (in a header, a key or an inline table) of more
    /// than `maxKeyParts` parts, if any. One pass; strings and comments are skipped.
    static func firstDeepKey(in text: String) -> Int? {
        let b = Array(text.utf8)
        var i = 0, line = 1, parts = 1
        let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), newline = UInt8(ascii: "\n")
        while i < b.count {
            let c = b[i]
            if c == quote || c == apostrophe {
                let triple = i + 2 < b.count && b[i + 1] == c && b[i + 2] == c
                i += triple ? 3 : 1
                while i < b.count {
                    if b[i] == newline { line += 1 }
                    if c == quote, b[i] == UInt8(ascii: "\\") { i += 2; continue }
                    if b[i] == c, !triple || (i + 2 < b.count && b[i + 1] == c && b[i + 2] == c) {
                        i += triple ? 3 : 1
                        break
                    }
                    i += 1
                }
                continue
            }
            switch c {
            case UInt8(ascii: "#"):
                while i < b.count, b[i] != newline { i += 1 }
                continue
            case newline:
                line += 1
                parts = 1
            case UInt8(ascii: "."):
                parts += 1
                if parts > maxKeyParts { return line }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                break
            default:
                let bare = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45 || c >= 0x80
                if !bare { parts = 1 }
            }
            i += 1
        }
        return nil
    }

    static func isKeyStart(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'")
    }
}
