import HazmonCore

/// The Sparkplug B host application's view of its edge nodes (Sparkplug 3.0, chapter 7): who
/// was born with which metrics and aliases, whose `seq` runs on, who died. A value type with no
/// I/O: each call appends the samples it made and returns what the caller must do (raise or
/// clear a `comm` alarm, change which tags a connection holds, send a rebirth request).
public struct SparkplugHost: Sendable {
    /// One `[[mqtt.sparkplug]]` group as the daemon resolved it against the engine's tags.
    public struct Group: Sendable {
        public var id: String
        public var group: String
        /// Declared "node" and "node/device" entries, to their `comm` connection ids.
        public var declared: [String: String]
        public var template: TagTemplate
        /// Tags named by the template (their source is `{ sparkplug = ID }` alone).
        public var tags: [String: TagHandle]
        /// Tags with an explicit node / device / metric.
        public var explicit: [SparkplugMetricName: TagHandle]
        public var rebirth: Bool
        public var birthTimeout: Duration

        public init(id: String, group: String, declared: [String: String], template: String, tags: [String: TagHandle],
                    explicit: [SparkplugMetricName: TagHandle], rebirth: Bool, birthTimeout: Duration) {
            self.id = id
            self.group = group
            self.declared = declared
            self.template = TagTemplate(template)
            self.tags = tags
            self.explicit = explicit
            self.rebirth = rebirth
            self.birthTimeout = birthTimeout
        }

        func handle(node: String, device: String?, metric: String) -> TagHandle? {
            if let h = explicit[SparkplugMetricName(node: node, device: device, metric: metric)] { return h }
            // `{device}` is empty for a node's own metrics; the template cannot fail here.
            return template.render(levels: [], point: nil, node: node, group: group, device: device ?? "", metric: metric).flatMap { tags[$0] }
        }
    }

    /// What the caller does after a call, in this order.
    public struct Actions: Sendable {
        public struct Connection: Sendable, Equatable {
            public var id: String
            public var up: Bool
            public var reason: String?
        }
        /// A connection's tags changed (a birth bound more of them): set them before `connections`.
        public var members: [String: [TagHandle]] = [:]
        public var connections: [Connection] = []
        /// NCMD messages to publish (QoS 0, not retained).
        public var commands: [(topic: String, payload: [UInt8])] = []
        public var drops: [PayloadError] = []
        /// Things an operator should read in the log once (an undeclared node's birth, a stale death).
        public var notes: [String] = []
    }

    struct Binding: Sendable {
        var handle: TagHandle?
        var datatype: UInt32?
    }

    struct DeviceState: Sendable {
        var born = false
        var names: [String: Binding] = [:]
        var deadline: Instant?
    }

    struct NodeState: Sendable {
        var born = false
        var seq: UInt8 = 0
        var bdSeq: UInt64?
        var aliases: [UInt64: Binding] = [:]
        var names: [String: Binding] = [:]
        var devices: [String: DeviceState] = [:]
        var lastRequest: Instant?
        var deadline: Instant?
        /// Every tag this node (and its devices) has fed in this run: the node connection's members.
        var members: Set<TagHandle> = []
        var deviceMembers: [String: Set<TagHandle>] = [:]
    }

    struct Key: Hashable, Sendable {
        var group: Int
        var node: String
    }

    public let groups: [Group]
    private let groupIndex: [String: Int]
    private var nodes: [Key: NodeState] = [:]
    /// Declared entries whose `comm` alarm this host has raised.
    private var down: Set<String> = []
    /// A node is asked for a rebirth at most this often.
    public static let rebirthInterval = Duration.seconds(5)

    public init(groups: [Group]) {
        self.groups = groups
        self.groupIndex = Dictionary(groups.enumerated().map { ($1.group, $0) }, uniquingKeysWith: { a, _ in a })
        for (gi, g) in groups.enumerated() {
            for entry in g.declared.keys {
                let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
                let key = Key(group: gi, node: parts[0])
                if nodes[key] == nil { nodes[key] = NodeState() }
                if parts.count == 2, nodes[key]!.devices[parts[1]] == nil { nodes[key]!.devices[parts[1]] = DeviceState() }
            }
        }
    }

    /// The topic filters to subscribe to (each group's tree, and the host's own STATE).
    public var subscriptions: [String] { groups.map { "\(SparkplugTopic.namespace)/\($0.group)/#" } }

    // MARK: connection

