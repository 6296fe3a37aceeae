/// Finds table headers that toml++ (inside TOMLKit) cannot survive.
///
/// toml++ 3.x asserts, and in release builds assumes, that a table header's first character
/// starts a key; `[#journal]` (a commented-out header typed by hand) then aborts the process in
/// debug builds and is undefined behaviour in release ones. A config typo must get an error,
/// so such headers are caught here, before the text reaches the parser.
enum TOMLHeaderGuard {
    /// The 1-based line of the first bad header, if any.
    static func firstBadHeader(in text: String) -> Int? {
        var depth = 0                  // open [ / { of a value spanning lines
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
            if depth == 0, i < chars.count, chars[i] == "[" {
                var j = i + 1
                if j < chars.count, chars[j] == "[" { j += 1 }
                while j < chars.count, chars[j] == " " || chars[j] == "\t" { j += 1 }
                if j >= chars.count || (!isKeyStart(chars[j]) && chars[j] != "]") { return lineNo }
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
                    depth += 1
                } else if c == "]" || c == "}" {
                    depth = max(0, depth - 1)
                }
                i += 1
            }
        }
        return nil
    }

    static func isKeyStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "_" || c == "-" || c == "\"" || c == "'"
    }
}
