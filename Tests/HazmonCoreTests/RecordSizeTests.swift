import Testing
@testable import HazmonCore

/// A park's daemon holds 50,000 of these (docs/PERFORMANCE.md, "Park scale"): a field added or
/// reordered carelessly costs megabytes, and this says so where it happens.
@Suite("Per-tag records stay small")
struct RecordSizeTests {
    @Test func sizes() {
        #expect(MemoryLayout<AlarmSlotState>.stride == 48)
        #expect(MemoryLayout<Grade>.size == 1)
        #expect(MemoryLayout<LimitRule>.stride == 80)
        #expect(MemoryLayout<TagRuntime>.stride <= 520, "TagRuntime is \(MemoryLayout<TagRuntime>.stride) bytes")
    }
}
