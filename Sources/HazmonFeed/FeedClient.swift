import NIOCore
import NIOPosix

/// A minimal alert-socket client: connects, sends request lines, hands every received line to
/// a callback. Used by `hazmon demo` to show the feed exactly as a control-room display sees it.
public final class FeedClient: Sendable {
    private let channel: Channel

    public static func connect(path: String, onLine: @escaping @Sendable (String) -> Void,
                               onClose: @escaping @Sendable () -> Void = {}) async throws -> FeedClient {
        let ch = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineSplitter()))
                    try channel.pipeline.syncOperations.addHandler(LineCallbackHandler(onLine: onLine, onClose: onClose))
                }
            }
            .connect(unixDomainSocketPath: path).get()
        return FeedClient(channel: ch)
    }

    private init(channel: Channel) { self.channel = channel }

    public func send(_ line: String) {
        var buf = channel.allocator.buffer(capacity: line.utf8.count + 1)
        buf.writeString(line + "\n")
        channel.writeAndFlush(buf, promise: nil)
    }

    public func close() async { try? await channel.close() }
}

private struct LineSplitter: ByteToMessageDecoder {
    typealias InboundOut = String
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let nl = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return .needMoreData }
        let line = buffer.readString(length: nl - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

private final class LineCallbackHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = String
    let onLine: @Sendable (String) -> Void
    let onClose: @Sendable () -> Void
    init(onLine: @escaping @Sendable (String) -> Void, onClose: @escaping @Sendable () -> Void) {
        self.onLine = onLine
        self.onClose = onClose
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { onLine(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) { onClose() }
}
