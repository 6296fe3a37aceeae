import Foundation
import HazmonCore

/// `[notify]`: who is told about alarms, through which channel, and when (spec §9).
public struct NotifySettings: Sendable, Equatable {
    public var channels: [NotifyChannelSettings] = []
    public var routes: [NotifyRouteSettings] = []
    /// The console's address as people on call open it (`https://hazmon.plant.example:8080`);
    /// each message links to it. nil: no link.
    public var consoleURL: String?
    public init() {}
}

/// `[[notify.channel]]`: one destination, such as a shift's DingTalk group or the safety
/// manager's phone by SMS.
public struct NotifyChannelSettings: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// A JSON POST of the notification (with the event) to any URL.
        case webhook
        /// A DingTalk group robot (钉钉自定义机器人), markdown, signed with its secret.
        case dingtalk
        /// A WeCom group robot (企业微信群机器人), markdown or text with @mentions.
        case wecom
        /// An HTTP SMS gateway: `template` is the request body.
        case sms
    }

    public var id: String
    public var kind: Kind
    /// The URL, or nil when `url_file` holds it (a robot URL carries its access token).
    public var url: String?
    public var urlFile: String?
    /// DingTalk's signing secret (`SEC…`), from a file.
    public var secretFile: String?
    /// A bearer token for a webhook or SMS gateway, from a file.
    public var tokenFile: String?
    /// Phone numbers: DingTalk/WeCom @mentions, or the SMS recipients (`{phones}`).
    public var mobiles: [String] = []
    /// The SMS gateway's request body with `{field}`s (see `NotifyTemplateFields`).
    public var template: String?
    /// The body's content type; JSON bodies get JSON-escaped fields, forms percent-encoded ones.
    public var contentType = "application/json"
    public var timeout: Duration = .seconds(10)
    /// The channel's own `comm` alarm once it has failed this long.
    public var downAfter: Duration = .seconds(300)

    public init(id: String, kind: Kind) {
        self.id = id
        self.kind = kind
    }

    /// The connection id of the channel's comm alarm.
    public var connectionID: String { "notify-" + id }
}

/// `[[notify.route]]`: which alarms go to whom, escalating while nobody acknowledges.
public struct NotifyRouteSettings: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        public var after: Duration
        public var to: [String]
        public init(after: Duration, to: [String]) {
            self.after = after
            self.to = to
        }
    }

    public var id: String
    /// nil: any. Grades 1 (red) … 4 (blue).
    public var grades: Set<Int>?
    /// Tag classes (`combustible_gas`, …); nil: any.
    public var classes: Set<String>?
    public var hazardSources: Set<String>?
    /// Conditions (`hh`, `comm`, …) or alarm types (`high_high`, …); nil: any.
    public var conditions: Set<String>?
    public var steps: [Step]
    /// During an alarm flood, one digest per channel this often instead of a message per alarm.
    public var digestEvery: Duration = .seconds(300)

    public init(id: String, steps: [Step]) {
        self.id = id
        self.steps = steps
    }
}

/// The `{field}`s a notification template may name.
public enum NotifyTemplateFields {
    public static let all = [
        "site", "site_name", "tag", "name", "value", "unit", "limit", "grade", "color", "condition", "alarm_type", "event",
        "state", "hazard_source", "time", "message", "link", "kind", "title", "text", "short", "phones", "key", "channel",
    ]
}
