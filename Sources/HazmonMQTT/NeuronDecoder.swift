import HazmonCore

/// A point of an EMQX Neuron upload: its tag name, node and group, and either a value or
/// Neuron's error code for the tag.
public struct NeuronPoint: Sendable, Equatable {
    public var name: String
    public var node: String
    public var group: String
    /// The reading, or nil when Neuron reported an error for the tag.
    public var value: Double?
    /// Neuron's error code (e.g. 2014): the tag is bad, with the code in its fault message.
    public var error: Int?
    public var sourceTime: Instant?
}

/// EMQX Neuron's two JSON upload formats (its MQTT plugin's `tags-format` and `values-format`):
///
///     {"node": "modbus", "group": "grp", "timestamp": 1650006388943,
///      "tags": [{"name": "tag0", "value": 42}, {"name": "tag1", "error": 2014}]}
///
///     {"node": "modbus", "group": "grp", "timestamp": 1650006388943,
///      "values": {"tag0": 42}, "errors": {"tag1": 2014}}
///
/// (Neuron 2.0 named them `node_name` / `group_name`; newer versions add a `metas` object, ignored.)
/// `timestamp` is milliseconds since 1970. A value is a number or a boolean (1 / 0); a string,
/// array or object value is refused for that tag only, never for the tags beside it.
public enum NeuronDecoder {
    public static func points(in doc: JSONValue) -> [Result<NeuronPoint, PayloadError>] {
        guard case .object(let o) = doc else { return [.failure(.wrongType(field: "neuron upload", found: doc.typeName))] }
        // Neuron 2.0 wrote `node_name` / `group_name`; later versions `node` / `group`.
        let nodeValue = o["node"] ?? o["node_name"], groupValue = o["group"] ?? o["group_name"]
        guard case .string(let node)? = nodeValue else { return [.failure(nodeValue == nil ? .missing("node") : .wrongType(field: "node", found: nodeValue!.typeName))] }
        guard case .string(let group)? = groupValue else { return [.failure(groupValue == nil ? .missing("group") : .wrongType(field: "group", found: groupValue!.typeName))] }
        var time: Instant?
        if let t = o["timestamp"] {
            guard case .number(let ms) = t, ms.isFinite, ms >= 0, ms < 9e12 else { return [.failure(.badTime("timestamp"))] }  // up to the year 2255: nanoseconds fit in 64 bits
            // Whole milliseconds exactly (a Double holds them; ms * 1e6 would not).
            let whole = ms.rounded(.down)
            time = Instant(nanoseconds: Int64(whole) * 1_000_000 + Int64(((ms - whole) * 1e6).rounded()))
        }
        func point(_ name: String, value: JSONValue?, error: JSONValue?) -> Result<NeuronPoint, PayloadError> {
            guard !name.isEmpty else { return .failure(.missing("name")) }
            var p = NeuronPoint(name: name, node: node, group: group, value: nil, error: nil, sourceTime: time)
            if let error {
                guard case .number(let code) = error, code.isFinite, code == code.rounded(), abs(code) < 1e9 else {
                    return .failure(.wrongType(field: "error", found: error.typeName))
                }
                p.error = Int(code)
                return .success(p)
            }
            switch value {
            case .number(let d)?:
                guard d.isFinite else { return .failure(.notFinite(name)) }
                p.value = d
            case .bool(let b)?:
                p.value = b ? 1 : 0
            case nil:
                return .failure(.missing("value"))
            case let v?:
                return .failure(.wrongType(field: name, found: v.typeName))
            }
            return .success(p)
        }
        if let tags = o["tags"] {
            guard case .array(let items) = tags else { return [.failure(.wrongType(field: "tags", found: tags.typeName))] }
            return items.map { item in
                guard case .object(let t) = item else { return .failure(.wrongType(field: "tag", found: item.typeName)) }
                guard case .string(let name)? = t["name"] else { return .failure(t["name"] == nil ? .missing("name") : .wrongType(field: "name", found: t["name"]!.typeName)) }
                return point(name, value: t["value"], error: t["error"])
            }
        }
        guard o["values"] != nil || o["errors"] != nil else { return [.failure(.missing("tags"))] }
        var out: [Result<NeuronPoint, PayloadError>] = []
        if let values = o["values"] {
            guard case .object(let v) = values else { return [.failure(.wrongType(field: "values", found: values.typeName))] }
            for name in v.keys.sorted() { out.append(point(name, value: v[name], error: nil)) }
        }
        if let errors = o["errors"] {
            guard case .object(let e) = errors else { return out + [.failure(.wrongType(field: "errors", found: errors.typeName))] }
            for name in e.keys.sorted() { out.append(point(name, value: nil, error: e[name])) }
        }
        return out
    }
}
