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
