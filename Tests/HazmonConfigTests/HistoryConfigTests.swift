import HazmonConfig
import Testing

@Suite("[history] and a tag's history")
struct HistoryConfigTests {
    static let header = """
        [mqtt]
        url = "mqtt://127.0.0.1:1883"
        [journal]
        path = "/var/lib/hazmon/journal.db"

        """

    func errors(_ text: String) -> [String] { configErrors(text) }

    @Test func onByDefaultBesideTheJournal() throws {
        let c = try ConfigLoader.parse(text: Self.header + """
            [[tag]]
            id = "PT-1"
            source = { mqtt = "a/b" }
            """, file: "hazmon.toml")
        let h = try #require(c.history)
        #expect(h.path == "/var/lib/hazmon/history.db")
        #expect(h.retention == .seconds(90 * 86_400) && h.maxGap == .seconds(60) && h.batch == .seconds(1))
        #expect(c.tags[0].history == TagHistorySettings())
    }

    @Test func everyKeyAndATagsDeadbandAndPrecision() throws {
        let c = try ConfigLoader.parse(text: Self.header + """
            [history]
            path = "/srv/h.db"
            retention = "31d"
            max_gap = "10s"
            batch = "500ms"
            [[tag]]
            id = "FT-1"
            source = { mqtt = "a/b" }
            history = { deadband = 0.5, precision = "float64" }
            """, file: "hazmon.toml")
        #expect(c.history?.path == "/srv/h.db" && c.history?.retention == .seconds(31 * 86_400))
        #expect(c.history?.maxGap == .seconds(10) && c.history?.batch == .milliseconds(500))
        #expect(c.tags[0].history.deadband == 0.5 && c.tags[0].history.float64)
        let off = try ConfigLoader.parse(text: Self.header + "[history]\nenabled = false\n", file: "hazmon.toml")
        #expect(off.history == nil)
    }

    @Test func mistakesNameTheirLineAndKey() {
        let e = errors(Self.header + """
            [history]
            retention = "29d"
            max_gap = "0s"
            batch = "1m"
            path = "/var/lib/hazmon/journal.db"
            colour = "red"
            [[tag]]
            id = "P"
            source = { mqtt = "a/b" }
            history = { deadband = -1, precision = "double", every = "1s" }
            """)
        #expect(e.contains("hazmon.toml:6: history.retention: 29d is below the legal minimum of 30 days of records (安监总局令第40号 Art. 13)"))
        #expect(e.contains("hazmon.toml:7: history.max_gap: 0s is outside 1s ... 1h"))
        #expect(e.contains("hazmon.toml:8: history.batch: 1m is outside 100ms ... 10s"))
        #expect(e.contains("hazmon.toml:9: history.path: must not be the journal's file"))
        #expect(e.contains { $0.hasPrefix("hazmon.toml:10: history.colour:") })
        #expect(e.contains(#"hazmon.toml:14: tag "P": history.deadband: must be 0 or more (in the tag's unit; 0 stores every change)"#))
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:14: tag "P": history.precision: "double" is not one of float32"#) })
        #expect(e.contains { $0.hasPrefix(#"hazmon.toml:14: tag "P": history.every:"#) })
    }
}

@Suite("[history.postgres]")
struct HistoryPostgresConfigTests {
    func parse(_ pg: String) throws(ConfigErrors) -> HazmonConfiguration {
        try ConfigLoader.parse(text: "[history]\n[history.postgres]\n" + pg, file: "hazmon.toml")
    }

    @Test func theURLAndItsDefaults() throws {
        let p = try #require(try parse(#"url = "postgres://hazmon@db.park.example/history?sslmode=verify-full""#).history?.postgres)
        #expect(p.host == "db.park.example" && p.port == 5432 && p.user == "hazmon" && p.database == "history")
        #expect(p.sslmode == .verifyFull && p.table == "hazmon_history" && p.queueMax == 50_000_000 && p.passwordFile == nil)
        let q = try #require(try parse("url = \"postgresql://u@[::1]:6432\"\ntable = \"plant_2\"\nqueue_max = 20000\nsslmode = \"require\"").history?.postgres)
        #expect(q.host == "::1" && q.port == 6432 && q.database == "u" && q.table == "plant_2" && q.queueMax == 20_000 && q.sslmode == .require)
    }

    @Test func mistakes() {
        func errors(_ text: String) -> [String] {
            do { _ = try parse(text); return [] } catch { return error.errors.map(\.description) }
        }
        #expect(errors("table = \"x\"").contains("hazmon.toml:2: history.postgres.url: is required: postgres://USER@HOST[:PORT]/DATABASE"))
        #expect(errors(#"url = "mysql://a@b/c""#).contains(#"hazmon.toml:3: history.postgres.url: "mysql://a@b/c" is not postgres://USER@HOST[:PORT]/DATABASE"#))
        #expect(errors(#"url = "postgres://a@b/c?sslmode=maybe""#).contains("hazmon.toml:3: history.postgres.url: sslmode=maybe is not one of disable, require, verify-full"))
        #expect(errors("url = \"postgres://a@b/c\"\ntable = \"Drop Table\"").contains { $0.hasPrefix("hazmon.toml:4: history.postgres.table:") })
        #expect(errors("url = \"postgres://a@b/c\"\npassword_file = \"/nonexistent/pw\"").contains { $0.hasPrefix("hazmon.toml:4: history.postgres.password_file: cannot read") })
        #expect(errors("url = \"postgres://a@b/c\"\nqueue_max = 5").contains("hazmon.toml:4: history.postgres.queue_max: must be at least 10000 points"))
    }
}
