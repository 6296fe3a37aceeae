import HazmonConfig
import HazmonConsole
import HazmonCore
import HazmonModbus
import HazmonFeed
import HazmonHistory
import HazmonJournal
import HazmonPipeline
import HazmonPostgres
import Synchronization
import Foundation
import Logging
import Metrics
import Prometheus
import NIOCore
import NIOPosix
import ServiceLifecycle

public enum DaemonError: Error, CustomStringConvertible {
    case runtime(String)
    public var description: String {
        switch self {
        case .runtime(let s): return s
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// Loops in services end on a graceful shutdown and on cancellation (a sibling failed).
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}

/// A listener of the feed as a service: the alert socket, or the remote feed (TLS + token).
/// Bound at start, closed on shutdown; both share the hub and the request handler.
struct FeedService: Service {
    enum Listener {
        case unixSocket(AlertSocketOptions)
        case remote(RemoteFeedSettings, site: String)
    }

    let listener: Listener
    let hub: FeedHub
    let handler: FeedRequestHandler
    let loop: EventLoop
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        let close: () async -> Void
        switch listener {
        case .unixSocket(let options):
            let server = try await AlertSocketServer.start(options: options, hub: hub, handler: handler, group: loop, logger: logger)
            readiness.markReady(.socket)
            close = { await server.close() }
        case .remote(let settings, let site):
            guard let text = ConfigLoader.readFile(settings.tokenFile) else {
                throw DaemonError.runtime("remote feed: cannot read token_file \(settings.tokenFile)")
            }
            var options = RemoteFeedOptions(host: settings.host, port: settings.port, certFile: settings.certFile,
                                            keyFile: settings.keyFile, token: ConfigLoader.token(text), site: site,
                                            maxClients: settings.maxClients)
            options.authDeadline = .nanoseconds(settings.authTimeout.nanosecondsClamped)
            let server = try await RemoteFeedServer.start(options: options, hub: hub, handler: handler, group: loop, logger: logger)
            readiness.markReady(.remoteFeed)
            close = { await server.close() }
        }
        try? await gracefulShutdown()
        hub.goodbye()
        await close()
    }
}

/// Starts the journal's writer threads, prunes old events at start and every hour, and on
/// shutdown commits and delivers what is still queued, then writes the final seq high-water
/// mark (so a clean restart continues without a gap). Fails the run (exit 1) if any event
/// reached neither the journal nor the spill file.
struct JournalService: Service {
    let writer: JournalWriter
    let owned: OwnedJournal
    let pipeline: AlarmPipeline
    let retention: Duration
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        writer.start()
        readiness.markReady(.journal)
        while !Task.isCancelledOrShuttingDown {
            await prune()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
        let lost = await NamedThread.run("hazmon-jstop") { writer.stop() }
        // Every number handed out is committed, spilled or reported lost: the mark can come
        // down to the last one used.
        do {
            try owned.highWater.write(.init(journalID: owned.journalID, seq: pipeline.lastSeq))
        } catch {
            logger.warning("\(error); the next start continues after the reserved block")
        }
        if !lost.isEmpty {
            throw DaemonError.runtime("events in no journal and no spill file: seq "
                + lost.map { "\($0.lowerBound)...\($0.upperBound)" }.joined(separator: ", "))
        }
    }

    private func prune() async {
        let cutoff = Instant(nanoseconds: Instant.now.nanoseconds - retention.nanosecondsClamped)
        let journal = owned.journal
        do {
            let n = try await NIOThreadPool.singleton.runIfActive { try journal.prune(before: cutoff) }
            if n > 0 { logger.info("journal pruned", metadata: ["events": "\(n)", "older_than": "\(cutoff.iso8601)"]) }
        } catch is CancellationError {
            // The run is ending before it began (another service failed to start): nothing to say.
        } catch {
            logger.error("journal pruning failed: \(error)")
        }
    }
}

/// Runs a cursor consumer until shutdown. What it has not delivered by then stays behind its
/// cursor in the journal and goes out after the next start.
struct CursorService: Service {
    let consumer: CursorConsumer

