import HazmonCore
import Testing
@testable import HazmonConfig

/// A file parsed in parts (`TOMLParts`, `TOMLDocument.parse`) reads exactly as the same file
/// parsed whole: the same keys and values, or the same syntax error on the same line.
@Suite("Config: a long file parsed in parts means what it means whole")
struct TOMLPartsTests {
    /// Everything hazmon can read of a document, as one string: keys sorted, values typed.
    static func dump(_ t: TOMLTableNode) -> String {
        "{" + t.keys.map { "\($0)=" + dump(t[$0]!) }.joined(separator: ",") + "}"
    }

    static func dump(_ v: TOMLNode) -> String {
        if let t = v.table { return dump(t) }
        if let a = v.array { return "[" + a.map(dump).joined(separator: ",") + "]" }
        if let s = v.string { return s.quoted() }
        if let i = v.int { return "i\(i)" }
        if let d = v.double { return "d\(d)" }
        if let b = v.bool { return "\(b)" }
        return "\(v.type)"
    }

    /// The outcome of a parse: the dump, or the error with its line.
    static func outcome(_ parse: () throws(TOMLDocument.SyntaxError) -> TOMLDocument) -> String {
        do {
            let d = try parse()
            return withExtendedLifetime(d) { dump(d.root) }
        } catch {
            return "error at \(error.line): \(error.description)"
        }
    }

    /// Parsed in parts of `perPiece` entries and whole: the same outcome. Returns how many
    /// trees the parts made (1: not cut).
    @discardableResult
    static func expectSame(_ text: String, perPiece: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        let whole = outcome { () throws(TOMLDocument.SyntaxError) in try TOMLDocument.parseWhole(Array(text.utf8)) }
        var trees = 0
        let parts = outcome { () throws(TOMLDocument.SyntaxError) in
            let d = try TOMLDocument.parse(text, entriesPerPiece: perPiece)
            trees = d.treeCount
            return d
        }
        #expect(parts == whole, "\(text.debugDescription)", sourceLocation: sourceLocation)
        return trees
    }

    static let tags = """
        [site]
        id = "x"
        [[tag]]
        id = "A"
        alarms.h = { at = 20 }
        alarms.hh = { at = 40 }
        [[tag]] # the second
        id = "B"
        limits = [
          [1, 2],
          [3, 4],
        ]
        [[ tag ]]
        id = "C"
        note = \"\"\"
        [[tag]]
        id = "not a tag"
        \"\"\"
        [[vote]]
        id = "V"
        [[tag]]
        id = "D"
        [journal]
        path = "j.db"

        """

    @Test func tagsAreCutAndReadAsWhole() {
        #expect(Self.expectSame(Self.tags, perPiece: 1) == 6)   // the rest, four tags, the vote
        #expect(Self.expectSame(Self.tags, perPiece: 2) == 5)   // the rest, tags A-B, C, the vote, D
        #expect(Self.expectSame(Self.tags, perPiece: 256) == 4)   // the rest, tags A-C, the vote, D
        // The parts are really cut where the headers are, and the rest keeps its lines.
        let parts = Array(Self.tags.utf8).withUnsafeBufferPointer { TOMLParts.cut($0, entriesPerPiece: 2) }!
        #expect(parts.pieces.map(\.key) == ["tag", "tag", "vote", "tag"])
        #expect(parts.pieces.map(\.firstLine) == [3, 13, 19, 21])
        #expect(parts.rest.filter { $0 == UInt8(ascii: "\n") }.count == Self.tags.filter { $0 == "\n" }.count)
    }

