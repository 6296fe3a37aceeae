import HazmonConfig
import HazmonCore

/// The errors a configuration text gets, each as `hazmon check` prints it; none for a good one.
func configErrors(_ text: String) -> [String] {
    do {
        _ = try ConfigLoader.parse(text: text, file: "hazmon.toml")
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// `bytes` with 1 to `maxEdits` random edits (a byte replaced, removed or inserted from
/// `alphabet`), as text: the fuzz tests' mutation.
func mutated(_ bytes: [UInt8], maxEdits: Int, alphabet: [UInt8], using rng: inout SplitMix64) -> String {
    var m = bytes
    for _ in 0..<Int.random(in: 1...maxEdits, using: &rng) {
        let i = Int.random(in: 0..<m.count, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: m[i] = alphabet.randomElement(using: &rng)!
        case 1: m.remove(at: i)
        default: m.insert(alphabet.randomElement(using: &rng)!, at: i)
        }
    }
    return String(decoding: m, as: UTF8.self)
}
