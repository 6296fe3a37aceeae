import Foundation
import HazmonCore
import SwiftProtobuf

/// A Sparkplug B topic: `spBv1.0/<group>/<type>/<node>[/<device>]`, or a host's
/// `spBv1.0/STATE/<host>`.
public struct SparkplugTopic: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case nbirth = "NBIRTH", ndeath = "NDEATH", ndata = "NDATA", ncmd = "NCMD"
        case dbirth = "DBIRTH", ddeath = "DDEATH", ddata = "DDATA", dcmd = "DCMD"
        /// Device messages carry a device id as the topic's last level.
        var isDevice: Bool { self == .dbirth || self == .ddeath || self == .ddata || self == .dcmd }
    }

    public var group: String
    public var kind: Kind
    public var node: String
    public var device: String?

    public static let namespace = "spBv1.0"

    /// nil for anything that is not an edge node's or device's message (STATE included).
    public init?(_ topic: String) {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4 || parts.count == 5, parts[0] == Self.namespace,
              let kind = Kind(rawValue: String(parts[2])), kind.isDevice == (parts.count == 5),
              parts.dropFirst().allSatisfy({ !$0.isEmpty }) else { return nil }
        group = String(parts[1])
        self.kind = kind
        node = String(parts[3])
        device = parts.count == 5 ? String(parts[4]) : nil
    }

    public static func command(group: String, node: String) -> String { "\(namespace)/\(group)/NCMD/\(node)" }
    public static func state(host: String) -> String { "\(namespace)/STATE/\(host)" }
}

/// One metric of a Sparkplug payload, reduced to what an alarm engine reads.
public struct SparkplugMetric: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// A number, or a boolean as 1 / 0.
        case number(Double)
        /// `is_null`: the edge has no value for it.
        case null
        /// A string, bytes or other value an alarm cannot compare (the field's name).
        case unsupported(String)
        /// No value field at all (a birth may declare a metric without one).
        case none
    }

    public var name: String?
    public var alias: UInt64?
    /// Milliseconds since 1970 (the metric's own, else the payload's).
    public var timestamp: UInt64?
    public var datatype: UInt32?
    public var value: Value
    /// From the metric's `Quality` property (192 good, 500 stale, 0 bad; OPC ranges), if it has one.
    public var quality: Quality?
    /// A value from the edge's store-and-forward buffer, not the current one.
    public var historical: Bool

    public init(name: String?, alias: UInt64?, timestamp: UInt64? = nil, datatype: UInt32? = nil, value: Value,
                quality: Quality? = nil, historical: Bool = false) {
        self.name = name
        self.alias = alias
        self.timestamp = timestamp
        self.datatype = datatype
        self.value = value
        self.quality = quality
        self.historical = historical
    }
}

/// A decoded Sparkplug B payload.
public struct SparkplugMessage: Sendable, Equatable {
    public var timestamp: UInt64?
    public var seq: UInt64?
    public var metrics: [SparkplugMetric]
}

public enum SparkplugError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLarge(size: Int, limit: Int)
    case notProtobuf(String)
    case tooManyMetrics(Int)

    public var description: String {
        switch self {
        case .tooLarge(let s, let l): return "payload of \(s) bytes exceeds max_payload \(l)"
        case .notProtobuf(let why): return "not a Sparkplug B payload: \(why)"
        case .tooManyMetrics(let n): return "\(n) metrics in one payload (at most \(SparkplugCodec.maxMetrics))"
        }
    }

    public var reason: String {
        switch self {
        case .tooLarge: return "oversized"
        case .notProtobuf: return "not_sparkplug"
        case .tooManyMetrics: return "oversized"
        }
    }
}

/// Sparkplug B payloads in and out, through swift-protobuf and the schema in `sparkplug_b.proto`.
public enum SparkplugCodec {
    /// More metrics than this in one message is refused whole (a birth of a big edge node has
    /// some thousands).
    public static let maxMetrics = 100_000
    /// Data types (Sparkplug 3.0 §6.4.16) hazmon reads as numbers.
    public enum DataType: UInt32 {
        case int8 = 1, int16, int32, int64, uint8, uint16, uint32, uint64, float, double, boolean, string, dateTime, text
    }

