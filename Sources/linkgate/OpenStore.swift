import ArgumentParser
import Dispatch
import LinkgateCore
import LinkgatePostgres
import LinkgateServer
import LinkgateSQLite
import Logging

/// The store `--database` names (INTERFACE §11): a file path is SQLite (the default), a
/// `postgres://` URL is PostgreSQL, run as a service for as long as `body` runs.
struct OpenedStore {
    let store: any ServerStore
    /// For `GET /status`; nil when the store cannot fail independently of this process.
    let health: (@Sendable () async -> Bool)?
    /// Where the data lives, without any password.
    let location: String
    let postgres: PostgresStore?
}

func withStore<T: Sendable>(database: String, pool: Int, logger: Logger, _ body: (OpenedStore) async throws -> T) async throws -> T {
    guard DatabaseURL.isPostgres(database) else {
        let store: SQLiteStore
        do {
            // Opening migrates, and may wait up to SQLite's busy timeout for another process's
            // lock: on a thread of its own, not one of the few the cooperative pool has.
            store = try await offThePool { try SQLiteStore(path: database) }
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        // Other processes (the admin commands, INTERFACE §15) may commit to the same file: the
        // store follows them for as long as `body` runs.
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.followOtherProcesses() }
            defer { group.cancelAll() }
            return try await body(OpenedStore(store: store, health: { await store.isHealthy() }, location: database, postgres: nil))
        }
    }
    let store: PostgresStore
    do {
        store = try PostgresStore(url: database, poolSize: pool, logger: logger)
    } catch {
        throw ValidationError("\(error)")
    }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await store.run() }
        await store.waitUntilRunning()
        do {
            // Several nodes starting at once take turns here (an advisory lock); the first migrates.
            try await store.migrate()
        } catch let error as PostgresConnectError {
            logger.critical("\(error)")
            group.cancelAll()
            throw ExitCode.failure
        } catch {
            logger.critical("cannot prepare the database \(store.redactedLocation): \(error)")
            group.cancelAll()
            throw ExitCode.failure
        }
        let result: T
        do {
            result = try await body(OpenedStore(store: store, health: { await store.isHealthy() },
                                                location: store.redactedLocation, postgres: store))
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
        return result
    }
}

/// Runs blocking `work` on a Dispatch thread.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// `--database` and `--database-pool`, shared by every command that opens the store.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "SQLite file (created on first start) or postgres://user:password@host:port/dbname (LINKGATE_DATABASE; default ./linkgate.sqlite).")
    var database: String?

    @Option(name: .customLong("database-pool"), help: "Most PostgreSQL connections per node (LINKGATE_DATABASE_POOL; default 8).")
    var databasePool: Int?

    var location: String { setting(database, env: "LINKGATE_DATABASE", default: "./linkgate.sqlite") }

    func poolSize() throws -> Int {
        try integerSetting(databasePool, env: "LINKGATE_DATABASE_POOL", default: 8, in: 1...1000, "database pool size",
                           hint: ": give a number from 1 to 1000")
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the database schema and exit (serve also does this at start).")

    @OptionGroup var databaseOptions: DatabaseOptions

    func run() async throws {
        var logger = Logger(label: "linkgate")
        logger.logLevel = .notice
        let pool = try databaseOptions.poolSize()
        try await withStore(database: databaseOptions.location, pool: min(pool, 2), logger: logger) { opened in
            print("database \(opened.location) is up to date")
        }
    }
}
