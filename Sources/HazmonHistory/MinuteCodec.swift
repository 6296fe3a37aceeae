/// One-minute aggregates as a chunk keeps them, compressed like the points (`ChunkCodec`):
/// a format byte (2), the first minute's start in milliseconds, the minute count as a varint,
/// then a bit stream. Per minute: its start ('0' the next minute, else '1' + 16 bits of minutes
/// after the previous one); the point count ('0' as before, '10' + a 4-bit change, '11' + 16
/// bits); the covered milliseconds ('0' all 60,000, else '1' + 16 bits); then min, max, mean and
/// last as 32-bit floats: min XORed with the previous minute's last, the others with this
/// minute's min (Gorilla's leading / meaningful bits, one window per figure).
public enum MinuteCodec {
    public static let format: UInt8 = 2

    public static func encode(_ minutes: [Aggregate]) -> [UInt8] {
        guard let first = minutes.first else { return [] }
        var out: [UInt8] = [format]
        withUnsafeBytes(of: first.start.littleEndian) { out.append(contentsOf: $0) }
        Varint.append(UInt64(minutes.count), to: &out)
        var w = BitWriter(capacity: minutes.count * 8)
        var previousStart = first.start - 60_000
        var previousCount = 0
        var previousLast: UInt32 = 0
        var figures = [FloatXOR](repeating: FloatXOR(), count: 4)
        for m in minutes {
            let step = (m.start - previousStart) / 60_000
            if step == 1 { w.write(bit: false) } else { w.write(bit: true); w.write(UInt64(UInt16(clamping: step)), bits: 16) }
            previousStart += Int64(UInt16(clamping: step)) * 60_000
            let change = Int64(m.count - previousCount)
            if change == 0 { w.write(bit: false) }
            else if change.fits(signedBits: 4) { w.write(0b10, bits: 2); w.write(UInt64(bitPattern: change), bits: 4) }
            else { w.write(0b11, bits: 2); w.write(UInt64(UInt16(clamping: m.count)), bits: 16) }
            previousCount = Int(UInt16(clamping: m.count))
            if m.covered == 60_000 { w.write(bit: false) } else { w.write(bit: true); w.write(UInt64(UInt16(clamping: m.covered)), bits: 16) }
            // min against the previous minute's last, the others against this minute's min:
            // values close in time share their leading bits.
            let lo = Float(m.min).bitPattern
            figures[0].write(lo, against: previousLast, into: &w)
            for (k, v) in [m.max, m.mean, m.last].enumerated() { figures[k + 1].write(Float(v).bitPattern, against: lo, into: &w) }
            previousLast = Float(m.last).bitPattern
        }
        return out + w.bytes
    }

    /// The aggregates of a chunk; nil if the bytes are not a format-2 list (damaged).
    public static func decode(_ bytes: [UInt8]) -> [Aggregate]? {
        if bytes.isEmpty { return [] }
        guard bytes.count >= 10, bytes[0] == format else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> [Aggregate]? in
            let base = Int64(littleEndian: UnsafeRawBufferPointer(buffer).loadUnaligned(fromByteOffset: 1, as: Int64.self))
            var offset = 9
            guard let count = Varint.read(buffer, at: &offset) else { return nil }
            // Each minute costs at least 7 bits; more than that is a damaged count.
            guard count <= UInt64(buffer.count - offset) * 8 / 7 + 1 else { return nil }
            var r = BitReader(buffer, startingAtByte: offset)
            var out: [Aggregate] = []
            out.reserveCapacity(Int(count))
            var start = base - 60_000
            var pointCount = 0
            var previousLast: UInt32 = 0
            var figures = [FloatXOR](repeating: FloatXOR(), count: 4)
            for _ in 0..<count {
                start += (r.readBit() ? Int64(r.read(bits: 16)) : 1) * 60_000
                if r.readBit() {
                    if !r.readBit() { pointCount += Int(signExtend(r.read(bits: 4), bits: 4)) }
                    else { pointCount = Int(r.read(bits: 16)) }
                }
                let covered: Int64 = r.readBit() ? Int64(r.read(bits: 16)) : 60_000
                var v = [Double](repeating: 0, count: 4)
                guard let lo = figures[0].read(against: previousLast, from: &r) else { return nil }
                v[0] = Double(Float(bitPattern: lo))
                for k in 1..<4 {
                    guard let bits = figures[k].read(against: lo, from: &r) else { return nil }
                    v[k] = Double(Float(bitPattern: bits))
                }
                previousLast = Float(v[3]).bitPattern
                out.append(Aggregate(start: start, min: v[0], max: v[1], mean: v[2], last: v[3], count: pointCount, covered: covered))
            }
            return r.overrun ? nil : out
        }
    }

    /// The first format (schema v1): per minute a 32-bit offset, four 32-bit floats and two
    /// 16-bit counts, 24 bytes. Read only by the migration to format 2.
    static func decodeFormat1(_ bytes: [UInt8]) -> [Aggregate]? {
        if bytes.isEmpty { return [] }
        let entrySize = 24
        guard bytes.count >= 8, (bytes.count - 8) % entrySize == 0 else { return nil }
        return bytes.withUnsafeBytes { raw -> [Aggregate] in
            func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
            func u16(_ o: Int) -> UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
            func f(_ o: Int) -> Double { Double(Float(bitPattern: u32(o))) }
            let base = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: Int64.self))
            return stride(from: 8, to: bytes.count, by: entrySize).map { o in
                Aggregate(start: base + Int64(u32(o)) * 60_000, min: f(o + 4), max: f(o + 8), mean: f(o + 12), last: f(o + 16),
                          count: Int(u16(o + 20)), covered: Int64(u16(o + 22)))
            }
        }
    }
}

/// One figure's XOR window over 32-bit floats: '0' equal to the reference; '10' + the
/// meaningful bits in the previous window; '11' + 5 bits of leading zeros, 5 bits of length − 1,
/// the meaningful bits.
struct FloatXOR {
    var leading = -1
    var trailing = 0

    mutating func write(_ bits: UInt32, against reference: UInt32, into w: inout BitWriter) {
        let x = bits ^ reference
        if x == 0 { w.write(bit: false); return }
        w.write(bit: true)
        let lz = min(x.leadingZeroBitCount, 31), tz = x.trailingZeroBitCount
        if leading >= 0, lz >= leading, tz >= trailing {
            w.write(bit: false)
            w.write(UInt64(x >> UInt32(trailing)), bits: 32 - leading - trailing)
        } else {
            w.write(bit: true)
            w.write(UInt64(lz), bits: 5)
            w.write(UInt64(32 - lz - tz - 1), bits: 5)
            w.write(UInt64(x >> UInt32(tz)), bits: 32 - lz - tz)
            leading = lz
            trailing = tz
        }
    }

    /// The next value; nil if the window read is impossible (damaged bytes).
    mutating func read(against reference: UInt32, from r: inout BitReader) -> UInt32? {
        guard r.readBit() else { return reference }
        if r.readBit() {
            let lz = Int(r.read(bits: 5)), meaningful = Int(r.read(bits: 5)) + 1
            guard lz + meaningful <= 32 else { return nil }
            leading = lz
            trailing = 32 - lz - meaningful
        } else if leading < 0 {
            return nil
        }
        return reference ^ UInt32(truncatingIfNeeded: r.read(bits: 32 - leading - trailing)) << UInt32(trailing)
    }
}
