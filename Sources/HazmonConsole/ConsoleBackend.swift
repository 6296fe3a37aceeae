import Foundation
import HazmonCore
import HazmonFeed
import HazmonJournal

/// What the console needs from the daemon: the feed's answers (snapshot, operator actions,
/// modes), the tags' live values, the journal's events and the daemon's health.
public protocol ConsoleBackend: FeedRequestHandler {
    /// Every configured tag as a JSON object (`TagView.json`), or only the tag `id`.
    func tags(only id: String?) -> [String]
    /// Journaled events; blocking (SQLite): the console calls it on a thread pool.
    func events(_ q: EventQuery) throws -> [JournalEntry]
    /// As the metrics endpoint's health: ready and evaluating, or why not.
    func health() -> (ok: Bool, status: String)
}

/// `[console]` as the server takes it.
public struct ConsoleOptions: Sendable {
    public var host: String
    public var port: Int
    /// TLS when both are set (PEM files).
    public var certFile: String?
    public var keyFile: String?
    public var site: String
    public var siteName: String
    /// IANA zone the pages show times in.
    public var timezone: String
    /// The page language when the browser asks for neither (Accept-Language) nor chose one.
    public var language: Language
    public var sessionIdle: Duration = .seconds(12 * 3600)
    /// Where sessions outlive a restart (nil: memory only).
    public var sessionsFile: String?
    /// Browsers' live streams at once; more get 503.
    public var maxStreams = 100

    public init(host: String, port: Int, site: String, siteName: String, timezone: String, language: Language) {
        self.host = host
        self.port = port
        self.site = site
        self.siteName = siteName
        self.timezone = timezone
        self.language = language
    }

    public var tls: Bool { certFile != nil && keyFile != nil }
}
