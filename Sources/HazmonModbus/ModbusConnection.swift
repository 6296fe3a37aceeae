import CModbus
import HazmonConfig

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
}
