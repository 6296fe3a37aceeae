/// How a TOML file is cut into parts that parse apart: the long runs of `[[tag]]` entries (or
/// of any other top-level array of tables) in pieces of `TOMLParts.entriesPerPiece`, and the
/// rest of the file.
///
/// Why: toml++ (inside TOMLKit) keeps a list of every table a dotted key created
/// (`alarms.h = …` creates `alarms`) and searches it from the start for each further dotted
/// key, for the whole document. A park's 50,000 tags, each with `alarms.h` and `alarms.hh`,
/// made that search 30 % of loading the file, growing with the square of the tags. Parsed in
/// pieces of a few hundred entries the list stays short, and the pieces parse on both cores.
///
/// The cut is only made where it cannot change what the file means:
/// - only at top-level table headers, found by a scan that knows TOML's strings (basic and
///   literal, single- and multi-line, with escapes), comments and the brackets of values that
///   span lines;
/// - only for an array `[[X]]` whose every header is exactly `[[X]]`: a file with `[X]`,
///   `[X.sub]`, `[[X.sub]]` or any header with a quoted key keeps X (or everything) whole;
/// - the rest of the file keeps its lines (each cut run becomes as many empty lines), so its
///   keys and errors stay where they are.
/// `TOMLDocument` checks the parsed parts too (the rest holds no key X, each piece holds only
/// X), and parses the file whole whenever a part fails, so a syntax error is always the one
/// the whole file gives.
struct TOMLParts {
    /// A piece of a run: the bytes `range` of the file, starting on line `firstLine`.
    struct Piece: Equatable {
        var key: String
        var range: Range<Int>
        var firstLine: Int
    }

    /// The file without its runs: their lines empty.
    var rest: [UInt8]
    var pieces: [Piece]

    /// How many entries of an array parse together: the dotted-key list toml++ searches holds
    /// a few per entry, so a piece's parse stays linear, and a park's file gives a few hundred
    /// pieces for two cores to share.
    static let entriesPerPiece = 256

    /// A top-level header: where its line starts, its line, and its key when every part of it
    /// is a bare key (`tag`, `mqtt.map`; nil for a quoted key).
    struct Header {
        var offset: Int
        var line: Int
        var arrayOfTables: Bool
        var key: String?
    }

    /// The parts of `b`, or nil when nothing can be cut (no array long enough, a header the
    /// scan cannot read, or a string it cannot see the end of: toml++ then reads it whole).
    static func cut(_ b: UnsafeBufferPointer<UInt8>, entriesPerPiece: Int = entriesPerPiece) -> TOMLParts? {
        guard let headers = headers(in: b), !headers.isEmpty, headers.allSatisfy({ $0.key != nil }) else { return nil }
        // An array may be cut when each of its headers is exactly `[[X]]`.
        var arrays = Set<String>(), whole = Set<String>()
        for h in headers {
            let key = h.key!
            let first = key.split(separator: ".", maxSplits: 1).first.map(String.init) ?? key
            if h.arrayOfTables && first == key { arrays.insert(key) } else { whole.insert(first) }
        }
        arrays.subtract(whole)
        guard !arrays.isEmpty else { return nil }

        var rest: [UInt8] = []
        rest.reserveCapacity(b.count)
        var pieces: [Piece] = []
        var copied = 0   // bytes of `b` before this have gone to `rest` (or into a piece)
        var i = 0
        while i < headers.count {
            guard let key = headers[i].key, arrays.contains(key) else { i += 1; continue }
            // A run: this header and the ones after it of the same array.
            var j = i
            while j + 1 < headers.count, headers[j + 1].key == key, headers[j + 1].arrayOfTables { j += 1 }
            let end = j + 1 < headers.count ? headers[j + 1].offset : b.count
            rest.append(contentsOf: b[copied..<headers[i].offset])
            var k = i
            while k <= j {
                let last = min(k + entriesPerPiece - 1, j)
                let pieceEnd = last == j ? end : headers[last + 1].offset
                pieces.append(Piece(key: key, range: headers[k].offset..<pieceEnd, firstLine: headers[k].line))
                k = last + 1
            }
            // The run's lines stay, empty.
            for c in b[headers[i].offset..<end] where c == newline { rest.append(newline) }
            copied = end
            i = j + 1
        }
        rest.append(contentsOf: b[copied..<b.count])
        return TOMLParts(rest: rest, pieces: pieces)
    }

