import HazmonCore

#if canImport(Glibc)
import Glibc
#endif

extension ConfigBuilder {
    func readMQTT(siteID: String) -> MQTTSettings? {
        guard let t = top.table("mqtt") else { return nil }
        let url = t.string("url") ?? {
            t.error("url", "is required, e.g. \"mqtt://127.0.0.1:1883\"")
            return ""
        }()
        var s = MQTTSettings(url: url, host: "127.0.0.1", port: 1883, tls: false, clientID: "hazmon-\(siteID)")
        if !url.isEmpty {
            if let (tls, host, port) = Self.parseBrokerURL(url) {
                s.tls = tls; s.host = host; s.port = port
            } else {
                t.error("url", "\"\(url)\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
            }
        }
        if let c = t.string("client_id") {
            if c.isEmpty || c.utf8.count > 65_535 { t.error("client_id", "must not be empty") } else { s.clientID = c }
        }
        s.username = t.string("username")
        for (key, path) in [("password_file", \MQTTSettings.passwordFile), ("ca_file", \.caFile),
                            ("cert_file", \.certFile), ("key_file", \.keyFile)] {
            if let p = t.string(key) {
                if access(p, R_OK) != 0 { t.error(key, "cannot read \"\(p)\": \(String(cString: strerror(errno)))") }
                else if key == "password_file" || key == "key_file" { Self.checkSecret(t, key, p) }
                s[keyPath: path] = p
            }
        }
        if s.passwordFile != nil && s.username == nil { t.error("password_file", "needs a username") }
        if (s.caFile != nil || s.certFile != nil || s.keyFile != nil) && !s.tls {
            t.error("url", "ca_file / cert_file / key_file need an mqtts:// url")
        }
        if (s.certFile == nil) != (s.keyFile == nil) { t.error(s.certFile == nil ? "key_file" : "cert_file", "cert_file and key_file go together") }
        if let q = t.int("qos") {
            if (0...2).contains(q) { s.qos = q } else { t.error("qos", "must be 0, 1 or 2") }
        }
        if let k = t.duration("keepalive") {
            if k >= .seconds(5) && k <= .seconds(65_535) { s.keepalive = k } else { t.error("keepalive", "must be 5s...65535s") }
        }
        if let d = t.duration("reconnect_min") {
            if d >= .seconds(1) { s.reconnectMin = d } else { t.error("reconnect_min", "must be at least 1s") }
        }
        if let d = t.duration("reconnect_max") {
            if d >= s.reconnectMin { s.reconnectMax = d } else { t.error("reconnect_max", "must be at least reconnect_min") }
        }
        if let n = t.int("max_payload") {
            if n >= 64 && n <= 16 * 1_048_576 { s.maxPayload = n } else { t.error("max_payload", "must be 64 bytes...16 MiB") }
        }
        var mapIDs: Set<String> = []
        for m in t.arrayOfTables("map", context: { _, _ in nil }) {
            let id = m.string("id") ?? ""
            if !Self.isIdentifier(id) { m.error("id", "each [[mqtt.map]] needs an id of letters, digits, '-', '_' or '.'") }
            else if !mapIDs.insert(id).inserted { m.error("id", "duplicate map id \"\(id)\"") }
            let topic = m.string("topic") ?? ""
            if let problem = TopicFilter.validate(topic) { m.error("topic", problem) }
            var format = MQTTMapFormat.plain
            if let f = m.string("format") {
                if let v = MQTTMapFormat(rawValue: f) { format = v }
                else { m.error("format", "\"\(f)\" is not one of plain (a number, JSON value or batch) or neuron (EMQX Neuron's uploads)") }
            }
            let neuron = format == .neuron
            let batch = m.bool("batch") ?? false
            if neuron, m.has("batch") { m.error("batch", "a Neuron upload is always a batch of tags; leave batch out") }
            if neuron, m.has("json") { m.error("json", "a Neuron upload's values are where Neuron puts them; leave json out") }
            let template = m.string("tag") ?? (batch || neuron ? "{tag}" : "")
            if template.isEmpty { m.error("tag", "is required: a template such as \"{3}-{4}\" naming the tag from topic levels") }
            else if let problem = TagTemplate.validate(template, topic: topic, batch: batch || neuron, neuron: neuron) { m.error("tag", problem) }
            let json = m.string("json")
            if let json, json.isEmpty { m.error("json", "must not be empty; leave it out for a bare number or an object with \"value\"") }
            var map = MQTTMapSettings(id: id, topic: topic, tag: template, json: neuron ? nil : json, batch: batch)
            map.format = format
            s.maps.append(map)
            m.rejectUnknownKeys()
        }
        readSparkplug(t, into: &s, mapIDs: &mapIDs)
        if let p = t.table("publish") {
            var out = MQTTPublishSettings()
            for (key, path, allowed) in [("topic", \MQTTPublishSettings.topic, ["site", "tag", "condition"]),
                                         ("state_topic", \.stateTopic, ["site", "tag", "alarm"]),
                                         ("status_topic", \.statusTopic, ["site"])] {
                guard let v = p.string(key) else { continue }
                if let problem = Self.publishTopicProblem(v, allowed: allowed) { p.error(key, problem) } else { out[keyPath: path] = v }
            }
            if let r = p.bool("retain") { out.retain = r }
            p.rejectUnknownKeys()
            s.publish = out
        }
        if let host = t.string("sparkplug_host") {
            if !Self.isSparkplugID(host) { t.error("sparkplug_host", "\"\(host)\" is not a Sparkplug id (no '/', '+' or '#', not empty)") }
            else if s.sparkplug.isEmpty { t.error("sparkplug_host", "publishes a Sparkplug host's STATE; it needs a [[mqtt.sparkplug]] group") }
            else if s.publish != nil {
                t.error("sparkplug_host", "the connection's one last will is then this host's STATE (offline), so [mqtt.publish]'s status topic could not be; use one of the two on this broker connection")
            }
            s.sparkplugHost = host
        }
        t.rejectUnknownKeys()
        return s
    }

    /// `[[mqtt.sparkplug]]` entries; their ids share one namespace with `[[mqtt.map]]`'s.
    func readSparkplug(_ t: TableReader, into s: inout MQTTSettings, mapIDs: inout Set<String>) {
        for m in t.arrayOfTables("sparkplug", context: { _, _ in nil }) {
            let id = m.string("id") ?? ""
            if !Self.isIdentifier(id) { m.error("id", "each [[mqtt.sparkplug]] needs an id of letters, digits, '-', '_' or '.'") }
            else if !mapIDs.insert(id).inserted { m.error("id", "duplicate id \"\(id)\" (ids of [[mqtt.map]] and [[mqtt.sparkplug]] are one namespace)") }
            let group = m.string("group") ?? ""
            if !Self.isSparkplugID(group) { m.error("group", "is required: the Sparkplug group id (no '/', '+' or '#')") }
            var nodes: [String] = []
            if let list = m.stringArray("nodes") {
                for n in list {
                    let parts = n.split(separator: "/", omittingEmptySubsequences: false)
                    if parts.count > 2 || !parts.allSatisfy({ Self.isSparkplugID(String($0)) }) {
                        m.error("nodes", "\"\(n)\" is not \"NODE\" or \"NODE/DEVICE\" (Sparkplug ids: no '+' or '#', not empty)")
                    } else if nodes.contains(n) {
                        m.error("nodes", "\"\(n)\" is listed twice")
                    } else {
                        nodes.append(n)
                    }
                }
            } else {
                m.error("nodes", "is required: the edge nodes hazmon expects, [\"NODE\", \"NODE/DEVICE\", ...]; each one's loss raises a comm alarm")
            }
            var entry = SparkplugSettings(id: id, group: group, nodes: nodes)
            if let tpl = m.string("tag") {
                if let problem = SparkplugTemplate.validate(tpl) { m.error("tag", problem) } else { entry.tag = tpl }
            }
            if let r = m.bool("rebirth") { entry.rebirth = r }
            if let d = m.duration("birth_timeout") {
                if d >= .seconds(1) && d <= .seconds(3_600) { entry.birthTimeout = d } else { m.error("birth_timeout", "must be 1s...1h") }
            }
            if s.sparkplug.contains(where: { $0.group == group }) { m.error("group", "group \"\(group)\" is read by another [[mqtt.sparkplug]] already") }
            s.sparkplug.append(entry)
            m.rejectUnknownKeys()
        }
    }

    /// A Sparkplug group, node or device id: the spec forbids `/`, `+` and `#` in them.
    static func isSparkplugID(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 256 && !s.contains("/") && !s.contains("+") && !s.contains("#")
    }

    /// A publish topic: no wildcards, no empty levels, only the placeholders `allowed`.
    static func publishTopicProblem(_ topic: String, allowed: [String]) -> String? {
        if topic.isEmpty { return "must not be empty" }
        if topic.contains("+") || topic.contains("#") { return "\"\(topic)\": a publish topic cannot hold the wildcards + or #" }
        var rest = Substring(topic)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return "\"\(topic)\": unclosed {" }
            let name = String(rest[rest.index(after: open)..<close])
            if !allowed.contains(name) {
                return "\"\(topic)\": unknown placeholder {\(name)} (here: \(allowed.map { "{\($0)}" }.joined(separator: ", ")))"
            }
            rest = rest[rest.index(after: close)...]
        }
        return nil
    }

    /// `mqtt://host:port` / `mqtts://[::1]:8883` → (tls, host, port).
    static func parseBrokerURL(_ url: String) -> (Bool, String, Int)? {
        let tls: Bool
        var rest: Substring
        if url.hasPrefix("mqtt://") { tls = false; rest = url.dropFirst(7) }
        else if url.hasPrefix("mqtts://") { tls = true; rest = url.dropFirst(8) }
        else { return nil }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { return nil }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty, !host.contains("/") else { return nil }
        var port = tls ? 8883 : 1883
        if let portText {
            guard let p = Int(portText), (1...65_535).contains(p) else { return nil }
            port = p
        }
        return (tls, String(host), port)
    }
}

