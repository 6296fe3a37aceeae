/// A tag's explicit Sparkplug metric: `source = { sparkplug = "ID", node = "...", device = "...",
/// metric = "..." }`.
public struct SparkplugMetricName: Sendable, Hashable {
    public var node: String
    /// nil: a metric of the node itself.
    public var device: String?
    public var metric: String
    public init(node: String, device: String?, metric: String) {
        self.node = node
        self.device = device
        self.metric = metric
    }
}
