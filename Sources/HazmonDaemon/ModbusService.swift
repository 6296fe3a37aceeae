import Foundation
import HazmonConfig
import HazmonCore
import HazmonPipeline
import HazmonModbus
import Logging
import ServiceLifecycle
import Synchronization

/// Modbus acquisition as a service: one `ModbusTCPMux` (one thread) for every TCP device
/// without a `pause`, one `ModbusBus` (a thread owning one libmodbus context) per serial port
/// and per TCP device with a pause; samples go straight into the pipeline, device failures
/// become the devices' `comm` alarms.
final class ModbusService: Service, Sendable {
    private let buses = Mutex<[any ModbusLinkOwner]>([])
    let pipeline: AlarmPipeline
    let readiness: Readiness
    let logger: Logger
    let metrics: DaemonMetrics?
    private let initial: HazmonConfiguration

    /// The engine's connections: one per device, covering its tags (their quality is bad
    /// while it is down).
    static func connections(_ config: HazmonConfiguration) -> [ConnectionDefinition] {
        config.modbusDevices.map { d in
            ConnectionDefinition(id: d.id, name: "Modbus device \(d.id) (\(d.url))",
                                 tags: config.tags.compactMap { t in
                                     if case .modbus(let s) = t.source, s.device == d.id { return t.definition.id }
                                     return nil
                                 })
        }
    }

    init(config: HazmonConfiguration, pipeline: AlarmPipeline, readiness: Readiness, metrics: DaemonMetrics? = nil, logger: Logger) {
        self.metrics = metrics
        self.initial = config
        self.pipeline = pipeline
        self.readiness = readiness
        self.logger = logger
    }

    /// The links of a configuration, their tags resolved in the pipeline's current engine.
    func makeBuses(_ config: HazmonConfiguration) -> [any ModbusLinkOwner] {
        let (generation, handles) = pipeline.handles()
        var byDevice: [String: [ModbusBinding]] = [:]
        for t in config.tags {
            guard case .modbus(let s) = t.source, let h = handles[t.definition.id] else { continue }
            byDevice[s.device, default: []].append(ModbusBinding(source: s, tag: h))
        }
        // TCP: a link per device, all on the multiplexer unless the device needs a pause
        // between requests. RTU: a link per port, shared by every device on that bus.
        var links: [String: [(ModbusDeviceSettings, [ModbusBinding])]] = [:]
        var order: [String] = []
        var multiplexed: [(ModbusDeviceSettings, [ModbusBinding])] = []
        for d in config.modbusDevices {
            let bindings = byDevice[d.id] ?? []
            guard !bindings.isEmpty || d.heartbeat != nil else {
                logger.warning("Modbus device has no tags and no heartbeat; not polled", metadata: ["device": "\(d.id)"])
                continue
            }
            let key: String
            switch d.transport {
            case .tcp where d.pause == .zero:
                multiplexed.append((d, bindings))
                continue
            case .tcp: key = "tcp:" + d.id
            case .rtu(let path, _, _, _, _): key = "rtu:" + path
            }
            if links[key] == nil { order.append(key) }
            links[key, default: []].append((d, bindings))
        }
        let pipeline = self.pipeline
        let metrics = self.metrics
        let handlers = ModbusHandlers(
            samples: { samples in
                pipeline.ingest(samples, generation: generation)
                metrics?.modbusSamples.increment(by: samples.count)
            },
            connection: { device, up, reason in pipeline.setConnection(device, up: up, reason: reason, at: .steadyNow) },
            polled: { device, took in metrics?.modbusPoll(device: device, took: took) })
        var owners: [any ModbusLinkOwner] = order.map { ModbusBus(devices: links[$0]!, handlers: handlers, logger: logger) }
        if !multiplexed.isEmpty { owners.append(ModbusTCPMux(devices: multiplexed, handlers: handlers, logger: logger)) }
        return owners
    }

    /// A reload: every link stops (at most one response timeout each, side by side) and the
    /// new configuration's links start and connect afresh.
    func replace(with config: HazmonConfiguration) async {
        let old = buses.withLock { b in defer { b = [] }; return b }
        await Self.stopAll(old)
        let new = makeBuses(config)
        buses.withLock { $0 = new }
        for b in new { b.start() }
    }

    func run() async throws {
        let first = makeBuses(initial)
        buses.withLock { $0 = first }
        for b in first { b.start() }
        readiness.markReady(.modbus)
        try? await gracefulShutdown()
        await Self.stopAll(buses.withLock { b in defer { b = [] }; return b })
    }

    static func stopAll(_ list: [any ModbusLinkOwner]) async {
        await withTaskGroup(of: Void.self) { g in
            for b in list { g.addTask { await NamedThread.run("hazmon-mbstop") { b.stop() } } }
        }
    }
}
