// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "hazmon",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hazmon", targets: ["hazmon"]),
        .library(name: "HazmonCore", targets: ["HazmonCore"]),
        .library(name: "HazmonHistory", targets: ["HazmonHistory"]),
        .library(name: "HazmonPostgres", targets: ["HazmonPostgres"]),
        .library(name: "HazmonJournal", targets: ["HazmonJournal"]),
        .library(name: "HazmonReport", targets: ["HazmonReport"]),
        .library(name: "HazmonMQTT", targets: ["HazmonMQTT"]),
        .library(name: "HazmonTestSupport", targets: ["HazmonTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // The operator's web console (spec §10): HTTP server and bcrypt password hashes.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Uplinks (spec §9): HTTP(S) POSTs to platforms, AES-CBC where an access specification asks.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CModbus",
            pkgConfig: "libmodbus",
            providers: [.apt(["libmodbus-dev"])]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // Pure Swift: tags, samples, alarm rules and the engine. No I/O, no C, time injected.
        .target(name: "HazmonCore", linkerSettings: [.linkedLibrary("m", .when(platforms: [.linux]))]),
        // C helpers for memory: freeing the documents TOMLKit parses (it never does; see
        // heap.c), and the heap's bytes in use.
        .target(name: "CHeap"),
        .target(
            name: "HazmonConfig",
            dependencies: ["HazmonCore", "HazmonModbus", "CHeap", .product(name: "TOMLKit", package: "TOMLKit")]
        ),
        .target(
            name: "HazmonMQTT",
            dependencies: ["HazmonCore", "CMosquitto", .product(name: "Logging", package: "swift-log"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            // The schema the generated Sparkplug code comes from (see its header to regenerate).
            exclude: ["Sparkplug/sparkplug_b.proto"]
        ),
        // The durable event log and the state of every alarm not in normal (SQLite, WAL).
        .target(
            name: "HazmonJournal",
            dependencies: ["HazmonCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift")]
        ),
        // The process history: every sample of every tag, compressed in chunks (SQLite, WAL),
        // written by a thread of its own; read by `hazmon trend` and the console.
        .target(
            name: "HazmonHistory",
            dependencies: ["HazmonCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // The history's copy in the park's PostgreSQL: the outbox forwarded with postgres-nio.
        .target(
            name: "HazmonPostgres",
            dependencies: ["HazmonCore", "HazmonHistory", .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log")]
        ),
        // Modbus acquisition: decoding and read plans (pure), libmodbus connections and the
        // threads that own them.
        .target(
            name: "HazmonModbus",
            dependencies: ["HazmonCore", "CModbus", .product(name: "Logging", package: "swift-log")]
        ),
        // The simulated plant: Modbus TCP slaves on libmodbus (and, later, scenario-driven MQTT).
        .target(
            name: "HazmonSimulator",
            dependencies: ["HazmonCore", "HazmonConfig", "HazmonModbus", "HazmonMQTT", "CModbus", .product(name: "Logging", package: "swift-log")]
        ),
        // The one data path: the alarm pipeline (engine, seq numbers, reservation), the journal
        // writer (its state machine and the threads that carry it out) and the sink protocol.
        .target(
            name: "HazmonPipeline",
            dependencies: ["HazmonCore", "HazmonJournal", .product(name: "Logging", package: "swift-log")]
        ),
        // Temp dirs, free ports, child processes and a private mosquitto: for the tests and the demo.
        .target(name: "HazmonTestSupport"),
        .target(name: "HazmonReport", dependencies: ["HazmonCore", "HazmonJournal"]),
        .target(
            name: "HazmonFeed",
            dependencies: [
                "HazmonCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The web console (spec §10): pages, JSON API, Server-Sent Events, users and sessions.
        .target(
            name: "HazmonConsole",
            dependencies: [
                "HazmonCore", "HazmonFeed", "HazmonJournal",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Uplinks (spec §9): values and alarms to park and regulator platforms over MQTT, HTTP
        // and TCP frames, each with durable cursors (the journal's, the history outbox's).
        .target(
            name: "HazmonUplink",
            dependencies: [
                "HazmonCore", "HazmonJournal", "HazmonHistory", "HazmonMQTT", "HazmonPipeline",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Notifications (spec §9): routes and steps over the journal's events into a durable
        // outbox in the journal's database, out to webhooks, DingTalk and WeCom robots and SMS
        // gateways; its vocabulary is the config's [notify] settings.
        .target(
            name: "HazmonNotify",
            dependencies: [
                "HazmonCore", "HazmonConfig", "HazmonJournal", "HazmonFeed", "HazmonPipeline",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "HazmonDaemon",
            dependencies: [
                "HazmonCore", "HazmonConfig", "HazmonMQTT", "HazmonFeed", "HazmonJournal", "HazmonModbus", "HazmonPipeline",
                "HazmonHistory", "HazmonPostgres", "HazmonConsole", "HazmonUplink", "HazmonNotify",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "hazmon",
            dependencies: [
                "HazmonDaemon", "HazmonConfig", "HazmonCore", "HazmonJournal", "HazmonModbus", "HazmonSimulator", "HazmonMQTT",
                "HazmonFeed", "HazmonTestSupport", "HazmonHistory", "HazmonReport", "HazmonConsole",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "HazmonCoreTests", dependencies: ["HazmonCore"]),
        .testTarget(name: "HazmonConfigTests", dependencies: ["HazmonConfig", "HazmonCore", "HazmonModbus", "HazmonSimulator", "HazmonTestSupport"]),
        .testTarget(name: "HazmonMQTTTests", dependencies: ["HazmonMQTT", "HazmonCore"]),
        .testTarget(name: "HazmonJournalTests", dependencies: ["HazmonJournal", "HazmonCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "HazmonHistoryTests", dependencies: ["HazmonHistory", "HazmonCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "HazmonReportTests", dependencies: ["HazmonReport", "HazmonJournal", "HazmonCore"]),
        .testTarget(name: "HazmonConsoleTests", dependencies: ["HazmonConsole", "HazmonConfig", "HazmonCore", "HazmonJournal", "HazmonFeed"]),
        .testTarget(name: "HazmonUplinkTests", dependencies: ["HazmonUplink", "HazmonCore", "HazmonConfig"]),
        .testTarget(name: "HazmonNotifyTests", dependencies: ["HazmonNotify", "HazmonCore", "HazmonConfig", "HazmonJournal", "HazmonTestSupport"]),
        .testTarget(name: "HazmonPipelineTests", dependencies: ["HazmonPipeline", "HazmonJournal", "HazmonCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "HazmonModbusTests", dependencies: ["HazmonModbus", "HazmonConfig", "HazmonCore"]),
        .testTarget(
            name: "HazmonIntegrationTests",
            // `hazmon` is listed so `swift build --build-tests` builds the binary these tests run.
            dependencies: ["hazmon", "HazmonCore", "HazmonConfig", "HazmonDaemon", "HazmonMQTT", "HazmonJournal", "HazmonSimulator", "HazmonModbus",
                           "HazmonFeed", "HazmonTestSupport", "HazmonPipeline", "HazmonHistory", "HazmonReport"]
        ),
    ]
)
