import HazmonCore

extension ConfigBuilder {
    /// `[engine]`: engine-wide settings and the default `stale_after` for tags.
    func readEngine() -> (EngineSettings, Duration?) {
        var s = EngineSettings()
        guard let t = top.table("engine") else { return (s, nil) }
        var stale: Duration?
        if let d = t.duration("stale_after") {
            if d >= .milliseconds(100) { stale = d } else { t.error("stale_after", "must be at least 100ms") }
        }
        if let d = t.duration("shelve_max") {
            if d > .zero && d <= .seconds(7 * 86_400) { s.shelveMax = d } else { t.error("shelve_max", "must be above 0 and at most 7d") }
        }
        if let c = t.table("chatter") {
            if let n = c.int("transitions") {
                if (2...8).contains(n) { s.chatterTransitions = n } else { c.error("transitions", "must be 2...8") }
            }
            if let d = c.duration("per") {
                if d > .zero { s.chatterPer = d } else { c.error("per", "must be above 0") }
            }
            c.rejectUnknownKeys()
        }
        if let f = t.table("flood") {
            if let n = f.int("raised") {
                if n >= 1 { s.floodRaised = n } else { f.error("raised", "must be at least 1") }
            }
            if let d = f.duration("per") {
                if d > .zero { s.floodPer = d } else { f.error("per", "must be above 0") }
            }
            if let n = f.int("end_below") {
                if n >= 1 && n <= s.floodRaised { s.floodEndBelow = n } else { f.error("end_below", "must be 1...raised") }
            }
            f.rejectUnknownKeys()
        }
        t.rejectUnknownKeys()
        return (s, stale)
    }

    /// `[[vote]]`: k of the member tags in a limit condition confirm, e.g. a leak by 2oo3.
    func readVotes(tags: [TagSettings]) -> [VoteDefinition] {
        let votes = entries("vote", context: { i, t in "vote \(t["id"]?.string?.quoted() ?? "#\(i + 1)")" })
        guard !votes.isEmpty else { return [] }
        let byID = Dictionary(tags.map { ($0.definition.id, $0.definition) }, uniquingKeysWith: { a, _ in a })
        var seen: Set<String> = []
        var out: [VoteDefinition] = []
        for v in votes {
            let id = v.string("id") ?? ""
            if !Self.isIdentifier(id) { v.error("id", "each vote needs an id of letters, digits, '-', '_' or '.'") }
            else if byID[id] != nil { v.error("id", "\"\(id)\" is already a tag id; a vote's id names its alarm") }
            else if !seen.insert(id).inserted { v.error("id", "duplicate vote id") }
            let members = v.stringArray("tags") ?? []
            if members.count < 2 { v.error("tags", "a vote needs at least two member tags") }
            var condition = Condition.h
            if let c = v.string("condition") {
                if let cc = Condition(rawValue: c), [.h, .hh, .l, .ll].contains(cc) { condition = cc }
                else { v.error("condition", "\"\(c)\" is not one of h, hh, l, ll") }
            } else {
                v.error("condition", "is required: the limit (h, hh, l or ll) members must be in")
            }
            for m in members {
                guard let d = byID[m] else { v.error("tags", "no tag \"\(m)\""); continue }
                if d.rule(condition) == nil { v.error("tags", "tag \"\(m)\" has no \(condition.rawValue) limit") }
            }
            if Set(members).count != members.count { v.error("tags", "a tag is listed twice") }
            let k = v.int("k") ?? {
                v.error("k", "is required: how many members must agree")
                return 2
            }()
            if members.count >= 2, !(1...members.count).contains(k) { v.error("k", "must be 1...\(members.count)") }
            var grade = Grade.red
            if let g = v.int("grade") {
                if let gg = Grade(g) { grade = gg } else { v.error("grade", "\(g) is not a grade 1 (red) ... 4 (blue)") }
            }
            var onBad = VoteOnBad.degrade
            if let b = v.string("on_bad") {
                if let bb = VoteOnBad(rawValue: b) { onBad = bb }
                else { v.error("on_bad", "\"\(b)\" is not one of degrade (k - bad of the healthy members, at least one) or trip (a bad member counts as in alarm)") }
            }
            let name = v.string("name")
            v.rejectUnknownKeys()
            out.append(VoteDefinition(id: id, name: name, tags: members, k: k, condition: condition, grade: grade, onBad: onBad))
        }
        return out
    }

    /// Reads `on_delay`, `off_delay`, `latch`, `realarm` of a limit into `rule`.
    func readLimitExtras(_ r: TableReader, into rule: inout LimitRule) {
        if let d = r.duration("on_delay") { rule.onDelay = d }
        if let d = r.duration("off_delay") { rule.offDelay = d }
        if let b = r.bool("latch") { rule.latch = b }
        if let d = r.duration("realarm") {
            if d >= .seconds(1) { rule.realarm = d } else { r.error("realarm", "must be at least 1s") }
        }
    }

    func readRate(_ r: TableReader) -> RateRule? {
        let rise = r.double("rise"), fall = r.double("fall")
        if rise == nil && fall == nil { r.error(nil, "needs rise and / or fall: the amount of change per window") }
        if let rise, rise <= 0 { r.error("rise", "must be above 0") }
        if let fall, fall <= 0 { r.error("fall", "must be above 0") }
        let per = r.duration("per")
        if per == nil { r.error("per", "is required: the window, e.g. \"10s\"") }
        if let per, per < .milliseconds(100) { r.error("per", "must be at least 100ms") }
        var grade = Grade.yellow
        if let g = r.int("grade") {
            if let gg = Grade(g) { grade = gg } else { r.error("grade", "\(g) is not a grade 1 (red) ... 4 (blue)") }
        }
        r.rejectUnknownKeys()
        guard let per, rise != nil || fall != nil else { return nil }
        return RateRule(rise: rise, fall: fall, per: per, grade: grade)
    }

    func readTrend(_ r: TableReader, limits: [String: LimitRule]) -> TrendRule? {
        var toward: Condition?
        if let t = r.string("toward") {
            if let c = Condition(rawValue: t), [.h, .hh, .l, .ll].contains(c) {
                if limits[t] == nil { r.error("toward", "the tag has no \(t) limit to forecast") } else { toward = c }
            } else {
                r.error("toward", "\"\(t)\" is not one of h, hh, l, ll")
            }
        } else {
            r.error("toward", "is required: the limit (h, hh, l or ll) the forecast watches")
        }
        let window = r.duration("window")
        if window == nil { r.error("window", "is required, e.g. \"60s\"") }
        let horizon = r.duration("horizon")
        if horizon == nil { r.error("horizon", "is required, e.g. \"5m\"") }
        var grade = Grade.yellow
        if let g = r.int("grade") {
            if let gg = Grade(g) { grade = gg } else { r.error("grade", "\(g) is not a grade 1 (red) ... 4 (blue)") }
        }
        var minSamples = 5
        if let n = r.int("min_samples") {
            if n >= 3 && n <= 256 { minSamples = n } else { r.error("min_samples", "must be 3...256") }
        }
        var minFit = 0.8
        if let f = r.double("min_fit") {
            if f >= 0 && f <= 1 { minFit = f } else { r.error("min_fit", "must be 0...1 (R² of the fit)") }
        }
        r.rejectUnknownKeys()
        guard let toward, let window, let horizon else { return nil }
        return TrendRule(toward: toward, window: window, horizon: horizon, grade: grade, minSamples: minSamples, minFit: minFit)
    }
}
