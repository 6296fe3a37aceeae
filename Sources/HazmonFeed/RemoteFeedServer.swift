import HazmonCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Foundation

/// Settings of the optional remote feed: the alert socket's protocol over TCP with TLS, for a
/// park platform or a display that is not on this host.
public struct RemoteFeedOptions: Sendable {
    public var host: String
    public var port: Int
    public var certFile: String
    public var keyFile: String
    /// The shared secret a client sends first: `{"type":"auth","token":"..."}`.
    public var token: [UInt8]
    public var site: String
    public var maxClients: Int

    public init(host: String, port: Int, certFile: String, keyFile: String, token: [UInt8], site: String, maxClients: Int) {
        self.host = host
        self.port = port
        self.certFile = certFile
        self.keyFile = keyFile
        self.token = token
        self.site = site
        self.maxClients = maxClients
    }
}

/// The remote feed: TLS (swift-nio-ssl), then a token, then exactly the alert socket's
/// protocol (hello, subscribe with since, snapshot, operator actions, ping), sharing its hub.
public final class RemoteFeedServer: Sendable {
    private let channel: Channel
    public let port: Int

    public static func start(options: RemoteFeedOptions, hub: FeedHub, handler: FeedRequestHandler,
                             group: EventLoopGroup, logger: Logger) async throws -> RemoteFeedServer {
        let context: NIOSSLContext
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(options.certFile).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: options.keyFile, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw AlertSocketError(description: "remote feed TLS: cannot load \(options.certFile) / \(options.keyFile): \(error)")
        }
        let socketOptions = AlertSocketOptions(path: "", mode: 0, site: options.site, maxClients: options.maxClients)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(NIOSSLServerHandler(context: context))
                    try ops.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: socketOptions.maxLineBytes)))
                    try ops.addHandler(FeedAuthHandler(token: options.token, logger: logger))
                    try ops.addHandler(FeedConnectionHandler(hub: hub, handler: handler, options: socketOptions, logger: logger))
                }
            }
        let ch: Channel
        do {
            ch = try await bootstrap.bind(host: options.host, port: options.port).get()
        } catch {
            throw AlertSocketError(description: "remote feed: cannot listen on \(options.host):\(options.port): \(error)")
        }
        let port = ch.localAddress?.port ?? options.port
        logger.info("remote feed listening (TLS, token)", metadata: ["address": "\(options.host):\(port)"])
        return RemoteFeedServer(channel: ch, port: port)
    }

    private init(channel: Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    public func close() async { try? await channel.close() }
}

/// Holds a remote connection until its first line is `{"type":"auth","token":"…"}` with the
/// right token (compared in constant time); only then does the feed's handler see the
/// connection (and send hello). A wrong token or none within 10 s: an error line, then close.
final class FeedAuthHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = LineFrame
    typealias InboundOut = LineFrame

    struct Auth: Decodable {
        var type: String
        var token: String?
    }

    let token: [UInt8]
    let logger: Logger
    private var authenticated = false
    private var timeout: Scheduled<Void>?
    static let deadline = TimeAmount.seconds(10)

    init(token: [UInt8], logger: Logger) {
        self.token = token
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        // Not forwarded: the feed starts (hello, registration) only after authentication.
        let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: Self.deadline) { [self] in
            refuse(ctx.value, code: "auth_timeout", "send {\"type\":\"auth\",\"token\":\"…\"} first")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !authenticated else { context.fireChannelRead(data); return }
        guard case .line(let bytes) = unwrapInboundIn(data),
              let auth = try? JSONDecoder().decode(Auth.self, from: Data(bytes)), auth.type == "auth", let given = auth.token
        else {
            refuse(context, code: "unauthorized", "the first line must be {\"type\":\"auth\",\"token\":\"…\"}")
            return
        }
        guard Self.constantTimeEqual(Array(given.utf8), token) else {
            logger.warning("remote feed: wrong token", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            refuse(context, code: "unauthorized", "wrong token")
            return
        }
        authenticated = true
        timeout?.cancel()
        context.fireChannelActive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.info("remote feed connection closed", metadata: ["reason": "\(error)"])
        context.close(promise: nil)
    }

    private func refuse(_ context: ChannelHandlerContext, code: String, _ message: String) {
        let line = FeedReply.error(code: code, message: message).json + "\n"
        var buf = context.channel.allocator.buffer(capacity: line.utf8.count)
        buf.writeString(line)
        context.writeAndFlush(NIOAny(buf)).whenComplete { _ in context.close(promise: nil) }
    }

    /// Equal length and bytes, in time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}
