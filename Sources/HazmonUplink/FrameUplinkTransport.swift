import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// `tcp://` / `tls://`: one message per frame, each followed by the delimiter (`@@`, a newline).
/// A batch counts as delivered once its frames are written to the connection; a platform that
/// closes the connection makes the next batch reconnect. Whatever the platform sends back is
/// read and ignored.
public final class FrameUplinkTransport: UplinkTransport {
    let host: String
    let port: Int
    let delimiter: [UInt8]
    let tls: NIOSSLContext?
    let timeout: Duration
    private let channel = Mutex<Channel?>(nil)

    public init(host: String, port: Int, delimiter: [UInt8], tls: Bool, timeout: Duration, caFile: String?, certFile: String?,
                keyFile: String?) throws {
        self.host = host
        self.port = port
        self.delimiter = delimiter
        self.timeout = timeout
        self.tls = tls ? try NIOSSLContext(configuration: ClientTLS.configuration(caFile: caFile, certFile: certFile, keyFile: keyFile)) : nil
    }

    func connect() async throws -> Channel {
        if let c = channel.withLock({ $0 }), c.isActive { return c }
        let host = self.host, tls = self.tls
        let seconds = Int64(timeout.components.seconds)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(max(1, min(seconds, 10))))
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    if let tls {
                        // A name for SNI and the certificate check; an address literal is checked as is.
                        let name = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
                        try ch.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: name))
                    }
                }
            }
        let c = try await bootstrap.connect(host: host, port: port).get()
        channel.withLock { $0 = c }
        return c
    }

    public func send(_ batch: [UplinkPayload], id: String) async throws {
        let c = try await connect()
        var buffer = c.allocator.buffer(capacity: batch.reduce(0) { $0 + $1.text.utf8.count + delimiter.count })
        for m in batch {
            buffer.writeString(m.text)
            buffer.writeBytes(delimiter)
        }
        do {
            try await c.writeAndFlush(buffer).get()
        } catch {
            channel.withLock { $0 = nil }
            c.close(promise: nil)
            throw UplinkError("cannot write to \(host):\(port): \(error)")
        }
    }

    public func close() async {
        let c = channel.withLock { c in defer { c = nil }; return c }
        try? await c?.close()
    }
}
