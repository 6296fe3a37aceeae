import Foundation
import HazmonConfig
import HazmonTestSupport
import Testing

@Suite("[notify] config")
struct NotifyConfigTests {
    static let header = "[[tag]]\nid = \"LT-1\"\nunit = \"%\"\nsource = { mqtt = \"p/1\" }\n"
        + "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[hazard_source]]\nid = \"T-101\"\nexposed_people = 0\n"
        + "[[hazard_source.substance]]\nname = \"液氨\"\n"
        + "inventory = [{ level = \"LT-1\", shape = \"horizontal_cylinder\", diameter = 3, length = 12, density = 0.6 }]\n"

    @Test func channelsAndRoutesWithTheirDefaults() throws {
        let dir = try TempDir(prefix: "hazmon-notify-config")
        defer { dir.remove() }
        let url = dir.path + "/ding.url", secret = dir.path + "/ding.secret"
        try "https://oapi.dingtalk.com/robot/send?access_token=abc\n".write(toFile: url, atomically: true, encoding: .utf8)
        try "SECxyz\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(url, 0o600)
        chmod(secret, 0o600)
        let c = try ConfigLoader.parse(text: Self.header + """
            [notify]
            console_url = "https://hazmon.plant.example:8080"
            [[notify.channel]]
            id = "shift"
            type = "dingtalk"
            url_file = "\(url)"
            secret_file = "\(secret)"
            [[notify.channel]]
            id = "manager"
            type = "sms"
            url = "http://sms.example/send"
            mobiles = ["13800000000"]
            template = '{"to":"{phones}","text":"{short}"}'
            [[notify.route]]
            grade = 2
            hazard_source = ["T-101"]
            condition = ["high_high", "comm"]
            steps = [{ after = "0s", to = ["shift"] }, { after = "5m", to = ["manager"] }]
            [[notify.route]]
            id = "toxic"
            grade = [1, 3]
            class = ["toxic_gas"]
            steps = [{ to = ["shift"] }]
            digest_every = "1m"
            """, file: "hazmon.toml")
        let n = c.notify
        #expect(n.consoleURL == "https://hazmon.plant.example:8080" && n.channels.map(\.id) == ["shift", "manager"])
        #expect(n.channels[0].kind == .dingtalk && n.channels[0].url == nil && n.channels[0].urlFile == url && n.channels[0].downAfter == .seconds(300))
        #expect(n.channels[1].contentType == "application/json" && n.channels[0].connectionID == "notify-shift")
        let (a, b) = (n.routes[0], n.routes[1])
        #expect(a.id == "route-1" && a.grades == [1, 2] && a.hazardSources == ["T-101"] && a.conditions == ["high_high", "comm"])
        #expect(a.steps == [.init(after: .zero, to: ["shift"]), .init(after: .seconds(300), to: ["manager"])] && a.digestEvery == .seconds(300))
        #expect(b.grades == [1, 3] && b.classes == ["toxic_gas"] && b.digestEvery == .seconds(60))
    }

    @Test func mistakesNameTheirLineAndKey() throws {
        let dir = try TempDir(prefix: "hazmon-notify-config")
        defer { dir.remove() }
        let loose = dir.path + "/loose.secret"
        try "SECxyz\n".write(toFile: loose, atomically: true, encoding: .utf8)
        chmod(loose, 0o644)
        let ch = "[notify]\n[[notify.channel]]\nid = \"c\"\n"
        let route = "[[notify.route]]\nsteps = [{ to = [\"c\"] }]\n"
        let cases: [(String, String)] = [
            (ch + "type = \"pager\"\nurl = \"http://h/\"\n", #"notify.channel.type: "pager" is not one of webhook, dingtalk, wecom, sms"#),
            (ch + "type = \"webhook\"\n", "notify.channel.url: give the channel's address as url or url_file"),
            (ch + "type = \"webhook\"\nurl = \"ftp://h/\"\n", #""ftp://h/" is not an http(s):// URL"#),
            (ch + "type = \"dingtalk\"\nurl_file = \"/nonexistent/u\"\n", #"notify.channel.url_file: cannot read "/nonexistent/u""#),
            (ch + "type = \"dingtalk\"\nurl = \"https://h/\"\nsecret_file = \"\(loose)\"\n", "readable by group or others"),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\nsecret_file = \"\(loose)\"\n", "secret_file: signs DingTalk robot messages"),
            (ch + "type = \"sms\"\nurl = \"https://h/\"\nmobiles = [\"138\"]\n", "notify.channel.template: an sms channel needs the gateway's request body"),
            (ch + "type = \"sms\"\nurl = \"https://h/\"\nmobiles = [\"138\"]\ntemplate = '{\"t\":\"{tagg}\"}'\n", "notify.channel.template: unknown field {tagg}"),
            (ch + "type = \"sms\"\nurl = \"https://h/\"\ntemplate = \"{short}\"\n", "an sms channel needs the phone numbers"),
            (ch + "type = \"wecom\"\nurl = \"https://h/\"\nmobiles = [\"call me\"]\n", #""call me" is not a phone number"#),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\n" + "[[notify.route]]\nsteps = [{ to = [\"nobody\"] }]\n", #"notify.route.steps.to: "nobody" is not a [[notify.channel]] id"#),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\n" + "[[notify.route]]\n", "notify.route.steps: is required"),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\n" + route + "grade = 5\n", "notify.route.grade: must be 1 (red) to 4 (blue)"),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\n" + route + "class = [\"gas\"]\n", #""gas" is not one of combustible_gas"#),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\n" + route + "hazard_source = [\"T-9\"]\n", #""T-9" is not a [[hazard_source]] id"#),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\n" + route + "condition = [\"hot\"]\n", #""hot" is not a condition"#),
            (ch + "type = \"webhook\"\nurl = \"https://h/\"\n" + "[[notify.route]]\nsteps = [{ after = \"5m\", to = [\"c\"] }, { after = \"1m\", to = [\"c\"] }]\n",
             "steps must come later one after another"),
            ("[notify]\nconsole_url = \"hazmon:8080\"\n", "notify.console_url"),
            ("[notify]\nchanel = []\n", "notify.chanel: unknown key"),
        ]
        for (body, expected) in cases {
            let found = configErrors(Self.header + body)
            #expect(found.contains { $0.contains(expected) }, "\(body) → \(found)")
        }
        // A line number, as hazmon check prints it.
        let located = configErrors(Self.header + ch + "type = \"pager\"\n")
        #expect(located.contains { $0.hasPrefix("hazmon.toml:16: notify.channel.type") }, "\(located)")
    }
}
