import HazmonConfig
import HazmonCore
import HazmonModbus

/// What `hazmon check` prints: enough for an engineer to see the config was read as meant.
struct ConfigSummary {
    let config: HazmonConfiguration
    init(_ c: HazmonConfiguration) { config = c }

    var text: String {
        var lines: [String] = []
        let c = config
        lines.append("\(c.file): OK")
        lines.append("site: \(c.site.id) (\(c.site.name))")
        if !c.includedFiles.isEmpty {
            lines.append("point tables: \(c.includedFiles.count) included (\(c.includedFiles.joined(separator: ", ")))")
        }
        if let m = c.mqtt {
            lines.append("mqtt: \(m.url) as \(m.clientID), qos \(m.qos), \(m.maps.count) topic map(s)")
        } else {
            lines.append("mqtt: none")
        }
        lines.append("modbus devices: \(c.modbusDevices.count)")
        for d in c.modbusDevices {
            let points = c.tags.compactMap { t -> ReadPlan.Point? in
                guard case .modbus(let m) = t.source, m.device == d.id else { return nil }
                return ReadPlan.Point(table: m.table, address: m.address, count: m.type.registerCount)
            }
            let requests = ReadPlan.blocks(for: points, maxGap: d.maxGap).count + (d.heartbeat == nil ? 0 : 1)
            lines.append("  \(d.id) \(d.url) unit \(d.unit): \(points.count) tags, every \(DurationParser.format(d.poll)) "
                         + "in at most \(requests) request\(requests == 1 ? "" : "s"); comm alarm after \(d.commAfter) failed polls")
        }
        let limits = c.tags.reduce(0) { n, t in
            n + [t.definition.h, t.definition.hh, t.definition.l, t.definition.ll].compactMap { $0 }.count
        }
        lines.append("tags: \(c.tags.count), limit rules: \(limits)")
        for t in c.tags {
            let d = t.definition
            var rules: [String] = []
            for (name, r) in [("ll", d.ll), ("l", d.l), ("h", d.h), ("hh", d.hh)] {
                if let r { rules.append("\(name) \(JSONWriter.number(r.at)) (grade \(r.grade.rawValue) \(r.grade.color))") }
            }
            if let r = d.rate { rules.append("rate \(r.rise.map { "+\(JSONWriter.number($0))" } ?? "")\(r.fall.map { " -\(JSONWriter.number($0))" } ?? "") per \(DurationParser.format(r.per))") }
            if let tr = d.trend { rules.append("trend toward \(tr.toward.rawValue) within \(DurationParser.format(tr.horizon))") }
            if let st = d.staleAfter { rules.append("stale after \(DurationParser.format(st))") }
            if let fr = d.frozen { rules.append("frozen after \(DurationParser.format(fr.after))\(fr.band > 0 ? " within ±\(JSONWriter.number(fr.band))" : "")") }
            if let oos = d.outOfService { rules.append("OUT OF SERVICE (\(oos))") }
            lines.append("  \(d.id) [\(d.tagClass.rawValue)] \(d.unit) from \(d.source): " + (rules.isEmpty ? "no limits" : rules.joined(separator: ", ")))
        }
        for v in c.votes {
            lines.append("vote \(v.id): \(v.k) of \(v.tags.joined(separator: ", ")) at \(v.condition.rawValue) -> grade \(v.grade.rawValue) \(v.grade.color)")
        }
        for p in c.positions {
            lines.append("position \(p.id) (\(p.name)): \(p.hazardSources.joined(separator: ", "))")
        }
        for h in c.hazardSources {
            lines.append("hazard source \(h.id) (\(h.name)\(h.code.isEmpty ? "" : ", code \(h.code)")): \(h.exposedPeople) people within 500 m -> α \(JSONWriter.number(h.alpha))")
            for sub in h.substances {
                let vessels = sub.vessels.map { "\($0.levelTag) (\(Self.shape($0.shape)), \(JSONWriter.number($0.density)) t/m³)" }
                lines.append("  \(sub.name): Q \(JSONWriter.number(sub.criticalQuantity)) t, β \(JSONWriter.number(sub.beta)), from \(vessels.joined(separator: ", "))")
            }
        }
        var outputs = "outputs: log \(c.log.format.rawValue) at \(c.log.level.rawValue), alert socket \(c.alertSocket.path) (mode \(String(c.alertSocket.mode, radix: 8)))"
        if let p = c.mqtt?.publish { outputs += ", MQTT \(p.topic) (state \(p.stateTopic), status \(p.statusTopic))" }
        if let r = c.remoteFeed { outputs += ", remote feed TLS \(r.host):\(r.port) (token)" }
        lines.append(outputs)
        if let w = c.console {
            let host = w.host.contains(":") ? "[\(w.host)]" : w.host
            var users = "users_file \(w.usersFile): "
            if let text = ConfigLoader.readFile(w.usersFile), let list = try? UsersFileFormat.parse(text) {
                let roles = UsersFileFormat.roles.map { r in "\(list.filter { $0.role == r }.count) \(r)" }
                users += "\(list.count) users (\(roles.joined(separator: ", ")))"
            } else {
                users += "none yet (hazmon user add NAME --role operator --users-file \(w.usersFile))"
            }
            lines.append("console: \(w.certFile == nil ? "http" : "https")://\(host):\(w.port)/, \(users), session idle \(DurationParser.format(w.sessionIdle))")
        }
        for u in c.uplinks {
            var what: [String] = []
            if let e = u.valuesEvery { what.append("snapshots every \(DurationParser.format(e))") }
            if u.valuesOnChange { what.append("stored values") }
            if u.alarms { what.append("alarms") }
            if let h = u.heartbeat { what.append("heartbeat \(DurationParser.format(h))") }
            let extras = [u.encrypt.map { "encrypted \($0.cipher)" }, u.timeFormat == .beijing ? "Beijing time" : nil,
                          u.fields.isEmpty ? nil : "\(u.fields.count) fields renamed"].compactMap { $0 }
            lines.append("uplink \(u.id): \(u.url): \(what.isEmpty ? "nothing" : what.joined(separator: ", "))"
                + (extras.isEmpty ? "" : "; " + extras.joined(separator: ", ")) + "; comm alarm after \(DurationParser.format(u.downAfter))")
        }
        for ch in c.notify.channels {
            let target = ch.url.map { $0.split(separator: "?", maxSplits: 1).first.map(String.init) ?? $0 } ?? "URL from \(ch.urlFile ?? "")"
            let extras = [ch.secretFile == nil ? nil : "signed", ch.mobiles.isEmpty ? nil : "\(ch.mobiles.count) phone numbers",
                          ch.template == nil ? nil : "template"].compactMap { $0 }
            lines.append("notify channel \(ch.id): \(ch.kind.rawValue) \(target)" + (extras.isEmpty ? "" : " (" + extras.joined(separator: ", ") + ")")
                + "; comm alarm after \(DurationParser.format(ch.downAfter))")
        }
        for r in c.notify.routes {
            var match: [String] = []
            if let g = r.grades { match.append("grade " + g.sorted().map(String.init).joined(separator: "/")) }
            if let x = r.classes { match.append(x.sorted().joined(separator: "/")) }
            if let x = r.hazardSources { match.append("hazard source " + x.sorted().joined(separator: "/")) }
            if let x = r.conditions { match.append("condition " + x.sorted().joined(separator: "/")) }
            let steps = r.steps.map { "\(DurationParser.format($0.after)) → \($0.to.joined(separator: ", "))" }.joined(separator: "; ")
            lines.append("notify route \(r.id): \(match.isEmpty ? "every alarm" : match.joined(separator: ", ")): \(steps); "
                + "digest every \(DurationParser.format(r.digestEvery)) in a flood")
        }
        lines.append("journal: \(c.journal.path), retention \(DurationParser.format(c.journal.retention)), sync \(c.journal.sync.rawValue), max wait \(DurationParser.format(c.journal.maxWait))")
        if let h = c.history {
            let banded = c.tags.filter { $0.history.deadband > 0 }.count
            lines.append("history: \(h.path), retention \(DurationParser.format(h.retention)), max gap \(DurationParser.format(h.maxGap)), "
                + "batch \(DurationParser.format(h.batch)); \(c.tags.count) tags recorded, \(banded) with a deadband")
        } else {
            lines.append("history: off ([history] enabled = false): values are not recorded")
        }
        for w in c.warnings { lines.append("warning: \(w)") }
        return lines.joined(separator: "\n")
    }
}

extension ConfigSummary {
    static func shape(_ s: VesselShape) -> String {
        switch s {
        case .sphere(let d): return "sphere Ø\(JSONWriter.number(d)) m"
        case .verticalCylinder(let d, let h): return "vertical cylinder Ø\(JSONWriter.number(d)) × \(JSONWriter.number(h)) m"
        case .horizontalCylinder(let d, let l): return "horizontal cylinder Ø\(JSONWriter.number(d)) × \(JSONWriter.number(l)) m"
        case .table(let rows): return "strapping table of \(rows.count) rows"
        }
    }
}
