import ArgumentParser
import Foundation
import HazmonConfig
import HazmonCore
import HazmonModbus
import HazmonMQTT
import HazmonSimulator
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGTERM / SIGINT; the simulator's loops look at it.
let simulateStop = Atomic<Bool>(false)

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The plant simulator: Modbus TCP slaves on loopback, free-running or driven by a scenario.",
        discussion: """
            With --scenario FILE (see Config/scenarios/ and Config/demo/), one slave per [[device]] \
            serves its [[signal]]s (float32 in any word order, int16, uint16, 4–20 mA raw counts), \
            a heartbeat and a gas controller's status word; signals with an mqtt topic are \
            published as an edge gateway would: JSON per topic, or, with [mqtt] format, as a \
            Sparkplug B edge node (births, data by alias, its will on a dropped connection, \
            rebirth on request) or an EMQX Neuron gateway; the [[event]]s play: ramps, steps, loop \
            faults, stuck values, devices that drop off; `repeat` starts the script over. \
            Without, one slave on --modbus-port serves a moving image: input and holding register \
            i read 4000 + (i * 37 + 10 * seconds) mod 16000. Every client connection is its own \
            device (any unit id). Stops on SIGTERM or Ctrl-C, or after --duration.
            """)

    @Option(help: "TCP port on 127.0.0.1 (0: a free port, printed on start).") var modbusPort = 1502
    @Option(help: "Registers (and bits) in each table.") var registers = 1000
    @Option(help: "Stop after this long (e.g. 30s).") var duration: String?
    @Option(help: "Write request statistics (JSON) here on exit.") var stats: String?
    @Option(help: "A scenario file: devices, signals and scripted events.") var scenario: String?
    @Option(help: "Scenario seconds per real second (overrides the file's speed).") var speed: Double?
    @Option(help: "The broker for the scenario's MQTT signals (overrides its [mqtt] url).") var mqttUrl: String?

    func run() throws {
        let stopAfter = try duration.map { text -> Duration in
            do { return try DurationParser.parse(text) } catch { throw ValidationError("--duration: \(error)") }
        }
        if let scenario { return try runScenario(scenario, stopAfter: stopAfter) }
        let server: ModbusSlaveServer
        do {
            server = try ModbusSlaveServer(port: modbusPort, registers: registers, bits: registers) { input, holding, coils, t in
                let step = Int(t * 10)
                for i in input.indices { input[i] = UInt16(4000 + (i * 37 + step) % 16_000) }
                for i in holding.indices { holding[i] = input[i] }
                for i in coils.indices { coils[i] = UInt8((i + step / 10) & 1) }
            }
        } catch {
            printError("hazmon: \(error)")
            throw ExitCode(Exit.runtime)
        }
        signal(SIGTERM) { _ in simulateStop.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in simulateStop.store(true, ordering: .relaxed) }
        print("simulate: Modbus TCP slave on 127.0.0.1:\(server.port), \(registers) registers per table")
        fflush(nil)
        let thread = Thread { server.serve() }
        thread.start()
        let end = stopAfter.map { ContinuousClock.now + $0 }
        while !simulateStop.load(ordering: .relaxed), end.map({ ContinuousClock.now < $0 }) ?? true {
            usleep(50_000)
        }
        server.stop()
        usleep(200_000)
        let s = server.currentStats
        if let stats {
            let gaps = s.gaps.filter { !$0.isEmpty }
            let perConnection = gaps.map { g -> String in
                let sorted = g.sorted()
                return "{\"requests\":\(g.count + 1),\"span\":\(g.reduce(0, +)),\"gap_p50\":\(sorted[sorted.count / 2]),\"gap_max\":\(sorted.last!)}"
            }
            let json = "{\"connections\":\(s.connections),\"requests\":\(s.requests),\"per_connection\":[\(perConnection.joined(separator: ","))]}\n"
            try? json.write(toFile: stats, atomically: true, encoding: .utf8)
        }
        print("simulate: stopped after \(s.requests) requests on \(s.connections) connections")
    }

    func runScenario(_ path: String, stopAfter: Duration?) throws {
        var plan: Scenario
        do { plan = try ScenarioLoader.load(path: path) } catch {
            for e in error.errors { printError(e.description) }
            throw ExitCode(Exit.config)
        }
        if let speed {
            guard speed > 0 else { throw ValidationError("--speed must be above 0") }
            plan.speed = speed
        }
        let runner: ScenarioRunner
        do { runner = try ScenarioRunner(plan) } catch {
            printError("hazmon: \(error)")
            throw ExitCode(Exit.runtime)
        }
        var gateway: SimulatedGateway?
        if plan.signals.contains(where: { $0.topic != nil }) {
            guard let url = mqttUrl ?? plan.mqttURL, let (_, host, port) = BrokerURL.parse(url) else {
                printError("hazmon: the scenario has MQTT signals: give [mqtt] url or --mqtt-url mqtt://HOST:PORT")
                throw ExitCode(Exit.config)
            }
            gateway = try runner.startGateway(host: host, port: port)
            print("simulate: publishing MQTT signals to \(host):\(port)")
        }
        defer { gateway?.stop() }
        signal(SIGTERM) { _ in simulateStop.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in simulateStop.store(true, ordering: .relaxed) }
        for (id, server) in runner.servers { print("simulate: device \(id) on 127.0.0.1:\(server.port)") }
        print("simulate: \(plan.signals.count) signals, \(plan.events.count) events, speed \(plan.speed)x")
        fflush(nil)
        runner.start()
        let realEnd = (stopAfter ?? plan.duration.map { .nanoseconds(Int64($0.secondsDouble / plan.speed * 1e9)) })
            .map { ContinuousClock.now + $0 }
        while !simulateStop.load(ordering: .relaxed), realEnd.map({ ContinuousClock.now < $0 }) ?? true {
            usleep(50_000)
        }
        runner.stop()
        usleep(200_000)
        print("simulate: stopped at scenario time \(String(format: "%.1f", runner.scenarioTime)) s")
    }
}
