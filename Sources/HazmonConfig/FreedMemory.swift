import CHeap

/// Hands the heap pages freed by a configuration load back to the system.
///
/// Parsing a park's configuration (50,000 tags) builds a TOML tree of about 100 MiB that is
/// dead once the typed configuration exists; glibc keeps freed pages in the process, so the
/// daemon's resident memory would stay at the peak for ever. `malloc_trim(0)` returns them.
public enum FreedMemory {
    public static func release() { hazmon_heap_trim() }

    /// The bytes the heap has handed out and not had back (live memory, not fragmentation).
    public static var heapInUse: Int { Int(hazmon_heap_in_use()) }
}
