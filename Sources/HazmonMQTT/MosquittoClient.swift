import CMosquitto
import Foundation
import HazmonCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Broker connection settings the client needs (a subset of the config, free of TOML).
public struct BrokerOptions: Sendable {
    public var host: String
    public var port: Int
    public var clientID: String
    /// false: a persistent session, so QoS 1 messages published while we were away arrive.
    public var cleanSession: Bool
    public var username: String?
    public var password: String?
    public var tls: Bool
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var keepaliveSeconds: Int
    public var reconnectMinSeconds: Int
    public var reconnectMaxSeconds: Int
    /// A last will: (topic, payload, retain), published by the broker if we vanish.
    public var will: (topic: String, payload: [UInt8], retain: Bool)?

    public init(host: String, port: Int, clientID: String, cleanSession: Bool = false, username: String? = nil,
                password: String? = nil, tls: Bool = false, caFile: String? = nil, certFile: String? = nil,
                keyFile: String? = nil, keepaliveSeconds: Int = 30, reconnectMinSeconds: Int = 1,
                reconnectMaxSeconds: Int = 30, will: (topic: String, payload: [UInt8], retain: Bool)? = nil) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.cleanSession = cleanSession
        self.username = username
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.keepaliveSeconds = keepaliveSeconds
        self.reconnectMinSeconds = reconnectMinSeconds
        self.reconnectMaxSeconds = reconnectMaxSeconds
        self.will = will
    }
}

public struct MosquittoError: Error, CustomStringConvertible {
    public let description: String
    init(_ what: String, _ rc: Int32) {
        description = "\(what): \(String(cString: mosquitto_strerror(rc)))"
    }
    init(_ what: String) { description = what }
}

/// One libmosquitto client running its own network thread.
///
/// The library reconnects by itself with capped exponential backoff; on every (re)connect this
/// client subscribes again to every filter, because a broker may have lost the session. The
/// message callback runs on libmosquitto's thread: it copies topic and payload into Swift
/// values and hands them to `onMessage`, which must not block.
public final class MosquittoClient: @unchecked Sendable {
    // @unchecked Sendable: `handle` is only used through libmosquitto calls that are safe from
    // any thread once the threaded loop runs (publish, subscribe, disconnect, loop_stop);
    // the Swift-side mutable state lives in `state`, a Mutex.
    private let handle: OpaquePointer
    private let options: BrokerOptions
    private let subscriptionList: Mutex<[String]>
    private var subscriptions: [String] { subscriptionList.withLock { $0 } }
    private let qos: Int32
    private let logger: Logger
    private let onMessage: @Sendable (String, [UInt8]) -> Void
    private let onConnection: @Sendable (Bool, String) -> Void
    private let state = Mutex(State())
    /// Publishes awaiting their broker acknowledgement (PUBACK for QoS 1), by message id, and
    /// the ids acknowledged before anyone waited for them (the last few thousand).
    private let acks = Mutex(Acks())

    struct Acks {
        var waiting: [Int32: CheckedContinuation<Void, Error>] = [:]
        var early: Set<Int32> = []
        var earlyOrder: [Int32] = []
        static let earlyLimit = 4_096
    }

    struct State {
        var connected = false
        var started = false
        var connects = 0
    }

    private static let libraryInit: Void = { mosquitto_lib_init(); return () }()

