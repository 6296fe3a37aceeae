import CModbus
import Foundation
import Synchronization
import HazmonCore
import HazmonModbus

#if canImport(Glibc)
import Glibc
#endif

/// A Modbus TCP slave on libmodbus: one thread, `poll(2)` over the listening socket and every
/// client, one libmodbus context answering each request from a shared register image. Fast
/// enough to stand in for hundreds of devices (each client connection is one "device").
///
/// The image is updated between requests by `update` (called on the server's thread every
/// `tick`), so values move while clients poll.
public final class ModbusSlaveServer: @unchecked Sendable {
    public struct Stats: Sendable {
        public var connections = 0
        public var requests = 0
        /// Per connection, the gaps between its consecutive requests (seconds).
        public var gaps: [[Double]] = []
    }

    public let port: Int
    private let ctx: OpaquePointer
    private let mapping: UnsafeMutablePointer<modbus_mapping_t>
    private let listenFD: Int32
    private let tick: Duration
    private let update: (_ inputRegisters: UnsafeMutableBufferPointer<UInt16>, _ holding: UnsafeMutableBufferPointer<UInt16>,
                         _ coils: UnsafeMutableBufferPointer<UInt8>, _ elapsed: Double) -> Void
    private let isOffline: @Sendable () -> Bool
    private let stopping = Atomic<Bool>(false)
    private let stats = Mutex(Stats())

    /// Binds 127.0.0.1:`port` (0: a free port) with `registers` of each register table and
    /// `bits` of each bit table.
    /// - Parameter isOffline: while true the slave plays dead: connections are closed and new
    ///   ones refused (a device that dropped off the network).
    public init(port: Int, registers: Int = 1000, bits: Int = 1000, tick: Duration = .milliseconds(100),
                isOffline: @escaping @Sendable () -> Bool = { false },
                update: @escaping (UnsafeMutableBufferPointer<UInt16>, UnsafeMutableBufferPointer<UInt16>,
                                   UnsafeMutableBufferPointer<UInt8>, Double) -> Void) throws {
        var chosen = port
        if chosen == 0 {
            // Find a free port: bind, read it back, release it for libmodbus.
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &a) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) == 0 && getsockname(s, $0, &len) == 0 } }
            chosen = Int(UInt16(bigEndian: a.sin_port))
            close(s)
        }
        guard let c = modbus_new_tcp_pi("127.0.0.1", String(chosen)) else {
            throw SimulatorError("cannot create a Modbus TCP context: \(String(cString: modbus_strerror(errno)))")
        }
        guard let m = modbus_mapping_new(Int32(bits), Int32(bits), Int32(registers), Int32(registers)) else {
            modbus_free(c)
            throw SimulatorError("cannot allocate the register image")
        }
        let fd = modbus_tcp_pi_listen(c, 1024)
        guard fd >= 0 else {
            let why = String(cString: modbus_strerror(errno))
            modbus_mapping_free(m)
            modbus_free(c)
            throw SimulatorError("cannot listen on 127.0.0.1:\(chosen): \(why)")
        }
        self.port = chosen
        ctx = c
        mapping = m
        listenFD = fd
        self.tick = tick
        self.isOffline = isOffline
        self.update = update
    }

    deinit {
        close(listenFD)
        modbus_mapping_free(mapping)
        modbus_free(ctx)
    }

    public var currentStats: Stats { stats.withLock { $0 } }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// Serves until `stop()`. Call on a thread of its own.
    public func serve() {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
        var lastRequest: [Int32: Double] = [:]
        var gaps: [Int32: [Double]] = [:]
        var query = [UInt8](repeating: 0, count: 260)
        let start = ContinuousClock.now
        var nextTick = start
        let m = mapping.pointee
        func image() {
            update(UnsafeMutableBufferPointer(start: m.tab_input_registers, count: Int(m.nb_input_registers)),
                   UnsafeMutableBufferPointer(start: m.tab_registers, count: Int(m.nb_registers)),
                   UnsafeMutableBufferPointer(start: m.tab_bits, count: Int(m.nb_bits)),
                   (ContinuousClock.now - start).secondsDouble)
        }
        image()
        while !stopping.load(ordering: .relaxed) {
            let wait = max(0, Int32((nextTick - ContinuousClock.now).secondsDouble * 1000))
            let n = poll(&fds, nfds_t(fds.count), wait)
            if ContinuousClock.now >= nextTick {
                image()
                nextTick = nextTick + tick
            }
            let offline = isOffline()
            if offline, fds.count > 1 {
                for f in fds.dropFirst() { close(f.fd) }
                fds.removeSubrange(1...)
                lastRequest.removeAll()
            }
            guard n > 0 else { continue }
            var closed: Set<Int32> = []
            for i in fds.indices where fds[i].revents != 0 {
                let fd = fds[i].fd
                if fd == listenFD {
                    var s = listenFD
                    let client = modbus_tcp_pi_accept(ctx, &s)
                    if client >= 0, offline {
                        close(client)
                    } else if client >= 0 {
                        fds.append(pollfd(fd: client, events: Int16(POLLIN), revents: 0))
                        stats.withLock { $0.connections += 1 }
                    }
                    continue
                }
                modbus_set_socket(ctx, fd)
                let rc = query.withUnsafeMutableBufferPointer { modbus_receive(ctx, $0.baseAddress) }
                if rc > 0 {
                    _ = query.withUnsafeBufferPointer { modbus_reply(ctx, $0.baseAddress, rc, mapping) }
                    let now = (ContinuousClock.now - start).secondsDouble
                    if let last = lastRequest[fd] { gaps[fd, default: []].append(now - last) }
                    lastRequest[fd] = now
                    stats.withLock { $0.requests += 1 }
                } else if rc == -1 {
                    closed.insert(fd)
                }
            }
            if !closed.isEmpty {
                for fd in closed {
                    close(fd)
                    if let g = gaps.removeValue(forKey: fd) { stats.withLock { $0.gaps.append(g) } }
                    lastRequest[fd] = nil
                }
                fds.removeAll { closed.contains($0.fd) }
            }
        }
        for f in fds where f.fd != listenFD { close(f.fd) }
        stats.withLock { $0.gaps += gaps.values.map { $0 } }
    }
}

public struct SimulatorError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