    func run() async throws {
        let task = Task { await consumer.run() }
        try? await gracefulShutdown()
        task.cancel()
        await task.value
    }
}

/// Wakes a cursor consumer when events are delivered (that is, committed or past `max_wait`).
struct CursorWake: EventSink {
    let consumer: CursorConsumer
    func deliver(_ events: [AlarmEvent], json: [String]) { consumer.wake() }
}

/// The journal as the feed's archive for `subscribe` with `since`.
struct JournalArchive: FeedArchive {
    let journal: Journal
    func lines(after: UInt64, through: UInt64, limit: Int) throws -> [(seq: UInt64, json: String)] {
        try journal.lines(after: after, through: through, limit: limit)
    }
}

/// Runs the engine's timers four times a second: delays, stale data (from the clock, not
/// from the next message), re-alarms, shelve expiry and the end of a flood.
struct EngineTimerService: Service {
    let pipeline: AlarmPipeline
    let readiness: Readiness
    static let interval = Duration.milliseconds(250)

    func run() async throws {
        pipeline.tick(at: .steadyNow)
        FreedMemory.release()   // what building the engine and its inputs freed
        readiness.markReady(.engine)
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: Self.interval)
            pipeline.tick(at: .steadyNow)
        }
    }
}

/// A pipeline held weakly (by whoever the pipeline itself holds).
struct WeakPipeline {
    weak var pipeline: AlarmPipeline?
}

/// Wires config → engine → pipeline → sinks and inputs, and runs until SIGTERM / SIGINT.
public struct Daemon: Sendable {
    public let config: HazmonConfiguration
    public let output: LogOutput
    public let logger: Logger
    public let pipeline: AlarmPipeline
    public let hub: FeedHub
    public let journal: Journal
    /// The process history's writer; nil with `[history] enabled = false`.
    let history: HistoryWriter?
    /// The lock, high-water mark and id that make this daemon the journal's only writer.
    let owned: OwnedJournal
    let services: [Service & Sendable]
    /// One event loop serves the alert socket and the remote feed; with `[console]` a second
    /// one serves the browsers, so their writes never delay a socket client's events.
    let loopGroup: MultiThreadedEventLoopGroup

    /// The `comm` alarm raised while the journal fails.
    public static let journalConnectionID = "journal"

    /// The engine for a configuration: its tags, votes, and one connection alarm each for the
    /// journal, the MQTT broker and every Modbus device.
    static func makeEngine(_ config: HazmonConfiguration) -> Engine {
        let mqttTags = config.tags.compactMap { t -> String? in
            if case .mqtt = t.source { return t.definition.id } else { return nil }
        }
        var connections = [ConnectionDefinition(id: journalConnectionID, name: "alarm journal \(config.journal.path)", tags: [])]
        if let h = config.history {
            connections.append(ConnectionDefinition(id: HistoryWiring.connectionID, name: "process history \(h.path)", tags: []))
            if let pg = h.postgres {
                connections.append(ConnectionDefinition(id: HistoryWiring.postgresConnectionID,
                                                        name: "history copy \(pg.host):\(pg.port)/\(pg.database) table \(pg.table)", tags: []))
            }
        }
        if let mqtt = config.mqtt {
            connections.append(ConnectionDefinition(id: MQTTIngestService.connectionID, name: "MQTT broker \(mqtt.url)",
                                                    tags: mqttTags))
            // One per declared Sparkplug edge node and device; a birth names its tags.
            for g in mqtt.sparkplug {
                for entry in g.nodes {
                    let what = entry.contains("/") ? "Sparkplug device" : "Sparkplug edge node"
                    connections.append(ConnectionDefinition(id: g.connectionID(entry), name: "\(what) \(g.group)/\(entry)", tags: []))
                }
            }
        }
        connections += ModbusService.connections(config)
        connections += UplinkWiring.connections(config)
        connections += NotifyWiring.connections(config)
        return Engine(site: config.site.id, tags: config.tags.map(\.definition), votes: config.votes,
                      connections: connections, hazardSources: config.hazardSources, settings: config.engine, start: .steadyNow)
    }

