#if canImport(Glibc)
import Glibc
#endif

/// A major hazard source (重大危险源, spec §13): a unit whose inventory of hazardous chemicals
/// reaches the critical quantities of GB 18218-2018, graded live from its level tags.
public struct HazardSourceDefinition: Sendable, Hashable {
    public var id: String
    /// 重大危险源编码, for uplinks.
    public var code: String
    public var name: String
    /// People normally present within 500 m outside the site: sets α (GB 18218-2018 Table 5).
    public var exposedPeople: Int
    public var substances: [SubstanceDefinition]
    /// What each operating mode design-suppresses, and how long it may last (spec §13).
    public var modes: [OperatingMode: ModeRule] = [:]

    public init(id: String, code: String = "", name: String? = nil, exposedPeople: Int, substances: [SubstanceDefinition],
                modes: [OperatingMode: ModeRule] = [:]) {
        self.modes = modes
        self.id = id
        self.code = code
        self.name = name ?? id
        self.exposedPeople = exposedPeople
        self.substances = substances
    }

    public var alpha: Double { GB18218.alpha(exposedPeople: exposedPeople) }
}

/// A hazard source's operating mode: `normal`, or one an engineer declares for a bounded time.
public enum OperatingMode: String, Sendable, Hashable, CaseIterable {
    case normal, startup, shutdown, maintenance

    /// Its number in the journal's alarm table (0 normal).
    var code: Int { Self.allCases.firstIndex(of: self)! }
}

/// A mode's rule: the tags whose process alarms (limits, rate, trend) it design-suppresses
/// (ISA-18.2 suppressed by design; faults, stale data and lost connections are never
/// suppressed), and the longest it may be declared for.
public struct ModeRule: Sendable, Hashable {
    public var suppress: [String]
    public var max: Duration
    public static let defaultMax = Duration.seconds(24 * 3600)
    public init(suppress: [String] = [], max: Duration = ModeRule.defaultMax) {
        self.suppress = suppress
        self.max = max
    }
}

/// One hazardous chemical of a source: its critical quantity Q (tonnes), correction β, and the
/// vessels whose levels give the quantity q present.
public struct SubstanceDefinition: Sendable, Hashable {
    public var name: String
    public var criticalQuantity: Double
    public var beta: Double
    public var vessels: [VesselDefinition]

    public init(name: String, criticalQuantity: Double, beta: Double, vessels: [VesselDefinition]) {
        self.name = name
        self.criticalQuantity = criticalQuantity
        self.beta = beta
        self.vessels = vessels
    }
}

/// A vessel whose level tag gives its contents: q = V(level) · density.
public struct VesselDefinition: Sendable, Hashable {
    /// The level tag's id.
    public var levelTag: String
    public var shape: VesselShape
    /// t/m³ (the liquid's density at storage conditions).
    public var density: Double
    /// How the level tag's values read as metres (from its unit).
    public var levelUnit: LevelUnit

    public init(levelTag: String, shape: VesselShape, density: Double, levelUnit: LevelUnit = .metres) {
        self.levelTag = levelTag
        self.shape = shape
        self.density = density
        self.levelUnit = levelUnit
    }

    /// Tonnes in the vessel at a level reading, or why the reading cannot be turned into one.
    public func tonnes(atReading reading: Double) -> Result<Double, InventoryError> {
        let full = shape.fullLevel
        let h = levelUnit.metres(reading, fullLevel: full)
        // A little outside the vessel is calibration; far outside is a wrong reading, not a level.
        let tolerance = max(0.02 * full, 0.01)
        guard h.isFinite, h >= -tolerance, h <= full + tolerance else {
            return .failure(.outOfVessel(reading: reading, metres: h, full: full))
        }
        return .success(shape.volume(atLevel: min(max(h, 0), full)) * density)
    }
}

