// swift-tools-version:6.1
import PackageDescription

// The engine's benchmarks, as their own package (like swift-nio's and swift-log's), so the
// daemon's build never pulls the benchmark harness. Run from this folder:
//   swift package benchmark                      # all benchmarks, checked against thresholds
//   swift package benchmark --filter Engine      # some
let package = Package(
    name: "hazmon-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "hazmon", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(name: "EngineScenarios", dependencies: [.product(name: "HazmonCore", package: "hazmon")]),
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HazmonCore", package: "hazmon"),
                "EngineScenarios",
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The process history: bytes per point, codec speed, a month's file and its queries.
        .executableTarget(
            name: "HistoryBench",
            dependencies: [.product(name: "HazmonHistory", package: "hazmon"), .product(name: "HazmonCore", package: "hazmon"),
                           .product(name: "HazmonPostgres", package: "hazmon"), .product(name: "HazmonTestSupport", package: "hazmon")]
        ),
        // `hazmon report` over a year of a busy site's journal.
        .executableTarget(
            name: "ReportBench",
            dependencies: [.product(name: "HazmonReport", package: "hazmon"), .product(name: "HazmonJournal", package: "hazmon"),
                           .product(name: "HazmonCore", package: "hazmon")]
        ),
        // What a metric costs to decode: a JSON batch against a Sparkplug B NDATA (issue 20).
        .executableTarget(
            name: "DecodeBench",
            dependencies: [.product(name: "HazmonMQTT", package: "hazmon"), .product(name: "HazmonCore", package: "hazmon")]
        ),
        .executableTarget(
            name: "EngineProfile",
            dependencies: [.product(name: "HazmonCore", package: "hazmon"), "EngineScenarios"]
        ),
    ]
)