    /// Connected (again) to the broker: births sent while we were away are gone, so every node
    /// starts unborn; each is asked for a rebirth and given `birth_timeout` to answer.
    public mutating func connected(now: Instant, wallMilliseconds: UInt64) -> Actions {
        var actions = Actions()
        for key in nodes.keys.sorted(by: { ($0.group, $0.node) < ($1.group, $1.node) }) {
            let g = groups[key.group]
            nodes[key]!.born = false
            nodes[key]!.deadline = now + g.birthTimeout
            for d in nodes[key]!.devices.keys { nodes[key]!.devices[d]!.born = false; nodes[key]!.devices[d]!.deadline = nil }
            nodes[key]!.lastRequest = nil
            requestRebirth(key, now: now, wallMilliseconds: wallMilliseconds, into: &actions)
        }
        return actions
    }

    /// Time passes: a declared node or device still unborn past its deadline gets its `comm`
    /// alarm; an unborn node is asked again once per `birth_timeout`.
    public mutating func tick(now: Instant, wallMilliseconds: UInt64) -> Actions {
        var actions = Actions()
        for key in nodes.keys.sorted(by: { ($0.group, $0.node) < ($1.group, $1.node) }) {
            let g = groups[key.group]
            let n = nodes[key]!
            if !n.born, let deadline = n.deadline, now >= deadline {
                setDown(key.group, key.node, reason: "no NBIRTH from Sparkplug edge node \(g.group)/\(key.node) within \(DurationParser.format(g.birthTimeout))", into: &actions)
                if let last = n.lastRequest, now - last >= g.birthTimeout { requestRebirth(key, now: now, wallMilliseconds: wallMilliseconds, into: &actions) }
            }
            for (d, dev) in n.devices where n.born && !dev.born {
                if let deadline = dev.deadline, now >= deadline {
                    setDown(key.group, "\(key.node)/\(d)", reason: "no DBIRTH from Sparkplug device \(g.group)/\(key.node)/\(d) within \(DurationParser.format(g.birthTimeout))", into: &actions)
                }
            }
        }
        return actions
    }

    // MARK: messages

    /// One message from an edge node or device: appends its samples, returns the rest.
    public mutating func handle(_ topic: SparkplugTopic, payload: [UInt8], received: Instant, wallMilliseconds: UInt64,
                                maxPayload: Int, into samples: inout [Sample]) -> Actions {
        var actions = Actions()
        guard let gi = groupIndex[topic.group] else { return actions }
        if topic.kind == .ncmd || topic.kind == .dcmd { return actions }   // commands: ours or another host's
        let message: SparkplugMessage
        do throws(SparkplugError) {
            message = try SparkplugCodec.decode(payload, limit: maxPayload)
        } catch {
            actions.drops.append(.sparkplug(reason: error.reason, detail: "\(error)"))
            return actions
        }
        let key = Key(group: gi, node: topic.node)
        let g = groups[gi]
        switch topic.kind {
        case .nbirth:
            nodeBirth(key, message, received: received, into: &samples, &actions)
        case .ndeath:
            guard var n = nodes[key], n.born else { return actions }
            let bd = message.metrics.first { $0.name == "bdSeq" }.flatMap { m -> UInt64? in
                if case .number(let v) = m.value { return UInt64(exactly: v) } else { return nil }
            }
            if let bd, let current = n.bdSeq, bd != current {
                // The will of an earlier session, delivered late: this session lives on.
                actions.notes.append("Sparkplug NDEATH of \(g.group)/\(topic.node) with bdSeq \(bd) ignored: the node's birth has bdSeq \(current)")
                return actions
            }
            n.born = false
            n.deadline = received + g.birthTimeout
            for d in n.devices.keys { n.devices[d]!.born = false }
            nodes[key] = n
            setDown(gi, topic.node, reason: "Sparkplug edge node \(g.group)/\(topic.node) is offline (NDEATH)", into: &actions)
        case .dbirth, .ddata, .ddeath, .ndata:
            guard var n = nodes[key], n.born else {
                actions.drops.append(.sparkplug(reason: "before_birth", detail: "\(topic.kind.rawValue) from \(g.group)/\(topic.node) before its NBIRTH"))
                requestRebirth(key, now: received, wallMilliseconds: wallMilliseconds, into: &actions)
                return actions
            }
            let expected = n.seq &+ 1
            guard let seq = message.seq, seq == UInt64(expected) else {
                let got = message.seq.map { "\($0)" } ?? "none"
                actions.drops.append(.sparkplug(reason: "seq_gap", detail: "\(topic.kind.rawValue) from \(g.group)/\(topic.node) has seq \(got), expected \(expected): data from it is suspect until its rebirth"))
                n.born = false
                n.deadline = received + g.birthTimeout
                nodes[key] = n
                requestRebirth(key, now: received, wallMilliseconds: wallMilliseconds, into: &actions)
                return actions
            }
            n.seq = expected
            nodes[key] = n
            switch topic.kind {
            case .dbirth: deviceBirth(key, topic.device!, message, received: received, into: &samples, &actions)
            case .ddeath: deviceDeath(key, topic.device!, received: received, &actions)
            case .ddata, .ndata: data(key, device: topic.device, message, received: received, wallMilliseconds: wallMilliseconds, into: &samples, &actions)
            default: break
            }
        case .ncmd, .dcmd:
            break
        }
        return actions
    }

