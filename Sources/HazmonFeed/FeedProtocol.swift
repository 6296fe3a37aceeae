import Foundation
import HazmonCore

/// What the feed needs from the rest of the daemon: the engine's answers to requests.
public protocol FeedRequestHandler: Sendable {
    /// `{"type":"snapshot",...}`: the last seq, every alarm not in `normal` and every hazard
    /// source's grade, as JSON objects.
    func snapshot() -> FeedSnapshot
    /// An operator's action on an alarm: acknowledge, shelve, unshelve or reset.
    func operate(_ action: OperatorAction, tag: String, condition: Condition, user: String?, note: String?) -> FeedReply
    /// A hazard source's operating mode declared (spec §13), or ended with `normal`.
    func setMode(source: String, mode: OperatingMode, for duration: Duration?, user: String?, note: String?) -> FeedReply
}

/// A snapshot's parts, each item one JSON object.
public struct FeedSnapshot: Sendable {
    public var seq: UInt64
    public var alarms: [String]
    /// Hazard sources' live R and level (spec §13); empty where none is configured.
    public var hazardSources: [String]

    public init(seq: UInt64, alarms: [String], hazardSources: [String] = []) {
        self.seq = seq
        self.alarms = alarms
        self.hazardSources = hazardSources
    }
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
/// an error, not a silent default; so is a key given twice.
struct FeedRequest: Decodable {
    var type: String
    var since: UInt64?
    var tag: String?
    var condition: String?
    var user: String?
    var note: String?
    var `for`: String?
    /// `mode` requests: the hazard source and the mode.
    var source: String?
    var mode: String?

    /// Bounds on what an operator's request may carry into the journal and every client's feed.
    static let maxTag = 128
    static let maxUser = 64
    static let maxNote = 1_000

    enum CodingKeys: String, CodingKey { case type, since, tag, condition, user, note, `for`, source, mode }

    /// Thrown by `init(from:)` for a value of the right JSON type but out of range.
    struct Invalid: Error { let message: String }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        if c.contains(.since), !(try c.decodeNil(forKey: .since)) {
            // A seq is a whole number from 0; say so for -1, 1.5 or 1e30 instead of "bad JSON".
            if let v = try? c.decode(UInt64.self, forKey: .since) {
                since = v
            } else if (try? c.decode(Double.self, forKey: .since)) != nil {
                throw Invalid(message: "\"since\" must be a seq: a whole number from 0 to \(UInt64.max)")
            } else {
                since = try c.decode(UInt64.self, forKey: .since)
            }
        }
        tag = try c.decodeIfPresent(String.self, forKey: .tag)
        condition = try c.decodeIfPresent(String.self, forKey: .condition)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        note = try c.decodeIfPresent(String.self, forKey: .note)
        self.for = try c.decodeIfPresent(String.self, forKey: .for)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        mode = try c.decodeIfPresent(String.self, forKey: .mode)
        for (key, value, limit) in [("tag", tag, Self.maxTag), ("user", user, Self.maxUser), ("note", note, Self.maxNote),
                                    ("source", source, Self.maxTag), ("mode", mode, Self.maxTag)] {
            if let value, value.count > limit {
                throw Invalid(message: "\"\(key)\" is longer than \(limit) characters")
            }
        }
    }

    static func decode(_ bytes: [UInt8]) -> Result<FeedRequest, FeedReply> {
        if let key = JSONDuplicateKeys.first(in: bytes) {
            return .failure(.error(code: "bad_request", message: "the key \(key.quoted()) appears twice"))
        }
        do {
            return .success(try JSONDecoder().decode(FeedRequest.self, from: Data(bytes)))
        } catch let e as Invalid {
            return .failure(.error(code: "bad_request", message: e.message))
        } catch let DecodingError.keyNotFound(key, _) {
            return .failure(.error(code: "bad_request", message: "missing \"\(key.stringValue)\""))
        } catch let DecodingError.typeMismatch(_, ctx) {
            guard !ctx.codingPath.isEmpty else {
                return .failure(.error(code: "bad_request", message: "a request is a JSON object, e.g. {\"type\":\"ping\"}"))
            }
            let field = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return .failure(.error(code: "bad_request", message: "\"\(field)\" has the wrong type"))
        } catch {
            return .failure(.error(code: "bad_json", message: "not a JSON object on one line"))
        }
    }
}
