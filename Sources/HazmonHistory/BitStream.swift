/// Appends bits, most significant first, to a byte array: the encoder's output.
struct BitWriter {
    private(set) var bytes: [UInt8] = []
    /// Bits still free in the last byte (0: start a new byte).
    private var free = 0

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    /// Writes the low `count` bits of `value` (count 0...64).
    mutating func write(_ value: UInt64, bits count: Int) {
        var remaining = count
        while remaining > 0 {
            if free == 0 { bytes.append(0); free = 8 }
            let take = min(free, remaining)
            let shift = remaining - take
            let chunk = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & ((1 << UInt64(take)) - 1))
            bytes[bytes.count - 1] |= chunk << UInt8(free - take)
            free -= take
            remaining -= take
        }
    }

    mutating func write(bit: Bool) { write(bit ? 1 : 0, bits: 1) }

    /// The bits written so far, the last byte padded with zeros.
    var bitCount: Int { bytes.count * 8 - free }
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
