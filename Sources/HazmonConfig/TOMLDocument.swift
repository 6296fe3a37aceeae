import CTOML
import CHeap
import Dispatch
import TOMLKit

#if canImport(Glibc)
import Glibc
#endif

/// A parsed TOML file, read through TOMLKit's C layer, that frees its trees when the last
/// reader of it is gone.
///
/// TOMLKit parses the file (toml++ underneath) but never frees what it allocates: not the tree
/// of a document (`TOMLTable` has no deinit; see `Sources/CHeap/heap.c`), nor the copy
/// of each string, integer or number it hands out (a `malloc` per value read). A park's
/// configuration of 50,000 tags left about 100 MiB of tree and a million small blocks behind
/// at every load: at start, and again at every SIGHUP reload. So hazmon parses through
/// TOMLKit's C functions (`CTOML`, the module TOMLKit is built on: `tableCreateFromString`),
/// reads the nodes through them, freeing each copy, and `TOMLDocument` deletes the trees when
/// the last `TableReader` holding it is gone. Reading this way is also faster: no Swift
/// wrapper object per node. A long file is parsed in parts, on both cores (`TOMLParts`).
package final class TOMLDocument {
    package let root: TOMLTableNode
    /// Every tree this document was parsed into (one, or the rest of the file and its pieces:
    /// see `TOMLParts`), deleted with the document.
    private let trees: [OpaquePointer]

    /// A syntax error: toml++'s description and the file's line it is on.
    struct SyntaxError: Error {
        var line: Int
        var description: String
    }

    /// The document in `text`, parsed in parts where `TOMLParts` can cut it (on both cores),
    /// whole otherwise. A part that fails sends the whole file to toml++, so the error is the
    /// one the whole file gives.
    static func parse(_ text: String, entriesPerPiece: Int = TOMLParts.entriesPerPiece) throws(SyntaxError) -> TOMLDocument {
        let bytes = Array(text.utf8)
        if let parts = bytes.withUnsafeBufferPointer({ TOMLParts.cut($0, entriesPerPiece: entriesPerPiece) }),
           let document = parsed(parts, of: bytes) {
            return document
        }
        return try parseWhole(bytes)
    }

    /// The document in `text`, parsed in one piece by toml++.
    static func parseWhole(_ text: [UInt8]) throws(SyntaxError) -> TOMLDocument {
        let tree = try (text + [0]).withUnsafeBufferPointer { b throws(SyntaxError) in try parseOne(b) }
        return TOMLDocument(trees: [tree], root: TOMLTableNode(pointer: tree, parts: nil))
    }

    /// How many trees it was parsed into (1 when whole).
    var treeCount: Int { trees.count }

    /// The document from its parts, or nil when a part fails or holds what it should not.
    private static func parsed(_ parts: TOMLParts, of bytes: [UInt8]) -> TOMLDocument? {
        // Job 0 is the rest of the file, then one per piece; each writes only its own slot.
        let jobs = 1 + parts.pieces.count
        let results = UnsafeMutableBufferPointer<OpaquePointer?>.allocate(capacity: jobs)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results
        let rest = parts.rest, pieces = parts.pieces
        DispatchQueue.concurrentPerform(iterations: jobs) { job in
            var text = job == 0 ? rest : Array(bytes[pieces[job - 1].range])
            text.append(0)
            slots[job] = text.withUnsafeBufferPointer { try? parseOne($0) }
        }
        let trees = results.compactMap { $0 }
        var arrays: [String: [TOMLNode]] = [:]
        var sound = trees.count == jobs
        if sound, let restTree = results[0] {
            for (i, piece) in pieces.enumerated() {
                let tree = results[i + 1]!
                // A piece holds its array and nothing else; the rest of the file holds no key of it.
                guard tableSize(tree) == 1, let node = tableGetNode(tree, piece.key), let array = nodeAsArray(node),
                      tableGetNode(restTree, piece.key) == nil
                else { sound = false; break }
                arrays[piece.key, default: []].append(contentsOf: (0..<arraySize(array)).map { TOMLNode(pointer: arrayGetNode(array, Int64($0))) })
            }
        }
        guard sound, let restTree = results[0] else {
            for t in trees { hazmon_toml_node_delete(UnsafeMutableRawPointer(t)) }
            return nil
        }
        return TOMLDocument(trees: trees, root: TOMLTableNode(pointer: restTree, parts: TOMLTableNode.Parts(arrays)))
    }

    /// One toml++ tree from the NUL-terminated `text` (a part's error is never reported: the
    /// whole file is parsed again for it, so lines count from the file's start).
    private static func parseOne(_ text: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> OpaquePointer {
        // Written by toml++ only when the parse fails.
        let error = UnsafeMutablePointer<CTOMLParseError>.allocate(capacity: 1)
        defer { error.deallocate() }
        let tree = text.baseAddress!.withMemoryRebound(to: CChar.self, capacity: text.count) { tableCreateFromString($0, error) }
        guard let tree else {
            defer { free(UnsafeMutableRawPointer(mutating: error.pointee.description)) }
            throw SyntaxError(line: Int(error.pointee.source.begin.line),
                              description: String(cString: error.pointee.description))
        }
        return tree
    }

    private init(trees: [OpaquePointer], root: TOMLTableNode) {
        self.trees = trees
        self.root = root
    }

    deinit {
        for t in trees { hazmon_toml_node_delete(UnsafeMutableRawPointer(t)) }
    }
}

/// A TOML table of a `TOMLDocument` (valid while the document lives).
package struct TOMLTableNode {
    let pointer: OpaquePointer
    /// The root of a document parsed in parts: its arrays of tables parsed apart (key → the
    /// entries, in file order), which the rest's tree does not hold.
    let parts: Parts?

    final class Parts {
        let arrays: [String: [TOMLNode]]
        init(_ arrays: [String: [TOMLNode]]) { self.arrays = arrays }
    }

    init(pointer: OpaquePointer, parts: Parts? = nil) {
        self.pointer = pointer
        self.parts = parts
    }

    package subscript(key: String) -> TOMLNode? {
        if let items = parts?.arrays[key] { return TOMLNode(items: items) }
        return tableGetNode(pointer, key).map { TOMLNode(pointer: $0) }
    }

    package var count: Int { tableSize(pointer) + (parts?.arrays.count ?? 0) }

    /// The table's keys, sorted (toml++ keeps a table's entries in a sorted map).
    package var keys: [String] {
        let n = tableSize(pointer)
        var out: [String] = []
        if n > 0 {
            let list = tableGetKeys(pointer)
            defer {
                for i in 0..<n { free(UnsafeMutableRawPointer(mutating: list[i])) }
                free(UnsafeMutableRawPointer(mutating: list))
            }
            out = (0..<n).map { String(cString: list[$0]) }
        }
        guard let parts else { return out }
        return (out + parts.arrays.keys).sorted()
    }
}

/// One value of a `TOMLDocument` (valid while the document lives). Each accessor gives nil when
/// the value is of another type; an integer is not a `double` (as in TOMLKit).
package struct TOMLNode {
    /// The toml++ node; nil for an array of tables parsed in parts (`items`).
    let pointer: OpaquePointer?
    let items: [TOMLNode]?

    init(pointer: OpaquePointer) {
        self.pointer = pointer
        items = nil
    }

    init(items: [TOMLNode]) {
        pointer = nil
        self.items = items
    }

    package var type: TOMLType {
        guard let pointer else { return .array }
        switch nodeType(pointer) {
        case .table: return .table
        case .array: return .array
        case .string: return .string
        case .integer: return .int
        case .floatingPoint: return .double
        case .boolean: return .bool
        case .date: return .date
        case .timeType: return .time
        case .dateTime: return .dateTime
        @unknown default: return .string
        }
    }

    package var string: String? {
        guard let pointer, let s = nodeAsString(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: s)) }
        return String(cString: s)
    }

    package var int: Int? {
        guard let pointer, let p = nodeAsInt(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: p)) }
        return Int(p.pointee)
    }

    package var double: Double? {
        guard let pointer, let p = nodeAsDouble(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: p)) }
        return p.pointee
    }

    package var bool: Bool? {
        guard let pointer, let p = nodeAsBool(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: p)) }
        return p.pointee
    }

    package var table: TOMLTableNode? { pointer.flatMap(nodeAsTable).map { TOMLTableNode(pointer: $0) } }

    package var array: [TOMLNode]? {
        if let items { return items }
        guard let pointer, let a = nodeAsArray(pointer) else { return nil }
        return (0..<arraySize(a)).map { TOMLNode(pointer: arrayGetNode(a, Int64($0))) }
    }
}
