import ArgumentParser
import LinkgateCore
import LinkgateServer
import Logging

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

        @OptionGroup var databaseOptions: DatabaseOptions

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw ValidationError("no password on standard input: e.g. `echo 'secret-pass' | linkgate user add NAME`")
            }
            var logger = Logger(label: "linkgate")
            logger.logLevel = .notice
            let new = NewUser(name: name, password: password, displayName: displayName, email: email, admin: admin)
            try await withStore(database: databaseOptions.location, pool: 2, logger: logger) { opened in
                let accounts = UserAccounts(store: opened.store, now: epochSeconds)
                do {
                    let user = try await accounts.create(new)
                    print("created user '\(user.name)'\(user.admin ? " (admin)" : "")")
                } catch let error as LinkgateCore.ValidationError {
                    throw ValidationError(error.description)
                } catch StoreError.conflict(let why) {
                    throw ValidationError(why)
                }
            }
        }
    }
}
