import Foundation
import HazmonCore
import HazmonModbus

/// The whole, validated configuration of one hazmon instance (spec §2).
public struct HazmonConfiguration: Sendable {
    /// The file it was read from, as errors name it.
    public var file: String
    public var site: SiteSettings
    public var log: LogSettings
    public var journal: JournalSettings
    /// `[history]`: every sample of every tag (spec §8); nil when `enabled = false`.
    public var history: HistorySettings?
    public var alertSocket: AlertSocketSettings
    public var remoteFeed: RemoteFeedSettings?
    public var metrics: MetricsSettings?
    /// `[console]`: the operator's web console (spec §10); off unless set.
    public var console: ConsoleSettings?
    /// `[[uplink]]`: platforms the site's values and alarms go up to (spec §9).
    public var uplinks: [UplinkSettings] = []
    /// `[notify]`: channels and routes that tell people on call (spec §9).
    public var notify = NotifySettings()
    public var mqtt: MQTTSettings?
    public var modbusDevices: [ModbusDeviceSettings]
    public var tags: [TagSettings]
    public var engine: EngineSettings
    /// `[[vote]]` groups.
    public var votes: [VoteDefinition]
    /// `[[hazard_source]]`: major hazard sources graded live (spec §13).
    public var hazardSources: [HazardSourceDefinition] = []
    /// `[[position]]`: operator positions (consoles) and the hazard sources each watches, for
    /// `hazmon report` (spec §11). Empty: one position for the whole site.
    public var positions: [PositionSettings] = []
    /// Accepted deviations (compliance overrides) the daemon logs at start and `check` prints.
    public var warnings: [ConfigError]
    /// The point-table files `include` brought in, in the order they were read.
    public var includedFiles: [String] = []
}

/// An operator position: its id, name and the hazard sources whose alarms it answers.
public struct PositionSettings: Sendable, Equatable {
    public var id: String
    public var name: String
    public var hazardSources: [String]
    public init(id: String, name: String, hazardSources: [String]) {
        self.id = id
        self.name = name
        self.hazardSources = hazardSources
    }
}

public struct SiteSettings: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The language of messages, the CLI and reports: `[site] language`, else the locale's
    /// (`LANG` starting with zh is zh-CN), else English.
    public var language: Language = Language.fromLocale(ProcessInfo.processInfo.environment)
    /// `[site] timezone` (IANA); nil: the host's. Where people read times (spec §12); events
    /// keep UTC.
    public var timezone: String?

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }

    /// The zone people read times in.
    public var timeZone: TimeZone { timezone.flatMap(TimeZone.init(identifier:)) ?? .current }
}

public enum LogFormat: String, Sendable, CaseIterable {
    case journal, json, text
}

public enum LogLevelSetting: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

public struct LogSettings: Sendable, Equatable {
    public var format: LogFormat = .journal
    public var level: LogLevelSetting = .info

    public init(format: LogFormat = .journal, level: LogLevelSetting = .info) {
        self.format = format
        self.level = level
    }
}

public struct JournalSettings: Sendable, Equatable {
    public var path: String = "/var/lib/hazmon/journal.db"
    public var retention: Duration = .seconds(400 * 86_400)
    /// "full": fsync every commit (survives a power cut); "normal": survives a crash of hazmon.
    public var sync: JournalSyncSetting = .full
    /// How long an event may wait for its commit before it is annunciated anyway, unjournaled.
    public var maxWait: Duration = .seconds(1)
    /// Where events the journal cannot take are spilled (another filesystem than the journal's);
    /// nil: the alert socket's directory, the runtime directory under systemd.
    public var spillDir: String?
}

/// `[history]` (spec §8): the embedded process history, on by default.
public struct HistorySettings: Sendable, Equatable {
    /// Default: `history.db` beside the journal.
    public var path: String
    /// At least 30 days (安监总局令第40号 Art. 13); default 90 days.
    public var retention: Duration = .seconds(90 * 86_400)
    /// A value is stored at least this often, even if it did not move.
    public var maxGap: Duration = .seconds(60)
    /// How often queued samples reach the file: a crash loses at most this much.
    public var batch: Duration = .seconds(1)
    /// `[history.postgres]`: a store-and-forward copy in the park's PostgreSQL; nil: none.
    public var postgres: HistoryPostgresSettings?

