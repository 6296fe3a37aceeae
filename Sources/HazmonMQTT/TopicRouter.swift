import HazmonCore
import Synchronization

/// An MQTT topic filter (`plant/+/+/gas`, `gw/#`), matched level by level.
public struct TopicPattern: Sendable, Equatable {
    enum Level: Sendable, Equatable {
        case literal(String)
        case single
        case rest
    }

    let levels: [Level]

    public init(_ filter: String) {
        levels = filter.split(separator: "/", omittingEmptySubsequences: false).map {
            $0 == "+" ? .single : $0 == "#" ? .rest : .literal(String($0))
        }
    }

    /// The topic's levels if it matches, else nil. Per MQTT, wildcards never match topics that
    /// start with `$` (broker internals).
    public func match(_ topic: String) -> [Substring]? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$") {
            guard case .literal? = levels.first else { return nil }
        }
        var i = 0
        for level in levels {
            switch level {
            case .rest:
                return parts
            case .single:
                guard i < parts.count else { return nil }
            case .literal(let l):
                guard i < parts.count, parts[i] == l else { return nil }
            }
            i += 1
        }
        return i == parts.count ? parts : nil
    }
}

/// Fills a `[[mqtt.map]]` tag template: `{1}`…`{9}` are topic levels (1-based), `{tag}` a batch
/// point's own name; for Neuron uploads also `{node}` and `{group}`; for Sparkplug B `{group}`,
/// `{node}`, `{device}` and `{metric}`.
public struct TagTemplate: Sendable, Equatable {
    enum Piece: Sendable, Equatable {
        case text(String)
        case level(Int)
        case point
        case node, group, device, metric
    }

    let pieces: [Piece]

    public init(_ template: String) {
        var pieces: [Piece] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            if open > rest.startIndex { pieces.append(.text(String(rest[..<open]))) }
            let name = rest[rest.index(after: open)..<close]
            if name == "tag" { pieces.append(.point) }
            else if name == "node" { pieces.append(.node) }
            else if name == "group" { pieces.append(.group) }
            else if name == "device" { pieces.append(.device) }
            else if name == "metric" { pieces.append(.metric) }
            else if let n = Int(name) { pieces.append(.level(n)) }
            else { pieces.append(.text(String(rest[open...close]))) }
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { pieces.append(.text(String(rest))) }
        self.pieces = pieces
    }

    public func render(levels: [Substring], point: String?, node: String? = nil, group: String? = nil,
                       device: String? = nil, metric: String? = nil) -> String? {
        var out = ""
        for p in pieces {
            switch p {
            case .text(let t): out += t
            case .level(let n):
                guard n >= 1, n <= levels.count else { return nil }
                out += levels[n - 1]
            case .point:
                guard let point else { return nil }
                out += point
            case .node:
                guard let node else { return nil }
                out += node
            case .group:
                guard let group else { return nil }
                out += group
            case .device:
                guard let device else { return nil }
                out += device
            case .metric:
                guard let metric else { return nil }
                out += metric
            }
        }
        return out
    }
}

/// How a `[[mqtt.map]]` reads its payloads.
public enum PayloadFormat: String, Sendable, Equatable, CaseIterable {
    /// A number, a JSON value or object, or a batch (`PayloadDecoder`).
    case plain
    /// EMQX Neuron's `tags-format` or `values-format` upload (`NeuronDecoder`).
    case neuron
}

/// Where one message's values go: which tags, read how.
public struct TopicRouter: Sendable {
    /// A tag fed from an exact topic, with the JSON path of its value.
    public struct Binding: Sendable, Equatable {
        public var tag: TagHandle
        public var json: String?
        public init(tag: TagHandle, json: String?) { self.tag = tag; self.json = json }
    }

    /// A `[[mqtt.map]]`: filter, template, and which tags it may feed.
    public struct Map: Sendable {
        public var id: String
        public var filter: String
        public var pattern: TopicPattern
        public var template: TagTemplate
        public var json: String?
        public var batch: Bool
        /// How its payloads are read: hazmon's own forms, or EMQX Neuron's uploads.
        public var format: PayloadFormat
        /// Tag ids this map feeds (those whose source names it), to their handles.
        public var tags: TagNameIndex

        /// One value per message whose tag the topic alone names (no `{tag}` from the payload):
        /// a topic's tag, once resolved, can be remembered (`TopicCache`).
        var resolvesByTopic: Bool { !batch && format == .plain && !template.pieces.contains(.point) }

        public init(id: String, filter: String, template: String, json: String?, batch: Bool, format: PayloadFormat = .plain,
                    tags: TagNameIndex) {
            self.format = format
            self.id = id
            self.filter = filter
            self.pattern = TopicPattern(filter)
            self.template = TagTemplate(template)
            self.json = json
            self.batch = batch
            self.tags = tags
        }
    }

    public private(set) var exact: [String: [Binding]]
    public private(set) var maps: [Map]
    /// Topics a one-value `[[mqtt.map]]` already resolved to a tag: the next message on the
    /// same topic skips matching the filters and filling the template (a gateway publishes on
    /// the same few thousand topics all day). Shared by copies of this router; a reload builds
    /// a new router and so starts a new cache.
    let resolved = TopicCache()

