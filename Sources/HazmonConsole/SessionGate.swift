import HazmonCore
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// Who may see what (spec §10), before any route runs, for every path (unknown ones too):
/// - the login page, the login call, the health check and the static code are open;
/// - any other `/api/…` needs a live session (else 401), pages redirect to `/login`;
/// - every POST but the login needs `X-CSRF-Token` equal to the session's (else 403);
/// - the role is the users file's as it is now: a user removed from it is logged out at the
///   next request, a role changed there applies at once.
struct SessionGate: RouterMiddleware {
    typealias Context = ConsoleContext
    let sessions: Sessions
    let users: UsersFile
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    static let open: Set<String> = ["/login", "/api/login", "/healthz", "/static/console.js", "/static/console.css", "/favicon.ico"]

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if Self.open.contains(path) { return try await next(request, context) }
        var context = context
        if let token = request.cookies[Reply.sessionCookie]?.value, var s = sessions.session(token, at: .now) {
            if let user = users.user(named: s.user) {
                s.role = user.role
                context.session = s
                context.token = token
            } else {
                sessions.close(token)
            }
        }
        guard let session = context.session else {
            if path.hasPrefix("/api/") || request.method != .get {
                return Reply.error(.unauthorized, "no_session", "log in first: POST /api/login")
            }
            return Reply.redirect("/login")
        }
        if request.method != .get && request.method != .head {
            guard let sent = request.headers[Self.csrfHeader], Sessions.same(sent, session.csrf) else {
                return Reply.error(.forbidden, "csrf", "a POST needs the X-CSRF-Token header of this session (from /api/me)")
            }
        }
        return try await next(request, context)
    }
}
