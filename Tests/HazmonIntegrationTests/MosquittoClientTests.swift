import Foundation
import HazmonMQTT
import HazmonTestSupport
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The MQTT client's own network loop (libmosquitto's external-loop API on `poll`), against a
/// real mosquitto on loopback.
@Suite("MQTT client: its own network loop", .serialized)
struct MosquittoClientTests {
    final class Inbox: Sendable {
        let messages = Mutex<[String]>([])
        let batches = Mutex<[Int]>([])
        var count: Int { messages.withLock { $0.count } }
    }

    static let quiet = Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })

    static func client(port: Int, id: String, subscriptions: [String] = [], inbox: Inbox? = nil) throws -> MosquittoClient {
        try MosquittoClient(
            options: BrokerOptions(host: "127.0.0.1", port: port, clientID: id, cleanSession: true,
                                   reconnectMinSeconds: 1, reconnectMaxSeconds: 1),
            subscriptions: subscriptions, qos: 1, logger: quiet,
            onMessages: { batch in
                inbox?.batches.withLock { $0.append(batch.count) }
                inbox?.messages.withLock { $0 += batch.map { String(decoding: $0.payload, as: UTF8.self) } }
            })
    }

    static func waitUntil(_ seconds: Double, _ ok: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if ok() { return true }
            usleep(5_000)
        }
        return ok()
    }

    /// A private broker, a subscriber to `filter` collecting into an inbox, and a publisher,
    /// both connected and the subscription in place.
    static func withPublisherAndSubscriber(filter: String, _ body: (MosquittoClient, Inbox) throws -> Void) throws {
        let dir = try TempDir(prefix: "hazmon-mosq")
        defer { dir.remove() }
        let broker = try Broker.start(port: try FreePort.find(), dir: dir.path)
        defer { broker.stop() }
        let inbox = Inbox()
        let sub = try client(port: broker.port, id: "sub", subscriptions: [filter], inbox: inbox)
        try sub.start()
        defer { sub.stop() }
        let pub = try client(port: broker.port, id: "pub")
        try pub.start()
        defer { pub.stop() }
        #expect(waitUntil(5) { sub.isConnected && pub.isConnected })
        usleep(200_000)   // the subscription is in place
        try body(pub, inbox)
    }

    @Test("a publish from another thread goes out at once, not at the loop's next 1 s poll timeout")
    func publishFromAnotherThreadWakesTheLoop() throws {
        try Self.withPublisherAndSubscriber(filter: "wake/#") { pub, inbox in
            // Ten round trips, each waiting for the last: a publish left for the poll timeout
            // would make this take ten seconds.
            let started = Date()
            for i in 0..<10 {
                #expect(pub.publish(topic: "wake/\(i)", payload: "\(i)", qos: 1, retain: false))
                #expect(Self.waitUntil(3) { inbox.count == i + 1 }, "message \(i) did not arrive")
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed < 5, "ten publishes took \(elapsed) s: the network thread was not woken")
            #expect(inbox.messages.withLock { $0 } == (0..<10).map(String.init))
        }
    }

    @Test("a burst arrives in order, handed over in batches of what one read pass found")
    func burstArrivesInOrderInBatches() throws {
        try Self.withPublisherAndSubscriber(filter: "burst") { pub, inbox in
            let n = 5_000
            for i in 0..<n { _ = pub.publish(topic: "burst", payload: "\(i)", qos: 1, retain: false) }
            #expect(Self.waitUntil(20) { inbox.count == n }, "\(inbox.count) of \(n) arrived")
            #expect(inbox.messages.withLock { $0 } == (0..<n).map(String.init))
            let batches = inbox.batches.withLock { $0 }
            #expect(batches.allSatisfy { $0 <= MosquittoClient.packetsPerPass })
            #expect(batches.count < n, "every message came alone: \(batches.count) batches")
        }
    }

    @Test("stop sends what was queued before DISCONNECT; a client started before its broker connects once it is up")
    func stopFlushesAndFirstConnectRetries() throws {
        let dir = try TempDir(prefix: "hazmon-mosq")
        defer { dir.remove() }
        let port = try FreePort.find()
        let early = try Self.client(port: port, id: "early")
        try early.start()        // nothing listens yet
        defer { early.stop() }
        usleep(300_000)
        #expect(!early.isConnected)
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        #expect(Self.waitUntil(10) { early.isConnected }, "the first connection was never retried")
        let inbox = Inbox()
        let sub = try Self.client(port: port, id: "sub", subscriptions: ["last"], inbox: inbox)
        try sub.start()
        defer { sub.stop() }
        #expect(Self.waitUntil(5) { sub.isConnected })
        usleep(200_000)
        for i in 0..<100 { _ = early.publish(topic: "last", payload: "\(i)", qos: 1, retain: false) }
        early.stop()             // at once: the queue goes out first
        #expect(Self.waitUntil(5) { inbox.count == 100 }, "\(inbox.count) of 100 arrived")
        #expect(!early.isConnected)
    }
}
