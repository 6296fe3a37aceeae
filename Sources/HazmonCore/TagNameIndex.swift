/// Tag ids to their handles, built once and then only read: the engine's, and each MQTT
/// topic map's.
///
/// A `[String: TagHandle]` of a park's 50,000 tags keeps 131,072 buckets (Swift's dictionary
/// fills a power of two at most three quarters full) of 24 bytes each: 3.2 MB, and the router
/// held a second one. This keeps the names in one array and, in an open-addressing table of
/// twice the power of two at or above their count, each name's position as a 32-bit number:
/// 1.4 MB for 50,000, found in about the steps a dictionary takes (one hash, one or two probes,
/// one string comparison).
public struct TagNameIndex: Sendable, ExpressibleByDictionaryLiteral {
    private final class Storage: Sendable {
        let names: [String]
        let handles: [Int32]
        /// 0: empty; otherwise 1 + the name's position in `names`.
        let slots: [UInt32]
        /// Distinct names.
        let count: Int

        init(names: [String], handles: [Int32], slots: [UInt32], count: Int) {
            self.names = names
            self.handles = handles
            self.slots = slots
            self.count = count
        }
    }

    private let storage: Storage

    /// The pairs, in order; a name given twice keeps its last handle.
    public init(_ pairs: some Sequence<(String, TagHandle)>) {
        var names: [String] = []
        var handles: [Int32] = []
        names.reserveCapacity(pairs.underestimatedCount)
        handles.reserveCapacity(pairs.underestimatedCount)
        for (n, h) in pairs {
            precondition(h.index >= 0 && h.index <= Int(Int32.max), "a tag handle out of range: \(h.index)")
            names.append(n)
            handles.append(Int32(h.index))
        }
        var size = 8
        while size < 2 * names.count { size *= 2 }
        var slots = [UInt32](repeating: 0, count: size)
        let mask = size - 1
        var count = 0
        for (position, name) in names.enumerated() {
            var s = name.hashValue & mask
            while slots[s] != 0, names[Int(slots[s]) - 1] != name { s = (s + 1) & mask }
            if slots[s] == 0 { count += 1 }
            slots[s] = UInt32(position + 1)   // a repeated name takes over its earlier slot
        }
        storage = Storage(names: names, handles: handles, slots: slots, count: count)
    }

    public init(dictionaryLiteral elements: (String, TagHandle)...) {
        self.init(elements)
    }

    public init() { self.init(EmptyCollection<(String, TagHandle)>()) }

    public subscript(name: String) -> TagHandle? {
        let slots = storage.slots
        let mask = slots.count - 1
        var s = name.hashValue & mask
        while true {
            let p = slots[s]
            if p == 0 { return nil }
            if storage.names[Int(p) - 1] == name { return TagHandle(Int(storage.handles[Int(p) - 1])) }
            s = (s + 1) & mask
        }
    }

    /// How many names it holds (a name given twice counts once).
    public var count: Int { storage.count }
}
