import Foundation
import LinkgateCore
import LinkgateCrypto
import LinkgatePostgres
import LinkgateSQLite
import Logging
import NIOCore
import OAuth1
import OAuth2

/// The stores the store-level suites run against: SQLite always, PostgreSQL when
/// `LINKGATE_TEST_POSTGRES` names a server (scripts/test starts a private one and sets it).
public enum TestBackend: String, Sendable {
    case sqlite, postgres

    /// SQLite, and PostgreSQL when configured.
    public static var all: [TestBackend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// The admin URL of the test server, e.g. postgres://linkgate:secret@127.0.0.1:5433/postgres.
    public static var postgresURL: String? {
        ProcessInfo.processInfo.environment["LINKGATE_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

public typealias TestStoreProtocols = UserStore & OAuth2ClientStore & SessionStore & SettingsStore & AuditStore & OAuth2GrantStore & OAuth1Store

/// A fresh, empty store of one backend, closed when released.
///
/// PostgreSQL stores each get a schema of their own in the test database (`search_path`), so
/// tests run in parallel without seeing each other's rows.
public final class TestStore: Sendable {
    public let backend: TestBackend
    public let store: any TestStoreProtocols
    public let postgres: PostgresStore?
    /// The PostgreSQL schema holding this store's tables.
    public let schema: String?
    private let running: Task<Void, Never>?
    private let folder: URL?

    /// Another PostgreSQL "node" on the same schema as `other` (migrating again, which must be harmless).
    public convenience init(nodeSharing other: TestStore, callDeadline: TimeAmount = .seconds(60)) async throws {
        guard let schema = other.schema else { throw TestStoreError.postgresNotConfigured }
        try await self.init(.postgres, schema: schema, callDeadline: callDeadline)
    }

    /// - Parameter file: SQLite in a file (WAL, several connections) rather than in memory.
    public convenience init(_ backend: TestBackend, file: Bool = false) async throws {
        try await self.init(backend, file: file, schema: nil, callDeadline: .seconds(60))
    }

    /// `count` PostgreSQL "nodes" on one fresh schema, each created and migrated at the same time.
    public static func nodes(_ count: Int) async throws -> [TestStore] {
        let schema = "test_\(SecureRandom.hex(8))"
        return try await withThrowingTaskGroup(of: TestStore.self) { group in
            for _ in 0..<count {
                group.addTask { try await TestStore(.postgres, schema: schema, callDeadline: .seconds(60)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// A PostgreSQL store at `url` (any server, reachable or not) with the given deadline; not migrated.
    public static func unmigrated(url: String, callDeadline: TimeAmount) throws -> (PostgresStore, Task<Void, Never>) {
        let store = try PostgresStore(url: url, poolSize: 2, callDeadline: callDeadline, logger: Logger(label: "linkgate-test-unmigrated"))
        let task = Task<Void, Never> { _ = try? await store.run() }
        return (store, task)
    }

    private init(_ backend: TestBackend, file: Bool = false, schema givenSchema: String?, callDeadline: TimeAmount) async throws {
        self.backend = backend
        switch backend {
        case .sqlite:
            schema = nil
            postgres = nil
            running = nil
            if file {
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("linkgate-store-\(SecureRandom.hex(6))")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                folder = dir
                store = try SQLiteStore(path: dir.appendingPathComponent("db.sqlite").path)
            } else {
                folder = nil
                store = try SQLiteStore()
            }
        case .postgres:
            folder = nil
            guard let url = TestBackend.postgresURL else { throw TestStoreError.postgresNotConfigured }
            let schema = givenSchema ?? "test_\(SecureRandom.hex(8))"
            var logger = Logger(label: "linkgate-test")
            logger.logLevel = ProcessInfo.processInfo.environment["LINKGATE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
            // Suites run many tests at once: a bounded number of PostgreSQL stores are open at a
            // time, so the server's connection limit is never the thing under test.
            await TestStore.postgresSlots.acquire()
            let store: PostgresStore
            do {
                // Parallel suites can keep both cores busy for seconds (RSA keys, scrypt): a generous
                // deadline here; the outage tests set their own.
                store = try PostgresStore(url: url, poolSize: 2, schema: schema,
                                          callDeadline: callDeadline, logger: logger)
            } catch {
                await TestStore.postgresSlots.release()
                throw error
            }
            let task = Task<Void, Never> { _ = try? await store.run() }
            await store.waitUntilRunning()
            do {
                try await store.createSchema()
                try await store.migrate(connectWithin: .seconds(60))
            } catch {
                task.cancel()
                await TestStore.postgresSlots.release()
                throw error
            }
            self.store = store
            self.schema = schema
            postgres = store
            running = task
        }
    }

    static let postgresSlots = AsyncSlots(8)

    deinit {
        if let running {
            running.cancel()
            Task { await TestStore.postgresSlots.release() }
        }
        folder.map { try? FileManager.default.removeItem(at: $0) }
    }
}

public enum TestStoreError: Error, CustomStringConvertible {
    case postgresNotConfigured
    public var description: String { "LINKGATE_TEST_POSTGRES is not set (scripts/test starts a private PostgreSQL and sets it)" }
}

/// At most `count` holders at once; others wait in order.
actor AsyncSlots {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            free += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}
