/// The alarm engine: tags in, events out. A value type with no I/O and no clock of its own.
///
/// `evaluate` is the hot path: it touches one tag's state and appends to a caller-owned buffer,
/// allocating only when an alarm actually changes (the event's message).
public struct Engine: Sendable {
    public let site: String
    public private(set) var tags: [TagRuntime]
    private let handles: [String: TagHandle]

    public init(site: String, tags definitions: [TagDefinition]) {
        self.site = site
        self.tags = definitions.map(TagRuntime.init)
        var handles: [String: TagHandle] = [:]
        for (i, d) in definitions.enumerated() { handles[d.id] = TagHandle(i) }
        self.handles = handles
    }

    /// The handle of a tag id, or nil if the engine has no such tag.
    public func handle(for tagID: String) -> TagHandle? { handles[tagID] }

    public func definition(_ handle: TagHandle) -> TagDefinition { tags[handle.index].definition }

    /// Evaluates one sample and appends the events it causes to `events`.
    public mutating func evaluate(_ sample: Sample, into events: inout [AlarmEvent]) {
        let site = self.site
        tags[sample.tag.index].evaluate(sample, site: site, into: &events)
    }

    /// Every alarm not in `normal`, most severe first; at equal grade toxic before combustible.
    public func snapshot() -> [ActiveAlarm] {
        var out: [ActiveAlarm] = []
        for t in tags {
            if t.high.state != .normal { out.append(t.activeAlarm(.high)) }
            if t.low.state != .normal { out.append(t.activeAlarm(.low)) }
        }
        return out.sorted(by: ActiveAlarm.displayOrder)
    }

    /// Acknowledges the alarm of `tag` whose slot `condition` names (`h` and `hh` both name the
    /// high side). Returns the `acknowledged` event.
    public mutating func acknowledge(
        tag tagID: String, condition: Condition, user: String?, note: String?, at time: Instant
    ) throws(OperatorError) -> AlarmEvent {
        guard let handle = handles[tagID] else { throw .unknownTag(tagID) }
        let site = self.site
        return try tags[handle.index].acknowledge(slot: condition.slot, user: user, note: note, at: time, site: site)
    }
}

/// Why an operator request was refused.
public enum OperatorError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownTag(String)
    case noSuchAlarm(tag: String, slot: AlarmSlot)
    case alreadyAcknowledged(tag: String, slot: AlarmSlot)

    /// A short machine-readable code for socket replies.
    public var code: String {
        switch self {
        case .unknownTag: return "unknown_tag"
        case .noSuchAlarm: return "no_such_alarm"
        case .alreadyAcknowledged: return "already_acknowledged"
        }
    }

    public var description: String {
        switch self {
        case .unknownTag(let t): return "no tag \"\(t)\" is configured"
        case .noSuchAlarm(let t, let s): return "tag \"\(t)\" has no active \(s.rawValue) alarm"
        case .alreadyAcknowledged(let t, let s): return "the \(s.rawValue) alarm of \"\(t)\" is already acknowledged"
        }
    }
}
