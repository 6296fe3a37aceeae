import HazmonConfig
import HazmonCore
import HazmonPipeline
import HazmonMQTT
import Synchronization

/// `[mqtt.publish]`: every alarm event out to the broker (QoS of `[mqtt]`, 1 by default), a
/// retained state per alarm, and the retained online / offline status.
///
/// A sink like the log and the socket: it sees events after the journal committed them, in
/// `seq` order. It publishes on the shared MQTT connection of the input; while the broker is
/// away libmosquitto keeps QoS 1 and 2 messages queued in memory and sends them, in order, on
/// reconnect. (Events of an outage that a restart of hazmon cuts short stay in the journal
/// and on the socket's `subscribe` with `since`; the state topics are right again with the
/// next event of each alarm.)
public final class MQTTAlarmPublisher: EventSink, Sendable {
    let settings: MQTTPublishSettings
    let site: String
    let qos: Int
    private let current = Mutex<MosquittoClient?>(nil)
    private let refused = Atomic<Int>(0)

    public init(settings: MQTTPublishSettings, site: String, qos: Int) {
        self.settings = settings
        self.site = site
        self.qos = qos
    }

    /// The last will to give the connection: "offline", retained, on the status topic.
    var will: (topic: String, payload: String, retain: Bool) { (statusTopic, "offline", true) }
    var statusTopic: String { settings.statusTopic.replacingOccurrences(of: "{site}", with: site) }

    /// The connection to publish on (nil: none, or shutting down).
    var client: MosquittoClient? { current.withLock { $0 } }
    func attach(_ c: MosquittoClient?) { current.withLock { $0 = c } }

    /// Called on every (re)connect: the status is "online" again.
    func connected(_ c: MosquittoClient) {
        c.publish(topic: statusTopic, payload: "online", qos: 1, retain: true)
    }

    /// Says "offline" before a clean disconnect (the will covers an unclean one).
    func goingOffline(_ c: MosquittoClient) {
        c.publish(topic: statusTopic, payload: "offline", qos: 1, retain: true)
    }

    /// Messages libmosquitto refused outright (never for QoS > 0 while merely disconnected).
    public var refusedCount: Int { refused.load(ordering: .relaxed) }

    public func deliver(_ events: [AlarmEvent], json: [String]) {
        guard let c = client else { return }
        for (e, line) in zip(events, json) {
            let ok1 = c.publish(topic: topic(settings.topic, e), payload: line, qos: qos, retain: settings.retain)
            // The alarm's retained state: its last event while not normal, deleted (an empty
            // retained message) once it is back to normal and not shelved.
            let normal = e.state == .normal && !e.flags.contains(.shelved) && e.event != .shelved
            let ok2 = c.publish(topic: topic(settings.stateTopic, e), payload: normal ? "" : line, qos: qos, retain: true)
            if !ok1 || !ok2 { refused.wrappingAdd(1, ordering: .relaxed) }
        }
    }

    func topic(_ template: String, _ e: AlarmEvent) -> String {
        template.replacingOccurrences(of: "{site}", with: site)
            .replacingOccurrences(of: "{tag}", with: e.tag)
            .replacingOccurrences(of: "{condition}", with: e.condition.rawValue)
            .replacingOccurrences(of: "{alarm}", with: e.condition.slot.rawValue)
    }
}
