import HazmonConfig
import HazmonCore
import HazmonPipeline
import HazmonFeed
import HazmonMQTT
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization


/// Counters of the MQTT input, for tests, `STATUS=` and the metrics endpoint.
public struct IngestCounters: Sendable, Equatable {
    public var messages = 0
    public var samples = 0
    public var dropped: [String: Int] = [:]
    public var overflow = 0
    public var connected = false
    public var connects = 0
}

/// MQTT telemetry in: libmosquitto's thread copies each message and hands it to the event
/// loop (bounded; see `LoopHandoff`), where it is decoded, routed to its tags and evaluated.
public final class MQTTIngestService: Service, Sendable {
    struct Raw: Sendable {
        var topic: String
        var payload: [UInt8]
        var received: Instant
    }

    let settings: MQTTSettings
    /// The topic router and the pipeline generation its handles belong to; replaced by a reload.
    private let routing: Mutex<(router: TopicRouter, generation: Int)>
    private let stopping = Atomic<Bool>(false)
    /// The running client, for a reload to change its subscriptions.
    private let client = Mutex<MosquittoClient?>(nil)
    let pipeline: AlarmPipeline
    let logger: Logger
    let readiness: Readiness
    let problems: RateLimitedLog
    public let counters = Mutex(IngestCounters())
    private let loop: EventLoop
    /// Alarm events out on the same connection (`[mqtt.publish]`), if configured.
    let publisher: MQTTAlarmPublisher?
    let metrics: DaemonMetrics?

    /// Messages waiting for the engine before the newest are dropped (and counted).
    static let bufferLimit = 100_000
    /// The broker connection's id: the "tag" of its `comm` alarm.
    public static let connectionID = "mqtt"
    /// A broker not reached within this long after start raises the `comm` alarm.
    static let firstConnectGrace = Duration.seconds(5)

    /// - Parameter loop: the event loop that evaluates messages (the alert socket's loop).
    public init(settings: MQTTSettings, tags: [TagSettings], pipeline: AlarmPipeline, loop: EventLoop,
                readiness: Readiness, publisher: MQTTAlarmPublisher? = nil, metrics: DaemonMetrics? = nil, logger: Logger) {
        self.settings = settings
        self.metrics = metrics
        self.publisher = publisher
        self.readiness = readiness
        self.loop = loop
        self.pipeline = pipeline
        self.logger = logger
        self.problems = RateLimitedLog(logger: logger)
        let (generation, handles) = pipeline.handles()
        self.routing = Mutex((Self.router(settings: settings, tags: tags, handles: handles), generation))
    }

    /// Routes exact topics and `[[mqtt.map]]` filters to the engine's tag handles.
    static func router(settings: MQTTSettings, tags: [TagSettings], handles: [String: TagHandle]) -> TopicRouter {
        var exact: [String: [TopicRouter.Binding]] = [:]
        var mapTags: [String: [String: TagHandle]] = [:]
        for t in tags {
            guard case .mqtt(let src) = t.source, let h = handles[t.definition.id] else { continue }
            switch src {
            case .topic(let topic, let json): exact[topic, default: []].append(.init(tag: h, json: json))
            case .map(let id): mapTags[id, default: [:]][t.definition.id] = h
            }
        }
        let maps = settings.maps.map {
            TopicRouter.Map(id: $0.id, filter: $0.topic, template: $0.tag, json: $0.json, batch: $0.batch,
                            format: $0.format == .neuron ? .neuron : .plain, tags: mapTags[$0.id] ?? [:])
        }
        return TopicRouter(exact: exact, maps: maps)
    }

    /// A reload: new tags and topic maps (the broker connection stays; its settings apply at the
    /// next start). Subscriptions follow the new topics at once.
    public func reconfigure(settings new: MQTTSettings, tags: [TagSettings]) {
        let (generation, handles) = pipeline.handles()
        let router = Self.router(settings: new, tags: tags, handles: handles)
        routing.withLock { $0 = (router, generation) }
        client.withLock { $0 }?.updateSubscriptions(router.subscriptions)
    }

