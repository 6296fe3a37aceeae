import Foundation
import HazmonCore
import HazmonFeed

extension FeedEvent {
    static func decode(_ json: String) -> FeedEvent? { try? JSONDecoder().decode(FeedEvent.self, from: Data(json.utf8)) }
}

/// The words of a notification, in the site's language and time zone: a title, a markdown text
/// (DingTalk, WeCom, webhooks), a short text for SMS, and the fields a template may name.
/// Pure: the message, the site and the clock come in.
public struct NotifyText: Sendable {
    public var siteID: String
    public var siteName: String
    public var language: Language
    public var zone: TimeZone
    /// The console's address, linked from every message; nil: no link.
    public var consoleURL: String?
    /// Tag id → name (events carry the id; people read the name too).
    public var names: [String: String]
    /// Route id → the after of each step, for "unacknowledged for 5m".
    public var stepAfter: [String: [Duration]]

    public init(siteID: String, siteName: String, language: Language, zone: TimeZone, consoleURL: String?, names: [String: String],
                stepAfter: [String: [Duration]]) {
        self.siteID = siteID
        self.siteName = siteName
        self.language = language
        self.zone = zone
        self.consoleURL = consoleURL
        self.names = names
        self.stepAfter = stepAfter
    }

    public struct Rendered: Sendable {
        public var title: String
        public var markdown: String
        public var short: String
        public var fields: [String: String]
    }

    var zh: Bool { language == .zhCN }

    func gradeName(_ g: Int) -> String {
        let color = Grade(g)?.color ?? "yellow"
        if zh {
            let n = ["一", "二", "三", "四"][max(0, min(3, g - 1))]
            let c = ["red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"][color] ?? ""
            return "\(n)级(\(c)色)报警"
        }
        return "Grade \(g) (\(color)) alarm"
    }

    /// `2026-12-04 19:02:03 +08:00`: the site's local time, as people on call read it.
    func localTime(_ iso: String) -> String {
        guard let t = Instant(iso8601: Substring(iso)) else { return iso }
        let local = EventText.localTime(t, in: zone)   // 2026-12-04T19:02:03.123+08:00
        let date = local.prefix(10), clock = local.dropFirst(11).prefix(8)
        let offset = local.hasSuffix("Z") ? "+00:00" : String(local.suffix(6))
        return "\(date) \(clock) \(offset)"
    }

    func number(_ v: Double?) -> String { v.map { JSONWriter.number(($0 * 1000).rounded() / 1000) } ?? "" }

    var link: String? {
        guard let u = consoleURL else { return nil }
        return u.hasSuffix("/") ? u : u + "/"
    }

    /// One message about one alarm event (alarm, escalation or cleared).
    public func render(_ m: NotifyMessage) -> Rendered {
        if m.kind == .digest { return digest(m) }
        guard let e = FeedEvent.decode(m.body) else {
            // Not an event line (never written by hazmon): say so rather than send nothing.
            let t = zh ? "hazmon 通知" : "hazmon notification"
            return Rendered(title: t, markdown: t, short: t, fields: [:])
        }
        let name = names[e.tag] ?? e.tag
        let who = name == e.tag ? e.tag : "\(e.tag) \(name)"
        var title: String
        switch m.kind {
        case .cleared:
            title = zh ? "已恢复(尚未确认) · \(who)" : "Cleared before acknowledgement · \(who)"
        case .escalation:
            let after = stepAfter[m.route].flatMap { m.step < $0.count ? $0[m.step] : nil } ?? .zero
            title = (zh ? "未确认已 \(language.duration(after)) · " : "Unacknowledged for \(language.duration(after)) · ")
                + "\(gradeName(e.grade)) · \(who)"
        default:
            title = "\(gradeName(e.grade)) · \(who)"
        }
        let unit = e.unit.map { $0.isEmpty ? "" : " " + $0 } ?? ""
        var lines = ["### \(title)", "", "**\(e.message)**", ""]
        lines.append((zh ? "- 位号: " : "- Tag: ") + who)
        lines.append((zh ? "- 报警类型: " : "- Alarm: ") + (e.alarmType ?? e.condition) + " (\(e.condition))")
        if e.value != nil {
            var v = (zh ? "- 数值: " : "- Value: ") + number(e.value) + unit
            if e.limit != nil { v += (zh ? ", 报警值 " : ", limit ") + number(e.limit) + unit }
            lines.append(v)
        }
        if let h = e.hazardSource { lines.append((zh ? "- 重大危险源: " : "- Hazard source: ") + h) }
        lines.append((zh ? "- 时间: " : "- Time: ") + localTime(e.time))
        lines.append((zh ? "- 站点: " : "- Site: ") + siteName)
        if let link { lines.append(""); lines.append("[\(zh ? "打开报警控制台" : "Open the alarm console")](\(link))") }
        let short = "【hazmon \(siteName)】\(title): \(e.message) \(localTime(e.time).dropFirst(11).prefix(8))"
        var f: [String: String] = [
            "site": siteID, "site_name": siteName, "tag": e.tag, "name": name, "value": number(e.value), "unit": e.unit ?? "",
            "limit": number(e.limit), "grade": "\(e.grade)", "color": Grade(e.grade)?.color ?? "", "condition": e.condition,
            "alarm_type": e.alarmType ?? e.condition, "event": e.event, "state": e.state, "hazard_source": e.hazardSource ?? "",
            "time": localTime(e.time), "message": e.message, "link": link ?? "", "kind": m.kind.rawValue,
        ]
        f["title"] = title
        f["short"] = short
        f["text"] = lines.joined(separator: "\n")
        f["key"] = m.key
        f["channel"] = m.channel
        return Rendered(title: title, markdown: lines.joined(separator: "\n"), short: short, fields: f)
    }

