import Foundation
import HazmonConfig
import HazmonConsole
import HazmonCore
import HazmonModbus
import HazmonDaemon
import HazmonFeed
import HazmonSimulator
import HazmonTestSupport
import Logging
import ServiceLifecycle

/// `hazmon demo`: the demo tank farm of `Config/demo/` (its config and its scenario) played by
/// the simulator in this process (Modbus slaves and an MQTT gateway), a private mosquitto on a
/// free loopback port, the daemon, and the live alarm feed read from its alert socket.
public struct DemoSession {
    public var duration: Duration?
    public var colour: Bool
    /// The directory with `hazmon.toml` and `scenario.toml` (nil: look in the usual places).
    public var farm: String?
    /// Scenario seconds per real second (nil: the scenario's own).
    public var speed: Double?
    /// The console's port (nil: a free one).
    public var consolePort: Int?

    /// The demo's console users: name, password and role, printed for the newcomer.
    static let demoUsers = [("operator", "operator", "operator"), ("viewer", "viewer", "viewer")]

    public init(duration: Duration?, colour: Bool, farm: String? = nil, speed: Double? = nil) {
        self.duration = duration
        self.colour = colour
        self.farm = farm
        self.speed = speed
    }

    /// Where the demo farm is looked for: `./Config/demo` (a clone), then next to the binary's
    /// `share` directory and `/usr/share/hazmon/demo` (the package).
    public static func farmDirectory(_ explicit: String?) throws -> String {
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "hazmon").resolvingSymlinksInPath()
        let candidates = explicit.map { [$0] } ?? [
            "Config/demo",
            exe.deletingLastPathComponent().deletingLastPathComponent().path + "/share/hazmon/demo",
            "/usr/share/hazmon/demo",
        ]
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/hazmon.toml")
            && FileManager.default.fileExists(atPath: dir + "/scenario.toml") {
            return dir
        }
        throw DaemonError.runtime("no demo farm (hazmon.toml and scenario.toml) in \(candidates.joined(separator: ", ")); run from the repository or give --farm DIR")
    }

    public func run() async throws {
        let farmDir = try Self.farmDirectory(farm)
        let dir = try TempDir(prefix: "hazmon-demo")
        defer { dir.remove() }
        let port = try FreePort.find()
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }

        // The plant: every device on a free port, the gateway into the private broker.
        var scenario: Scenario
        do { scenario = try ScenarioLoader.load(path: farmDir + "/scenario.toml") } catch {
            throw DaemonError.runtime("the demo scenario is invalid:\n\(error)")
        }
        for i in scenario.devices.indices { scenario.devices[i].port = 0 }
        if let speed { scenario.speed = speed }
        let plant = try ScenarioRunner(scenario)
        plant.start()
        defer { plant.stop() }
        let gateway = try plant.startGateway(host: "127.0.0.1", port: port)
        defer { gateway.stop() }

        // The daemon: the farm's config, wired to this broker, these slaves and this directory.
        var config: HazmonConfiguration
        do { config = try ConfigLoader.load(path: farmDir + "/hazmon.toml") } catch {
            throw DaemonError.runtime("the demo config is invalid:\n\(error)")
        }
        let ports = Dictionary(uniqueKeysWithValues: plant.servers.map { ($0.device, $0.server.port) })
        for i in config.modbusDevices.indices {
            let id = config.modbusDevices[i].id
            guard let p = ports[id] else { throw DaemonError.runtime("device \(id) of the demo config is not in its scenario") }
            config.modbusDevices[i].url = "tcp://127.0.0.1:\(p)"
            config.modbusDevices[i].transport = .tcp(host: "127.0.0.1", port: p)
        }
        config.mqtt?.url = "mqtt://127.0.0.1:\(port)"
        config.mqtt?.host = "127.0.0.1"
        config.mqtt?.port = port
        config.journal.path = dir.path + "/journal.db"
        config.history?.path = dir.path + "/history.db"
        config.alertSocket.path = dir.path + "/alerts.sock"
        // The console, on loopback, with two users whose passwords the screen shows.
        var console = ConsoleSettings(host: "127.0.0.1", port: try consolePort ?? FreePort.find())
        console.usersFile = dir.path + "/users.toml"
        do {
            try UsersFileFormat.write(Self.demoUsers.map { .init(name: $0.0, role: $0.2, passwordHash: ConsoleUser.hash($0.1, cost: 10)) },
                                      to: console.usersFile)
        } catch {
            throw DaemonError.runtime("\(error)")
        }
        config.console = console

        let logPath = dir.path + "/hazmon.log"
        guard let output = LogOutput.file(logPath, format: .text) else { throw DaemonError.runtime("cannot write \(logPath)") }
        let daemon = try Daemon(config: config, output: output)
        let screen = LogOutput.stdoutOutput(format: .text)
        let devices = plant.servers.map { "\($0.device) :\($0.server.port)" }.joined(separator: ", ")
        screen.write("hazmon demo: \(config.site.name) (\(farmDir)): \(config.tags.count) tags, \(config.votes.count) votes")
        screen.write("simulated plant: Modbus \(devices) and an MQTT gateway; broker 127.0.0.1:\(port)")
        screen.write("daemon log: \(logPath); Ctrl-C stops the demo and removes \(dir.path).")
        screen.write("alarm console: http://127.0.0.1:\(console.port)/  (log in as operator / operator, or viewer / viewer)")
        if let h = config.history {
            screen.write("recorded values, from another terminal: hazmon trend GT-S01 --history \(h.path) [--every 1m]")
        }
        screen.write("")
        var extra: [Service & Sendable] = [DemoDisplay(socket: config.alertSocket.path, colour: colour, zone: config.site.timeZone)]
        if let duration { extra.append(StopAfter(duration: duration)) }
        try await daemon.run(extraServices: extra)
    }
}

/// Shows the feed as a control-room display gets it: subscribe on the alert socket, print.
public struct DemoDisplay: Service {
    let socket: String
    let colour: Bool
    /// The site's time zone: the demo shows local times, as an operator would read them.
    let zone: TimeZone

    public func run() async throws {
        var client: FeedClient?
        let screen = LogOutput.stdoutOutput(format: .text)
        for _ in 0..<50 where client == nil {
            client = try? await FeedClient.connect(path: socket, onLine: { line in
                if let text = DemoDisplay.render(line, colour: colour, zone: zone) { screen.write(text) }
            })
            if client == nil { try? await Task.sleep(for: .milliseconds(100)) }
        }
        guard let client else { throw DaemonError.runtime("cannot connect to the alert socket \(socket)") }
        // The demo's journal is new: from seq 0, so nothing raised before the display connected
        // (a hazard source's first grading comes with the first readings) is missed.
        client.send(#"{"type":"subscribe","since":0}"#)
        try? await gracefulShutdown()
        await client.close()
    }

    /// One event line from the socket as a coloured terminal line (nil for other lines).
    public static func render(_ line: String, colour: Bool, zone: TimeZone? = nil) -> String? {
        guard case .event(let e)? = FeedMessage(line: line) else { return nil }
        return e.terminalLine(colour: colour, zone: zone)
    }
}

/// Ends the service group after a set time (`hazmon demo --duration`).
struct StopAfter: Service {
    let duration: Duration
    func run() async throws {
        // A SIGTERM or Ctrl-C before then ends the wait too: the group shuts its services down
        // one by one, this one first, and a plain sleep held the whole demo (its broker and
        // temporary directory) until the duration was over.
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
        // Returning ends the group: ServiceGroup treats a finished service as shutdown.
    }
}
