import Foundation
import Testing

/// The module picture of docs/ARCHITECTURE.md, checked: each module imports only what it may.
/// A new import that breaks the layering fails here, not in a review months later.
@Suite("Module graph")
struct ModuleGraphTests {
    /// What each module may import besides the system (Glibc, Foundation, Dispatch, Synchronization).
    static let allowed: [String: Set<String>] = [
        "HazmonCore": [],
        // TOMLKit parses; its C layer (CTOML) is read directly and CHeap frees what it leaves
        // behind (see TOMLDocument).
        "HazmonConfig": ["HazmonCore", "HazmonModbus", "TOMLKit", "CTOML", "CHeap"],
        "HazmonJournal": ["HazmonCore", "GRDB", "GRDBSQLite"],
        "HazmonFeed": ["HazmonCore", "Logging", "NIOCore", "NIOPosix", "NIOSSL"],
        "HazmonMQTT": ["HazmonCore", "CMosquitto", "Logging"],
        // Owns its vocabulary (devices, tables, types, word orders); the config maps into it.
        "HazmonModbus": ["HazmonCore", "CModbus", "Logging"],
        "HazmonSimulator": ["HazmonCore", "HazmonConfig", "HazmonModbus", "HazmonMQTT", "CModbus", "Logging"],
        "HazmonTestSupport": [],
        "HazmonPipeline": ["HazmonCore", "HazmonJournal", "Logging"],
        // A consumer of samples: knows the engine's vocabulary and SQLite, not the pipeline or the config.
        "HazmonHistory": ["HazmonCore", "GRDB", "GRDBSQLite", "Logging"],
        // The history's copy in PostgreSQL: reads the history's outbox, writes with postgres-nio.
        "HazmonPostgres": ["HazmonCore", "HazmonHistory", "PostgresNIO", "NIOCore", "NIOPosix", "NIOSSL", "Logging"],
        // Alarm performance figures from the journal, read-only: no pipeline, no config.
        "HazmonReport": ["HazmonCore", "HazmonJournal"],
        // The web console: the feed's hub and protocol, the journal's events; no pipeline, no config.
        "HazmonConsole": ["HazmonCore", "HazmonFeed", "HazmonJournal", "Hummingbird", "HummingbirdCore", "HummingbirdTLS",
                          "HummingbirdBcrypt", "HTTPTypes", "Logging", "NIOCore", "NIOPosix", "NIOSSL"],
        // Uplinks: the journal's events and the history's outbox after cursors of their own, out over
        // MQTT (the input's libmosquitto client), HTTP (AsyncHTTPClient) or TCP frames; of the pipeline
        // module only its wake-up signal; no config.
        "HazmonUplink": ["HazmonCore", "HazmonJournal", "HazmonHistory", "HazmonMQTT", "HazmonPipeline", "AsyncHTTPClient", "Crypto", "CryptoExtras",
                         "NIOCore", "NIOPosix", "NIOHTTP1", "NIOSSL", "Logging", "Metrics"],
        // Notifications: the journal's events into an outbox in its database, out over HTTP; the
        // config's [notify] settings are its vocabulary; of the feed its event form and local
        // times, of the pipeline its wake-up signal.
        "HazmonNotify": ["HazmonCore", "HazmonConfig", "HazmonJournal", "HazmonFeed", "HazmonPipeline", "GRDB", "AsyncHTTPClient", "Crypto",
                         "NIOCore", "NIOPosix", "NIOHTTP1", "Logging", "Metrics"],
        "HazmonDaemon": ["HazmonCore", "HazmonConfig", "HazmonFeed", "HazmonJournal", "HazmonMQTT", "HazmonModbus", "HazmonPipeline",
                         "HazmonHistory", "HazmonPostgres", "HazmonConsole", "HazmonUplink", "HazmonNotify",
                         "Logging", "Metrics", "Prometheus", "NIOCore", "NIOPosix", "NIOHTTP1", "ServiceLifecycle", "UnixSignals"],
    ]
    static let system: Set<String> = ["Glibc", "Foundation", "Dispatch", "Synchronization"]

    static func imports(of module: String) throws -> Set<String> {
        let dir = repoRoot + "/Sources/" + module
        var found = Set<String>()
        for file in try FileManager.default.contentsOfDirectory(atPath: dir) where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0.hasPrefix("@") }), i + 1 < words.count
                else { continue }
                found.insert(String(words[i + 1]))
            }
        }
        return found
    }

    @Test(arguments: allowed.keys.sorted())
    func importsOnlyWhatItMay(module: String) throws {
        let extra = try Self.imports(of: module).subtracting(Self.system).subtracting(Self.allowed[module]!)
        #expect(extra.isEmpty, "\(module) imports \(extra.sorted())")
    }

    @Test func everyModuleIsInThePicture() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: repoRoot + "/Sources")
            .filter { $0.hasPrefix("Hazmon") }
        #expect(Set(modules) == Set(Self.allowed.keys))
    }

    /// The engine reads no clock but the one it is handed, and the daemon library never links
    /// the simulator or the test helpers.
    @Test func theLinesThatMatterMost() throws {
        #expect(try Self.imports(of: "HazmonCore").subtracting(["Glibc"]).isEmpty)
        #expect(try !Self.imports(of: "HazmonDaemon").contains("HazmonSimulator"))
        #expect(try !Self.imports(of: "HazmonDaemon").contains("HazmonTestSupport"))
        #expect(try !Self.imports(of: "HazmonModbus").contains("HazmonConfig"), "an input owns its vocabulary")
    }
}
