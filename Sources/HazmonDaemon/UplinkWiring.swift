import HazmonConfig
import HazmonCore
import HazmonJournal
import HazmonMQTT
import HazmonPipeline
import HazmonUplink
import Logging
import ServiceLifecycle
import Synchronization

/// The running daemon as an uplink's source of snapshots; the pipeline is held weakly (it holds
/// the journal writer, whose sinks wake the uplink).
final class PipelineLiveState: UplinkLiveState {
    private let box = Mutex(WeakPipeline())
    var pipeline: AlarmPipeline? {
        get { box.withLock { $0.pipeline } }
        set { box.withLock { $0.pipeline = newValue } }
    }
    func tagViews() -> [TagView] { pipeline?.tagViews() ?? [] }
    func hazardSources() -> [HazardSourceStatus] { pipeline?.hazardSources() ?? [] }
}

/// Runs an uplink until shutdown; what it has not delivered waits behind its cursors.
struct UplinkService: Service {
    let uplink: Uplink
    let transport: UplinkTransport

    func run() async throws {
        let task = Task { await uplink.run() }
        try? await gracefulShutdown()
        // First the connection: a send waiting for the platform fails instead of holding the stop.
        await transport.close()
        task.cancel()
        await task.value
    }
}

/// Wakes an uplink when events are committed.
struct UplinkWake: EventSink {
    let uplink: Uplink
    func deliver(_ events: [AlarmEvent], json: [String]) { uplink.wake() }
}

enum UplinkWiring {
    /// The uplink's reader of the history's outbox (and its journal cursor's name).
    static func outboxReader(_ u: UplinkSettings) -> String { "uplink:" + u.id }
    /// The alarm raised when stored values were dropped from an uplink's backlog.
    static func backlogConnectionID(_ u: UplinkSettings) -> String { "uplink-\(u.id)-backlog" }

    /// Each uplink's `comm` alarm, and the one for values it had to drop.
    static func connections(_ config: HazmonConfiguration) -> [ConnectionDefinition] {
        config.uplinks.flatMap { u in
            [ConnectionDefinition(id: u.connectionID, name: "uplink \(u.id) \(u.url)", tags: []),
             ConnectionDefinition(id: backlogConnectionID(u), name: "uplink \(u.id) backlog (stored values dropped)", tags: [])]
        }
    }

    /// The message format: the site's, hazard sources' and tags' codes.
    static func format(_ u: UplinkSettings, config: HazmonConfiguration) -> UplinkFormat {
        var codes: [String: String] = [:], sources: [String: String] = [:]
        for t in config.tags {
            if !t.code.isEmpty { codes[t.definition.id] = t.code }
            if let h = t.definition.hazardSource { sources[t.definition.id] = h }
        }
        let sourceCodes = Dictionary(config.hazardSources.map { ($0.id, $0.code) }, uniquingKeysWith: { a, _ in a })
        return UplinkFormat(site: config.site.id, enterpriseCode: u.enterpriseCode, tagCodes: codes, tagSources: sources,
                            sourceCodes: sourceCodes, beijingTime: u.timeFormat == .beijing, fields: u.fields)
    }

    static func secret(_ path: String?, what: String, _ u: UplinkSettings) throws -> String? {
        guard let path else { return nil }
        guard let text = ConfigLoader.readFile(path) else { throw DaemonError.runtime("uplink \(u.id): cannot read \(what) \(path)") }
        return String(decoding: ConfigLoader.token(text), as: UTF8.self)
    }

    static func transport(_ u: UplinkSettings, site: String, logger: Logger) throws -> UplinkTransport {
        do {
            switch u.transport {
            case .mqtt:
                let options = BrokerOptions(host: u.host, port: u.port, clientID: u.clientID, cleanSession: false, username: u.username,
                                            password: try secret(u.passwordFile, what: "password_file", u), tls: u.tls, caFile: u.caFile,
                                            certFile: u.certFile, keyFile: u.keyFile)
                return try MQTTUplinkTransport(options: options, topic: u.topic, site: site, logger: logger)
            case .http:
                return try HTTPUplinkTransport(url: u.url, timeout: u.timeout, token: try secret(u.tokenFile, what: "token_file", u),
                                               caFile: u.caFile, certFile: u.certFile, keyFile: u.keyFile)
            case .tcp:
                return try FrameUplinkTransport(host: u.host, port: u.port, delimiter: u.delimiter, tls: u.tls, timeout: u.timeout,
                                                caFile: u.caFile, certFile: u.certFile, keyFile: u.keyFile)
            }
        } catch let e as DaemonError {
            throw e
        } catch {
            throw DaemonError.runtime("uplink \(u.id): \(error)")
        }
    }

    static func cipher(_ u: UplinkSettings) throws -> UplinkCipher? {
        guard let e = u.encrypt else { return nil }
        guard let keyText = ConfigLoader.readFile(e.keyFile), let key = UplinkEncryption.bytes(keyText, count: e.keyLength) else {
            throw DaemonError.runtime("uplink \(u.id): encrypt.key_file \(e.keyFile) must hold \(e.keyLength) bytes (raw or hex)")
        }
        var iv: [UInt8]?
        if let f = e.ivFile {
            guard let text = ConfigLoader.readFile(f), let b = UplinkEncryption.bytes(text, count: 16) else {
                throw DaemonError.runtime("uplink \(u.id): encrypt.iv_file \(f) must hold 16 bytes (raw or hex)")
            }
            iv = b
        }
        return try UplinkCipher(key: key, iv: iv)
    }

    /// The uplinks of a configuration, each with its transport (connecting in the background).
    static func make(config: HazmonConfiguration, journal: Journal, pipeline: PipelineLiveState,
                     logger: Logger) throws -> [(Uplink, UplinkTransport)] {
        try config.uplinks.map { u in
            var options = UplinkOptions(id: u.id)
            options.alarms = u.alarms
            options.historyPath = u.valuesOnChange ? config.history?.path : nil
            options.snapshotEvery = u.valuesEvery
            options.heartbeat = u.heartbeat
            options.batch = u.batch
            options.downAfter = u.downAfter
            options.backlogMax = u.backlogMax
            let transport = try transport(u, site: config.site.id, logger: logger)
            let connection = u.connectionID, backlog = backlogConnectionID(u)
            let uplink = Uplink(options: options, format: format(u, config: config), cipher: try cipher(u), transport: transport,
                                journal: journal, live: pipeline, logger: logger,
                                onHealth: { up, reason in
                let p = pipeline.pipeline
                p?.setConnection(connection, up: up, reason: reason, at: .steadyNow)
                if up { p?.setConnection(backlog, up: true, reason: nil, at: .steadyNow) }
            }, onDropped: { n, total in
                pipeline.pipeline?.setConnection(backlog, up: false, reason: "\(n) stored values dropped from the backlog (\(total) in all); the history keeps them", at: .steadyNow)
            })
            return (uplink, transport)
        }
    }
}
