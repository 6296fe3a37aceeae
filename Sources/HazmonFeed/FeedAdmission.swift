import Logging
import NIOCore
import Synchronization

/// Connections of the remote feed that have not yet authenticated (TLS handshake and token
/// still to come), bounded in all and per source address, so a crowd of idle or crawling
/// connections can use neither the daemon's file descriptors nor its event loop: past the
/// bound, a connection is closed at accept, before TLS starts.
public final class FeedAdmission: Sendable {
    public let maxPending: Int
    public let maxPendingPerAddress: Int
    private let pending = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

    public init(maxPending: Int = 32, maxPendingPerAddress: Int = 4) {
        self.maxPending = maxPending
        self.maxPendingPerAddress = maxPendingPerAddress
    }

    /// Takes a place for a new connection from `address`, or says why there is none.
    func admit(_ address: String) -> String? {
        pending.withLock { p in
            if p.total >= maxPending { return "\(maxPending) connections are already waiting to authenticate" }
            if p.byAddress[address, default: 0] >= maxPendingPerAddress {
                return "\(maxPendingPerAddress) connections from \(address) are already waiting to authenticate"
            }
            p.total += 1
            p.byAddress[address, default: 0] += 1
            return nil
        }
    }

    /// Gives the place back (authenticated, refused or closed).
    func release(_ address: String) {
        pending.withLock { p in
            p.total -= 1
            let n = p.byAddress[address, default: 1] - 1
            p.byAddress[address] = n > 0 ? n : nil
        }
    }

    public var waiting: Int { pending.withLock { $0.total } }
}

/// On a listening channel: accept errors (EMFILE: out of file descriptors) are logged at most
/// once per interval. NIO's accept backoff, on by default, pauses accepting for a moment.
final class AcceptErrorLogger: ChannelInboundHandler, Sendable {
    typealias InboundIn = Channel
    let log: RateLimitedLog
    let what: String

    init(logger: Logger, what: String) {
        self.log = RateLimitedLog(logger: logger)
        self.what = what
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        log.log(.error, key: "accept", "\(what): cannot accept connections; pausing", metadata: ["reason": "\(error)"])
    }
}
