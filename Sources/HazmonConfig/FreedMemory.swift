#if canImport(Glibc)
import Glibc
#endif

/// Hands the heap pages freed by a configuration load back to the system.
///
/// Parsing a park's configuration (50,000 tags) builds a TOML tree of several hundred MiB that
/// is dead once the typed configuration exists; glibc keeps freed pages in the process, so the
/// daemon's resident memory would stay at the peak for ever. `malloc_trim(0)` returns them.
/// (Glibc's `<malloc.h>` is not in Swift's Glibc module, hence the lookup by name.)
public enum FreedMemory {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
    }()

    /// Returns freed heap memory to the system; false where the C library has no `malloc_trim`.
    @discardableResult
    public static func release() -> Bool {
        guard let trim else { return false }
        _ = trim(0)
        return true
    }
}
