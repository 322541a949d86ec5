import ArgumentParser
import Foundation
import Hummingbird
import LinkgateCore
import LinkgateCrypto
import LinkgateServer
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Linkgate server.",
        discussion: "Each option can also be set with its LINKGATE_* environment variable; a flag wins.")

    @Option(help: "Address to listen on (LINKGATE_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (LINKGATE_PORT; default 8080).")
    var port: Int?

    @OptionGroup var databaseOptions: DatabaseOptions

    @OptionGroup(title: "User directory (LDAP)") var directoryOptions: DirectoryOptions

    @Option(help: "A seed file (JSON) whose users, OAuth 2.0 clients and OAuth 1.0a consumers are created or updated at every start (LINKGATE_SEED).")
    var seed: String?

    @Option(help: "Public base URL; every URL the server emits is built from it (LINKGATE_BASE_URL; default http://127.0.0.1:8080).")
    var baseURL: String?

    @Option(help: "Folder with templates/ and static/ (LINKGATE_RESOURCES; default ./Resources).")
    var resources: String?

    @OptionGroup var loggingOptions: LoggingOptions

    @Option(name: .customLong("trusted-proxy"),
            help: "A proxy (address or CIDR) whose X-Forwarded-For gives the client address; repeatable (LINKGATE_TRUSTED_PROXIES, comma-separated).")
    var trustedProxy: [String] = []

    @Option(help: "Port for GET /metrics (Prometheus text format) on --host's address; never served on the public port (LINKGATE_METRICS_PORT; off by default).")
    var metricsPort: Int?

    @Option(help: "Seconds an idle keep-alive connection stays open (LINKGATE_IDLE_TIMEOUT; default 60).")
    var idleTimeout: Int?

    @Option(help: "Connections open at once; further ones are closed at accept (LINKGATE_MAX_CONNECTIONS; default 4096).")
    var maxConnections: Int?

    func run() async throws {
        let logger = try loggingOptions.logger(label: "linkgate", defaultLevel: .info)

        do {
            try CryptoSelfTest.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }

        let port = try integerSetting(port, env: "LINKGATE_PORT", default: 8080, in: 0...65535, "port")
        let baseText = setting(baseURL, env: "LINKGATE_BASE_URL", default: "http://127.0.0.1:8080")
        guard let base = ServerConfig.normalizedBaseURL(baseText) else {
            throw ValidationError("invalid base URL '\(baseText)': give an absolute http(s) URL without query or fragment")
        }
        let adminPassword = environment("LINKGATE_ADMIN_PASSWORD")
        if let adminPassword, adminPassword.count < 8 {
            throw ValidationError("LINKGATE_ADMIN_PASSWORD must be at least 8 characters")
        }
        let proxyTexts = !trustedProxy.isEmpty ? trustedProxy
            : (environment("LINKGATE_TRUSTED_PROXIES") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let trustedProxies = try proxyTexts.map { text in
            guard let range = IPAddressRange(text) else { throw ValidationError("invalid trusted proxy '\(text)': give an IPv4 or IPv6 address or CIDR range") }
            return range
        }
        let idleSeconds = try integerSetting(idleTimeout, env: "LINKGATE_IDLE_TIMEOUT", default: 60, in: 1...Int.max, "idle timeout",
                                             hint: ": give whole seconds ≥ 1")
        let maxOpen = try integerSetting(maxConnections, env: "LINKGATE_MAX_CONNECTIONS", default: 4096, in: 1...Int.max, "max connections",
                                         hint: ": give a number ≥ 1")
        var config = ServerConfig(
            host: setting(host, env: "LINKGATE_HOST", default: "127.0.0.1"), port: port, baseURL: base,
            resourcesPath: setting(resources, env: "LINKGATE_RESOURCES", default: ServerConfig.defaultResourcesPath),
            adminPassword: adminPassword, idleTimeoutSeconds: idleSeconds, maxConnections: maxOpen, trustedProxies: trustedProxies)
        try directoryOptions.configure(&config)
        // For tests only: how often the signing keys are re-read (INTERFACE §14 allows up to 60 s).
        config.signingKeysRefresh = .seconds(try integerSetting(nil, env: "LINKGATE_SIGNING_KEYS_REFRESH", default: 30, in: 1...60,
                                                                "signing keys refresh", hint: ": give whole seconds from 1 to 60"))
        let pool = try databaseOptions.poolSize()
        // A bad seed file stops the start before anything is opened (INTERFACE §12).
        let seedFile: SeedFile?
        do {
            seedFile = try setting(seed, env: "LINKGATE_SEED", default: "").nonEmpty.map { try SeedFile(path: $0) }
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        let metricsPort = try (metricsPort.map(String.init) ?? environment("LINKGATE_METRICS_PORT")).map { text in
            guard let number = Int(text), (1...65535).contains(number) else {
                throw ValidationError("invalid metrics port '\(text)': give a port from 1 to 65535")
            }
            return number
        }
        if let metricsPort, metricsPort == port, port != 0 {
            throw ValidationError("--metrics-port must differ from --port: metrics are never served on the public port")
        }
        let metrics = metricsPort.map { _ in MetricsEndpoint.bootstrap() }

        // INTERFACE §15: the port answers at once, `STARTING` while the store is opened and
        // migrated, then every route. SIGTERM drains the server first, the store last.
        let gate = StartupGate()
        let database = databaseOptions.location
        let store = StoreService { [config] in
            try await withStore(database: database, pool: pool, logger: logger) { opened in
                var config = config
                config.storeDescription = opened.postgres == nil ? "SQLite \(opened.location)" : "PostgreSQL \(opened.location)"
                try await prepare(config: config, opened: opened, seed: seedFile, logger: logger)
                logger.notice("serving", metadata: ["database": "\(opened.location)", "base_url": "\(config.baseURL)",
                                                    "address": "\(config.host):\(config.port)"])
                let pruning = try await gate.open(config: config, store: opened.store, logger: logger, storeHealth: opened.health,
                                                  cluster: opened.postgres)
                try await pruning.run()
            }
        }
        var services: [any Service] = [store]
        if let metrics, let metricsPort { services.append(metrics.application(host: config.host, port: metricsPort, logger: logger)) }
        services.append(serverApplication(config: config, gate: gate, logger: logger))
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // In-flight requests get up to 10 s to finish; then they are cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch let error as ExitCode {
            await DirectoryOptions.shutdown(config)
            throw error
        }
        await DirectoryOptions.shutdown(config)
        logger.notice("stopped")
    }

    /// The bootstrap admin and the seed file, before any request is served.
    private func prepare(config: ServerConfig, opened: OpenedStore, seed: SeedFile?, logger: Logger) async throws {
        let store = opened.store
        let accounts = UserAccounts(store: store, hasher: config.passwordHasher, now: epochSeconds)
        let bootstrap = try await accounts.bootstrapAdmin(password: config.adminPassword)
        if bootstrap.created {
            if let generated = bootstrap.generatedPassword {
                // INTERFACE §2: a random bootstrap password is printed once; it is never stored in clear.
                logger.notice("created user 'admin' with generated password: \(generated) (shown only this once)")
            } else {
                logger.notice("created user 'admin' with the password from LINKGATE_ADMIN_PASSWORD")
            }
        }
        if let seed {
            do {
                let outcome = try await SeedApplier(store: store, hasher: config.passwordHasher, now: epochSeconds).apply(seed)
                logger.notice("applied the seed file", metadata: [
                    "created": "\(outcome.created)", "updated": "\(outcome.updated)", "unchanged": "\(outcome.unchanged)",
                ])
            } catch {
                logger.critical("\(error)")
                throw ExitCode.failure
            }
        }
    }
}

/// Opens the store and serves on it for as long as the server runs (a `Service` of `serve`'s group).
private struct StoreService: Service {
    let body: @Sendable () async throws -> Void

    func run() async throws { try await body() }
}
