import Testing
@testable import HazmonCore

@Suite("Tag ids to handles")
struct TagNameIndexTests {
    /// Finds what a dictionary finds, for names present and absent, over random sets of names
    /// (short ones, long ones, ones that differ in a byte, non-ASCII), at every fill of the table.
    @Test(arguments: [1, 2, 3, 4, 5, 6])
    func agreesWithADictionary(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let count = [0, 1, 7, 8, 9, 1_000, 4_097][Int(seed) % 7]
        let alphabet = Array("AB-_.7燃")
        func name() -> String {
            let n = Int(rng.next() % 20)
            return (n == 0 ? "GT" : "") + String((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
        var pairs: [(String, TagHandle)] = []
        for i in 0..<count { pairs.append((name(), TagHandle(i))) }
        var reference: [String: TagHandle] = [:]
        for (n, h) in pairs { reference[n] = h }   // a repeated name keeps its last handle
        let index = TagNameIndex(pairs)
        #expect(index.count == reference.count)
        for (n, h) in reference { #expect(index[n] == h, "\(n)") }
        for _ in 0..<2_000 {
            let probe = name()
            #expect(index[probe] == reference[probe], "\(probe)")
        }
    }

    @Test func aParkOfTagsAndTheLiteralForm() {
        let index = TagNameIndex((0..<50_000).lazy.map { ("GT\($0)", TagHandle($0)) })
        #expect(index.count == 50_000)
        #expect(index["GT0"] == TagHandle(0))
        #expect(index["GT49999"] == TagHandle(49_999))
        #expect(index["GT50000"] == nil)
        #expect(index[""] == nil)
        let literal: TagNameIndex = ["a": TagHandle(3), "b": TagHandle(1)]
        #expect(literal["a"] == TagHandle(3) && literal["b"] == TagHandle(1) && literal["c"] == nil)
        #expect(TagNameIndex()["a"] == nil && TagNameIndex().count == 0)
    }
}
