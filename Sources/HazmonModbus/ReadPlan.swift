
/// One request: a run of registers (or bits) of one table, and the points decoded from it.
public struct ReadBlock: Sendable, Equatable {
    public var table: ModbusTable
    public var start: Int
    public var count: Int
    /// Indices into the plan's points, each with its offset in the block.
    public var points: [Int]

    public var isBits: Bool { table == .coil || table == .discrete }
}

/// How one device's points are read: as few requests as possible, each at most 125 registers
/// or 2000 bits (the protocol's limits), joining neighbours whose gap is at most `maxGap`
/// registers (16 times that in bits; reading a few unused values is cheaper than another
/// round trip).
public enum ReadPlan {
    public static let maxRegisters = 125
    public static let maxBits = 2000

    public struct Point: Sendable, Equatable {
        public var table: ModbusTable
        public var address: Int
        public var count: Int
        public init(table: ModbusTable, address: Int, count: Int) {
            self.table = table
            self.address = address
            self.count = count
        }
    }

    public static func blocks(for points: [Point], maxGap: Int) -> [ReadBlock] {
        var out: [ReadBlock] = []
        for table in ModbusTable.allCases {
            let isBits = table == .coil || table == .discrete
            let limit = isBits ? maxBits : maxRegisters
            let gap = isBits ? maxGap * 16 : maxGap
            let mine = points.indices.filter { points[$0].table == table }
                .sorted { (points[$0].address, points[$0].count) < (points[$1].address, points[$1].count) }
            var current: ReadBlock?
            for i in mine {
                let p = points[i]
                if var b = current {
                    let end = b.start + b.count
                    let newEnd = max(end, p.address + p.count)
                    if p.address - end <= gap, newEnd - b.start <= limit {
                        b.count = newEnd - b.start
                        b.points.append(i)
                        current = b
                        continue
                    }
                    out.append(b)
                }
                current = ReadBlock(table: table, start: p.address, count: p.count, points: [i])
            }
            if let b = current { out.append(b) }
        }
        return out
    }
}