    public func run() async throws {
        var password: String?
        if let file = settings.passwordFile {
            guard let text = ConfigLoader.readFile(file) else {
                throw DaemonError.runtime("cannot read MQTT password_file \(file)")
            }
            password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        let options = BrokerOptions(
            host: settings.host, port: settings.port, clientID: settings.clientID, cleanSession: false,
            username: settings.username, password: password, tls: settings.tls, caFile: settings.caFile,
            certFile: settings.certFile, keyFile: settings.keyFile,
            keepaliveSeconds: Int(settings.keepalive.secondsDouble),
            reconnectMinSeconds: Int(settings.reconnectMin.secondsDouble),
            reconnectMaxSeconds: Int(settings.reconnectMax.secondsDouble),
            will: publisher?.will)
        let problems = self.problems
        let handoff = LoopHandoff<Raw>(loop: loop, capacity: Self.bufferLimit) { [self] batch in
            var samples: [Sample] = []
            samples.reserveCapacity(batch.count)
            let (router, generation) = routing.withLock { $0 }
            for raw in batch { process(raw, router: router, into: &samples) }
            guard !samples.isEmpty else { return }
            guard let metrics else { pipeline.ingest(samples, generation: generation); return }
            let started = ContinuousClock.now
            pipeline.ingest(samples, generation: generation)
            metrics.engineEvaluation.recordNanoseconds((ContinuousClock.now - started).nanosecondsClamped)
            metrics.mqttSamples.increment(by: samples.count)
        }
        let publisher = self.publisher
        let client = try MosquittoClient(
            options: options, subscriptions: routing.withLock { $0.router.subscriptions }, qos: settings.qos, logger: logger,
            onMessage: { topic, payload in
                if !handoff.push(Raw(topic: topic, payload: payload, received: .steadyNow)) {
                    self.counters.withLock { $0.overflow += 1 }
                    problems.warning(key: "overflow", "MQTT input buffer full; dropping messages", metadata: ["limit": "\(Self.bufferLimit)"])
                }
            },
            onConnection: { [weak publisher] up, reason in
                if up, let publisher, let c = publisher.client { publisher.connected(c) }
                self.counters.withLock { c in
                    c.connected = up
                    if up { c.connects += 1 }
                }
                // Our own clean disconnect at shutdown is not a lost broker.
                if !up, self.stopping.load(ordering: .relaxed) { return }
                self.pipeline.setConnection(Self.connectionID, up: up, reason: up ? nil : reason, at: .steadyNow)
            })
        publisher?.attach(client)
        self.client.withLock { $0 = client }
        try client.start()
        // The input is up once its network thread runs; a broker that is down is its own
        // (comm) alarm, not a reason to withhold readiness.
        readiness.markReady(.mqtt)
        let deadline = ContinuousClock.now + Self.firstConnectGrace
        while !Task.isCancelledOrShuttingDown, !client.isConnected, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !client.isConnected, !Task.isCancelledOrShuttingDown {
            pipeline.setConnection(Self.connectionID, up: false,
                                   reason: "broker \(settings.host):\(settings.port) not reachable", at: .steadyNow)
        }
        try? await gracefulShutdown()
        stopping.store(true, ordering: .relaxed)
        self.client.withLock { $0 = nil }
        if let publisher {
            publisher.attach(nil)
            publisher.goingOffline(client)
        }
        client.stop()
    }

    /// Decodes one message (`TopicRouter.decode`), then counts and logs what it dropped.
    func process(_ raw: Raw, router: TopicRouter, into samples: inout [Sample]) {
        let before = samples.count
        let drops = router.decode(topic: raw.topic, payload: raw.payload, received: raw.received,
                                  maxPayload: settings.maxPayload, into: &samples)
        let dropped = drops.payloadErrors.map { (raw.topic, $0) }
        let unmapped = drops.unmapped
        let totals = counters.withLock { c -> [String: Int] in
            c.messages += 1
            c.samples += samples.count - before
            for (_, e) in dropped { c.dropped[e.reason, default: 0] += 1 }
            if unmapped != nil { c.dropped["unmapped", default: 0] += 1 }
            return c.dropped
        }
        // The running count per reason goes into every (rate-limited) log line.
        for (_, e) in dropped { metrics?.decodeError(e.reason) }
        if unmapped != nil { metrics?.decodeError("unmapped") }
        for (topic, e) in dropped {
            problems.warning(key: "\(e.reason) \(topic)", "MQTT payload dropped", metadata: [
                "topic": "\(topic)", "reason": "\(e)", "dropped_total": "\(totals[e.reason] ?? 0)"])
        }
        if let unmapped {
            problems.warning(key: "unmapped \(raw.topic)", "MQTT message not mapped to a tag", metadata: [
                "topic": "\(raw.topic)", "reason": "\(unmapped)", "dropped_total": "\(totals["unmapped"] ?? 0)"])
        }
    }
}
