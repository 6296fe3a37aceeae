import HazmonCore
import HazmonJournal
@testable import HazmonPipeline
import Testing

/// A batch of events numbered `seqs`.
func batch(_ seqs: UInt64...) -> JournalBatch {
    let events = seqs.map { s in
        AlarmEvent(seq: s, time: Instant(seconds: 1), site: "t", tag: "GT-101", condition: .h, event: .raised, grade: .yellow,
                   state: .unack, value: 25, unit: "%LEL", limit: 20, quality: .good, source: "test", sourceTime: nil, message: "m")
    }
    return JournalBatch(events: events, json: events.map(\.jsonLine), states: [])
}

/// Actions as short strings, so a table reads like the story it tells.
func show(_ actions: [JournalWriterMachine.Action]) -> [String] {
    func seqs(_ bs: [JournalBatch]) -> String { bs.flatMap(\.events).map { "\($0.seq)" }.joined(separator: ",") }
    return actions.map { a in
        switch a {
        case .commit(let bs): return "commit \(seqs(bs))"
        case .deliver(let ds): return "deliver " + ds.map { seqs([$0.batch]) + ($0.journaled ? "" : "!") }.joined(separator: " ")
        case .spill(let bs): return "spill \(seqs(bs))"
        case .commitSpill: return "commit spill"
        case .health(let up, _): return up ? "up" : "down"
        case .log(let level, _): return "log \(level)"
        case .finished(let lost, _): return "finished lost=" + lost.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
        }
    }
}

/// A fake clock in seconds.
func at(_ s: Double) -> Instant { Instant(seconds: 1_000 + s) }

@Suite("Journal writer state machine")
struct JournalWriterMachineTests {
    @Test func groupCommitThenDeliveryInOrder() {
        var m = JournalWriterMachine(maxWait: .seconds(1))
        #expect(show(m.submitted(batch(1), now: at(0))) == ["commit 1"])
        #expect(show(m.submitted(batch(2), now: at(0.01))) == [], "one commit at a time")
        #expect(show(m.submitted(batch(3, 4), now: at(0.02))) == [])
        #expect(show(m.commitFinished(error: nil, now: at(0.03))) == ["deliver 1", "commit 2,3,4"], "the next group in one transaction")
        #expect(show(m.deliveryFinished(now: at(0.03))) == [])
        #expect(show(m.commitFinished(error: nil, now: at(0.04))) == ["deliver 2 3,4"])
        #expect(show(m.deliveryFinished(now: at(0.04))) == [])
        #expect(m.commits == 2 && m.committedEvents == 4)
    }

    /// A burst that arrives while the journal thread wakes joins the commit handed out for its
    /// first batch: one transaction, one fsync, delivered together once it lands.
    @Test func batchesSubmittedBeforeTheWriteJoinTheCommitInFlight() {
        var m = JournalWriterMachine(maxWait: .seconds(1))
        #expect(m.joinInFlight().isEmpty, "no commit in flight: nothing to join")
        #expect(show(m.submitted(batch(1), now: at(0))) == ["commit 1"])
        _ = m.submitted(batch(2), now: at(0.001))
        _ = m.submitted(batch(3, 4), now: at(0.002))
        #expect(show([.commit(m.joinInFlight())]) == ["commit 2,3,4"])
        #expect(m.joinInFlight().isEmpty, "joined once")
        #expect(show(m.commitFinished(error: nil, now: at(0.01))) == ["deliver 1 2 3,4"], "all of it committed: no second commit")
        #expect(m.commits == 1 && m.committedEvents == 4)
        // A failed commit puts the joined batches in the backlog with the rest.
        _ = m.deliveryFinished(now: at(0.01))
        _ = m.submitted(batch(5), now: at(0.02))
        _ = m.submitted(batch(6), now: at(0.021))
        #expect(show([.commit(m.joinInFlight())]) == ["commit 6"])
        #expect(show(m.commitFinished(error: "disk I/O error", now: at(0.03))) == ["down", "spill 5,6", "deliver 5! 6!"])
    }

