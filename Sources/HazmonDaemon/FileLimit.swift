import HazmonConfig
import HazmonFeed
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's open-file limit: raised at start to what its configuration can use, so a full
/// set of clients never starves the alert socket, the journal or a Modbus link of descriptors.
/// (systemd starts services with a soft limit of 1,024 and a much higher hard one.)
enum FileLimit {
    /// Descriptors the configuration can use at once, with room for the journal, history,
    /// metrics, the broker and the runtime's own.
    static func needed(_ config: HazmonConfiguration) -> Int {
        var n = 256 + config.alertSocket.maxClients + config.modbusDevices.count * 2
        if let remote = config.remoteFeed { n += remote.maxClients + FeedAdmission().maxPending }
        return n
    }

    /// Raises the soft limit to `needed` (never lowers it); says so, or why it could not.
    static func raise(to needed: Int, logger: Logger) {
        var lim = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0 else { return }
        guard lim.rlim_cur < rlim_t(needed) else { return }
        let target = min(rlim_t(needed), lim.rlim_max)
        let from = lim.rlim_cur
        lim.rlim_cur = target
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) != 0 || target < rlim_t(needed) {
            logger.warning("the open-file limit is below what the configuration can use; raise LimitNOFILE",
                           metadata: ["limit": "\(target)", "needed": "\(needed)"])
        } else {
            logger.info("open-file limit raised", metadata: ["from": "\(from)", "to": "\(target)"])
        }
    }
}
