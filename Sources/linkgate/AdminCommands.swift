import ArgumentParser
import Foundation
import LinkgateCore
import LinkgatePostgres
import LinkgateServer
import Logging
import OAuth1

// `linkgate user|client|consumer …` (INTERFACE §15): admin changes straight on `--database`,
// through the same `AdminActions` as the REST API and the console (same registries, rules and
// audit entries), printing the REST API's entity shapes with `--json`. A server running on the
// same database sees each change within 2 s (SQLite: `SQLiteStore.followOtherProcesses`;
// PostgreSQL: the store's change notifications, §11).

/// `--database`, `--database-pool` and `--json`, shared by every admin command.
struct AdminOptions: ParsableArguments {
    @OptionGroup var databaseOptions: DatabaseOptions

    @Flag(help: "Print JSON: the entity (or, for list, an array of them) as the admin REST API returns it.")
    var json = false
}

extension AdminOptions {
    /// What a command prints on success: with `--json` the entity as the REST API returns it,
    /// otherwise `text`, for people.
    func report(json: @autoclosure () -> JSONValue, text: @autoclosure () -> String) {
        if self.json { printJSON(json()) } else { print(text()) }
    }
}

/// A rule's refusal (`ValidationError`) as the command's one error line.
func validated<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as LinkgateCore.ValidationError { throw AdminFailure("invalid \(error)") }
}

/// One line on stderr (`Error: <message>`, written by ArgumentParser) and exit status 1.
struct AdminFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Opens the store, runs `body` with the admin actions on it (audit actor `cli:<OS user>`), and
/// turns every failure into one `AdminFailure` line; `notFound` names what was missing.
func withAdmin<T: Sendable>(_ options: AdminOptions, notFound: String = "no such entity",
                            _ body: @escaping (AdminActions, any ServerStore) async throws -> T) async throws -> T {
    // Only failures to open the store are logged here (critical); they become the one error line.
    let logger = Logger(label: "linkgate") { _ in OneLineErrorLogHandler() }
    let pool = try options.databaseOptions.poolSize()
    let location = options.databaseOptions.location
    // `serve` creates a missing SQLite file; an admin command on a mistyped path must not.
    if !DatabaseURL.isPostgres(location), !FileManager.default.fileExists(atPath: location) {
        throw AdminFailure("no database file at '\(location)' (give --database or LINKGATE_DATABASE; serve creates it on first start)")
    }
    do {
        return try await withStore(database: location, pool: min(pool, 2), logger: logger) { opened in
            try await body(AdminActions(store: opened.store, actor: cliActor()), opened.store)
        }
    } catch let error as LinkgateCore.ValidationError {
        throw AdminFailure("invalid \(error.description)")
    } catch let error as StoreError {
        switch error {
        case .conflict(let why), .inUse(let why): throw AdminFailure(why)
        case .notFound: throw AdminFailure(notFound)
        case .lastAdmin: throw AdminFailure("the last admin user cannot be removed or demoted")
        case .unavailable: throw AdminFailure("the database is unavailable; try again")
        }
    }
}

/// The audit actor of CLI changes: `cli:` and the OS user running the command. User names cannot
/// contain `:` (`Rules.userName`), so it never reads as a Linkgate user.
func cliActor() -> String {
    if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return "cli:" + String(cString: name) }
    return "cli:uid-\(geteuid())"
}

/// The first line of standard input: the password (never taken from the command line, where
/// other users could read it in the process list).
func passwordFromStandardInput(_ example: String) throws -> String {
    if isatty(STDIN_FILENO) == 1 { FileHandle.standardError.write(Data("password: ".utf8)) }
    guard let password = readLine(strippingNewline: true), !password.isEmpty else {
        throw AdminFailure("no password on standard input: e.g. `echo 'secret-pass' | \(example)`")
    }
    return password
}

func readPEM(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw AdminFailure("cannot read the key file '\(path)'") }
    return String(decoding: data, as: UTF8.self)
}

func allowList(_ addresses: [String]) throws -> AddressAllowList {
    try AddressAllowList.parse(addresses.isEmpty ? nil : addresses)
}

func printJSON(_ value: JSONValue) { print(value.serialized()) }

