import HazmonConfig
import HazmonConsole
import HazmonCore
import HazmonFeed
import HazmonJournal
import HazmonPipeline
import Logging
import NIOCore
import ServiceLifecycle

/// The console's view of the daemon: the pipeline's live state and the journal's events.
struct PipelineConsoleBackend: ConsoleBackend {
    let feed: PipelineFeedHandler
    let journal: Journal
    let daemonHealth: DaemonHealth

    func snapshot() -> FeedSnapshot { feed.snapshot() }
    func operate(_ action: OperatorAction, tag: String, condition: Condition, user: String?, note: String?) -> FeedReply {
        feed.operate(action, tag: tag, condition: condition, user: user, note: note)
    }
    func setMode(source: String, mode: OperatingMode, for duration: Duration?, user: String?, note: String?) -> FeedReply {
        feed.setMode(source: source, mode: mode, for: duration, user: user, note: note)
    }
    func tags(only id: String?) -> [String] { feed.pipeline.tagViews(only: id).map(\.json) }
    func events(_ q: EventQuery) throws -> [JournalEntry] { try journal.search(q) }
    func health() -> (ok: Bool, status: String) { daemonHealth.check() }
}

extension ConsoleUser {
    /// The users file's records as the console's users.
    static func parseFile(_ text: String) throws -> [ConsoleUser] {
        try UsersFileFormat.parse(text).map { ConsoleUser(name: $0.name, role: ConsoleRole(rawValue: $0.role) ?? .viewer, passwordHash: $0.passwordHash) }
    }
}

/// `[console]` as a service: binds at start (READY waits for it), and at a shutdown tells
/// every browser's stream `bye` and ends it, so the HTTP server can finish.
struct ConsoleService: Service {
    let server: ConsoleServer
    let hub: FeedHub
    let users: UsersFile
    let loop: EventLoop
    let readiness: Readiness
    let logger: Logger
    let url: String

    func run() async throws {
        if let problem = users.problem {
            logger.warning("console: \(problem); nobody can log in until `hazmon user add NAME --role operator` creates a user")
        }
        let app = try server.application(group: loop) { port in
            readiness.markReady(.console)
            logger.info("console listening", metadata: ["url": "\(url.replacingOccurrences(of: ":0/", with: ":\(port)/"))"])
        }
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            server.flushSessions()
            hub.goodbye()
            hub.closeAll()
        }
    }
}
