import Foundation
import HazmonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The stand-in for DingTalk, WeCom, an SMS gateway and a webhook receiver
/// (Tests/Fixtures/notify_gateway.py): it checks each request as the real service would and
/// records it; it can answer 500s, go away and come back on the same port.
final class TestGateway {
    let dir: String
    let port: Int
    let out: String
    let secret = "SECnotify-test-secret"
    var child: ChildProcess?

    init(dir: String) throws {
        self.dir = dir
        port = try FreePort.find()
        out = dir + "/gateway.jsonl"
        try start()
    }

    func start() throws {
        child = try ChildProcess("/usr/bin/env", ["python3", repoRoot + "/Tests/Fixtures/notify_gateway.py", "--port", "\(port)", "--out", out,
                                                  "--mode-file", dir + "/gateway.mode", "--dingtalk-secret", secret],
                                 output: dir + "/gateway.log")
        for _ in 0..<200 where !FreePort.isListening(port) { usleep(25_000) }
    }

    func stop() {
        child?.stop()
        child = nil
    }

    func requests(_ via: String? = nil) -> [[String: Any]] {
        let lines = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n")
        return lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { via == nil || $0["via"] as? String == via }
    }

    /// The idempotency keys the gateway took (ok) on a path, in order.
    func taken(_ via: String) -> [String] { requests(via).filter { $0["ok"] as? Bool == true }.compactMap { $0["key"] as? String } }

    /// The channel configuration: a signed DingTalk robot (URL and secret from files), WeCom, SMS, a webhook.
    func channels(secretDir: String) throws -> String {
        let urlFile = secretDir + "/dingtalk.url", secretFile = secretDir + "/dingtalk.secret", tokenFile = secretDir + "/sms.token"
        try "http://127.0.0.1:\(port)/dingtalk?access_token=ding-token\n".write(toFile: urlFile, atomically: true, encoding: .utf8)
        try secret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        try "sms-gateway-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        for f in [urlFile, secretFile, tokenFile] { chmod(f, 0o600) }
        return """
            [notify]
            console_url = "http://127.0.0.1:8080"
            [[notify.channel]]
            id = "shift"
            type = "dingtalk"
            url_file = "\(urlFile)"
            secret_file = "\(secretFile)"
            mobiles = ["13800000000"]
            down_after = "1s"
            [[notify.channel]]
            id = "hook"
            type = "webhook"
            url = "http://127.0.0.1:\(port)/webhook"
            down_after = "1s"
            [[notify.channel]]
            id = "manager"
            type = "wecom"
            url = "http://127.0.0.1:\(port)/wecom?key=wecom-key"
            [[notify.channel]]
            id = "sms"
            type = "sms"
            url = "http://127.0.0.1:\(port)/sms"
            token_file = "\(tokenFile)"
            mobiles = ["13900000000"]
            template = '{"to":"{phones}","text":"{short}","tag":"{tag}"}'
            """
    }
}

/// Extra gas tags for a flood: FT-1 … FT-n on plant/flood/1 … n.
func floodTags(_ n: Int) -> String {
    (1...n).map { "[[tag]]\nid = \"FT-\($0)\"\nclass = \"combustible_gas\"\nsource = { mqtt = \"plant/flood/\($0)\" }\nalarms.h = { at = 20 }\n" }
        .joined(separator: "\n")
}

