import HazmonPipeline
import Testing

/// The wake-up that cursor consumers and uplinks idle on. A timeout or a wake-up must not leave
/// a wake-up behind: if it did, every later wait would return at once and its loop would spin
/// (it did: an uplink with no heartbeat and no snapshots held a core at 100 %).
@Suite("WakeSignal")
struct WakeSignalTests {
    /// How long a wait takes, in milliseconds.
    func timed(_ body: () async -> Void) async -> Double {
        let start = ContinuousClock.now
        await body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    @Test(.timeLimit(.minutes(10))) func aFireWakesOneWaitAndLeavesNothingBehind() async {
        let s = WakeSignal()
        s.fire()
        // A fire before the wait wakes it (its own timeout is an hour).
        #expect(await s.wait(upTo: .seconds(3600)))
        // The first wait's timer was cancelled; it must not fire the next wait early.
        for _ in 0..<3 {
            let next = await timed { _ = await s.wait(upTo: .milliseconds(200)) }
            #expect(next >= 150, "each later wait runs to its timeout: \(next) ms")
        }
    }

    /// Woken by the fire: the wait's own timeout is an hour (the suite shares two cores with
    /// the integration tests, so no tighter bound on the time is honest).
    @Test(.timeLimit(.minutes(10))) func aFireDuringAWaitWakesIt() async {
        let s = WakeSignal()
        let firer = Task {
            try? await Task.sleep(for: .milliseconds(100))
            s.fire()
        }
        let woken = await s.wait(upTo: .seconds(3600))
        await firer.value
        #expect(woken, "returned, and not cancelled")
        let after = await timed { _ = await s.wait(upTo: .milliseconds(200)) }
        #expect(after >= 150, "and nothing left behind: \(after) ms")
    }

    @Test func aCancelledWaitReturnsFalse() async {
        let s = WakeSignal()
        let t = Task { await s.wait(upTo: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        t.cancel()
        #expect(await t.value == false)
    }
}
