import Foundation
import HazmonCore
import Logging

/// One device's polling state and the logic of a poll, whatever does the I/O: its read plan,
/// the samples of the poll in progress (built block by block as answers arrive), the
/// heartbeat, consecutive failures, the `comm` transitions and the schedule. Used by exactly
/// one thread at a time (its link's owner).
final class ModbusDevice {
    let settings: ModbusDeviceSettings
    let bindings: [ModbusBinding]
    let blocks: [ReadBlock]
    /// Per binding: its block and offset in it.
    let placement: [(block: Int, offset: Int)]
    /// The heartbeat's block and offset, if the device has one.
    let heartbeatAt: (block: Int, offset: Int)?
    /// Per binding: its fault bit's block and offset, if it has one (empty: none has).
    let faultAt: [(block: Int, offset: Int)?]
    let handlers: ModbusHandlers
    let logger: Logger

    var next: ContinuousClock.Instant
    var failures = 0
    var down = false
    var backoff: Duration
    var heartbeatValue: UInt16?
    var heartbeatChanged: ContinuousClock.Instant

    // The poll in progress.
    private var now = Instant.steadyNow
    private var samples: [Sample] = []
    private var heartbeatWord: UInt16?
    /// Fault bits may sit in another block than their values: noted per binding as their
    /// block arrives, applied once all are in.
    private var faulted: [Bool] = []
    /// Per sample, its binding (only when the device has fault bits).
    private var owners: [Int] = []

    init(_ s: ModbusDeviceSettings, bindings: [ModbusBinding], start: ContinuousClock.Instant, handlers: ModbusHandlers, logger: Logger) {
        settings = s
        self.bindings = bindings
        self.handlers = handlers
        self.logger = logger
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
        placement = Array(at.prefix(bindings.count))
        heartbeatAt = s.heartbeat == nil ? nil : at[bindings.count]
        var faultAt: [(block: Int, offset: Int)?] = faultBits.isEmpty ? [] : Array(repeating: nil, count: bindings.count)
        let first = bindings.count + (s.heartbeat == nil ? 0 : 1)
        for (j, k) in faultBits.enumerated() { faultAt[k] = at[first + j] }
        self.faultAt = faultAt
        next = start
        backoff = s.poll
        heartbeatChanged = start
    }

    // MARK: one poll, block by block

    func beginPoll() {
        now = Instant.steadyNow
        samples = []
        samples.reserveCapacity(bindings.count)
        heartbeatWord = nil
        faulted = faultAt.isEmpty ? [] : [Bool](repeating: false, count: bindings.count)
        owners = []
    }

    /// Block `bi` arrived: `registers` (register tables) or `bits` (one byte per bit) hold it
    /// from index 0.
    func accept(block bi: Int, registers: [UInt16], bits: [UInt8]) {
        let block = blocks[bi]
        for (k, b) in bindings.enumerated() where placement[k].block == bi {
            let offset = placement[k].offset
            let raw: Double
            if block.isBits {
                raw = Double(bits[offset] & 1)
            } else {
                raw = ModbusDecoder.raw(b.source.type, order: b.source.order,
                                        words: registers[offset..<(offset + b.source.type.registerCount)])
            }
            samples.append(ModbusDecoder.sample(raw, source: b.source, tag: b.tag, at: now))
            if !faulted.isEmpty { owners.append(k) }
        }
        if let h = heartbeatAt, h.block == bi {
            heartbeatWord = block.isBits ? UInt16(bits[h.offset]) : registers[h.offset]
        }
        for (k, f) in faultAt.enumerated() where f?.block == bi {
            let word = block.isBits ? UInt16(bits[f!.offset] & 1) : registers[f!.offset]
            faulted[k] = (word >> UInt16(bindings[k].source.faultBit!.bit)) & 1 == 1
        }
    }

    /// Block `bi` was answered with a Modbus exception: the link is fine, its tags are not.
    func accept(block bi: Int, exception code: Int) {
        let block = blocks[bi]
        let fault = SensorFault.modbusException(code: code, table: block.table.modbusTableNumber,
                                                address: block.start, count: block.count)
        for (k, b) in bindings.enumerated() where placement[k].block == bi {
            samples.append(Sample(tag: b.tag, value: .nan, quality: .bad, time: now, fault: fault))
            if !faulted.isEmpty { owners.append(k) }
        }
    }

    /// Every block is in: the heartbeat judged, fault bits applied, samples delivered. Returns
    /// whether the link worked (true also for a frozen heartbeat: the device is failed, but it
    /// answers, so it is polled at its rate rather than backed off, and its recovery is seen
    /// at the next poll).
    func finishPoll(now: ContinuousClock.Instant) -> Bool {
        if let h = settings.heartbeat, let word = heartbeatWord {
            let value = h.bit.map { (word >> UInt16($0)) & 1 } ?? word
            if value != heartbeatValue {
                heartbeatValue = value
                heartbeatChanged = now
            } else if now - heartbeatChanged >= h.within {
                // A frozen controller still answers: its values are not to be trusted.
                failed(reason: "heartbeat \(h.table.rawValue) \(h.address)\(h.bit.map { " bit \($0)" } ?? "") has not changed for \(DurationParser.format(h.within))", immediately: true)
                return true
            }
        }
        for (i, k) in owners.enumerated() where faulted[k] && samples[i].fault == nil {
            let f = bindings[k].source.faultBit!
            samples[i].quality = .bad
            samples[i].fault = .faultBit(table: f.table.modbusTableNumber, address: f.address, bit: f.bit)
        }
        failures = 0
        if down {
            down = false
            logger.notice("Modbus device back", metadata: ["device": "\(settings.id)"])
            handlers.connection(settings.id, true, nil)
        }
        if !samples.isEmpty { handlers.samples(samples) }
        return true
    }

    /// A poll failed (no answer, a broken link, a garbled frame): after `comm_after` in a row
    /// (or at once), the device is down.
    func failed(reason: String, immediately: Bool = false) {
        failures += 1
        if !down, immediately || failures >= settings.commAfter {
            down = true
            logger.error("Modbus device down", metadata: ["device": "\(settings.id)", "reason": "\(reason)", "failures": "\(failures)"])
            handlers.connection(settings.id, false, reason)
        } else if !down {
            logger.warning("Modbus poll failed", metadata: ["device": "\(settings.id)", "reason": "\(reason)", "failures": "\(failures)"])
        }
    }

    /// The next poll: at a fixed rate while the device is well, with backoff while it is down.
    func schedule(ok: Bool, started: ContinuousClock.Instant, using rng: inout some RandomNumberGenerator) {
        if ok || !down {
            // Fixed rate; after a stall, start again from now instead of bursting to catch up.
            next = next + settings.poll
            if next < started { next = started + settings.poll }
            backoff = settings.poll
            return
        }
        // Down: back off (doubling, capped, ±20 % jitter so devices that died together do not
        // retry in lockstep).
        backoff = min(backoff * 2, settings.backoffMax)
        let jitter = Double.random(in: 0.8...1.2, using: &rng)
        next = started + backoff * jitter
    }
}
