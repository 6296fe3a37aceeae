/// The language of event messages, the CLI and reports (`[site] language`, spec §12).
public enum Language: String, Sendable, Hashable, CaseIterable {
    case en
    case zhCN = "zh-CN"

    /// The language a POSIX locale asks for (`LC_ALL`, then `LC_MESSAGES`, then `LANG`):
    /// `zh…` is Chinese, anything else (or nothing) English.
    public static func fromLocale(_ environment: [String: String]) -> Language {
        for key in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            guard let v = environment[key], !v.isEmpty else { continue }
            return v.lowercased().hasPrefix("zh") ? .zhCN : .en
        }
        return .en
    }

    /// The sentence a phrase makes in this language.
    public func text(_ p: Phrase) -> String {
        switch self {
        case .en: return English.text(p)
        case .zhCN: return Chinese.text(p)
        }
    }

    /// A duration as people write it: `45s`, `2m30s`, `1h` / `45秒`, `2分30秒`, `1小时`.
    public func duration(_ d: Duration) -> String {
        let s = d.secondsDouble
        let (h, m, sec) = (Int(s) / 3600, Int(s) % 3600 / 60, Int(s) % 60)
        let units = self == .en ? ("h", "m", "s") : ("小时", "分", "秒")
        if s >= 3600, s.truncatingRemainder(dividingBy: 60) == 0 { return "\(h)\(units.0)\(m == 0 ? "" : "\(m)\(units.1)")" }
        if s >= 60 { return "\(Int(s) / 60)\(units.1)\(sec == 0 ? "" : "\(sec)\(units.2)")" }
        return "\(JSONWriter.number((s * 10).rounded() / 10))\(units.2)"
    }
}

/// Why a vote does not count as written (spec §12).
public enum VoteNote: Sendable, Hashable {
    /// `on_bad = "degrade"`: `required` of the `healthy` members now trip it.
    case degraded(required: Int, healthy: Int)
    /// `on_bad = "trip"`: bad members count as in alarm.
    case badCountsAsAlarm
}

/// Every sentence hazmon writes into an event's `message`, with its parts. Each language
/// renders them from its own table (`English`, `Chinese`); no wording is built anywhere else.
/// Values and limits arrive already formatted (three decimals at most, the unit attached).
public enum Phrase: Sendable {
    /// An operator's action on a tag's alarm: acknowledged, shelved, unshelved, reset.
    case action(name: String, condition: Condition, action: EventKind, user: String?)
    /// The same on a vote's, connection's or the site's alarm.
    case groupAction(name: String, action: EventKind, user: String?)
    case suppressed(name: String, by: String)
    case unsuppressed(name: String)
    case limit(name: String, value: String, condition: Condition, limit: String)
    case limitCleared(name: String, value: String, condition: Condition, limit: String)
    case noData(name: String)
    case stale(name: String, age: Duration, last: String)
    case staleCleared(name: String, value: String)
    case fault(name: String, reason: String, last: String)
    case faultCleared(name: String, value: String)
    case trend(name: String, value: String, toward: Condition, limit: String, eta: Duration?)
    case trendCleared(name: String, toward: Condition, limit: String)
    case rate(name: String, value: String, limit: String, unit: String, per: Duration)
    case rateCleared(name: String, limit: String, unit: String, per: Duration)
    case vote(name: String, inAlarm: String, required: String, note: VoteNote?)
    case voteCleared(name: String, inAlarm: String, required: String, note: VoteNote?)
    /// A vote with bad members: each member's id and why (`fault`, `stale`, `comm`).
    case voteFault(name: String, onBad: VoteOnBad, members: [VoteMember])
    case voteFaultCleared(name: String)
    case comm(name: String, reason: String)
    case commCleared(name: String)
    case flood(count: String)
    case floodEnd(count: String)
    /// An alarm saved before a restart whose tag or condition the new configuration lacks.
    case removed(name: String, condition: Condition)
    /// A hazard source's declared mode began (for how long, by whom) or ended.
    case modeStart(name: String, mode: String, duration: Duration, user: String?)
    case modeEnd(name: String, mode: String, expired: Bool, user: String?)
    /// A tag's process alarms suppressed by design while its hazard source is in a mode.
    case suppressedByMode(name: String, source: String, mode: String)
    /// An interlock bypassed (摘除) for longer than its `alarms.bypass.after`, and back in service.
    case bypassed(name: String, after: Duration)
    case bypassCleared(name: String)
    /// A hazard source's GB 18218 level changed (or was first graded: `previous` nil).
    case hazardLevel(name: String, r: String, level: Int, previous: Int?)
    // Fault reasons, shown inside `fault`.
    case sensor(SensorFault)
    case badQuality
    case frozen(value: String, unit: String, after: Duration)
    /// The status line of an event kind that has no sentence of its own.
    case other(name: String, event: EventKind)
}

