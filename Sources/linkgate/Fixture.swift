import ArgumentParser
import Foundation
import Hummingbird
import LinkgateCore
import LinkgateCrypto
import LinkgateServer
import LinkgateSQLite
import Logging

/// `linkgate fixture` (INTERFACE §12): the whole server on an in-memory store, plus a control
/// API, for integration tests. Ready → one JSON line on stdout; logs go to stderr.
struct Fixture: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an in-memory Linkgate for integration tests, with a control API (not for production).",
        discussion: """
            When ready it prints one JSON line to stdout: {"baseUrl","controlToken","pid"}. Nothing is written to disk. \
            Without an admin user in the seed, user 'admin' logs in with the control token as password.
            """)

    @Option(help: "A seed file (JSON): users, clients, consumers, consent mode, start time, lifetimes.")
    var config: String?

    @Option(help: "Address to listen on (default 127.0.0.1: loopback only).")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (default 0).")
    var port: Int = 0

    @Option(help: "Public base URL (default http://HOST:PORT of the bound port).")
    var baseURL: String?

    @Option(help: "Also write the ready JSON object to this file.")
    var readyFile: String?

    @Option(help: "Refused: fixture mode keeps everything in memory.")
    var database: String?

    @OptionGroup(title: "User directory (LDAP)") var directoryOptions: DirectoryOptions

    @Option(help: "Folder with templates/ and static/ (LINKGATE_RESOURCES; default ./Resources).")
    var resources: String?

    @OptionGroup var loggingOptions: LoggingOptions

    func validate() throws {
        if database != nil { throw ValidationError("fixture mode keeps everything in memory: --database is refused (use `linkgate serve` for a database)") }
        guard (0...65535).contains(port) else { throw ValidationError("invalid port '\(port)'") }
    }

    func run() async throws {
        let logger = try loggingOptions.logger(label: "linkgate-fixture", defaultLevel: .notice)
        var fixedBase: String? = nil
        if let baseURL {
            guard let normalized = ServerConfig.normalizedBaseURL(baseURL) else {
                throw ValidationError("invalid base URL '\(baseURL)': give an absolute http(s) URL without query or fragment")
            }
            fixedBase = normalized
        }
        let seed: SeedFile
        do {
            try CryptoSelfTest.run()
            seed = try config.map { try SeedFile(path: $0) } ?? SeedFile()
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        // Fixture mode only: a cheap scrypt setting, so seeding and logins take microseconds.
        var serverConfig = ServerConfig(
            host: host, port: port, baseURL: fixedBase ?? "http://127.0.0.1",
            resourcesPath: setting(resources, env: "LINKGATE_RESOURCES", default: ServerConfig.defaultResourcesPath),
            passwordHasher: PasswordHasher(logN: 4, r: 8, p: 1))
        try directoryOptions.configure(&serverConfig)
        let server: FixtureServer
        do {
            server = try await FixtureServer(config: serverConfig, seed: seed, stores: InMemoryStores(
                empty: { try SQLiteStore() }, copy: { try SQLiteStore(copying: $0) }), logger: logger)
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        logger.notice("fixture mode — not for production: everything is in memory and the control API is open to the control token")
        let token = server.controlToken, readyFile = self.readyFile, log = logger
        let app = server.application(fixedBaseURL: fixedBase, ready: { base in
            let ready = JSONValue.object([
                "baseUrl": .string(base), "controlToken": .string(token), "pid": .number(Double(ProcessInfo.processInfo.processIdentifier)),
            ]).serialized()
            if let readyFile {
                let temporary = readyFile + ".tmp"
                do {
                    try Data((ready + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
                    try FileManager.default.moveItem(atPath: temporary, toPath: readyFile)
                } catch {
                    // Replace an old ready file.
                    _ = try? FileManager.default.removeItem(atPath: readyFile)
                    try? FileManager.default.moveItem(atPath: temporary, toPath: readyFile)
                }
            }
            FileHandle.standardOutput.write(Data((ready + "\n").utf8))
        }, failed: { error in
            log.critical("\(error)")
            Foundation.exit(1)
        })
        try await app.runService()
        await server.finishBackgroundWork()
        await DirectoryOptions.shutdown(serverConfig)
    }
}
