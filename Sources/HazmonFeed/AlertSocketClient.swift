#if canImport(Glibc)
import Glibc
#endif

/// A blocking line client for the alert socket: what the operator CLI (`hazmon alarms`, `ack`,
/// `tail`, ...) and the tests use. One request line out, reply lines in, with timeouts.
public final class AlertSocketClient {
    public let fd: Int32
    private var buffer: [UInt8] = []

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(path: String) throws(Failure) {
        // `self.fd` is set only once connected: an init that throws after every stored property
        // is set runs the deinit, whose close would be a second one, closing whatever another
        // thread opened under that number in between.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket(): \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw Failure(description: "cannot connect to the alert socket \(path): \(why) (is hazmon running?)")
        }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Sends one request line.
    public func send(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            off += n
        }
    }

    /// The next line, or nil after `timeout` seconds (nil timeout: wait forever) or at EOF.
    public func readLine(timeout: Double? = 10) -> String? {
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let start = Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            var waitMs: Int32 = -1
            if let timeout {
                clock_gettime(CLOCK_MONOTONIC, &clock)
                let left = timeout - (Double(clock.tv_sec) + Double(clock.tv_nsec) / 1e9 - start)
                if left <= 0 { return nil }
                waitMs = Int32(left * 1000) + 1
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, waitMs)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}