    @Test func aCommitPastMaxWaitIsAnnunciatedUnjournaledAndLaterCommitted() {
        var m = JournalWriterMachine(maxWait: .seconds(1))
        _ = m.submitted(batch(1), now: at(0))
        #expect(show(m.timerFired(now: at(0.5))) == [], "not yet due")
        #expect(show(m.timerFired(now: at(1.0))) == ["down", "deliver 1!"], "overdue: annunciated, flagged")
        #expect(show(m.deliveryFinished(now: at(1.0))) == [])
        #expect(show(m.submitted(batch(2), now: at(1.1))) == ["deliver 2!"], "while sick: at once, unjournaled")
        _ = m.deliveryFinished(now: at(1.1))
        #expect(show(m.commitFinished(error: nil, now: at(3))) == ["up", "commit 2"], "the hung commit lands; the backlog follows")
        #expect(show(m.commitFinished(error: nil, now: at(3.1))) == [], "nothing delivered twice")
    }

    @Test func aFailingJournalSpillsRetriesEverySecondAndRecovers() {
        var m = JournalWriterMachine(maxWait: .seconds(1))
        _ = m.submitted(batch(1), now: at(0))
        #expect(show(m.commitFinished(error: "disk full", now: at(0.01))) == ["down", "spill 1", "deliver 1!"])
        _ = m.deliveryFinished(now: at(0.01))
        #expect(show(m.spillFinished(error: nil, now: at(0.02))) == [])
        #expect(show(m.submitted(batch(2), now: at(0.1))) == ["deliver 2!"], "no doomed commit per event")
        _ = m.deliveryFinished(now: at(0.1))
        #expect(show(m.timerFired(now: at(0.5))) == [], "retries wait a second")
        #expect(show(m.timerFired(now: at(1.02))) == ["commit 1,2"])
        #expect(show(m.commitFinished(error: "disk full", now: at(1.03))) == ["spill 2"], "said once; only the new batch is spilled")
        _ = m.spillFinished(error: nil, now: at(1.04))
        #expect(show(m.timerFired(now: at(2.05))) == ["commit 1,2"])
        #expect(show(m.commitFinished(error: nil, now: at(2.06))) == ["up", "commit spill"])
        #expect(show(m.spillCommitted(error: nil, now: at(2.07))) == [])
        #expect(m.healthy)
    }

    @Test func stillFailingIsSaidOncePerInterval() {
        var m = JournalWriterMachine(maxWait: .seconds(1), stillFailingEvery: .seconds(10))
        _ = m.submitted(batch(1), now: at(0))
        var logs = 0
        var t = 0.0
        _ = m.commitFinished(error: "EIO", now: at(t))
        while t < 25 {
            t += 1
            for a in show(m.timerFired(now: at(t))) where a.hasPrefix("commit") {
                logs += show(m.commitFinished(error: "EIO", now: at(t))).filter { $0 == "log warning" }.count
            }
        }
        #expect(logs == 2, "25 failed retries, said at 10 s and 20 s")
    }

    @Test func theBacklogIsBoundedAndOnlyUnspilledEventsAreLost() {
        var m = JournalWriterMachine(maxWait: .seconds(1), backlogLimit: 2)
        _ = m.submitted(batch(1), now: at(0))
        #expect(show(m.commitFinished(error: "EIO", now: at(0))) == ["down", "spill 1", "deliver 1!"])
        _ = m.deliveryFinished(now: at(0))
        #expect(show(m.spillFinished(error: "EROFS", now: at(0))) == ["log error"], "the spill failed too")
        _ = m.submitted(batch(2), now: at(0.1)); _ = m.deliveryFinished(now: at(0.1))
        _ = m.submitted(batch(3), now: at(0.2)); _ = m.deliveryFinished(now: at(0.2))
        _ = m.timerFired(now: at(1.1))
        #expect(show(m.commitFinished(error: "EIO", now: at(1.1))) == ["spill 1,2,3"], "seq 1 leaves the backlog while being spilled")
        #expect(show(m.spillFinished(error: "EROFS", now: at(1.1))) == ["log error", "log critical"], "so it is lost only now")
        let stop = show(m.stopRequested(now: at(1.2)))
        #expect(stop == ["commit 2,3"], "one last attempt at stop")
        #expect(show(m.commitFinished(error: "EIO", now: at(1.3))) == ["spill 2,3"])
        #expect(show(m.spillFinished(error: nil, now: at(1.4))) == ["finished lost=1-1"], "seq 1 dropped unspilled; 2 and 3 spilled")
    }

