import HazmonCore

/// One batch of points as the `recent` log keeps it: a single blob of fixed 30-byte records
/// (tag id u32, receive time i64, value f64, quality u8, 64-bit flag u8, source time i64 or
/// Int64.min), little-endian. One row per batch keeps the write to one sequential append
/// whatever the number of tags; the log holds a minute at most, so reading it whole is cheap.
enum RecentCodec {
    static let recordSize = 4 + 8 + 8 + 1 + 1 + 8

    static func encode(_ rows: [HistoryStore.RecentRow]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows.count * recordSize)
        out.withUnsafeMutableBytes { raw in
            for (i, r) in rows.enumerated() {
                let o = i * recordSize
                raw.storeBytes(of: UInt32(truncatingIfNeeded: r.tag).littleEndian, toByteOffset: o, as: UInt32.self)
                raw.storeBytes(of: r.point.time.littleEndian, toByteOffset: o + 4, as: Int64.self)
                raw.storeBytes(of: r.point.value.bitPattern.littleEndian, toByteOffset: o + 12, as: UInt64.self)
                raw.storeBytes(of: UInt8(r.point.quality.code), toByteOffset: o + 20, as: UInt8.self)
                raw.storeBytes(of: r.float64 ? 1 : 0, toByteOffset: o + 21, as: UInt8.self)
                raw.storeBytes(of: (r.point.sourceTime ?? .min).littleEndian, toByteOffset: o + 22, as: Int64.self)
            }
        }
        return out
    }

    /// Calls `body` with each record's tag id, point and width; false if the blob is not whole records.
    @discardableResult
    static func decode(_ bytes: UnsafeRawBufferPointer, onlyTag: Int64? = nil,
                       _ body: (Int64, HistoryPoint, Bool) -> Void) -> Bool {
        guard bytes.count % recordSize == 0 else { return false }
        for o in stride(from: 0, to: bytes.count, by: recordSize) {
            let tag = Int64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
            if let onlyTag, tag != onlyTag { continue }
            let time = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: o + 4, as: Int64.self))
            let value = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o + 12, as: UInt64.self)))
            let quality = Quality(code: UInt64(bytes[o + 20]))
            let float64 = bytes[o + 21] == 1
            let source = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: o + 22, as: Int64.self))
            body(tag, HistoryPoint(time: time, value: value, quality: quality, sourceTime: source == .min ? nil : source,
                                   float32: !float64), float64)
        }
        return true
    }
}
