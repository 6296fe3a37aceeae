import Foundation
import HazmonCore
import HazmonMQTT

/// One tag's value as an uplink sends it: stored by the history, or read for a snapshot.
public struct UplinkPoint: Sendable, Hashable {
    public var tag: String
    /// nil for a value that is not a number (a bad sample without a last good value).
    public var value: Double?
    public var quality: Quality
    public var time: Instant

    public init(tag: String, value: Double?, quality: Quality, time: Instant) {
        self.tag = tag
        self.value = value
        self.quality = quality
        self.time = time
    }
}

/// Builds an uplink's messages (spec §9): values, alarm events and heartbeats, each one JSON
/// object, with the site's, hazard sources' and tags' platform codes, times in the platform's
/// form and keys renamed by `fields`. Pure: no I/O, no clock.
public struct UplinkFormat: Sendable {
    public let site: String
    public let enterpriseCode: String
    /// 指标编码 by tag id (tags without one are absent).
    public let tagCodes: [String: String]
    /// Each tag's hazard source id.
    public let tagSources: [String: String]
    /// 重大危险源编码 by hazard source id.
    public let sourceCodes: [String: String]
    public let beijingTime: Bool
    /// hazmon's key → the platform's.
    public let fields: [String: String]

    public init(site: String, enterpriseCode: String = "", tagCodes: [String: String] = [:], tagSources: [String: String] = [:],
                sourceCodes: [String: String] = [:], beijingTime: Bool = false, fields: [String: String] = [:]) {
        self.site = site
        self.enterpriseCode = enterpriseCode
        self.tagCodes = tagCodes
        self.tagSources = tagSources
        self.sourceCodes = sourceCodes
        self.beijingTime = beijingTime
        self.fields = fields
        self.tagExtras = Self.extras(tagCodes: tagCodes, tagSources: tagSources, sourceCodes: sourceCodes, key: { fields[$0] ?? $0 })
    }

    /// What follows a point's tag for tags with codes or a hazard source:
    /// `,"code":"…","hazard_source":"…","hazard_source_code":"…"`, made once.
    let tagExtras: [String: String]

    static func extras(tagCodes: [String: String], tagSources: [String: String], sourceCodes: [String: String],
                       key: (String) -> String) -> [String: String] {
        var out: [String: String] = [:]
        for tag in Set(tagCodes.keys).union(tagSources.keys) {
            var s = ""
            func field(_ k: String, _ v: String) {
                s += ","
                JSONWriter.appendQuoted(key(k), to: &s)
                s += ":"
                JSONWriter.appendQuoted(v, to: &s)
            }
            if let c = tagCodes[tag] { field("code", c) }
            if let h = tagSources[tag] {
                field("hazard_source", h)
                if let c = sourceCodes[h], !c.isEmpty { field("hazard_source_code", c) }
            }
            out[tag] = s
        }
        return out
    }

    /// Asia/Shanghai is UTC+8 all year (no daylight saving since 1991).
    static let beijingOffset = 8 * 3600

    /// A time as the platform reads it: RFC 3339 UTC, or `yyyy-MM-dd HH:mm:ss` Beijing time.
    public func time(_ t: Instant) -> String {
        guard beijingTime else { return t.iso8601 }
        var s = Array(t.iso8601(offsetSeconds: Self.beijingOffset).utf8.prefix(19))
        s[10] = 0x20
        return String(decoding: s, as: UTF8.self)
    }

    func key(_ k: String) -> String { fields[k] ?? k }

    /// `"name":` for a key, renamed.
    func quotedKey(_ k: String) -> String {
        var s = ""
        JSONWriter.appendQuoted(key(k), to: &s)
        return s + ":"
    }



