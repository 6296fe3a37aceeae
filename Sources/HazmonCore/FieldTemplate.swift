/// A text with `{field}`s, such as an SMS gateway's request body. A field is `{` then lower-case
/// letters, digits or `_`, then `}`; every other brace is literal, so a JSON body needs no
/// escaping: `{"to":"{phones}","text":"{short}"}` has two fields.
public struct FieldTemplate: Sendable, Hashable {
    public enum Piece: Sendable, Hashable {
        case text(String)
        case field(String)
    }

    public let pieces: [Piece]

    public init(_ template: String) {
        var pieces: [Piece] = []
        var text = ""
        let chars = Array(template.unicodeScalars)
        var i = 0
        while i < chars.count {
            if chars[i] == "{" {
                var j = i + 1
                while j < chars.count, Self.isNameScalar(chars[j]) { j += 1 }
                if j > i + 1, j < chars.count, chars[j] == "}" {
                    if !text.isEmpty { pieces.append(.text(text)); text = "" }
                    pieces.append(.field(String(String.UnicodeScalarView(chars[(i + 1)..<j]))))
                    i = j + 1
                    continue
                }
            }
            text.unicodeScalars.append(chars[i])
            i += 1
        }
        if !text.isEmpty { pieces.append(.text(text)) }
        self.pieces = pieces
    }

    static func isNameScalar(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "_"
    }

    /// The fields named, in order.
    public var fields: [String] {
        pieces.compactMap { if case .field(let n) = $0 { return n } else { return nil } }
    }

    /// The text with each field replaced by `value(name)`.
    public func render(_ value: (String) -> String) -> String {
        var out = ""
        for p in pieces {
            switch p {
            case .text(let t): out += t
            case .field(let n): out += value(n)
            }
        }
        return out
    }
}
