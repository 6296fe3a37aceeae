import Testing
@testable import HazmonHistory

/// The history writer keeps a record per tag and a point per stored value until the minute's
/// flush: at a park's 50,000 tags each byte here is 50 KB or more (docs/PERFORMANCE.md).
@Suite("History records stay small")
struct HistoryRecordSizeTests {
    @Test func sizes() {
        #expect(MemoryLayout<HistoryPoint>.size == 26)
        #expect(MemoryLayout<HistoryPoint?>.stride == 32)
        #expect(MemoryLayout<HistoryFilter>.stride == 64)
        #expect(MemoryLayout<ThreadState.Tag?>.stride <= 128, "a tag's entry is \(MemoryLayout<ThreadState.Tag?>.stride) bytes")
    }

    @Test func aSourceTimeIsKeptOrAbsent() {
        var p = HistoryPoint(time: 5, value: 1.5, sourceTime: 0)
        #expect(p.sourceTime == 0)
        p.sourceTime = nil
        #expect(p.sourceTime == nil)
        #expect(p == HistoryPoint(time: 5, value: 1.5))
        #expect(HistoryPoint(time: 5, value: 1.5, sourceTime: -1).sourceTime == -1)
    }
}
