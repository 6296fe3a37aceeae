
/// One message ready for the wire: JSON, or Base64 ciphertext when the uplink encrypts.
public struct UplinkPayload: Sendable {
    /// `values`, `alarms` or `heartbeat` (the MQTT topic's `{kind}`).
    public var kind: String
    /// The alarm's tag (the MQTT topic's `{tag}`), if any.
    public var tag: String?
    public var text: String
    /// Whether `text` is JSON (false: ciphertext, sent as a JSON string where JSON is needed).
    public var isJSON: Bool

    public init(kind: String, tag: String? = nil, text: String, isJSON: Bool) {
        self.kind = kind
        self.tag = tag
        self.text = text
        self.isJSON = isJSON
    }
}

/// How an uplink reaches its platform. `send` returns once the platform has confirmed every
/// message (MQTT: each PUBACK; HTTP: a 2xx answer; TCP: the frames written), in order; it throws
/// if it could not, and the uplink offers the same messages again after a pause.
public protocol UplinkTransport: Sendable {
    func send(_ batch: [UplinkPayload], id: String) async throws
    /// Ends the connection; a `send` waiting on it fails.
    func close() async
}