    /// `{"type":"values","site","enterprise_code","time","snapshot","points":[…]}`; a snapshot
    /// also carries each hazard source's live R and level (`sources`).
    public func values(_ points: [UplinkPoint], at now: Instant, snapshot: Bool, sources: [HazardSourceStatus] = []) -> String {
        var w = header("values", at: now)
        w.field(key("snapshot"), snapshot)
        // Every point into one buffer: a writer and a string per point cost more than the rest.
        var list = "["
        list.reserveCapacity(points.count * 112 + 2)
        let (tagKey, valueKey, qualityKey, timeKey) = (quotedKey("tag"), quotedKey("value"), quotedKey("quality"), quotedKey("time"))
        for (i, p) in points.enumerated() {
            list += i == 0 ? "{" : ",{"
            list += tagKey
            JSONWriter.appendQuoted(p.tag, to: &list)
            if let extra = tagExtras[p.tag] { list += extra }
            list += ","
            list += valueKey
            if let v = p.value, v.isFinite { list += JSONWriter.number(v) } else { list += "null" }
            list += ","
            list += qualityKey
            list += "\""
            list += p.quality.rawValue
            list += "\","
            list += timeKey
            list += "\""
            list += time(p.time)
            list += "\"}"
        }
        list += "]"
        w.field(key("points"), raw: list)
        if snapshot && !sources.isEmpty {
            var out = "["
            for (i, s) in sources.enumerated() {
                if i > 0 { out += "," }
                var o = JSONWriter(capacity: 96)
                o.field(key("hazard_source"), s.id)
                if !s.code.isEmpty { o.field(key("hazard_source_code"), s.code) }
                o.field(key("r"), s.r)
                if let l = s.level { o.field(key("level"), l) } else { o.field(key("level"), raw: "null") }
                out += o.finish()
            }
            w.field(key("sources"), raw: out + "]")
        }
        return w.finish()
    }

    /// `{"type":"heartbeat","site","enterprise_code","time"}`.
    public func heartbeat(at now: Instant) -> String {
        var w = header("heartbeat", at: now)
        return w.finish()
    }

    func header(_ type: String, at now: Instant) -> JSONWriter {
        var w = JSONWriter(capacity: 256)
        w.field(key("type"), type)
        w.field(key("site"), site)
        if !enterpriseCode.isEmpty { w.field(key("enterprise_code"), enterpriseCode) }
        w.field(key("time"), time(now))
        return w
    }

    /// The keys of an event (spec §4, §12), in the order the journal writes them.
    static let eventOrder = ["type", "v", "seq", "time", "site", "tag", "condition", "event", "alarm_type", "gb_level", "grade",
                             "color", "state", "value", "unit", "limit", "quality", "source", "source_time", "message", "user",
                             "note", "eta_seconds", "flags", "hazard_source"]

    /// A journaled event as the platform gets it: the event of §4 with `enterprise_code`, the
    /// tag's `code` and the hazard source's code added, times converted and keys renamed.
    /// Throws if `json` is not a JSON object (a journal the daemon did not write).
    public func alarm(_ json: String) throws -> String {
        guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)) else {
            throw UplinkError("a journaled event is not a JSON object")
        }
        var w = JSONWriter(capacity: json.utf8.count + 96)
        let tag: String? = if case .string(let t)? = o["tag"] { t } else { nil }
        var source: String? = if case .string(let s)? = o["hazard_source"] { s } else { nil }
        if source == nil, let tag { source = tagSources[tag] }
        for k in Self.eventOrder {
            guard let v = o[k] else {
                if k == "hazard_source", let source {
                    w.field(key(k), source)
                    if let c = sourceCodes[source], !c.isEmpty { w.field(key("hazard_source_code"), c) }
                }
                continue
            }
            if (k == "time" || k == "source_time"), case .string(let s) = v, let t = Instant(iso8601: Substring(s)) {
                w.field(key(k), time(t))
            } else {
                w.field(key(k), raw: Self.encode(v))
            }
            switch k {
            case "site" where !enterpriseCode.isEmpty: w.field(key("enterprise_code"), enterpriseCode)
            case "tag": if let tag, let c = tagCodes[tag] { w.field(key("code"), c) }
            case "hazard_source": if let source, let c = sourceCodes[source], !c.isEmpty { w.field(key("hazard_source_code"), c) }
            default: break
            }
        }
        // Keys a newer event carries that this list does not know yet: kept, in a stable order.
        for k in o.keys.sorted() where !Self.eventOrder.contains(k) { w.field(key(k), raw: Self.encode(o[k]!)) }
        return w.finish()
    }

    static func encode(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return JSONWriter.number(d)
        case .string(let s):
            var out = ""
            JSONWriter.appendQuoted(s, to: &out)
            return out
        case .array(let a): return "[" + a.map(encode).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { k in
                var out = ""
                JSONWriter.appendQuoted(k, to: &out)
                return out + ":" + encode(o[k]!)
            }.joined(separator: ",") + "}"
        }
    }
}

/// An uplink's own failure, said plainly.
public struct UplinkError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
