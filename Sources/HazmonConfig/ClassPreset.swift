import Foundation
import HazmonCore

/// Defaults a tag class brings (domain.md): unit, limits, deadbands and grades. A tag's own
/// keys always win; compliance rules are checked on the result.
struct ClassPreset {
    var unit: String?
    var h: LimitRule?
    var hh: LimitRule?
    var l: LimitRule?
    var ll: LimitRule?
    /// Default deadband for limits the tag writes itself.
    var deadband: Double?

    static func preset(for c: TagClass, limit: ToxicLimit?) -> ClassPreset {
        switch c {
        case .combustibleGas:
            // GB/T 50493-2019 §5.5.2: first level <= 25 %LEL, second <= 50 %LEL. The common
            // set points 20 / 40 leave margin under both.
            return ClassPreset(unit: "%LEL", h: LimitRule(at: 20, grade: .yellow, deadband: 2),
                               hh: LimitRule(at: 40, grade: .orange, deadband: 2), deadband: 2)
        case .toxicGas:
            guard let limit else { return ClassPreset(unit: "ppm") }
            // GB/T 50493: first level at 100 % OEL, second at 200 %; or 5 % / 10 % of IDLH.
            let (first, second) = limit.maxima
            return ClassPreset(unit: "ppm", h: LimitRule(at: first, grade: .yellow, deadband: first * 0.05),
                               hh: LimitRule(at: second, grade: .orange, deadband: first * 0.05),
                               deadband: first * 0.05)
        case .oxygen:
            return ClassPreset(unit: "%VOL", h: LimitRule(at: 23.5, grade: .yellow, deadband: 0.2),
                               l: LimitRule(at: 19.5, grade: .yellow, deadband: 0.2), deadband: 0.2)
        case .interlock:
            // 1 in service, 0 bypassed: the low side below 0.5 is the bypass, alarmed once it
            // lasts `alarms.bypass.after` (default 1 h; a site sets it from its bypass permits).
            var bypass = LimitRule(at: 0.5, grade: .orange, deadband: 0)
            bypass.onDelay = .seconds(3600)
            return ClassPreset(unit: "", l: bypass, deadband: 0)
        case .pressure, .level, .temperature, .flow, .none:
            return ClassPreset()
        }
    }
}

/// The GB/T 50493 rules a gas tag's limits must meet.
enum Compliance {
    static let combustibleFirstMax = 25.0
    static let combustibleSecondMax = 50.0
    static let oxygenLow = 19.5
    static let oxygenHigh = 23.5

    /// Each broken rule as (limit key, message).
    static func violations(tagClass: TagClass, unit: String, limit: ToxicLimit?, h: LimitRule?, hh: LimitRule?,
                           l: LimitRule?, ll: LimitRule?) -> [(String, String)] {
        var out: [(String, String)] = []
        switch tagClass {
        case .combustibleGas:
            if let h, h.at > combustibleFirstMax {
                out.append(("alarms.h.at", "\(fmt(h.at)) exceeds the GB/T 50493 first-level maximum of 25 %LEL"))
            }
            if let hh, hh.at > combustibleSecondMax {
                out.append(("alarms.hh.at", "\(fmt(hh.at)) exceeds the GB/T 50493 second-level maximum of 50 %LEL"))
            }
            if h == nil && hh == nil {
                out.append(("alarms", "a combustible gas tag needs at least one high limit (GB/T 50493)"))
            }
        case .toxicGas:
            guard let limit else { break }
            let (first, second) = limit.maxima
            let (p1, p2) = limit.kind == .oel ? ("100 % OEL", "200 % OEL") : ("5 % IDLH", "10 % IDLH")
            if let h, h.at > first {
                out.append(("alarms.h.at", "\(fmt(h.at)) exceeds the GB/T 50493 first-level maximum of \(p1) (\(fmt(first)) \(unit))"))
            }
            if let hh, hh.at > second {
                out.append(("alarms.hh.at", "\(fmt(hh.at)) exceeds the GB/T 50493 second-level maximum of \(p2) (\(fmt(second)) \(unit))"))
            }
        case .oxygen:
            if let l, l.at < oxygenLow {
                out.append(("alarms.l.at", "\(fmt(l.at)) is below the GB/T 50493 oxygen-deficiency alarm point of 19.5 %VOL"))
            }
            if let h, h.at > oxygenHigh {
                out.append(("alarms.h.at", "\(fmt(h.at)) is above the GB/T 50493 oxygen-enrichment alarm point of 23.5 %VOL"))
            }
        default:
            break
        }
        return out
    }

    static func fmt(_ v: Double) -> String { JSONWriter.number(v) }
}

/// A toxic gas detector's exposure limit, in the tag's unit.
struct ToxicLimit: Equatable {
    enum Kind: Equatable { case oel, idlh }
    var kind: Kind
    /// In the tag's unit (converted from mg/m3 if it was written so).
    var value: Double
    var written: ExposureLimit

    /// GB/T 50493's highest first- and second-level set points: 100 % / 200 % of the OEL, or
    /// 5 % / 10 % of IDLH where no OEL applies. Rounded to 4 significant digits (a converted
    /// limit such as 7.174 ppm is not meant to more).
    var maxima: (first: Double, second: Double) {
        switch kind {
        case .oel: return (Self.round4(value), Self.round4(2 * value))
        case .idlh: return (Self.round4(0.05 * value), Self.round4(0.10 * value))
        }
    }

    static func round4(_ v: Double) -> Double {
        guard v > 0 else { return v }
        let scale = Foundation.pow(10, 3 - Foundation.floor(Foundation.log10(v)))
        return (v * scale).rounded() / scale
    }
}
