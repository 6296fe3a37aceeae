import CModbus

#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with one request.
public enum ModbusFailure: Error, Equatable, CustomStringConvertible {
    /// The device answered with a Modbus exception: the link is fine, the request is not.
    case exception(code: Int)
    /// No answer, a broken connection, or a garbled frame: the link is suspect.
    case io(String)

    public var description: String {
        switch self {
        case .exception(let code): return "Modbus exception \(code)"
        case .io(let why): return why
        }
    }

    /// Classifies libmodbus's errno after a failed call.
    static func fromErrno(_ e: Int32) -> ModbusFailure {
        let base = Int32(MODBUS_ENOBASE)
        let code = Int(e - base)
        if code >= 1, code < Int(MODBUS_EXCEPTION_MAX) { return .exception(code: code) }
        return .io(String(cString: modbus_strerror(e)))
    }
}

/// One libmodbus context: a TCP connection or a serial port. Not thread-safe (libmodbus
/// contexts are not): exactly one thread, its bus's owner, uses it. C types stay in here.
final class ModbusConnection {
    private let ctx: OpaquePointer
    let transport: ModbusTransport
    private(set) var isOpen = false

    init(transport: ModbusTransport, timeout: Duration, rs485: Bool) throws(ModbusFailure) {
        self.transport = transport
        let made: OpaquePointer?
        switch transport {
        case .tcp(let host, let port):
            made = modbus_new_tcp_pi(host, String(port))
        case .rtu(let device, let baud, let parity, let dataBits, let stopBits):
            made = modbus_new_rtu(device, Int32(baud), CChar(parity.asciiValue ?? 78), Int32(dataBits), Int32(stopBits))
        }
        guard let made else { throw .io("cannot create a libmodbus context: \(String(cString: modbus_strerror(errno)))") }
        ctx = made
        self.rs485 = rs485
        modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE)
        setTimeout(timeout)
    }

    private let rs485: Bool
    private var timeout: Duration = .zero

    /// The response timeout (devices on one serial bus may each have their own).
    func setTimeout(_ t: Duration) {
        guard t != timeout else { return }
        timeout = t
        let ns = t.nanosecondsClamped
        modbus_set_response_timeout(ctx, UInt32(ns / 1_000_000_000), UInt32(ns % 1_000_000_000 / 1000))
    }

    deinit {
        close()
        modbus_free(ctx)
    }

    func open() throws(ModbusFailure) {
        guard !isOpen else { return }
        guard modbus_connect(ctx) == 0 else { throw .io("connect: \(String(cString: modbus_strerror(errno)))") }
        if rs485, case .rtu = transport, modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) != 0 {
            let why = String(cString: modbus_strerror(errno))
            modbus_close(ctx)
            throw .io("RS-485 mode: \(why)")
        }
        isOpen = true
    }

    /// Closes the link; the next request reconnects explicitly (libmodbus issue #735: its own
    /// recovery does not restore a link after a gateway reboots).
    func close() {
        guard isOpen else { return }
        modbus_close(ctx)
        isOpen = false
    }

    /// Drops whatever is still in the receive buffer (a late answer on a serial bus).
    func flush() { if isOpen { _ = modbus_flush(ctx) } }

    /// Reads a block into `registers` (register tables) or `bits` (coils, discrete inputs).
    func read(_ block: ReadBlock, unit: Int, registers: inout [UInt16], bits: inout [UInt8]) throws(ModbusFailure) {
        modbus_set_slave(ctx, Int32(unit))
        let n: Int32
        switch block.table {
        case .holding:
            n = registers.withUnsafeMutableBufferPointer { modbus_read_registers(ctx, Int32(block.start), Int32(block.count), $0.baseAddress) }
        case .input:
            n = registers.withUnsafeMutableBufferPointer { modbus_read_input_registers(ctx, Int32(block.start), Int32(block.count), $0.baseAddress) }
        case .coil:
            n = bits.withUnsafeMutableBufferPointer { modbus_read_bits(ctx, Int32(block.start), Int32(block.count), $0.baseAddress) }
        case .discrete:
            n = bits.withUnsafeMutableBufferPointer { modbus_read_input_bits(ctx, Int32(block.start), Int32(block.count), $0.baseAddress) }
        }
        if n < 0 { throw ModbusFailure.fromErrno(errno) }
        if n != Int32(block.count) { throw .io("short answer: \(n) of \(block.count) values") }
    }

    // MARK: split requests, for a link whose answers are awaited with poll(2) (TCP only)

    /// The connected socket (to wait for an answer with poll(2)).
    var socket: Int32 { modbus_get_socket(ctx) }

    /// How long a frame may pause midway: the time an owner of many links can lose to one that
    /// sends half an answer and stops.
    func setByteTimeout(_ t: Duration) {
        let ns = t.nanosecondsClamped
        modbus_set_byte_timeout(ctx, UInt32(ns / 1_000_000_000), UInt32(ns % 1_000_000_000 / 1000))
    }

    /// Sends the request for a block; its answer is read by `receive` once the socket is
    /// readable. libmodbus builds the frame (MBAP header, transaction id).
    func send(_ block: ReadBlock, unit: Int) throws(ModbusFailure) {
        let fc = block.functionCode
        let request: [UInt8] = [UInt8(truncatingIfNeeded: unit), fc,
                                UInt8(block.start >> 8), UInt8(block.start & 0xFF),
                                UInt8(block.count >> 8), UInt8(block.count & 0xFF)]
        let n = request.withUnsafeBufferPointer { modbus_send_raw_request(ctx, $0.baseAddress, Int32($0.count)) }
        if n < 0 { throw ModbusFailure.fromErrno(errno) }
    }

    private var answer = [UInt8](repeating: 0, count: Int(MODBUS_TCP_MAX_ADU_LENGTH))

    /// Reads the answer to `send(block)` (call when the socket is readable: libmodbus then
    /// reads it without waiting) and checks it is the answer to that request: the unit, the
    /// function, the byte count. An exception answer throws `.exception`.
    func receive(_ block: ReadBlock, unit: Int, registers: inout [UInt16], bits: inout [UInt8]) throws(ModbusFailure) {
        let n = answer.withUnsafeMutableBufferPointer { modbus_receive_confirmation(ctx, $0.baseAddress) }
        if n < 0 { throw ModbusFailure.fromErrno(errno) }
        // MBAP header: transaction (2), protocol (2), length (2), unit (1); then the PDU.
        let fc = block.functionCode
        guard n >= 9 else { throw .io("answer of \(n) bytes is too short") }
        guard Int(answer[6]) == unit else { throw .io("answer from unit \(answer[6]), asked unit \(unit)") }
        if answer[7] == fc | 0x80 { throw .exception(code: Int(answer[8])) }
        guard answer[7] == fc else { throw .io("answer to function \(answer[7]), asked function \(fc)") }
        let bytes = block.isBits ? (block.count + 7) / 8 : block.count * 2
        guard Int(answer[8]) == bytes, Int(n) >= 9 + bytes else {
            throw .io("answer carries \(answer[8]) bytes, \(bytes) expected")
        }
        if block.isBits {
            for i in 0..<block.count { bits[i] = (answer[9 + i / 8] >> UInt8(i % 8)) & 1 }
        } else {
            for i in 0..<block.count { registers[i] = UInt16(answer[9 + 2 * i]) << 8 | UInt16(answer[10 + 2 * i]) }
        }
    }
}

extension ReadBlock {
    /// The Modbus function that reads this block's table.
    var functionCode: UInt8 {
        switch table {
        case .coil: return 0x01
        case .discrete: return 0x02
        case .holding: return 0x03
        case .input: return 0x04
        }
    }
}