/// What a level tag's value is: metres, millimetres, or percent of the vessel's full level.
/// Strapping tables are read in the tag's own unit (`.table` shapes use `.raw`).
public enum LevelUnit: String, Sendable, Hashable {
    case metres, millimetres, percent, raw

    /// From a tag's unit ("m", "mm", "%"); nil for any other unit.
    public init?(tagUnit: String) {
        switch tagUnit.trimmingSpaces.lowercased() {
        case "m": self = .metres
        case "mm": self = .millimetres
        case "%": self = .percent
        default: return nil
        }
    }

    func metres(_ reading: Double, fullLevel: Double) -> Double {
        switch self {
        case .metres, .raw: return reading
        case .millimetres: return reading / 1000
        case .percent: return reading / 100 * fullLevel
        }
    }
}

public enum InventoryError: Error, Sendable, Hashable, CustomStringConvertible {
    case outOfVessel(reading: Double, metres: Double, full: Double)

    public var description: String {
        switch self {
        case .outOfVessel(let reading, let metres, let full):
            return "level \(JSONWriter.number(reading)) (\(JSONWriter.number((metres * 1000).rounded() / 1000)) m) is outside the vessel (0 to \(JSONWriter.number(full)) m)"
        }
    }
}

/// A vessel's shape and size (metres), giving its liquid volume (m³) at a level.
public enum VesselShape: Sendable, Hashable {
    case sphere(diameter: Double)
    case verticalCylinder(diameter: Double, height: Double)
    case horizontalCylinder(diameter: Double, length: Double)
    /// A strapping table (罐容表): level (in the level tag's unit) → volume in m³, levels
    /// increasing; linear between rows.
    case table([StrappingRow])

    /// The highest level the vessel holds (its diameter, height, or the table's last level).
    public var fullLevel: Double {
        switch self {
        case .sphere(let d): return d
        case .verticalCylinder(_, let h): return h
        case .horizontalCylinder(let d, _): return d
        case .table(let rows): return rows.last?.level ?? 0
        }
    }

    /// Liquid volume at level `h` (0 ≤ h ≤ fullLevel).
    public func volume(atLevel h: Double) -> Double {
        switch self {
        case .sphere(let d):
            // A spherical cap: V = π h² (3R − h) / 3.
            let r = d / 2
            return Double.pi * h * h * (3 * r - h) / 3
        case .verticalCylinder(let d, _):
            return Double.pi * d * d / 4 * h
        case .horizontalCylinder(let d, let length):
            // The circular segment's area times the length: R² acos((R − h)/R) − (R − h) √(2Rh − h²).
            let r = d / 2
            let segment = r * r * acos(max(-1, min(1, (r - h) / r))) - (r - h) * (max(0, 2 * r * h - h * h)).squareRoot()
            return segment * length
        case .table(let rows):
            guard let first = rows.first else { return 0 }
            if h <= first.level { return first.volume }
            for (a, b) in zip(rows, rows.dropFirst()) where h <= b.level {
                return a.volume + (b.volume - a.volume) * (h - a.level) / (b.level - a.level)
            }
            return rows.last!.volume
        }
    }
}

public struct StrappingRow: Sendable, Hashable {
    public var level: Double
    public var volume: Double
    public init(level: Double, volume: Double) {
        self.level = level
        self.volume = volume
    }
}

/// GB 18218-2018's grading of major hazard sources: α (Table 5), the levels, and the critical
/// quantities of common chemicals (Table 1) with β for the named toxic gases (Table 3).
public enum GB18218 {
    /// α by the number of people normally within 500 m outside the site (Table 5).
    public static func alpha(exposedPeople n: Int) -> Double {
        switch n {
        case 100...: return 2.0
        case 50...99: return 1.5
        case 30...49: return 1.2
        case 1...29: return 1.0
        default: return 0.5
        }
    }

    /// The level of a source by its R: 1 (一级) R ≥ 100, 2 (二级) 50 ≤ R < 100, 3 (三级)
    /// 10 ≤ R < 50, 4 (四级) R < 10.
    public static func level(r: Double) -> Int {
        if r >= 100 { return 1 }
        if r >= 50 { return 2 }
        if r >= 10 { return 3 }
        return 4
    }

