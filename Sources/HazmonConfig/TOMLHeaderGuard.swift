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

    /// The first construct toml++ cannot survive, with its 1-based line.
    static func firstProblem(in text: String) -> (line: Int, problem: Problem)? {
        var open: [Unicode.Scalar] = []  // open [ / { of values, possibly spanning lines
        var multiline: String? = nil   // inside """ or ''' strings
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var chars = Array(raw.unicodeScalars)
            if let m = multiline {
                guard let close = String(raw).range(of: m) else { continue }
                multiline = nil
                chars = Array(String(raw)[close.upperBound...].unicodeScalars)
            }
            var i = 0
            while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 }
            if open.isEmpty, i < chars.count, chars[i] == "[" {
                var j = i + 1
                if j < chars.count, chars[j] == "[" { j += 1 }
                while j < chars.count, chars[j] == " " || chars[j] == "\t" { j += 1 }
                if j >= chars.count || (!isKeyStart(chars[j]) && chars[j] != "]") { return (lineNo, .header) }
                continue
            }
            // Track brackets of values that continue onto later lines, outside strings.
            var quote: Unicode.Scalar? = nil
            while i < chars.count {
                let c = chars[i]
                if let q = quote {
                    if c == "\\" && q == "\"" { i += 2; continue }
                    if c == q { quote = nil }
                } else if c == "#" {
                    break
                } else if c == "\"" || c == "'" {
                    if i + 2 < chars.count, chars[i + 1] == c, chars[i + 2] == c {
                        let delim = String(repeating: Character(c), count: 3)
                        let rest = String(String.UnicodeScalarView(chars[(i + 3)...]))
                        if let close = rest.range(of: delim) {
                            i += 3 + rest.unicodeScalars.distance(from: rest.unicodeScalars.startIndex, to: close.upperBound)
                            continue
                        }
                        multiline = delim
                        break
                    }
                    quote = c
                } else if c == "[" || c == "{" {
                    open.append(c)
                } else if c == "}", open.last == "[" {
                    return (lineNo, .braceInArray)
                } else if c == "]" || c == "}" {
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

    static func isKeyStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "_" || c == "-" || c == "\"" || c == "'"
    }
}
