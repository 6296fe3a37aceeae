import HazmonCore

/// A tag's points, compressed after the Gorilla paper (Pelkonen et al., VLDB 2015): values as
/// the XOR with the previous value (leading / meaningful bits); receive times in milliseconds
/// as each step's difference from the series' cadence (Gorilla's delta-of-delta, but against a
/// cadence that only changes when the steps do, so a few milliseconds of receive jitter cost 6
/// bits and not 9); quality and source time as one bit while neither changes.
///
/// Layout: one byte (bit 0: 64-bit values), the point count as a LEB128 varint, then the bit
/// stream. Per point: a regular series 1–6 bits of time, a flat value 1 bit, a noisy float32
/// value 15–25 bits, quality and source time 1 bit.
public enum ChunkCodec {
    /// Encodes points in the order given (times need not be increasing).
    public static func encode(_ points: [HistoryPoint], float64: Bool) -> [UInt8] {
        var header: [UInt8] = [float64 ? 1 : 0]
        Varint.append(UInt64(points.count), to: &header)
        guard let first = points.first else { return header }
        var w = BitWriter(capacity: points.count * 4 + 16)
        let width = float64 ? 64 : 32
        var state = EncoderState(width: width)
        w.write(UInt64(bitPattern: first.time), bits: 64)
        let firstBits = bits(of: first.value, width: width)
        w.write(firstBits, bits: width)
        w.write(first.quality.code, bits: 2)
        let firstDelta = first.sourceTime.map { $0 &- first.time }
        writeSourceDelta(firstDelta, previous: nil, first: true, into: &w)
        state.time = first.time
        state.value = firstBits
        state.quality = first.quality
        state.sourceDelta = firstDelta
        for p in points.dropFirst() { state.append(p, into: &w) }
        return header + w.bytes
    }

    /// Decodes a chunk; nil if it is not one (damaged or truncated).
    public static func decode(_ bytes: [UInt8]) -> [HistoryPoint]? {
        bytes.withUnsafeBufferPointer { decode($0) }
    }

    public static func decode(_ buffer: UnsafeBufferPointer<UInt8>) -> [HistoryPoint]? {
        guard buffer.count >= 2, buffer[0] <= 1 else { return nil }
        let float64 = buffer[0] == 1
        var offset = 1
        guard let count = Varint.read(buffer, at: &offset) else { return nil }
        guard count > 0 else { return [] }
        // Each point costs at least 3 bits; more than that is a damaged count.
        guard count <= UInt64(buffer.count - offset) * 8 / 3 + 1 else { return nil }
        let width = float64 ? 64 : 32
        var r = BitReader(buffer, startingAtByte: offset)
        var out: [HistoryPoint] = []
        out.reserveCapacity(Int(count))
        var time = Int64(bitPattern: r.read(bits: 64))
        var valueBits = r.read(bits: width)
        var quality = Quality(code: r.read(bits: 2))
        var sourceDelta = readSourceDelta(previous: nil, first: true, from: &r)
        var cadence: Int64 = 0
        var leading = 0, meaningful = width
        out.append(point(time, valueBits, quality, sourceDelta, width))
        for _ in 1..<count {
            // Time: the step's difference from the cadence; the two wide buckets set a new one.
            var step = cadence
            if r.readBit() {
                if !r.readBit() { step = cadence &+ signExtend(r.read(bits: 4), bits: 4) }
                else if !r.readBit() { step = cadence &+ signExtend(r.read(bits: 7), bits: 7) }
                else if !r.readBit() { step = cadence &+ signExtend(r.read(bits: 12), bits: 12); cadence = step }
                else { step = Int64(bitPattern: r.read(bits: 64)); cadence = step }
            }
            time = time &+ step
            // Value: XOR with the previous one.
            if r.readBit() {
                if r.readBit() {
                    leading = Int(r.read(bits: width == 64 ? 6 : 5))
                    meaningful = Int(r.read(bits: width == 64 ? 6 : 5)) + 1
                    guard leading + meaningful <= width else { return nil }
                }
                let trailing = width - leading - meaningful
                valueBits ^= r.read(bits: meaningful) << UInt64(trailing)
            }
            if r.readBit() {
                if r.readBit() { quality = Quality(code: r.read(bits: 2)) }
                sourceDelta = readSourceDelta(previous: sourceDelta, first: false, from: &r)
            }
            out.append(point(time, valueBits, quality, sourceDelta, width))
        }
        return r.overrun ? nil : out
    }

