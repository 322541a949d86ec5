import GRDB
import GRDBSQLite
import LinkgateStoreKit

// Statements run straight on SQLite, with arguments bound without GRDB's DatabaseValue boxing and
// rows read by exact column name: the point reads (`PointReaders`) and the per-request writes of
// group-commit jobs (`executeBound`, `firstBound`).

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
