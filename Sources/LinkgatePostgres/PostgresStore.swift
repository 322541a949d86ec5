import LinkgateCore
import LinkgateMetrics
import LinkgateStoreKit
import Logging
import NIOCore
import OAuth1
import OAuth2
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Linkgate's storage on PostgreSQL (INTERFACE §11), for one node or several on one database.
///
/// - Every one-time operation (a code, a refresh token, a nonce, a `jti`, a request token) is
///   spent by one statement whose WHERE clause carries the rule, together with what it produces,
///   at READ COMMITTED; whole transactions are retried on SQLSTATE 40001/40P01.
/// - Commits are durable before they are acknowledged (`synchronous_commit = on`, no UNLOGGED
///   tables); PostgreSQL's own group commit batches concurrent writers' WAL flushes, and
///   client_credentials tokens, code exchanges and OAuth 1.0a nonces are batched into one
///   statement each (`StatementBatches`), and so are live-token reads.
/// - Users, clients and consumers are cached per node. Every change sends `pg_notify` inside its
///   transaction and every node's `ChangeListener` drops the matching cache (see `EntityCache`
///   for the revision guard and the TTL backstop).
/// - Each call has a deadline: when the database is unreachable it fails with
///   `StoreError.unavailable` (503) instead of waiting for the pool.
///
/// Run it as a service (`run()`) before the first query.
public final class PostgresStore: Sendable, Service {
    /// The channel every node listens on; payloads name what changed (`ChangeKind`).
    static let changeChannel = "linkgate_changes"
    /// Longest a call waits for a pooled connection before it reports the database unavailable
    /// (default 2 s). Nothing has been sent by then, so a 503 for it means nothing changed.
    let callDeadline: TimeAmount
    /// Once a statement is sent, the call waits for its answer: PostgreSQL ends any statement
    /// after `statement_timeout` (3 s), so its outcome is known. Only a connection that stops
    /// answering altogether (a network partition) is given up on, after this long.
    static let answerDeadline: TimeAmount = .seconds(6)
    /// Serialization failures and deadlocks are retried only while the request is this young.
    static let retryBudget: Duration = .seconds(4)
    /// How long a cached user, client or consumer is trusted without a notification (≤ 60 s, §11).
    static let cacheTTL: Double = 30

    let client: PostgresClient
    let location: DatabaseURL
    let schema: String?
    let connectionConfiguration: PostgresConnection.Configuration
    let logger: Logger
    // Off until the change listener is listening (it turns them on): a change another node makes
    // before then would otherwise go unseen until the TTL.
    let clientCache = EntityCache<OAuth2Client>(ttl: PostgresStore.cacheTTL, enabled: false)
    let userCache = EntityCache<User>(ttl: PostgresStore.cacheTTL, enabled: false)
    let consumerCache = EntityCache<Consumer>(ttl: PostgresStore.cacheTTL, enabled: false)
    let health = HealthProbe()
    /// Round trips to the database since start, for the benchmark's per-request count.
    let roundTrips = RoundTripCounter()
    /// client_credentials tokens, committed in batches (`saveClientTokens`).
    let clientTokenWrites = StatementBatches<ClientTokenWrite, Void>(each: { store, writes in
        try await store.rows(SaveClientTokenBatch(writes))
        return writes.map { _ in () }
    })
    /// Code exchanges, spent in batches (`redeemCode`).
    let codeRedemptions = StatementBatches<CodeRedemptionRequest, CodeRedemption>(together: { store, requests in
        try await store.spendCodes(requests).map { $0.map(CodeRedemption.redeemed) }
    }, alone: { store, request in
        try await store.redeemCodeAlone(request)
    })
    /// OAuth 1.0a nonces, spent in batches (`recordNonce`). Every request gets its answer from
    /// the batch (new, or seen before), so none is left to run alone but after a failed batch.
    let nonceSpends = StatementBatches<NonceSpend, Bool>(each: { store, spends in try await store.spendNonces(spends) })
    /// Live-token reads (introspection, bearer requests), in batches (`liveToken`): each gets its
    /// token, or nil when none is live.
    let liveTokenReads = StatementBatches<LiveTokenRead, TokenRecord?>(commits: false, each: { store, reads in
        try await store.readLiveTokens(reads)
    })
    private enum RunState { case idle, waiting(CheckedContinuation<Void, Never>), started }
    private let running = Mutex<RunState>(.idle)
    private let remoteChangeHandlers = Mutex<[@Sendable (String) -> Void]>([])

