import Foundation
import HazmonConfig
import HazmonTestSupport
import Testing

@Suite("[[uplink]] config")
struct UplinkConfigTests {
    static let header = "[history]\npath = \"/tmp/h.db\"\n[[tag]]\nid = \"PT-1\"\ncode = \"Q-1\"\nsource = { mqtt = \"p/1\" }\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n"

    func errors(_ text: String) -> [String] { configErrors(text) }

    @Test func defaultsAndEveryTransport() throws {
        let c = try ConfigLoader.parse(text: Self.header + """
            [[uplink]]
            id = "a"
            url = "mqtt://[::1]:1884"
            [[uplink]]
            id = "b"
            url = "https://platform.example/ingest"
            values = false
            [[uplink]]
            id = "c"
            url = "tls://127.0.0.1:7001"
            frame = { delimiter = "@@" }
            time_format = "beijing"
            values = { every = "0s" }
            fields = { tag = "quotaId" }
            """, file: "hazmon.toml")
        #expect(c.tags.first?.code == "Q-1")
        let (a, b, u) = (c.uplinks[0], c.uplinks[1], c.uplinks[2])
        #expect(a.transport == .mqtt && a.host == "::1" && a.port == 1884 && a.valuesEvery == .seconds(10) && a.valuesOnChange && a.alarms)
        #expect(a.heartbeat == .seconds(60) && a.downAfter == .seconds(60) && a.topic == "hazmon/{site}/{kind}" && a.connectionID == "uplink-a")
        #expect(b.transport == .http && b.tls && b.port == 443 && b.valuesEvery == nil && !b.valuesOnChange)
        #expect(u.transport == .tcp && u.tls && u.delimiter == Array("@@".utf8) && u.timeFormat == .beijing && u.valuesEvery == nil)
        #expect(u.valuesOnChange && u.fields == ["tag": "quotaId"])
    }

    @Test func mistakesNameTheirLineAndKey() throws {
        let dir = try TempDir(prefix: "hazmon-uplink-config")
        defer { dir.remove() }
        let loose = dir.path + "/loose.key", short = dir.path + "/short.key"
        try "00112233445566778899aabbccddeeff\n".write(toFile: loose, atomically: true, encoding: .utf8)
        try "abc\n".write(toFile: short, atomically: true, encoding: .utf8)
        chmod(loose, 0o644)
        chmod(short, 0o600)
        let cases: [(String, String)] = [
            ("id = \"x\"\nurl = \"ftp://h\"", #"hazmon.toml:11: uplink.url: "ftp://h" is not"#),
            ("id = \"x\"", "uplink.url: is required"),
            ("url = \"tcp://h:1\"", "uplink.id: each [[uplink]] needs an id"),
            ("id = \"x\"\nurl = \"tcp://h\"", "is not mqtt(s)://HOST[:PORT]"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nfields = { tagg = \"t\" }", "uplink.fields.tagg: unknown key (fields renames hazmon's keys"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nfields = { tag = \"v\", value = \"v\" }", #""v" is already the name of"#),
            ("id = \"x\"\nurl = \"http://h/p\"\nframe = { delimiter = \"@@\" }", "frames are for tcp:// and tls:// uplinks"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nencrypt = { cipher = \"aes-192-cbc\", key_file = \"\(short)\" }", "not one of aes-128-cbc, aes-256-cbc"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nencrypt = { key_file = \"/nonexistent/k\" }", #"uplink.encrypt.key_file: cannot read "/nonexistent/k""#),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nencrypt = { key_file = \"\(short)\" }", "must hold 16 bytes for aes-128-cbc"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nencrypt = { key_file = \"\(loose)\" }", "readable by group or others"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\ntime_format = \"local\"", #""local" is not one of rfc3339, beijing"#),
            ("id = \"x\"\nurl = \"tcp://h:1\"\ntoken_file = \"\(short)\"", "token_file: is for http:// and https:// uplinks"),
            ("id = \"x\"\nurl = \"mqtt://h\"\ntopic = \"a/#\"", "must be a topic without wildcards"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nbacklog_max = 5", "must be at least 10000 values"),
            ("id = \"x\"\nurl = \"tcp://h:1\"\nvalues = { every = \"10ms\" }", "must be at least 1s"),
        ]
        for (body, expected) in cases {
            let found = errors(Self.header + "[[uplink]]\n" + body + "\n")
            #expect(found.contains { $0.contains(expected) }, "\(body) → \(found)")
        }
        // Stored values come from the history (on by default): without it, values on change are refused.
        let noHistory = errors("[history]\nenabled = false\n[[uplink]]\nid = \"x\"\nurl = \"tcp://h:1\"\n")
        #expect(noHistory.contains { $0.contains("uplink.values: on_change sends the values the history stores: it needs [history]") }, "\(noHistory)")
        #expect(errors("[history]\nenabled = false\n[[uplink]]\nid = \"x\"\nurl = \"tcp://h:1\"\nvalues = { on_change = false }\n").isEmpty)
        let twice = errors(Self.header + "[[uplink]]\nid = \"x\"\nurl = \"tcp://h:1\"\n[[uplink]]\nid = \"x\"\nurl = \"tcp://h:2\"\n")
        #expect(twice.contains { $0.contains("duplicate uplink id \"x\"") })
    }
}
