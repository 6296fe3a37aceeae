import HazmonCore
@testable import HazmonMQTT
import Testing

func decode(_ s: String, json: String? = nil, limit: Int = 65_536) throws(PayloadError) -> DecodedPoint {
    let doc = try PayloadDecoder.parse(Array(s.utf8), limit: limit)
    return try PayloadDecoder.point(in: doc, json: json)
}

@Suite("Payload decoding")
struct PayloadDecoderTests {
    @Test("bare numbers", arguments: [("41.7", 41.7), (" 12 \n", 12), ("-0.5", -0.5), ("1e3", 1000), ("0", 0)])
    func bareNumbers(text: String, value: Double) throws {
        let p = try decode(text)
        #expect(p.value == value && p.quality == .good && p.sourceTime == nil)
    }

    @Test func objectWithValueTimeQuality() throws {
        let p = try decode(#"{"value": 1.52, "time": "2026-11-23T08:15:02.101Z", "quality": "uncertain"}"#)
        #expect(p.value == 1.52)
        #expect(p.quality == .uncertain)
        #expect(p.sourceTime == Instant(iso8601: "2026-11-23T08:15:02.101Z"))
    }

    @Test func jsonPathAndSiblings() throws {
        let p = try decode(#"{"device":"gw1","data":{"pressure":1.61,"ts":1763885702123,"q":192}}"#, json: "data.pressure")
        #expect(p.value == 1.61)
        #expect(p.quality == .good)
        #expect(p.sourceTime == Instant(nanoseconds: 1_763_885_702_123_000_000))
        let arr = try decode(#"{"values":[3.5, 7.25]}"#, json: "values.1")
        #expect(arr.value == 7.25)
    }

    @Test("quality codes", arguments: [
        (#""good""#, Quality.good), (#""BAD""#, .bad), (#""stale""#, .uncertain), ("192", .good), ("0", .bad),
        ("64", .uncertain), ("500", .uncertain), ("true", .good), ("false", .bad),
    ])
    func qualityCodes(q: String, expected: Quality) throws {
        #expect(try decode(#"{"value":1,"quality":\#(q)}"#).quality == expected)
    }

    @Test func plainDecimalsStillRead() throws {
        for (text, value) in [("16", 16.0), ("-3.5", -3.5), ("+2", 2), (".5", 0.5), ("1e3", 1000), ("2.5E-1", 0.25)] {
            #expect(try decode(text).value == value, "\(text)")
        }
        // The same key in different objects is no repetition.
        #expect(try decode(#"{"value":1,"meta":{"value":2}}"#).value == 1)
    }

    @Test func booleansAreZeroOrOne() throws {
        #expect(try decode("true").value == 1)
        #expect(try decode(#"{"value":false}"#).value == 0)
    }

    @Test("hostile and broken payloads are refused with a reason", arguments: [
        ("", "empty"), ("   ", "empty"), ("NaN", "not_finite"), ("inf", "not_finite"), ("-Infinity", "not_finite"),
        ("12.5 %LEL", "not_json"), ("{", "not_json"), (#"{"value": "12.5"}"#, "wrong_type"),
        (#"{"value": null}"#, "wrong_type"), (#"{"value": [1]}"#, "wrong_type"), (#"{"valu": 1}"#, "missing_field"),
        (#""12""#, "wrong_type"), ("[1,2]", "wrong_type"), (#"{"value":1,"time":"yesterday"}"#, "bad_time"),
        (#"{"value":1,"quality":"meh"}"#, "bad_quality"), (#"{"value":1,"quality":-3}"#, "bad_quality"),
        (#"{"value":1e999}"#, "not_json"), ("\u{0}\u{1}\u{2}", "not_json"),
        // What Double() reads but no gateway means, and a key given twice (issue 13).
        ("0x1p4", "not_json"), ("0x10", "not_json"), ("1e", "not_json"), ("--1", "not_json"), (".", "not_json"),
        (#"{"value":15,"value":5}"#, "duplicate_key"), (#"{"data":{"v":1,"v":2},"value":3}"#, "duplicate_key"),
    ])
    func refused(payload: String, reason: String) {
        do {
            let p = try decode(payload)
            Issue.record("accepted \(payload) as \(p)")
        } catch {
            #expect(error.reason == reason, "\(payload): \(error)")
        }
    }

    @Test func oversizedIsRefusedUnread() {
        let big = "[" + String(repeating: "1,", count: 40_000) + "1]"
        #expect(throws: PayloadError.tooLarge(size: big.utf8.count, limit: 65_536)) { try decode(big) }
    }

    @Test func deepNestingDoesNotCrash() {
        let deep = String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)
        #expect(throws: PayloadError.self) { try decode(deep) }
    }

    @Test func batches() throws {
        let doc = try PayloadDecoder.parse(Array(#"""
            {"points":[{"tag":"GT-101","value":12.5},{"id":"GT-102","value":"bad"},{"value":3},
             {"name":"PT-1","value":1.2,"quality":"bad","time":"2026-11-23T08:00:00Z"}, 7]}
            """#.utf8), limit: 65_536)
        let r = PayloadDecoder.batch(in: doc, json: nil)
        #expect(r.count == 5)
        #expect(try r[0].get() == DecodedPoint(tag: "GT-101", value: 12.5, quality: .good, sourceTime: nil))
        #expect(r[1] == .failure(.wrongType(field: "value", found: "a string")))
        #expect(r[2] == .failure(.missing("tag")))
        #expect(try r[3].get().quality == .bad)
        #expect(r[4] == .failure(.wrongType(field: "point", found: "a number")))
        let array = try PayloadDecoder.parse(Array(#"[{"tag":"A","v":{"x":2}}]"#.utf8), limit: 1_000)
        #expect(try PayloadDecoder.batch(in: array, json: "v.x")[0].get().value == 2)
    }

    /// Fuzz: random bytes and mutated good payloads never crash and never yield a non-finite value.
    @Test func randomInputNeverCrashes() {
        var rng = SplitMix64(seed: 0x4D51_5454)
        let seeds = [#"{"value":1.5,"time":"2026-11-23T08:15:02Z","quality":"good"}"#, "41.7",
                     #"{"points":[{"tag":"A","value":1}]}"#]
        let alphabet = Array(#"{}[]":,.0123456789eE+-truefalsn \"#.utf8)
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = Array(seeds[i % seeds.count].utf8)
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = alphabet.randomElement(using: &rng)!
                }
            }
            if let doc = try? PayloadDecoder.parse(bytes, limit: 1_024) {
                if let p = try? PayloadDecoder.point(in: doc, json: nil) { #expect(p.value.isFinite) }
                for case .success(let p) in PayloadDecoder.batch(in: doc, json: nil) { #expect(p.value.isFinite) }
            }
        }
    }
}

@Suite("Topic routing")
struct TopicRoutingTests {
    @Test("filters", arguments: [
        ("plant/+/+/gas", "plant/t1/GT-101/gas", true), ("plant/+/+/gas", "plant/t1/gas", false),
        ("plant/#", "plant/a/b/c", true), ("plant/#", "plant", true), ("a/b", "a/b", true), ("a/b", "a/b/", false),
        ("+/x", "$SYS/x", false), ("#", "$SYS/broker/uptime", false), ("$SYS/#", "$SYS/broker", true),
        ("a/+", "a/", true),
    ])
    func filters(filter: String, topic: String, matches: Bool) {
        #expect((TopicPattern(filter).match(topic) != nil) == matches)
    }

    @Test func templates() {
        let levels = "gw/site1/T101/GT-101".split(separator: "/", omittingEmptySubsequences: false)
        #expect(TagTemplate("{4}").render(levels: levels, point: nil) == "GT-101")
        #expect(TagTemplate("{3}-{4}").render(levels: levels, point: nil) == "T101-GT-101")
        #expect(TagTemplate("{2}.{tag}").render(levels: levels, point: "P1") == "site1.P1")
        #expect(TagTemplate("{9}").render(levels: levels, point: nil) == nil)
        #expect(TagTemplate("{tag}").render(levels: levels, point: nil) == nil)
    }

    @Test func exactTopicsWinOverMaps() {
        let router = TopicRouter(
            exact: ["plant/t1/p": [.init(tag: TagHandle(0), json: "value")]],
            maps: [.init(id: "m", filter: "plant/+/+", template: "{2}", json: nil, batch: false, tags: ["t1": TagHandle(1)])])
        guard case .bindings(let b) = router.route("plant/t1/p") else { Issue.record("no exact route"); return }
        #expect(b == [.init(tag: TagHandle(0), json: "value")])
        guard case .map(let m, let levels) = router.route("plant/t1/q") else { Issue.record("no map route"); return }
        #expect(m.id == "m" && levels.count == 3)
        guard case .none = router.route("other") else { Issue.record("routed"); return }
        #expect(router.subscriptions == ["plant/t1/p", "plant/+/+"])
    }

    /// A message into samples and counted drops, with no broker, counters or log.
    @Test func messagesBecomeSamplesAndDrops() {
        let router = TopicRouter(
            exact: ["plant/t1/p": [.init(tag: TagHandle(0), json: nil), .init(tag: TagHandle(2), json: "x")]],
            maps: [.init(id: "gw", filter: "gw/+", template: "{tag}", json: nil, batch: true, tags: ["A": TagHandle(1)])])
        let at = Instant(seconds: 5)
        var samples: [Sample] = []
        var drops = router.decode(topic: "plant/t1/p", payload: Array(#"{"value":3.5}"#.utf8), received: at, maxPayload: 100, into: &samples)
        #expect(samples.map(\.value) == [3.5] && samples[0].time == at && samples[0].tag == TagHandle(0))
        #expect(drops.payloadErrors.map(\.reason) == ["missing_field"], "the second binding's field is missing; the first still counts")
        samples = []
        drops = router.decode(topic: "gw/1", payload: Array(#"[{"tag":"A","value":1},{"tag":"B","value":2},{"tag":"A"}]"#.utf8),
                              received: at, maxPayload: 100, into: &samples)
        #expect(samples.map(\.value) == [1])
        #expect(drops.unmapped?.contains("\"B\"") == true && drops.payloadErrors.map(\.reason) == ["missing_field"])
        drops = router.decode(topic: "nowhere", payload: [], received: at, maxPayload: 100, into: &samples)
        #expect(drops.unmapped == "no tag or [[mqtt.map]] takes this topic")
        drops = router.decode(topic: "plant/t1/p", payload: Array(repeating: 0x31, count: 101), received: at, maxPayload: 100, into: &samples)
        #expect(drops.payloadErrors.map(\.reason) == ["oversized"])
    }

    /// A one-value map's topic is resolved once, then remembered: later messages on it land on
    /// the same tag, still read strictly; a topic that names no tag, or a template that needs
    /// more than the topic, is never remembered.
    @Test func resolvedTopicsAreRememberedOnlyWhenTheTopicAloneNamesTheTag() {
        let router = TopicRouter(exact: [:], maps: [
            .init(id: "lvl", filter: "plant/+/v", template: "{2}", json: nil, batch: false, tags: ["t1": TagHandle(0)]),
            .init(id: "named", filter: "gw/+", template: "{tag}", json: "value", batch: false, tags: ["A": TagHandle(1)]),
        ])
        let at = Instant(seconds: 1)
        var samples: [Sample] = []
        for v in ["1", "2.5", "3"] {
            #expect(router.decode(topic: "plant/t1/v", payload: Array(v.utf8), received: at, maxPayload: 100, into: &samples).isEmpty)
        }
        #expect(samples.map(\.value) == [1, 2.5, 3] && samples.allSatisfy { $0.tag == TagHandle(0) })
        #expect(router.resolved.lookup("plant/t1/v")?.tag == TagHandle(0))
        // Remembered, and still strict: NaN and garbage are dropped with their reasons.
        let drops = router.decode(topic: "plant/t1/v", payload: Array("nan".utf8), received: at, maxPayload: 100, into: &samples)
        #expect(drops.payloadErrors.map(\.reason) == ["not_finite"])
        #expect(router.decode(topic: "plant/t1/v", payload: Array("{x".utf8), received: at, maxPayload: 100, into: &samples)
            .payloadErrors.map(\.reason) == ["not_json"])
        // An unknown tag is never remembered.
        #expect(router.decode(topic: "plant/t9/v", payload: Array("1".utf8), received: at, maxPayload: 100, into: &samples).unmapped != nil)
        #expect(router.resolved.lookup("plant/t9/v") == nil)
        // A template that needs more than the topic (`{tag}`) is never remembered.
        #expect(router.decode(topic: "gw/1", payload: Array(#"{"value":1}"#.utf8), received: at, maxPayload: 100, into: &samples).unmapped != nil)
        #expect(router.resolved.lookup("gw/1") == nil)
    }

    /// The cache finds what a dictionary finds: every stored topic (short, long, non-ASCII,
    /// ones that share all but a byte), a topic stored again takes its new hit, and one never
    /// stored is not found; past its limit it starts again empty.
    @Test func theTopicCacheAgreesWithADictionary() {
        let cache = TopicCache()
        var reference: [String: TopicCache.Hit] = [:]
        var rng = SplitMix64(seed: 7)
        let levels = ["park", "罐区", "a", "", "GT-0001", String(repeating: "x", count: 300)]
        func topic() -> String { (0..<Int(1 + rng.next() % 4)).map { _ in levels[Int(rng.next() % UInt64(levels.count))] + "\(rng.next() % 50)" }.joined(separator: "/") }
        for i in 0..<20_000 {
            let t = topic(), hit = TopicCache.Hit(tag: TagHandle(i), map: i % 3)
            cache.store(t, hit)
            reference[t] = hit
        }
        #expect(cache.count == reference.count)
        for (t, hit) in reference { #expect(cache.lookup(t) == hit, "\(t)") }
        for _ in 0..<5_000 { let t = topic() + "/z"; #expect(cache.lookup(t) == nil) }
        for i in 0..<TopicCache.limit - reference.count { cache.store("f/\(i)", .init(tag: TagHandle(1), map: 0)) }
        #expect(cache.count == TopicCache.limit)
        cache.store("after/the/limit", .init(tag: TagHandle(2), map: 1))
        #expect(cache.count == 1 && cache.lookup("after/the/limit") == .init(tag: TagHandle(2), map: 1) && cache.lookup("f/0") == nil)
    }
}