/// A bad member of a vote and why.
public struct VoteMember: Sendable, Hashable {
    public var tag: String
    public var why: Condition
}

/// The English table: the wording hazmon has always used.
enum English {
    static func text(_ p: Phrase) -> String {
        let l = Language.en
        switch p {
        case .action(let name, let c, let action, let user):
            return "\(name) \(c.rawValue) alarm \(verb(action))\(by(user))"
        case .groupAction(let name, let action, let user):
            return "\(name) alarm \(verb(action))\(by(user))"
        case .suppressed(let name, let tag): return "\(name) alarms suppressed by design (\(tag) condition)"
        case .unsuppressed(let name): return "\(name) alarms no longer suppressed"
        case .limit(let name, let value, let c, let lim):
            let which: String
            switch c {
            case .hh: which = "above second-level limit"
            case .h: which = "above first-level limit"
            case .ll: which = "below second-level low limit"
            default: which = "below first-level low limit"
            }
            return "\(name) \(value) \(which) \(lim)"
        case .limitCleared(let name, let value, let c, let lim):
            return "\(name) \(value) back within limits (\(c.rawValue) \(lim) cleared)"
        case .noData(let name): return "\(name) no good data received"
        case .stale(let name, let age, let last): return "\(name) no good data for \(l.duration(age)) (last \(last))"
        case .staleCleared(let name, let value): return "\(name) data fresh again: \(value)"
        case .fault(let name, let reason, let last): return "\(name) sensor fault: \(reason); last good value \(last)"
        case .faultCleared(let name, let value): return "\(name) sensor fault cleared: \(value)"
        case .trend(let name, let value, let toward, let lim, let eta):
            return "\(name) \(value) forecast to reach \(toward.rawValue) \(lim) in \(eta.map(l.duration) ?? "?")"
        case .trendCleared(let name, let toward, let lim): return "\(name) no longer forecast to reach \(toward.rawValue) \(lim)"
        case .rate(let name, let value, let lim, let unit, let per):
            return "\(name) \(value) changing faster than \(lim)\(unit) per \(l.duration(per))"
        case .rateCleared(let name, let lim, let unit, let per):
            return "\(name) rate of change back within \(lim)\(unit) per \(l.duration(per))"
        case .vote(let name, let n, let k, let note):
            return "\(name): \(n) of the group in alarm (\(k) required): confirmed\(voteNote(note))"
        case .voteCleared(let name, let n, let k, let note):
            return "\(name): \(n) of the group in alarm, below \(k): vote cleared\(voteNote(note))"
        case .voteFault(let name, let onBad, let members):
            let list = members.map { "\($0.tag) \($0.why.rawValue)" }.joined(separator: ", ")
            return "\(name) vote \(onBad == .degrade ? "degraded" : "counted as in alarm"): \(list)"
        case .voteFaultCleared(let name): return "\(name): every member healthy again, the full vote counts"
        case .comm(let name, let reason): return "\(name) communication lost: \(reason)"
        case .commCleared(let name): return "\(name) communication restored"
        case .flood(let n): return "alarm flood: \(n) alarms raised within the flood window"
        case .floodEnd(let n): return "alarm flood over: \(n) alarms raised within the flood window"
        case .removed(let name, let c): return "\(name) \(c.rawValue) alarm removed: no longer in the configuration"
        case .modeStart(let name, let mode, let d, let user): return "\(name) in \(mode) mode for \(l.duration(d))\(by(user))"
        case .modeEnd(let name, let mode, let expired, let user):
            return "\(name) back to normal: \(mode) mode \(expired ? "time ran out" : "ended\(by(user))")"
        case .suppressedByMode(let name, let source, let mode): return "\(name) alarms suppressed by design (\(source) in \(mode) mode)"
        case .bypassed(let name, let after): return "\(name) interlock bypassed for more than \(l.duration(after))"
        case .bypassCleared(let name): return "\(name) interlock back in service"
        case .hazardLevel(let name, let r, let level, let previous):
            let from = previous.map { ", was level \($0)" } ?? ""
            return "\(name) major hazard source graded level \(level) (R = \(r)\(from))"
        case .sensor(let f): return f.description
        case .badQuality: return "the source reports bad quality"
        case .frozen(let value, let unit, let after):
            return "value unchanged at \(value) \(unit) for \(DurationParser.format(after)) or more (frozen: a stuck sensor or channel)"
        case .other(let name, let event): return "\(name) \(event.rawValue)"
        }
    }

