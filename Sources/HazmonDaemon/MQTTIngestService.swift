import HazmonConfig
import HazmonCore
import HazmonPipeline
import HazmonFeed
import HazmonMQTT
import Foundation
import Logging
import ServiceLifecycle
import Synchronization


/// Counters of the MQTT input, for tests, `STATUS=` and the metrics endpoint.
public struct IngestCounters: Sendable, Equatable {
    public var messages = 0
    public var samples = 0
    public var dropped: [String: Int] = [:]
    public var connected = false
    public var connects = 0
}

/// MQTT telemetry in: the MQTT client's network thread reads each pass of messages off the
/// socket and, in the same pass, decodes them, routes them to their tags and evaluates them.
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
    /// The Sparkplug B host's state and the pipeline generation its handles belong to; nil
    /// without `[[mqtt.sparkplug]]`. Replaced (and every node asked to rebirth) by a reload.
    private let sparkplug: Mutex<(host: SparkplugHost, generation: Int)?>
    /// `sparkplug_host`: this host's STATE topic, and the timestamp its birth and will share.
    private let stateTopic: String?
    private let stateStamp: UInt64
    let pipeline: AlarmPipeline
    let logger: Logger
    let readiness: Readiness
    let problems: RateLimitedLog
    public let counters = Mutex(IngestCounters())
    /// Alarm events out on the same connection (`[mqtt.publish]`), if configured.
    let publisher: MQTTAlarmPublisher?
    let metrics: DaemonMetrics?

    /// The broker connection's id: the "tag" of its `comm` alarm.
    public static let connectionID = "mqtt"
    /// A broker not reached within this long after start raises the `comm` alarm.
    static let firstConnectGrace = Duration.seconds(5)

    public init(settings: MQTTSettings, tags: [TagSettings], pipeline: AlarmPipeline,
                readiness: Readiness, publisher: MQTTAlarmPublisher? = nil, metrics: DaemonMetrics? = nil, logger: Logger) {
        self.settings = settings
        self.metrics = metrics
        self.publisher = publisher
        self.readiness = readiness
        self.pipeline = pipeline
        self.logger = logger
        self.problems = RateLimitedLog(logger: logger)
        let (generation, handles) = pipeline.handles()
        self.routing = Mutex((Self.router(settings: settings, tags: tags, handles: handles), generation))
        self.sparkplug = Mutex(Self.sparkplugHost(settings: settings, tags: tags, handles: handles).map { ($0, generation) })
        self.stateTopic = settings.sparkplugHost.map { SparkplugTopic.state(host: $0) }
        self.stateStamp = Self.wallMilliseconds
    }

    static var wallMilliseconds: UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1_000)) }

    /// The Sparkplug host for the `[[mqtt.sparkplug]]` groups, resolved to the engine's tags.
    static func sparkplugHost(settings: MQTTSettings, tags: [TagSettings], handles: TagNameIndex) -> SparkplugHost? {
        guard !settings.sparkplug.isEmpty else { return nil }
        var named: [String: [String: TagHandle]] = [:]
        var explicit: [String: [SparkplugMetricName: TagHandle]] = [:]
        for t in tags {
            guard case .mqtt(.sparkplug(let id, let metric)) = t.source, let h = handles[t.definition.id] else { continue }
            if let metric { explicit[id, default: [:]][metric] = h } else { named[id, default: [:]][t.definition.id] = h }
        }
        return SparkplugHost(groups: settings.sparkplug.map { g in
            SparkplugHost.Group(id: g.id, group: g.group, declared: Dictionary(uniqueKeysWithValues: g.nodes.map { ($0, g.connectionID($0)) }),
                                template: g.tag, tags: named[g.id] ?? [:], explicit: explicit[g.id] ?? [:],
                                rebirth: g.rebirth, birthTimeout: g.birthTimeout)
        })
    }

    /// Every topic filter: the router's, each Sparkplug group's tree, and this host's STATE.
    private func subscriptions(_ router: TopicRouter) -> [String] {
        router.subscriptions + (sparkplug.withLock { $0?.host.subscriptions } ?? []) + (stateTopic.map { [$0] } ?? [])
    }

    /// Routes exact topics and `[[mqtt.map]]` filters to the engine's tag handles.
    static func router(settings: MQTTSettings, tags: [TagSettings], handles: TagNameIndex) -> TopicRouter {
        var exact: [String: [TopicRouter.Binding]] = [:]
        var mapTags: [String: [(String, TagHandle)]] = [:]
        for t in tags {
            guard case .mqtt(let src) = t.source, let h = handles[t.definition.id] else { continue }
            switch src {
            case .topic(let topic, let json): exact[topic, default: []].append(.init(tag: h, json: json))
            case .map(let id): mapTags[id, default: []].append((t.definition.id, h))
            case .sparkplug: break   // the Sparkplug host's (`sparkplugHost`)
            }
        }
        let maps = settings.maps.map { m in
            let own = mapTags[m.id] ?? []
            // A map that feeds every tag (a park's one gateway map) shares the engine's index:
            // its tags are distinct engine tags, as many as the engine has, so the same set.
            let index = own.count == handles.count ? handles : TagNameIndex(own)
            return TopicRouter.Map(id: m.id, filter: m.topic, template: m.tag, json: m.json, batch: m.batch,
                                   format: m.format == .neuron ? .neuron : .plain, tags: index)
        }
        return TopicRouter(exact: exact, maps: maps)
    }

    /// A reload: new tags and topic maps (the broker connection stays; its settings apply at the
    /// next start). Subscriptions follow the new topics at once.
    public func reconfigure(settings new: MQTTSettings, tags: [TagSettings]) {
        let (generation, handles) = pipeline.handles()
        let router = Self.router(settings: new, tags: tags, handles: handles)
        routing.withLock { $0 = (router, generation) }
        let host = Self.sparkplugHost(settings: new, tags: tags, handles: handles)
        sparkplug.withLock { $0 = host.map { ($0, generation) } }
        let client = client.withLock { $0 }
        client?.updateSubscriptions(subscriptions(router))
        // The new host knows no births: every node is asked for one.
        if let client, client.isConnected { sparkplugConnected() }
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
            will: stateTopic.map { ($0, Array(SparkplugCodec.state(online: false, at: stateStamp).utf8), true) } ?? publisher?.will)
        let publisher = self.publisher
        let client = try MosquittoClient(
            options: options, subscriptions: subscriptions(routing.withLock { $0.router }), qos: settings.qos, logger: logger,
            onMessages: { [self] batch in consume(batch, received: .steadyNow) },
            onConnection: { [weak publisher] up, reason in
                if up, let publisher, let c = publisher.client { publisher.connected(c) }
                self.counters.withLock { c in
                    c.connected = up
                    if up { c.connects += 1 }
                }
                // Our own clean disconnect at shutdown is not a lost broker.
                if !up, self.stopping.load(ordering: .relaxed) { return }
                self.pipeline.setConnection(Self.connectionID, up: up, reason: up ? nil : reason, at: .steadyNow)
                if up { self.sparkplugConnected() }
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
        // Until shutdown; Sparkplug's birth deadlines need a clock (a reload may add a group, so
        // the clock runs whether or not one is configured now; without one a tick does nothing).
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: .milliseconds(250))
            sparkplugTick()
        }
        stopping.store(true, ordering: .relaxed)
        if let stateTopic, client.isConnected {
            // A clean exit: say so now (the will is for an unclean one).
            _ = client.publish(topic: stateTopic, payload: SparkplugCodec.state(online: false, at: stateStamp), qos: 1, retain: true)
        }
        self.client.withLock { $0 = nil }
        if let publisher {
            publisher.attach(nil)
            publisher.goingOffline(client)
        }
        client.stop()
    }

    /// The messages of one read pass, on the MQTT client's network thread: decoded, routed and
    /// evaluated in the same pass, with no hand-off to another thread.
    func consume(_ batch: [MQTTMessage], received: Instant) {
        var samples: [Sample] = []
        samples.reserveCapacity(batch.count)
        let (router, generation) = routing.withLock { $0 }
        let readsSparkplug = sparkplug.withLock { $0 != nil }
        var clean = 0   // messages that dropped nothing: counted together, below
        var cleanSamples = 0
        for m in batch {
            let raw = Raw(topic: m.topic, payload: m.payload, received: received)
            if readsSparkplug, raw.topic.hasPrefix(Self.sparkplugPrefix) {
                processSparkplug(raw, generation: generation, into: &samples)
            } else {
                let before = samples.count
                let drops = router.decode(topic: raw.topic, payload: raw.payload, received: raw.received,
                                          maxPayload: settings.maxPayload, into: &samples)
                if drops.isEmpty {
                    clean += 1
                    cleanSamples += samples.count - before
                } else {
                    count(drops, topic: raw.topic, samples: samples.count - before)
                }
            }
        }
        if clean > 0 {
            counters.withLock { c in
                c.messages += clean
                c.samples += cleanSamples
            }
        }
        ingest(&samples, generation: generation)
    }

    private static let sparkplugPrefix = "\(SparkplugTopic.namespace)/"

    /// Evaluates the samples gathered so far and empties the buffer.
    private func ingest(_ samples: inout [Sample], generation: Int) {
        guard !samples.isEmpty else { return }
        defer { samples.removeAll(keepingCapacity: true) }
        guard let metrics else { pipeline.ingest(samples, generation: generation); return }
        let started = ContinuousClock.now
        pipeline.ingest(samples, generation: generation)
        metrics.engineEvaluation.recordNanoseconds((ContinuousClock.now - started).nanosecondsClamped)
        metrics.mqttSamples.increment(by: samples.count)
    }

    /// One Sparkplug B message through the host (`SparkplugHost.handle`); its actions applied.
    func processSparkplug(_ raw: Raw, generation: Int, into samples: inout [Sample]) {
        if let stateTopic, raw.topic == stateTopic {
            // Our own STATE: someone (the broker, with an old will) says we are offline; we are not.
            if !raw.payload.isEmpty, !String(decoding: raw.payload, as: UTF8.self).contains("\"online\":true"),
               let client = client.withLock({ $0 }), client.isConnected {
                _ = client.publish(topic: stateTopic, payload: SparkplugCodec.state(online: true, at: stateStamp), qos: 1, retain: true)
            }
            return
        }
        guard let topic = SparkplugTopic(raw.topic) else {
            count(MessageDrops(unmapped: "not a Sparkplug B edge node or device topic"), topic: raw.topic, samples: 0)
            return
        }
        var mine: [Sample] = []
        let actions = sparkplug.withLock { state -> SparkplugHost.Actions? in
            guard state != nil, state!.generation == generation else { return nil }
            return state!.host.handle(topic, payload: raw.payload, received: raw.received, wallMilliseconds: Self.wallMilliseconds,
                                      maxPayload: settings.maxPayload, into: &mine)
        }
        guard let actions else { return }
        apply(actions, generation: generation, flushing: &samples)
        samples += mine
        count(MessageDrops(payloadErrors: actions.drops), topic: raw.topic, samples: mine.count)
    }

    /// Carries out what the Sparkplug host decided. Connection changes wait for the samples
    /// before them, so a value sent before a death is evaluated before the death.
    private func apply(_ a: SparkplugHost.Actions, generation: Int, flushing samples: inout [Sample]) {
        if !a.members.isEmpty || !a.connections.isEmpty { ingest(&samples, generation: generation) }
        for (id, tags) in a.members.sorted(by: { $0.key < $1.key }) {
            pipeline.setConnectionMembers(id, tags: tags, generation: generation)
        }
        for c in a.connections {
            pipeline.setConnection(c.id, up: c.up, reason: c.reason, at: .steadyNow)
        }
        if !a.commands.isEmpty, let client = client.withLock({ $0 }) {
            for cmd in a.commands {
                _ = client.publish(topic: cmd.topic, bytes: cmd.payload, qos: 0, retain: false)
                logger.info("Sparkplug rebirth requested", metadata: ["topic": "\(cmd.topic)"])
            }
        }
        for note in a.notes { problems.warning(key: note, "\(note)") }
    }

    /// Connected (again): this host's STATE online, then every node asked for its birth.
    private func sparkplugConnected() {
        if let stateTopic, let client = client.withLock({ $0 }) {
            _ = client.publish(topic: stateTopic, payload: SparkplugCodec.state(online: true, at: stateStamp), qos: 1, retain: true)
        }
        let ms = Self.wallMilliseconds
        guard let (actions, generation) = sparkplug.withLock({ s -> (SparkplugHost.Actions, Int)? in
            guard s != nil else { return nil }
            return (s!.host.connected(now: .steadyNow, wallMilliseconds: ms), s!.generation)
        }) else { return }
        var none: [Sample] = []
        apply(actions, generation: generation, flushing: &none)
    }

    private func sparkplugTick() {
        let ms = Self.wallMilliseconds
        guard let (actions, generation) = sparkplug.withLock({ s -> (SparkplugHost.Actions, Int)? in
            guard s != nil else { return nil }
            return (s!.host.tick(now: .steadyNow, wallMilliseconds: ms), s!.generation)
        }) else { return }
        var none: [Sample] = []
        apply(actions, generation: generation, flushing: &none)
    }

    /// Counts and logs (rate-limited) what one message dropped.
    private func count(_ drops: MessageDrops, topic: String, samples added: Int) {
        let dropped = drops.payloadErrors.map { (topic, $0) }
        let unmapped = drops.unmapped
        let totals = counters.withLock { c -> [String: Int] in
            c.messages += 1
            c.samples += added
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
            problems.warning(key: "unmapped \(topic)", "MQTT message not mapped to a tag", metadata: [
                "topic": "\(topic)", "reason": "\(unmapped)", "dropped_total": "\(totals["unmapped"] ?? 0)"])
        }
    }
}
