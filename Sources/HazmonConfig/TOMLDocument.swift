import CTOML
import CHeap
import TOMLKit

#if canImport(Glibc)
import Glibc
#endif

/// A parsed TOML file, read through TOMLKit's C layer, that frees its tree when the last
/// reader of it is gone.
///
/// TOMLKit parses the file (toml++ underneath) but never frees what it allocates: not the tree
/// of a document (`TOMLTable` has no deinit; see `Sources/CHeap/heap.c`), nor the copy
/// of each string, integer or number it hands out (a `malloc` per value read). A park's
/// configuration of 50,000 tags left about 100 MiB of tree and a million small blocks behind
/// at every load: at start, and again at every SIGHUP reload. So hazmon lets TOMLKit parse, and
/// then reads the nodes through its C functions (`CTOML`, the module TOMLKit is built on),
/// freeing each copy; `TOMLDocument` deletes the tree when the last `TableReader` holding it is
/// gone. Reading this way is also faster: no Swift wrapper object per node.
package final class TOMLDocument {
    package let root: TOMLTableNode

    /// The document in `text`; nil when TOMLKit's table is not where this expects it (a
    /// TOMLKit release that renamed its stored pointer: `ConfigMemoryTests` says so).
    static func parse(_ text: String) throws -> TOMLDocument? {
        let table = try TOMLTable(string: text)
        // TOMLKit keeps the `toml::table` it made with `new` in an internal stored property.
        guard let pointer = Mirror(reflecting: table).children.first(where: { $0.label == "tablePointer" })?.value as? OpaquePointer
        else { return nil }
        return TOMLDocument(root: TOMLTableNode(pointer: pointer))
    }

    private init(root: TOMLTableNode) { self.root = root }

    deinit { hazmon_toml_node_delete(UnsafeMutableRawPointer(root.pointer)) }
}

/// A TOML table of a `TOMLDocument` (valid while the document lives).
package struct TOMLTableNode {
    let pointer: OpaquePointer

    package subscript(key: String) -> TOMLNode? { tableGetNode(pointer, key).map(TOMLNode.init) }

    package var count: Int { tableSize(pointer) }

    /// The table's keys, sorted (toml++ keeps a table's entries in a sorted map).
    package var keys: [String] {
        let n = count
        guard n > 0 else { return [] }
        let list = tableGetKeys(pointer)
        defer {
            for i in 0..<n { free(UnsafeMutableRawPointer(mutating: list[i])) }
            free(UnsafeMutableRawPointer(mutating: list))
        }
        return (0..<n).map { String(cString: list[$0]) }
    }
}

/// One value of a `TOMLDocument` (valid while the document lives). Each accessor gives nil when
/// the value is of another type; an integer is not a `double` (as in TOMLKit).
package struct TOMLNode {
    let pointer: OpaquePointer

    package var type: TOMLType {
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
        guard let s = nodeAsString(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: s)) }
        return String(cString: s)
    }

    package var int: Int? {
        guard let p = nodeAsInt(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: p)) }
        return Int(p.pointee)
    }

    package var double: Double? {
        guard let p = nodeAsDouble(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: p)) }
        return p.pointee
    }

    package var bool: Bool? {
        guard let p = nodeAsBool(pointer) else { return nil }
        defer { free(UnsafeMutableRawPointer(mutating: p)) }
        return p.pointee
    }

    package var table: TOMLTableNode? { nodeAsTable(pointer).map(TOMLTableNode.init) }

    package var array: [TOMLNode]? {
        guard let a = nodeAsArray(pointer) else { return nil }
        return (0..<arraySize(a)).map { TOMLNode(pointer: arrayGetNode(a, Int64($0))) }
    }
}
