import HazmonConfig
import HazmonCore
import HazmonFeed
import Logging
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

/// The alert socket as a service: bound at start, closed on shutdown.
struct AlertSocketService: Service {
    let options: AlertSocketOptions
    let hub: FeedHub
    let handler: FeedRequestHandler
    let loop: EventLoop
    let readiness: Readiness
    let logger: Logger

    func run() async throws {
        let server = try await AlertSocketServer.start(
            options: options, hub: hub, handler: handler, group: loop, logger: logger)
        readiness.markReady("socket")
        try? await gracefulShutdown()
        await server.close()
    }
}

extension Task where Success == Never, Failure == Never {
    /// Loops in services end on a graceful shutdown and on cancellation (a sibling failed).
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}

/// Runs the engine's timers four times a second: delays, stale data (from the clock, not
/// from the next message), re-alarms, shelve expiry and the end of a flood.
struct EngineTimerService: Service {
    let pipeline: AlarmPipeline
    let readiness: Readiness
    static let interval = Duration.milliseconds(250)

    func run() async throws {
        pipeline.tick(at: .now)
        readiness.markReady("engine")
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: Self.interval)
            pipeline.tick(at: .now)
        }
    }
}

/// Wires config → engine → pipeline → sinks and inputs, and runs until SIGTERM / SIGINT.
public struct Daemon: Sendable {
    public let config: HazmonConfiguration
    public let output: LogOutput
    public let logger: Logger
    public let pipeline: AlarmPipeline
    public let hub: FeedHub
    let services: [Service & Sendable]
    /// One event loop serves the alert socket and evaluates MQTT messages, so events reach
    /// socket clients without another thread hop.
    let loopGroup: MultiThreadedEventLoopGroup

    /// - Parameter output: where log and event lines go (stderr by default).
    public init(config: HazmonConfiguration, output: LogOutput? = nil) {
        let out = output ?? LogOutput.stderrOutput(format: config.log.format)
        let level = LogLevels.level(config.log.level)
        let logger = Logger(label: "hazmon") { HazmonLogHandler(label: $0, output: out, level: level) }
        self.config = config
        self.output = out
        self.logger = logger
        let hub = FeedHub(queueLimit: config.alertSocket.clientQueue, logger: logger)
        let mqttTags = config.tags.compactMap { t -> String? in
            if case .mqtt = t.source { return t.definition.id } else { return nil }
        }
        let connections = config.mqtt == nil ? [] : [ConnectionDefinition(id: MQTTIngestService.connectionID,
                                                                          name: "MQTT broker \(config.mqtt!.url)", tags: mqttTags)]
        let engine = Engine(site: config.site.id, tags: config.tags.map(\.definition), votes: config.votes,
                            connections: connections, settings: config.engine, start: .now)
        let pipeline = AlarmPipeline(engine: engine, lastSeq: 0, sinks: [EventLogSink(output: out), hub])
        self.hub = hub
        self.pipeline = pipeline
        let loopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loopGroup = loopGroup
        let loop = loopGroup.next()
        let readiness = Readiness(waitingFor: config.mqtt == nil ? ["socket", "engine"] : ["socket", "engine", "mqtt"])
        var services: [Service & Sendable] = []
        services.append(AlertSocketService(
            options: AlertSocketOptions(path: config.alertSocket.path, mode: config.alertSocket.mode, site: config.site.id,
                                        maxClients: config.alertSocket.maxClients),
            hub: hub, handler: PipelineFeedHandler(pipeline: pipeline), loop: loop, readiness: readiness, logger: logger))
        services.append(EngineTimerService(pipeline: pipeline, readiness: readiness))
        if let mqtt = config.mqtt {
            services.append(MQTTIngestService(settings: mqtt, tags: config.tags, pipeline: pipeline, loop: loop,
                                              readiness: readiness, logger: logger))
        }
        services.append(NotifyService(notifier: SystemdNotifier(), readiness: readiness, pipeline: pipeline, logger: logger))
        self.services = services
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