@Suite("Notifications to people on call", .serialized)
struct NotifyTests {
    /// Escalation while unacknowledged, none after an ack, a "cleared" to those told when an
    /// alarm clears first, and a flood folded into digests: against the stand-in services,
    /// which check DingTalk's signature and each API's message shape.
    @Test func escalationAckClearedAndAFloodAsDigests() throws {
        let dir = try TempDir(prefix: "hazmon-notify-it")
        defer { dir.remove() }
        let gateway = try TestGateway(dir: dir.path)
        defer { gateway.stop() }
        let rig = try Rig(extra: floodTags(14) + "\n" + (try gateway.channels(secretDir: dir.path)) + """

            [[notify.route]]
            id = "gas"
            steps = [{ after = "0s", to = ["shift", "hook"] }, { after = "4s", to = ["manager", "sms"] }]
            digest_every = "10s"
            """)
        defer { rig.close() }
        let log = { rig.daemon.log + "\n" + gateway.requests().suffix(6).description }

        // GT-101 high: the shift's DingTalk group and the webhook at once, signed and well formed.
        rig.publisher.publish("plant/t101/gas", "25")
        try waitUntil(10, "the first step", log: log()) { gateway.taken("dingtalk").count == 1 && gateway.taken("webhook").count == 1 }
        #expect(gateway.requests().allSatisfy { $0["ok"] as? Bool == true }, "every request as the services take them: \(gateway.requests())")
        let ding = try #require(gateway.requests("dingtalk").first?["body"] as? [String: Any])
        let md = try #require(ding["markdown"] as? [String: Any])
        #expect((md["title"] as? String)?.contains("GT-101 T101 dike combustible gas") == true)
        #expect((md["text"] as? String)?.contains("[Open the alarm console](http://127.0.0.1:8080/)") == true)
        #expect((ding["at"] as? [String: Any])?["atMobiles"] as? [String] == ["13800000000"])
        let hook = try #require(gateway.requests("webhook").first?["body"] as? [String: Any])
        #expect(hook["kind"] as? String == "alarm" && (hook["event"] as? [String: Any])?["tag"] as? String == "GT-101")
        #expect(gateway.taken("wecom").isEmpty, "the second step waits")

        // Nobody acknowledges: after 4 s the manager (WeCom) and the SMS gateway.
        try waitUntil(10, "the second step", log: log()) { gateway.taken("wecom").count == 1 && gateway.taken("sms").count == 1 }
        let sms = try #require(gateway.requests("sms").first)
        #expect(sms["auth"] as? String == "Bearer sms-gateway-token")
        let smsBody = try #require(sms["body"] as? [String: Any])
        #expect(smsBody["to"] as? String == "13900000000" && smsBody["tag"] as? String == "GT-101")
        #expect((smsBody["text"] as? String)?.contains("Unacknowledged for 4s") == true, "\(smsBody)")

        // Back to normal before anyone acknowledged: everyone told hears it cleared.
        rig.publisher.publish("plant/t101/gas", "5")
        try waitUntil(10, "cleared to all four", log: log()) {
            ["dingtalk", "webhook", "wecom", "sms"].allSatisfy { gateway.taken($0).contains { $0.hasSuffix(":cleared") } }
        }
        let clearedHook = try #require(gateway.requests("webhook").last?["body"] as? [String: Any])
        #expect(clearedHook["kind"] as? String == "cleared" && (clearedHook["title"] as? String)?.hasPrefix("Cleared before acknowledgement") == true)

        // High-high, acknowledged at once: the first step only, and no "cleared" once it clears.
        rig.publisher.publish("plant/t101/gas", "45")
        try waitUntil(10, "the hh first step", log: log()) { gateway.taken("dingtalk").count == 3 }
        rig.client.send(#"{"type":"ack","tag":"GT-101","condition":"hh","user":"li"}"#)
        usleep(6_000_000)
        #expect(gateway.taken("wecom").count == 2 && gateway.taken("sms").count == 2, "acknowledged: no second step")
        rig.publisher.publish("plant/t101/gas", "5")
        usleep(2_000_000)
        for via in ["dingtalk", "webhook", "wecom", "sms"] {
            #expect(gateway.taken(via).filter { $0.hasSuffix(":cleared") }.count == 1, "\(via): one cleared, none for the acknowledged alarm")
        }
        #expect(gateway.taken("dingtalk").count == 3, "\(gateway.taken("dingtalk"))")

        // A flood: 14 tags raise within a second. Shift hears a digest, not 14 messages.
        let before = gateway.taken("dingtalk").count
        for i in 1...14 {
            rig.publisher.publish("plant/flood/\(i)", "30")
            usleep(50_000)
        }
        try waitUntil(30, "a digest", log: log()) { gateway.requests("dingtalk").contains { ($0["key"] as? String)?.hasPrefix("digest:") == true } }
        usleep(2_000_000)
        let during = gateway.taken("dingtalk").dropFirst(before)
        #expect(during.count < 14 && during.contains { $0.hasPrefix("digest:") }, "a flood is folded into digests: \(Array(during))")
        let digest = try #require(gateway.requests("dingtalk").last { ($0["key"] as? String)?.hasPrefix("digest:") == true }?["body"] as? [String: Any])
        let title = ((digest["markdown"] as? [String: Any])?["title"] as? String) ?? ""
        #expect(title.hasPrefix("Alarm flood · it-site: "), "\(title)")
        #expect(gateway.requests().allSatisfy { $0["ok"] as? Bool == true }, "every request well formed and signed")
        // Every key once.
        for via in ["dingtalk", "webhook", "wecom", "sms"] {
            let keys = gateway.taken(via)
            #expect(Set(keys).count == keys.count, "\(via): each message once: \(keys)")
        }
    }

    /// A channel answering 500 raises its comm alarm and retries; a gateway that is away while
    /// the daemon is SIGKILLed gets the waiting messages once it is back, once; a restart does
    /// not send a delivered message again.
    @Test func failuresRetryRaiseTheCommAlarmAndARestartResendsNothing() throws {
        let dir = try TempDir(prefix: "hazmon-notify-it2")
        defer { dir.remove() }
        let gateway = try TestGateway(dir: dir.path)
        defer { gateway.stop() }
        let rig = try Rig(extra: (try gateway.channels(secretDir: dir.path)) + """

            [[notify.route]]
            id = "all"
            steps = [{ after = "0s", to = ["shift", "hook"] }]
            """)
        defer { rig.close() }
        let log = { rig.daemon.log + "\n" + gateway.requests().suffix(6).description }

        // 500s: retried, the channels' comm alarms raised with the reason.
        try "500".write(toFile: dir.path + "/gateway.mode", atomically: true, encoding: .utf8)
        rig.publisher.publish("plant/t101/gas", "25")
        try waitUntil(20, "the comm alarms of both channels", log: log()) {
            let comm = ((try? rig.snapshot()) ?? []).filter { $0["condition"] as? String == "comm" }.compactMap { $0["tag"] as? String }
            return Set(comm).isSuperset(of: ["notify-shift", "notify-hook"])
        }
        #expect(gateway.requests("webhook").count >= 2, "retried")
        try FileManager.default.removeItem(atPath: dir.path + "/gateway.mode")
        // Backoff is at most a few seconds here; the comm alarms' own raises go out too.
        try waitUntil(30, "delivered after the 500s", log: log()) { gateway.taken("dingtalk").count >= 1 && gateway.taken("webhook").count >= 1 }
        try waitUntil(15, "the comm alarms cleared", log: log()) {
            ((try? rig.snapshot()) ?? []).filter { ($0["tag"] as? String)?.hasPrefix("notify-") == true }.allSatisfy { $0["state"] as? String != "unack" && $0["state"] as? String != "acked" }
        }
        usleep(2_000_000)
        let delivered = Set(gateway.taken("dingtalk"))

        // The gateway goes away; an alarm is raised; the daemon is SIGKILLed and started again.
        gateway.stop()
        rig.publisher.publish("plant/t101/gas", "45")
        usleep(2_000_000)
        try rig.crashAndRestart()
        usleep(2_000_000)
        // hazmon check shows what waits (read-only, beside the running daemon).
        let out = rig.dir.path + "/check.out"
        let check = try ChildProcess(hazmonBinary, ["check", "--config", rig.dir.path + "/hazmon.toml"], output: out)
        #expect(check.wait() == 0)
        let waiting = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").first { $0.hasPrefix("notify waiting: ") } ?? ""
        let shiftWaiting = waiting.split(separator: ",").first { $0.contains("shift ") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(shiftWaiting >= 1, "the waiting message shows in hazmon check: \(waiting)")
        try gateway.start()
        try waitUntil(30, "the waiting message after the restart", log: log()) {
            gateway.taken("dingtalk").contains { k in !delivered.contains(k) && k.contains(":shift:") && !k.hasSuffix(":cleared") }
        }
        usleep(3_000_000)
        for via in ["dingtalk", "webhook"] {
            let keys = gateway.taken(via)
            #expect(Set(keys).count == keys.count, "\(via): nothing delivered twice across the restart: \(keys)")
        }
        #expect(delivered.isSubset(of: Set(gateway.taken("dingtalk"))))
    }
}