    private mutating func nodeBirth(_ key: Key, _ m: SparkplugMessage, received: Instant, into samples: inout [Sample], _ actions: inout Actions) {
        let g = groups[key.group]
        guard let seq = m.seq, seq <= 255 else {
            actions.drops.append(.sparkplug(reason: "seq_gap", detail: "NBIRTH from \(g.group)/\(key.node) without a seq of 0...255"))
            return
        }
        var n = nodes[key] ?? NodeState()
        if nodes[key] == nil, g.declared[key.node] == nil {
            actions.notes.append("Sparkplug edge node \(g.group)/\(key.node) is not in [[mqtt.sparkplug]] \"\(g.id)\"'s nodes: its tags are read, but its loss raises no comm alarm")
        }
        n.born = true
        n.seq = UInt8(seq)
        n.deadline = nil
        n.aliases = [:]
        n.names = [:]
        n.bdSeq = m.metrics.first { $0.name == "bdSeq" }.flatMap { if case .number(let v) = $0.value { UInt64(exactly: v) } else { nil } }
        for d in n.devices.keys {
            n.devices[d]!.born = false
            n.devices[d]!.names = [:]
            n.devices[d]!.deadline = received + g.birthTimeout
        }
        let before = n.members
        n.names = bind(m, key, device: nil, aliases: &n.aliases, members: &n.members, received: received, into: &samples, &actions)
        nodes[key] = n
        if n.members != before, let id = g.declared[key.node] { actions.members[id] = n.members.sorted { $0.index < $1.index } }
        setUp(key.group, key.node, into: &actions)
    }

    private mutating func deviceBirth(_ key: Key, _ device: String, _ m: SparkplugMessage, received: Instant,
                                      into samples: inout [Sample], _ actions: inout Actions) {
        let g = groups[key.group]
        var n = nodes[key]!
        if n.devices[device] == nil, g.declared["\(key.node)/\(device)"] == nil {
            actions.notes.append("Sparkplug device \(g.group)/\(key.node)/\(device) is not in [[mqtt.sparkplug]] \"\(g.id)\"'s nodes: its tags are read, but its DDEATH cannot make them bad")
        }
        var dev = n.devices[device] ?? DeviceState()
        dev.born = true
        dev.deadline = nil
        dev.names = [:]
        let beforeNode = n.members, beforeDevice = n.deviceMembers[device] ?? []
        var deviceMembers = beforeDevice
        dev.names = bind(m, key, device: device, aliases: &n.aliases, members: &deviceMembers, received: received, into: &samples, &actions)
        n.deviceMembers[device] = deviceMembers
        n.members.formUnion(deviceMembers)
        n.devices[device] = dev
        nodes[key] = n
        if n.members != beforeNode, let id = g.declared[key.node] { actions.members[id] = n.members.sorted { $0.index < $1.index } }
        let entry = "\(key.node)/\(device)"
        if let id = g.declared[entry], let set = n.deviceMembers[device], set != beforeDevice {
            actions.members[id] = set.sorted { $0.index < $1.index }
        }
        setUp(key.group, entry, into: &actions)
    }

    /// A birth's metrics: each bound to its tag (or to none), by name and by alias; the tags
    /// join `members`, and the birth's values become samples.
    private func bind(_ m: SparkplugMessage, _ key: Key, device: String?, aliases: inout [UInt64: Binding],
                      members: inout Set<TagHandle>, received: Instant, into samples: inout [Sample],
                      _ actions: inout Actions) -> [String: Binding] {
        let g = groups[key.group]
        let from = "\(g.group)/\(key.node)" + (device.map { "/" + $0 } ?? "")
        var names: [String: Binding] = [:]
        for metric in m.metrics {
            guard let name = metric.name, !name.isEmpty else {
                actions.drops.append(.sparkplug(reason: "missing_field", detail: "a metric of the \(device == nil ? "NBIRTH" : "DBIRTH") from \(from) has no name"))
                continue
            }
            let b = Binding(handle: g.handle(node: key.node, device: device, metric: name), datatype: metric.datatype)
            names[name] = b
            if let alias = metric.alias { aliases[alias] = b }
            if let h = b.handle {
                members.insert(h)
                sample(metric, h, received: received, into: &samples, &actions, from: from)
            }
        }
        return names
    }

