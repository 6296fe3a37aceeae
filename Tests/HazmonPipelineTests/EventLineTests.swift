import Foundation
import HazmonCore
import Testing

/// Event lines are written as bytes (`JSONWriter`); an independent parser (Foundation's) must
/// read back what went in. Here rather than beside the writer's other tests: HazmonCore's
/// tests stay free of Foundation, whose `String.contains` differs from the standard
/// library's and would leak into them.
@Suite("JSON lines against Foundation's parser")
struct EventLineTests {
    /// The writer works on bytes: whatever the text (every control character, quotes,
    /// backslashes, multi-byte scripts, emoji) and whatever the number, a JSON parser reads
    /// back exactly what went in.
    @Test func randomTextAndNumbersRoundTripThroughAJSONParser() throws {
        var rng = SplitMix64(seed: 14)
        let alphabet: [Unicode.Scalar] = (0..<0x20).map { Unicode.Scalar($0)! } + ["\"", "\\", "a", "Z", "0", " ", "/", "é", "罐", "泄", "\u{1F525}", "\u{7F}", "\u{2028}"]
        for _ in 0..<500 {
            var text = ""
            for _ in 0..<Int(rng.next() % 24) { text.unicodeScalars.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            let int = Int64(bitPattern: rng.next()) >> (rng.next() % 64)
            let double = Double(Int64(bitPattern: rng.next()) >> 20) / Double(1 << (rng.next() % 40))
            var w = JSONWriter()
            w.field("text", text)
            w.field("int", int)
            w.field("double", double)
            w.field("list", strings: [text, ""])
            let line = w.finish()
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["text"] as? String == text, "\(line)")
            #expect(object["int"] is NSNumber && object["double"] is NSNumber, "\(line)")
            // Numbers read by Swift's own parsers: Foundation's JSON parser on Linux rounds
            // some doubles to a neighbour (the writer's text is the shortest exact one).
            func number(_ key: String) -> Substring? {
                line.range(of: "\"\(key)\":").map { line[$0.upperBound...].prefix { $0 != "," && $0 != "}" } }
            }
            #expect(number("int").flatMap { Int64($0) } == int, "\(line)")
            #expect(number("double").flatMap { Double($0) } == double, "\(line)")
            #expect(object["list"] as? [String] == [text, ""])
        }
        var w = JSONWriter()
        w.field("min", Int64.min)
        w.field("max", Int64.max)
        w.field("zero", 0)
        w.field("inf", Double.infinity)
        w.field("whole", 1e14)
        #expect(w.finish() == #"{"min":-9223372036854775808,"max":9223372036854775807,"zero":0,"inf":null,"whole":100000000000000}"#)
    }

}
