/// Appends bits, most significant first, to a byte array: the encoder's output. Bits gather in
/// a 64-bit accumulator and leave it a byte at a time.
struct BitWriter {
    private(set) var out: [UInt8] = []
    private var acc: UInt64 = 0
    /// Bits waiting in `acc` (fewer than 8 between calls).
    private var pending = 0

    init(capacity: Int = 0) { out.reserveCapacity(capacity) }

    /// Writes the low `count` bits of `value` (count 0...64).
    mutating func write(_ value: UInt64, bits count: Int) {
        guard count > 0 else { return }
        if count > 56 {
            // Keep the accumulator from overflowing: the high part first.
            write(value >> 32, bits: count - 32)
            write(value & 0xffff_ffff, bits: 32)
            return
        }
        let masked = count == 64 ? value : value & ((1 << UInt64(count)) - 1)
        acc = (acc << UInt64(count)) | masked
        pending += count
        while pending >= 8 {
            pending -= 8
            out.append(UInt8(truncatingIfNeeded: acc >> UInt64(pending)))
        }
    }

    mutating func write(bit: Bool) { write(bit ? 1 : 0, bits: 1) }

    /// The bytes written, the last one padded with zeros.
    var bytes: [UInt8] {
        guard pending > 0 else { return out }
        return out + [UInt8(truncatingIfNeeded: acc << UInt64(8 - pending))]
    }
}

/// Reads bits, most significant first, from a byte buffer. Reading past the end yields zeros
/// and sets `overrun`, so a damaged chunk decodes to garbage that is then refused, never a crash.
struct BitReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private(set) var overrun = false

    init(_ bytes: UnsafeBufferPointer<UInt8>, startingAtByte offset: Int = 0) {
        self.bytes = bytes
        position = offset * 8
    }

    mutating func read(bits count: Int) -> UInt64 {
        var value: UInt64 = 0
        var remaining = count
        while remaining > 0 {
            let byteIndex = position >> 3
            guard byteIndex < bytes.count else {
                overrun = true
                return value << UInt64(remaining)
            }
            let used = position & 7
            let available = 8 - used
            let take = min(available, remaining)
            let byte = UInt64(bytes[byteIndex])
            let chunk = (byte >> UInt64(available - take)) & ((1 << UInt64(take)) - 1)
            value = (value << UInt64(take)) | chunk
            position += take
            remaining -= take
        }
        return value
    }

    mutating func readBit() -> Bool { read(bits: 1) == 1 }
}

extension Int64 {
    /// Fits in `bits` as two's complement.
    func fits(signedBits bits: Int) -> Bool {
        let limit = Int64(1) << Int64(bits - 1)
        return self >= -limit && self < limit
    }
}

/// Sign-extends the low `bits` of `raw`.
func signExtend(_ raw: UInt64, bits: Int) -> Int64 {
    let shift = UInt64(64 - bits)
    return Int64(bitPattern: raw << shift) >> Int64(shift)
}

/// LEB128 unsigned varints: the point and minute counts of a chunk.
enum Varint {
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        var n = value
        repeat {
            var b = UInt8(n & 0x7f)
            n >>= 7
            if n != 0 { b |= 0x80 }
            out.append(b)
        } while n != 0
    }

    /// The varint at `offset`, moving `offset` past it; nil if the bytes end first or it is too long.
    static func read(_ buffer: UnsafeBufferPointer<UInt8>, at offset: inout Int) -> UInt64? {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard offset < buffer.count, shift < 63 else { return nil }
            let b = buffer[offset]
            offset += 1
            value |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }
}
