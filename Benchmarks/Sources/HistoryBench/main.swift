// The process history's figures (issue 15), release build, from the Benchmarks folder:
//   swift run -c release HistoryBench codec                 # bytes per point and codec speed
//   swift run -c release HistoryBench generate --tags 1000 --days 30 --out /tmp/h30.db
//   swift run -c release HistoryBench query /tmp/h30.db     # 24 h full resolution, 30 d at 1 min
//   swift run -c release HistoryBench pgdrain --points 1000000  # the PostgreSQL copy draining an outage
// The generated file is a month of 1 Hz noisy 4-20 mA readings of every tag, as the writer
// would have left it (10-minute chunks with their minute aggregates); never commit it.
import Foundation
import HazmonCore
import HazmonHistory
import HazmonPostgres
import HazmonTestSupport
import Logging

/// A transmitter's reading as a gas controller or a remote I/O gives it: a slow process swing,
/// read through a 4-20 mA loop and a 16-bit ADC (0...27648 counts for the span, as Siemens
/// analogue inputs scale), with a few counts of noise; received with a few ms of jitter.
struct Transmitter {
    var rng: SplitMix64
    let span: Double
    let base: Double
    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
        span = 100
        base = 20 + Double(seed % 50)
    }
    mutating func reading(second i: Int64) -> (Int64, Double) {
        let process = base + 8 * sin(Double(i) / 1800) + 2 * sin(Double(i) / 97)
        let noise = Double(Int64(rng.next() % 7) - 3)   // +-3 counts
        let counts = (process / span * 27_648).rounded() + noise
        let jitter = Int64(rng.next() % 7) - 3
        return (i * 1000 + jitter, Double(Float(counts * span / 27_648)))
    }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

func codec() {
    var t = Transmitter(seed: 7)
    let start: Int64 = 1_764_547_200
    var points: [HistoryPoint] = []
    for i in 0..<86_400 { let (ms, v) = t.reading(second: start + Int64(i)); points.append(HistoryPoint(time: ms, value: v, float32: true)) }
    for deadband in [0.0, 0.05, 0.1, 0.2] {
        var f = HistoryFilter(policy: HistoryPolicy(deadband: deadband))
        let kept = points.filter { f.admit($0) }
        var bytes = 0, minuteBytes = 0
        for c in stride(from: 0, to: kept.count, by: 600) {
            let chunk = Array(kept[c..<min(c + 600, kept.count)])
            bytes += ChunkCodec.encode(chunk, float64: false).count
            minuteBytes += MinuteCodec.encode(Aggregator.aggregate(chunk, every: 60_000, end: chunk.last!.time, maxHold: 90_000)).count
        }
        print(String(format: "deadband %.2f (%% of span): %d of 86400 samples stored, %.2f bytes per stored point, %.3f bytes per sample; "
                     + "minute aggregates %.1f bytes a minute, points and aggregates %.3f bytes per sample",
                     deadband, kept.count, Double(bytes) / Double(kept.count), Double(bytes) / 86_400,
                     Double(minuteBytes) / 1_440, Double(bytes + minuteBytes) / 86_400))
    }
    let chunks = stride(from: 0, to: points.count, by: 600).map { Array(points[$0..<min($0 + 600, points.count)]) }
    var encoded: [[UInt8]] = []
    let enc = seconds { for _ in 0..<5 { encoded = chunks.map { ChunkCodec.encode($0, float64: false) } } }
    var n = 0
    let dec = seconds { for _ in 0..<5 { for e in encoded { n += ChunkCodec.decode(e)!.count } } }
    var a = 0
    let agg = seconds { for _ in 0..<5 { for c in chunks { a += Aggregator.aggregate(c, every: 60_000, end: c.last!.time).count } } }
    print(String(format: "encode %.1f ns/point, decode %.1f ns/point, minute aggregates %.1f ns/point", enc / 432_000 * 1e9,
                 dec / Double(n) * 1e9, agg / 432_000 * 1e9))
}

func generate(tags: Int, days: Int, out: String) throws {
    let store = try HistoryStore(path: out)
    let ids = try store.tagIDs(for: (0..<tags).map { String(format: "TAG-%04d", $0) })
    let order = ids.sorted { $0.key < $1.key }.map(\.value)
    var transmitters = (0..<tags).map { Transmitter(seed: UInt64($0)) }
    var last: [HistoryPoint?] = Array(repeating: nil, count: tags)
    let now = Int64(Date().timeIntervalSince1970) / 600 * 600
    let first = now - Int64(days) * 86_400
    var points = 0
    let took = try seconds {
        for period in stride(from: first, to: now, by: 600) {
            var chunks: [HistoryStore.Chunk] = []
            for k in 0..<tags {
                var pts: [HistoryPoint] = []
                pts.reserveCapacity(600)
                for s in period..<(period + 600) {
                    let (ms, v) = transmitters[k].reading(second: s)
                    pts.append(HistoryPoint(time: ms, value: v, float32: true))
                }
                let until = (period + 600) * 1000
                let minutes = Aggregator.aggregate(pts, every: 60_000, carry: last[k], from: last[k] == nil ? nil : period * 1000,
                                                   end: until, maxHold: 90_000)
                last[k] = pts.last
                chunks.append(.init(tag: order[k], points: pts, float64: false, minutes: minutes, until: until))
                points += pts.count
            }
            try store.insertMerged(chunks)
            if (period - first) % 86_400 == 0 { print("day \((period - first) / 86_400 + 1) of \(days)") }
        }
    }
    store.checkpoint()
    let size = (try FileManager.default.attributesOfItem(atPath: out)[.size] as? NSNumber)?.doubleValue ?? 0
    print(String(format: "%ld points of %ld tags over %ld days in %.0f s; file %.2f GB: %.2f bytes per sample (chunks, aggregates, index)",
                 points, tags, days, took, size / 1e9, size / Double(points)))
}

