import GRDB
import LinkgateCore
import LinkgateStoreKit

extension SQLiteStore: SessionStore {
    public func createSession(_ session: Session) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO sessions (id_digest, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [session.idDigest, session.userName, session.createdAt, session.expiresAt])
        }
    }

    public func session(digest: String, now: Int64) async throws -> Session? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM sessions WHERE id_digest = ? AND expires_at > ?"), arguments: [digest, now]).map(StoredRecords.session)
        }
    }

    public func deleteSession(digest: String) async throws {
        try await write { db in try db.cachedStatement(sql: "DELETE FROM sessions WHERE id_digest = ?").execute(arguments: [digest]) }
    }

    public func pruneSessions(now: Int64) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM sessions WHERE expires_at <= ?").execute(arguments: [now])
            return db.changesCount
        }
    }
}
