import HazmonConfig
import HazmonCore
import HazmonModbus
import Testing

func decode(_ type: ModbusValueType, _ order: WordOrder, _ words: [UInt16]) -> Double {
    ModbusDecoder.raw(type, order: order, words: words[...])
}

@Suite("Modbus decoding: every type and word order")
struct DecoderTests {
    /// 123.456 as float32 is 0x42F6E979: bytes A=42 B=F6 C=E9 D=79.
    @Test("float32", arguments: [
        (WordOrder.abcd, [UInt16(0x42F6), 0xE979]), (.cdab, [0xE979, 0x42F6]),
        (.badc, [0xF642, 0x79E9]), (.dcba, [0x79E9, 0xF642]),
    ])
    func float32(_ order: WordOrder, _ words: [UInt16]) {
        #expect(decode(.float32, order, words) == Double(Float(bitPattern: 0x42F6_E979)))
    }

    /// A Honeywell Midas-style reading: 40003–40004 float, swapped words (CDAB). 25.5 %LEL is
    /// 0x41CC0000, so the device sends 0x0000 then 0x41CC.
    @Test func midasStyleCDABFloat() {
        #expect(decode(.float32, .cdab, [0x0000, 0x41CC]) == 25.5)
        #expect(decode(.float32, .abcd, [0x0000, 0x41CC]) != 25.5, "read as ABCD it is a tiny denormal: the classic mistake")
    }

    /// A Crowcon Xgard IQ-style reading: holding 301–302 float, big-endian (ABCD). 12.25 is
    /// 0x41440000.
    @Test func crowconStyleABCDFloat() {
        #expect(decode(.float32, .abcd, [0x4144, 0x0000]) == 12.25)
    }

    @Test("uint32 0x12345678", arguments: [
        (WordOrder.abcd, [UInt16(0x1234), 0x5678]), (.cdab, [0x5678, 0x1234]),
        (.badc, [0x3412, 0x7856]), (.dcba, [0x7856, 0x3412]),
    ])
    func uint32(_ order: WordOrder, _ words: [UInt16]) {
        #expect(decode(.uint32, order, words) == 305_419_896)
    }

    @Test("int32 -2", arguments: [
        (WordOrder.abcd, [UInt16(0xFFFF), 0xFFFE]), (.cdab, [0xFFFE, 0xFFFF]),
        (.badc, [0xFFFF, 0xFEFF]), (.dcba, [0xFEFF, 0xFFFF]),
    ])
    func int32(_ order: WordOrder, _ words: [UInt16]) {
        #expect(decode(.int32, order, words) == -2)
    }

    /// 0x0123456789ABCDEF as the bits of a float64.
    @Test("float64", arguments: [
        (WordOrder.abcd, [UInt16(0x0123), 0x4567, 0x89AB, 0xCDEF]), (.cdab, [0xCDEF, 0x89AB, 0x4567, 0x0123]),
        (.badc, [0x2301, 0x6745, 0xAB89, 0xEFCD]), (.dcba, [0xEFCD, 0xAB89, 0x6745, 0x2301]),
    ])
    func float64(_ order: WordOrder, _ words: [UInt16]) {
        #expect(decode(.float64, order, words) == Double(bitPattern: 0x0123_4567_89AB_CDEF))
    }

    @Test func sixteenBitTypesAndBits() {
        #expect(decode(.int16, .abcd, [0xFFFB]) == -5)
        #expect(decode(.int16, .badc, [0xFBFF]) == -5)
        #expect(decode(.uint16, .abcd, [0xFFFB]) == 65_531)
        #expect(decode(.uint16, .cdab, [0x1234]) == 0x1234, "a word swap means nothing to one word")
        #expect(decode(.uint16, .dcba, [0x3412]) == 0x1234)
        #expect(decode(.bit(11), .abcd, [0x0800]) == 1)
        #expect(decode(.bit(11), .abcd, [0x07FF]) == 0)
        #expect(decode(.bit(0), .abcd, [0x0001]) == 1)
    }

    @Test func linearScaling() {
        let s = LinearScale(raw: (0, 10_000), eu: (0, 2.5))
        #expect(ModbusDecoder.scaled(5_000, s) == 1.25)
        #expect(ModbusDecoder.scaled(0, LinearScale(raw: (-100, 100), eu: (10, 20))) == 15)
    }

