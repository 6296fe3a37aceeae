import ArgumentParser
import Foundation
import HazmonConfig
import HazmonConsole

/// `hazmon user add|passwd|remove NAME`: the console's users file (spec §10).
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Add, re-password or remove a console user (the users_file of [console]).",
        subcommands: [Add.self, Passwd.self, Remove.self])

    /// Which users file: `--users-file`, else `[console] users_file` of `--config`, else the default.
    struct FileOption: ParsableArguments {
        @Option(help: "The users file (default: [console] users_file of --config, else /etc/hazmon/users.toml).")
        var usersFile: String?
        @Option(help: "Read users_file from this config's [console] table.")
        var config: String?
        @Flag(help: "Read the password from standard input (one line) instead of asking on the terminal.")
        var passwordStdin = false

        func path() throws -> String {
            if let usersFile { return usersFile }
            guard let config else { return ConsoleSettings(host: "", port: 0).usersFile }
            do {
                let c = try ConfigLoader.load(path: config)
                guard let console = c.console else { throw ValidationError("\(config) has no [console] table: give --users-file") }
                return console.usersFile
            } catch let e as ValidationError {
                throw e
            } catch {
                throw ValidationError("\(error)")
            }
        }

        func records(_ path: String) throws -> [UsersFileFormat.Record] {
            guard FileManager.default.fileExists(atPath: path) else { return [] }
            guard let text = ConfigLoader.readFile(path) else { throw ValidationError("cannot read \(path)") }
            do { return try UsersFileFormat.parse(text) } catch { throw ValidationError("\(path): \(error)") }
        }

        /// A new password: from stdin, or asked twice on the terminal without echo.
        func password(for name: String) throws -> String {
            if passwordStdin {
                guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw ValidationError("no password on standard input") }
                return try checked(line)
            }
            guard isatty(0) == 1 else { throw ValidationError("standard input is not a terminal: use --password-stdin") }
            let first = String(cString: getpass("New password for \(name): "))
            let second = String(cString: getpass("Again: "))
            guard first == second else { throw ValidationError("the two passwords differ") }
            return try checked(first)
        }

        func checked(_ p: String) throws -> String {
            guard p.count >= 8 else { throw ValidationError("a console password needs at least 8 characters") }
            guard p.utf8.count <= 72 else { throw ValidationError("bcrypt uses at most 72 bytes of a password: choose a shorter one") }
            return p
        }

        func save(_ records: [UsersFileFormat.Record], _ path: String) throws {
            do { try UsersFileFormat.write(records, to: path) } catch { throw ValidationError("\(error)") }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user (asks for the password).")
        @Argument(help: "The login name.") var name: String
        @Option(help: "viewer, operator or engineer.") var role: String = "viewer"
        @OptionGroup var file: FileOption

        func run() throws {
            guard UsersFileFormat.validName(name) else { throw ValidationError("a name is letters, digits, '.', '_' or '-', up to 64 characters") }
            guard UsersFileFormat.roles.contains(role) else { throw ValidationError("--role must be one of \(UsersFileFormat.roles.joined(separator: ", "))") }
            let path = try file.path()
            var records = try file.records(path)
            guard !records.contains(where: { $0.name == name }) else { throw ValidationError("\(name) exists in \(path): use `hazmon user passwd \(name)`") }
            let password = try file.password(for: name)
            records.append(.init(name: name, role: role, passwordHash: ConsoleUser.hash(password)))
            try file.save(records, path)
            print("added \(name) (\(role)) to \(path)")
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password (and, with --role, its role).")
        @Argument(help: "The login name.") var name: String
        @Option(help: "A new role: viewer, operator or engineer.") var role: String?
        @OptionGroup var file: FileOption

        func run() throws {
            let path = try file.path()
            var records = try file.records(path)
            guard let i = records.firstIndex(where: { $0.name == name }) else { throw ValidationError("no user \(name) in \(path)") }
            if let role {
                guard UsersFileFormat.roles.contains(role) else { throw ValidationError("--role must be one of \(UsersFileFormat.roles.joined(separator: ", "))") }
                records[i].role = role
            }
            records[i].passwordHash = ConsoleUser.hash(try file.password(for: name))
            try file.save(records, path)
            print("changed \(name) in \(path)")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user.")
        @Argument(help: "The login name.") var name: String
        @OptionGroup var file: FileOption

        func run() throws {
            let path = try file.path()
            var records = try file.records(path)
            guard records.contains(where: { $0.name == name }) else { throw ValidationError("no user \(name) in \(path)") }
            records.removeAll { $0.name == name }
            try file.save(records, path)
            print("removed \(name) from \(path)")
        }
    }
}
