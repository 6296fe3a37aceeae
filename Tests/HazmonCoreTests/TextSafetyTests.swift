import HazmonCore
import Testing

@Suite("Duplicate JSON keys and quoted names")
struct TextSafetyTests {
    @Test(arguments: [
        (#"{"value":15,"value":5}"#, "value"), (#"{"a":{"b":1,"b":2}}"#, "b"), (#"[{"x":1},{"x":2,"x":3}]"#, "x"),
        (#"{"a\"b":1,"a\"b":2}"#, #"a\"b"#),
    ])
    func repeatedKeysAreFound(json: String, key: String) {
        #expect(JSONDuplicateKeys.first(in: Array(json.utf8)) == key)
    }

    @Test(arguments: [#"{"a":1,"b":{"a":2}}"#, #"[{"x":1},{"x":2}]"#, #"{"k":"value,\"k\":"}"#, #"{"a":["a","a"]}"#, "{", "\"x"])
    func noRepetition(json: String) {
        #expect(JSONDuplicateKeys.first(in: Array(json.utf8)) == nil)
    }

    @Test func namesAreQuotedSafely() {
        #expect("GT-101".quoted() == #""GT-101""#)
        #expect("GT\n101".quoted() == #""GT\n101""#)
        #expect("a\"b\u{7}".quoted() == #""a\"b\u0007""#)
        #expect(String(repeating: "x", count: 100).quoted(limit: 5) == "\"xxxxx…\"")
    }
}

@Suite("Duplicate-key scanner under fuzz")
struct DuplicateKeyFuzzTests {
    /// Random bytes and mutated requests: it always returns, and never names a key that is not
    /// in the input.
    @Test func randomInputNeverCrashes() {
        var rng = SplitMix64(seed: 0x0D0B_1E5)
        let seeds = [#"{"type":"ack","tag":"GT-101","condition":"hh","user":"zhang"}"#, #"{"a":[{"b":1},{"b":2}],"c":"\"b\""}"#]
        let alphabet = Array(#"{}[]":,\"abc"#.utf8)
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = Array(seeds[i % seeds.count].utf8)
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = alphabet.randomElement(using: &rng)!
                }
            }
            if let key = JSONDuplicateKeys.first(in: bytes) {
                #expect(String(decoding: bytes, as: UTF8.self).contains(key))
            }
        }
    }
}
