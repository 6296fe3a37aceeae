import HazmonCore

/// Common toxic gases with their molar mass, for exposure limits written in mg/m³ (as GB/T
/// 50493's appendix and GBZ 2.1 give them) on detectors that read ppm.
enum ToxicGas {
    /// Name or formula (lower case) → (name as messages show it, molar mass in g/mol).
    static let table: [String: (name: String, molarMass: Double)] = {
        let gases: [(keys: [String], name: String, molarMass: Double)] = [
            (["h2s", "hydrogen_sulfide"], "H2S", 34.08),
            (["nh3", "ammonia"], "NH3", 17.03),
            (["cl2", "chlorine"], "Cl2", 70.90),
            (["co", "carbon_monoxide"], "CO", 28.01),
            (["hcn", "hydrogen_cyanide"], "HCN", 27.03),
            (["c6h6", "benzene"], "benzene", 78.11),
            (["c7h8", "toluene"], "toluene", 92.14),
            (["cocl2", "phosgene"], "phosgene", 98.92),
            (["so2", "sulfur_dioxide"], "SO2", 64.07),
            (["no2", "nitrogen_dioxide"], "NO2", 46.01),
            (["no", "nitric_oxide"], "NO", 30.01),
            (["hcl", "hydrogen_chloride"], "HCl", 36.46),
            (["hf", "hydrogen_fluoride"], "HF", 20.01),
            (["ch3oh", "methanol"], "methanol", 32.04),
            (["hcho", "ch2o", "formaldehyde"], "formaldehyde", 30.03),
            (["c2h4o", "ethylene_oxide"], "ethylene oxide", 44.05),
            (["c2h3cl", "vinyl_chloride"], "vinyl chloride", 62.50),
            (["c3h3n", "acrylonitrile"], "acrylonitrile", 53.06),
            (["ph3", "phosphine"], "PH3", 34.00),
            (["ash3", "arsine"], "AsH3", 77.95),
        ]
        var out: [String: (name: String, molarMass: Double)] = [:]
        for g in gases { for k in g.keys { out[k] = (g.name, g.molarMass) } }
        return out
    }()

    /// The names `gas` accepts, for error messages.
    static var knownNames: String { table.keys.sorted().joined(separator: ", ") }

    /// Litres per mole of an ideal gas at 25 °C and 101.325 kPa: the conversion the
    /// occupational limits assume (ppm = mg/m³ × 24.45 / M).
    static let molarVolume = 24.45

    static func ppm(fromMilligrams mg: Double, molarMass m: Double) -> Double { mg * molarVolume / m }
}

/// An exposure limit as written: `10` (in the tag's unit) or `"10 mg/m3"`, `"7 ppm"`.
struct ExposureLimit: Equatable {
    /// Why a written limit cannot be used, as the config error says it.
    struct Problem: Error, CustomStringConvertible { var description: String; init(_ d: String) { description = d } }

    enum Unit: String { case ppm, mgPerM3 = "mg/m3", tagUnit = "" }
    var amount: Double
    var unit: Unit

    /// Parses `"10 mg/m3"` (also `mg/m³`) or `"7.5 ppm"`; nil with the reason otherwise.
    static func parse(_ text: String) -> Result<ExposureLimit, Problem> {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, let n = Double(parts[0]), n.isFinite else {
            return .failure(Problem("\"\(text)\" is not an amount and a unit, e.g. \"10 mg/m3\" or \"5 ppm\""))
        }
        guard n > 0 else { return .failure(Problem("must be above 0")) }
        switch parts[1].lowercased() {
        case "ppm": return .success(ExposureLimit(amount: n, unit: .ppm))
        case "mg/m3", "mg/m³", "mg/m^3": return .success(ExposureLimit(amount: n, unit: .mgPerM3))
        default: return .failure(Problem("unit \"\(parts[1])\" is not ppm or mg/m3"))
        }
    }

    /// The limit in the tag's unit (`ppm` or `mg/m3`), converting mg/m³ to ppm by the gas's
    /// molar mass; nil with the reason when the units cannot meet.
    func inTagUnit(_ tagUnit: String, gas: (name: String, molarMass: Double)?) -> Result<Double, Problem> {
        let tag = tagUnit.lowercased().replacingOccurrences(of: "³", with: "3")
        switch unit {
        case .tagUnit:
            return .success(amount)
        case .ppm:
            if tag == "ppm" { return .success(amount) }
            if tag == "mg/m3", let gas { return .success(amount * gas.molarMass / ToxicGas.molarVolume) }
            return .failure(Problem(mismatch(tagUnit, needsGas: tag == "mg/m3")))
        case .mgPerM3:
            if tag == "mg/m3" { return .success(amount) }
            if tag == "ppm", let gas { return .success(ToxicGas.ppm(fromMilligrams: amount, molarMass: gas.molarMass)) }
            return .failure(Problem(mismatch(tagUnit, needsGas: tag == "ppm")))
        }
    }

    private func mismatch(_ tagUnit: String, needsGas: Bool) -> String {
        if needsGas {
            return "is in \(unit.rawValue) and the tag reads \(tagUnit): name the gas (gas = \"H2S\", …) so hazmon can convert (ppm = mg/m3 × 24.45 / molar mass, 25 °C)"
        }
        return "is in \(unit.rawValue) but the tag reads \"\(tagUnit)\": a toxic gas detector reads ppm or mg/m3"
    }
}
