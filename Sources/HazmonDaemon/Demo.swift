import Foundation
import HazmonConfig
import HazmonCore
import HazmonMQTT
import HazmonSimulator
import Logging
import ServiceLifecycle

/// `hazmon demo`: a private mosquitto on a free loopback port, a gateway publishing the demo
/// plant's telemetry, the daemon, and the live alarm feed read from its alert socket.
public struct Demo {
    public var duration: Duration?
    public var colour: Bool

    public init(duration: Duration?, colour: Bool) {
        self.duration = duration
        self.colour = colour
    }

    public func run() async throws {
        let dir = try TempDir(prefix: "hazmon-demo")
        defer { dir.remove() }
        let port = try FreePort.find()
        let broker = try Broker.start(port: port, dir: dir.path)
        defer { broker.stop() }
        let configPath = dir.path + "/hazmon.toml"
        let socket = dir.path + "/alerts.sock"
        let panel: ScenarioRunner
        do {
            panel = try ScenarioRunner(ScenarioLoader.parse(text: DemoPlant.panelScenario, file: "demo panel scenario"))
        } catch {
            throw DaemonError.runtime("the demo's Modbus simulator: \(error)")
        }
        panel.start()
        defer { panel.stop() }
        try DemoPlant.config(port: port, socket: socket, journal: dir.path + "/journal.db", panelPort: panel.servers[0].server.port)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        let config: HazmonConfiguration
        do {
            config = try ConfigLoader.load(path: configPath)
        } catch {
            throw DaemonError.runtime("the demo config is invalid:\n\(error)")
        }
        let logPath = dir.path + "/hazmon.log"
        guard let output = LogOutput.file(logPath, format: .text) else { throw DaemonError.runtime("cannot write \(logPath)") }
        let daemon = try Daemon(config: config, output: output)
        let screen = LogOutput.stdoutOutput(format: .text)
        screen.write("hazmon demo: broker 127.0.0.1:\(port), Modbus gas panel 127.0.0.1:\(panel.servers[0].server.port), \(config.tags.count) tags, alert socket \(socket)")
        screen.write("daemon log: \(logPath); Ctrl-C stops the demo and removes these files.\n")
        var extra: [Service & Sendable] = [
            DemoPublisher(port: port, logger: daemon.logger),
            DemoDisplay(socket: socket, colour: colour),
        ]
        if let duration { extra.append(StopAfter(duration: duration)) }
        try await daemon.run(extraServices: extra)
    }
}

/// Publishes the demo plant's readings twice a second, as an edge gateway would.
struct DemoPublisher: Service {
    let port: Int
    let logger: Logger

    func run() async throws {
        let client = try MosquittoClient(
            options: BrokerOptions(host: "127.0.0.1", port: port, clientID: "demo-gateway", cleanSession: true),
            subscriptions: [], qos: 1, logger: logger, onMessage: { _, _ in })
        try client.start()
        defer { client.stop() }
        let start = ContinuousClock.now
        var noise = SplitMix64(seed: 42)
        while !Task.isCancelledOrShuttingDown {
            let t = (ContinuousClock.now - start).secondsDouble
            for (topic, payload) in DemoPlant.readings(at: t, noise: &noise) {
                client.publish(topic: topic, payload: payload, qos: 1, retain: false)
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}

/// Shows the feed as a control-room display gets it: subscribe on the alert socket, print.
public struct DemoDisplay: Service {
    let socket: String
    let colour: Bool

    public func run() async throws {
        var client: FeedClient?
        let screen = LogOutput.stdoutOutput(format: .text)
        for _ in 0..<50 where client == nil {
            client = try? await FeedClient.connect(path: socket, onLine: { line in
                if let text = DemoDisplay.render(line, colour: colour) { screen.write(text) }
            })
            if client == nil { try? await Task.sleep(for: .milliseconds(100)) }
        }
        guard let client else { throw DaemonError.runtime("cannot connect to the alert socket \(socket)") }
        client.send(#"{"type":"subscribe"}"#)
        try? await gracefulShutdown()
        await client.close()
    }

    /// One event line from the socket as a coloured terminal line (nil for other lines).
    public static func render(_ line: String, colour: Bool) -> String? {
        guard let data = line.data(using: .utf8),
              let e = try? JSONDecoder().decode(WireEvent.self, from: data), e.type == "event",
              let condition = Condition(rawValue: e.condition ?? ""), let kind = EventKind(rawValue: e.event ?? ""),
              let grade = Grade(e.grade ?? 0), let state = AlarmState(rawValue: e.state ?? ""),
              let time = e.time.flatMap({ Instant(iso8601: Substring($0)) })
        else { return nil }
        let event = AlarmEvent(seq: e.seq ?? 0, time: time, site: "", tag: e.tag ?? "", condition: condition, event: kind,
                               grade: grade, state: state, value: e.value, unit: "", limit: e.limit, quality: .good,
                               source: "", sourceTime: nil, message: e.message ?? "")
        return EventLogSink.text(event, colour: colour)
    }

    struct WireEvent: Decodable {
        var type: String
        var seq: UInt64?
        var time: String?
        var tag: String?
        var condition: String?
        var event: String?
        var grade: Int?
        var state: String?
        var value: Double?
        var limit: Double?
        var message: String?
    }
}

/// Ends the service group after a set time (`hazmon demo --duration`).
struct StopAfter: Service {
    let duration: Duration
    func run() async throws {
        try? await Task.sleep(for: duration)
        // Returning ends the group: ServiceGroup treats a finished service as shutdown.
    }
}