    static func verb(_ k: EventKind) -> String {
        switch k {
        case .acknowledged: return "acknowledged"
        case .shelved: return "shelved"
        case .unshelved: return "unshelved"
        case .reset: return "reset"
        default: return k.rawValue
        }
    }

    static func by(_ user: String?) -> String { user.map { " by \($0)" } ?? "" }

    static func voteNote(_ n: VoteNote?) -> String {
        switch n {
        case nil: return ""
        case .degraded(let k, let healthy)?: return " (degraded to \(k)oo\(healthy))"
        case .badCountsAsAlarm?: return " (bad members count as in alarm)"
        }
    }
}

/// The Chinese table (zh-CN), in the words GB/T 50493 and control-room practice use: 一级 /
/// 二级报警值, 故障, 通讯中断, 表决.
enum Chinese {
    static func text(_ p: Phrase) -> String {
        let l = Language.zhCN
        switch p {
        case .action(let name, let c, let action, let user):
            return "\(name) \(alarmName(c))\(verb(action))\(by(user))"
        case .groupAction(let name, let action, let user):
            return "\(name) 报警\(verb(action))\(by(user))"
        case .suppressed(let name, let tag): return "\(name) 报警按设计抑制（\(tag) 条件）"
        case .unsuppressed(let name): return "\(name) 报警抑制解除"
        case .limit(let name, let value, let c, let lim):
            return "\(name) \(value) \(c == .l || c == .ll ? "低于" : "超过")\(limitName(c)) \(lim)"
        case .limitCleared(let name, let value, let c, let lim):
            return "\(name) \(value) 恢复正常（\(limitName(c)) \(lim) 解除）"
        case .noData(let name): return "\(name) 未收到有效数据"
        case .stale(let name, let age, let last): return "\(name) \(l.duration(age))无有效数据（最后值 \(last)）"
        case .staleCleared(let name, let value): return "\(name) 数据恢复：\(value)"
        case .fault(let name, let reason, let last): return "\(name) 传感器故障：\(reason)；最后有效值 \(last)"
        case .faultCleared(let name, let value): return "\(name) 传感器故障解除：\(value)"
        case .trend(let name, let value, let toward, let lim, let eta):
            return "\(name) \(value) 预计 \(eta.map(l.duration) ?? "?") 后达到\(limitName(toward)) \(lim)"
        case .trendCleared(let name, let toward, let lim): return "\(name) 不再预计达到\(limitName(toward)) \(lim)"
        case .rate(let name, let value, let lim, let unit, let per):
            return "\(name) \(value) 变化速率超过每 \(l.duration(per)) \(lim)\(unit)"
        case .rateCleared(let name, let lim, let unit, let per):
            return "\(name) 变化速率恢复到每 \(l.duration(per)) \(lim)\(unit) 以内"
        case .vote(let name, let n, let k, let note):
            return "\(name)：\(n) 个测点报警（需 \(k) 个）：确认\(voteNote(note))"
        case .voteCleared(let name, let n, let k, let note):
            return "\(name)：\(n) 个测点报警，少于 \(k) 个：表决解除\(voteNote(note))"
        case .voteFault(let name, let onBad, let members):
            let list = members.map { "\($0.tag) \(whyName($0.why))" }.joined(separator: "、")
            return "\(name) 表决\(onBad == .degrade ? "降级" : "将故障测点计为报警")：\(list)"
        case .voteFaultCleared(let name): return "\(name)：全部测点恢复正常，按完整表决"
        case .comm(let name, let reason): return "\(name) 通讯中断：\(reason)"
        case .commCleared(let name): return "\(name) 通讯恢复"
        case .flood(let n): return "报警泛滥：泛滥窗口内 \(n) 个报警"
        case .floodEnd(let n): return "报警泛滥结束：泛滥窗口内 \(n) 个报警"
        case .removed(let name, let c): return "\(name) \(alarmName(c))已移除：配置中已不存在"
        case .modeStart(let name, let mode, let d, let user): return "\(name) 进入\(modeName(mode))状态，时长 \(l.duration(d))\(by(user))"
        case .modeEnd(let name, let mode, let expired, let user):
            return "\(name) 恢复正常：\(modeName(mode))状态\(expired ? "到期" : "结束\(by(user))")"
        case .suppressedByMode(let name, let source, let mode): return "\(name) 报警按设计抑制（\(source) 处于\(modeName(mode))状态）"
        case .bypassed(let name, let after): return "\(name) 联锁摘除超过 \(l.duration(after))"
        case .bypassCleared(let name): return "\(name) 联锁恢复投用"
        case .hazardLevel(let name, let r, let level, let previous):
            let names = ["", "一级", "二级", "三级", "四级"]
            let from = previous.map { "（原为\(names[max(0, min(4, $0))])）" } ?? ""
            return "\(name) 重大危险源分级为\(names[max(0, min(4, level))])：R = \(r)\(from)"
        case .sensor(let f): return sensor(f)
        case .badQuality: return "数据源报告质量为坏"
        case .frozen(let value, let unit, let after):
            return "数值在 \(value) \(unit) 保持不变达 \(l.duration(after)) 以上（冻结：传感器或通道卡死）"
        case .other(let name, let event): return "\(name) \(event.rawValue)"
        }
    }