func query(_ path: String, tag: String) throws {
    let reader = try HistoryReader(path: path)
    let end = Int64(Date().timeIntervalSince1970) / 600 * 600 * 1000
    var full: [Double] = [], month: [Double] = [], n = 0, m = 0
    for _ in 0..<9 {
        full.append(try seconds { n = try reader.points(tag: tag, from: end - 86_400_000, until: end).count })
        month.append(try seconds { m = try reader.aggregates(tag: tag, from: end - 30 * 86_400_000, until: end, every: 60_000).count })
    }
    var hourly: [Double] = [], h = 0
    for _ in 0..<9 { hourly.append(try seconds { h = try reader.aggregates(tag: tag, from: end - 30 * 86_400_000, until: end, every: 3_600_000).count }) }
    print(String(format: "%@ 24 h at full resolution: %d points in %.1f ms (median of 9)", tag, n, median(full) * 1000))
    print(String(format: "%@ 30 days at 1 minute: %d aggregates in %.1f ms", tag, m, median(month) * 1000))
    print(String(format: "%@ 30 days at 1 hour: %d aggregates in %.1f ms", tag, h, median(hourly) * 1000))
}

/// Fills an outbox with `points` (as an outage of points/5000 seconds at 5,000 points a second
/// would) and times the copy draining it into a real PostgreSQL 15 with fsync on.
func pgdrain(points: Int) async throws {
    let dir = try TempDir(prefix: "hazmon-pgbench")
    defer { dir.remove() }
    let pg = try PostgresServer(dir: dir.path, port: try FreePort.find(), durable: true)
    defer { pg.stop() }
    let path = dir.path + "/history.db"
    let store = try HistoryStore(path: path)
    let ids = try store.tagIDs(for: (0..<5000).map { String(format: "TAG-%04d", $0) }).values.sorted()
    var rng = SplitMix64(seed: 1)
    let start = Int64(Date().timeIntervalSince1970 * 1000) - Int64(points / 5) 
    try store.setOutboxReaders(["postgres"])   // the copy's reader, before the points it is to drain
    var n = 0
    while n < points {
        let rows = (0..<min(100_000, points - n)).map { i -> HistoryStore.RecentRow in
            let k = n + i
            return .init(tag: ids[k % ids.count], point: HistoryPoint(time: start + Int64(k / 5), value: Double(rng.next() % 10_000) / 100,
                                                                                     float32: true), float64: false)
        }
        try store.append(rows, outbox: true)
        n += rows.count
    }
    let settings = PostgresCopySettings(host: "127.0.0.1", port: pg.port, username: "postgres", password: pg.password, database: "postgres",
                                        tls: .disable, table: "hazmon_history", site: "bench")
    let copy = PostgresCopy(settings: settings, historyPath: path, logger: Logger(label: "bench"), onHealth: { up, r in
        if !up { print("copy down: \(r ?? "")") }
    })
    let outbox = try HistoryOutbox(path: path)
    let began = ContinuousClock.now
    let task = Task { await copy.run() }
    while try outbox.pending() > 0 { try await Task.sleep(for: .milliseconds(100)) }
    let took = ContinuousClock.now - began
    task.cancel()
    await task.value
    let secs = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
    let rows = try pg.psql("SELECT count(*) FROM hazmon_history").trimmingCharacters(in: .whitespacesAndNewlines)
    print(String(format: "PostgreSQL copy: %d queued points drained in %.1f s: %.0f points/s (fsync on); rows in PostgreSQL: %@",
                 points, secs, Double(points) / secs, rows))
    print(String(format: "  an outage of 1 h at 5,000 points/s (18,000,000) drains in about %.1f min", 18_000_000 / (Double(points) / secs) / 60))
}

let args = CommandLine.arguments.dropFirst()
switch args.first {
case "codec":
    codec()
case "generate":
    func value(_ name: String, _ d: String) -> String { args.firstIndex(of: name).map { args[args.index(after: $0)] } ?? d }
    try generate(tags: Int(value("--tags", "1000"))!, days: Int(value("--days", "30"))!, out: value("--out", "/tmp/hazmon-history-30d.db"))
case "pgdrain":
    func value(_ name: String, _ d: String) -> String { args.firstIndex(of: name).map { args[args.index(after: $0)] } ?? d }
    try await pgdrain(points: Int(value("--points", "1000000"))!)
case "query":
    let path = args.dropFirst().first ?? "/tmp/hazmon-history-30d.db"
    try query(path, tag: "TAG-0500")
default:
    print("usage: HistoryBench codec | generate [--tags N] [--days N] [--out FILE] | query [FILE] | pgdrain [--points N]")
    exit(2)
}
