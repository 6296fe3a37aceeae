import HazmonCore

extension ConfigBuilder {
    /// `[[hazard_source]]` (spec §13): each source's α from its exposed people, its substances'
    /// Q and β (named chemicals take GB 18218's figures unless the config gives them), and the
    /// vessels whose level tags give the inventory.
    func readHazardSources(tags: [TagSettings], votes: [VoteDefinition]) -> [HazardSourceDefinition] {
        let sources = top.arrayOfTables("hazard_source", context: { i, t in "hazard_source \(t["id"]?.string?.quoted() ?? "#\(i + 1)")" })
        guard !sources.isEmpty else { return [] }
        let byID = Dictionary(tags.map { ($0.definition.id, $0.definition) }, uniquingKeysWith: { a, _ in a })
        let voteIDs = Set(votes.map(\.id))
        var seen: Set<String> = []
        var out: [HazardSourceDefinition] = []
        for h in sources {
            let id = h.string("id") ?? ""
            if !Self.isIdentifier(id) { h.error("id", "each hazard source needs an id of letters, digits, '-', '_' or '.'") }
            else if byID[id] != nil || voteIDs.contains(id) { h.error("id", "\"\(id)\" is already a tag or vote id; a source's id names its level events") }
            else if !seen.insert(id).inserted { h.error("id", "duplicate hazard source id") }
            let code = h.string("code", default: "")
            let name = h.string("name")
            var people = 0
            if let n = h.int("exposed_people") {
                if n >= 0 { people = n } else { h.error("exposed_people", "must be 0 or more (people within 500 m outside the site)") }
            } else {
                h.error("exposed_people", "is required: the people normally within 500 m outside the site set α (GB 18218-2018 Table 5)")
            }
            let substances = h.arrayOfTables("substance", context: { _, _ in nil }).map { readSubstance($0, tags: byID) }
            if substances.isEmpty { h.error("substance", "a hazard source needs at least one [[hazard_source.substance]]") }
            var modes: [OperatingMode: ModeRule] = [:]
            if let m = h.table("modes") {
                for mode in OperatingMode.allCases where mode != .normal {
                    guard let r = m.table(mode.rawValue) else { continue }
                    var rule = ModeRule()
                    rule.suppress = r.stringArray("suppress") ?? []
                    for t in rule.suppress where byID[t] == nil { r.error("suppress", "no tag \"\(t)\"") }
                    if let d = r.duration("max") {
                        if d > .zero { rule.max = d } else { r.error("max", "must be more than 0") }
                    }
                    r.rejectUnknownKeys()
                    modes[mode] = rule
                }
                m.rejectUnknownKeys()
            }
            h.rejectUnknownKeys()
            out.append(HazardSourceDefinition(id: id, code: code, name: name, exposedPeople: people, substances: substances, modes: modes))
        }
        return out
    }

    /// `[[position]]`: each operator position and the hazard sources it answers (by the sources'
    /// ids or the tags' `hazard_source` names); a source in two positions is an error.
    func readPositions(tags: [TagSettings], sources: [HazardSourceDefinition]) -> [PositionSettings] {
        let known = Set(sources.map(\.id)).union(tags.compactMap(\.definition.hazardSource))
        var seen: Set<String> = [], claimed: [String: String] = [:]
        var out: [PositionSettings] = []
        for p in top.arrayOfTables("position", context: { i, t in "position \(t["id"]?.string?.quoted() ?? "#\(i + 1)")" }) {
            let id = p.string("id") ?? ""
            if !Self.isIdentifier(id) { p.error("id", "each position needs an id of letters, digits, '-', '_' or '.'") }
            else if !seen.insert(id).inserted { p.error("id", "duplicate position id") }
            let list = p.stringArray("hazard_sources") ?? {
                p.error("hazard_sources", "is required: the hazard sources whose alarms this position answers")
                return []
            }()
            for s in list {
                if !known.contains(s) { p.error("hazard_sources", "no hazard source \"\(s)\" (neither a [[hazard_source]] id nor a tag's hazard_source)") }
                else if let other = claimed[s], other != id { p.error("hazard_sources", "\"\(s)\" is already position \"\(other)\"'s") }
                else { claimed[s] = id }
            }
            let name = p.string("name") ?? id
            p.rejectUnknownKeys()
            out.append(PositionSettings(id: id, name: name, hazardSources: list))
        }
        return out
    }

    private func readSubstance(_ s: TableReader, tags: [String: TagDefinition]) -> SubstanceDefinition {
        let name = s.string("name") ?? {
            s.error("name", "is required (e.g. 液化石油气, ammonia)")
            return ""
        }()
        let known = GB18218.chemical(named: name)
        var q = 1.0
        if let v = s.double("critical_quantity") {
            if v > 0 { q = v } else { s.error("critical_quantity", "must be more than 0 tonnes") }
        } else if let known {
            q = known.criticalQuantity
        } else if !name.isEmpty {
            s.error("critical_quantity", "is required: hazmon does not know \"\(name)\"; give Q in tonnes from GB 18218-2018 Table 1 or 2")
        }
        var beta = 1.0
        if let v = s.double("beta") {
            if v > 0 { beta = v } else { s.error("beta", "must be more than 0") }
        } else if let b = known?.beta {
            beta = b
        } else if !name.isEmpty {
            s.error("beta", "is required for \"\(name)\": β from GB 18218-2018 Table 4 by its hazard class (Table 3 names the toxic gases)")
        }
        var vessels: [VesselDefinition] = []
        for v in s.arrayOfTables("inventory", context: { _, _ in nil }) {
            if let vessel = readVessel(v, tags: tags) { vessels.append(vessel) }
        }
        if !s.has("inventory") { s.error("inventory", "is required: the vessels whose level tags give the quantity present") }
        s.rejectUnknownKeys()
        return SubstanceDefinition(name: name, criticalQuantity: q, beta: beta, vessels: vessels)
    }

    private func readVessel(_ v: TableReader, tags: [String: TagDefinition]) -> VesselDefinition? {
        let tagID = v.string("level") ?? ""
        let tag = tags[tagID]
        if tagID.isEmpty { v.error("level", "is required: the vessel's level tag") }
        else if tag == nil { v.error("level", "no tag \"\(tagID)\"") }
        var density = 1.0
        if let d = v.double("density") {
            if d > 0, d < 25 { density = d } else { v.error("density", "must be a density in t/m³ (more than 0, e.g. 0.51 for LPG)") }
        } else {
            v.error("density", "is required: the liquid's density in t/m³ at storage conditions")
        }
        func size(_ key: String) -> Double {
            guard let x = v.double(key) else {
                v.error(key, "is required for this shape (metres)")
                return 1
            }
            guard x > 0 else { v.error(key, "must be more than 0 metres"); return 1 }
            return x
        }
        let shape: VesselShape
        switch v.string("shape") {
        case "sphere": shape = .sphere(diameter: size("diameter"))
        case "vertical_cylinder": shape = .verticalCylinder(diameter: size("diameter"), height: size("height"))
        case "horizontal_cylinder": shape = .horizontalCylinder(diameter: size("diameter"), length: size("length"))
        case "table": shape = .table(readStrapping(v))
        case let other?:
            v.error("shape", "\"\(other)\" is not one of sphere, vertical_cylinder, horizontal_cylinder, table")
            return nil
        case nil:
            v.error("shape", "is required: sphere, vertical_cylinder, horizontal_cylinder or table")
            return nil
        }
        v.rejectUnknownKeys()
        guard let tag else { return nil }
        var unit = LevelUnit.raw
        if case .table = shape {
            unit = .raw
        } else if let u = LevelUnit(tagUnit: tag.unit) {
            unit = u
        } else {
            v.error("level", "tag \"\(tagID)\" reads in \"\(tag.unit)\"; a vessel's level must be in m, mm or % (or use shape = \"table\" in the tag's unit)")
        }
        return VesselDefinition(levelTag: tagID, shape: shape, density: density, levelUnit: unit)
    }

    /// `table = [[level, m³], ...]`: a strapping table, levels increasing, volumes not decreasing.
    private func readStrapping(_ v: TableReader) -> [StrappingRow] {
        v.markSeen("table")
        guard let rows = v.table["table"]?.array else {
            v.error("table", "is required for shape = \"table\": [[level, volume m³], ...] in the level tag's unit")
            return []
        }
        var out: [StrappingRow] = []
        for row in rows {
            guard let pair = row.array, pair.count == 2,
                  let level = pair[0].int.map(Double.init) ?? pair[0].double,
                  let volume = pair[1].int.map(Double.init) ?? pair[1].double, level.isFinite, volume.isFinite else {
                v.error("table", "each row is [level, volume m³], two numbers")
                return []
            }
            if let last = out.last, level <= last.level || volume < last.volume {
                v.error("table", "levels must increase and volumes must not decrease (row [\(level), \(volume)])")
                return []
            }
            out.append(StrappingRow(level: level, volume: volume))
        }
        if out.count < 2 { v.error("table", "a strapping table needs at least two rows") }
        return out
    }
}