    /// What a limit is called: 一级报警值 … 二级低报警值.
    static func limitName(_ c: Condition) -> String {
        switch c {
        case .h: return "一级报警值"
        case .hh: return "二级报警值"
        case .l: return "一级低报警值"
        case .ll: return "二级低报警值"
        default: return c.rawValue
        }
    }

    /// An alarm by its condition: 一级报警, 故障报警, 通讯报警 ….
    static func alarmName(_ c: Condition) -> String {
        switch c {
        case .h: return "一级报警"
        case .hh: return "二级报警"
        case .l: return "一级低报警"
        case .ll: return "二级低报警"
        case .rate: return "变化率报警"
        case .trend: return "趋势预警"
        case .stale: return "数据超时报警"
        case .fault: return "故障报警"
        case .comm: return "通讯报警"
        case .vote: return "表决报警"
        case .flood: return "报警泛滥"
        case .level: return "重大危险源分级"
        case .bypass: return "联锁摘除报警"
        case .mode: return "运行状态"
        }
    }

    static func modeName(_ mode: String) -> String {
        switch mode {
        case "startup": return "开车"
        case "shutdown": return "停车"
        case "maintenance": return "检修"
        default: return mode
        }
    }

    static func whyName(_ c: Condition) -> String {
        switch c {
        case .stale: return "数据超时"
        case .comm: return "通讯中断"
        default: return "故障"
        }
    }

    static func verb(_ k: EventKind) -> String {
        switch k {
        case .acknowledged: return "已确认"
        case .shelved: return "已搁置"
        case .unshelved: return "已解除搁置"
        case .reset: return "已复位"
        default: return k.rawValue
        }
    }

    static func by(_ user: String?) -> String { user.map { "（\($0)）" } ?? "" }

    static func voteNote(_ n: VoteNote?) -> String {
        switch n {
        case nil: return ""
        case .degraded(let k, let healthy)?: return "（降级为 \(k)oo\(healthy)）"
        case .badCountsAsAlarm?: return "（故障测点计为报警）"
        }
    }

    static func sensor(_ f: SensorFault) -> String {
        switch f {
        case .loopCurrentLow(let ma): return "回路电流 \(JSONWriter.number((ma * 100).rounded() / 100)) mA（NAMUR NE 43：≤ 3.6 mA）"
        case .loopCurrentHigh(let ma): return "回路电流 \(JSONWriter.number((ma * 100).rounded() / 100)) mA（NAMUR NE 43：≥ 21 mA）"
        case .device(let code): return "设备报告故障代码 \(code)"
        case .modbusException(let code, let table, let address, let count):
            let names = [1: "非法功能", 2: "非法数据地址", 3: "非法数据值", 4: "从站设备故障", 5: "确认", 6: "从站设备忙",
                         8: "存储奇偶性差错", 10: "网关路径不可用", 11: "网关目标设备响应失败"]
            return "Modbus 异常 \(code)（\(names[code] ?? "未知")），读取\(tableName(table)) \(address)+\(count)"
        case .notANumber: return "寄存器中不是数值（NaN 或无穷大），请检查数据类型和字序"
        case .noValue: return "数据源报告无值（null）"
        case .faultBit(let table, let address, let bit):
            let isRegister = table == 3 || table == 4
            return "设备报告故障（\(tableName(table)) \(address)\(isRegister ? " 第 \(bit) 位" : "")置位）"
        }
    }

    static func tableName(_ n: Int) -> String {
        switch n {
        case 0: return "线圈"
        case 1: return "离散输入"
        case 3: return "输入寄存器"
        case 4: return "保持寄存器"
        default: return "表 \(n)"
        }
    }
}
