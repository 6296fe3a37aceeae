import Foundation
import HazmonConfig
@testable import HazmonCore
@testable import HazmonUplink
import Testing

@Suite("Uplink messages")
struct UplinkFormatTests {
    let at = Instant(iso8601: "2026-11-23T08:15:02.123Z")!

    func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func valuesCarryTheCodesAndTheirOwnTimes() throws {
        let f = UplinkFormat(site: "yx", enterpriseCode: "91370000MA3C", tagCodes: ["GT-101": "Q001"], tagSources: ["GT-101": "S1"],
                             sourceCodes: ["S1": "3707xx0001"])
        let text = f.values([UplinkPoint(tag: "GT-101", value: 12.5, quality: .good, time: at),
                             UplinkPoint(tag: "PT-1", value: nil, quality: .bad, time: at)], at: at, snapshot: false)
        #expect(text.hasPrefix(#"{"type":"values","site":"yx","enterprise_code":"91370000MA3C","time":"2026-11-23T08:15:02.123Z","snapshot":false,"points":["#))
        let o = try object(text)
        let points = try #require(o["points"] as? [[String: Any]])
        #expect(points.count == 2)
        #expect(points[0]["code"] as? String == "Q001" && points[0]["hazard_source_code"] as? String == "3707xx0001")
        #expect(points[0]["value"] as? Double == 12.5 && points[0]["time"] as? String == "2026-11-23T08:15:02.123Z")
        #expect(points[1]["value"] is NSNull && points[1]["code"] == nil && points[1]["quality"] as? String == "bad")
    }

    @Test func beijingTimeIsUTCPlusEightWithoutAZone() {
        let f = UplinkFormat(site: "yx", beijingTime: true)
        #expect(f.time(at) == "2026-11-23 16:15:02")
        #expect(f.time(Instant(iso8601: "2026-12-31T20:00:00Z")!) == "2027-01-01 04:00:00", "the date turns at 16:00 UTC")
    }

    @Test func fieldsRenameEveryKeyTheyName() throws {
        let f = UplinkFormat(site: "yx", enterpriseCode: "E1", tagCodes: ["GT-101": "Q001"], beijingTime: true,
                             fields: ["tag": "quotaId", "value": "quotaValue", "time": "collectTime", "enterprise_code": "enterpriseId"])
        let o = try object(f.values([UplinkPoint(tag: "GT-101", value: 3, quality: .good, time: at)], at: at, snapshot: true))
        #expect(o["enterpriseId"] as? String == "E1" && o["collectTime"] as? String == "2026-11-23 16:15:02" && o["time"] == nil)
        let p = try #require((o["points"] as? [[String: Any]])?.first)
        #expect(p["quotaId"] as? String == "GT-101" && p["quotaValue"] as? Double == 3 && p["tag"] == nil)
    }

    @Test func anAlarmIsTheEventWithCodesAdded() throws {
        let event = #"{"type":"event","v":1,"seq":1042,"time":"2026-11-23T08:15:02.123Z","site":"yx","tag":"GT-101","condition":"hh","event":"escalated","alarm_type":"high_high","gb_level":2,"grade":2,"color":"orange","state":"unack","value":41.7,"unit":"%LEL","limit":40,"quality":"good","source":"modbus:gas-panel-1","source_time":"2026-11-23T08:15:02.101Z","message":"T101 41.7 %LEL","flags":["chattering"],"hazard_source":"S1"}"#
        let f = UplinkFormat(site: "yx", enterpriseCode: "E1", tagCodes: ["GT-101": "Q001"], tagSources: ["GT-101": "S1"],
                             sourceCodes: ["S1": "3707xx0001"], beijingTime: true, fields: ["alarm_type": "alarmType"])
        let text = try f.alarm(event)
        #expect(text.hasPrefix(#"{"type":"event","v":1,"seq":1042,"time":"2026-11-23 16:15:02","site":"yx","enterprise_code":"E1","tag":"GT-101","code":"Q001","condition":"hh""#))
        let o = try object(text)
        #expect(o["alarmType"] as? String == "high_high" && o["alarm_type"] == nil)
        #expect(o["source_time"] as? String == "2026-11-23 16:15:02" && o["hazard_source_code"] as? String == "3707xx0001")
        #expect(o["flags"] as? [String] == ["chattering"] && o["value"] as? Double == 41.7 && o["limit"] as? Int == 40)
        #expect(throws: UplinkError.self) { try f.alarm("[1,2]") }
        #expect(throws: (any Error).self) { try f.alarm("{not json") }
    }

