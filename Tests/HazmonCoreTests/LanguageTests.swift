@testable import HazmonCore
import Testing

/// Spec §12: messages come from one table per language; times for people carry their offset.
@Suite("Messages in each language, local times")
struct LanguageTests {
    static func gas(_ language: Language) -> (Rig, String) {
        var settings = EngineSettings()
        settings.language = language
        var d = TagDefinition(id: "GT-101", name: "S101/S102 罐区可燃气体 北", unit: "%LEL", tagClass: .combustibleGas,
                              h: LimitRule(at: 20, grade: .yellow), hh: LimitRule(at: 40, grade: .orange), staleAfter: .seconds(30))
        d.rate = RateRule(rise: 10, fall: nil, per: .seconds(60), grade: .yellow)
        return (Rig(d, settings: settings), d.name)
    }

    /// The engine's messages for one scripted life of a gas tag, in both languages.
    @Test func aGasTagsLifeInBothLanguages() throws {
        var (en, _) = Self.gas(.en)
        var (zh, n) = Self.gas(.zhCN)
        func both(_ step: (inout Rig) throws -> [AlarmEvent]) throws -> [[String]] {
            let a = try step(&en), b = try step(&zh)
            #expect(a.map(\.condition) == b.map(\.condition) && a.map(\.event) == b.map(\.event))
            return zip(a.map(\.message), b.map(\.message)).map { [$0, $1] }
        }
        #expect(try both { $0.feed(0, 5) }.isEmpty)
        #expect(try both { $0.feed(1, 41.7) } == [
            ["\(n) 41.7 %LEL above second-level limit 40", "\(n) 41.7 %LEL 超过二级报警值 40"],
            ["\(n) 41.7 %LEL changing faster than 10 %LEL per 1m", "\(n) 41.7 %LEL 变化速率超过每 1分 10 %LEL"],
        ])
        #expect(try both { [try $0.act(.acknowledge, .hh, at: 2)] } == [
            ["\(n) hh alarm acknowledged by op", "\(n) 二级报警已确认（op）"],
        ])
        #expect(try both { $0.feed(3, 25) } == [["\(n) 25 %LEL above first-level limit 20", "\(n) 25 %LEL 超过一级报警值 20"]])
        #expect(try both { $0.feed(70, 5) } == [
            ["\(n) 5 %LEL back within limits (h 20 cleared)", "\(n) 5 %LEL 恢复正常（一级报警值 20 解除）"],
            ["\(n) rate of change back within 10 %LEL per 1m", "\(n) 变化速率恢复到每 1分 10 %LEL 以内"],
        ])
        #expect(try both { $0.tick(101) } == [["\(n) no good data for 31s (last 5 %LEL)", "\(n) 31秒无有效数据（最后值 5 %LEL）"]])
        #expect(try both { $0.feed(102, 0, fault: .loopCurrentLow(milliamps: 2.1)) } == [
            ["\(n) sensor fault: loop current 2.1 mA (NAMUR NE 43: <= 3.6 mA); last good value 5 %LEL",
             "\(n) 传感器故障：回路电流 2.1 mA（NAMUR NE 43：≤ 3.6 mA）；最后有效值 5 %LEL"],
        ])
        #expect(try both { $0.feed(103, 6) } == [
            ["\(n) sensor fault cleared: 6 %LEL", "\(n) 传感器故障解除：6 %LEL"],
            ["\(n) data fresh again: 6 %LEL", "\(n) 数据恢复：6 %LEL"],
        ])
    }

    /// Every phrase has its sentence in each table; the Chinese one holds no English words
    /// but ids, units and numbers.
    @Test func everyPhraseInBothTables() {
        let phrases: [(Phrase, String, String)] = [
            (.limit(name: "T", value: "3 ppm", condition: .l, limit: "5"), "T 3 ppm below first-level low limit 5", "T 3 ppm 低于一级低报警值 5"),
            (.limit(name: "T", value: "1 ppm", condition: .ll, limit: "2"), "T 1 ppm below second-level low limit 2", "T 1 ppm 低于二级低报警值 2"),
            (.noData(name: "T"), "T no good data received", "T 未收到有效数据"),
            (.trend(name: "T", value: "30 %LEL", toward: .hh, limit: "40", eta: .seconds(150)),
             "T 30 %LEL forecast to reach hh 40 in 2m30s", "T 30 %LEL 预计 2分30秒 后达到二级报警值 40"),
            (.trendCleared(name: "T", toward: .hh, limit: "40"), "T no longer forecast to reach hh 40", "T 不再预计达到二级报警值 40"),
            (.suppressed(name: "T", by: "P"), "T alarms suppressed by design (P condition)", "T 报警按设计抑制（P 条件）"),
            (.unsuppressed(name: "T"), "T alarms no longer suppressed", "T 报警抑制解除"),
            (.vote(name: "V", inAlarm: "1", required: "1", note: .degraded(required: 1, healthy: 2)),
             "V: 1 of the group in alarm (1 required): confirmed (degraded to 1oo2)", "V：1 个测点报警（需 1 个）：确认（降级为 1oo2）"),
            (.voteCleared(name: "V", inAlarm: "1", required: "2", note: nil),
             "V: 1 of the group in alarm, below 2: vote cleared", "V：1 个测点报警，少于 2 个：表决解除"),
            (.voteFault(name: "V", onBad: .degrade, members: [VoteMember(tag: "G3", why: .stale), VoteMember(tag: "G2", why: .comm)]),
             "V vote degraded: G3 stale, G2 comm", "V 表决降级：G3 数据超时、G2 通讯中断"),
            (.voteFaultCleared(name: "V"), "V: every member healthy again, the full vote counts", "V：全部测点恢复正常，按完整表决"),
            (.comm(name: "panel", reason: "timeout"), "panel communication lost: timeout", "panel 通讯中断：timeout"),
            (.commCleared(name: "panel"), "panel communication restored", "panel 通讯恢复"),
            (.flood(count: "12"), "alarm flood: 12 alarms raised within the flood window", "报警泛滥：泛滥窗口内 12 个报警"),
            (.floodEnd(count: "4"), "alarm flood over: 4 alarms raised within the flood window", "报警泛滥结束：泛滥窗口内 4 个报警"),
            (.groupAction(name: "V", action: .shelved, user: "li"), "V alarm shelved by li", "V 报警已搁置（li）"),
            (.removed(name: "T", condition: .rate), "T rate alarm removed: no longer in the configuration", "T 变化率报警已移除：配置中已不存在"),
            (.badQuality, "the source reports bad quality", "数据源报告质量为坏"),
            (.frozen(value: "3", unit: "%LEL", after: .seconds(1800)),
             "value unchanged at 3 %LEL for 30m or more (frozen: a stuck sensor or channel)", "数值在 3 %LEL 保持不变达 30分 以上（冻结：传感器或通道卡死）"),
            (.sensor(.modbusException(code: 2, table: 4, address: 100, count: 2)),
             "Modbus exception 2 (illegal data address) reading holding 100+2", "Modbus 异常 2（非法数据地址），读取保持寄存器 100+2"),
            (.sensor(.faultBit(table: 3, address: 7, bit: 4)), "the device reports a fault (input 7 bit 4 set)", "设备报告故障（输入寄存器 7 第 4 位置位）"),
        ]
        for (p, en, zh) in phrases {
            #expect(Language.en.text(p) == en)
            #expect(Language.zhCN.text(p) == zh)
        }
    }

    @Test func durationsAsPeopleWriteThem() {
        #expect(Language.en.duration(.seconds(3600)) == "1h" && Language.zhCN.duration(.seconds(3600)) == "1小时")
        #expect(Language.en.duration(.seconds(5400)) == "1h30m" && Language.zhCN.duration(.seconds(5400)) == "1小时30分")
        #expect(Language.en.duration(.milliseconds(4500)) == "4.5s" && Language.zhCN.duration(.milliseconds(4500)) == "4.5秒")
    }

    @Test func theLocaleChoosesTheDefaultLanguage() {
        #expect(Language.fromLocale([:]) == .en)
        #expect(Language.fromLocale(["LANG": "zh_CN.UTF-8"]) == .zhCN)
        #expect(Language.fromLocale(["LANG": "zh_CN.UTF-8", "LC_ALL": "C"]) == .en)
        #expect(Language.fromLocale(["LC_MESSAGES": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"]) == .zhCN)
    }

    @Test func timesAtAnOffset() {
        let t = Instant(iso8601: "2026-11-23T08:15:02.123Z")!
        #expect(t.iso8601(offsetSeconds: 8 * 3600) == "2026-11-23T16:15:02.123+08:00")
        #expect(t.iso8601(offsetSeconds: -5 * 3600) == "2026-11-23T03:15:02.123-05:00")
        #expect(t.iso8601(offsetSeconds: 0) == "2026-11-23T08:15:02.123+00:00")
        #expect(Instant(iso8601: "2026-12-31T20:00:00Z")!.iso8601(offsetSeconds: 5 * 3600 + 1800) == "2027-01-01T01:30:00.000+05:30")
        // Whatever the offset, it reads back as the same instant.
        #expect(Instant(iso8601: Substring(t.iso8601(offsetSeconds: 8 * 3600))) == t)
    }
}
