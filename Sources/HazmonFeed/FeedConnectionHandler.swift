import HazmonCore
import Logging
import NIOCore

/// One client connection: hello, then request lines in and reply / event lines out.
final class FeedConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop; `client` is
    // set and read there alone.
    typealias InboundIn = LineFrame

    let hub: FeedHub
    let handler: FeedRequestHandler
    let options: AlertSocketOptions
    let logger: Logger
    private var client: FeedHub.Client?

    init(hub: FeedHub, handler: FeedRequestHandler, options: AlertSocketOptions, logger: Logger) {
        self.hub = hub
        self.handler = handler
        self.options = options
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        guard let c = hub.register(context.channel, maxClients: options.maxClients) else {
            hub.clientProblems.warning(key: "too_many", "alert socket client refused: too many clients",
                                       metadata: ["max_clients": "\(options.maxClients)"])
            reply(context, FeedReply.error(code: "too_many_clients", message: "the daemon serves at most \(options.maxClients) clients").json)
            context.close(promise: nil)
            return
        }
        client = c
        var w = JSONWriter(capacity: 80)
        w.field("type", "hello")
        w.field("v", 1)
        w.field("site", options.site)
        w.field("seq", Int64(hub.lastSeq))
        reply(context, w.finish())
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let client { hub.unregister(client) }
        client = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let client else { return }
        switch unwrapInboundIn(data) {
        case .tooLong(let n):
            reply(context, FeedReply.error(code: "line_too_long", message: "a request line of \(n) bytes exceeds \(options.maxLineBytes)").json)
        case .line(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
            handle(bytes, client: client, context: context)
        }
    }

    private func handle(_ bytes: [UInt8], client: FeedHub.Client, context: ChannelHandlerContext) {
        let request: FeedRequest
        switch FeedRequest.decode(bytes) {
        case .success(let r): request = r
        case .failure(let e): reply(context, e.json); return
        }
        switch request.type {
        case "ping":
            reply(context, #"{"type":"pong"}"#)
        case "subscribe":
            if let err = hub.subscribe(client, since: request.since) { reply(context, err.json) }
        case "snapshot":
            let snap = handler.snapshot()
            var w = JSONWriter(capacity: 64 + snap.alarms.count * 200 + snap.hazardSources.count * 300)
            w.field("type", "snapshot")
            w.field("seq", Int64(snap.seq))
            w.field("alarms", raw: "[" + snap.alarms.joined(separator: ",") + "]")
            if !snap.hazardSources.isEmpty { w.field("hazard_sources", raw: "[" + snap.hazardSources.joined(separator: ",") + "]") }
            reply(context, w.finish())
        case "ack", "shelve", "unshelve", "reset":
            guard let tag = request.tag, !tag.isEmpty else {
                reply(context, FeedReply.error(code: "bad_request", message: "\(request.type) needs \"tag\"").json); return
            }
            guard let cname = request.condition, let condition = Condition(rawValue: cname) else {
                reply(context, FeedReply.error(code: "bad_request", message: "\(request.type) needs \"condition\": one of \(Condition.allCases.map(\.rawValue).joined(separator: ", "))").json)
                return
            }
            let action: OperatorAction
            switch request.type {
            case "ack": action = .acknowledge
            case "unshelve": action = .unshelve
            case "reset": action = .reset
            default:
                var d: Duration?
                if let text = request.for {
                    do { d = try DurationParser.parse(text) } catch {
                        reply(context, FeedReply.error(code: "bad_request", message: "\"for\": \(error)").json); return
                    }
                }
                action = .shelve(d)
            }
            reply(context, handler.operate(action, tag: tag, condition: condition, user: request.user, note: request.note).json)
        case "mode":
            guard let source = request.source, !source.isEmpty else {
                reply(context, FeedReply.error(code: "bad_request", message: "mode needs \"source\": a hazard source id").json); return
            }
            guard let name = request.mode, let mode = OperatingMode(rawValue: name) else {
                reply(context, FeedReply.error(code: "bad_request", message: "mode needs \"mode\": one of \(OperatingMode.allCases.map(\.rawValue).joined(separator: ", "))").json)
                return
            }
            var d: Duration?
            if let text = request.for {
                do { d = try DurationParser.parse(text) } catch {
                    reply(context, FeedReply.error(code: "bad_request", message: "\"for\": \(error)").json); return
                }
            }
            reply(context, handler.setMode(source: source, mode: mode, for: d, user: request.user, note: request.note).json)
        default:
            reply(context, FeedReply.error(code: "unknown_request", message: "unknown request type \"\(request.type.prefix(40))\"").json)
        }
    }

    /// Replies go through the hub's queue accounting too, so a client that floods requests
    /// without reading is cut off like one that does not read events.
    private func reply(_ context: ChannelHandlerContext, _ line: String) {
        if let client {
            hub.send(line, to: client)
        } else {
            var buf = context.channel.allocator.buffer(capacity: line.utf8.count + 1)
            buf.writeString(line)
            buf.writeInteger(UInt8(ascii: "\n"))
            context.writeAndFlush(wrapOutboundOut(buf), promise: nil)
        }
    }

    typealias OutboundOut = ByteBuffer

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("alert socket client error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