    /// NAMUR NE 43 with raw counts of 4000 at 4 mA and 20000 at 20 mA (1 count = 1 µA).
    @Test func namurNE43() {
        let s = LinearScale(raw: (4_000, 20_000), eu: (0, 100))
        #expect(ModbusDecoder.loopCurrent(12_000, s) == .value(50))
        #expect(ModbusDecoder.loopCurrent(3_900, s) == .value(0), "under-range saturation is clamped to the span")
        #expect(ModbusDecoder.loopCurrent(20_400, s) == .value(100))
        #expect(ModbusDecoder.loopCurrent(3_700, s) == .uncertain(milliamps: 3.7))
        #expect(ModbusDecoder.loopCurrent(3_500, s) == .fault(.loopCurrentLow(milliamps: 3.5)))
        #expect(ModbusDecoder.loopCurrent(3_600, s) == .fault(.loopCurrentLow(milliamps: 3.6)))
        #expect(ModbusDecoder.loopCurrent(21_000, s) == .fault(.loopCurrentHigh(milliamps: 21)))
        #expect(ModbusDecoder.loopCurrent(0, s) == .fault(.loopCurrentLow(milliamps: 0)), "a dead loop is a fault, never 0 %LEL")
    }

    @Test func samplesCarryFaultsAndRefuseNaN() {
        let h = TagHandle(0)
        let t = Instant(seconds: 1)
        var src = ModbusTagSource(device: "d", table: .input, address: 0, type: .uint16, order: .abcd,
                                  scale: LinearScale(raw: (4_000, 20_000), eu: (0, 100)), signal4to20mA: true)
        let dead = ModbusDecoder.sample(0, source: src, tag: h, at: t)
        #expect(dead.quality == .bad && dead.fault == .loopCurrentLow(milliamps: 0))
        #expect(ModbusDecoder.sample(3_700, source: src, tag: h, at: t).quality == .uncertain)
        src.signal4to20mA = false
        src.scale = nil
        src.type = .float32
        let nan = ModbusDecoder.sample(.nan, source: src, tag: h, at: t)
        #expect(nan.quality == .bad && nan.fault == .notANumber && "\(SensorFault.notANumber)".contains("word order"))
    }
}

@Suite("Modbus read plans")
struct ReadPlanTests {
    func p(_ t: ModbusTable, _ a: Int, _ n: Int = 1) -> ReadPlan.Point { ReadPlan.Point(table: t, address: a, count: n) }

    @Test func tenContiguousRegistersAreOneRequest() {
        let b = ReadPlan.blocks(for: (0..<10).map { p(.input, $0) }, maxGap: 0)
        #expect(b.count == 1 && b[0].start == 0 && b[0].count == 10 && b[0].points == Array(0..<10))
    }

    @Test func gapsJoinUpToMaxGap() {
        let pts = [p(.holding, 0, 2), p(.holding, 5), p(.holding, 20, 2)]
        #expect(ReadPlan.blocks(for: pts, maxGap: 3).map { [$0.start, $0.count] } == [[0, 6], [20, 2]])
        #expect(ReadPlan.blocks(for: pts, maxGap: 14).map { [$0.start, $0.count] } == [[0, 22]])
        #expect(ReadPlan.blocks(for: pts, maxGap: 0).count == 3)
    }

    @Test func requestsRespectTheProtocolLimits() {
        let regs = ReadPlan.blocks(for: (0..<300).map { p(.holding, $0) }, maxGap: 0)
        #expect(regs.map(\.count) == [125, 125, 50])
        let bits = ReadPlan.blocks(for: (0..<4500).map { p(.coil, $0) }, maxGap: 0)
        #expect(bits.map(\.count) == [2000, 2000, 500])
        // A float must not be split across two requests.
        let floats = ReadPlan.blocks(for: (0..<63).map { p(.input, $0 * 2, 2) }, maxGap: 0)
        #expect(floats.allSatisfy { $0.count % 2 == 0 && $0.count <= 125 })
    }

    @Test func tablesAreReadSeparatelyAndOverlapsShareARead() {
        let pts = [p(.input, 0), p(.holding, 0), p(.holding, 1), p(.coil, 3), p(.holding, 0)]
        let b = ReadPlan.blocks(for: pts, maxGap: 8)
        #expect(b.map(\.table) == [.coil, .input, .holding])
        #expect(b.first { $0.table == .holding }?.points.sorted() == [1, 2, 4])
        #expect(b.first { $0.table == .holding }?.count == 2)
    }
}
