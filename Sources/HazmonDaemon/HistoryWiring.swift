import HazmonConfig
import HazmonCore
import HazmonHistory
import HazmonPipeline
import HazmonPostgres
import Logging
import ServiceLifecycle

/// The history writer as the pipeline's sample recorder: every evaluated sample is queued.
struct HistoryRecorder: SampleRecorder {
    let writer: HistoryWriter
    func record(_ samples: [Sample], generation: Int, wallOffset: Duration) {
        writer.record(samples, generation: generation, offset: wallOffset)
    }
}

/// Runs the history's thread from start to shutdown; on shutdown it writes what is queued.
struct HistoryService: Service {
    let writer: HistoryWriter

    func run() async throws {
        writer.start()
        try? await gracefulShutdown()
        await NamedThread.run("hazmon-hstop") { writer.stop() }
    }
}

enum HistoryWiring {
    /// The `comm` alarm raised while the history cannot be written.
    static let connectionID = "history"

    /// The writer's settings; the outbox has a reader for the PostgreSQL copy and for each
    /// uplink that sends stored values, and holds as many points as the largest of their bounds.
    static func writerSettings(_ h: HistorySettings, uplinks: [UplinkSettings] = []) -> HistoryWriterSettings {
        var s = HistoryWriterSettings(path: h.path, retention: h.retention, maxGap: h.maxGap, batch: h.batch)
        var limits: [Int] = []
        if let pg = h.postgres {
            s.outboxReaders.append("postgres")
            limits.append(pg.queueMax)
        }
        for u in uplinks where u.valuesOnChange {
            s.outboxReaders.append(UplinkWiring.outboxReader(u))
            limits.append(u.backlogMax)
        }
        if let most = limits.max() { s.outboxLimit = most }
        return s
    }

    /// An engine's tags by handle index, with each tag's recording policy.
    static func table(engine: Engine, generation: Int, config: HazmonConfiguration) -> HistoryTagTable {
        let names = engine.tags.map(\.definition.id)   // a tag's handle is its index here
        let gap = (config.history?.maxGap ?? .seconds(60)).nanosecondsClamped / 1_000_000
        var policies = [HistoryPolicy](repeating: HistoryPolicy(maxGapMillis: gap), count: names.count)
        for t in config.tags {
            guard let h = engine.handle(for: t.definition.id) else { continue }
            policies[h.index] = HistoryPolicy(deadband: t.history.deadband, maxGapMillis: gap, float64: t.history.float64)
        }
        return HistoryTagTable(generation: generation, names: names, policies: policies)
    }
}

/// Forwards the history's outbox to the park's PostgreSQL until shutdown; what is not yet
/// delivered stays in the outbox for the next start.
struct PostgresCopyService: Service {
    let copy: PostgresCopy

    func run() async throws {
        let task = Task { await copy.run() }
        try? await gracefulShutdown()
        task.cancel()
        await task.value
    }
}

extension HistoryWiring {
    /// The `comm` alarm raised while the PostgreSQL copy cannot be written.
    static let postgresConnectionID = "history-postgres"

    /// The copy's settings; the password is read from its file now (the config checked it).
    static func postgresSettings(_ p: HistoryPostgresSettings, site: String) throws -> PostgresCopySettings {
        var password: String?
        if let f = p.passwordFile {
            guard let text = ConfigLoader.readFile(f) else { throw DaemonError.runtime("history.postgres: cannot read password_file \(f)") }
            password = String(decoding: ConfigLoader.token(text), as: UTF8.self)
        }
        let tls: PostgresCopySettings.TLSMode = switch p.sslmode {
        case .disable: .disable
        case .require: .require
        case .verifyFull: .verifyFull(caFile: p.caFile)
        }
        return PostgresCopySettings(host: p.host, port: p.port, username: p.user, password: password, database: p.database, tls: tls,
                                    table: p.table, site: site)
    }
}