/// Rows of columns, padded to line up.
func printTable(_ rows: [[String]]) {
    guard let width = rows.map(\.count).max() else { return }
    let widths = (0..<width).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
    for row in rows {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}

// MARK: - Users

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users on --database.",
        subcommands: [Add.self, List.self, Delete.self, Passwd.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user; the password is read from standard input (first line).")

        @Argument(help: "The new user's name (letters, digits and . _ @ + -).")
        var name: String

        @Flag(help: "Make the user an administrator.")
        var admin = false

        @Option(help: "Display name (default: the user name).")
        var displayName: String?

        @Option(help: "E-mail address.")
        var email: String?

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let password = try passwordFromStandardInput("linkgate user add \(name)")
            let new = NewUser(name: name, password: password, displayName: displayName, email: email, admin: admin)
            let user = try await withAdmin(options) { actions, _ in try await actions.createUser(new) }
            options.report(json: userJSON(user), text: "created user '\(user.name)'\(user.admin ? " (admin)" : "")")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every user.")

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let users = try await withAdmin(options) { _, store in try await store.users() }
            if options.json { return printJSON(.array(users.map(userJSON))) }
            printTable(users.map { user in
                [user.name, user.displayName, user.email ?? "-", user.admin ? "admin" : "user", user.isLocal ? "" : "(\(user.directory))"]
            })
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a user, revoking every token, grant and session held by or impersonating them.")

        @Argument(help: "The user's name.")
        var name: String

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let user = try await withAdmin(options, notFound: "no user named '\(name)'") { actions, store in
                guard let user = try await store.user(named: name) else { throw StoreError.notFound }
                try await actions.deleteUser(name)
                return user
            }
            options.report(json: userJSON(user), text: "deleted user '\(user.name)' and revoked their tokens")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a user's password; the new password is read from standard input (first line).")

        @Argument(help: "The user's name.")
        var name: String

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let password = try passwordFromStandardInput("linkgate user passwd \(name)")
            let user = try await withAdmin(options, notFound: "no user named '\(name)'") { actions, _ in
                try await actions.updateUser(name, UserChange(password: password))
            }
            options.report(json: userJSON(user), text: "changed the password of user '\(user.name)'")
        }
    }
}

// MARK: - OAuth 2.0 clients

struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Manage OAuth 2.0 clients on --database.",
        subcommands: [Add.self, List.self, Delete.self, ResetSecret.self])

    /// The client with this client id, else the one with this name (names are unique).
    static func find(_ idOrName: String, in store: any ServerStore) async throws -> OAuth2Client {
        if let client = try await store.client(clientId: idOrName) { return client }
        if let client = try await store.clients().first(where: { $0.name == idOrName }) { return client }
        throw StoreError.notFound
    }

    static func notFound(_ idOrName: String) -> String { "no client with id or name '\(idOrName)'" }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a client and print its id and secret (the secret is shown only this once).")

        @Argument(help: "The client's name (unique).")
        var name: String

        @Option(name: .customLong("redirect"),
                help: "A redirect URI: absolute, https (http only on a loopback host), no fragment; repeatable. None: a client for two-legged grants only.")
        var redirects: [String] = []

        @Option(help: "The most the client may be granted: READ, WRITE, ADMIN or SYSTEM_ADMIN.")
        var scope: String

        @Flag(help: "Allow the JWT bearer grant to act as any user (impersonation; needs --public-key-file).")
        var impersonation = false

        @Option(help: "A PEM file with the client's RSA public key (≥ 2048 bits), which verifies its JWT assertions.")
        var publicKeyFile: String?

        @Option(help: "The user a client-credentials token acts as (default: the application itself).")
        var executeAs: String?

        @Option(name: .customLong("allowed-address"),
                help: "An address or CIDR range the client may call from; repeatable (default: any address).")
        var allowedAddresses: [String] = []

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let input = NewOAuth2Client(
                name: name, redirects: redirects, scope: try validated { try Rules.scope(scope) }, impersonation: impersonation,
                publicKey: try publicKeyFile.map(readPEM), executeAs: executeAs,
                allowedAddresses: try validated { try allowList(allowedAddresses) })
            let (client, secret) = try await withAdmin(options) { actions, _ in try await actions.registerClient(input) }
            options.report(json: clientJSON(client, secret: secret), text: """
                created client '\(client.name)'
                client id:     \(client.clientId)
                client secret: \(secret)
                (the secret is shown only this once)
                """)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every client (never a secret).")

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let clients = try await withAdmin(options) { _, store in try await store.clients() }
            if options.json { return printJSON(.array(clients.map { clientJSON($0) })) }
            printTable(clients.map { client in
                [client.clientId, client.name, client.scope.rawValue, client.impersonation ? "impersonation" : "-",
                 client.redirects.isEmpty ? "(no redirects)" : client.redirects.joined(separator: " ")]
            })
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a client, revoking all its codes and tokens.")

        @Argument(help: "The client's id or name.")
        var client: String

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let deleted = try await withAdmin(options, notFound: ClientCommand.notFound(client)) { actions, store in
                let found = try await ClientCommand.find(client, in: store)
                try await actions.deleteClient(found.clientId)
                return found
            }
            options.report(json: clientJSON(deleted), text: "deleted client '\(deleted.name)' (\(deleted.clientId)) and revoked its tokens")
        }
    }

    struct ResetSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-secret",
            abstract: "Give a client a new secret and print it (shown only this once); the old one stops working.")

        @Argument(help: "The client's id or name.")
        var client: String

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let (reset, secret) = try await withAdmin(options, notFound: ClientCommand.notFound(client)) { actions, store in
                try await actions.resetClientSecret(try await ClientCommand.find(client, in: store).clientId)
            }
            options.report(json: clientJSON(reset, secret: secret), text: """
                new secret for client '\(reset.name)' (\(reset.clientId)):
                client secret: \(secret)
                (the secret is shown only this once)
                """)
        }
    }
}

