import ArgumentParser
import HazmonConfig
import HazmonJournal

/// `hazmon journal …`: looking after the journal file itself.
struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Look after the alarm journal file.",
        subcommands: [Recover.self])

    struct Recover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a damaged, emptied or replaced journal aside and start a new one that continues its seq.",
            discussion: """
                Run it when `hazmon run` refuses the journal (damaged, empty or replaced while its \
                high-water file says it held events). The daemon must be stopped. The old file is \
                renamed journal.db.damaged-<UTC time> (with its -wal and -shm) and stays readable \
                with `hazmon history --journal`; the new journal's seq continues after the highest \
                number the old one or its high-water file knew, so no number is ever used twice. \
                A sound journal is left alone.
                """)

        @Option(help: "The journal file (default: [journal] path of --config).")
        var journal: String?
        @Option(name: .shortAndLong, help: "The configuration whose journal to recover.")
        var config: String = "/etc/hazmon/hazmon.toml"

        func run() throws {
            var path = journal ?? ""
            if journal == nil {
                do { path = try ConfigLoader.load(path: config).journal.path } catch {
                    for e in error.errors { printError(e.description) }
                    throw ExitCode(Exit.config)
                }
            }
            do {
                print("hazmon: " + (try OwnedJournal.recover(path: path)))
            } catch {
                printError("hazmon: \(error)")
                throw ExitCode(Exit.runtime)
            }
        }
    }
}
