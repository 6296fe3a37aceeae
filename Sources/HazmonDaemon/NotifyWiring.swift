import HazmonConfig
import HazmonCore
import HazmonJournal
import HazmonNotify
import HazmonPipeline
import Logging
import ServiceLifecycle

/// Runs the notifier until shutdown; what it has not sent waits in the journal's outbox.
struct NotifierService: Service {
    let notifier: Notifier

    func run() async throws {
        let task = Task { await notifier.run() }
        try? await gracefulShutdown()
        task.cancel()
        await task.value
    }
}

/// Wakes the notifier when events are committed.
struct NotifierWake: EventSink {
    let notifier: Notifier
    func deliver(_ events: [AlarmEvent], json: [String]) { notifier.wake() }
}

enum NotifyWiring {
    /// Each channel's `comm` alarm.
    static func connections(_ config: HazmonConfiguration) -> [ConnectionDefinition] {
        config.notify.channels.map { c in
            ConnectionDefinition(id: c.connectionID, name: "notification channel \(c.id) (\(c.kind.rawValue))", tags: [])
        }
    }

    /// The notifier of a configuration, or nil when no route is configured.
    static func make(config: HazmonConfiguration, journal: Journal, pipeline: PipelineLiveState, logger: Logger) throws -> Notifier? {
        let n = config.notify
        guard !n.routes.isEmpty else { return nil }
        var tags: [String: NotifyTagInfo] = [:], names: [String: String] = [:]
        for t in config.tags {
            let d = t.definition
            tags[d.id] = NotifyTagInfo(name: d.name, tagClass: d.tagClass.rawValue, hazardSource: d.hazardSource)
            names[d.id] = d.name
        }
        for v in config.votes { names[v.id] = v.name }
        let store = NotifyStore(journal: journal, routes: n.routes, tags: tags)
        let channels = try n.channels.map { c in
            do {
                return try NotifyChannel(c, readFile: ConfigLoader.readFile)
            } catch {
                throw DaemonError.runtime("notify: \(error)")
            }
        }
        let text = NotifyText(siteID: config.site.id, siteName: config.site.name, language: config.site.language, zone: config.site.timeZone,
                              consoleURL: n.consoleURL, names: names,
                              stepAfter: Dictionary(n.routes.map { ($0.id, $0.steps.map(\.after)) }, uniquingKeysWith: { a, _ in a }))
        let ids = Dictionary(n.channels.map { ($0.id, $0.connectionID) }, uniquingKeysWith: { a, _ in a })
        return Notifier(store: store, channels: channels, text: text, logger: logger) { channel, up, reason in
            guard let id = ids[channel] else { return }
            pipeline.pipeline?.setConnection(id, up: up, reason: reason, at: .steadyNow)
        }
    }
}
