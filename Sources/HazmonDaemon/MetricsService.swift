import Foundation
import HazmonConfig
import HazmonCore
import HazmonPipeline
import HazmonFeed
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The daemon's metrics, through swift-metrics. With `[metrics]` configured they are backed by
/// a Prometheus registry; without, swift-metrics' no-op backend makes them free.
public struct DaemonMetrics: Sendable {
    let mqttSamples = Metrics.Counter(label: "hazmon_samples_total", dimensions: [("source", "mqtt")])
    let modbusSamples = Metrics.Counter(label: "hazmon_samples_total", dimensions: [("source", "modbus")])
    let journalCommit = Metrics.Timer(label: "hazmon_journal_commit_seconds")
    let engineEvaluation = Metrics.Timer(label: "hazmon_engine_evaluation_seconds")

    func decodeError(_ reason: String) {
        Metrics.Counter(label: "hazmon_decode_errors_total", dimensions: [("reason", reason)]).increment()
    }

    func event(_ e: AlarmEvent) {
        Metrics.Counter(label: "hazmon_events_total", dimensions: [("grade", String(e.grade.rawValue)), ("event", e.event.rawValue)]).increment()
    }

    func modbusPoll(device: String, took: Duration) {
        Metrics.Timer(label: "hazmon_modbus_poll_seconds", dimensions: [("device", device)]).recordNanoseconds(took.nanosecondsClamped)
    }
}

/// Counts events by grade as they are delivered (after the journal commit).
struct MetricsEventSink: EventSink {
    let metrics: DaemonMetrics
    func deliver(_ events: [AlarmEvent], json: [String]) { for e in events { metrics.event(e) } }
}

/// `[metrics]`: a Prometheus text endpoint (`GET /metrics`) and a health endpoint (`GET
/// /health`: 200 when what READY=1 stands for holds, the engine's timer included; 503 before
/// and when it stalls), over HTTP on a loopback address by default.
final class MetricsService: Service, Sendable {
    let settings: MetricsSettings
    let registry: PrometheusCollectorRegistry
    let readiness: Readiness
    let pipeline: AlarmPipeline
    let hub: FeedHub
    let mqtt: MQTTIngestService?
    let loop: EventLoop
    let logger: Logger
    let feedClients: Metrics.Gauge
    let mqttConnected: Metrics.Gauge
    let activeAlarms: Metrics.Gauge
    let ready: Metrics.Gauge

    init(settings: MetricsSettings, registry: PrometheusCollectorRegistry, readiness: Readiness, pipeline: AlarmPipeline,
         hub: FeedHub, mqtt: MQTTIngestService?, loop: EventLoop, logger: Logger) {
        self.settings = settings
        self.registry = registry
        self.readiness = readiness
        self.pipeline = pipeline
        self.hub = hub
        self.mqtt = mqtt
        self.loop = loop
        self.logger = logger
        feedClients = Metrics.Gauge(label: "hazmon_feed_clients")
        mqttConnected = Metrics.Gauge(label: "hazmon_mqtt_connected")
        activeAlarms = Metrics.Gauge(label: "hazmon_alarms_not_normal")
        ready = Metrics.Gauge(label: "hazmon_ready")
        health = DaemonHealth(readiness: readiness, pipeline: pipeline)
    }

    private let health: DaemonHealth
    func healthy() -> (Bool, String) { health.check() }

    /// The Prometheus text, gauges brought up to date first.
    func scrape() -> [UInt8] {
        feedClients.record(hub.clientCount)
        mqttConnected.record(mqtt?.counters.withLock { $0.connected ? 1 : 0 } ?? 0)
        activeAlarms.record(pipeline.snapshot().alarms.count)
        ready.record(healthy().0 ? 1 : 0)
        for s in pipeline.hazardSources() {
            let dims = [("source", s.id)]
            // Unknown R is NaN, never a guess; `_known` says so in a form alert rules can use.
            Metrics.Gauge(label: "hazmon_hazard_source_r", dimensions: dims).record(s.r ?? .nan)
            Metrics.Gauge(label: "hazmon_hazard_source_known", dimensions: dims).record(s.r == nil ? 0 : 1)
            Metrics.Gauge(label: "hazmon_hazard_source_level", dimensions: dims).record(s.level ?? 0)
            // 0 normal, 1 startup, 2 shutdown, 3 maintenance.
            Metrics.Gauge(label: "hazmon_hazard_source_mode", dimensions: dims).record(OperatingMode.allCases.firstIndex(of: s.mode) ?? 0)
            for sub in s.substances {
                Metrics.Gauge(label: "hazmon_hazard_source_tonnes", dimensions: dims + [("substance", sub.name)]).record(sub.q ?? .nan)
            }
        }
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }

    func run() async throws {
        let service = self
        let channel = try await ServerBootstrap(group: loop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                    try ch.pipeline.syncOperations.addHandler(MetricsHTTPHandler(service: service))
                }
            }
            .bind(host: settings.host, port: settings.port).get()
        logger.info("metrics and health endpoint listening", metadata: ["address": "\(settings.host):\(channel.localAddress?.port ?? settings.port)"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Remembers when the engine's tick count last changed.
/// READY's conditions, and the engine's timer advancing within the last 2 s: what the
/// metrics endpoint's /health and the console's /healthz answer.
struct DaemonHealth: Sendable {
    let readiness: Readiness
    let pipeline: AlarmPipeline
    let lastTicks = ManagedTicks()

    func check() -> (Bool, String) {
        guard readiness.isReady else { return (false, "starting") }
        guard lastTicks.advanced(pipeline.ticks, within: .seconds(2)) else { return (false, "engine timer stalled") }
        return (true, "ready")
    }
}

final class ManagedTicks: Sendable {
    private let state = Mutex((ticks: -1, at: ContinuousClock.now))
    func advanced(_ ticks: Int, within: Duration) -> Bool {
        state.withLock { s in
            if ticks != s.ticks { s = (ticks, .now) }
            return ContinuousClock.now - s.at <= within
        }
    }
}

/// GET /metrics and GET /health; anything else 404, other methods 405.
final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let service: MetricsService
    private var head: HTTPRequestHead?

    init(service: MetricsService) { self.service = service }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            let path = h.uri.split(separator: "?").first.map(String.init) ?? h.uri
            switch (h.method, path) {
            case (.GET, "/metrics"):
                respond(context, h, .ok, "text/plain; version=0.0.4; charset=utf-8", service.scrape())
            case (.GET, "/health"):
                let (ok, why) = service.healthy()
                respond(context, h, ok ? .ok : .serviceUnavailable, "application/json",
                        Array("{\"status\":\"\(why)\",\"seq\":\(service.pipeline.lastSeq)}\n".utf8))
            case (.GET, _):
                respond(context, h, .notFound, "text/plain", Array("not found: /metrics or /health\n".utf8))
            default:
                respond(context, h, .methodNotAllowed, "text/plain", Array("GET only\n".utf8))
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ req: HTTPRequestHead, _ status: HTTPResponseStatus,
                         _ type: String, _ body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: req.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