    /// A flood's digest: how many, by grade, and the most severe first (at most 10 listed).
    func digest(_ m: NotifyMessage) -> Rendered {
        struct Item: Decodable {
            var kind: String
            var event: FeedEvent
        }
        let items = (try? JSONDecoder().decode([Item].self, from: Data(m.body.utf8))) ?? []
        let alarms = items.filter { $0.kind != NotifyMessage.Kind.cleared.rawValue }
        let cleared = items.count - alarms.count
        let title = zh ? "报警泛滥 · \(siteName): \(alarms.count) 条报警" : "Alarm flood · \(siteName): \(alarms.count) alarms"
        var lines = ["### \(title)", ""]
        let byGrade = Dictionary(grouping: alarms, by: { $0.event.grade })
        let counts = byGrade.keys.sorted().map { "\(gradeName($0)) \(byGrade[$0]!.count)" }.joined(separator: ", ")
        if !counts.isEmpty { lines.append(counts) }
        if cleared > 0 { lines.append(zh ? "其中已恢复(未确认) \(cleared) 条" : "\(cleared) cleared before acknowledgement") }
        lines.append("")
        let top = alarms.sorted { ($0.event.grade, $0.event.seq) < ($1.event.grade, $1.event.seq) }.prefix(10)
        for i in top {
            let e = i.event
            let name = names[e.tag] ?? e.tag
            lines.append("- \(gradeName(e.grade)) \(e.tag) \(name == e.tag ? "" : name + " ")\(e.message) (\(localTime(e.time).dropFirst(11).prefix(8)))")
        }
        if alarms.count > top.count { lines.append(zh ? "- ……另有 \(alarms.count - top.count) 条" : "- … and \(alarms.count - top.count) more") }
        if let times = items.map(\.event.time).sorted().first {
            lines.append("")
            lines.append((zh ? "自 " : "Since ") + localTime(times))
        }
        if let link { lines.append(""); lines.append("[\(zh ? "打开报警控制台" : "Open the alarm console")](\(link))") }
        let short = "【hazmon \(siteName)】\(title)" + (top.first.map { ", " + $0.event.tag + " " + $0.event.message } ?? "")
        let text = lines.joined(separator: "\n")
        let f: [String: String] = [
            "site": siteID, "site_name": siteName, "kind": "digest", "title": title, "text": text, "short": short, "link": link ?? "",
            "key": m.key, "channel": m.channel, "message": title, "grade": top.first.map { "\($0.event.grade)" } ?? "",
            "time": items.first.map { localTime($0.event.time) } ?? "",
        ]
        return Rendered(title: title, markdown: text, short: short, fields: f)
    }
}
