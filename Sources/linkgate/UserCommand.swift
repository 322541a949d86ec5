import ArgumentParser
import LinkgateCore
import LinkgateServer
import LinkgateSQLite

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage users.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user; the password is read from standard input (first line).")

        @Argument(help: "The new user's name.")
        var name: String

        @Flag(help: "Make the user an administrator.")
        var admin = false

        @Option(help: "Display name (default: the user name).")
        var displayName: String?

        @Option(help: "E-mail address.")
        var email: String?

        @Option(help: "SQLite database file (LINKGATE_DATABASE; default ./linkgate.sqlite).")
        var database: String?

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw ValidationError("no password on standard input: e.g. `echo 'secret-pass' | linkgate user add NAME`")
            }
            let store = try SQLiteStore(path: setting(database, env: "LINKGATE_DATABASE", default: "./linkgate.sqlite"))
            let accounts = UserAccounts(store: store, now: epochSeconds)
            do {
                let user = try await accounts.create(NewUser(name: name, password: password, displayName: displayName, email: email, admin: admin))
                print("created user '\(user.name)'\(user.admin ? " (admin)" : "")")
            } catch let error as LinkgateCore.ValidationError {
                throw ValidationError(error.description)
            } catch StoreError.conflict(let why) {
                throw ValidationError(why)
            }
        }
    }
}
