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

/// One MQTT message as received: topic and payload, copied out of libmosquitto's buffers.
public struct MQTTMessage: Sendable {
    public var topic: String
    public var payload: [UInt8]
}

/// One libmosquitto client, driven by its own network thread through libmosquitto's external
/// loop API (`mosquitto_loop_read` / `_write` / `_misc` on the socket's readiness, `poll`).
///
/// Every message read in one pass over the socket is handed over in one batch, on the network
/// thread, before the thread waits again: there is no second thread and no hand-off between
/// receiving a message and acting on it. `onMessages` must therefore be quick and must not
/// block (decode, evaluate, queue).
///
/// The thread reconnects with capped exponential backoff (including a first connection that
/// fails: a daemon started before its broker); on every (re)connect the client subscribes again
/// to every filter, because a broker may have lost the session. Publishing is safe from any
/// thread: a publish from another thread wakes the network thread to write it.
///
/// `stop()` (or `drop()`) ends the network thread; until then it keeps the client alive.
public final class MosquittoClient: @unchecked Sendable {
    // @unchecked Sendable: `handle` is used from other threads only through libmosquitto calls
    // that take its own locks once `mosquitto_threaded_set` is on (publish, subscribe,
    // unsubscribe); connecting, reading, writing and disconnecting happen on the network thread.
    // The Swift-side mutable state lives in Mutexes.
    private let handle: OpaquePointer
    private let options: BrokerOptions
    private let subscriptionList: Mutex<[String]>
    private var subscriptions: [String] { subscriptionList.withLock { $0 } }
    private let qos: Int32
    private let logger: Logger
    private let onMessages: @Sendable ([MQTTMessage]) -> Void
    private let onConnection: @Sendable (Bool, String) -> Void
    private let state = Mutex(State())
    /// Publishes awaiting their broker acknowledgement (PUBACK for QoS 1), by message id, and
    /// the ids acknowledged before anyone waited for them (the last few thousand).
    private let acks = Mutex(Acks())
    /// Written by other threads to wake the network thread from `poll` (an eventfd).
    private let wakeFD: Int32
    /// `state.ending != nil`, readable without the lock on the hot path; and whether the broker
    /// accepted the current connection.
    private let endingFlag = Atomic<Bool>(false)
    private let connectedFlag = Atomic<Bool>(false)
    /// Messages queued with libmosquitto and not yet sent (QoS 0) or acknowledged (QoS 1).
    private let outstanding = Atomic<Int>(0)
    /// Messages read in the current pass; touched only on the network thread.
    private nonisolated(unsafe) var inbox: [MQTTMessage] = []
    private nonisolated(unsafe) var spare: [MQTTMessage] = []

    struct Acks {
        var waiting: [Int32: CheckedContinuation<Void, Error>] = [:]
        var early: Set<Int32> = []
        var earlyOrder: [Int32] = []
        static let earlyLimit = 4_096
    }

    enum Ending { case stop, drop }

    struct State {
        var started = false
        var connects = 0
        /// Set by `stop()` / `drop()`: the network thread ends the connection this way and exits.
        var ending: Ending?
        var thread: pthread_t?
        var finished: DispatchSemaphore?
    }

    /// Packets read in one pass before the queued writes (PUBACKs) go out and `poll` is asked again.
    public static let packetsPerPass = 256

    private static let libraryInit: Void = { mosquitto_lib_init(); return () }()

    /// - Parameters:
    ///   - onMessages: called on the network thread with the messages of one read pass, in order.
    ///   - onConnection: (connected, reason) on every connect and disconnect.
    public init(options: BrokerOptions, subscriptions: [String], qos: Int, logger: Logger,
                onMessages: @escaping @Sendable ([MQTTMessage]) -> Void,
                onConnection: @escaping @Sendable (Bool, String) -> Void = { _, _ in }) throws {
        _ = Self.libraryInit
        guard let h = mosquitto_new(options.clientID, options.cleanSession, nil) else {
            throw MosquittoError("mosquitto_new failed: \(String(cString: strerror(errno)))")
        }
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else {
            mosquitto_destroy(h)
            throw MosquittoError("eventfd failed: \(String(cString: strerror(errno)))")
        }
        self.handle = h
        self.wakeFD = fd
        self.options = options
        self.subscriptionList = Mutex(subscriptions)
        self.qos = Int32(qos)
        self.logger = logger
        self.onMessages = onMessages
        self.onConnection = onConnection
        mosquitto_user_data_set(h, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_int_option(h, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311)
        // Our own thread drives the loop; other threads publish: libmosquitto must lock.
        mosquitto_threaded_set(h, true)
        try configure()
    }

    /// A client whose messages are handed over one at a time (on the network thread).
    public convenience init(options: BrokerOptions, subscriptions: [String], qos: Int, logger: Logger,
                            onMessage: @escaping @Sendable (String, [UInt8]) -> Void,
                            onConnection: @escaping @Sendable (Bool, String) -> Void = { _, _ in }) throws {
        try self.init(options: options, subscriptions: subscriptions, qos: qos, logger: logger,
                      onMessages: { for m in $0 { onMessage(m.topic, m.payload) } }, onConnection: onConnection)
    }

    deinit {
        stop()
        mosquitto_destroy(handle)
        close(wakeFD)
    }

    private func configure() throws {
        var rc: Int32
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
            let count = Int(m.payloadlen)
            let payload: [UInt8]
            if count > 0, let p = m.payload {
                payload = Array(UnsafeRawBufferPointer(start: p, count: count))
            } else {
                payload = []
            }
            // Gathered for the end of this read pass (`runLoop`).
            Unmanaged<MosquittoClient>.fromOpaque(obj).takeUnretainedValue().inbox.append(MQTTMessage(topic: String(cString: m.topic), payload: payload))
        }
    }

