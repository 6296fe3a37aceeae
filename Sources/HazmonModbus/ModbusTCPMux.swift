import Foundation
import HazmonCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Every Modbus TCP device without a `pause`, polled from one thread: each device keeps its own
/// connection and libmodbus context and has at most one request in flight; the thread sends
/// the requests that are due and waits for all answers at once with poll(2), reading each with
/// libmodbus when its socket is readable. A device that does not answer costs the others
/// nothing: its deadline passes while theirs are served. Connecting (which blocks for up to
/// the response timeout on an unreachable host) happens on a short-lived thread of its own.
///
/// Same behaviour as a `ModbusBus` per device (retries, reconnect after any I/O error, the
/// `comm` alarm after `comm_after` failed polls, backoff, heartbeat), at a fraction of the
/// cost: a thread per device woke twice per poll, and on this 2-core VM those wake-ups were
/// most of the CPU per poll (docs/PERFORMANCE.md).
public final class ModbusTCPMux: ModbusLinkOwner, @unchecked Sendable {
    final class Link {
        /// Its position in `links` (what a connect thread reports back).
        let index: Int
        let device: ModbusDevice
        let transport: ModbusTransport
        /// nil before the first connect, and while a connect thread has it.
        var connection: ModbusConnection?
        var phase = Phase.idle
        /// The block being read and how many times it has been tried in this poll.
        var block = 0
        var attempt = 0
        var deadline: ContinuousClock.Instant
        var started: ContinuousClock.Instant

        enum Phase { case idle, connecting, awaiting }

        init(_ index: Int, _ device: ModbusDevice, start: ContinuousClock.Instant) {
            self.index = index
            self.device = device
            transport = device.settings.transport
            deadline = start
            started = start
        }
    }

    let links: [Link]
    let logger: Logger
    let handlers: ModbusHandlers
    private var registers = [UInt16](repeating: 0, count: ReadPlan.maxRegisters)
    private var bits = [UInt8](repeating: 0, count: ReadPlan.maxBits)
    private var rng = SystemRandomNumberGenerator()
    /// A pipe whose read end is in every poll(2): connect threads and `stop()` write to it.
    private let wakeRead: Int32, wakeWrite: Int32
    private let lock = NSCondition()
    private var stopping = false
    private var running = false
    /// Connections opened (or not) by connect threads, for the owner thread to take.
    private var connected: [(link: Int, error: ModbusFailure?)] = []

    /// - Parameter devices: TCP devices with `pause` zero (each its own link), with their tags.
    public init(devices: [(ModbusDeviceSettings, [ModbusBinding])], handlers: ModbusHandlers, logger: Logger) {
        let start = ContinuousClock.now
        links = devices.enumerated().map { i, d in
            Link(i, ModbusDevice(d.0, bindings: d.1, start: start, handlers: handlers, logger: logger), start: start)
        }
        self.handlers = handlers
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) != 0 { fatalError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    public func start() {
        lock.lock()
        running = true
        lock.unlock()
        let t = Thread { [self] in
            Thread.current.name = "modbus tcp (\(links.count))"
            loop()
        }
        t.stackSize = 512 * 1024
        t.start()
    }

    /// Stops at once (no request is waited for) and closes every link.
    public func stop() {
        lock.lock()
        stopping = true
        wake()
        while running { _ = lock.wait(until: Date().addingTimeInterval(0.1)) }
        lock.unlock()
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
    }

    // MARK: the owner thread

    private func loop() {
        var fds: [pollfd] = []
        var fdLinks: [Int] = []
        fds.reserveCapacity(links.count + 1)
        fdLinks.reserveCapacity(links.count)
        while !isStopping {
            var now = ContinuousClock.now
            for (i, error) in takeConnected() {
                let l = links[i]
                l.phase = .idle
                if let error { ioFailure(l, error.description, now: now) } else { send(l, now: now) }
            }
            for l in links where l.phase == .awaiting && l.deadline <= now {
                ioFailure(l, "Connection timed out", now: now)
            }
            for l in links where l.phase == .idle && l.device.next <= now {
                l.started = now
                l.block = 0
                l.attempt = 0
                l.device.beginPoll()
                send(l, now: now)
            }
            // Wait for answers, the next poll due or the next deadline, whichever is first.
            var until = now + .seconds(1)
            fds.removeAll(keepingCapacity: true)
            fdLinks.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            for (i, l) in links.enumerated() {
                switch l.phase {
                case .idle: until = min(until, l.device.next)
                case .awaiting:
                    until = min(until, l.deadline)
                    fds.append(pollfd(fd: l.connection!.socket, events: Int16(POLLIN), revents: 0))
                    fdLinks.append(i)
                case .connecting: break
                }
            }
            let ms = max(0, Int32(((until - now).secondsDouble * 1000).rounded(.up)))
            let ready = poll(&fds, nfds_t(fds.count), ms)
            if ready <= 0 { continue }
            if fds[0].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drain, drain.count) > 0 {}
            }
            now = ContinuousClock.now
            for (k, i) in fdLinks.enumerated() where fds[k + 1].revents != 0 {
                receive(links[i], now: now)
            }
        }
        for l in links where l.phase != .connecting { l.connection?.close() }
        lock.lock()
        running = false
        lock.broadcast()
        lock.unlock()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func takeConnected() -> [(link: Int, error: ModbusFailure?)] {
        lock.lock()
        defer { lock.unlock() }
        if connected.isEmpty { return [] }
        defer { connected = [] }
        return connected
    }