    /// - Parameters:
    ///   - onMessage: called on libmosquitto's thread with (topic, payload); must not block.
    ///   - onConnection: (connected, reason) on every connect and disconnect.
    public init(options: BrokerOptions, subscriptions: [String], qos: Int, logger: Logger,
                onMessage: @escaping @Sendable (String, [UInt8]) -> Void,
                onConnection: @escaping @Sendable (Bool, String) -> Void = { _, _ in }) throws {
        _ = Self.libraryInit
        guard let h = mosquitto_new(options.clientID, options.cleanSession, nil) else {
            throw MosquittoError("mosquitto_new failed: \(String(cString: strerror(errno)))")
        }
        self.handle = h
        self.options = options
        self.subscriptionList = Mutex(subscriptions)
        self.qos = Int32(qos)
        self.logger = logger
        self.onMessage = onMessage
        self.onConnection = onConnection
        mosquitto_user_data_set(h, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_int_option(h, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311)
        try configure()
    }

    deinit {
        stop()
        mosquitto_destroy(handle)
    }

    private func configure() throws {
        var rc = mosquitto_reconnect_delay_set(
            handle, UInt32(max(1, options.reconnectMinSeconds)), UInt32(max(options.reconnectMinSeconds, options.reconnectMaxSeconds)), true)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MosquittoError("reconnect delay", rc) }
        if let user = options.username {
            rc = mosquitto_username_pw_set(handle, user, options.password)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MosquittoError("username", rc) }
        }
        if options.tls {
            let capath: String? = options.caFile == nil ? "/etc/ssl/certs" : nil
            rc = mosquitto_tls_set(handle, options.caFile, capath, options.certFile, options.keyFile, nil)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MosquittoError("TLS setup", rc) }
        }
        if let will = options.will {
            rc = will.payload.withUnsafeBytes { mosquitto_will_set(handle, will.topic, Int32($0.count), $0.baseAddress, 1, will.retain) }
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { throw MosquittoError("last will", rc) }
        }
        mosquitto_connect_callback_set(handle) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MosquittoClient>.fromOpaque(obj).takeUnretainedValue().didConnect(rc)
        }
        mosquitto_disconnect_callback_set(handle) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MosquittoClient>.fromOpaque(obj).takeUnretainedValue().didDisconnect(rc)
        }
        mosquitto_publish_callback_set(handle) { _, obj, mid in
            guard let obj else { return }
            Unmanaged<MosquittoClient>.fromOpaque(obj).takeUnretainedValue().didPublish(mid)
        }
        mosquitto_message_callback_set(handle) { _, obj, msg in
            guard let obj, let msg else { return }
            let m = msg.pointee
            let topic = String(cString: m.topic)
            let count = Int(m.payloadlen)
            let payload: [UInt8]
            if count > 0, let p = m.payload {
                payload = Array(UnsafeRawBufferPointer(start: p, count: count))
            } else {
                payload = []
            }
            Unmanaged<MosquittoClient>.fromOpaque(obj).takeUnretainedValue().onMessage(topic, payload)
        }
    }

    /// Starts the network thread and the first connection attempt. A broker that is down is
    /// not an error: the thread keeps retrying with backoff.
    public func start() throws {
        try state.withLock { s in
            guard !s.started else { return }
            let rc = mosquitto_connect_async(handle, options.host, Int32(options.port), Int32(options.keepaliveSeconds))
            let lrc = mosquitto_loop_start(handle)
            guard lrc == MOSQ_ERR_SUCCESS.rawValue else { throw MosquittoError("starting the MQTT thread", lrc) }
            s.started = true
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                logger.warning("MQTT broker not reachable yet; retrying", metadata: [
                    "broker": "\(options.host):\(options.port)", "reason": "\(String(cString: mosquitto_strerror(rc)))"])
                retryFirstConnect()
            }
        }
    }

    /// libmosquitto reconnects by itself only once a first connection attempt got through: after
    /// a refused first attempt its network thread waits for one that never comes (a daemon
    /// started before its broker would stay deaf). Until an attempt gets through, this thread
    /// makes them, with the same capped backoff; then libmosquitto takes over.
    private func retryFirstConnect() {
        let minDelay = Double(max(1, options.reconnectMinSeconds))
        let maxDelay = Double(max(options.reconnectMinSeconds, options.reconnectMaxSeconds, 1))
        let t = Thread { [weak self] in
            Thread.current.name = "hazmon-mqttconn"
            var delay = minDelay
            while true {
                Thread.sleep(forTimeInterval: delay)
                guard let self, self.state.withLock({ $0.started }) else { return }
                if mosquitto_reconnect_async(self.handle) == MOSQ_ERR_SUCCESS.rawValue { return }
                delay = min(delay * 2, maxDelay)
            }
        }
        t.start()
    }

    /// Disconnects cleanly and joins the network thread.
    public func stop() {
        let wasStarted = state.withLock { s in
            defer { s.started = false }
            return s.started
        }
        guard wasStarted else { return }
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        failWaiters("the MQTT client stopped")
    }

    /// Publishes still awaiting their acknowledgement will never get one.
    private func failWaiters(_ why: String) {
        let waiting = acks.withLock { a in
            defer { a = Acks() }
            return Array(a.waiting.values)
        }
        for c in waiting { c.resume(throwing: MosquittoError(why)) }
    }

    /// Ends the connection without a DISCONNECT, as a crash or a cut cable would, so the broker
    /// publishes the will (the simulator's edge node dropping off). The client is then stopped.
    public func drop() {
        let wasStarted = state.withLock { s in
            defer { s.started = false; s.connected = false }
            return s.started
        }
        guard wasStarted else { return }
        mosquitto_loop_stop(handle, true)
        let fd = mosquitto_socket(handle)
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        failWaiters("the MQTT client was dropped")
    }

    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Replaces the topic filters: subscribes to the new ones and unsubscribes from those
    /// dropped, now if connected; every reconnect subscribes to the current list.
    public func updateSubscriptions(_ new: [String]) {
        let old = subscriptionList.withLock { list in
            defer { list = new }
            return list
        }
        guard isConnected else { return }
        for f in new where !old.contains(f) { _ = mosquitto_subscribe(handle, nil, f, qos) }
        for f in old where !new.contains(f) { _ = mosquitto_unsubscribe(handle, nil, f) }
        logger.info("MQTT subscriptions updated", metadata: ["subscriptions": "\(new.count)"])
    }

    /// Queues a message for the broker; false if the library refused it. While disconnected,
    /// libmosquitto keeps QoS 1 and 2 messages queued and sends them on reconnect (it then
    /// answers MOSQ_ERR_NO_CONN, which is not a refusal); QoS 0 messages are lost.
    @discardableResult
    public func publish(topic: String, payload: String, qos: Int, retain: Bool) -> Bool {
        publish(topic: topic, bytes: Array(payload.utf8), qos: qos, retain: retain)
    }

    /// `publish` for a binary payload (a Sparkplug B command).
    @discardableResult
    public func publish(topic: String, bytes: [UInt8], qos: Int, retain: Bool) -> Bool {
        var bytes = bytes
        let rc = bytes.withUnsafeMutableBytes { buf in
            mosquitto_publish(handle, nil, topic, Int32(buf.count), buf.baseAddress, Int32(qos), retain)
        }
        return rc == MOSQ_ERR_SUCCESS.rawValue || (rc == MOSQ_ERR_NO_CONN.rawValue && qos > 0)
    }

    /// Queues a message and returns its id for `acknowledged(_:)`: in order, like `publish`.
    public func publishTracked(topic: String, payload: String, qos: Int, retain: Bool) throws -> Int32 {
        var mid: Int32 = 0
        var bytes = Array(payload.utf8)
        let rc = bytes.withUnsafeMutableBytes { buf in
            mosquitto_publish(handle, &mid, topic, Int32(buf.count), buf.baseAddress, Int32(qos), retain)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue || (rc == MOSQ_ERR_NO_CONN.rawValue && qos > 0) else {
            throw MosquittoError("publishing to \(topic)", rc)
        }
        return mid
    }

    /// Returns once the broker acknowledged message `mid` (QoS 1: its PUBACK; QoS 0: sent).
    /// While the broker is away it keeps waiting: libmosquitto sends the message again on
    /// reconnect. Throws if this client stops first.
    public func acknowledged(_ mid: Int32) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            let already = acks.withLock { a -> Bool? in
                if !state.withLock({ $0.started }) { return nil }
                if a.early.remove(mid) != nil { return true }
                a.waiting[mid] = c
                return false
            }
            switch already {
            case nil: c.resume(throwing: MosquittoError("the MQTT client stopped"))
            case true?: c.resume()
            case false?: break
            }
        }
    }

    private func didPublish(_ mid: Int32) {
        let waiter = acks.withLock { a -> CheckedContinuation<Void, Error>? in
            if let c = a.waiting.removeValue(forKey: mid) { return c }
            a.early.insert(mid)
            a.earlyOrder.append(mid)
            if a.earlyOrder.count > Acks.earlyLimit {
                a.early.remove(a.earlyOrder.removeFirst())
            }
            return nil
        }
        waiter?.resume()
    }

    private func didConnect(_ rc: Int32) {
        guard rc == 0 else {
            let reason = String(cString: mosquitto_connack_string(rc))
            logger.error("MQTT broker refused the connection", metadata: ["reason": "\(reason)"])
            onConnection(false, reason)
            return
        }
        let n = state.withLock { s in
            s.connected = true
            s.connects += 1
            return s.connects
        }
        for filter in subscriptions {
            let src = mosquitto_subscribe(handle, nil, filter, qos)
            if src != MOSQ_ERR_SUCCESS.rawValue {
                logger.error("MQTT subscribe failed", metadata: ["topic": "\(filter)", "reason": "\(String(cString: mosquitto_strerror(src)))"])
            }
        }
        logger.info(n == 1 ? "MQTT connected" : "MQTT reconnected", metadata: [
            "broker": "\(options.host):\(options.port)", "subscriptions": "\(subscriptions.count)"])
        onConnection(true, n == 1 ? "connected" : "reconnected")
    }

    private func didDisconnect(_ rc: Int32) {
        state.withLock { $0.connected = false }
        let reason = rc == 0 ? "disconnected" : String(cString: mosquitto_strerror(rc))
        if rc != 0 {
            logger.warning("MQTT connection lost; reconnecting with backoff", metadata: ["reason": "\(reason)"])
        }
        onConnection(false, reason)
    }
}
