import Foundation
import HazmonConfig
import HazmonCore
import HazmonJournal
import HazmonPipeline
import HazmonMQTT
import Synchronization

/// `[mqtt.publish]`: every alarm event out to the broker (QoS of `[mqtt]`, 1 by default), a
/// retained state per alarm, and the retained online / offline status.
///
/// A cursor consumer (`mqtt-out`): it reads committed events from the journal in `seq` order and
/// confirms a batch only once the broker acknowledged every message of it, so an outage of
/// any length, even across a restart of hazmon, ends with every event published once, in
/// order (at least once if hazmon dies between the broker's acknowledgement and the cursor's
/// write). It publishes on the shared MQTT connection of the input.
public final class MQTTAlarmPublisher: CursorDelivery, Sendable {
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
    var will: (topic: String, payload: [UInt8], retain: Bool) { (statusTopic, Array("offline".utf8), true) }
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

    /// The fields of a journaled event the state topic depends on.
    struct Brief: Decodable {
        var state: String
        var flags: [String]?
    }

    public func deliver(_ entries: [JournalEntry]) async throws {
        guard let c = client else { throw DaemonError.runtime("no MQTT connection yet") }
        var mids: [Int32] = []
        mids.reserveCapacity(entries.count * 2)
        let decoder = JSONDecoder()
        for e in entries {
            // In seq order: the event, then the alarm's retained state: its last event while
            // not normal, deleted (an empty retained message) once back to normal and not shelved.
            let brief = try? decoder.decode(Brief.self, from: Data(e.json.utf8))
            let normal = brief?.state == "normal" && !(brief?.flags ?? []).contains("shelved") && e.event != "shelved"
            do {
                mids.append(try c.publishTracked(topic: topic(settings.topic, e), payload: e.json, qos: qos, retain: settings.retain))
                mids.append(try c.publishTracked(topic: topic(settings.stateTopic, e), payload: normal ? "" : e.json, qos: qos, retain: true))
            } catch {
                refused.wrappingAdd(1, ordering: .relaxed)
                throw error
            }
        }
        for mid in mids { try await c.acknowledged(mid) }
    }

    func topic(_ template: String, _ e: JournalEntry) -> String {
        let slot = Condition(rawValue: e.condition)?.slot.rawValue ?? e.condition
        return template.replacingOccurrences(of: "{site}", with: site)
            .replacingOccurrences(of: "{tag}", with: e.tag)
            .replacingOccurrences(of: "{condition}", with: e.condition)
            .replacingOccurrences(of: "{alarm}", with: slot)
    }
}
