import HazmonConfig
import HazmonCore
import HazmonMQTT
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization


/// Counters of the MQTT input, for tests, `STATUS=` and (later) metrics.
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
    let router: TopicRouter
    let pipeline: AlarmPipeline
    let logger: Logger
    let readiness: Readiness
    let problems: RateLimitedLog
    public let counters = Mutex(IngestCounters())
    private let loop: EventLoop
    /// Alarm events out on the same connection (`[mqtt.publish]`), if configured.
    let publisher: MQTTAlarmPublisher?

    /// Messages waiting for the engine before the newest are dropped (and counted).
    static let bufferLimit = 100_000
    /// The broker connection's id: the "tag" of its `comm` alarm.
    public static let connectionID = "mqtt"
    /// A broker not reached within this long after start raises the `comm` alarm.
    static let firstConnectGrace = Duration.seconds(5)

    /// - Parameter loop: the event loop that evaluates messages (the alert socket's loop).
    public init(settings: MQTTSettings, tags: [TagSettings], pipeline: AlarmPipeline, loop: EventLoop,
                readiness: Readiness, publisher: MQTTAlarmPublisher? = nil, logger: Logger) {
        self.settings = settings
        self.publisher = publisher
        self.readiness = readiness
        self.loop = loop
        self.pipeline = pipeline
        self.logger = logger
        self.problems = RateLimitedLog(logger: logger)
        var exact: [String: [TopicRouter.Binding]] = [:]
        var mapTags: [String: [String: TagHandle]] = [:]
        for t in tags {
            guard case .mqtt(let src) = t.source, let h = pipeline.handle(for: t.definition.id) else { continue }
            switch src {
            case .topic(let topic, let json): exact[topic, default: []].append(.init(tag: h, json: json))
            case .map(let id): mapTags[id, default: [:]][t.definition.id] = h
            }
        }
        let maps = settings.maps.map {
            TopicRouter.Map(id: $0.id, filter: $0.topic, template: $0.tag, json: $0.json, batch: $0.batch, tags: mapTags[$0.id] ?? [:])
        }
        self.router = TopicRouter(exact: exact, maps: maps)
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
            for raw in batch { process(raw, into: &samples) }
            if !samples.isEmpty { pipeline.ingest(samples) }
        }
        let publisher = self.publisher
        let client = try MosquittoClient(
            options: options, subscriptions: router.subscriptions, qos: settings.qos, logger: logger,
            onMessage: { topic, payload in
                if !handoff.push(Raw(topic: topic, payload: payload, received: .now)) {
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
                self.pipeline.setConnection(Self.connectionID, up: up, reason: up ? nil : reason, at: .now)
            })
        publisher?.attach(client)
        try client.start()
        // The input is up once its network thread runs; a broker that is down is its own
        // (comm) alarm, not a reason to withhold readiness.
        readiness.markReady("mqtt")
        let deadline = ContinuousClock.now + Self.firstConnectGrace
        while !Task.isCancelledOrShuttingDown, !client.isConnected, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !client.isConnected, !Task.isCancelledOrShuttingDown {
            pipeline.setConnection(Self.connectionID, up: false,
                                   reason: "broker \(settings.host):\(settings.port) not reachable", at: .now)
        }
        try? await gracefulShutdown()
        if let publisher {
            publisher.attach(nil)
            publisher.goingOffline(client)
        }
        client.stop()
    }

    func process(_ raw: Raw, into samples: inout [Sample]) {
        let before = samples.count
        var dropped: [(String, PayloadError)] = []
        var unmapped: String?
        switch router.route(raw.topic) {
        case .none:
            unmapped = "no tag or [[mqtt.map]] takes this topic"
        case .bindings(let bindings):
            do {
                let doc = try PayloadDecoder.parse(raw.payload, limit: settings.maxPayload)
                for b in bindings {
                    do throws(PayloadError) {
                        samples.append(sample(b.tag, try PayloadDecoder.point(in: doc, json: b.json), raw))
                    } catch {
                        dropped.append((raw.topic, error))
                    }
                }
            } catch {
                dropped.append((raw.topic, error))
            }
        case .map(let map, let levels):
            do {
                let doc = try PayloadDecoder.parse(raw.payload, limit: settings.maxPayload)
                let points: [Result<DecodedPoint, PayloadError>]
                if map.batch {
                    points = PayloadDecoder.batch(in: doc, json: map.json)
                } else {
                    do throws(PayloadError) { points = [.success(try PayloadDecoder.point(in: doc, json: map.json))] } catch { points = [.failure(error)] }
                }
                for p in points {
                    switch p {
                    case .failure(let e): dropped.append((raw.topic, e))
                    case .success(let point):
                        guard let id = map.template.render(levels: levels, point: point.tag) else {
                            unmapped = "template \"\(map.id)\" cannot name a tag from it"; continue
                        }
                        guard let h = map.tags[id] else {
                            unmapped = "it names tag \"\(id)\", which is not configured with mqtt_map = \"\(map.id)\""; continue
                        }
                        samples.append(sample(h, point, raw))
                    }
                }
            } catch {
                dropped.append((raw.topic, error))
            }
        }
        let totals = counters.withLock { c -> [String: Int] in
            c.messages += 1
            c.samples += samples.count - before
            for (_, e) in dropped { c.dropped[e.reason, default: 0] += 1 }
            if unmapped != nil { c.dropped["unmapped", default: 0] += 1 }
            return c.dropped
        }
        // The running count per reason goes into every (rate-limited) log line.
        for (topic, e) in dropped {
            problems.warning(key: "\(e.reason) \(topic)", "MQTT payload dropped", metadata: [
                "topic": "\(topic)", "reason": "\(e)", "dropped_total": "\(totals[e.reason] ?? 0)"])
        }
        if let unmapped {
            problems.warning(key: "unmapped \(raw.topic)", "MQTT message not mapped to a tag", metadata: [
                "topic": "\(raw.topic)", "reason": "\(unmapped)", "dropped_total": "\(totals["unmapped"] ?? 0)"])
        }
    }

    private func sample(_ h: TagHandle, _ p: DecodedPoint, _ raw: Raw) -> Sample {
        Sample(tag: h, value: p.value, quality: p.quality, sourceTime: p.sourceTime, time: raw.received)
    }
}