    private static func point(_ time: Int64, _ bits: UInt64, _ q: Quality, _ sourceDelta: Int64?, _ width: Int) -> HistoryPoint {
        let value = width == 64 ? Double(bitPattern: bits) : Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
        return HistoryPoint(time: time, value: value, quality: q, sourceTime: sourceDelta.map { time &+ $0 }, float32: width == 32)
    }

    static func bits(of value: Double, width: Int) -> UInt64 {
        width == 64 ? value.bitPattern : UInt64(Float(value).bitPattern)
    }

    /// '0': as before; '10' + 6 bits or '110' + 12 bits: changed by a little; '111' + presence
    /// bit (+ 64 bits). The first point writes the presence bit and the value only.
    static func writeSourceDelta(_ d: Int64?, previous: Int64??, first: Bool, into w: inout BitWriter) {
        if !first {
            if let previous, previous == d { w.write(bit: false); return }
            if let d, let p = previous ?? nil, (d &- p).fits(signedBits: 6) {
                w.write(0b10, bits: 2)
                w.write(UInt64(bitPattern: d &- p), bits: 6)
                return
            }
            if let d, let p = previous ?? nil, (d &- p).fits(signedBits: 12) {
                w.write(0b110, bits: 3)
                w.write(UInt64(bitPattern: d &- p), bits: 12)
                return
            }
            w.write(0b111, bits: 3)
        }
        w.write(bit: d != nil)
        if let d { w.write(UInt64(bitPattern: d), bits: 64) }
    }

    static func readSourceDelta(previous: Int64?, first: Bool, from r: inout BitReader) -> Int64? {
        if !first {
            if !r.readBit() { return previous }
            if !r.readBit() { return (previous ?? 0) &+ signExtend(r.read(bits: 6), bits: 6) }
            if !r.readBit() { return (previous ?? 0) &+ signExtend(r.read(bits: 12), bits: 12) }
        }
        return r.readBit() ? Int64(bitPattern: r.read(bits: 64)) : nil
    }
}

/// What the encoder remembers between points.
struct EncoderState {
    let width: Int
    var time: Int64 = 0
    var cadence: Int64 = 0
    var value: UInt64 = 0
    var leading = Int.max
    var trailing = 0
    var quality: Quality = .good
    var sourceDelta: Int64?

    init(width: Int) { self.width = width }

    mutating func append(_ p: HistoryPoint, into w: inout BitWriter) {
        let step = p.time &- time
        let off = step &- cadence
        if off == 0 {
            w.write(bit: false)
        } else if off.fits(signedBits: 4) {
            w.write(0b10, bits: 2); w.write(UInt64(bitPattern: off), bits: 4)
        } else if off.fits(signedBits: 7) {
            w.write(0b110, bits: 3); w.write(UInt64(bitPattern: off), bits: 7)
        } else if off.fits(signedBits: 12) {
            w.write(0b1110, bits: 4); w.write(UInt64(bitPattern: off), bits: 12)
            cadence = step
        } else {
            w.write(0b1111, bits: 4); w.write(UInt64(bitPattern: step), bits: 64)
            cadence = step
        }
        time = p.time

        let bits = ChunkCodec.bits(of: p.value, width: width)
        let x = bits ^ value
        if x == 0 {
            w.write(bit: false)
        } else {
            w.write(bit: true)
            let lz = min(width == 64 ? x.leadingZeroBitCount : x.leadingZeroBitCount - 32, width == 64 ? 63 : 31)
            let tz = x.trailingZeroBitCount
            if leading != .max, lz >= leading, tz >= trailing {
                w.write(bit: false)
                let meaningful = width - leading - trailing
                w.write(x >> UInt64(trailing), bits: meaningful)
            } else {
                let meaningful = width - lz - tz
                w.write(bit: true)
                w.write(UInt64(lz), bits: width == 64 ? 6 : 5)
                w.write(UInt64(meaningful - 1), bits: width == 64 ? 6 : 5)
                w.write(x >> UInt64(tz), bits: meaningful)
                leading = lz
                trailing = tz
            }
        }
        value = bits

        // Quality and source time: one bit while neither changed.
        let d = p.sourceTime.map { $0 &- p.time }
        if p.quality == quality && d == sourceDelta {
            w.write(bit: false)
        } else {
            w.write(bit: true)
            if p.quality == quality { w.write(bit: false) } else { w.write(bit: true); w.write(p.quality.code, bits: 2) }
            ChunkCodec.writeSourceDelta(d, previous: .some(sourceDelta), first: false, into: &w)
        }
        quality = p.quality
        sourceDelta = d
    }
}