    /// Strings, comments and values that look like headers, and headers that keep an array
    /// whole; with the trees each is parsed into.
    @Test(arguments: [
        // Multi-line strings: escaped quotes, a closing run of four and five quotes, a line-ending backslash.
        ("[[tag]]\ns = \"\"\"a \\\"\"\" b\n[[tag]]\nx = 1\"\"\"\n[[tag]]\nid = 2\n", 3),
        ("[[tag]]\ns = \"\"\"a\"\"\"\"\n[[tag]]\nid = 2\n", 3),
        ("[[tag]]\ns = \"\"\"a\"\"\"\"\"\n[[tag]]\nid = 2\n", 3),
        ("[[tag]]\ns = \"\"\"a \\\n  [[tag]]\n b\"\"\"\n[[tag]]\nid = 2\n", 3),
        ("[[tag]]\ns = '''\n[[tag]]\n'''\n[[tag]]\nid = 2\n", 3),
        ("[[tag]]\ns = ''''a'''''\n[[tag]]\nid = 2\n", 3),
        // Single-line strings with escapes and brackets; comments with brackets.
        ("[[tag]]\ns = \"[\\\"]\" # [[\n[[tag]]\nt = '[' # ]\n", 3),
        // A value's array spanning lines, its lines starting with '['.
        ("[[tag]]\nv = [\n[[1]],\n[2]\n]\n[[tag]]\nid = 2\n", 3),
        // An array also written other ways: kept whole, so toml++ judges it (the ones with
        // 0 trees redefine `tag`: an error).
        ("[[tag]]\nid = 1\n[tag.alarms]\nh = 1\n[[tag]]\nid = 2\n", 1),
        ("[[tag]]\nid = 1\n[[tag.alarms]]\nh = 1\n[[tag]]\nid = 2\n", 1),
        ("[tag]\nid = 1\n[[tag]]\nid = 2\n", 0),
        ("tag = []\n[[tag]]\nid = 2\n", 0),
        ("tag.x = 1\n[[tag]]\nid = 2\n", 0),
        ("[\"tag\"]\nid = 1\n[[tag]]\nid = 2\n", 0),
        ("[[tag]]\nid = 1\n[[\"tag\"]]\nid = 2\n", 1),
        ("[[tag]]\nid = 1\n[a]\ntag = 3\n[[tag]]\nid = 2\n", 3),
        // Syntax errors in a piece and in the rest: the same line and message as whole.
        ("[site]\nid = \"x\"\n[[tag]]\nid = 1\n[[tag]]\nid = = 2\n", 0),
        ("[site]\nid = \"x\n[[tag]]\nid = 1\n[[tag]]\nid = 2\n", 0),
        ("[[tag]]\nid = 1\nid = 2\n[[tag]]\nid = 2\n", 0),
        ("[[tag]]\ns = \"\"\"never closed\n[[tag]]\nid = 2\n", 0),
        ("[[tag]]\nid = 1\n[[tag]\nid = 2\n", 0),
        ("[site]\n[[tag]]\nid = 1\n[site]\nid = 2\n", 0),
        // CRLF lines, a byte-order mark, no newline at the end.
        ("[[tag]]\r\nid = 1\r\n[[tag]]\r\nid = 2\r\n", 3),
        ("\u{FEFF}[[tag]]\nid = 1\n[[tag]]\nid = 2\n", 1),
        ("[[tag]]\nid = 1\n[[tag]]\nid = 2", 3),
    ])
    func trickyFilesReadAsWhole(_ text: String, trees: Int) {
        // The scan finds the headers these have (rest + one tree per tag), or keeps the file
        // whole (1), or the file has an error (0 trees: the whole file's error is thrown).
        #expect(Self.expectSame(text, perPiece: 1) == trees)
    }

    /// The shipped files, and mutations of them: parts and whole agree on every one.
    @Test(arguments: ["Config/hazmon.example.toml", "Config/demo/hazmon.toml", "Config/demo/scenario.toml",
                      "Config/scenarios/drill.toml", "Config/uplink-province.example.toml"])
    func mutatedFilesReadAsWhole(_ path: String) throws {
        let text = try #require(ConfigLoader.readFile(repoRoot + "/" + path))
        Self.expectSame(text, perPiece: 1)
        Self.expectSame(text, perPiece: 3)
        let bytes = Array(text.utf8)
        var rng = SplitMix64(seed: 0x5041_5254 &+ UInt64(path.utf8.count))
        let alphabet = Array("=[]{}\"'#.,\n\\ 0123456789abctagxyz-+".utf8)
        var compared = 0
        for _ in 0..<400 {
            let mutated = mutated(bytes, maxEdits: 6, alphabet: alphabet, using: &rng)
            // Only what the loader would hand toml++ at all (the guard refuses the rest first).
            guard TOMLHeaderGuard.firstProblem(in: mutated) == nil, TOMLHeaderGuard.firstDeepKey(in: mutated) == nil else { continue }
            Self.expectSame(mutated, perPiece: Int.random(in: 1...4, using: &rng))
            compared += 1
        }
        #expect(compared > 100)
    }

    /// A park-sized file is cut into pieces of `entriesPerPiece` tags.
    @Test func aLongFileIsCut() {
        var text = "[site]\nid = \"x\"\n"
        for i in 0..<1_000 { text += "[[tag]]\nid = \"T\(i)\"\nalarms.h = { at = 20 }\nalarms.hh = { at = 40 }\n" }
        #expect(Self.expectSame(text, perPiece: TOMLParts.entriesPerPiece) == 1 + 4)
    }
}