    /// Opens the journal, restores the alarms it kept, and wires config → engine → pipeline →
    /// journal writer → sinks and inputs. Throws if the journal cannot be opened.
    /// - Parameter output: where log and event lines go (stderr by default).
    public init(config: HazmonConfiguration, output: LogOutput? = nil) throws {
        let out = output ?? LogOutput.stderrOutput(format: config.log.format)
        let level = LogLevels.level(config.log.level)
        let logger = Logger(label: "hazmon") { HazmonLogHandler(label: $0, output: out, level: level) }
        self.config = config
        self.output = out
        self.logger = logger
        FileLimit.raise(to: FileLimit.needed(config), logger: logger)

        let owned: OwnedJournal
        let saved: [SavedAlarm]
        do {
            let spill = JournalSpill(path: JournalSpill.path(forJournal: config.journal.path, in: config.spillDirectory))
            owned = try OwnedJournal.open(path: config.journal.path, sync: config.journal.sync == .full ? .full : .normal,
                                          spill: spill)
            saved = try owned.journal.activeAlarms()
        } catch {
            throw DaemonError.runtime(error.description)
        }
        for note in owned.notes { logger.notice("journal: \(note)") }
        let journal = owned.journal
        let lastSeq = owned.lastSeq
        self.journal = journal
        self.owned = owned

        let hub = FeedHub(queueLimit: config.alertSocket.clientQueue, lastSeq: lastSeq, archive: JournalArchive(journal: journal),
                          logger: logger)
        let engine = Self.makeEngine(config)
        let publisher = config.mqtt?.publish.map { MQTTAlarmPublisher(settings: $0, site: config.site.id, qos: config.mqtt!.qos) }
        // Metrics: a Prometheus registry behind swift-metrics when [metrics] is set (once per
        // process); otherwise none at all, so the inputs do not even read the clock for them.
        var registry: PrometheusCollectorRegistry?
        if config.metrics != nil {
            let r = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: r))
            registry = r
        }
        let metrics = registry.map { _ in DaemonMetrics() }
        // Uplinks read the journal and the history's outbox after cursors of their own; a
        // commit only wakes them. They see the pipeline (made below) weakly.
        let pipelineForUplinks = PipelineLiveState()
        let uplinks = try UplinkWiring.make(config: config, journal: journal, pipeline: pipelineForUplinks, logger: logger)
        var sinks: [EventSink] = [EventLogSink(output: out), hub]
        for (u, _) in uplinks { sinks.append(UplinkWake(uplink: u)) }
        // Notifications plan from the journal into its outbox; a commit only wakes them.
        let alarmNotifier = try NotifyWiring.make(config: config, journal: journal, pipeline: pipelineForUplinks, logger: logger)
        if let alarmNotifier { sinks.append(NotifierWake(notifier: alarmNotifier)) }
        // MQTT out reads the journal as a cursor; each delivery to the sinks only wakes it.
        let mqttOut = publisher.map { CursorConsumer(name: "mqtt-out", journal: journal, delivery: $0, logger: logger) }
        if let mqttOut { sinks.append(CursorWake(consumer: mqttOut)) }
        // The console's browsers follow a hub of their own: their limits and slow-client
        // drops never touch the alert socket's clients.
        let consoleHub = config.console.map { c in
            FeedHub(queueLimit: c.streamQueue, historyLimit: 10_000, lastSeq: lastSeq,
                    archive: JournalArchive(journal: journal), label: "console stream", logger: logger)
        }
        if let consoleHub { sinks.append(consoleHub) }
        if let metrics { sinks.append(MetricsEventSink(metrics: metrics)) }
        var onCommit: (@Sendable (Duration) -> Void)?
        if let metrics { onCommit = { metrics.journalCommit.recordNanoseconds($0.nanosecondsClamped) } }
        let spill = JournalSpill(path: JournalSpill.path(forJournal: config.journal.path, in: config.spillDirectory))
        let writer = JournalWriter(journal: journal, spill: spill, sinks: sinks, maxWait: config.journal.maxWait,
                                   onCommit: onCommit, logger: logger)
        let highWater = owned.highWater, journalID = owned.journalID
        let reserveProblems = RateLimitedLog(logger: logger)
        // The history reports its health into the pipeline made just below, held weakly: the
        // pipeline holds the history (its recorder), and a cycle would keep the journal open
        // past the end of the run (its WAL never checkpointed and removed at exit).
        let pipelineForHistory = Mutex(WeakPipeline())
        let history = config.history.map { h in
            HistoryWriter(settings: HistoryWiring.writerSettings(h, uplinks: config.uplinks), logger: logger) { up, reason in
                pipelineForHistory.withLock { $0.pipeline }?.setConnection(HistoryWiring.connectionID, up: up, reason: reason,
                                                                             at: .steadyNow)
            }
        }
        self.history = history
        if let history { history.setTags(HistoryWiring.table(engine: engine, generation: 0, config: config)) }
        let pipeline = AlarmPipeline(engine: engine, lastSeq: lastSeq, outlet: writer,
                                     recorder: history.map { HistoryRecorder(writer: $0) }) { through in
            do {
                try highWater.write(.init(journalID: journalID, seq: through))
            } catch {
                reserveProblems.log(.error, key: "reserve", "cannot reserve seq numbers durably; a crash now could reuse some",
                                    metadata: ["reason": "\(error)"])
            }
        }
        pipelineForHistory.withLock { $0.pipeline = pipeline }
        pipelineForUplinks.pipeline = pipeline
        writer.onHealth { [weak pipeline] up, reason in
            pipeline?.setConnection(Self.journalConnectionID, up: up, reason: reason, at: .steadyNow)
        }
        pipeline.restore(saved, at: .steadyNow)
        // An alarm the journal says is down, which is working now that the journal opened.
        pipeline.setConnection(Self.journalConnectionID, up: true, reason: nil, at: .steadyNow)
        if !saved.isEmpty {
            logger.notice("restored \(saved.count) alarms from the journal", metadata: ["last_seq": "\(lastSeq)"])
        }
        self.hub = hub
        self.pipeline = pipeline
        // With a console, a second loop serves the browsers: their HTTP writes never queue
        // ahead of an alert-socket client's events.
        let loopGroup = MultiThreadedEventLoopGroup(numberOfThreads: config.console == nil ? 1 : 2)
        self.loopGroup = loopGroup
        let loop = loopGroup.next()
        let consoleLoop = loopGroup.next()
        var waitFor: Set<ReadinessPart> = [.journal, .socket, .engine, .modbus]
        if config.mqtt != nil { waitFor.insert(.mqtt) }
        if config.remoteFeed != nil { waitFor.insert(.remoteFeed) }
        if config.console != nil { waitFor.insert(.console) }
        let readiness = Readiness(waitingFor: waitFor)
        var services: [Service & Sendable] = []
        // First in, last out: the journal stops after every service that makes events.
        services.append(JournalService(writer: writer, owned: owned, pipeline: pipeline, retention: config.journal.retention,
                                       readiness: readiness, logger: logger))
        // Next in, next to last out: the history writes the inputs' last samples.
        if let history { services.append(HistoryService(writer: history)) }
        if let h = config.history, let pg = h.postgres {
            let copy = PostgresCopy(settings: try HistoryWiring.postgresSettings(pg, site: config.site.id), historyPath: h.path,
                                    logger: logger) { [weak pipeline] up, reason in
                pipeline?.setConnection(HistoryWiring.postgresConnectionID, up: up, reason: reason, at: .steadyNow)
            }
            services.append(PostgresCopyService(copy: copy))
        }
        let socketOptions = AlertSocketOptions(path: config.alertSocket.path, mode: config.alertSocket.mode,
                                               site: config.site.id, maxClients: config.alertSocket.maxClients)
        services.append(FeedService(listener: .unixSocket(socketOptions), hub: hub, handler: PipelineFeedHandler(pipeline: pipeline),
                                    loop: loop, readiness: readiness, logger: logger))
        if let remote = config.remoteFeed {
            services.append(FeedService(listener: .remote(remote, site: config.site.id), hub: hub,
                                        handler: PipelineFeedHandler(pipeline: pipeline), loop: loop, readiness: readiness, logger: logger))
        }
        services.append(EngineTimerService(pipeline: pipeline, readiness: readiness))
        if let mqttOut { services.append(CursorService(consumer: mqttOut)) }
        for (u, transport) in uplinks { services.append(UplinkService(uplink: u, transport: transport)) }
        if let alarmNotifier { services.append(NotifierService(notifier: alarmNotifier)) }
        var ingest: MQTTIngestService?
        if let mqtt = config.mqtt {
            ingest = MQTTIngestService(settings: mqtt, tags: config.tags, pipeline: pipeline,
                                       readiness: readiness, publisher: publisher, metrics: metrics, logger: logger)
            services.append(ingest!)
        }
        // Always present (with no devices it polls nothing): a reload may add devices.
        let modbus = ModbusService(config: config, pipeline: pipeline, readiness: readiness, metrics: metrics, logger: logger)
        services.append(modbus)
        let notifier = SystemdNotifier()
        if let m = config.metrics, let registry {
            services.append(MetricsService(settings: m, registry: registry, readiness: readiness, pipeline: pipeline, hub: hub,
                                           mqtt: ingest, loop: loop, logger: logger))
        }
        if let c = config.console, let consoleHub {
            services.append(try Self.consoleService(c, config: config, hub: consoleHub, pipeline: pipeline, journal: journal,
                                                    readiness: readiness, loop: consoleLoop, logger: logger))
        }
        services.append(Reloader(config: config, pipeline: pipeline, mqtt: ingest, modbus: modbus, history: history,
                                 notifier: notifier, logger: logger))
        services.append(NotifyService(notifier: notifier, readiness: readiness, pipeline: pipeline, logger: logger))
        self.services = services
    }

    static func consoleService(_ c: ConsoleSettings, config: HazmonConfiguration, hub: FeedHub, pipeline: AlarmPipeline,
                               journal: Journal, readiness: Readiness, loop: EventLoop, logger: Logger) throws -> ConsoleService {
        var options = ConsoleOptions(host: c.host, port: c.port, site: config.site.id, siteName: config.site.name,
                                     timezone: config.site.timeZone.identifier, language: config.site.language)
        options.certFile = c.certFile
        options.keyFile = c.keyFile
        options.sessionIdle = c.sessionIdle
        options.sessionsFile = c.sessionsFile ?? config.journal.path + ".sessions"
        options.maxStreams = c.maxStreams
        let users = UsersFile(path: c.usersFile, parse: ConsoleUser.parseFile)
        let backend = PipelineConsoleBackend(feed: PipelineFeedHandler(pipeline: pipeline), journal: journal,
                                             daemonHealth: DaemonHealth(readiness: readiness, pipeline: pipeline))
        let server = ConsoleServer(options: options, backend: backend, users: users, hub: hub, logger: logger)
        let host = c.host.contains(":") ? "[\(c.host)]" : c.host
        return ConsoleService(server: server, hub: hub, users: users, loop: loop, readiness: readiness, logger: logger,
                              url: "\(options.tls ? "https" : "http")://\(host):\(c.port)/")
    }

    /// Runs every service until a shutdown signal, or until `extra` services finish.
    public func run(extraServices: [Service & Sendable] = []) async throws {
        logger.info("hazmon starting", metadata: [
            "site": "\(config.site.id)", "tags": "\(config.tags.count)", "config": "\(config.file)"])
        for w in config.warnings { logger.warning("configuration deviation accepted: \(w)") }
        // An extra service that returns (the demo's timer) ends the run like a signal would.
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) }
                + extraServices.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            try? await loopGroup.shutdownGracefully()
            throw error
        }
        try? await loopGroup.shutdownGracefully()
        logger.info("hazmon stopped")
    }
}
