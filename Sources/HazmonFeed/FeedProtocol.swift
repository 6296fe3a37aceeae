import Foundation
import HazmonCore

/// What the feed needs from the rest of the daemon: the engine's answers to requests.
public protocol FeedRequestHandler: Sendable {
    /// `{"type":"snapshot",...}`: the last seq and every alarm not in `normal`, as JSON objects.
    func snapshot() -> (seq: UInt64, alarms: [String])
    /// An operator's action on an alarm: acknowledge, shelve, unshelve or reset.
    func operate(_ action: OperatorAction, tag: String, condition: Condition, user: String?, note: String?) -> FeedReply
}

/// Where `subscribe` with `since` finds events older than the hub keeps in memory: the journal.
/// Reads block (SQLite), so the hub calls it on a thread pool, never on the event loop.
public protocol FeedArchive: Sendable {
    /// Events with `seq` in `after+1 ... through`, oldest first, at most `limit`: each seq and
    /// its JSON line.
    func lines(after: UInt64, through: UInt64, limit: Int) throws -> [(seq: UInt64, json: String)]
}

/// A reply line: `ok`, or an `error` with a stable code.
public enum FeedReply: Error, Sendable, Equatable {
    case ok
    case error(code: String, message: String)

    public var json: String {
        switch self {
        case .ok: return #"{"type":"ok"}"#
        case .error(let code, let message):
            var w = JSONWriter(capacity: 64 + message.utf8.count)
            w.field("type", "error")
            w.field("code", code)
            w.field("message", message)
            return w.finish()
        }
    }
}

/// One request line from a client (spec §5), decoded strictly: a field of the wrong type is
/// an error, not a silent default.
struct FeedRequest: Decodable {
    var type: String
    var since: UInt64?
    var tag: String?
    var condition: String?
    var user: String?
    var note: String?
    var `for`: String?

    static func decode(_ bytes: [UInt8]) -> Result<FeedRequest, FeedReply> {
        do {
            return .success(try JSONDecoder().decode(FeedRequest.self, from: Data(bytes)))
        } catch let DecodingError.keyNotFound(key, _) {
            return .failure(.error(code: "bad_request", message: "missing \"\(key.stringValue)\""))
        } catch let DecodingError.typeMismatch(_, ctx) {
            let field = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return .failure(.error(code: "bad_request", message: "\"\(field)\" has the wrong type"))
        } catch {
            return .failure(.error(code: "bad_json", message: "not a JSON object on one line"))
        }
    }
}
