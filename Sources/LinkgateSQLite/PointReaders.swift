import GRDB
import GRDBSQLite
import LinkgateStoreKit
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

/// A value bound to a `?` of a statement run straight on SQLite (point reads, `executeBound`); nil is NULL.
enum SQLArgument {
    case text(String?)
    case integer(Int64?)

    /// Binds `arguments` to `statement`'s parameters 1, 2, …; the SQLite result code of the first failure, or SQLITE_OK.
    static func bind(_ arguments: [SQLArgument], to statement: OpaquePointer) -> Int32 {
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch argument {
            case .integer(let value?): code = sqlite3_bind_int64(statement, index, value)
            case .text(var value?): code = value.withUTF8 { sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count), transient) }
            case .integer(nil), .text(nil): code = sqlite3_bind_null(statement, index)
            }
            guard code == SQLITE_OK else { return code }
        }
        return SQLITE_OK
    }

    /// SQLITE_TRANSIENT: SQLite copies a bound text before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
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
        guard code == SQLITE_OK, let statement else { throw error(code, sql) }
        let columns = (0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) }
        let entry = Prepared(statement: statement, columns: columns)
        prepared[sql] = entry
        return entry
    }

    private func error(_ code: Int32, _ sql: String) -> DatabaseError {
        PointRow.error(connection, sql)
    }
}

/// The current row of a point read, by the column names the shared mapping uses (exact names:
/// the schema spells them in lowercase, as `StoredRecords` does).
struct PointRow: StoredRow {
    let statement: OpaquePointer
    let columns: [String]

    /// Binds `arguments` to `statement`, steps it once and decodes the row it yields (nil when
    /// none); leaves the statement reset. An UPDATE … RETURNING has made all its changes by then
    /// (sqlite.org/lang_returning.html).
    static func first<T>(of statement: OpaquePointer, columns: [String], sql: String, _ arguments: [SQLArgument],
                         _ decode: (PointRow) throws -> T) throws -> T? {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        guard SQLArgument.bind(arguments, to: statement) == SQLITE_OK else { throw error(sqlite3_db_handle(statement), sql) }
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return try decode(PointRow(statement: statement, columns: columns))
        case SQLITE_DONE: return nil
        default: throw error(sqlite3_db_handle(statement), sql)
        }
    }

    /// The connection's last error as GRDB reports errors (the store maps those to `StoreError`).
    static func error(_ connection: OpaquePointer?, _ sql: String) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(connection)),
                      message: String(cString: sqlite3_errmsg(connection)), sql: sql)
    }

    private func index(_ column: String) throws -> Int32 {
        guard let index = columns.firstIndex(of: column) else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "no column \(column) in this row")
        }
        return Int32(index)
    }

    func optionalText(_ column: String) throws -> String? {
        let index = try index(column)
        guard sqlite3_column_type(statement, index) != SQLITE_NULL, let text = sqlite3_column_text(statement, index) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, index))), as: UTF8.self)
    }

    func text(_ column: String) throws -> String {
        guard let text = try optionalText(column) else {
            throw DatabaseError(resultCode: .SQLITE_MISMATCH, message: "column \(column) is NULL")
        }
        return text
    }

    func optionalInteger(_ column: String) throws -> Int64? {
        let index = try index(column)
        return sqlite3_column_type(statement, index) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, index)
    }

    func integer(_ column: String) throws -> Int64 {
        guard let value = try optionalInteger(column) else {
            throw DatabaseError(resultCode: .SQLITE_MISMATCH, message: "column \(column) is NULL")
        }
        return value
    }

    func flag(_ column: String) throws -> Bool { try integer(column) != 0 }
}

extension Database {
    /// Runs an INSERT or UPDATE from GRDB's statement cache with `arguments` bound straight to
    /// SQLite: for the writes every token, nonce and audit entry makes in a group-commit job.
    /// GRDB's `execute(arguments:)` boxes each argument as a DatabaseValue and runs its
    /// observation hooks, of which this store registers none. Not for statements that begin or end
    /// a transaction or savepoint: GRDB tracks those.
    func executeBound(_ sql: String, _ arguments: [SQLArgument]) throws {
        let statement = try cachedStatement(sql: sql).sqliteStatement
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        var code = SQLArgument.bind(arguments, to: statement)
        if code == SQLITE_OK {
            repeat { code = sqlite3_step(statement) } while code == SQLITE_ROW
        }
        guard code == SQLITE_DONE || code == SQLITE_OK else { throw PointRow.error(sqlite3_db_handle(statement), sql) }
    }

    /// The first row of a cached statement (typically UPDATE … RETURNING) with `arguments` bound
    /// straight to SQLite, read by `decode` by exact column names; as `executeBound`, not for
    /// transaction or savepoint statements.
    func firstBound<T>(_ sql: String, _ arguments: [SQLArgument], _ decode: (PointRow) throws -> T) throws -> T? {
        let statement = try cachedStatement(sql: sql)
        return try PointRow.first(of: statement.sqliteStatement, columns: statement.columnNames, sql: sql, arguments, decode)
    }
}
