import Foundation
import HazmonCore

#if canImport(Glibc)
import Glibc
#endif

extension ConfigBuilder {
    /// `[[uplink]]` entries (spec §9). Values on change need the history (they are the values
    /// it stores); a key or password file is read now, so a missing one fails `hazmon check`.
    func readUplinks(site: SiteSettings, history: HistorySettings?) -> [UplinkSettings] {
        var out: [UplinkSettings] = []
        var ids: Set<String> = []
        for t in top.arrayOfTables("uplink", context: { _, _ in nil }) {
            let id = t.string("id") ?? ""
            if !Self.isIdentifier(id) { t.error("id", "each [[uplink]] needs an id of letters, digits, '-', '_' or '.'") }
            else if !ids.insert(id).inserted { t.error("id", "duplicate uplink id \"\(id)\"") }
            guard let url = t.string("url") else {
                t.error("url", "is required: mqtt(s)://HOST[:PORT], http(s)://HOST[:PORT]/PATH or tcp|tls://HOST:PORT")
                continue
            }
            guard var s = Self.uplinkEndpoint(url, id: id, site: site.id) else {
                t.error("url", "\"\(url)\" is not mqtt(s)://HOST[:PORT], http(s)://HOST[:PORT]/PATH or tcp|tls://HOST:PORT")
                continue
            }
            readUplinkContent(t, into: &s, history: history)
            readUplinkTransport(t, into: &s)
            t.rejectUnknownKeys()
            out.append(s)
        }
        return out
    }

    static func uplinkEndpoint(_ url: String, id: String, site: String) -> UplinkSettings? {
        let clientID = "hazmon-\(site)-uplink-\(id)"
        if url.hasPrefix("mqtt://") || url.hasPrefix("mqtts://") {
            guard let (tls, host, port) = parseBrokerURL(url) else { return nil }
            return UplinkSettings(id: id, url: url, transport: .mqtt, tls: tls, host: host, port: port, clientID: clientID)
        }
        if url.hasPrefix("http://") || url.hasPrefix("https://") {
            guard let u = URL(string: url), let host = u.host, !host.isEmpty else { return nil }
            let tls = url.hasPrefix("https://")
            return UplinkSettings(id: id, url: url, transport: .http, tls: tls, host: host, port: u.port ?? (tls ? 443 : 80),
                                  clientID: clientID)
        }
        for (scheme, tls) in [("tcp://", false), ("tls://", true)] where url.hasPrefix(scheme) {
            // The broker URL parser knows HOST:PORT and [v6]:PORT; a frame stream needs the port.
            guard let (_, host, port) = parseBrokerURL("mqtt://" + url.dropFirst(scheme.count)),
                  url.dropFirst(scheme.count).contains(":") else { return nil }
            return UplinkSettings(id: id, url: url, transport: .tcp, tls: tls, host: host, port: port, clientID: clientID)
        }
        return nil
    }

    /// What goes up, and in which form: values, alarms, heartbeat, codes, times, field names,
    /// frames, encryption, the comm alarm's delay and the backlog's bound.
    func readUplinkContent(_ t: TableReader, into s: inout UplinkSettings, history: HistorySettings?) {
        s.enterpriseCode = t.string("enterprise_code", default: "")
        if t.has("values") && !t.isTable("values") {
            if let v = t.bool("values"), !v { s.valuesEvery = nil; s.valuesOnChange = false }
        } else if let v = t.table("values") {
            if let d = v.duration("every") {
                if d == .zero { s.valuesEvery = nil } else if d >= .seconds(1) { s.valuesEvery = d } else { v.error("every", "must be at least 1s (or \"0s\": no snapshots)") }
            }
            if let c = v.bool("on_change") { s.valuesOnChange = c }
            v.rejectUnknownKeys()
        }
        if s.valuesOnChange && history == nil {
            t.error("values", "on_change sends the values the history stores: it needs [history] (or values = { on_change = false })")
        }
        if let a = t.bool("alarms") { s.alarms = a }
        if let d = t.duration("heartbeat") {
            if d == .zero { s.heartbeat = nil } else if d >= .seconds(1) { s.heartbeat = d } else { t.error("heartbeat", "must be at least 1s (or \"0s\": none)") }
        }
        if let f = t.string("time_format") {
            if let v = UplinkSettings.TimeFormat(rawValue: f) { s.timeFormat = v } else { t.error("time_format", "\"\(f)\" is not one of rfc3339, beijing") }
        }
        if let f = t.table("fields") {
            for key in UplinkFieldNames.all {
                guard let to = f.string(key) else { continue }
                if to.isEmpty { f.error(key, "must not be empty") } else { s.fields[key] = to }
            }
            f.rejectUnknownKeys(hint: "fields renames hazmon's keys: \(UplinkFieldNames.all.joined(separator: ", "))")
            let targets = Dictionary(grouping: s.fields.keys, by: { s.fields[$0]! }).filter { $0.value.count > 1 }
            for (to, from) in targets { f.error(from.sorted().last!, "\"\(to)\" is already the name of \(from.sorted().first!)") }
        }
        if let fr = t.table("frame") {
            if s.transport != .tcp { fr.error(nil, "frames are for tcp:// and tls:// uplinks") }
            if let d = fr.string("delimiter") {
                if d.isEmpty || d.utf8.count > 16 { fr.error("delimiter", "must be 1 to 16 bytes") } else { s.delimiter = Array(d.utf8) }
            }
            fr.rejectUnknownKeys()
        }
        if let e = t.table("encrypt") {
            s.encrypt = readUplinkEncryption(e)
        }
        if let d = t.duration("down_after") {
            if d >= .seconds(1) { s.downAfter = d } else { t.error("down_after", "must be at least 1s") }
        }
        if let n = t.int("backlog_max") {
            if n >= 10_000 { s.backlogMax = n } else { t.error("backlog_max", "must be at least 10000 values") }
        }
        if let n = t.int("batch") {
            if (1...10_000).contains(n) { s.batch = n } else { t.error("batch", "must be 1...10000 messages") }
        }
        if let d = t.duration("timeout") {
            if d >= .milliseconds(100) && d <= .seconds(300) { s.timeout = d } else { t.error("timeout", "must be 100ms...300s") }
        }
    }