    /// - Parameters:
    ///   - url: a `postgres://` URL (`DatabaseURL`).
    ///   - poolSize: most connections this node opens (`--database-pool`).
    ///   - schema: a schema to use instead of the user's default (`search_path`); tests give each store its own.
    ///   - callDeadline: longest a call waits for a pooled connection before it reports the database unavailable.
    public init(url: String, poolSize: Int = 8, applicationName: String = "linkgate", schema: String? = nil,
                callDeadline: TimeAmount = .seconds(2), logger: Logger) throws {
        self.callDeadline = callDeadline
        let location = try DatabaseURL(url)
        self.location = location
        self.logger = logger
        var configuration: PostgresClient.Configuration
        var connection: PostgresConnection.Configuration
        if let directory = location.socketDirectory {
            let socket = "\(directory)/.s.PGSQL.\(location.port)"
            configuration = .init(unixSocketPath: socket, username: location.user, password: location.password, database: location.database)
            connection = .init(unixSocketPath: socket, username: location.user, password: location.password, database: location.database)
        } else {
            let host = location.host ?? "localhost"
            let tls: PostgresClient.Configuration.TLS
            let connectionTLS: PostgresConnection.Configuration.TLS
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            switch location.tls {
            case .disable, .prefer, .require: tlsConfiguration.certificateVerification = .none
            case .verifyCA: tlsConfiguration.certificateVerification = .noHostnameVerification
            case .verifyFull: tlsConfiguration.certificateVerification = .fullVerification
            }
            if let file = location.rootCertificateFile { tlsConfiguration.trustRoots = .file(file) }
            switch location.tls {
            case .disable:
                tls = .disable
                connectionTLS = .disable
            case .prefer:
                tls = .prefer(tlsConfiguration)
                connectionTLS = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
            case .require, .verifyCA, .verifyFull:
                tls = .require(tlsConfiguration)
                connectionTLS = .require(try NIOSSLContext(configuration: tlsConfiguration))
            }
            configuration = .init(host: host, port: location.port, username: location.user, password: location.password,
                                  database: location.database, tls: tls)
            connection = .init(host: host, port: location.port, username: location.user, password: location.password,
                               database: location.database, tls: connectionTLS)
        }
        // Set on every connection at start-up (§11): who we are, and bounds on waiting for locks
        // and on any one statement, so a stuck database surfaces as 503 rather than a hang.
        if let schema, schema.isEmpty || !schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) {
            throw DatabaseURLError("schema names are lowercase letters, digits and _")
        }
        self.schema = schema
        var parameters = [
            ("application_name", applicationName),
            ("statement_timeout", "3000"),
            ("lock_timeout", "2000"),
            ("synchronous_commit", "on"),
            ("default_transaction_isolation", "read committed"),
        ]
        if let schema { parameters.append(("search_path", schema)) }
        configuration.options.additionalStartupParameters = parameters
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = max(1, poolSize)
        configuration.options.minimumConnections = 0
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(20))
        connection.options.additionalStartupParameters = parameters
        connection.options.connectTimeout = .seconds(3)
        connectionConfiguration = connection
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Runs the connection pool and the change listener until cancelled or shut down gracefully.
    public func run() async throws {
        let listener = ChangeListener(store: self)
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await listener.run() }
            let waiter = running.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state = .started }
                if case .waiting(let continuation) = state { return continuation }
                return nil
            }
            waiter?.resume()
        }
    }

    /// Returns once `run()` has started the pool, so the first query does not find it idle.
    public func waitUntilRunning() async {
        await withCheckedContinuation { continuation in
            let started = running.withLock { state -> Bool in
                if case .started = state { return true }
                state = .waiting(continuation)
                return false
            }
            if started { continuation.resume() }
        }
        // The pool marks itself running as its task starts; give that task its first turn.
        try? await Task.sleep(for: .milliseconds(20))
    }

    /// Messages for the server (lockouts) travel on the same channel as cache invalidations,
    /// behind this prefix.
    static let messagePrefix = "msg "

    func remoteChange(_ payload: String) {
        if payload.hasPrefix(Self.messagePrefix) {
            let message = String(payload.dropFirst(Self.messagePrefix.count))
            for handler in remoteChangeHandlers.withLock({ $0 }) { handler(message) }
        } else {
            switch ChangeKind(rawValue: payload) {
            case .users: userCache.invalidate()
            case .clients: clientCache.invalidate()
            case .consumers: consumerCache.invalidate()
            case nil: break
            }
        }
    }

    func setCachesEnabled(_ enabled: Bool) {
        userCache.setEnabled(enabled)
        clientCache.setEnabled(enabled)
        consumerCache.setEnabled(enabled)
    }

    /// Whether the database answers (cached for a second, so `GET /status` stays cheap).
    public func isHealthy() async -> Bool {
        await health.check {
            _ = try await withDeadlines(untilStarted: .seconds(2), total: .seconds(2)) { _ in try await self.rows("SELECT 1") }
        }
    }

    /// Creates the schema given at init (for tests; `migrate()` then fills it).
    public func createSchema() async throws {
        guard let schema else { return }
        do {
            try await rows(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"))
        } catch StoreError.conflict {
            // Another store created it at the same moment (IF NOT EXISTS is not atomic in PostgreSQL).
        }
    }

    /// The location without its password, for logs.
    public var redactedLocation: String { location.redacted }

    // MARK: - Running statements

    /// One statement, outside an explicit transaction: one round trip, committed when it returns.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await retrying {
            try await self.call { connection in
                self.roundTrips.add()
                return try await connection.query(query, logger: self.logger).collect()
            }
        }
    }

    /// A prepared statement (parsed once per connection, binary binds).
    @discardableResult
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [PostgresRow]
    where Statement.Row == PostgresRow {
        try await retrying {
            try await self.call { connection in
                self.roundTrips.add()
                var result: [PostgresRow] = []
                for try await row in try await connection.execute(statement, logger: self.logger) { result.append(row) }
                return result
            }
        }
    }

    /// Runs `attempt` again on a serialization failure or deadlock (SQLSTATE 40001, 40P01) while
    /// the retry budget lasts: a statement outside an explicit transaction is a whole transaction,
    /// rolled back when it failed.
    private func retrying<T: Sendable>(_ attempt: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        for round in 1... {
            do {
                return try await attempt()
            } catch PostgresStoreFailure.retryable where ContinuousClock.now - started < Self.retryBudget {
                try await Task.sleep(for: .milliseconds(min(round, 10) * 10))
            } catch PostgresStoreFailure.retryable {
                throw StoreError.unavailable(code: -1)
            }
        }
        fatalError("unreachable")
    }

    /// Runs `body` in one transaction (READ COMMITTED), retrying it whole on a serialization
    /// failure or deadlock (SQLSTATE 40001, 40P01). A throw from `body` rolls everything back.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (Transaction) async throws -> T) async throws -> T {
        try await retrying {
            try await call { connection in
                let transaction = Transaction(connection: connection, logger: self.logger, roundTrips: self.roundTrips)
                let began = ContinuousClock.now
                try await transaction.run("BEGIN")
                do {
                    let result = try await body(transaction)
                    try await transaction.run("COMMIT")
                    LinkgateMetrics.storeCommit(store: "postgresql", nanoseconds: (ContinuousClock.now - began).nanoseconds)
                    return result
                } catch {
                    // A failed ROLLBACK means the connection is gone, which ends the transaction too.
                    try? await transaction.run("ROLLBACK")
                    throw error
                }
            }
        }
    }

    /// Runs `operation` on a pooled connection and turns every failure into a `StoreError` (or
    /// `PostgresStoreFailure.retryable`), so nothing above the store sees SQL. Waiting for the
    /// connection is bounded by `callDeadline`; once `operation` runs, its answer is awaited
    /// (see `answerDeadline`), so a 503 never hides a write that committed after all.
    private func call<T: Sendable>(_ operation: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await withDeadlines(untilStarted: callDeadline, total: callDeadline + Self.answerDeadline) { started in
                try await self.client.withConnection { connection in
                    started()
                    return try await operation(connection)
                }
            }
        } catch let error as StoreError {
            throw error
        } catch PostgresStoreFailure.retryable {
            throw PostgresStoreFailure.retryable
        } catch {
            throw storeError(error)
        }
    }

    func storeError(_ error: any Error) -> any Error {
        if let error = error as? PSQLError, error.code == .server, let state = error.serverInfo?[.sqlState] {
            switch state {
            case "23505": return StoreError.conflict("already exists")
            case "23503", "23001": return StoreError.inUse("referenced by another entity")
            case "40001", "40P01": return PostgresStoreFailure.retryable
            case _ where state.hasPrefix("22"):
                // A value the database cannot hold (a NUL character, say): the input is at fault.
                return StoreError.conflict("a value contains characters that cannot be stored")
            default:
                logger.error("database error", metadata: ["sqlstate": "\(state)"])
                return StoreError.unavailable(code: -1)
            }
        }
        if error is DeadlineExceeded {
            logger.warning("database call exceeded its deadline", metadata: ["database": "\(location.redacted)"])
        } else if let error = error as? PSQLError {
            logger.warning("database unreachable", metadata: ["database": "\(location.redacted)", "reason": "\(error.code)"])
        } else {
            logger.warning("database failure", metadata: ["type": "\(String(reflecting: type(of: error)))"])
        }
        return StoreError.unavailable(code: -1)
    }
}