    /// The lower R bound of a level (1: 100, 2: 50, 3: 10, 4: 0).
    public static func threshold(level: Int) -> Double { [0, 100, 50, 10, 0][max(0, min(4, level))] }

    /// A chemical hazmon knows by name: its critical quantity Q (tonnes, Table 1) and, for the
    /// toxic gases Table 3 names, its β. Others take β from their hazard class (Table 4), which
    /// the configuration gives.
    public struct Chemical: Sendable, Hashable {
        public var names: [String]
        public var criticalQuantity: Double
        public var beta: Double?
    }

    /// Common chemicals of Table 1 (Chinese name, English name, formula). Check a site's
    /// substances against the standard itself; an explicit `critical_quantity` always wins.
    public static let chemicals: [Chemical] = [
        Chemical(names: ["液化石油气", "LPG", "liquefied petroleum gas"], criticalQuantity: 50, beta: nil),
        Chemical(names: ["氨", "液氨", "ammonia", "NH3"], criticalQuantity: 10, beta: 2),
        Chemical(names: ["氯", "液氯", "chlorine", "Cl2"], criticalQuantity: 5, beta: 4),
        Chemical(names: ["甲醇", "methanol"], criticalQuantity: 500, beta: nil),
        Chemical(names: ["苯", "benzene"], criticalQuantity: 50, beta: nil),
        Chemical(names: ["甲苯", "toluene"], criticalQuantity: 500, beta: nil),
        Chemical(names: ["氢", "氢气", "hydrogen", "H2"], criticalQuantity: 5, beta: nil),
        Chemical(names: ["甲烷", "天然气", "methane", "natural gas", "CH4"], criticalQuantity: 50, beta: nil),
        Chemical(names: ["乙烯", "ethylene"], criticalQuantity: 50, beta: nil),
        Chemical(names: ["乙炔", "acetylene"], criticalQuantity: 1, beta: nil),
        Chemical(names: ["汽油", "gasoline", "petrol"], criticalQuantity: 200, beta: nil),
        Chemical(names: ["硫化氢", "hydrogen sulfide", "H2S"], criticalQuantity: 5, beta: 5),
        Chemical(names: ["一氧化碳", "carbon monoxide", "CO"], criticalQuantity: 10, beta: 2),
        Chemical(names: ["二氧化硫", "sulfur dioxide", "SO2"], criticalQuantity: 20, beta: 2),
        Chemical(names: ["氯化氢", "hydrogen chloride", "HCl"], criticalQuantity: 20, beta: 3),
        Chemical(names: ["氟化氢", "hydrogen fluoride", "HF"], criticalQuantity: 1, beta: 5),
        Chemical(names: ["环氧乙烷", "ethylene oxide"], criticalQuantity: 10, beta: 2),
        Chemical(names: ["溴甲烷", "methyl bromide"], criticalQuantity: 10, beta: 3),
        Chemical(names: ["氰化氢", "hydrogen cyanide", "HCN"], criticalQuantity: 1, beta: 10),
        Chemical(names: ["二氧化氮", "nitrogen dioxide", "NO2"], criticalQuantity: 1, beta: 10),
        Chemical(names: ["光气", "phosgene"], criticalQuantity: 0.3, beta: 20),
        Chemical(names: ["磷化氢", "phosphine", "PH3"], criticalQuantity: 1, beta: 20),
        Chemical(names: ["异氰酸甲酯", "methyl isocyanate"], criticalQuantity: 0.75, beta: 20),
    ]

    /// The chemical a substance name names (case-insensitive), if hazmon knows it.
    public static func chemical(named name: String) -> Chemical? {
        let n = name.trimmingSpaces.lowercased()
        return chemicals.first { $0.names.contains { $0.lowercased() == n } }
    }
}
