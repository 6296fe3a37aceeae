import Foundation
import HazmonCore
import HazmonFeed
import HazmonJournal
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The operator's web console (spec §10): pages, the JSON API and the live event stream,
/// served by Hummingbird on the daemon's event loop. Everything it shows comes from the
/// pipeline (live state) and the journal (events), so it never shows what the journal lacks.
public struct ConsoleServer: Sendable {
    let options: ConsoleOptions
    let backend: any ConsoleBackend
    let users: UsersFile
    let sessions: Sessions
    /// The console's own hub: its clients are browsers' event streams.
    let hub: FeedHub
    let logger: Logger
    let zone: TimeZone

    public init(options: ConsoleOptions, backend: any ConsoleBackend, users: UsersFile, hub: FeedHub, logger: Logger) {
        self.options = options
        self.backend = backend
        self.users = users
        self.sessions = Sessions(idle: options.sessionIdle, file: options.sessionsFile)
        self.hub = hub
        self.logger = logger
        self.zone = TimeZone(identifier: options.timezone) ?? .current
    }

    /// The application, ready to run as a service; `onRunning` gets the bound port.
    /// Writes the sessions' last use (at a shutdown).
    public func flushSessions() { sessions.flush() }

    public func application(group: EventLoopGroup, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws
        -> some ApplicationProtocol {
        let router = Router(context: ConsoleContext.self)
        router.middlewares.add(SessionGate(sessions: sessions, users: users))
        addPages(router)
        addAPI(router)
        let server: HTTPServerBuilder
        if let cert = options.certFile, let key = options.keyFile {
            let chain: [NIOSSLCertificateSource]
            let privateKey: NIOSSLPrivateKey
            do { chain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) } } catch {
                throw ConsoleError("console: cert_file \(cert) is not a PEM certificate chain (\(error))")
            }
            do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
                throw ConsoleError("console: key_file \(key) is not a PEM private key (\(error))")
            }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        return Application(router: router, server: server,
                           configuration: .init(address: .hostname(options.host, port: options.port), serverName: "hazmon"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? options.port) },
                           eventLoopGroupProvider: .shared(group), logger: quiet)
    }

    // MARK: pages

    private func addPages(_ router: Router<ConsoleContext>) {
        router.get("/login") { req, _ in self.page(.login, req) }
        router.get("/") { req, _ in self.page(.alarms, req) }
        router.get("/sources") { req, _ in self.page(.sources, req) }
        router.get("/history") { req, _ in self.page(.history, req) }
        router.get("/tags/:id") { req, _ in self.page(.tag, req) }
        router.get("/static/console.js") { _, _ in Reply.text(ConsoleAssets.script, type: "text/javascript; charset=utf-8", cache: true) }
        router.get("/static/console.css") { _, _ in Reply.text(ConsoleAssets.style, type: "text/css; charset=utf-8", cache: true) }
        router.get("/favicon.ico") { _, _ in Response(status: .noContent) }
    }

    private func page(_ which: ConsolePage, _ req: Request) -> Response {
        let lang = language(req)
        return Reply.text(ConsoleAssets.page(which, language: lang, siteName: options.siteName), type: "text/html; charset=utf-8",
                          extra: Reply.pageHeaders)
    }

    /// The `lang` cookie the page's switch sets, else the browser's Accept-Language, else the site's.
    func language(_ req: Request) -> Language {
        if let c = req.cookies["lang"]?.value, let l = Language(rawValue: c) { return l }
        if let accept = req.headers[.acceptLanguage] {
            for part in accept.split(separator: ",") {
                let tag = part.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
                if tag.hasPrefix("zh") { return .zhCN }
                if tag.hasPrefix("en") { return .en }
            }
        }
        return options.language
    }

    // MARK: API

    private func addAPI(_ router: Router<ConsoleContext>) {
        router.post("/api/login") { req, _ in try await self.login(req) }
        router.post("/api/logout") { _, ctx in
            if let t = ctx.token { self.sessions.close(t) }
            return Reply.json(#"{"type":"ok"}"#, extra: [.setCookie: self.cookie("", maxAge: 0)])
        }
        router.get("/api/me") { _, ctx in
            let s = ctx.session!
            var w = JSONWriter(capacity: 200)
            w.field("type", "me")
            w.field("user", s.user)
            w.field("role", s.role.rawValue)
            w.field("csrf", s.csrf)
            w.field("site", self.options.site)
            w.field("site_name", self.options.siteName)
            w.field("timezone", self.options.timezone)
            return Reply.json(w.finish())
        }
        router.get("/healthz") { _, _ in
            let (ok, status) = self.backend.health()
            return Reply.text(status + "\n", type: "text/plain; charset=utf-8", status: ok ? .ok : .serviceUnavailable)
        }
        router.get("/api/snapshot") { _, _ in Reply.json(self.snapshotJSON()) }
        router.get("/api/tags") { _, _ in
            Reply.json(#"{"type":"tags","tags":["# + self.backend.tags(only: nil).joined(separator: ",") + "]}")
        }
        router.get("/api/tags/:id") { _, ctx in
            let id = ctx.parameters.get("id")?.removingPercentEncoding ?? ""
            guard let tag = self.backend.tags(only: id).first else {
                return Reply.error(.notFound, "unknown_tag", "no tag \(id.quoted()) is configured")
            }
            return Reply.json(tag)
        }
        router.get("/api/events") { req, _ in try await self.events(req, csv: false) }
        router.get("/api/events.csv") { req, _ in try await self.events(req, csv: true) }
        router.get("/api/stream") { req, ctx in self.stream(req, channel: ctx.channel) }
        router.post("/api/alarms/:tag/:condition/:action") { req, ctx in try await self.act(req, ctx) }
        router.post("/api/sources/:id/mode") { req, ctx in try await self.mode(req, ctx) }
    }

    func snapshotJSON() -> String {
        let snap = backend.snapshot()
        var w = JSONWriter(capacity: 64 + snap.alarms.count * 200 + snap.hazardSources.count * 300)
        w.field("type", "snapshot")
        w.field("seq", Int64(snap.seq))
        w.field("alarms", raw: "[" + snap.alarms.joined(separator: ",") + "]")
        w.field("hazard_sources", raw: "[" + snap.hazardSources.joined(separator: ",") + "]")
        return w.finish()
    }

    func cookie(_ token: String, maxAge: Int? = nil) -> String {
        var c = "\(Reply.sessionCookie)=\(token); Path=/; HttpOnly; SameSite=Strict"
        if options.tls { c += "; Secure" }
        if let maxAge { c += "; Max-Age=\(maxAge)" }
        return c
    }

    /// A body of at most `limit` bytes as a JSON object, or an error reply.
    func jsonBody(_ req: Request, limit: Int = 4_096) async throws -> Result<[String: Any], HTTPResponseError> {
        var req = req
        let buf: ByteBuffer
        do { buf = try await req.collectBody(upTo: limit) } catch {
            return .failure(HTTPResponseError(.contentTooLarge, "too_large", "the request body is over \(limit) bytes"))
        }
        if buf.readableBytes == 0 { return .success([:]) }
        let bytes = Array(buf.readableBytesView)
        if let key = JSONDuplicateKeys.first(in: bytes) {
            return .failure(HTTPResponseError(.badRequest, "bad_request", "the key \(key.quoted()) appears twice"))
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return .failure(HTTPResponseError(.badRequest, "bad_json", "the body must be one JSON object"))
        }
        return .success(object)
    }

    private func login(_ req: Request) async throws -> Response {
        guard req.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            return Reply.error(.unsupportedMediaType, "bad_request", "POST /api/login takes application/json: {\"name\",\"password\"}")
        }
        let body: [String: Any]
        switch try await jsonBody(req) {
        case .failure(let e): return e.response
        case .success(let b): body = b
        }
        guard let name = body["name"] as? String, let password = body["password"] as? String, !name.isEmpty,
              name.count <= 64, password.count <= 1_024 else {
            return Reply.error(.badRequest, "bad_request", "login needs \"name\" and \"password\" (strings)")
        }
        if case .locked(let after) = sessions.check(name, at: .now) {
            return Reply.error(.tooManyRequests, "locked", "too many failed logins for \(name.quoted()): try again in \(after) s")
        }
        let user = users.user(named: name)
        // A name nobody has still costs one bcrypt check: the answer's time does not say which.
        let hash = user?.passwordHash ?? Self.dummyHash
        let ok = try await NIOThreadPool.singleton.runIfActive { ConsoleUser(name: name, role: .viewer, passwordHash: hash).verify(password) }
        guard ok, let user else {
            let locked = sessions.failed(name, at: .now)
            logger.warning("console login failed", metadata: ["user": "\(name)", "locked": "\(locked)"])
            if locked {
                return Reply.error(.tooManyRequests, "locked", "too many failed logins for \(name.quoted()): locked for \(Int(Sessions.lockFor.components.seconds)) s")
            }
            return Reply.error(.unauthorized, "bad_login", "wrong name or password")
        }
        let (token, session) = sessions.open(user: user.name, role: user.role, at: .now)
        logger.info("console login", metadata: ["user": "\(user.name)", "role": "\(user.role.rawValue)"])
        var w = JSONWriter(capacity: 120)
        w.field("type", "ok")
        w.field("csrf", session.csrf)
        w.field("role", user.role.rawValue)
        return Reply.json(w.finish(), extra: [.setCookie: cookie(token)])
    }

    /// A valid hash of a random password (cost 12), so unknown names take as long as known.
    static let dummyHash = ConsoleUser.hash(Sessions.randomToken())

    private func act(_ req: Request, _ ctx: ConsoleContext) async throws -> Response {
        let session = ctx.session!
        guard session.role >= .operator else {
            return Reply.error(.forbidden, "forbidden", "\(session.user) is a \(session.role.rawValue): acting on alarms needs operator or engineer")
        }
        let tag = ctx.parameters.get("tag")?.removingPercentEncoding ?? ""
        let cname = ctx.parameters.get("condition") ?? ""
        guard let condition = Condition(rawValue: cname) else {
            return Reply.error(.badRequest, "bad_request", "unknown condition \(cname.quoted()): one of \(Condition.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let body: [String: Any]
        switch try await jsonBody(req) {
        case .failure(let e): return e.response
        case .success(let b): body = b
        }
        let note = body["note"] as? String
        if let n = body["note"], note == nil { return Reply.error(.badRequest, "bad_request", "\"note\" must be a string, not \(n)") }
        if let note, note.count > 1_000 { return Reply.error(.badRequest, "bad_request", "\"note\" is longer than 1000 characters") }
        let action: OperatorAction
        switch ctx.parameters.get("action") ?? "" {
        case "ack": action = .acknowledge
        case "unshelve": action = .unshelve
        case "reset": action = .reset
        case "shelve":
            // From the console a shelf always has a reason and an end (spec §10).
            guard let text = body["for"] as? String else {
                return Reply.error(.badRequest, "shelve_needs_duration", "shelve needs \"for\": how long, e.g. \"30m\"")
            }
            guard let note, !note.trimmingCharacters(in: .whitespaces).isEmpty else {
                return Reply.error(.badRequest, "shelve_needs_reason", "shelve needs \"note\": the reason")
            }
            do { action = .shelve(try DurationParser.parse(text)) } catch {
                return Reply.error(.badRequest, "bad_request", "\"for\": \(error)")
            }
        case let other:
            return Reply.error(.notFound, "unknown_action", "no action \(other.quoted()): ack, shelve, unshelve or reset")
        }
        return operated(backend.operate(action, tag: tag, condition: condition, user: session.user, note: note))
    }

    private func mode(_ req: Request, _ ctx: ConsoleContext) async throws -> Response {
        let session = ctx.session!
        guard session.role >= .engineer else {
            return Reply.error(.forbidden, "forbidden", "\(session.user) is a \(session.role.rawValue): declaring a mode needs engineer")
        }
        let body: [String: Any]
        switch try await jsonBody(req) {
        case .failure(let e): return e.response
        case .success(let b): body = b
        }
        guard let name = body["mode"] as? String, let mode = OperatingMode(rawValue: name) else {
            return Reply.error(.badRequest, "bad_request", "mode needs \"mode\": one of \(OperatingMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var d: Duration?
        if let text = body["for"] as? String {
            do { d = try DurationParser.parse(text) } catch { return Reply.error(.badRequest, "bad_request", "\"for\": \(error)") }
        }
        let source = ctx.parameters.get("id")?.removingPercentEncoding ?? ""
        return operated(backend.setMode(source: source, mode: mode, for: d, user: session.user, note: body["note"] as? String))
    }

    private func operated(_ reply: FeedReply) -> Response {
        switch reply {
        case .ok: return Reply.json(reply.json)
        case .error(let code, _):
            let status: HTTPResponse.Status = ["unknown_tag", "unknown_condition", "no_such_alarm", "unknown_source"].contains(code)
                ? .notFound : code.hasSuffix("_needs_duration") || code.hasSuffix("_needs_reason") || code.hasSuffix("_too_long") ? .badRequest : .conflict
            return Reply.json(reply.json, status: status)
        }
    }

    // MARK: events and the stream

    /// `GET /api/events?since=SEQ&limit=N&tag=&condition=&grade=&event=&from=&until=&newest=1`
    private func events(_ req: Request, csv: Bool) async throws -> Response {
        let p = req.uri.queryParameters
        var q = EventQuery()
        q.limit = csv ? 100_000 : 1_000
        if let s = p["since"] {
            guard let v = UInt64(s) else { return Reply.error(.badRequest, "bad_request", "since must be a seq (a whole number)") }
            q.afterSeq = v
        }
        if let s = p["limit"] {
            guard let v = Int(s), v > 0 else { return Reply.error(.badRequest, "bad_request", "limit must be a positive whole number") }
            q.limit = min(v, csv ? 100_000 : 10_000)
        }
        if let s = p["grade"], !s.isEmpty {
            guard let g = Int(s), (1...4).contains(g) else { return Reply.error(.badRequest, "bad_request", "grade must be 1 to 4") }
            q.grade = g
        }
        for (key, value) in [("from", p["from"]), ("until", p["until"])] {
            guard let value, !value.isEmpty else { continue }
            guard let t = TimeInput.parse(String(value), zone: zone) else {
                return Reply.error(.badRequest, "bad_request", "\(key): \(String(value).quoted()) is not a time (2026-11-23T08:15:00Z, 2026-11-23 16:15, or an age like 2h)")
            }
            if key == "from" { q.from = t } else { q.until = t }
        }
        func text(_ k: String) -> String? { p[Substring(k)].flatMap { $0.isEmpty ? nil : String($0).removingPercentEncoding } }
        q.tag = text("tag")
        q.condition = text("condition")
        q.event = text("event")
        q.newestFirst = p["newest"] == "1"
        let query = q
        let backend = backend
        let rows = try await NIOThreadPool.singleton.runIfActive { try backend.events(query) }
        if csv {
            return Reply.text(EventCSV.render(rows, zone: zone), type: "text/csv; charset=utf-8",
                              extra: [.contentDisposition: "attachment; filename=\"hazmon-events.csv\""])
        }
        var w = JSONWriter(capacity: 64 + rows.count * 400)
        w.field("type", "events")
        w.field("events", raw: "[" + rows.map(\.json).joined(separator: ",") + "]")
        return Reply.json(w.finish())
    }

    /// Server-Sent Events: every event after `Last-Event-ID` (or `?since=`), then live, gapless.
    private func stream(_ req: Request, channel: (any Channel)?) -> Response {
        let sinceText = req.headers[HTTPField.Name("Last-Event-ID")!] ?? req.uri.queryParameters["since"].map(String.init)
        var since: UInt64?
        if let sinceText, !sinceText.isEmpty {
            guard let v = UInt64(sinceText) else { return Reply.error(.badRequest, "bad_request", "Last-Event-ID / since must be a seq") }
            since = v
        }
        let out = EventStreamOutput(channel: channel)
        guard let client = hub.register(out, maxClients: options.maxStreams) else {
            return Reply.error(.serviceUnavailable, "too_many_clients", "the console serves at most \(options.maxStreams) live streams")
        }
        if let err = hub.subscribe(client, since: since) {
            hub.unregister(client)
            return Reply.json(err.json, status: .conflict)
        }
        let hub = hub
        let body = ResponseBody { writer in
            let beat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(15))
                    out.keepAlive()
                }
            }
            defer {
                beat.cancel()
                out.drop()
                hub.unregister(client)
            }
            // Reconnect after 2 s when the daemon restarts; the browser sends Last-Event-ID.
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            while let chunks = await out.next() {
                var buf = chunks[0].bytes
                if chunks.count > 1 {
                    buf = ByteBuffer()
                    buf.reserveCapacity(chunks.reduce(0) { $0 + $1.bytes.readableBytes })
                    for c in chunks { buf.writeImmutableBuffer(c.bytes) }
                }
                do {
                    try await writer.write(buf)
                } catch {
                    for c in chunks { c.taken?() }
                    out.drop()
                    throw error
                }
                for c in chunks { c.taken?() }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store",
                                               HTTPField.Name("X-Accel-Buffering")!: "no"], body: body)
    }
}

/// Why the console cannot start.
public struct ConsoleError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// An API error with its status, before it becomes a response.
struct HTTPResponseError: Error {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
    var response: Response { Reply.error(status, code, message) }
}
