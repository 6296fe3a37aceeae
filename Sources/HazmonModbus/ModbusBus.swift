import Foundation
import HazmonConfig
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

/// The owner of one link: a TCP device, or a serial port with all the devices on its bus. One
/// thread of its own (libmodbus blocks, and a context is not thread-safe), never Swift's
/// cooperative pool; requests on the link are strictly one at a time, with the configured
/// pause before each. A dead device on another link never delays this one.
///
/// After an I/O error or timeout a TCP link is closed and reconnected explicitly on the next
/// request; a serial port is flushed (the port is fine, the slave is not). `comm_after`
/// consecutive failed polls raise the device's `comm` alarm; from then on it is retried with
/// capped, jittered exponential backoff, and its first good poll clears the alarm.
public final class ModbusBus: @unchecked Sendable {
    final class Device {
        let settings: ModbusDeviceSettings
        let bindings: [ModbusBinding]
        let blocks: [ReadBlock]
        /// Per binding: its block and offset in it.
        let where_: [(block: Int, offset: Int)]
        /// The heartbeat's block and offset, if the device has one.
        let heartbeatAt: (block: Int, offset: Int)?
        /// Per binding: its fault bit's block and offset, if it has one (empty: none has).
        let faultAt: [(block: Int, offset: Int)?]
        var next: ContinuousClock.Instant
        var failures = 0
        var down = false
        var backoff: Duration
        var heartbeatValue: UInt16?
        var heartbeatChanged: ContinuousClock.Instant
        var heartbeatStuck = false

        init(_ s: ModbusDeviceSettings, bindings: [ModbusBinding], start: ContinuousClock.Instant) {
            settings = s
            self.bindings = bindings
            var points = bindings.map { ReadPlan.Point(table: $0.source.table, address: $0.source.address, count: $0.source.type.registerCount) }
            if let h = s.heartbeat { points.append(ReadPlan.Point(table: h.table, address: h.address, count: 1)) }
            let faultBits = bindings.indices.filter { bindings[$0].source.faultBit != nil }
            for k in faultBits {
                let f = bindings[k].source.faultBit!
                points.append(ReadPlan.Point(table: f.table, address: f.address, count: 1))
            }
            let blocks = ReadPlan.blocks(for: points, maxGap: s.maxGap)
            self.blocks = blocks
            var at = Array(repeating: (block: 0, offset: 0), count: points.count)
            for (bi, b) in blocks.enumerated() { for p in b.points { at[p] = (bi, points[p].address - b.start) } }
            where_ = Array(at.prefix(bindings.count))
            heartbeatAt = s.heartbeat == nil ? nil : at[bindings.count]
            var faultAt: [(block: Int, offset: Int)?] = faultBits.isEmpty ? [] : Array(repeating: nil, count: bindings.count)
            let first = bindings.count + (s.heartbeat == nil ? 0 : 1)
            for (j, k) in faultBits.enumerated() { faultAt[k] = at[first + j] }
            self.faultAt = faultAt
            next = start
            backoff = s.poll
            heartbeatChanged = start
        }
    }

    public let name: String
    let transport: ModbusTransport
    let devices: [Device]
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
    /// VM with 200 devices: spreading them over the period cost three times the CPU per poll
    /// (165 µs against 55 µs), because every separate wake-up takes a CPU out of idle, while
    /// wake-ups in one burst run back to back (docs/PERFORMANCE.md).
    public init(devices: [(ModbusDeviceSettings, [ModbusBinding])], handlers: ModbusHandlers, logger: Logger) {
        let start = ContinuousClock.now
        self.devices = devices.map { Device($0.0, bindings: $0.1, start: start) }
        transport = devices[0].0.transport
        switch transport {
        case .tcp(let host, let port): name = "tcp://\(host):\(port) unit \(devices[0].0.unit)"
        case .rtu(let path, _, _, _, _): name = "rtu://\(path)"
        }
        self.handlers = handlers
        self.logger = logger
    }

    /// Requests per poll of each device (for `hazmon check` and tests).
    public var requestsPerPoll: [String: Int] { Dictionary(uniqueKeysWithValues: devices.map { ($0.settings.id, $0.blocks.count) }) }

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
            schedule(d, ok: ok, started: started)
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

    private func schedule(_ d: Device, ok: Bool, started: ContinuousClock.Instant) {
        if ok || !d.down {
            // Fixed rate; after a stall, start again from now instead of bursting to catch up.
            d.next = d.next + d.settings.poll
            if d.next < started { d.next = started + d.settings.poll }
            d.backoff = d.settings.poll
            return
        }
        // Down: back off (doubling, capped, ±20 % jitter so devices that died together do not
        // retry in lockstep).
        d.backoff = min(d.backoff * 2, d.settings.backoffMax)
        let jitter = Double.random(in: 0.8...1.2, using: &rng)
        d.next = started + d.backoff * jitter
    }

