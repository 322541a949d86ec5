import Foundation
import LinkgateCore
import LinkgateCrypto
import LinkgatePostgres
import LinkgateSQLite
import Logging
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
    private let running: Task<Void, Never>?
    private let folder: URL?

    /// - Parameter file: SQLite in a file (WAL, several connections) rather than in memory.
    public init(_ backend: TestBackend, file: Bool = false) async throws {
        self.backend = backend
        switch backend {
        case .sqlite:
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
            let schema = "test_\(SecureRandom.hex(8))"
            var logger = Logger(label: "linkgate-test")
            logger.logLevel = ProcessInfo.processInfo.environment["LINKGATE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
            // Suites run many tests at once: a bounded number of PostgreSQL stores are open at a
            // time, so the server's connection limit is never the thing under test.
            await TestStore.postgresSlots.acquire()
            let store: PostgresStore
            do {
                // Parallel suites can keep both cores busy for seconds (RSA keys, scrypt): a generous
                // deadline here; the outage tests set their own.
                store = try PostgresStore(url: url, poolSize: 2, schema: schema, callDeadline: .seconds(60), logger: logger)
            } catch {
                await TestStore.postgresSlots.release()
                throw error
            }
            let task = Task<Void, Never> { _ = try? await store.run() }
            await store.waitUntilRunning()
            do {
                try await store.createSchema()
                try await store.migrate()
            } catch {
                task.cancel()
                await TestStore.postgresSlots.release()
                throw error
            }
            self.store = store
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
