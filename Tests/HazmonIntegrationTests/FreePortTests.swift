import Foundation
import HazmonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The ports the tests' servers are started on. The kernel's pick for port 0 comes from the
/// ephemeral range, where outgoing connections take their local ports too, and it hands a port
/// just closed to the next caller again: two tests in parallel were once given one port, and
/// the second broker failed to bind while its test talked to the first.
@Suite("Free loopback ports for the tests' servers")
struct FreePortTests {
    /// Never the same port twice in one process, always below the ephemeral range, and free:
    /// a listener binds each one at once.
    @Test func portsAreDistinctBelowTheEphemeralRangeAndBindable() throws {
        var seen = Set<Int>()
        for _ in 0..<300 {
            let port = try FreePort.find()
            #expect(port >= 20_000 && port < 32_768, "port \(port)")
            #expect(seen.insert(port).inserted, "port \(port) given twice")
            #expect(listen(on: port), "port \(port) could not be bound")
        }
    }

    /// Many tests asking at the same moment (Swift Testing runs them in parallel) get distinct ports.
    @Test func parallelCallersGetDistinctPorts() async throws {
        let ports = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<64 { group.addTask { try FreePort.find() } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(Set(ports).count == 64)
    }

    /// Binds and listens on 127.0.0.1:`port` as the servers do (SO_REUSEADDR: mosquitto, NIO,
    /// libmodbus), then closes.
    func listen(on port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        return Loopback.withAddress(port: port) { bind(fd, $0, $1) == 0 } && Glibc.listen(fd, 1) == 0
    }
}