    public static func decode(_ bytes: [UInt8], limit: Int) throws(SparkplugError) -> SparkplugMessage {
        guard bytes.count <= limit else { throw .tooLarge(size: bytes.count, limit: limit) }
        let payload: Hazmon_Sparkplug_SparkplugPayload
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 16
            payload = try Hazmon_Sparkplug_SparkplugPayload(serializedBytes: bytes, options: options)
        } catch {
            throw .notProtobuf("\(error)")
        }
        guard payload.metrics.count <= maxMetrics else { throw .tooManyMetrics(payload.metrics.count) }
        let base = payload.hasTimestamp ? payload.timestamp : nil
        return SparkplugMessage(timestamp: base, seq: payload.hasSeq ? payload.seq : nil,
                                metrics: payload.metrics.map { metric($0, base: base) })
    }

    static func metric(_ m: Hazmon_Sparkplug_SparkplugPayload.Metric, base: UInt64?) -> SparkplugMetric {
        let type = m.hasDatatype ? DataType(rawValue: m.datatype) : nil
        var value = SparkplugMetric.Value.none
        if m.hasIsNull && m.isNull {
            value = .null
        } else if let v = m.value {
            switch v {
            case .intValue(let u):
                // Signed types travel as their two's complement; some edges fill 32 bits, some
                // only the type's width (Tahu's Python): the low bits read the same either way.
                switch type {
                case .int8?: value = .number(Double(Int8(truncatingIfNeeded: u)))
                case .int16?: value = .number(Double(Int16(truncatingIfNeeded: u)))
                case .int32?: value = .number(Double(Int32(bitPattern: u)))
                default: value = .number(Double(u))
                }
            case .longValue(let u):
                value = .number(type == .int64 ? Double(Int64(bitPattern: u)) : Double(u))
            case .floatValue(let f): value = f.isFinite ? .number(Double(f)) : .unsupported("a non-finite float")
            case .doubleValue(let d): value = d.isFinite ? .number(d) : .unsupported("a non-finite double")
            case .booleanValue(let b): value = .number(b ? 1 : 0)
            case .stringValue: value = .unsupported("a string")
            case .bytesValue: value = .unsupported("bytes")
            }
        }
        var quality: Quality?
        if m.hasProperties, let i = m.properties.keys.firstIndex(of: "Quality"), i < m.properties.values.count {
            let p = m.properties.values[i]
            let code: UInt64? = switch p.value {
            case .intValue(let u)?: UInt64(u)
            case .longValue(let u)?: u
            default: nil
            }
            // The same reading as a JSON payload's quality code (OPC ranges, Sparkplug's 500 stale);
            // a code that is neither is not trusted as good.
            if let code { quality = (try? PayloadDecoder.decodeQuality(.number(Double(code)))) ?? .uncertain }
        }
        return SparkplugMetric(name: m.hasName ? m.name : nil, alias: m.hasAlias ? m.alias : nil,
                               timestamp: m.hasTimestamp ? m.timestamp : base, datatype: m.hasDatatype ? m.datatype : nil,
                               value: value, quality: quality, historical: m.hasIsHistorical && m.isHistorical)
    }

    /// A payload from metrics (an edge node's side: the simulator, the benchmarks). Numbers go
    /// out as their `datatype` says (Double when it says nothing), `.null` as `is_null`; a
    /// metric's `quality` becomes its `Quality` property (192, 500, 0).
    public static func encode(timestamp: UInt64?, seq: UInt64?, metrics: [SparkplugMetric]) -> [UInt8] {
        var p = Hazmon_Sparkplug_SparkplugPayload()
        if let timestamp { p.timestamp = timestamp }
        if let seq { p.seq = seq }
        p.metrics = metrics.map { m in
            var out = Hazmon_Sparkplug_SparkplugPayload.Metric()
            if let name = m.name { out.name = name }
            if let alias = m.alias { out.alias = alias }
            if let t = m.timestamp { out.timestamp = t }
            let type = DataType(rawValue: m.datatype ?? DataType.double.rawValue) ?? .double
            out.datatype = type.rawValue
            switch m.value {
            case .number(let v):
                switch type {
                case .int8, .int16, .int32: out.intValue = UInt32(bitPattern: Int32(clamping: Int64(v.rounded())))
                case .uint8, .uint16, .uint32: out.intValue = UInt32(clamping: Int64(v.rounded()))
                case .int64, .dateTime: out.longValue = UInt64(bitPattern: Int64(v.rounded()))
                case .uint64: out.longValue = UInt64(max(0, v.rounded()))
                case .float: out.floatValue = Float(v)
                case .boolean: out.booleanValue = v != 0
                case .double, .string, .text: out.doubleValue = v
                }
            case .null: out.isNull = true
            case .unsupported, .none: break
            }
            if let q = m.quality {
                var v = Hazmon_Sparkplug_SparkplugPayload.PropertyValue()
                v.type = DataType.int32.rawValue
                v.intValue = q == .good ? 192 : q == .uncertain ? 500 : 0
                out.properties.keys = ["Quality"]
                out.properties.values = [v]
            }
            if m.historical { out.isHistorical = true }
            return out
        }
        return (try? p.serializedBytes()) ?? []
    }

    /// NCMD asking an edge node for a new birth (`Node Control/Rebirth` = true).
    public static func rebirthRequest(at unixMilliseconds: UInt64) -> [UInt8] {
        var p = Hazmon_Sparkplug_SparkplugPayload()
        p.timestamp = unixMilliseconds
        var m = Hazmon_Sparkplug_SparkplugPayload.Metric()
        m.name = "Node Control/Rebirth"
        m.timestamp = unixMilliseconds
        m.datatype = DataType.boolean.rawValue
        m.booleanValue = true
        p.metrics = [m]
        return (try? p.serializedBytes()) ?? []
    }

    /// A host application's STATE payload (Sparkplug 3.0: JSON, retained).
    public static func state(online: Bool, at unixMilliseconds: UInt64) -> String {
        "{\"online\":\(online),\"timestamp\":\(unixMilliseconds)}"
    }

    /// Milliseconds since 1970 as an `Instant` (source times), nil beyond the year 2255.
    public static func instant(unixMilliseconds ms: UInt64) -> Instant? {
        ms < 9_000_000_000_000 ? Instant(nanoseconds: Int64(ms) * 1_000_000) : nil
    }
}
