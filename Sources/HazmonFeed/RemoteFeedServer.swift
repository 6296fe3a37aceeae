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
    /// From accept to a valid token, TLS handshake included.
    public var authDeadline: TimeAmount = .seconds(10)
    /// The bound on connections still authenticating.
    public var admission = FeedAdmission()

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
        let admission = options.admission
        let refusals = RateLimitedLog(logger: logger)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptErrorLogger(logger: logger, what: "remote feed"))
                }
            }
            .childChannelInitializer { channel in
                let address = channel.remoteAddress?.ipAddress ?? "?"
                if let why = admission.admit(address) {
                    refusals.warning(key: "pending", "remote feed connection refused before TLS", metadata: ["reason": "\(why)"])
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(NIOSSLServerHandler(context: context))
                    try ops.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: socketOptions.maxLineBytes)))
                    try ops.addHandler(FeedAuthHandler(token: options.token, deadline: options.authDeadline, logger: logger) {
                        admission.release(address)
                    })
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
/// connection (and send hello). A wrong token, or none within the deadline from accept (the
/// TLS handshake included: a client that never finishes it is closed too): an error line if
/// TLS is up, then close. `done` runs once the connection no longer waits to authenticate.
final class FeedAuthHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = LineFrame
    typealias InboundOut = LineFrame

    struct Auth: Decodable {
        var type: String
        var token: String?
    }

    let token: [UInt8]
    let deadline: TimeAmount
    let logger: Logger
    private var authenticated = false
    private var timeout: Scheduled<Void>?
    private var done: (() -> Void)?

    init(token: [UInt8], deadline: TimeAmount, logger: Logger, done: @escaping () -> Void) {
        self.token = token
        self.deadline = deadline
        self.logger = logger
        self.done = done
    }

    /// Runs `done` once.
    private func finishWaiting() {
        done?()
        done = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // From accept: the deadline covers the TLS handshake too.
        let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: deadline) { [self] in
            refuse(ctx.value, code: "auth_timeout", "send {\"type\":\"auth\",\"token\":\"…\"} first")
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        // Not forwarded: the feed starts (hello, registration) only after authentication.
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        finishWaiting()
        if authenticated { context.fireChannelInactive() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !authenticated else { context.fireChannelRead(data); return }
        guard case .line(let bytes) = unwrapInboundIn(data), JSONDuplicateKeys.first(in: bytes) == nil,
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
        finishWaiting()
        context.fireChannelActive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Before authentication a failed handshake is a scanner's noise, not news.
        logger.log(level: authenticated ? .info : .debug, "remote feed connection closed", metadata: ["reason": "\(error)"])
        context.close(promise: nil)
    }

    /// The error line, then close; if the line cannot go out (no TLS yet, a peer that does not
    /// read), the connection is closed a second later regardless.
    private func refuse(_ context: ChannelHandlerContext, code: String, _ message: String) {
        finishWaiting()
        let line = FeedReply.error(code: code, message: message).json + "\n"
        var buf = context.channel.allocator.buffer(capacity: line.utf8.count)
        buf.writeString(line)
        let channel = context.channel
        context.writeAndFlush(NIOAny(buf)).whenComplete { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
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
