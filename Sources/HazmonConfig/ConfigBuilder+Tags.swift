import HazmonCore
import HazmonModbus

extension ConfigBuilder {
    func readTags(mqtt: MQTTSettings?, devices: [ModbusDeviceSettings], defaultStale: Duration?) -> [TagSettings] {
        var tags: [TagSettings] = []
        var readers: [TableReader] = []
        var first: [String: TableReader] = [:]
        let deviceByID = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let tables = entries("tag", context: { i, t in "tag \(t["id"]?.string?.quoted() ?? "#\(i + 1)")" })
        tags.reserveCapacity(tables.count)   // a park's 50,000: no doublings, no spare quarter
        for t in tables {
            let id = t.string("id") ?? ""
            if !Self.isIdentifier(id) {
                t.error("id", "each tag needs an id (its 位号) of letters, digits, '-', '_' or '.'")
            } else if let prev = first[id] {
                t.error("id", "duplicate tag id (first defined at \(Self.place(of: prev, from: t)))")
            } else {
                first[id] = t
            }
            if let tag = readTag(t, id: id, mqtt: mqtt, devices: deviceByID, defaultStale: defaultStale) {
                tags.append(tag)
                readers.append(t)
            }
            t.rejectUnknownKeys()
        }
        // suppress_if names another tag: check once all are known.
        let ids = Set(tags.map(\.definition.id))
        for (tag, t) in zip(tags, readers) {
            guard let s = tag.definition.suppressIf else { continue }
            if s.tag == tag.definition.id { t.error("suppress_if.tag", "a tag cannot suppress itself") }
            else if !ids.contains(s.tag) { t.error("suppress_if.tag", "no tag \"\(s.tag)\"") }
        }
        checkModbusOverlaps(tags, readers)
        return tags
    }

    /// Two tags on one device and table whose registers partly overlap (a float at 0–1 and
    /// another at 1–2) mean one address or type is wrong. The same registers read twice (a
    /// status word and its bits) are fine.
    private func checkModbusOverlaps(_ tags: [TagSettings], _ readers: [TableReader]) {
        var groups: [String: [(start: Int, end: Int, index: Int)]] = [:]
        for (i, tag) in tags.enumerated() {
            guard case .modbus(let m) = tag.source else { continue }
            groups["\(m.device)/\(m.table.rawValue)", default: []].append((m.address, m.address + m.type.registerCount, i))
        }
        for (_, list) in groups {
            let sorted = list.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
            var widest = sorted.first
            for r in sorted.dropFirst() {
                guard let w = widest else { break }
                if r.start < w.end, (r.start, r.end) != (w.start, w.end) {
                    let other = tags[w.index].definition.id
                    readers[r.index].error("source.address", "registers \(r.start)...\(r.end - 1) overlap tag \"\(other)\" (registers \(w.start)...\(w.end - 1)); check the address, address_base and type of both")
                }
                if r.end > w.end { widest = r }
            }
        }
    }

    private func readTag(_ t: TableReader, id: String, mqtt: MQTTSettings?, devices: [String: ModbusDeviceSettings],
                         defaultStale: Duration?) -> TagSettings? {
        var tagClass = TagClass.none
        if let c = t.string("class") {
            if let v = TagClass(rawValue: c) { tagClass = v } else {
                t.error("class", "\"\(c)\" is not one of \(TagClass.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        let unit = t.string("unit") ?? ClassPreset.preset(for: tagClass, limit: nil).unit ?? ""
        let exposure = readExposure(t, tagClass: tagClass, unit: unit)
        let preset = ClassPreset.preset(for: tagClass, limit: exposure)
        if tagClass == .combustibleGas && unit != "%LEL" {
            t.error("unit", "a combustible_gas point detector reads in %LEL (GB/T 50493 set points are %LEL)")
        }
        let name = t.string("name") ?? id
        let hazard = t.string("hazard_source")
        let override = t.string("compliance_override")
        if let override, override.trimmingSpaces.isEmpty { t.error("compliance_override", "must give the reason for the deviation") }

        var rate: RateRule?
        var trend: TrendRule?
        var limits: [String: LimitRule] = [:]
        if let p = preset.h { limits["h"] = p }
        if let p = preset.hh { limits["hh"] = p }
        if let p = preset.l { limits["l"] = p }
        if let p = preset.ll { limits["ll"] = p }
        if let a = t.table("alarms") {
            let defaults: [String: Grade] = ["hh": .orange, "h": .yellow, "ll": .orange, "l": .yellow]
            for key in ["h", "hh", "l", "ll"] {
                guard let r = a.table(key) else { continue }
                let base = limits[key]
                let at = r.double("at") ?? base?.at
                if at == nil { r.error("at", "is required: the set point") }
                var grade = base?.grade ?? defaults[key]!
                if let g = r.int("grade") {
                    if let v = Grade(g) { grade = v } else { r.error("grade", "\(g) is not a grade 1 (red) ... 4 (blue)") }
                }
                var deadband = base?.deadband ?? preset.deadband ?? 0
                if let d = r.double("deadband") {
                    if d >= 0 { deadband = d } else { r.error("deadband", "must not be negative") }
                }
                var rule = LimitRule(at: at ?? 0, grade: grade, deadband: deadband)
                if let base { rule.onDelay = base.onDelay; rule.offDelay = base.offDelay }
                readLimitExtras(r, into: &rule)
                r.rejectUnknownKeys()
                if at != nil { limits[key] = rule }
            }
            if let r = a.table("rate") { rate = readRate(r) }
            if let r = a.table("trend") { trend = readTrend(r, limits: limits) }
            if let r = a.table("bypass") {
                if tagClass != .interlock { r.error(nil, "only a tag of class interlock has alarms.bypass") }
                else { limits["l"] = readBypass(r, base: limits["l"]!) }
            }
            if tagClass == .interlock {
                for key in ["h", "hh", "l", "ll", "rate", "trend"] where a.has(key) {
                    a.error(key, "an interlock tag (1 in service, 0 bypassed) has alarms.bypass only")
                }
            }
            a.rejectUnknownKeys()
        }
        let (h, hh, l, ll) = (limits["h"], limits["hh"], limits["l"], limits["ll"])
        if let h, let hh, hh.at <= h.at { t.error("alarms.hh.at", "\(Compliance.fmt(hh.at)) must be above alarms.h.at \(Compliance.fmt(h.at))") }
        if let l, let ll, ll.at >= l.at { t.error("alarms.ll.at", "\(Compliance.fmt(ll.at)) must be below alarms.l.at \(Compliance.fmt(l.at))") }
        let lowest = [h, hh].compactMap { $0?.at }.min(), highest = [l, ll].compactMap { $0?.at }.max()
        if let lowest, let highest, lowest <= highest {
            t.error("alarms", "the high limits (from \(Compliance.fmt(lowest))) must lie above the low limits (up to \(Compliance.fmt(highest)))")
        }
        for (key, message) in Compliance.violations(tagClass: tagClass, unit: unit, limit: exposure, h: h, hh: hh, l: l, ll: ll) {
            let path = key.split(separator: ".").map(String.init)
            if let override, !override.trimmingSpaces.isEmpty {
                t.diagnostics.warning(t.location + path, context: t.context, display: path,
                                      message + " (accepted by compliance_override: \(override))")
            } else {
                t.diagnostics.error(t.location + path, context: t.context, display: path, message)
            }
        }

        guard let s = t.table("source") else {
            t.error("source", "is required: { mqtt = \"TOPIC\" }, { mqtt_map = \"MAP-ID\" }, { sparkplug = \"ID\" } or { modbus = \"DEVICE\", table = ..., address = ... }")
            return nil
        }
        let source: TagSource
        let sourceText: String
        if s.has("modbus") {
            let deviceID = s.table["modbus"]?.string ?? ""
            let device = devices[deviceID]
            if device == nil { s.error("modbus", "no [[modbus.device]] has id \"\(deviceID)\"") }
            guard let src = readModbusSource(s, device: device) else { return nil }
            source = .modbus(src)
            sourceText = "modbus:\(deviceID)"
        } else if s.has("mqtt") || s.has("mqtt_map") {
            if mqtt == nil { s.error(s.has("mqtt") ? "mqtt" : "mqtt_map", "an MQTT source needs an [mqtt] section with the broker url") }
            if let topic = s.string("mqtt") {
                if let problem = TopicFilter.validate(topic) { s.error("mqtt", problem) }
                else if TopicFilter.hasWildcards(topic) { s.error("mqtt", "a tag's topic must be exact; map wildcard topics to tags with [[mqtt.map]] and source = { mqtt_map = \"ID\" }") }
                let json = s.string("json")
                if let json, json.isEmpty { s.error("json", "must not be empty") }
                source = .mqtt(.topic(topic, json: json))
                sourceText = "mqtt:\(topic)"
            } else {
                let mapID = s.string("mqtt_map") ?? ""
                if mqtt != nil, !(mqtt?.maps.contains { $0.id == mapID } ?? false) { s.error("mqtt_map", "no [[mqtt.map]] has id \"\(mapID)\"") }
                source = .mqtt(.map(mapID))
                sourceText = "mqtt:\(mqtt?.maps.first { $0.id == mapID }?.topic ?? mapID)"
            }
            s.rejectUnknownKeys()
        } else if s.has("sparkplug") {
            let id = s.string("sparkplug") ?? ""
            let entry = mqtt?.sparkplug.first { $0.id == id }
            if mqtt == nil { s.error("sparkplug", "a Sparkplug source needs an [mqtt] section with the broker url") }
            else if entry == nil { s.error("sparkplug", "no [[mqtt.sparkplug]] has id \"\(id)\"") }
            var name: SparkplugMetricName?
            if let metric = s.string("metric") {
                let node = s.string("node") ?? ""
                if node.isEmpty { s.error("node", "is required with metric: the edge node that publishes it") }
                let device = s.string("device")
                if metric.isEmpty { s.error("metric", "must not be empty") }
                if let entry, !node.isEmpty, !entry.nodes.contains(node) {
                    s.error("node", "\"\(node)\" is not in [[mqtt.sparkplug]] \"\(id)\"'s nodes; list it there, so its loss raises a comm alarm")
                }
                if let entry, let device, !entry.nodes.contains("\(node)/\(device)") {
                    s.error("device", "\"\(node)/\(device)\" is not in [[mqtt.sparkplug]] \"\(id)\"'s nodes; list it there, so its loss raises a comm alarm")
                }
                name = SparkplugMetricName(node: node, device: device, metric: metric)
            } else {
                for key in ["node", "device"] where s.has(key) { _ = s.string(key); s.error(key, "goes with metric; without it the group's tag template names the tag") }
            }
            source = .mqtt(.sparkplug(id, metric: name))
            sourceText = "sparkplug:\(entry?.group ?? id)" + (name.map { "/\($0.node)\($0.device.map { "/" + $0 } ?? "")/\($0.metric)" } ?? "")
            s.rejectUnknownKeys()
        } else {
            s.error(nil, "names no input: use mqtt, mqtt_map, sparkplug or modbus")
            return nil
        }
        let stale = readStale(t, tagClass: tagClass, source: source, devices: devices, defaultStale: defaultStale, override: override)
        var frozen: FrozenRule?
        if let fr = t.table("frozen") {
            let after = fr.duration("after")
            if after == nil { fr.error("after", "is required: how long an unmoving value is believed (e.g. \"30m\")") }
            if let after, after < .seconds(1) { fr.error("after", "must be at least 1s") }
            let band = fr.double("band") ?? 0
            if !(band >= 0) { fr.error("band", "must be 0 or more (in the tag's unit)") }
            fr.rejectUnknownKeys()
            if let after, after >= .seconds(1), band >= 0 { frozen = FrozenRule(after: after, band: band) }
        }
        var suppress: SuppressionRule?
        if let sr = t.table("suppress_if") {
            let other = sr.string("tag") ?? ""
            if other.isEmpty { sr.error("tag", "is required: the tag whose value suppresses this one's alarms") }
            let below = sr.double("below"), above = sr.double("above")
            if below == nil && above == nil { sr.error(nil, "needs below and / or above") }
            sr.rejectUnknownKeys()
            suppress = SuppressionRule(tag: other, below: below, above: above)
        }
        let oos = t.string("out_of_service")
        if let oos, oos.trimmingSpaces.isEmpty { t.error("out_of_service", "must give the reason (maintenance ticket, ...)") }
        var def = TagDefinition(id: id, name: name, unit: unit, tagClass: tagClass, source: sourceText,
                                hazardSource: hazard, h: h, hh: hh, l: l, ll: ll, rate: rate, trend: trend,
                                staleAfter: stale, suppressIf: suppress, outOfService: oos)
        def.frozen = frozen
        if let g = t.table("grades") {
            for (key, path) in [("stale", \TagDefinition.staleGrade), ("fault", \.faultGrade)] {
                if let n = g.int(key) {
                    if let gg = Grade(n) { def[keyPath: path] = gg } else { g.error(key, "\(n) is not a grade 1 (red) ... 4 (blue)") }
                }
            }
            g.rejectUnknownKeys()
        }
        var history = TagHistorySettings()
        if let h = t.table("history") {
            if let d = h.double("deadband") {
                if d >= 0 && d.isFinite { history.deadband = d } else { h.error("deadband", "must be 0 or more (in the tag's unit; 0 stores every change)") }
            }
            if let p = h.string("precision") {
                switch p {
                case "float32": history.float64 = false
                case "float64": history.float64 = true
                default: h.error("precision", "\"\(p)\" is not one of float32 (about 7 digits, the default), float64 (totalisers, counters)")
                }
            }
            h.rejectUnknownKeys()
        }
        var settings = TagSettings(definition: def, source: source, complianceOverride: override,
                                   oel: exposure?.kind == .oel ? exposure?.value : nil)
        settings.history = history
        settings.code = t.string("code", default: "")
        return settings
    }

    /// A toxic tag's exposure limit in its own unit: `oel` (GB/T 50493: alarms at 100 % and
    /// 200 % of it) or, where no OEL applies, `idlh` (at most 5 % and 10 % of it). Either is a
    /// number in the tag's unit or a string with its unit ("10 mg/m3", "5 ppm"); mg/m3 on a ppm
    /// detector needs `gas` for the molar mass.
    /// `alarms.bypass = { after, grade }`: an interlock bypassed (its value below 0.5) longer
    /// than `after` raises `bypass`.
    private func readBypass(_ r: TableReader, base: LimitRule) -> LimitRule {
        var rule = base
        if let d = r.duration("after") {
            if d >= .zero { rule.onDelay = d } else { r.error("after", "must not be negative") }
        }
        if let g = r.int("grade") {
            if let v = Grade(g) { rule.grade = v } else { r.error("grade", "\(g) is not a grade 1 (red) ... 4 (blue)") }
        }
        r.rejectUnknownKeys()
        return rule
    }

    private func readExposure(_ t: TableReader, tagClass: TagClass, unit: String) -> ToxicLimit? {
        var gas: (name: String, molarMass: Double)?
        if let g = t.string("gas") {
            if let known = ToxicGas.table[g.lowercased()] { gas = known }
            else { t.error("gas", "\"\(g)\" is not a gas hazmon knows the molar mass of (\(ToxicGas.knownNames))") }
        }
        var found: ToxicLimit?
        for (key, kind) in [("oel", ToxicLimit.Kind.oel), ("idlh", .idlh)] {
            guard let v = t.table[key] else { continue }
            t.markSeen(key)
            if tagClass != .toxicGas { t.error(key, "only a toxic_gas tag has an exposure limit"); continue }
            let written: ExposureLimit
            if let s = v.string {
                switch ExposureLimit.parse(s) {
                case .success(let e): written = e
                case .failure(let why): t.error(key, why.description); continue
                }
            } else if let n = t.double(key) {
                guard n > 0 else { t.error(key, "must be above 0"); continue }
                written = ExposureLimit(amount: n, unit: .tagUnit)
            } else {
                continue
            }
            switch written.inTagUnit(unit, gas: gas) {
            case .success(let value):
                if found != nil { t.error(key, "give oel or idlh, not both: the alarm points come from one of them") }
                else { found = ToxicLimit(kind: kind, value: value, written: written) }
            case .failure(let why):
                t.error(key, why.description)
            }
        }
        if tagClass == .toxicGas, found == nil, t.table["oel"] == nil, t.table["idlh"] == nil {
            t.error("oel", "a toxic_gas tag needs its occupational exposure limit (oel, e.g. \"10 mg/m3\" with gas, or a number in the tag's unit), or idlh where no OEL applies: GB/T 50493 sets its alarm points from it")
        }
        return found
    }

    /// The tag's `stale_after`: its own, else `[engine] stale_after`, else for a gas detector
    /// `GasStale.default` (no gas detector may go silent: a dead gateway behind a live broker
    /// would freeze its readings without an alarm). `"off"` turns the check off, which a gas
    /// detector may only do with a `compliance_override` that says why.
    private func readStale(_ t: TableReader, tagClass: TagClass, source: TagSource, devices: [String: ModbusDeviceSettings],
                           defaultStale: Duration?, override: String?) -> Duration? {
        if t.table["stale_after"]?.string?.lowercased() == "off" {
            t.markSeen("stale_after")
            if tagClass.isGas {
                let message = "a \(tagClass.rawValue) detector must not go silent: with stale detection off, a dead gateway or device freezes its last reading without an alarm"
                if let override, !override.trimmingSpaces.isEmpty {
                    t.warning("stale_after", message + " (accepted by compliance_override: \(override))")
                } else {
                    t.error("stale_after", message + "; give compliance_override with the reason to turn it off")
                }
            }
            return nil
        }
        if let d = t.duration("stale_after") {
            if d >= .milliseconds(100) { return d }
            t.error("stale_after", "must be at least 100ms (or \"off\")")
            return nil
        }
        if let defaultStale { return defaultStale }
        guard tagClass.isGas else { return nil }
        if case .modbus(let m) = source, let device = devices[m.device] { return GasStale.default(poll: device.poll) }
        return GasStale.default(poll: nil)
    }
}

/// The stale-data default of a gas detector that sets none (issue 18, item 4).
enum GasStale {
    /// Three expected periods (a Modbus device's poll), at least 10 s so one slow poll is not
    /// stale data, at most 60 s; 60 s where the period is not known (MQTT).
    static func `default`(poll: Duration?) -> Duration {
        guard let poll else { return .seconds(60) }
        return min(max(poll * 3, .seconds(10)), .seconds(60))
    }
}
