/// `[[uplink]]`: the site's values and alarms sent up to a park or regulator platform (spec §9),
/// each with durable cursors of its own.
public struct UplinkSettings: Sendable, Equatable {
    /// How the platform is reached; every kind with or without TLS.
    public enum Transport: String, Sendable, Equatable {
        /// `mqtt://` / `mqtts://`: QoS 1 publishes to `topic`.
        case mqtt
        /// `http://` / `https://`: a JSON array of messages per POST.
        case http
        /// `tcp://` / `tls://`: one message per frame, ended by `frame.delimiter`.
        case tcp
    }

    /// How times are written for the platform.
    public enum TimeFormat: String, Sendable, Equatable {
        /// `2026-11-23T08:15:02.123Z`, UTC (the events' own form).
        case rfc3339
        /// `2026-11-23 16:15:02`, Asia/Shanghai, as many provincial access specifications ask.
        case beijing
    }

    public var id: String
    public var url: String
    public var transport: Transport
    public var tls: Bool
    public var host: String
    public var port: Int
    /// 企业编码: in every message.
    public var enterpriseCode = ""
    /// A full snapshot of every tag's value and quality this often; nil: none.
    public var valuesEvery: Duration? = .seconds(10)
    /// Each value the history stores, between snapshots (store-and-forward).
    public var valuesOnChange = true
    /// Alarm events, from the journal (store-and-forward).
    public var alarms = true
    /// A heartbeat message this often; nil: none.
    public var heartbeat: Duration? = .seconds(60)
    public var timeFormat: TimeFormat = .rfc3339
    /// Renames keys of the messages: hazmon's name → the platform's.
    public var fields: [String: String] = [:]
    /// TCP / TLS: the bytes that end a frame (default a newline).
    public var delimiter: [UInt8] = [10]
    /// AES-CBC with PKCS#7 padding, key (16 or 32 bytes, raw or hex) from `keyFile`.
    public var encrypt: UplinkEncryption?
    /// The uplink's own `comm` alarm when it has delivered nothing for this long while it had
    /// something to deliver.
    public var downAfter: Duration = .seconds(60)
    /// Stored values kept at most while the platform is away; past it the oldest go (alarms never).
    public var backlogMax = 10_000_000
    /// Messages per delivery (an HTTP POST, a burst of publishes or frames).
    public var batch = 500
    /// How long one delivery may take before it counts as failed.
    public var timeout: Duration = .seconds(10)
    /// MQTT: the topic template; `{site}`, `{kind}` (values, alarms, heartbeat), `{tag}` (alarms).
    public var topic = "hazmon/{site}/{kind}"
    public var clientID: String
    public var username: String?
    public var passwordFile: String?
    /// HTTP: a bearer token's file (`Authorization: Bearer …`).
    public var tokenFile: String?
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?

    public init(id: String, url: String, transport: Transport, tls: Bool, host: String, port: Int, clientID: String) {
        self.id = id
        self.url = url
        self.transport = transport
        self.tls = tls
        self.host = host
        self.port = port
        self.clientID = clientID
    }

    /// The `comm` alarm's id while the platform takes nothing.
    public var connectionID: String { "uplink-" + id }
}

/// `encrypt = { cipher, key_file, iv_file }` of an uplink.
public struct UplinkEncryption: Sendable, Equatable {
    /// `aes-128-cbc` or `aes-256-cbc`.
    public var cipher: String
    public var keyFile: String
    /// A fixed IV (16 bytes, raw or hex) some specifications prescribe; without it each message
    /// gets a random IV, sent as the first 16 bytes before the ciphertext.
    public var ivFile: String?

    public init(cipher: String, keyFile: String, ivFile: String? = nil) {
        self.cipher = cipher
        self.keyFile = keyFile
        self.ivFile = ivFile
    }

    /// The key's length in bytes the cipher takes.
    public var keyLength: Int { cipher == "aes-256-cbc" ? 32 : 16 }

    /// Key or IV bytes from a file's first line: 2n hex digits, or n raw characters.
    public static func bytes(_ text: String, count: Int) -> [UInt8]? {
        let raw = ConfigLoader.token(text)
        if raw.count == count * 2, let hex = hexBytes(raw) { return hex }
        return raw.count == count ? raw : nil
    }

    static func hexBytes(_ s: [UInt8]) -> [UInt8]? {
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(s.count / 2)
        var i = 0
        while i + 1 < s.count {
            guard let hi = nibble(s[i]), let lo = nibble(s[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