    public init(path: String) { self.path = path }
}

/// `[history.postgres]`: where the copy goes and how to log in.
public struct HistoryPostgresSettings: Sendable, Equatable {
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        case disable, require
        case verifyFull = "verify-full"
    }
    public var url: String
    public var host: String
    public var port: Int = 5432
    public var user: String
    public var database: String
    public var passwordFile: String?
    public var sslmode: SSLMode = .disable
    public var caFile: String?
    public var table = "hazmon_history"
    /// Points the outbox keeps at most while the database is away (about 2.8 hours of 5,000
    /// points a second); past it the oldest are dropped from the outbox (not from the history).
    public var queueMax = 50_000_000

    public init(url: String, host: String, user: String, database: String) {
        self.url = url
        self.host = host
        self.user = user
        self.database = database
    }
}

/// A tag's `history = { deadband, precision }`.
public struct TagHistorySettings: Sendable, Equatable {
    /// In the tag's unit; 0: every change is stored.
    public var deadband: Double = 0
    /// 64-bit values (totalisers, counters) instead of the default 32-bit float.
    public var float64 = false
    public init() {}
}

public enum JournalSyncSetting: String, Sendable, Equatable, CaseIterable {
    case full, normal
}

/// `[remote_feed]`: the alert socket's protocol over TCP with TLS and a token; off unless set.
public struct RemoteFeedSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var certFile: String
    public var keyFile: String
    public var tokenFile: String
    public var maxClients: Int = 16
    /// From accept to a valid token, TLS handshake included; then the connection is closed.
    public var authTimeout: Duration = .seconds(10)
}

/// `[console]`: the operator's web console (spec §10); off unless set.
public struct ConsoleSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// TLS with both (PEM); plain HTTP with neither.
    public var certFile: String?
    public var keyFile: String?
    public var usersFile: String = "/etc/hazmon/users.toml"
    /// A session ends after this long without a request.
    public var sessionIdle: Duration = .seconds(12 * 3600)
    /// Where sessions outlive a restart (mode 0600); nil: beside the journal, `<journal>.sessions`.
    public var sessionsFile: String?
    /// Browsers' live event streams at once.
    public var maxStreams: Int = 100
    /// Events queued for one browser's stream before it is dropped as too slow (it reconnects
    /// and resumes from the journal).
    public var streamQueue: Int = 10_000
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// `[metrics]`: the Prometheus text and health endpoint; off unless set.
public struct MetricsSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
}

public struct AlertSocketSettings: Sendable, Equatable {
    public var path: String = "/run/hazmon/alerts.sock"
    /// File mode of the socket, e.g. 0o660.
    public var mode: UInt32 = 0o660
    /// Most clients connected at once; further connections are refused with an error line.
    public var maxClients: Int = 64
    /// Events queued for one client before it is disconnected as too slow.
    public var clientQueue: Int = 10_000
}

/// The broker connection for telemetry in (and, later, alarms out).
public struct MQTTSettings: Sendable, Equatable {
    public var url: String
    public var host: String
    public var port: Int
    public var tls: Bool
    public var clientID: String
    public var username: String?
    public var passwordFile: String?
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var qos: Int = 1
    public var keepalive: Duration = .seconds(30)
    public var reconnectMin: Duration = .seconds(1)
    public var reconnectMax: Duration = .seconds(30)
    /// Payloads larger than this are counted and dropped unread.
    public var maxPayload: Int = 65_536
    /// Topic filters with a tag-id template, for gateways that publish many points.
    public var maps: [MQTTMapSettings] = []
    /// `[mqtt.publish]`: alarm events out; nil when absent.
    public var publish: MQTTPublishSettings?
    /// `[[mqtt.sparkplug]]`: Sparkplug B groups read as a host application.
    public var sparkplug: [SparkplugSettings] = []
    /// `sparkplug_host`: publish this host's STATE (`spBv1.0/STATE/<id>`, retained, with its
    /// last will) so edge nodes that wait for a primary host send their births to hazmon.
    public var sparkplugHost: String?
}

