import GRDB
import GRDBSQLite
import Synchronization

/// Read-only SQLite connections of the store's own, for the point reads on every request (a
/// token by its digest: each bearer request and introspection). A read checks one out, runs a
/// statement prepared once per connection, and puts it back: no GRDB reader pool on the way,
/// whose lock, read-write lock and `DispatchQueue.sync` were about 40 k of the 115 k instructions
/// of a token read (scripts/bench.d/instructions.py).
///
/// Same guarantees as the store's other reads: in WAL mode a reader never waits for the writer,
/// and each statement is its own read transaction, so it sees every commit made before it began
/// (sqlite.org/wal.html, sqlite.org/isolation.html). There are at most as many connections as
/// reads that ever ran at once (one per thread that reads), all closed with the store.
final class PointReaders: Sendable {
    private let path: String
    private let idle = Mutex<[PointReader]>([])

    init(path: String) {
        self.path = path
    }

    /// Runs `body` with a connection no other thread uses meanwhile.
    func withReader<T>(_ body: (PointReader) throws -> T) throws -> T {
        let reader = try idle.withLock { $0.popLast() } ?? PointReader(path: path)
        defer { idle.withLock { $0.append(reader) } }
        return try body(reader)
    }
}

/// One read-only connection and its prepared statements; used by one thread at a time.
final class PointReader: @unchecked Sendable {
    private struct Prepared {
        let statement: OpaquePointer
        let columns: [String]
    }

    private let connection: OpaquePointer
    private var prepared: [String: Prepared] = [:]

    init(path: String) throws {
        var connection: OpaquePointer?
        // NOMUTEX: one thread at a time uses it (checked out of `PointReaders`).
        let code = sqlite3_open_v2(path, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) }
            sqlite3_close_v2(connection)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
        }
        self.connection = connection
        // As the GRDB connections: a reader can meet a lock only while a WAL file is recovered.
        sqlite3_busy_timeout(connection, 5_000)
    }

    deinit {
        for entry in prepared.values { sqlite3_finalize(entry.statement) }
        sqlite3_close_v2(connection)
    }

    /// The first row `sql` returns for `arguments`, read by `decode`; nil when there is none.
    func first<T>(_ sql: String, _ arguments: [SQLArgument], _ decode: (PointRow) throws -> T) throws -> T? {
        let entry = try statement(sql)
        return try PointRow.first(of: entry.statement, columns: entry.columns, sql: sql, arguments, decode)
    }

    private func statement(_ sql: String) throws -> Prepared {
        if let entry = prepared[sql] { return entry }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw PointRow.error(connection, sql) }
        let columns = (0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) }
        let entry = Prepared(statement: statement, columns: columns)
        prepared[sql] = entry
        return entry
    }
}
