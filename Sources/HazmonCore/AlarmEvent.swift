/// Where in the engine an event comes from.
public enum EventOrigin: Sendable, Hashable {
    /// A tag's alarm: the tag's position in `Engine.tags`.
    case tag(Int)
    /// A vote's or connection's alarm: its position among them.
    case vote(Int), connection(Int)
    /// A vote's own `fault` alarm (a member is bad): the vote's position.
    case voteFault(Int)
    case flood
    /// A hazard source's level: the source's position.
    case hazardSource(Int)
    /// A hazard source's operating mode: the source's position.
    case hazardSourceMode(Int)
    /// An alarm the engine no longer has (removed by a reload): the journal forgets it.
    case none
}

/// One change of one alarm (spec §4). The engine fills everything but `seq`, which the
/// pipeline assigns just before the event is journaled.
public struct AlarmEvent: Sendable, Hashable {
    public var seq: UInt64
    public var time: Instant
    public var site: String
    public var tag: String
    public var condition: Condition
    public var event: EventKind
    public var grade: Grade
    public var state: AlarmState
    public var value: Double?
    public var unit: String
    public var limit: Double?
    public var quality: Quality
    public var source: String
    public var sourceTime: Instant?
    public var message: String
    public var user: String?
    public var note: String?
    public var etaSeconds: Double?
    public var flags: EventFlags
    public var hazardSource: String?
    /// GB/T 50493's level (1 一级, 2 二级) of a gas detector's limit alarm; nil otherwise.
    public var gbLevel: Int?
    /// Which of the engine's alarms made the event, by position: how the pipeline finds the
    /// state to journal with it without looking the alarm up by name.
    public internal(set) var origin: EventOrigin = .none

    public init(
        seq: UInt64 = 0, time: Instant, site: String, tag: String, condition: Condition,
        event: EventKind, grade: Grade, state: AlarmState, value: Double?, unit: String,
        limit: Double?, quality: Quality, source: String, sourceTime: Instant?, message: String,
        user: String? = nil, note: String? = nil, etaSeconds: Double? = nil, flags: EventFlags = [],
        hazardSource: String? = nil, gbLevel: Int? = nil, origin: EventOrigin = .none
    ) {
        self.gbLevel = gbLevel
        self.origin = origin
        self.seq = seq
        self.time = time
        self.site = site
        self.tag = tag
        self.condition = condition
        self.event = event
        self.grade = grade
        self.state = state
        self.value = value
        self.unit = unit
        self.limit = limit
        self.quality = quality
        self.source = source
        self.sourceTime = sourceTime
        self.message = message
        self.user = user
        self.note = note
        self.etaSeconds = etaSeconds
        self.flags = flags
        self.hazardSource = hazardSource
    }
}

extension AlarmEvent {
    /// The platforms' name for the kind of alarm (spec §12).
    public var alarmType: AlarmType { condition.alarmType }

    /// The event as one line of JSON (no trailing newline), field order as in spec §4.
    public var jsonLine: String {
        var w = JSONWriter()
        w.field("type", "event")
        w.field("v", 1)
        w.field("seq", Int64(seq))
        w.field("time", time.iso8601)
        w.field("site", site)
        w.field("tag", tag)
        w.field("condition", condition.rawValue)
        w.field("alarm_type", alarmType.rawValue)
        if let gbLevel { w.field("gb_level", Int64(gbLevel)) }
        w.field("event", event.rawValue)
        w.field("grade", Int64(grade.rawValue))
        w.field("color", grade.color)
        w.field("state", state.rawValue)
        w.field("value", value)
        w.field("unit", unit)
        w.field("limit", limit)
        w.field("quality", quality.rawValue)
        w.field("source", source)
        if let sourceTime { w.field("source_time", sourceTime.iso8601) }
        w.field("message", message)
        if let user { w.field("user", user) }
        if let note { w.field("note", note) }
        if let etaSeconds { w.field("eta_seconds", etaSeconds) }
        if !flags.isEmpty { w.field("flags", strings: flags.names) }
        if let hazardSource { w.field("hazard_source", hazardSource) }
        return w.finish()
    }
}
