import CHeap
import Foundation

/// Hands the heap pages freed by a configuration load back to the system.
///
/// Parsing a park's configuration (50,000 tags) builds a TOML tree of about 100 MiB that is
/// dead once the typed configuration exists; glibc keeps freed pages in the process, so the
/// daemon's resident memory would stay at the peak for ever. `malloc_trim(0)` returns them.
public enum FreedMemory {
    public static func release() { hazmon_heap_trim() }

    /// The heap policy every hazmon process starts with (docs/PERFORMANCE.md, "Park scale"):
    /// blocks of 256 KiB or more in pages of their own, returned when freed, and two malloc
    /// arenas. At 50,000 tags it took the resident size after a minute and a half of load from
    /// 133 to 122 MiB. Call it first, before any thread starts. GLIBC_TUNABLES with malloc
    /// settings in the environment wins: then this changes nothing.
    /// - Parameter tunables: GLIBC_TUNABLES (the environment's, unless a test gives one).
    @discardableResult
    public static func useDaemonPolicy(tunables: String? = getenv("GLIBC_TUNABLES").map { String(cString: $0) }) -> HeapPolicy {
        switch hazmon_heap_policy(256 * 1024, 2, tunables) {
        case 1: .set
        case 0: .leftToEnvironment
        default: .refused
        }
    }

    public enum HeapPolicy: Sendable, Equatable {
        case set
        /// GLIBC_TUNABLES sets malloc tunables: glibc applied those, this changed nothing.
        case leftToEnvironment
        /// glibc refused a setting (it then keeps its default for it).
        case refused
    }

    /// The bytes the heap has handed out and not had back (live memory, not fragmentation).
    public static var heapInUse: Int { Int(hazmon_heap_in_use()) }
}