    static let sources = [
        HazardSourceStatus(id: "S1", code: "C1", name: "spheres", alpha: 2, r: 57.5, s: 1.2, level: 2, substances: [], unknown: []),
        HazardSourceStatus(id: "S2", code: "", name: "tank", alpha: 1, r: nil, s: nil, level: nil, substances: [], unknown: ["LT-1"]),
    ]

    @Test func aSnapshotCarriesTheHazardSources() throws {
        let f = UplinkFormat(site: "yx")
        let o = try object(f.values([], at: at, snapshot: true, sources: Self.sources))
        let list = try #require(o["sources"] as? [[String: Any]])
        #expect(list[0]["r"] as? Double == 57.5 && list[0]["level"] as? Int == 2 && list[0]["hazard_source_code"] as? String == "C1")
        #expect(list[1]["r"] is NSNull && list[1]["level"] is NSNull, "an unknown R is null, never a guess")
    }

    /// The config's list of renameable keys (UplinkFieldNames, in HazmonConfig) and the keys the
    /// formatter writes are two lists in two modules: renaming every listed key must leave no
    /// key of any message unrenamed.
    @Test func everyKeyAMessageHasCanBeRenamed() throws {
        let fields = Dictionary(uniqueKeysWithValues: UplinkFieldNames.all.map { ($0, "x_" + $0) })
        let f = UplinkFormat(site: "yx", enterpriseCode: "E1", tagCodes: ["GT-101": "Q1"], tagSources: ["GT-101": "S1"],
                             sourceCodes: ["S1": "C1"], fields: fields)
        let event = #"{"type":"event","v":1,"seq":7,"time":"2026-11-23T08:15:02.123Z","site":"yx","tag":"GT-101","condition":"hh","event":"acknowledged","alarm_type":"high_high","gb_level":2,"grade":2,"color":"orange","state":"acked","value":41.7,"unit":"%LEL","limit":40,"quality":"good","source":"mqtt:x","source_time":"2026-11-23T08:15:02.101Z","message":"m","user":"zhang","note":"n","eta_seconds":12,"flags":["flood"]}"#
        let texts = [f.values([UplinkPoint(tag: "GT-101", value: 1, quality: .good, time: at)], at: at, snapshot: true, sources: Self.sources),
                     f.heartbeat(at: at), try f.alarm(event)]
        func keys(_ v: Any) -> [String] {
            if let o = v as? [String: Any] { return o.keys + o.values.flatMap(keys) }
            if let a = v as? [Any] { return a.flatMap(keys) }
            return []
        }
        for text in texts {
            let all = keys(try JSONSerialization.jsonObject(with: Data(text.utf8)))
            #expect(!all.isEmpty && all.allSatisfy { $0.hasPrefix("x_") }, "not renameable: \(all.filter { !$0.hasPrefix("x_") })")
        }
    }

    @Test(arguments: [16, 32])
    func encryptionRoundTripsWithARandomOrFixedIV(keyLength: Int) throws {
        let key = (0..<keyLength).map { UInt8($0) }
        let random = try UplinkCipher(key: key, iv: nil)
        let a = try random.seal("{\"x\":1}"), b = try random.seal("{\"x\":1}")
        #expect(a != b, "a random IV each time")
        #expect(try random.open(a) == "{\"x\":1}")
        let fixed = try UplinkCipher(key: key, iv: Array(repeating: 7, count: 16))
        #expect(try fixed.seal("abc") == fixed.seal("abc"))
        #expect(Data(base64Encoded: try fixed.seal(String(repeating: "a", count: 16)))?.count == 32, "PKCS#7 pads a whole block")
        #expect(throws: UplinkError.self) { try UplinkCipher(key: [1, 2, 3], iv: nil) }
    }
}