    @Test func stopDrainsCommitsAndDeliversEverything() {
        var m = JournalWriterMachine(maxWait: .seconds(1))
        _ = m.submitted(batch(1), now: at(0))
        _ = m.submitted(batch(2), now: at(0))
        #expect(show(m.stopRequested(now: at(0.1))) == [], "waits for the commit in flight")
        #expect(show(m.commitFinished(error: nil, now: at(0.2))) == ["deliver 1", "commit 2"])
        #expect(show(m.deliveryFinished(now: at(0.2))) == [])
        #expect(show(m.commitFinished(error: nil, now: at(0.3))) == ["deliver 2"])
        #expect(show(m.deliveryFinished(now: at(0.3))) == ["finished lost="])
    }

    @Test func stopWhileFailingSpillsThenFinishesWithNothingLost() {
        var m = JournalWriterMachine(maxWait: .seconds(1))
        _ = m.submitted(batch(1), now: at(0))
        _ = m.commitFinished(error: "ENOSPC", now: at(0))
        _ = m.spillFinished(error: nil, now: at(0))
        _ = m.deliveryFinished(now: at(0))
        _ = m.submitted(batch(2), now: at(0.2))
        _ = m.deliveryFinished(now: at(0.2))
        #expect(show(m.stopRequested(now: at(0.3))) == ["commit 1,2"])
        #expect(show(m.commitFinished(error: "ENOSPC", now: at(0.4))) == ["spill 2"])
        #expect(show(m.spillFinished(error: nil, now: at(0.5))) == ["finished lost="])
    }

    /// A stop whose last commit hangs: what it holds is reported, not a made-up range.
    @Test func aHangingCommitAtStopIsReportedUnsaved() {
        var m = JournalWriterMachine(maxWait: .seconds(1))
        _ = m.submitted(batch(1, 2), now: at(0))
        _ = m.submitted(batch(3), now: at(0))
        #expect(show(m.stopRequested(now: at(0.1))) == [])
        #expect(m.unsavedRanges.map { "\($0.lowerBound)-\($0.upperBound)" } == ["1-2", "3-3"])
    }

