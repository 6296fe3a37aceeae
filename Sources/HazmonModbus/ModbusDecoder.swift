import HazmonCore

extension ModbusTable {
    /// The digit of the table in "4xxxx" style addresses: 0 coils, 1 discrete, 3 input, 4 holding.
    var modbusTableNumber: Int {
        switch self {
        case .coil: return 0
        case .discrete: return 1
        case .input: return 3
        case .holding: return 4
        }
    }
}

/// Turns raw registers and bits into engineering values. Pure: no I/O, no libmodbus.
///
/// Word and byte order follow the field's letters (domain.md): the letters name the bytes of
/// the value from most to least significant as they arrive in the register stream. ABCD is
/// big-endian (libmodbus's "usual"); CDAB swaps the words (Honeywell Midas floats); BADC swaps
/// the bytes inside each word; DCBA is fully little-endian. For 64-bit values the same two
/// swaps apply to four words; for 16-bit values only the byte swap (BADC, DCBA) applies.
public enum ModbusDecoder {
    /// The raw number in `words` (exactly `type.registerCount` registers) for a register type.
    public static func raw(_ type: ModbusValueType, order: WordOrder, words: ArraySlice<UInt16>) -> Double {
        let wordSwap = order == .cdab || order == .dcba
        let byteSwap = order == .badc || order == .dcba
        @inline(__always) func word(_ i: Int) -> UInt16 {
            let w = words[words.startIndex + i]
            return byteSwap ? w.byteSwapped : w
        }
        /// The words, most significant first, joined into one unsigned integer.
        @inline(__always) func joined(_ n: Int) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<n { v = v << 16 | UInt64(word(wordSwap ? n - 1 - k : k)) }
            return v
        }
        switch type {
        case .uint16: return Double(word(0))
        case .int16: return Double(Int16(bitPattern: word(0)))
        case .uint32: return Double(UInt32(truncatingIfNeeded: joined(2)))
        case .int32: return Double(Int32(bitPattern: UInt32(truncatingIfNeeded: joined(2))))
        case .float32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: joined(2))))
        case .float64: return Double(bitPattern: joined(4))
        case .bit(let n): return Double((words[words.startIndex] >> UInt16(n)) & 1)
        case .bool: return Double(words[words.startIndex] & 1)
        }
    }

    /// A linear map from the raw range to engineering units.
    public static func scaled(_ v: Double, _ s: LinearScale) -> Double {
        s.eu.0 + (v - s.raw.0) * (s.eu.1 - s.eu.0) / (s.raw.1 - s.raw.0)
    }

    /// What a 4–20 mA reading means under NAMUR NE 43, given the raw counts at 4 and 20 mA.
    public enum LoopReading: Equatable {
        /// 3.8–20.5 mA: a measurement (clamped to the span in the saturation bands).
        case value(Double)
        /// Between the fault limits and the saturation bands: neither a value nor a fault.
        case uncertain(milliamps: Double)
        case fault(SensorFault)
    }

    public static func loopCurrent(_ raw: Double, _ s: LinearScale) -> LoopReading {
        let mA = 4 + (raw - s.raw.0) * 16 / (s.raw.1 - s.raw.0)
        if mA <= 3.6 { return .fault(.loopCurrentLow(milliamps: mA)) }
        if mA >= 21.0 { return .fault(.loopCurrentHigh(milliamps: mA)) }
        if mA < 3.8 || mA > 20.5 { return .uncertain(milliamps: mA) }
        let clamped = min(max(mA, 4), 20)
        return .value(s.eu.0 + (clamped - 4) * (s.eu.1 - s.eu.0) / 16)
    }

    /// The sample a point's raw number makes: scaled, NE 43 checked, NaN and infinities refused.
    public static func sample(_ raw: Double, source: ModbusTagSource, tag: TagHandle, at time: Instant) -> Sample {
        if source.signal4to20mA, let s = source.scale {
            switch loopCurrent(raw, s) {
            case .value(let v): return Sample(tag: tag, value: v, time: time)
            case .uncertain: return Sample(tag: tag, value: raw, quality: .uncertain, time: time)
            case .fault(let f): return Sample(tag: tag, value: .nan, quality: .bad, time: time, fault: f)
            }
        }
        let v = source.scale.map { scaled(raw, $0) } ?? raw
        guard v.isFinite else {
            return Sample(tag: tag, value: .nan, quality: .bad, time: time, fault: .notANumber)
        }
        return Sample(tag: tag, value: v, time: time)
    }
}