/// A failure the store handles itself.
enum PostgresStoreFailure: Error {
    /// Serialization failure or deadlock: the whole transaction runs again.
    case retryable
}

/// What changed, as sent in a notification's payload.
enum ChangeKind: String {
    case users, clients, consumers
}

/// A connection inside `PostgresStore.transaction`.
struct Transaction: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    let roundTrips: RoundTripCounter

    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        roundTrips.add()
        return try await connection.query(query, logger: logger).collect()
    }

    func run(_ query: PostgresQuery) async throws {
        try await rows(query)
    }

    /// Tells every node (this one included) that `kind` changed; delivered when this commits.
    func notify(_ kind: ChangeKind) async throws {
        try await notify(payload: kind.rawValue)
    }

    func notify(payload: String) async throws {
        try await run("SELECT pg_notify(\(PostgresStore.changeChannel), \(payload))")
    }
}

/// Counts statements sent to the database (the benchmark prints round trips per request).
public final class RoundTripCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    public var total: Int { count.load(ordering: .relaxed) }
}

extension PostgresStore: ClusterBus {
    public func publish(_ message: String) async throws {
        try await rows("SELECT pg_notify(\(Self.changeChannel), \(Self.messagePrefix + message))")
    }

    public func subscribe(_ handler: @escaping @Sendable (String) -> Void) {
        remoteChangeHandlers.withLock { $0.append(handler) }
    }
}
