import HazmonConfig
import HazmonHistory
import HazmonCore
import HazmonModbus
import HazmonPipeline
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP: read the configuration again and apply it without a restart.
///
/// systemd (`Type=notify-reload`) is told `RELOADING=1` with `MONOTONIC_USEC`, then `READY=1`.
/// The new file is parsed and validated first: if it has errors, they are logged and the old
/// configuration keeps running. If it is valid, a new engine is built from it and takes over
/// the alarms of the old one (`AlarmPipeline.replaceEngine`): unchanged tags keep their alarm
/// state, removed tags' alarms are cleared with an event; the MQTT input routes to the new tags
/// and follows new topics; every Modbus link is restarted (changed devices reconnect). The
/// alert socket and its clients stay. Settings that only a restart can apply (site, journal,
/// sockets, log, the broker connection) are named in a warning.
final class Reloader: Service, Sendable {
    private let current: Mutex<HazmonConfiguration>
    let pipeline: AlarmPipeline
    let mqtt: MQTTIngestService?
    let modbus: ModbusService
    let history: HistoryWriter?
    let notifier: SystemdNotifier
    let logger: Logger

    init(config: HazmonConfiguration, pipeline: AlarmPipeline, mqtt: MQTTIngestService?, modbus: ModbusService,
         history: HistoryWriter?, notifier: SystemdNotifier, logger: Logger) {
        self.history = history
        current = Mutex(config)
        self.pipeline = pipeline
        self.mqtt = mqtt
        self.modbus = modbus
        self.notifier = notifier
        self.logger = logger
    }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            await reload()
        }
    }

    static var monotonicMicroseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
    }

    func reload() async {
        _ = notifier.send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds)")
        let old = current.withLock { $0 }
        logger.notice("SIGHUP: reloading the configuration", metadata: ["config": "\(old.file)"])
        let new: HazmonConfiguration
        do {
            new = try ConfigLoader.load(path: old.file)
        } catch {
            for e in error.errors { logger.error("reload refused, the previous configuration keeps running: \(e)") }
            _ = notifier.send("READY=1\nSTATUS=reload refused (\(error.errors.count) errors); running the previous configuration")
            return
        }
        let later = Self.restartOnly(old, new)
        if !later.isEmpty {
            logger.warning("reload: these changes take effect at the next restart: \(later.joined(separator: ", "))")
        }
        for w in new.warnings { logger.warning("configuration deviation accepted: \(w)") }
        let engine = Daemon.makeEngine(new)
        // The history learns the new handles before the first sample that carries them.
        history?.setTags(HistoryWiring.table(engine: engine, generation: pipeline.handles().generation + 1, config: new))
        pipeline.replaceEngine(with: engine, at: .steadyNow)
        if let mqtt, let settings = new.mqtt ?? old.mqtt { mqtt.reconfigure(settings: settings, tags: new.tags) }
        await modbus.replace(with: new)
        current.withLock { $0 = new }
        FreedMemory.release()   // the old engine and configuration
        let oldIDs = Set(old.tags.map(\.definition.id)), newIDs = Set(new.tags.map(\.definition.id))
        logger.notice("configuration reloaded", metadata: [
            "tags": "\(new.tags.count)", "added": "\(newIDs.subtracting(oldIDs).count)",
            "removed": "\(oldIDs.subtracting(newIDs).count)", "modbus_devices": "\(new.modbusDevices.count)"])
        _ = notifier.send("READY=1\nSTATUS=reloaded: \(new.tags.count) tags")
    }

    /// What a reload cannot apply to a running daemon.
    static func restartOnly(_ a: HazmonConfiguration, _ b: HazmonConfiguration) -> [String] {
        var out: [String] = []
        if a.site != b.site { out.append("[site]") }
        if a.log != b.log { out.append("[log]") }
        if a.journal != b.journal { out.append("[journal]") }
        if a.history != b.history { out.append("[history]") }
        if a.alertSocket != b.alertSocket { out.append("[alert_socket]") }
        if a.remoteFeed != b.remoteFeed { out.append("[remote_feed]") }
        switch (a.mqtt, b.mqtt) {
        case (nil, nil): break
        case (nil, _), (_, nil): out.append("[mqtt] added or removed")
        case (var x?, var y?):
            x.maps = []
            y.maps = []
            if x != y { out.append("[mqtt] broker connection and [mqtt.publish]") }
        }
        return out
    }
}