    func readUplinkEncryption(_ e: TableReader) -> UplinkEncryption? {
        let cipher = e.string("cipher", default: "aes-128-cbc")
        if cipher != "aes-128-cbc" && cipher != "aes-256-cbc" { e.error("cipher", "\"\(cipher)\" is not one of aes-128-cbc, aes-256-cbc") }
        guard let keyFile = e.string("key_file") else {
            e.error("key_file", "is required: the key's file (16 or 32 bytes, raw or as hex)")
            e.rejectUnknownKeys()
            return nil
        }
        let enc = UplinkEncryption(cipher: cipher, keyFile: keyFile, ivFile: e.string("iv_file"))
        for (key, path, count) in [("key_file", keyFile, enc.keyLength), ("iv_file", enc.ivFile, 16)] {
            guard let path else { continue }
            guard let text = ConfigLoader.readFile(path) else {
                e.error(key, "cannot read \"\(path)\": \(String(cString: strerror(errno)))")
                continue
            }
            if key == "key_file" { Self.checkSecret(e, key, path) }
            if UplinkEncryption.bytes(text, count: count) == nil {
                e.error(key, "\"\(path)\" must hold \(count) bytes for \(cipher): \(count * 2) hex digits or \(count) characters")
            }
        }
        e.rejectUnknownKeys()
        return enc
    }

    /// Broker, HTTP and TLS settings.
    func readUplinkTransport(_ t: TableReader, into s: inout UplinkSettings) {
        if let topic = t.string("topic") {
            if s.transport != .mqtt { t.error("topic", "is for mqtt:// and mqtts:// uplinks") }
            else if topic.isEmpty || topic.contains("+") || topic.contains("#") { t.error("topic", "\"\(topic)\" must be a topic without wildcards") }
            else { s.topic = topic }
        }
        if let c = t.string("client_id") {
            if s.transport != .mqtt { t.error("client_id", "is for mqtt:// and mqtts:// uplinks") } else if !c.isEmpty { s.clientID = c }
        }
        s.username = t.string("username")
        if s.username != nil && s.transport != .mqtt { t.error("username", "is for mqtt:// and mqtts:// uplinks (HTTP: token_file)") }
        for (key, path) in [("password_file", \UplinkSettings.passwordFile), ("token_file", \.tokenFile), ("ca_file", \.caFile),
                            ("cert_file", \.certFile), ("key_file", \.keyFile)] {
            guard let p = t.string(key) else { continue }
            if access(p, R_OK) != 0 { t.error(key, "cannot read \"\(p)\": \(String(cString: strerror(errno)))") }
            else if key == "password_file" || key == "key_file" || key == "token_file" { Self.checkSecret(t, key, p) }
            s[keyPath: path] = p
        }
        if s.passwordFile != nil && s.username == nil { t.error("password_file", "needs a username") }
        if s.tokenFile != nil && s.transport != .http { t.error("token_file", "is for http:// and https:// uplinks") }
        if (s.caFile != nil || s.certFile != nil || s.keyFile != nil) && !s.tls {
            t.error("url", "ca_file / cert_file / key_file need a TLS url (mqtts://, https://, tls://)")
        }
        if (s.certFile == nil) != (s.keyFile == nil) { t.error(s.certFile == nil ? "key_file" : "cert_file", "cert_file and key_file go together") }
    }
}

/// The keys of hazmon's uplink messages that `fields` may rename.
public enum UplinkFieldNames {
    public static let all = [
        "type", "v", "site", "enterprise_code", "time", "snapshot", "points", "tag", "code", "value", "quality", "hazard_source",
        "hazard_source_code", "sources", "r", "level", "unit", "seq", "condition", "event", "alarm_type", "gb_level",
        "grade", "color", "state", "limit", "source", "source_time", "message", "user", "note", "eta_seconds", "flags",
    ]
}