    /// Starts the network thread, which makes the first connection attempt. A broker that is
    /// down is not an error: the thread keeps retrying with backoff.
    public func start() throws {
        let begin = state.withLock { s -> Bool in
            guard !s.started else { return false }
            s.started = true
            s.ending = nil
            endingFlag.store(false, ordering: .releasing)
            s.finished = DispatchSemaphore(value: 0)
            return true
        }
        guard begin else { return }
        Thread { [self] in runLoop() }.start()
    }

    /// The network thread: connect (again) with backoff, then wait for the socket (or a wake-up
    /// from another thread) and let libmosquitto read, write and keep the connection alive.
    private func runLoop() {
        state.withLock { $0.thread = pthread_self() }
        Thread.current.name = "hazmon-mqtt"
        let minDelay = Double(max(1, options.reconnectMinSeconds))
        let maxDelay = Double(max(options.reconnectMinSeconds, options.reconnectMaxSeconds, 1))
        var delay = minDelay
        var attempted = false
        var lastMisc = ContinuousClock.now
        // The two descriptors `poll` watches (socket, wake-up), allocated once for the thread.
        let fds = UnsafeMutablePointer<pollfd>.allocate(capacity: 2)
        defer { fds.deallocate() }
        inbox.reserveCapacity(64)
        spare.reserveCapacity(64)
        while true {
            if endingFlag.load(ordering: .acquiring), let ending = state.withLock({ $0.ending }) {
                finish(ending)
                break
            }
            var fd = mosquitto_socket(handle)
            if fd < 0 {
                // Not connected: (re)connect now the first time, then after the backoff delay.
                if attempted {
                    waitForWake(seconds: delay)
                    delay = min(delay * 2, maxDelay)
                    if endingFlag.load(ordering: .acquiring) { continue }
                }
                let rc = attempted ? mosquitto_reconnect_async(handle)
                                   : mosquitto_connect_async(handle, options.host, Int32(options.port), Int32(options.keepaliveSeconds))
                if rc != MOSQ_ERR_SUCCESS.rawValue, !attempted {
                    logger.warning("MQTT broker not reachable yet; retrying", metadata: [
                        "broker": "\(options.host):\(options.port)", "reason": "\(String(cString: mosquitto_strerror(rc)))"])
                }
                attempted = true
                fd = mosquitto_socket(handle)
                if rc != MOSQ_ERR_SUCCESS.rawValue || fd < 0 { continue }
                lastMisc = .now
            }
            fds[0] = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            fds[1] = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            if mosquitto_want_write(handle) { fds[0].events |= Int16(POLLOUT) }
            let n = poll(fds, 2, 1_000)
            if n < 0, errno != EINTR {
                logger.error("MQTT poll failed", metadata: ["reason": "\(String(cString: strerror(errno)))"])
                waitForWake(seconds: 0.1)
            }
            if fds[1].revents != 0 {
                var count: UInt64 = 0
                _ = read(wakeFD, &count, 8)
            }
            var rc = MOSQ_ERR_SUCCESS.rawValue
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                // Every packet waiting on the socket, then one hand-over: libmosquitto reads
                // a packet or so per call and leaves errno at EAGAIN once the socket is empty.
                for _ in 0..<Self.packetsPerPass {
                    errno = 0
                    rc = mosquitto_loop_read(handle, 1)
                    if rc != MOSQ_ERR_SUCCESS.rawValue || errno == EAGAIN || mosquitto_socket(handle) < 0 { break }
                }
                deliverInbox()
            }
            if rc == MOSQ_ERR_SUCCESS.rawValue, mosquitto_socket(handle) >= 0, mosquitto_want_write(handle) {
                rc = mosquitto_loop_write(handle, 1)
            }
            if ContinuousClock.now - lastMisc >= .milliseconds(500) {
                lastMisc = .now
                if mosquitto_socket(handle) >= 0 { rc = mosquitto_loop_misc(handle) }
            }
            if connectedFlag.load(ordering: .relaxed) { delay = minDelay }
            if rc != MOSQ_ERR_SUCCESS.rawValue, mosquitto_socket(handle) >= 0 {
                // An error libmosquitto did not close the socket for: start over.
                mosquitto_disconnect(handle)
            }
        }
        let done = state.withLock { s -> DispatchSemaphore? in
            s.thread = nil
            s.started = false
            return s.finished
        }
        done?.signal()
    }

    /// Hands the messages of one read pass to `onMessages`.
    private func deliverInbox() {
        guard !inbox.isEmpty else { return }
        // Handed over as it is; the next pass fills the spare, so neither buffer is reallocated.
        swap(&inbox, &spare)
        onMessages(spare)
        spare.removeAll(keepingCapacity: true)
    }

    /// Sleeps up to `seconds`, woken early by `wake()`.
    private func waitForWake(seconds: Double) {
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        if poll(&fds, 1, Int32(seconds * 1_000)) > 0 {
            var count: UInt64 = 0
            _ = read(wakeFD, &count, 8)
        }
    }

    /// Wakes the network thread (a publish queued, or an ending asked for).
    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// On the network thread: a clean stop writes what is queued, then DISCONNECT; a drop cuts
    /// the socket with neither.
    private func finish(_ ending: Ending) {
        let fd = mosquitto_socket(handle)
        switch ending {
        case .drop:
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
            connectedFlag.store(false, ordering: .relaxed)
        case .stop:
            guard fd >= 0 else { break }
            // Everything published before the stop goes out and is acknowledged first: QoS 1
            // messages beyond libmosquitto's in-flight window wait for earlier PUBACKs, and a
            // DISCONNECT now would leave them unsent. Bounded, like the flush below.
            let drainUntil = ContinuousClock.now + .seconds(2)
            while outstanding.load(ordering: .relaxed) > 0, ContinuousClock.now < drainUntil, pump(waitMilliseconds: 50) {}
            mosquitto_disconnect(handle)
            // Flush the DISCONNECT (bounded: a broker that stopped reading does not hold up the
            // shutdown).
            let flushUntil = ContinuousClock.now + .seconds(2)
            while mosquitto_want_write(handle), ContinuousClock.now < flushUntil, pump(waitMilliseconds: 100) {}
        }
        failWaiters(ending == .stop ? "the MQTT client stopped" : "the MQTT client was dropped")
    }

    /// One wait on the socket during a stop: reads what came (PUBACKs, messages), writes what is
    /// queued. False once the connection is gone or failed.
    private func pump(waitMilliseconds: Int32) -> Bool {
        let fd = mosquitto_socket(handle)
        guard fd >= 0 else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if mosquitto_want_write(handle) { p.events |= Int16(POLLOUT) }
        guard poll(&p, 1, waitMilliseconds) >= 0 else { return false }
        if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            guard mosquitto_loop_read(handle, 1) == MOSQ_ERR_SUCCESS.rawValue else { return false }
            deliverInbox()
        }
        if mosquitto_socket(handle) >= 0, mosquitto_want_write(handle) {
            guard mosquitto_loop_write(handle, 1) == MOSQ_ERR_SUCCESS.rawValue else { return false }
        }
        return mosquitto_socket(handle) >= 0
    }

    /// Ends the connection cleanly and joins the network thread: what was published before goes
    /// out and is acknowledged first (within 2 s), then DISCONNECT.
    public func stop() { end(.stop) }

    /// Ends the connection without a DISCONNECT, as a crash or a cut cable would, so the broker
    /// publishes the will (the simulator's edge node dropping off). The client is then stopped.
    public func drop() { end(.drop) }

    private func end(_ how: Ending) {
        let (finished, onLoop) = state.withLock { s -> (DispatchSemaphore?, Bool) in
            guard s.started, s.ending == nil else { return (nil, false) }
            s.ending = how
            endingFlag.store(true, ordering: .releasing)
            return (s.finished, s.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false)
        }
        guard let finished else { return }
        wake()
        // From the network thread itself (a callback): it ends after this pass.
        if !onLoop { finished.wait() }
    }

    /// Publishes still awaiting their acknowledgement will never get one.
    private func failWaiters(_ why: String) {
        let waiting = acks.withLock { a in
            defer { a = Acks() }
            return Array(a.waiting.values)
        }
        for c in waiting { c.resume(throwing: MosquittoError(why)) }
    }

    public var isConnected: Bool { connectedFlag.load(ordering: .relaxed) }

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
        wakeIfElsewhere()
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
        let queued = rc == MOSQ_ERR_SUCCESS.rawValue || (rc == MOSQ_ERR_NO_CONN.rawValue && qos > 0)
        if queued { outstanding.add(1, ordering: .relaxed) }
        wakeIfElsewhere()
        return queued
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
        outstanding.add(1, ordering: .relaxed)
        wakeIfElsewhere()
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

    /// A packet was queued from another thread: the network thread writes it now, not at its
    /// next wake-up. (On the network thread itself it is written before the next `poll`.)
    private func wakeIfElsewhere() {
        let onLoop = state.withLock { s in s.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
        if !onLoop { wake() }
    }

    private func didPublish(_ mid: Int32) {
        outstanding.subtract(1, ordering: .relaxed)
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
            connectedFlag.store(true, ordering: .relaxed)
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
        connectedFlag.store(false, ordering: .relaxed)
        let reason = rc == 0 ? "disconnected" : String(cString: mosquitto_strerror(rc))
        if rc != 0 {
            logger.warning("MQTT connection lost; reconnecting with backoff", metadata: ["reason": "\(reason)"])
        }
        onConnection(false, reason)
    }
}