    private static let newline = UInt8(ascii: "\n")

    /// Every top-level table header of `b`, in order; nil when the scan loses its way (a string
    /// not closed on its line, a header not closed): the file is then parsed whole.
    static func headers(in b: UnsafeBufferPointer<UInt8>) -> [Header]? {
        let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
        let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
        let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
        let hash = UInt8(ascii: "#"), space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r")
        let n = b.count
        var out: [Header] = []
        var i = 0, line = 1, lineStart = 0
        var depth = 0              // open brackets and braces of a value
        var atLineStart = true     // nothing but blanks yet on this line
        while i < n {
            let c = b[i]
            switch c {
            case newline:
                line += 1
                i += 1
                lineStart = i
                atLineStart = true
            case space, tab, cr:
                i += 1
            case hash:
                while i < n, b[i] != newline { i += 1 }
            case quote, apostrophe:
                atLineStart = false
                if i + 2 < n, b[i + 1] == c, b[i + 2] == c {
                    // A multi-line string: up to the first unescaped run of three quotes, which
                    // may be followed by one or two more that belong to the string.
                    var j = i + 3
                    var closed = false
                    while j < n {
                        if c == quote, b[j] == backslash {
                            // An escape; a backslash ending the line joins it to the next.
                            if j + 1 < n, b[j + 1] == newline { line += 1; lineStart = j + 2 }
                            j += 2
                            continue
                        }
                        if b[j] == newline { line += 1; lineStart = j + 1 }
                        if b[j] == c, j + 2 < n, b[j + 1] == c, b[j + 2] == c {
                            j += 3
                            var extra = 0
                            while extra < 2, j < n, b[j] == c { j += 1; extra += 1 }
                            closed = true
                            break
                        }
                        j += 1
                    }
                    guard closed else { return nil }
                    i = j
                } else {
                    var j = i + 1
                    while j < n, b[j] != c, b[j] != newline {
                        j += (c == quote && b[j] == backslash) ? 2 : 1
                    }
                    guard j < n, b[j] == c else { return nil }
                    i = j + 1
                }
            case openBracket where atLineStart && depth == 0:
                // A table header: `[a.b]` or `[[a.b]]`, then only blanks or a comment.
                atLineStart = false
                var j = i + 1
                let array = j < n && b[j] == openBracket
                if array { j += 1 }
                var key: [UInt8] = []
                var bare = true
                while j < n, b[j] != closeBracket, b[j] != newline {
                    let k = b[j]
                    if k == quote || k == apostrophe {
                        bare = false
                        var m = j + 1
                        while m < n, b[m] != k, b[m] != newline { m += (k == quote && b[m] == backslash) ? 2 : 1 }
                        guard m < n, b[m] == k else { return nil }
                        j = m + 1
                        continue
                    }
                    if k != space && k != tab { key.append(k) }
                    j += 1
                }
                guard j < n, b[j] == closeBracket else { return nil }
                j += 1
                if array {
                    guard j < n, b[j] == closeBracket else { return nil }
                    j += 1
                }
                out.append(Header(offset: lineStart, line: line, arrayOfTables: array,
                                  key: bare && !key.isEmpty ? String(decoding: key, as: UTF8.self) : nil))
                i = j
            case openBracket, openBrace:
                atLineStart = false
                depth += 1
                i += 1
            case closeBracket, closeBrace:
                atLineStart = false
                depth = max(0, depth - 1)
                i += 1
            default:
                atLineStart = false
                i += 1
            }
        }
        return out
    }
}