    private mutating func deviceDeath(_ key: Key, _ device: String, received: Instant, _ actions: inout Actions) {
        let g = groups[key.group]
        guard nodes[key]!.devices[device]?.born == true else { return }
        nodes[key]!.devices[device]!.born = false
        nodes[key]!.devices[device]!.deadline = received + g.birthTimeout
        let entry = "\(key.node)/\(device)"
        if g.declared[entry] == nil {
            actions.notes.append("Sparkplug device \(g.group)/\(entry) is offline (DDEATH) but not declared in nodes: its tags stay as they were until stale")
        }
        setDown(key.group, entry, reason: "Sparkplug device \(g.group)/\(entry) is offline (DDEATH)", into: &actions)
    }

    private mutating func data(_ key: Key, device: String?, _ m: SparkplugMessage, received: Instant, wallMilliseconds: UInt64,
                               into samples: inout [Sample], _ actions: inout Actions) {
        let g = groups[key.group]
        let n = nodes[key]!
        func from() -> String { "\(g.group)/\(key.node)" + (device.map { "/" + $0 } ?? "") }
        if let device, n.devices[device]?.born != true {
            actions.drops.append(.sparkplug(reason: "before_birth", detail: "DDATA from \(from()) before its DBIRTH"))
            requestRebirth(key, now: received, wallMilliseconds: wallMilliseconds, into: &actions)
            return
        }
        var unknown = false
        for metric in m.metrics {
            let binding: Binding?
            if let alias = metric.alias { binding = n.aliases[alias] }
            else if let name = metric.name { binding = device.map { n.devices[$0]?.names[name] } ?? n.names[name] }
            else { binding = nil }
            guard let binding else {
                let what = metric.alias.map { "alias \($0)" } ?? metric.name.map { "metric \($0.quoted())" } ?? "a metric with neither name nor alias"
                actions.drops.append(.sparkplug(reason: "unknown_metric", detail: "\(what) from \(from()) is not in its birth"))
                unknown = true
                continue
            }
            guard let h = binding.handle else { continue }   // born, but no tag reads it
            var metric = metric
            if metric.datatype == nil { metric.datatype = binding.datatype }
            sample(metric, h, received: received, into: &samples, &actions, from: from())
        }
        // An alias the birth did not give means this host and the node disagree on the birth.
        if unknown { requestRebirth(key, now: received, wallMilliseconds: wallMilliseconds, into: &actions) }
    }

    /// The metric's value as a sample of tag `h`; what cannot be one is a drop. `from` (the
    /// node or device) is worded only for a drop: this runs for every metric of every message.
    private func sample(_ metric: SparkplugMetric, _ h: TagHandle, received: Instant, into samples: inout [Sample],
                        _ actions: inout Actions, from: @autoclosure () -> String) {
        var name: String { metric.name ?? metric.alias.map { "alias \($0)" } ?? "?" }
        if metric.historical {
            actions.drops.append(.sparkplug(reason: "historical", detail: "\(name) from \(from()) is a historical value, not the current one"))
            return
        }
        let sourceTime = metric.timestamp.flatMap { SparkplugCodec.instant(unixMilliseconds: $0) }
        switch metric.value {
        case .number(var v):
            if metric.datatype == SparkplugCodec.DataType.boolean.rawValue { v = v != 0 ? 1 : 0 }
            samples.append(Sample(tag: h, value: v, quality: metric.quality ?? .good, sourceTime: sourceTime, time: received))
        case .null:
            samples.append(Sample(tag: h, value: .nan, quality: .bad, sourceTime: sourceTime, time: received, fault: .noValue))
        case .unsupported(let what):
            actions.drops.append(.sparkplug(reason: "wrong_type", detail: "\(name) from \(from()) is \(what), expected a number or boolean"))
        case .none:
            actions.drops.append(.sparkplug(reason: "missing_field", detail: "\(name) from \(from()) has no value"))
        }
    }

    private mutating func requestRebirth(_ key: Key, now: Instant, wallMilliseconds: UInt64, into actions: inout Actions) {
        let g = groups[key.group]
        guard g.rebirth else { return }
        if nodes[key] == nil { nodes[key] = NodeState(deadline: now + g.birthTimeout) }
        if let last = nodes[key]!.lastRequest, now - last < Self.rebirthInterval { return }
        nodes[key]!.lastRequest = now
        actions.commands.append((SparkplugTopic.command(group: g.group, node: key.node), SparkplugCodec.rebirthRequest(at: wallMilliseconds)))
    }

    private mutating func setDown(_ gi: Int, _ entry: String, reason: String, into actions: inout Actions) {
        guard let id = groups[gi].declared[entry], down.insert(id).inserted else { return }
        actions.connections.append(.init(id: id, up: false, reason: reason))
    }

    private mutating func setUp(_ gi: Int, _ entry: String, into actions: inout Actions) {
        // Always said (the engine ignores an up for a connection that is up): after a reload the
        // engine may hold a comm alarm this new host never raised.
        guard let id = groups[gi].declared[entry] else { return }
        down.remove(id)
        actions.connections.append(.init(id: id, up: true, reason: nil))
    }
}