    /// A batch submitted while a commit was in flight (not joined to it) waits behind it. If
    /// that commit fails after `maxWait` made the journal sick, the batches submitted since are
    /// in the backlog and the waiting one is not: it is spilled with them, in seq order, and
    /// once. (It was left out while the spill mark moved past it: a stop then lost it without
    /// saying so, and a later spill wrote the batches after it a second time.)
    @Test func aBatchWaitingBehindAFailedCommitIsSpilledInOrderAndOnce() {
        var m = JournalWriterMachine(maxWait: .milliseconds(300))
        #expect(show(m.submitted(batch(1), now: at(0))) == ["commit 1"])
        #expect(show(m.submitted(batch(2), now: at(0.1))) == [], "waits for the next commit")
        #expect(show(m.timerFired(now: at(0.3))) == ["down", "deliver 1!"])
        _ = m.deliveryFinished(now: at(0.3))
        #expect(show(m.submitted(batch(3), now: at(0.35))) == [], "in order: behind 2")
        #expect(show(m.commitFinished(error: "EIO", now: at(0.5))) == ["spill 1,2,3", "deliver 2! 3!"],
                "the batch that waited is failed and spilled with the rest")
        _ = m.deliveryFinished(now: at(0.5))
        #expect(show(m.spillFinished(error: nil, now: at(0.5))) == [])
        #expect(show(m.submitted(batch(4), now: at(0.6))) == ["deliver 4!"])
        _ = m.deliveryFinished(now: at(0.6))
        #expect(show(m.timerFired(now: at(1.0))) == ["commit 1,2,3,4"], "in seq order")
        #expect(show(m.commitFinished(error: "EIO", now: at(1.1))) == ["spill 4"], "only what is new")
        _ = m.spillFinished(error: nil, now: at(1.1))
        #expect(show(m.stopRequested(now: at(1.2))) == ["commit 1,2,3,4"])
        #expect(show(m.commitFinished(error: "EIO", now: at(1.3))) == ["finished lost="], "every batch is in the spill file")
    }

    /// A batch the bounded backlog let go of is in no journal: a later commit of the batches
    /// around it does not make it "journaled" when it is delivered.
    @Test func aBatchDroppedFromTheBacklogIsNeverDeliveredAsJournaled() {
        var m = JournalWriterMachine(maxWait: .seconds(1), backlogLimit: 2)
        _ = m.submitted(batch(1), now: at(0))
        #expect(show(m.commitFinished(error: "EIO", now: at(0))) == ["down", "spill 1", "deliver 1!"])
        #expect(show(m.spillFinished(error: "EROFS", now: at(0))) == ["log error"])
        // The deliverer is busy with 1 (a slow sink) while 2, 3 and 4 come and the retry fails.
        _ = m.submitted(batch(2), now: at(0.1))
        _ = m.submitted(batch(3), now: at(0.2))
        _ = m.submitted(batch(4), now: at(0.3))
        #expect(show(m.timerFired(now: at(1.1))) == ["commit 1,2,3,4"])
        #expect(show(m.commitFinished(error: "EIO", now: at(1.1))) == ["spill 1,2,3,4"])
        #expect(show(m.spillFinished(error: "EROFS", now: at(1.1))) == ["log error", "log critical"], "seq 1 and 2 are lost")
        #expect(show(m.timerFired(now: at(2.2))) == ["commit 3,4"])
        #expect(show(m.commitFinished(error: nil, now: at(2.2))) == ["up"])
        #expect(show(m.deliveryFinished(now: at(2.2))) == ["deliver 2! 3 4"], "2 flagged: it is in no journal")
    }

    /// The journal is read by cursors over seq (uplinks, notifications, MQTT out): a batch
    /// the backlog let go of, only in the spill file, must be committed before anything newer,
    /// or it would land behind every cursor and never be sent. The retry imports the file
    /// first; what the file held of the backlog is committed with it.
    @Test func aBatchOnlyInTheSpillFileIsCommittedBeforeAnythingNewer() {
        var m = JournalWriterMachine(maxWait: .seconds(1), backlogLimit: 2)
        _ = m.submitted(batch(1), now: at(0))
        #expect(show(m.commitFinished(error: "EIO", now: at(0))) == ["down", "spill 1", "deliver 1!"])
        _ = m.deliveryFinished(now: at(0))
        #expect(show(m.spillFinished(error: nil, now: at(0))) == [])
        _ = m.submitted(batch(2), now: at(0.1)); _ = m.deliveryFinished(now: at(0.1))
        _ = m.submitted(batch(3), now: at(0.2)); _ = m.deliveryFinished(now: at(0.2))
        #expect(show(m.timerFired(now: at(1.1))) == ["commit 1,2,3"])
        #expect(show(m.commitFinished(error: "EIO", now: at(1.1))) == ["spill 2,3"], "1 leaves the backlog: it is in the file")
        #expect(show(m.spillFinished(error: nil, now: at(1.2))) == [])
        _ = m.submitted(batch(4), now: at(1.5)); _ = m.deliveryFinished(now: at(1.5))
        #expect(show(m.timerFired(now: at(1.8))) == [], "retries wait a second")
        #expect(show(m.timerFired(now: at(2.2))) == ["commit spill"], "the file first, not 2,3,4")
        #expect(show(m.spillCommitted(error: "EIO", now: at(2.2))) == [], "a failed import is a failed retry")
        #expect(show(m.timerFired(now: at(3.3))) == ["commit spill"])
        #expect(show(m.spillCommitted(error: nil, now: at(3.3))) == ["up", "commit 4"], "2 and 3 came in with the file")
        #expect(show(m.commitFinished(error: nil, now: at(3.4))) == [])
        #expect(m.healthy && m.commits == 2 && m.committedEvents == 3)
    }

    /// Random interleavings of what the writer's threads do (submissions, commits and spills
    /// that succeed or fail, the timer, deliveries, a stop), checked against the rules: nothing
    /// delivered as journaled before it is committed, every event delivered once, nothing
    /// committed twice nor below an event committed before it, no batch in the spill file
    /// twice, and at the end every event committed, spilled or named lost.
    @Test(arguments: 0..<4)
    func randomInterleavingsKeepTheRules(part: Int) {
        var failures: [String] = []
        for scenario in (part * 500)..<((part + 1) * 500) where failures.isEmpty {
            var rng = SplitMix64(seed: UInt64(scenario))
            var m = JournalWriterMachine(maxWait: .milliseconds(300), backlogLimit: Int.random(in: 2...12, using: &rng),
                                         retryEvery: .milliseconds(500))
            var now = 0.0
            var nextSeq: UInt64 = 1
            var work: [JournalWriterMachine.Action] = []      // the journal thread's, in order
            var deliveries: [[(batch: JournalBatch, journaled: Bool)]] = []
            var committed: Set<UInt64> = []
            var spillFile: [[UInt64]] = []
            var delivered: [UInt64: Int] = [:]
            var finished: [ClosedRange<UInt64>]?
            var stopAt = Int.random(in: 10...120, using: &rng)
            let failRate = Double.random(in: 0...0.9, using: &rng)
            func take(_ actions: [JournalWriterMachine.Action]) {
                for a in actions {
                    switch a {
                    case .commit, .spill, .commitSpill: work.append(a)
                    case .deliver(let ds):
                        for d in ds where d.journaled {
                            for e in d.batch.events where !committed.contains(e.seq) {
                                failures.append("scenario \(scenario): \(e.seq) delivered as journaled before its commit")
                            }
                        }
                        deliveries.append(ds)
                    case .finished(let lost, _): finished = lost
                    case .health, .log: break
                    }
                }
            }
            // The journal is read by cursors over seq (uplinks, notifications, MQTT out): an
            // event committed below one committed before it would be behind every cursor.
            func commitInOrder(_ seqs: [UInt64]) {
                if let low = seqs.min(), let high = committed.max(), low < high {
                    failures.append("scenario \(scenario): \(low) committed after \(high)")
                }
                committed.formUnion(seqs)
            }
            var step = 0
            while finished == nil, step < 5_000, failures.isEmpty {
                step += 1
                switch Int.random(in: 0..<10, using: &rng) {
                case 0...2 where stopAt > 0:
                    let n = UInt64.random(in: 1...3, using: &rng)
                    let seqs = (nextSeq..<nextSeq + n).map { $0 }
                    nextSeq += n
                    let events = seqs.map { batch($0).events[0] }
                    take(m.submitted(JournalBatch(events: events, json: events.map(\.jsonLine), states: []), now: at(now)))
                    stopAt -= 1
                    if stopAt == 0 { take(m.stopRequested(now: at(now))) }
                case 3...5 where !work.isEmpty:
                    let fail = Double.random(in: 0..<1, using: &rng) < failRate
                    switch work.removeFirst() {
                    case .commit(var bs):
                        if Bool.random(using: &rng) { bs += m.joinInFlight() }
                        let seqs = bs.flatMap(\.events).map(\.seq)
                        if !fail {
                            for s in seqs where committed.contains(s) { failures.append("scenario \(scenario): \(s) committed twice") }
                            commitInOrder(seqs)
                        }
                        take(m.commitFinished(error: fail ? "EIO" : nil, now: at(now)))
                    case .spill(let bs):
                        if !fail { spillFile += bs.map { $0.events.map(\.seq) } }
                        take(m.spillFinished(error: fail ? "EROFS" : nil, now: at(now)))
                    case .commitSpill:
                        if !fail {
                            commitInOrder(spillFile.joined().filter { !committed.contains($0) })
                            spillFile = []
                        }
                        take(m.spillCommitted(error: fail ? "EIO" : nil, now: at(now)))
                    default: break
                    }
                case 6...7 where !deliveries.isEmpty:
                    for d in deliveries.removeFirst() { for e in d.batch.events { delivered[e.seq, default: 0] += 1 } }
                    take(m.deliveryFinished(now: at(now)))
                default:
                    now += Double.random(in: 0...0.4, using: &rng)
                    take(m.timerFired(now: at(now)))
                    if stopAt > 0, Int.random(in: 0..<40, using: &rng) == 0 {
                        stopAt = 0
                        take(m.stopRequested(now: at(now)))
                    }
                }
            }
            guard failures.isEmpty else { break }
            guard let lost = finished else { failures.append("scenario \(scenario): never finished"); break }
            let spilled = spillFile.joined()
            if Set(spilled).count != spilled.count { failures.append("scenario \(scenario): the spill file holds \(spillFile)") }
            for s in 1..<nextSeq {
                if delivered[s] != 1 { failures.append("scenario \(scenario): \(s) delivered \(delivered[s] ?? 0) times") }
                if !committed.contains(s), !spilled.contains(s), !lost.contains(where: { $0.contains(s) }) {
                    failures.append("scenario \(scenario): \(s) neither committed, spilled nor named lost")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }
}
