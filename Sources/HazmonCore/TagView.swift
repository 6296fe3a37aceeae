/// One configured tag as a person sees it (the console's tag list and tag page): its
/// definition, its last value and quality, and its alarms that are not in normal.
public struct TagView: Sendable {
    public var id: String
    public var name: String
    public var unit: String
    public var tagClass: TagClass
    public var hazardSource: String?
    public var value: Double?
    public var quality: Quality
    /// When the last sample arrived (engine time until `shifted`).
    public var time: Instant?
    /// Set points of the configured limits, by condition (h, hh, l, ll).
    public var limits: [(condition: Condition, at: Double)]
    /// The tag's alarms not in normal, each as the snapshot shows it.
    public var alarms: [ActiveAlarm]

    public var json: String {
        var w = JSONWriter(capacity: 256)
        w.field("id", id)
        w.field("name", name)
        w.field("unit", unit)
        w.field("class", tagClass.rawValue)
        if let hazardSource { w.field("hazard_source", hazardSource) }
        w.field("value", value)
        w.field("quality", quality.rawValue)
        if let time { w.field("time", time.iso8601) }
        var l = JSONWriter(capacity: 64)
        for (c, at) in limits { l.field(c.rawValue, at) }
        w.field("limits", raw: l.finish())
        w.field("alarms", raw: "[" + alarms.map(\.json).joined(separator: ",") + "]")
        return w.finish()
    }

    /// The same with its times moved by `d` (engine time to wall time).
    public func shifted(by d: Duration) -> TagView {
        var v = self
        v.time = time.map { $0 + d }
        v.alarms = alarms.map { $0.shifted(by: d) }
        return v
    }
}

extension Engine {
    /// Every configured tag in configuration order, or only the one named `id`.
    public func tagViews(only id: String? = nil) -> [TagView] {
        var alarmsByTag: [String: [ActiveAlarm]] = [:]
        for a in snapshot() where id == nil || a.tag == id { alarmsByTag[a.tag, default: []].append(a) }
        var out: [TagView] = []
        for t in tags where id == nil || t.definition.id == id {
            let d = t.definition
            var limits: [(Condition, Double)] = []
            for (c, rule) in [(Condition.hh, d.hh), (.h, d.h), (.l, d.l), (.ll, d.ll)] {
                if let rule { limits.append((c, rule.at)) }
            }
            out.append(TagView(id: d.id, name: d.name, unit: d.unit, tagClass: d.tagClass, hazardSource: d.hazardSource,
                               value: t.lastValue, quality: t.lastQuality, time: t.lastTime, limits: limits,
                               alarms: alarmsByTag[d.id] ?? []))
        }
        return out
    }
}
