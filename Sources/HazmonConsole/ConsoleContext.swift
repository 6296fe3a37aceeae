import HazmonFeed
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

/// A console request's context: Hummingbird's core plus the session the cookie named.
public struct ConsoleContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `SessionGate` for a request with a live session.
    var session: Sessions.Session?
    var token: String?
    /// The connection, so a stream whose browser stopped reading can be cut off.
    let channel: (any Channel)?

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Answers and their headers, in one place.
enum Reply {
    static let sessionCookie = "hazmon_session"

    static func json(_ body: String, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        json(FeedReply.error(code: code, message: message).json, status: status)
    }

    static func text(_ body: String, type: String, status: HTTPResponse.Status = .ok, cache: Bool = false,
                     extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: type, .cacheControl: cache ? "max-age=300" : "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func redirect(_ to: String) -> Response {
        Response(status: .seeOther, headers: [.location: to, .cacheControl: "no-store"])
    }

    /// Pages: no framing by other sites, no inline script, nothing from elsewhere.
    static let pageHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]
}