/// MQTT topic filter rules: `+` takes a whole level, `#` only the last.
public enum TopicFilter {
    public static func validate(_ f: String) -> String? {
        if f.isEmpty { return "a topic is required" }
        if f.utf8.count > 65_535 { return "topic too long" }
        let levels = f.split(separator: "/", omittingEmptySubsequences: false)
        for (i, l) in levels.enumerated() {
            if l.contains("#") && (l != "#" || i != levels.count - 1) { return "'#' must be a whole level and the last one" }
            if l.contains("+") && l != "+" { return "'+' must be a whole level" }
        }
        return nil
    }

    public static func hasWildcards(_ f: String) -> Bool { f.contains("+") || f.contains("#") }
}

/// Tag-id templates of `[[mqtt.map]]`.
public enum TagTemplate {
    public static func validate(_ template: String, topic: String, batch: Bool, neuron: Bool = false) -> String? {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false).count
        var i = template.startIndex
        while let open = template[i...].firstIndex(of: "{") {
            guard let close = template[open...].firstIndex(of: "}") else { return "unclosed '{' in \"\(template)\"" }
            let name = template[template.index(after: open)..<close]
            if name == "tag" {
                if !batch { return "{tag} is for batch maps (batch = true)" }
            } else if name == "node" || name == "group" {
                if !neuron { return "{\(name)} is for Neuron maps (format = \"neuron\")" }
            } else if let n = Int(name) {
                if n < 1 || (n > levels && !topic.hasSuffix("#")) { return "{\(n)}: the topic has \(levels) levels" }
            } else {
                return "{\(name)} is not a placeholder; use {1}...{9} for topic levels, {tag} for batch points, {node} and {group} for Neuron"
            }
            i = template.index(after: close)
        }
        return nil
    }
}

/// Tag-id templates of `[[mqtt.sparkplug]]`.
public enum SparkplugTemplate {
    public static let placeholders = ["group", "node", "device", "metric"]

    public static func validate(_ template: String) -> String? {
        if template.isEmpty { return "must not be empty" }
        var i = template.startIndex
        var names: [Substring] = []
        while let open = template[i...].firstIndex(of: "{") {
            guard let close = template[open...].firstIndex(of: "}") else { return "unclosed '{' in \"\(template)\"" }
            let name = template[template.index(after: open)..<close]
            if !placeholders.contains(String(name)) {
                return "{\(name)} is not a placeholder; use {group}, {node}, {device} and {metric}"
            }
            names.append(name)
            i = template.index(after: close)
        }
        if !names.contains("metric") { return "\"\(template)\" names every metric alike; it needs {metric}" }
        return nil
    }
}

/// `mqtt://HOST[:PORT]` and `mqtts://…` as the configuration reads them, for other tools.
public enum BrokerURL {
    public static func parse(_ url: String) -> (tls: Bool, host: String, port: Int)? {
        ConfigBuilder.parseBrokerURL(url).map { (tls: $0.0, host: $0.1, port: $0.2) }
    }
}