    /// Sends the link's current block, connecting first if the link is closed.
    private func send(_ l: Link, now: ContinuousClock.Instant) {
        guard let c = l.connection, c.isOpen else { return connect(l) }
        let d = l.device
        do {
            try c.send(d.blocks[l.block], unit: d.settings.unit)
            l.phase = .awaiting
            l.deadline = now + d.settings.timeout
        } catch {
            ioFailure(l, error.description, now: now)
        }
    }

    /// Opens the link on a thread of its own; the owner thread takes the result from `connected`.
    private func connect(_ l: Link) {
        let d = l.device
        let connection: ModbusConnection
        if let c = l.connection {
            connection = c
        } else {
            do {
                connection = try ModbusConnection(transport: l.transport, timeout: d.settings.timeout, rs485: false)
            } catch {
                return ioFailure(l, error.description, now: .now)
            }
            // Answers are read only once readable; a frame that stops midway holds the thread
            // (and every other device) for at most this long.
            connection.setByteTimeout(min(d.settings.timeout, .milliseconds(50)))
        }
        l.connection = connection
        l.phase = .connecting
        let index = l.index
        let box = UncheckedBox(connection)
        Thread { [self] in
            var failure: ModbusFailure?
            do throws(ModbusFailure) { try box.value.open() } catch { failure = error }
            lock.lock()
            connected.append((index, failure))
            lock.unlock()
            wake()
        }.start()
    }

    private func receive(_ l: Link, now: ContinuousClock.Instant) {
        let d = l.device
        let block = d.blocks[l.block]
        do {
            try l.connection!.receive(block, unit: d.settings.unit, registers: &registers, bits: &bits)
            d.accept(block: l.block, registers: registers, bits: bits)
        } catch .exception(let code) {
            d.accept(block: l.block, exception: code)
        } catch {
            return ioFailure(l, error.description, now: now)
        }
        l.block += 1
        l.attempt = 0
        if l.block < d.blocks.count { return send(l, now: now) }
        finish(l, ok: d.finishPoll(now: now), now: now)
    }

    /// No answer, a broken link or a garbled frame: close, and retry the block on a fresh
    /// connection while the device's retries last; then the poll has failed.
    private func ioFailure(_ l: Link, _ why: String, now: ContinuousClock.Instant) {
        l.connection?.close()
        l.phase = .idle
        let d = l.device
        l.attempt += 1
        if l.attempt <= d.settings.retries, !isStopping { return send(l, now: now) }
        let block = d.blocks[l.block]
        d.failed(reason: "\(why) (\(block.table.rawValue) \(block.start)+\(block.count))")
        finish(l, ok: false, now: now)
    }

    private func finish(_ l: Link, ok: Bool, now: ContinuousClock.Instant) {
        l.phase = .idle
        handlers.polled(l.device.settings.id, now - l.started)
        l.device.schedule(ok: ok, started: l.started, using: &rng)
    }
}

/// Hands a non-Sendable value to exactly one other thread, which alone uses it until it hands
/// it back (here: a connection while it connects).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
