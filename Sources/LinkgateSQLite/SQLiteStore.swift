import Foundation
import GRDB
import LinkgateCore
import LinkgateStoreKit
import OAuth1
import Synchronization

/// Linkgate's storage on SQLite through GRDB: WAL, `synchronous=FULL`, a busy timeout, and
/// `BEGIN IMMEDIATE` for every write (GRDB's default for write transactions). Each store
/// method is one transaction.
///
/// Tables and columns have the same names as `PostgresStore`'s, so both map rows to records
/// through `StoredRecords`.
public final class SQLiteStore: Sendable {
    let writer: any DatabaseWriter
    let commits: GroupCommit
    let clientCache = EntityCache<OAuth2Client>()
    let userCache = EntityCache<User>()
    let consumerCache = EntityCache<Consumer>()
    let health = HealthProbe()
    /// The hot point reads' own connections; nil for in-memory databases, which only GRDB's
    /// connection can see.
    let pointReaders: PointReaders?

    /// Opens (creating if needed) the database file at `path` and migrates it.
    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Each group-commit job runs in a savepoint, whose undo pages SQLite otherwise spills
            // to a temporary file past 64 KiB (measured: 3 of 4 pwrite calls under load).
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            writer = try DatabasePool(path: path, configuration: config)
            // GRDB's pool sets `synchronous = NORMAL` on its writer after `prepareDatabase` runs
            // (NORMAL in WAL mode may lose the last commits on power loss). Every acknowledged
            // write must survive that, so the writer syncs the WAL at each commit.
            try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try Self.migrator.migrate(writer)
        } catch let error as DatabaseError {
            throw SQLiteStoreError.cannotOpen(path: path, reason: error.message ?? "SQLite error \(error.resultCode.rawValue)")
        }
        commits = GroupCommit(writer: writer)
        pointReaders = PointReaders(path: path)
    }

    /// A private in-memory database, for unit tests.
    public init(inMemory: Void = ()) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        writer = try DatabaseQueue(configuration: config)
        try Self.migrator.migrate(writer)
        commits = GroupCommit(writer: writer)
        pointReaders = nil
    }

    /// A private in-memory database holding a copy of `source`'s (fixture mode's reset and
    /// sandboxes, INTERFACE §12): SQLite's online backup, page by page, in one step.
    public init(copying source: SQLiteStore) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        let queue = try DatabaseQueue(configuration: config)
        try source.writer.backup(to: queue)
        writer = queue
        commits = GroupCommit(writer: writer)
        pointReaders = nil
    }

    /// Writes a consistent copy of the database at `path` to `destination` while other processes
    /// (a running `serve`) read and write it (INTERFACE §15 `linkgate backup`): `VACUUM INTO` runs
    /// in one read transaction, so the copy is the database as of one commit. The copy is then
    /// opened and must pass `PRAGMA integrity_check`. An existing `destination` is refused.
    public static func backup(path: String, to destination: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SQLiteStoreError.backupFailed("no database file at '\(path)'")
        }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw SQLiteStoreError.backupFailed("'\(destination)' already exists; give a new file name")
        }
        var config = Configuration()
        config.busyMode = .timeout(5)
        do {
            let source = try DatabaseQueue(path: path, configuration: config)
            try source.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) }
            try source.close()
            config.readonly = true
            let copy = try DatabaseQueue(path: destination, configuration: config)
            let verdict = try copy.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
            try copy.close()
            guard verdict == ["ok"] else {
                throw SQLiteStoreError.backupFailed("the copy fails integrity_check: \(verdict.prefix(3).joined(separator: "; "))")
            }
        } catch let error as DatabaseError {
            throw SQLiteStoreError.backupFailed(error.message ?? "SQLite error \(error.resultCode.rawValue)")
        }
    }

    /// Whether the database can take a write within 2 s (`GET /status`, INTERFACE §15): an
    /// empty transaction through the writer, which must get SQLite's write lock. Reads in WAL
    /// mode never wait, so a read would say "healthy" while every write times out behind another
    /// process's lock or fails on a broken disk. Asked at most once a second.
    public func isHealthy() async -> Bool {
        await health.check {
            // The write cannot be cancelled while SQLite waits for the lock: whichever of it and
            // the 2 s timer finishes first answers.
            let pending = Mutex<CheckedContinuation<Void, Error>?>(nil)
            let finish: @Sendable (Result<Void, Error>) -> Void = { result in
                pending.withLock { waiting in
                    waiting?.resume(with: result)
                    waiting = nil
                }
            }
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                pending.withLock { $0 = continuation }
                let timer = Task {
                    try await Task.sleep(for: .seconds(2))
                    finish(.failure(StoreError.unavailable(code: -1)))
                }
                Task {
                    do {
                        try await self.commits.write { db in try db.execute(sql: "SELECT 1") }
                        finish(.success(()))
                    } catch {
                        finish(.failure(error))
                    }
                    timer.cancel()
                }
            }
        }
    }

    /// The journal mode SQLite reports ("wal" for a file database).
    public func journalMode() async throws -> String {
        try await writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    /// The `synchronous` level of the connection that commits (2 = FULL).
    public func synchronousLevel() async throws -> Int {
        try await writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Runs `body` in a write transaction shared with concurrent writers (group commit, see
    /// `GroupCommit`), returning once it is committed, and maps SQLite errors to `StoreError`, so
    /// nothing above the store sees SQL text.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await commits.write(body)
        } catch let error as DatabaseError {
            throw Self.storeError(error)
        }
    }

    /// Runs `body` on a reader connection, on the calling thread. With WAL a reader never waits
    /// for the writer, and the pool has more readers than the cooperative pool has threads, so a
    /// read is a few microseconds of SQLite work: cheaper done here than with two thread hops.
    ///
    /// No transaction is opened around `body`: every read here is a single statement, which SQLite
    /// already runs on one consistent snapshot. (A read of several statements that must agree
    /// would need GRDB's transactional `read`.)
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try readOnThisThread(body)
        } catch let error as DatabaseError {
            throw Self.storeError(error)
        }
    }

    /// `body` with one of the store's own point-read connections (`PointReaders`), on the
    /// calling thread, as `read` does with GRDB's.
    func pointRead<T>(_ readers: PointReaders, _ body: (PointReader) throws -> T) throws -> T {
        do {
            return try readers.withReader(body)
        } catch let error as DatabaseError {
            throw Self.storeError(error)
        }
    }

    /// GRDB's synchronous, transaction-less read.
    private func readOnThisThread<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.unsafeRead(body)
    }

    static func storeError(_ error: DatabaseError) -> StoreError {
        switch error.extendedResultCode {
        case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY: return .conflict("already exists")
        default:
            // Any other constraint (a foreign key, and its RESTRICT actions, which SQLite reports as
            // SQLITE_CONSTRAINT_TRIGGER) means the data refers to something: a conflict, not an outage.
            if error.resultCode == .SQLITE_CONSTRAINT { return .inUse("referenced by another entity") }
            return .unavailable(code: error.extendedResultCode.rawValue)
        }
    }
}

/// Failures opening the database, with a message an operator can act on.
public enum SQLiteStoreError: Error, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case backupFailed(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open database '\(path)': \(reason)"
        case .backupFailed(let reason): "backup failed: \(reason)"
        }
    }
}
