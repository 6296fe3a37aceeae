/// Finds a key that appears twice in one JSON object. Foundation's decoder keeps one of them
/// silently (`{"value":15,"value":5}` reads as 15), so a payload or request could say two
/// things at once; hazmon refuses such input instead. One pass over the bytes, before the
/// parser; malformed JSON is left for the parser to report.
public enum JSONDuplicateKeys {
    /// The first key repeated within one object, or nil.
    public static func first(in bytes: some Collection<UInt8>) -> String? {
        // One entry per open container: for objects, the keys seen so far and whether the
        // next string is a key.
        var stack: [(keys: Set<[UInt8]>?, expectKey: Bool)] = []
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"): stack.append((keys: [], expectKey: true))
            case UInt8(ascii: "["): stack.append((keys: nil, expectKey: false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if !stack.isEmpty { stack.removeLast() }
            case UInt8(ascii: ","): if let top = stack.last, top.keys != nil { stack[stack.count - 1].expectKey = true }
            case UInt8(ascii: ":"): if !stack.isEmpty { stack[stack.count - 1].expectKey = false }
            case UInt8(ascii: "\""):
                // The raw bytes of the string, escapes as written.
                var s: [UInt8] = []
                bytes.formIndex(after: &i)
                while i != bytes.endIndex, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") {
                        s.append(bytes[i])
                        bytes.formIndex(after: &i)
                        if i == bytes.endIndex { return nil }
                    }
                    s.append(bytes[i])
                    bytes.formIndex(after: &i)
                }
                if i == bytes.endIndex { return nil }
                if let top = stack.last, top.expectKey, top.keys != nil {
                    if stack[stack.count - 1].keys!.insert(s).inserted == false {
                        return String(decoding: s, as: UTF8.self)
                    }
                    stack[stack.count - 1].expectKey = false
                }
            default: break
            }
            bytes.formIndex(after: &i)
        }
        return nil
    }
}
