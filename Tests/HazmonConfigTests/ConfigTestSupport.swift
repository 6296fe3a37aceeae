import HazmonConfig

/// The errors a configuration text gets, each as `hazmon check` prints it; none for a good one.
func configErrors(_ text: String) -> [String] {
    do {
        _ = try ConfigLoader.parse(text: text, file: "hazmon.toml")
        return []
    } catch {
        return error.errors.map(\.description)
    }
}
