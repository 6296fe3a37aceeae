import HazmonCore
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Settings of the alert socket (spec §5).
public struct AlertSocketOptions: Sendable {
    public var path: String
    public var mode: UInt32
    public var site: String
    public var maxClients: Int
    public var maxLineBytes: Int

    public init(path: String, mode: UInt32, site: String, maxClients: Int, maxLineBytes: Int = 65_536) {
        self.path = path
        self.mode = mode
        self.site = site
        self.maxClients = maxClients
        self.maxLineBytes = maxLineBytes
    }
}

public struct AlertSocketError: Error, CustomStringConvertible {
    public let description: String
}

/// The Unix stream socket that control-room displays and platforms subscribe to.
public final class AlertSocketServer: Sendable {
    let options: AlertSocketOptions
    let hub: FeedHub
    let handler: FeedRequestHandler
    let logger: Logger
    private let channel: Channel

    /// Binds the socket (replacing a stale one left by a crash) and starts accepting.
    public static func start(options: AlertSocketOptions, hub: FeedHub, handler: FeedRequestHandler,
                             group: EventLoopGroup, logger: Logger) async throws -> AlertSocketServer {
        try removeStaleSocket(options.path)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptErrorLogger(logger: logger, what: "alert socket"))
                }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: options.maxLineBytes)))
                    try channel.pipeline.syncOperations.addHandler(
                        FeedConnectionHandler(hub: hub, handler: handler, options: options, logger: logger))
                }
            }
        let ch: Channel
        do {
            ch = try await bootstrap.bind(unixDomainSocketPath: options.path, cleanupExistingSocketFile: false).get()
        } catch {
            let dir = options.path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            let why = access(dir.isEmpty ? "/" : dir, F_OK) == 0 ? "\(error)" : "its directory \(dir) does not exist"
            throw AlertSocketError(description: "cannot listen on the alert socket \(options.path): \(why)")
        }
        guard chmod(options.path, mode_t(options.mode)) == 0 else {
            try? await ch.close()
            throw AlertSocketError(description: "chmod \(options.path): \(String(cString: strerror(errno)))")
        }
        logger.info("alert socket listening", metadata: ["path": "\(options.path)", "mode": "\(String(options.mode, radix: 8))"])
        return AlertSocketServer(options: options, hub: hub, handler: handler, logger: logger, channel: ch)
    }

    private init(options: AlertSocketOptions, hub: FeedHub, handler: FeedRequestHandler, logger: Logger, channel: Channel) {
        self.options = options
        self.hub = hub
        self.handler = handler
        self.logger = logger
        self.channel = channel
    }

    /// Stops accepting, closes the socket file.
    public func close() async {
        try? await channel.close()
        unlink(options.path)
    }

    /// A socket file left by a crashed daemon is removed; a live one (another daemon answers) or
    /// a file that is not a socket is an error, never deleted.
    static func removeStaleSocket(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw AlertSocketError(description: "\(path) exists and is not a socket; refusing to replace it")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AlertSocketError(description: "socket(): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc == 0 {
            throw AlertSocketError(description: "another process is serving \(path); is hazmon already running?")
        }
        unlink(path)
    }
}
