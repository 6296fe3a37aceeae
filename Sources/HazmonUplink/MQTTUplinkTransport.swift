import HazmonMQTT
import Logging

/// `mqtt://` / `mqtts://`: each message is a QoS 1 publish to the topic template (`{site}`,
/// `{kind}`, `{tag}`); a batch is confirmed by the broker's PUBACK for every message. While the
/// broker is away libmosquitto keeps the messages and sends them on reconnect, so `send` waits
/// rather than fail (the uplink's health watch raises its `comm` alarm meanwhile): offering
/// them again would deliver them twice.
public final class MQTTUplinkTransport: UplinkTransport {
    let client: MosquittoClient
    let topic: String
    let site: String

    public init(options: BrokerOptions, topic: String, site: String, logger: Logger) throws {
        self.topic = topic
        self.site = site
        client = try MosquittoClient(options: options, subscriptions: [], qos: 1, logger: logger, onMessages: { _ in },
                                     onConnection: { up, reason in
            if up { logger.info("uplink broker connected", metadata: ["broker": "\(options.host):\(options.port)"]) }
            else { logger.warning("uplink broker disconnected: \(reason)", metadata: ["broker": "\(options.host):\(options.port)"]) }
        })
        try client.start()
    }

    func topic(for m: UplinkPayload) -> String {
        topic.replacingOccurrences(of: "{site}", with: site)
            .replacingOccurrences(of: "{kind}", with: m.kind)
            .replacingOccurrences(of: "{tag}", with: m.tag ?? m.kind)
    }

    public func send(_ batch: [UplinkPayload], id: String) async throws {
        var mids: [Int32] = []
        mids.reserveCapacity(batch.count)
        for m in batch { mids.append(try client.publishTracked(topic: topic(for: m), payload: m.text, qos: 1, retain: false)) }
        for mid in mids { try await client.acknowledged(mid) }
    }

    public func close() async {
        client.stop()
    }
}
