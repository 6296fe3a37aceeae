import AsyncHTTPClient
import Crypto
import Foundation
import HazmonConfig
import HazmonCore
import NIOCore
import NIOHTTP1

/// Why a channel did not take a message (the text goes into the log and the comm alarm).
public struct NotifyError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// One `[[notify.channel]]` and how its messages go out: the request each kind's API expects
/// (spec §9), and what counts as taken. Secrets (a robot URL's token, DingTalk's signing secret,
/// a gateway's bearer token) come from files read when the channel is made.
public struct NotifyChannel: Sendable {
    public let settings: NotifyChannelSettings
    let url: String
    let secret: String?
    let token: String?
    let template: FieldTemplate?

    public init(_ settings: NotifyChannelSettings, readFile: (String) -> String?) throws {
        self.settings = settings
        func secretFile(_ path: String?, _ key: String) throws -> String? {
            guard let path else { return nil }
            guard let text = readFile(path) else { throw NotifyError("channel \(settings.id): cannot read \(key) \(path)") }
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !t.isEmpty else { throw NotifyError("channel \(settings.id): \(key) \(path) is empty") }
            return t
        }
        guard let u = try settings.url ?? secretFile(settings.urlFile, "url_file") else {
            throw NotifyError("channel \(settings.id): no url")
        }
        url = u
        secret = try secretFile(settings.secretFile, "secret_file")
        token = try secretFile(settings.tokenFile, "token_file")
        template = settings.template.map(FieldTemplate.init)
    }

    /// DingTalk's signed URL: `timestamp` (ms) and `sign`, the Base64 of HMAC-SHA256 over
    /// "timestamp\nsecret" keyed by the secret, URL-encoded.
    public static func dingTalkSign(url: String, secret: String, timestampMs: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestampMs)\n\(secret)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        let sign = Data(mac).base64EncodedString()
        return url + (url.contains("?") ? "&" : "?") + "timestamp=\(timestampMs)&sign=" + percentEncode(sign)
    }

    static func percentEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// A JSON string's content (without the quotes).
    static func jsonEscaped(_ s: String) -> String {
        var quoted = ""
        JSONWriter.appendQuoted(s, to: &quoted)
        return String(quoted.dropFirst().dropLast())
    }

    static func json(_ fields: [(String, Any)]) -> String {
        let o = try? JSONSerialization.data(withJSONObject: Dictionary(fields, uniquingKeysWith: { a, _ in a }), options: [.sortedKeys, .withoutEscapingSlashes])
        return o.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The request for one message: URL, headers and body.
    public func request(_ m: NotifyMessage, _ r: NotifyText.Rendered, now: Instant) -> (url: String, contentType: String, body: String, headers: [(String, String)]) {
        var headers = [("X-Hazmon-Idempotency-Key", m.key)]
        if let token { headers.append(("Authorization", "Bearer " + token)) }
        let mentions = settings.mobiles
        switch settings.kind {
        case .dingtalk:
            let text = r.markdown + (mentions.isEmpty ? "" : "\n\n" + mentions.map { "@" + $0 }.joined(separator: " "))
            let body = Self.json([("msgtype", "markdown"), ("markdown", ["title": r.title, "text": text]),
                                  ("at", ["atMobiles": mentions, "isAtAll": false] as [String: Any])])
            let signed = secret.map { Self.dingTalkSign(url: url, secret: $0, timestampMs: now.nanoseconds / 1_000_000) } ?? url
            return (signed, "application/json; charset=utf-8", body, headers)
        case .wecom:
            let body = mentions.isEmpty
                ? Self.json([("msgtype", "markdown"), ("markdown", ["content": r.markdown])])
                : Self.json([("msgtype", "text"), ("text", ["content": r.title + "\n" + r.short, "mentioned_mobile_list": mentions] as [String: Any])])
            return (url, "application/json; charset=utf-8", body, headers)
        case .webhook, .sms:
            var fields = r.fields
            fields["phones"] = mentions.joined(separator: ",")
            if let template {
                let ct = settings.contentType.lowercased()
                let body = template.render { name in
                    let v = fields[name] ?? ""
                    if ct.contains("json") { return Self.jsonEscaped(v) }
                    if ct.contains("x-www-form-urlencoded") { return Self.percentEncode(v) }
                    return v
                }
                return (url, settings.contentType, body, headers)
            }
            // The webhook's own form: the notification and, for one alarm, the event itself.
            var head = JSONWriter(capacity: 512)
            head.field("type", "notification")
            head.field("v", 1)
            head.field("key", m.key)
            head.field("kind", m.kind.rawValue)
            head.field("site", fields["site"] ?? "")
            head.field("channel", m.channel)
            head.field("route", m.route)
            head.field("step", Int64(m.step))
            head.field("title", r.title)
            head.field("text", r.markdown)
            head.field("short", r.short)
            if let l = fields["link"], !l.isEmpty { head.field("link", l) }
            var body = head.finish()
            body.removeLast()
            body += (m.kind == .digest ? ",\"events\":" : ",\"event\":") + m.body + "}"
            return (url, "application/json; charset=utf-8", body, headers)
        }
    }

    /// Sends one message; throws unless the channel took it (2xx, and for the robots `errcode` 0).
    public func send(_ m: NotifyMessage, _ r: NotifyText.Rendered, client: HTTPClient, now: Instant) async throws {
        let req = request(m, r, now: now)
        var request = HTTPClientRequest(url: req.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: req.contentType)
        for (k, v) in req.headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(string: req.body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .nanoseconds(settings.timeout.nanosecondsClamped))
        } catch {
            throw NotifyError("\(Self.redacted(req.url)): \(error)")
        }
        let answer = String(buffer: try await response.body.collect(upTo: 64 * 1024))
        guard (200..<300).contains(response.status.code) else {
            throw NotifyError("HTTP \(response.status.code)\(answer.isEmpty ? "" : ": \(answer.prefix(200))")")
        }
        if settings.kind == .dingtalk || settings.kind == .wecom {
            // The robots answer 200 with an error code: 0 is taken; anything else (a bad sign,
            // a rate limit, a wrong key) is not.
            let o = (try? JSONSerialization.jsonObject(with: Data(answer.utf8))) as? [String: Any]
            let code = (o?["errcode"] as? NSNumber)?.intValue
            guard code == 0 else {
                throw NotifyError("the robot answered errcode \(code.map(String.init) ?? "missing"): \((o?["errmsg"] as? String) ?? answer.prefix(200).description)")
            }
        }
    }

    /// A URL without its query (robot tokens and signatures stay out of logs and alarms).
    static func redacted(_ url: String) -> String {
        url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
    }
}