    /// One poll of one device: every block, decoded into samples. True if the link worked.
    private func poll(_ d: Device, now: ContinuousClock.Instant) -> Bool {
        let wall = Instant.now
        var samples: [Sample] = []
        samples.reserveCapacity(d.bindings.count)
        var heartbeatWord: UInt16?
        // Fault bits may sit in another block than their values: noted per binding as their
        // block arrives, applied once all are in.
        var faulted = d.faultAt.isEmpty ? [] : [Bool](repeating: false, count: d.bindings.count)
        var owners: [Int] = []
        for (bi, block) in d.blocks.enumerated() {
            switch request(block, device: d) {
            case .success:
                for (k, b) in d.bindings.enumerated() where d.where_[k].block == bi {
                    samples.append(decode(b, offset: d.where_[k].offset, block: block, at: wall))
                    if !faulted.isEmpty { owners.append(k) }
                }
                for (k, f) in d.faultAt.enumerated() where f?.block == bi {
                    let word = block.isBits ? UInt16(bits[f!.offset] & 1) : registers[f!.offset]
                    faulted[k] = (word >> UInt16(d.bindings[k].source.faultBit!.bit)) & 1 == 1
                }
                if let h = d.heartbeatAt, h.block == bi {
                    heartbeatWord = block.isBits ? UInt16(bits[h.offset]) : registers[h.offset]
                }
            case .failure(.exception(let code)):
                // The link is fine; this block's tags are not.
                let fault = SensorFault.modbusException(code: code, table: block.table.modbusTableNumber,
                                                        address: block.start, count: block.count)
                for (k, b) in d.bindings.enumerated() where d.where_[k].block == bi {
                    samples.append(Sample(tag: b.tag, value: .nan, quality: .bad, time: wall, fault: fault))
                    if !faulted.isEmpty { owners.append(k) }
                }
            case .failure(.io(let why)):
                failed(d, reason: "\(why) (\(block.table.rawValue) \(block.start)+\(block.count))")
                return false
            }
        }
        if let h = d.settings.heartbeat, let word = heartbeatWord {
            let value = h.bit.map { (word >> UInt16($0)) & 1 } ?? word
            if value != d.heartbeatValue {
                d.heartbeatValue = value
                d.heartbeatChanged = now
                d.heartbeatStuck = false
            } else if now - d.heartbeatChanged >= h.within {
                // A frozen controller still answers: its values are not to be trusted.
                d.heartbeatStuck = true
                failed(d, reason: "heartbeat \(h.table.rawValue) \(h.address)\(h.bit.map { " bit \($0)" } ?? "") has not changed for \(DurationParser.format(h.within))", immediately: true)
                return false
            }
        }
        for (i, k) in owners.enumerated() where faulted[k] && samples[i].fault == nil {
            let f = d.bindings[k].source.faultBit!
            samples[i].quality = .bad
            samples[i].fault = .faultBit(table: f.table.modbusTableNumber, address: f.address, bit: f.bit)
        }
        d.failures = 0
        if d.down {
            d.down = false
            logger.notice("Modbus device back", metadata: ["device": "\(d.settings.id)"])
            handlers.connection(d.settings.id, true, nil)
        }
        if !samples.isEmpty { handlers.samples(samples) }
        return true
    }

    private func failed(_ d: Device, reason: String, immediately: Bool = false) {
        d.failures += 1
        if !d.down, immediately || d.failures >= d.settings.commAfter {
            d.down = true
            logger.error("Modbus device down", metadata: ["device": "\(d.settings.id)", "reason": "\(reason)", "failures": "\(d.failures)"])
            handlers.connection(d.settings.id, false, reason)
        } else if !d.down {
            logger.warning("Modbus poll failed", metadata: ["device": "\(d.settings.id)", "reason": "\(reason)", "failures": "\(d.failures)"])
        }
    }

    /// One block, with the device's retries; reconnects first if the link is closed.
    private func request(_ block: ReadBlock, device d: Device) -> Result<Void, ModbusFailure> {
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
    private func link(_ d: Device) throws(ModbusFailure) -> ModbusConnection {
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

    private func decode(_ b: ModbusBinding, offset: Int, block: ReadBlock, at time: Instant) -> Sample {
        let raw: Double
        if block.isBits {
            raw = Double(bits[offset] & 1)
        } else {
            raw = ModbusDecoder.raw(b.source.type, order: b.source.order,
                                    words: registers[offset..<(offset + b.source.type.registerCount)])
        }
        return ModbusDecoder.sample(raw, source: b.source, tag: b.tag, at: time)
    }
}
