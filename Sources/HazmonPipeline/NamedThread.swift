import Foundation

/// A thread of its own with a name that shows in `top -H` and a profile. Blocking work (SQLite,
/// libmodbus) runs on these, never on Swift's cooperative pool.
public enum NamedThread {
    public static func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let t = Thread {
            // Named from inside: Linux threads otherwise inherit their creator's name.
            Thread.current.name = name
            body()
        }
        t.start()
    }

    /// Runs a blocking call on a thread of its own and awaits its result.
    public static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            start(name) { done.resume(returning: body()) }
        }
    }
}
