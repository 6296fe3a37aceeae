import HazmonCore
import Testing

@Suite("Time and JSON encoding")
struct EncodingTests {
    @Test func iso8601RoundTrip() {
        let t = Instant(iso8601: "2026-11-23T08:15:02.123Z")!
        #expect(t.iso8601 == "2026-11-23T08:15:02.123Z")
        #expect(Instant(iso8601: "2026-11-23T16:15:02.123+08:00") == t)
        #expect(Instant(iso8601: "1970-01-01T00:00:00Z")?.nanoseconds == 0)
        #expect(Instant(nanoseconds: -1).iso8601 == "1969-12-31T23:59:59.999Z")
        #expect(Instant(iso8601: "2024-02-29T12:00:00Z")!.iso8601 == "2024-02-29T12:00:00.000Z")
    }

    @Test("rejects what is not RFC 3339", arguments: ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-23 08:15", "2026-11-23T08:15:02.Z", "2026-11-23T08:15:02Zjunk", "9999-01-01T00:00:00Z"])
    func rejects(_ text: String) {
        #expect(Instant(iso8601: Substring(text)) == nil)
    }

    @Test func eventJSONHasTheSpecFieldsInOrder() {
        let e = AlarmEvent(seq: 1042, time: Instant(iso8601: "2026-11-23T08:15:02.123Z")!, site: "yx-tankfarm", tag: "GT-101",
                           condition: .hh, event: .escalated, grade: .orange, state: .unack, value: 41.7, unit: "%LEL",
                           limit: 40, quality: .good, source: "modbus:gas-panel-1",
                           sourceTime: Instant(iso8601: "2026-11-23T08:15:02.101Z"),
                           message: "T101 dike combustible gas 41.7 %LEL above second-level limit 40", gbLevel: 2)
        #expect(e.jsonLine == #"{"type":"event","v":1,"seq":1042,"time":"2026-11-23T08:15:02.123Z","site":"yx-tankfarm","tag":"GT-101","condition":"hh","alarm_type":"high_high","gb_level":2,"event":"escalated","grade":2,"color":"orange","state":"unack","value":41.7,"unit":"%LEL","limit":40,"quality":"good","source":"modbus:gas-panel-1","source_time":"2026-11-23T08:15:02.101Z","message":"T101 dike combustible gas 41.7 %LEL above second-level limit 40"}"#)
    }

    /// Times are written digit by digit into a 24-byte string: any instant from 1900 to 2200
    /// reads back to its millisecond, and the ends of what an Instant holds (1677, 2262) keep
    /// their shape.
    @Test func iso8601OfAnyTimeReadsBack() {
        var rng = SplitMix64(seed: 8601)
        let start: Int64 = -2_208_988_800_000   // 1900-01-01T00:00:00.000Z in ms
        let end: Int64 = 7_258_118_400_000      // 2200-01-01T00:00:00.000Z in ms
        for _ in 0..<2_000 {
            let ms = start + Int64(rng.next() % UInt64(end - start))
            let t = Instant(nanoseconds: ms * 1_000_000 + Int64(rng.next() % 1_000_000))
            #expect(t.iso8601.utf8.count == 24)
            #expect(Instant(iso8601: Substring(t.iso8601))?.nanoseconds == ms * 1_000_000, "\(t.iso8601)")
        }
        #expect(Instant(nanoseconds: .min).iso8601 == "1677-09-21T00:12:43.145Z")
        #expect(Instant(nanoseconds: .max).iso8601 == "2262-04-11T23:47:16.854Z")
    }

    @Test func stringsAreEscaped() {
        var w = JSONWriter()
        w.field("s", "a\"b\\c\nd\u{01}é罐")
        w.field("n", Double.nan)
        #expect(w.finish() == #"{"s":"a\"b\\c\nd\u0001é罐","n":null}"#)
    }
}
