import Foundation
import HazmonCore

#if canImport(Glibc)
import Glibc
#endif

extension ConfigBuilder {
    /// `[notify]` with its `[[notify.channel]]` and `[[notify.route]]` entries (spec §9). Files
    /// named (URLs with tokens, secrets) are read now, so a missing one fails `hazmon check`;
    /// a route naming an unknown channel, hazard source, class or condition is an error.
    func readNotify(hazardSources: [HazardSourceDefinition]) -> NotifySettings {
        var s = NotifySettings()
        guard let n = top.table("notify") else { return s }
        if let u = n.string("console_url") {
            if Self.isHTTPURL(u) { s.consoleURL = u }
            else { n.error("console_url", "\"\(u)\" is not an http(s):// URL (the console's address as people on call open it)") }
        }
        var ids: Set<String> = []
        for t in n.arrayOfTables("channel", context: { _, _ in nil }) {
            let id = t.string("id") ?? ""
            if !Self.isIdentifier(id) { t.error("id", "each [[notify.channel]] needs an id of letters, digits, '-', '_' or '.'") }
            else if !ids.insert(id).inserted { t.error("id", "duplicate channel id \"\(id)\"") }
            guard let kindName = t.string("type") else {
                t.error("type", "is required: one of \(NotifyChannelSettings.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
                continue
            }
            guard let kind = NotifyChannelSettings.Kind(rawValue: kindName) else {
                t.error("type", "\"\(kindName)\" is not one of \(NotifyChannelSettings.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
                continue
            }
            var c = NotifyChannelSettings(id: id, kind: kind)
            readChannel(t, into: &c)
            t.rejectUnknownKeys()
            s.channels.append(c)
        }
        var routeIDs: Set<String> = []
        for (i, t) in n.arrayOfTables("route", context: { _, _ in nil }).enumerated() {
            let id = t.string("id", default: "route-\(i + 1)")
            if !Self.isIdentifier(id) { t.error("id", "\"\(id)\" must be letters, digits, '-', '_' or '.'") }
            else if !routeIDs.insert(id).inserted { t.error("id", "duplicate route id \"\(id)\"") }
            var r = NotifyRouteSettings(id: id, steps: [])
            readRouteMatch(t, into: &r, hazardSources: hazardSources)
            r.steps = readSteps(t, channels: ids)
            if let d = t.duration("digest_every") {
                if d >= .seconds(10) { r.digestEvery = d } else { t.error("digest_every", "must be at least 10s") }
            }
            t.rejectUnknownKeys()
            s.routes.append(r)
        }
        if !s.routes.isEmpty && s.channels.isEmpty { n.error("route", "routes need at least one [[notify.channel]]") }
        n.rejectUnknownKeys()
        return s
    }

    static func isHTTPURL(_ u: String) -> Bool {
        guard let url = URL(string: u), url.scheme == "http" || url.scheme == "https" else { return false }
        return url.host?.isEmpty == false
    }

    func readChannel(_ t: TableReader, into c: inout NotifyChannelSettings) {
        c.url = t.string("url")
        for (key, path) in [("url_file", \NotifyChannelSettings.urlFile), ("secret_file", \.secretFile), ("token_file", \.tokenFile)] {
            guard let p = t.string(key) else { continue }
            guard let text = ConfigLoader.readFile(p) else {
                t.error(key, "cannot read \"\(p)\": \(String(cString: strerror(errno)))")
                continue
            }
            Self.checkSecret(t, key, p)
            if ConfigLoader.token(text).isEmpty { t.error(key, "\"\(p)\" is empty") }
            c[keyPath: path] = p
        }
        if (c.url == nil) == (c.urlFile == nil) {
            t.error(c.url == nil ? "url" : "url_file", "give the channel's address as url or url_file (one of them)")
        }
        if let u = c.url ?? c.urlFile.flatMap({ ConfigLoader.readFile($0) }).map({ String(decoding: ConfigLoader.token($0), as: UTF8.self) }) {
            let key = c.url == nil ? "url_file" : "url"
            if !Self.isHTTPURL(u) { t.error(key, "\(c.url == nil ? "the file holds" : "\"\(u)\" is") not an http(s):// URL") }
        }
        if c.secretFile != nil && c.kind != .dingtalk { t.error("secret_file", "signs DingTalk robot messages; this channel is \(c.kind.rawValue)") }
        if c.tokenFile != nil && (c.kind == .dingtalk || c.kind == .wecom) {
            t.error("token_file", "robots carry their token in the URL (url_file); token_file is for webhook and sms")
        }
        if let m = t.stringArray("mobiles") {
            for p in m where p.isEmpty || !p.allSatisfy({ $0.isNumber || $0 == "+" || $0 == "-" }) {
                t.error("mobiles", "\"\(p)\" is not a phone number")
            }
            c.mobiles = m
        }
        if let tpl = t.string("template") {
            if c.kind != .sms && c.kind != .webhook { t.error("template", "is for sms and webhook channels") }
            let unknown = FieldTemplate(tpl).fields.filter { !NotifyTemplateFields.all.contains($0) }
            if let u = unknown.first {
                t.error("template", "unknown field {\(u)}; the fields are \(NotifyTemplateFields.all.map { "{\($0)}" }.joined(separator: ", "))")
            }
            c.template = tpl
        } else if c.kind == .sms {
            t.error("template", "an sms channel needs the gateway's request body, e.g. '{\"to\":\"{phones}\",\"text\":\"{short}\"}'")
        }
        if c.kind == .sms && c.mobiles.isEmpty { t.error("mobiles", "an sms channel needs the phone numbers to send to") }
        if let ct = t.string("content_type") {
            if c.kind != .sms && c.kind != .webhook { t.error("content_type", "is for sms and webhook channels") }
            else if ct.isEmpty || ct.contains("\n") { t.error("content_type", "\"\(ct)\" is not a content type") }
            else { c.contentType = ct }
        }
        if let d = t.duration("timeout") {
            if d >= .milliseconds(100) && d <= .seconds(120) { c.timeout = d } else { t.error("timeout", "must be 100ms...120s") }
        }
        if let d = t.duration("down_after") {
            if d >= .seconds(1) { c.downAfter = d } else { t.error("down_after", "must be at least 1s") }
        }
    }

    func readRouteMatch(_ t: TableReader, into r: inout NotifyRouteSettings, hazardSources: [HazardSourceDefinition]) {
        // A number: this grade and the more severe ones; a list: exactly those grades.
        if t.isArray("grade") {
            let list = t.intArray("grade") ?? []
            if list.isEmpty || !list.allSatisfy({ (1...4).contains($0) }) {
                t.error("grade", "must be a grade 1...4 (that grade and more severe) or a list of grades such as [1, 2]")
            } else { r.grades = Set(list) }
        } else if let g = t.int("grade") {
            if (1...4).contains(g) { r.grades = Set(1...g) } else { t.error("grade", "must be 1 (red) to 4 (blue)") }
        }
        if let c = t.stringArray("class") {
            for x in c where TagClass(rawValue: x) == nil {
                t.error("class", "\"\(x)\" is not one of \(TagClass.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            r.classes = Set(c)
        }
        if let h = t.stringArray("hazard_source") {
            let known = Set(hazardSources.map(\.id))
            for x in h where !known.contains(x) { t.error("hazard_source", "\"\(x)\" is not a [[hazard_source]] id") }
            r.hazardSources = Set(h)
        }
        if let c = t.stringArray("condition") {
            let known = Set(Condition.allCases.map(\.rawValue) + AlarmType.allCases.map(\.rawValue))
            for x in c where !known.contains(x) {
                t.error("condition", "\"\(x)\" is not a condition (\(Condition.allCases.map(\.rawValue).joined(separator: ", "))) or alarm type")
            }
            r.conditions = Set(c)
        }
    }

    func readSteps(_ t: TableReader, channels: Set<String>) -> [NotifyRouteSettings.Step] {
        let entries = t.arrayOfTables("steps", context: { _, _ in nil })
        if entries.isEmpty {
            t.error("steps", "is required: steps = [{ after = \"0s\", to = [\"CHANNEL\"] }, { after = \"5m\", to = [\"CHANNEL\"] }]")
            return []
        }
        var steps: [NotifyRouteSettings.Step] = []
        for s in entries {
            let after = s.duration("after") ?? .zero
            if let last = steps.last, after <= last.after { s.error("after", "steps must come later one after another") }
            let to = s.stringArray("to") ?? []
            if to.isEmpty { s.error("to", "is required: the channel ids to tell") }
            for c in to where !channels.contains(c) { s.error("to", "\"\(c)\" is not a [[notify.channel]] id") }
            s.rejectUnknownKeys()
            steps.append(.init(after: after, to: to))
        }
        return steps
    }
}