/// `[[mqtt.sparkplug]]`: one Sparkplug B group (`spBv1.0/<group>/#`) and the edge nodes (and
/// devices) of it whose loss raises a `comm` alarm.
public struct SparkplugSettings: Sendable, Equatable {
    public var id: String
    public var group: String
    /// Edge nodes expected in the group, as "node" or "node/device"; each has a `comm` alarm.
    public var nodes: [String]
    /// Names a tag from `{group}`, `{node}`, `{device}` (empty for a node's own metrics) and
    /// `{metric}`; a tag's own `node` / `metric` keys take precedence.
    public var tag: String = "{metric}"
    /// Ask a node for its birth (NCMD `Node Control/Rebirth`) after a `seq` gap, data before
    /// birth, or on connecting.
    public var rebirth = true
    /// A declared node or device without a birth this long after connecting (or after a death
    /// or a rebirth request) raises its `comm` alarm.
    public var birthTimeout: Duration = .seconds(30)

    public init(id: String, group: String, nodes: [String]) {
        self.id = id
        self.group = group
        self.nodes = nodes
    }

    /// The `comm` alarm's id (the connection's) for a declared node or "node/device".
    public func connectionID(_ entry: String) -> String { "sparkplug:\(group)/\(entry)" }
}


/// `[mqtt.publish]`: every alarm event out to the broker, a retained state per alarm and a
/// retained online/offline status (the broker publishes "offline" as our last will).
/// Topic templates take `{site}`, `{tag}`, `{condition}` and (state topic) `{alarm}`.
public struct MQTTPublishSettings: Sendable, Equatable {
    public var topic = "hazmon/{site}/alarms/{tag}"
    /// Retain each event on its topic (the last event per tag then waits for new subscribers).
    public var retain = false
    /// Retained: the last event of each alarm while it is not normal; cleared (an empty
    /// retained message) when it returns to normal.
    public var stateTopic = "hazmon/{site}/state/{tag}/{alarm}"
    /// Retained "online" while connected; "offline" on shutdown and, as the last will, on loss.
    public var statusTopic = "hazmon/{site}/status"
    public init() {}
}

/// `[[mqtt.map]]`: a topic filter (with `+` / `#`) whose messages name their tag through a
/// template: `{1}`…`{9}` are topic levels, `{tag}` is a batch point's own name.
public struct MQTTMapSettings: Sendable, Equatable {
    public var id: String
    public var topic: String
    public var tag: String
    public var json: String?
    public var batch: Bool
    /// `format = "neuron"`: EMQX Neuron's uploads (`{node}`, `{group}`, `{tag}` in the template).
    public var format: MQTTMapFormat = .plain
}

/// How a `[[mqtt.map]]` reads its payloads: hazmon's own forms, or EMQX Neuron's uploads.
public enum MQTTMapFormat: String, Sendable, Equatable, CaseIterable {
    case plain, neuron
}

public enum MQTTTagSource: Sendable, Equatable {
    /// An exact topic; `json` is the dotted path of the value (nil: bare number or `value`).
    case topic(String, json: String?)
    /// Fed by a `[[mqtt.map]]`.
    case map(String)
    /// Fed by a `[[mqtt.sparkplug]]` group: by its template, or by an explicit metric name.
    case sparkplug(String, metric: SparkplugMetricName?)
}

public enum TagSource: Sendable, Equatable {
    case mqtt(MQTTTagSource)
    /// Boxed: a Modbus source is about 100 bytes, and unboxed it sized every tag's settings
    /// (184 bytes; a park's MQTT tags paid for it 50,000 times).
    indirect case modbus(ModbusTagSource)
}

public struct TagSettings: Sendable {
    public var definition: TagDefinition
    public var source: TagSource
    /// Why this tag may break a GB/T 50493 rule; nil when it must comply.
    public var complianceOverride: String?
    /// Toxic gas: the occupational exposure limit in the tag's unit.
    public var oel: Double?
    /// How the history records it.
    public var history = TagHistorySettings()
    /// 指标编码: the tag's indicator code on a platform (uplinks send it beside the tag's id).
    public var code = ""
}

extension HazmonConfiguration {
    /// `[journal] spill_dir`, or the alert socket's directory (the runtime directory under systemd).
    public var spillDirectory: String {
        if let d = journal.spillDir { return d }
        let p = alertSocket.path
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }
}
