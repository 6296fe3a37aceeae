import Foundation
import HazmonCore
import Logging

/// A tag to read: where its value is and which engine tag it feeds.
public struct ModbusBinding: Sendable {
    public var source: ModbusTagSource
    public var tag: TagHandle
    public init(source: ModbusTagSource, tag: TagHandle) {
        self.source = source
        self.tag = tag
    }
}

/// A thread owning Modbus links: a `ModbusBus` (one link) or the `ModbusTCPMux` (many).
public protocol ModbusLinkOwner: AnyObject, Sendable {
    func start()
    /// Returns once its thread has closed its links.
    func stop()
}

/// What a bus tells the daemon: samples, and devices going down or coming back.
public struct ModbusHandlers: Sendable {
    public var samples: @Sendable ([Sample]) -> Void
    public var connection: @Sendable (_ device: String, _ up: Bool, _ reason: String?) -> Void
    /// Each completed poll: (device, how long it took). For the metrics.
    public var polled: @Sendable (_ device: String, _ took: Duration) -> Void

    public init(samples: @escaping @Sendable ([Sample]) -> Void,
                connection: @escaping @Sendable (String, Bool, String?) -> Void,
                polled: @escaping @Sendable (String, Duration) -> Void = { _, _ in }) {
        self.samples = samples
        self.connection = connection
        self.polled = polled
    }
}

/// The owner of one link: a serial port with all the devices on its bus, or a TCP device that
/// needs a `pause` (every other TCP device is on the `ModbusTCPMux`). One thread of its own
/// (libmodbus blocks, and a context is not thread-safe), never Swift's cooperative pool;
/// requests on the link are strictly one at a time, with the configured pause before each. A
/// dead device on another link never delays this one.
///
/// After an I/O error or timeout a TCP link is closed and reconnected explicitly on the next
/// request; a serial port is flushed (the port is fine, the slave is not). `comm_after`
/// consecutive failed polls raise the device's `comm` alarm; from then on it is retried with
/// capped, jittered exponential backoff, and its first good poll clears the alarm.
public final class ModbusBus: ModbusLinkOwner, @unchecked Sendable {
    public let name: String
    let transport: ModbusTransport
    let devices: [ModbusDevice]
    let handlers: ModbusHandlers
    let logger: Logger
    private let cond = NSCondition()
    private var stopping = false
    private var running = false
    private var connection: ModbusConnection?
    private var registers = [UInt16](repeating: 0, count: ReadPlan.maxRegisters)
    private var bits = [UInt8](repeating: 0, count: ReadPlan.maxBits)
    private var rng = SystemRandomNumberGenerator()

    /// - Parameter devices: every device on this link (one for TCP), with its tags.
    ///
    /// Links with the same poll period poll in phase (all start now). Measured on this 2-core
    /// VM with 200 devices, when every TCP device still had a bus of its own: spreading them over
    /// the period cost three times the CPU per poll (165 µs against 55 µs), because every
    /// separate wake-up takes a CPU out of idle (docs/PERFORMANCE.md).
    public init(devices: [(ModbusDeviceSettings, [ModbusBinding])], handlers: ModbusHandlers, logger: Logger) {
        let start = ContinuousClock.now
        self.devices = devices.map { ModbusDevice($0.0, bindings: $0.1, start: start, handlers: handlers, logger: logger) }
        transport = devices[0].0.transport
        switch transport {
        case .tcp(let host, let port): name = "tcp://\(host):\(port) unit \(devices[0].0.unit)"
        case .rtu(let path, _, _, _, _): name = "rtu://\(path)"
        }
        self.handlers = handlers
        self.logger = logger
    }


    public func start() {
        cond.lock()
        running = true
        cond.unlock()
        let t = Thread { [self] in
            Thread.current.name = "modbus " + (devices.count == 1 ? devices[0].settings.id : name)
            loop()
        }
        t.stackSize = 512 * 1024
        t.start()
    }

    /// Stops after the request in progress (at most one response timeout) and closes the link.
    public func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while running { _ = cond.wait(until: Date().addingTimeInterval(0.1)) }
        cond.unlock()
    }

    // MARK: the owner thread

    private func loop() {
        while true {
            guard let d = devices.min(by: { $0.next < $1.next }) else { break }
            if !sleep(until: d.next) { break }
            let started = ContinuousClock.now
            let ok = poll(d, now: started)
            let took = ContinuousClock.now - started
            handlers.polled(d.settings.id, took)
            d.schedule(ok: ok, started: started, using: &rng)
        }
        connection?.close()
        connection = nil
        cond.lock()
        running = false
        cond.broadcast()
        cond.unlock()
    }

    /// Waits until `t`; false if the bus is stopping.
    private func sleep(until t: ContinuousClock.Instant) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while !stopping {
            let left = t - ContinuousClock.now
            if left <= .zero { return true }
            _ = cond.wait(until: Date().addingTimeInterval(left.secondsDouble))
        }
        return false
    }

    /// One poll of one device: every block in turn. True if the link worked.
    private func poll(_ d: ModbusDevice, now: ContinuousClock.Instant) -> Bool {
        d.beginPoll()
        for (bi, block) in d.blocks.enumerated() {
            switch request(block, device: d) {
            case .success:
                d.accept(block: bi, registers: registers, bits: bits)
            case .failure(.exception(let code)):
                d.accept(block: bi, exception: code)
            case .failure(.io(let why)):
                d.failed(reason: "\(why) (\(block.table.rawValue) \(block.start)+\(block.count))")
                return false
            }
        }
        return d.finishPoll(now: now)
    }

    /// One block, with the device's retries; reconnects first if the link is closed.
    private func request(_ block: ReadBlock, device d: ModbusDevice) -> Result<Void, ModbusFailure> {
        var last = ModbusFailure.io("not tried")
        for _ in 0...d.settings.retries {
            if stoppingNow { return .failure(.io("stopping")) }
            do {
                let c = try link(d)
                c.setTimeout(d.settings.timeout)
                if d.settings.pause > .zero { Thread.sleep(forTimeInterval: d.settings.pause.secondsDouble) }
                try c.read(block, unit: d.settings.unit, registers: &registers, bits: &bits)
                return .success(())
            } catch {
                last = error
                if case .exception = error { return .failure(error) }
                if case .tcp = transport { connection?.close() } else { connection?.flush() }
            }
        }
        return .failure(last)
    }

    private var stoppingNow: Bool {
        cond.lock(); defer { cond.unlock() }
        return stopping
    }

    /// The open link, connecting (and pausing after connect) if needed.
    private func link(_ d: ModbusDevice) throws(ModbusFailure) -> ModbusConnection {
        if connection == nil {
            connection = try ModbusConnection(transport: transport, timeout: d.settings.timeout, rs485: d.settings.rs485)
        }
        let c = connection!
        if !c.isOpen {
            try c.open()
            if d.settings.pause > .zero { Thread.sleep(forTimeInterval: d.settings.pause.secondsDouble) }
        }
        return c
    }
}
