import GRDB
import LinkgateCore
import LinkgateStoreKit

extension SQLiteStore: AuditStore {
    public func record(_ entry: AuditEntry) async throws {
        try await write { db in try Self.insert(entry, db) }
    }

    /// Appends `entry` inside the caller's transaction.
    static func insert(_ entry: AuditEntry, _ db: Database) throws {
        try db.executeBound("INSERT INTO audit (time, actor, client, subject, action, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [.integer(entry.time), .text(entry.actor), .text(entry.client), .text(entry.subject), .text(entry.action),
                             .text(entry.outcome.rawValue), .text(entry.detail)])
    }

    public func auditEntries(_ query: AuditQuery) async throws -> [AuditEntry] {
        try await read { db in
            var conditions: [String] = []
            var arguments: [any DatabaseValueConvertible] = []
            if let since = query.since { conditions.append("time >= ?"); arguments.append(since) }
            if let client = query.client { conditions.append("client = ?"); arguments.append(client) }
            // "user" matches the acting or the affected user.
            if let user = query.user { conditions.append("(subject = ? OR actor = ?)"); arguments += [user, user] }
            if let action = query.action { conditions.append("action = ?"); arguments.append(action) }
            if let before = query.before { conditions.append("id < ?"); arguments.append(before) }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments.append(query.limit)
            return try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM audit \(filter) ORDER BY id DESC LIMIT ?"),
                                    arguments: StatementArguments(arguments)).map(StoredRecords.audit)
        }
    }
}
