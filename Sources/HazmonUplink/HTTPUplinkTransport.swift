import AsyncHTTPClient
import Foundation
import HazmonCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// `http://` / `https://`: each batch is one POST of a JSON array of messages (Base64 strings
/// when encrypted), with `X-Hazmon-Batch` naming it (the same name when it is sent again, so a
/// platform can drop a repeat). Any 2xx answer confirms the batch; anything else, a timeout
/// or a refused connection fails it.
public final class HTTPUplinkTransport: UplinkTransport {
    let url: String
    let client: HTTPClient
    let timeout: TimeAmount
    let token: String?

    public init(url: String, timeout: Duration, token: String?, caFile: String?, certFile: String?, keyFile: String?) throws {
        let tls = try ClientTLS.configuration(caFile: caFile, certFile: certFile, keyFile: keyFile)
        var config = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        let t = TimeAmount.nanoseconds(timeout.nanosecondsClamped)
        config.timeout = .init(connect: min(t, .seconds(10)), read: t)
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.url = url
        self.timeout = t
        self.token = token
    }

    public func send(_ batch: [UplinkPayload], id: String) async throws {
        var body = "["
        for (i, m) in batch.enumerated() {
            if i > 0 { body += "," }
            if m.isJSON { body += m.text } else { body += "\"" + m.text + "\"" }
        }
        body += "]"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.headers.add(name: "X-Hazmon-Batch", value: id)
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: timeout)
        let answer = try await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            let text = String(buffer: answer).prefix(200)
            throw UplinkError("the platform answered HTTP \(response.status.code)\(text.isEmpty ? "" : ": \(text)")")
        }
    }

    public func close() async {
        try? await client.shutdown()
    }
}