    public init(exact: [String: [Binding]], maps: [Map]) {
        self.exact = exact
        self.maps = maps
    }

    /// Every filter to subscribe to, each once.
    public var subscriptions: [String] {
        var seen = Set<String>()
        return (exact.keys.sorted() + maps.map(\.filter)).filter { seen.insert($0).inserted }
    }

    /// What a message on `topic` feeds, in routing order: exact bindings first, then each map.
    public func route(_ topic: String) -> Route {
        if let b = exact[topic] { return .bindings(b) }
        for m in maps {
            if let levels = m.pattern.match(topic) { return .map(m, levels) }
        }
        return .none
    }

    public enum Route: Sendable {
        case bindings([Binding])
        case map(Map, [Substring])
        case none
    }
}

/// Topic → (tag, map) for one-value `[[mqtt.map]]` topics that resolved to a configured tag.
/// Bounded: past `limit` topics (a gateway inventing topics) it starts again empty.
///
/// A park's gateway map resolves a topic per tag, 50,000 of them: a `[String: Hit]` held each
/// topic as a string of its own (64 bytes allocated for a topic of 16 to 31 bytes) in a table
/// of 131,072 buckets of 32 bytes, 7.4 MB in all. This keeps the topics' bytes end to end in
/// one array, an entry of 16 bytes per topic and an open-addressing table of 32-bit entry
/// numbers at most half full: 2-3 MB.
final class TopicCache: Sendable {
    struct Hit: Sendable, Equatable {
        var tag: TagHandle
        var map: Int
    }

    static let limit = 200_000

    private struct Table {
        struct Entry {
            var offset: UInt32
            var length: UInt32
            var tag: Int32
            var map: Int32
        }

        /// Every topic's UTF-8, end to end.
        var bytes: [UInt8] = []
        var entries: [Entry] = []
        /// 0: empty; otherwise 1 + the index of an entry. A power of two in size, at most half full.
        var slots = [UInt32](repeating: 0, count: 64)

        static func hash(_ topic: UnsafeBufferPointer<UInt8>) -> Int {
            var h = Hasher()
            h.combine(bytes: UnsafeRawBufferPointer(topic))
            return h.finalize()
        }

        /// The slot that holds `topic`, or the empty slot where it would go.
        func slot(of topic: UnsafeBufferPointer<UInt8>, hash: Int) -> Int {
            let mask = slots.count - 1
            var s = hash & mask
            while slots[s] != 0 {
                let e = entries[Int(slots[s]) - 1]
                if Int(e.length) == topic.count,
                   bytes[Int(e.offset) ..< Int(e.offset) + Int(e.length)].elementsEqual(topic) { return s }
                s = (s + 1) & mask
            }
            return s
        }

        func lookup(_ topic: UnsafeBufferPointer<UInt8>) -> Hit? {
            let p = slots[slot(of: topic, hash: Self.hash(topic))]
            guard p != 0 else { return nil }
            let e = entries[Int(p) - 1]
            return Hit(tag: TagHandle(Int(e.tag)), map: Int(e.map))
        }

        mutating func store(_ topic: UnsafeBufferPointer<UInt8>, _ hit: Hit) {
            guard hit.tag.index <= Int(Int32.max), hit.map <= Int(Int32.max) else { return }
            if entries.count >= TopicCache.limit || bytes.count + topic.count > Int(UInt32.max) { self = Table() }
            let entry = Entry(offset: UInt32(bytes.count), length: UInt32(topic.count), tag: Int32(hit.tag.index), map: Int32(hit.map))
            let s = slot(of: topic, hash: Self.hash(topic))
            if slots[s] != 0 {
                let i = Int(slots[s]) - 1
                entries[i].tag = entry.tag
                entries[i].map = entry.map
                return
            }
            bytes.append(contentsOf: topic)
            entries.append(entry)
            slots[s] = UInt32(entries.count)
            if entries.count * 2 > slots.count { grow() }
        }

        /// Doubles the slots and places every entry again.
        private mutating func grow() {
            let mask = slots.count * 2 - 1
            var new = [UInt32](repeating: 0, count: slots.count * 2)
            bytes.withUnsafeBufferPointer { all in
                for (i, e) in entries.enumerated() {
                    var s = Self.hash(UnsafeBufferPointer(rebasing: all[Int(e.offset) ..< Int(e.offset) + Int(e.length)])) & mask
                    while new[s] != 0 { s = (s + 1) & mask }
                    new[s] = UInt32(i + 1)
                }
            }
            slots = new
        }
    }

    private let table = Mutex(Table())

    func lookup(_ topic: String) -> Hit? {
        var topic = topic
        return topic.withUTF8 { bytes in table.withLock { $0.lookup(bytes) } }
    }

    func store(_ topic: String, _ hit: Hit) {
        var topic = topic
        topic.withUTF8 { bytes in table.withLock { $0.store(bytes, hit) } }
    }

    /// How many topics it holds.
    var count: Int { table.withLock { $0.entries.count } }
}