// MARK: - OAuth 1.0a consumers

struct ConsumerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer", abstract: "Manage OAuth 1.0a consumers (incoming application links) on --database.",
        subcommands: [Add.self, List.self, Delete.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a consumer.")

        @Argument(help: "The consumer key (unique).")
        var key: String

        @Option(help: "The consumer's name.")
        var name: String

        @Option(help: "A PEM file with the consumer's RSA public key, which verifies its signatures.")
        var publicKeyFile: String

        @Option(help: "Description.")
        var description: String?

        @Option(help: "The consumer's default callback URL.")
        var callback: String?

        @Flag(inversion: .prefixedNo, help: "Allow three-legged OAuth (users authorize request tokens; default on).")
        var threeLegged = true

        @Flag(help: "Allow two-legged OAuth (signed requests with no token).")
        var twoLegged = false

        @Option(help: "The user two-legged requests act as (default: the application itself).")
        var executeAs: String?

        @Flag(help: "Allow two-legged requests to name any user in xoauth_requestor_id (impersonation).")
        var impersonation = false

        @Option(name: .customLong("allowed-address"),
                help: "An address or CIDR range the consumer may call from; repeatable (default: any address).")
        var allowedAddresses: [String] = []

        @Option(name: .customLong("signature-method"),
                help: "A signature method the consumer may use: RSA-SHA1, RSA-SHA256 or RSA-SHA512; repeatable (default: RSA-SHA1).")
        var signatureMethods: [String] = []

        @OptionGroup var options: AdminOptions

        func run() async throws {
            var input = NewConsumer(
                key: key, name: name, description: description, publicKey: try readPEM(publicKeyFile), callback: callback,
                threeLeggedAllowed: threeLegged, twoLeggedAllowed: twoLegged, executeAs: executeAs,
                impersonationAllowed: impersonation)
            try validated {
                input.allowedAddresses = try allowList(allowedAddresses)
                if !signatureMethods.isEmpty { input.signatureMethods = try SignatureMethod.list(signatureMethods) }
            }
            let consumer = try await withAdmin(options) { [input] actions, _ in try await actions.registerConsumer(input) }
            options.report(json: consumerJSON(consumer), text: "created consumer '\(consumer.key)' (\(consumer.name)); \(AdminActions.modes(consumer))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every consumer.")

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let consumers = try await withAdmin(options) { _, store in try await store.consumers() }
            if options.json { return printJSON(.array(consumers.map(consumerJSON))) }
            printTable(consumers.map { consumer in
                [consumer.key, consumer.name, AdminActions.modeList(consumer).joined(separator: ", ").nonEmpty ?? "no modes"]
            })
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a consumer, revoking all its tokens.")

        @Argument(help: "The consumer key.")
        var key: String

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let deleted = try await withAdmin(options, notFound: "no consumer with key '\(key)'") { actions, store in
                guard let consumer = try await store.consumer(key: key) else { throw StoreError.notFound }
                try await actions.deleteConsumer(key)
                return consumer
            }
            options.report(json: consumerJSON(deleted), text: "deleted consumer '\(deleted.key)' and revoked its tokens")
        }
    }
}

// MARK: - Errors on one line

/// Log handler of the admin commands: a failure to open the store (logged critical by
/// `withStore`) is their one error line; everything below is dropped.
struct OneLineErrorLogHandler: LogHandler {
    var logLevel: Logger.Level = .critical
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard event.level >= .critical else { return }
        FileHandle.standardError.write(Data("Error: \(event.message)\n".utf8))
    }
}

extension Linkgate {
    static let adminCommandNames: Set<String> = ["user", "client", "consumer"]

    /// `Linkgate.main()`, except that the admin commands answer a usage error (a missing argument,
    /// an unknown option) with one line and no usage text, like every other error of theirs
    /// (INTERFACE §15); `--help` is unchanged.
    static func mainWithOneLineAdminErrors() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let first = arguments.first, adminCommandNames.contains(first) else { return await main() }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit { exit(withError: error) }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? ""
            if !message.isEmpty { FileHandle.standardError.write(Data("Error: \(message)\n".utf8)) }
            Foundation.exit(code.rawValue)
        }
    }
}
