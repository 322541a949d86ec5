import GRDB
import LinkgateCore
import LinkgateStoreKit

extension SQLiteStore: UserStore {
    public func createUser(_ user: User) async throws {
        do {
            try await write { db in try Self.insert(user, db) }
        } catch StoreError.conflict {
            throw StoreError.conflict("a user named '\(user.name)' already exists")
        }
    }

    public func createFirstUser(_ user: User) async throws -> Bool {
        try await write { db in
            guard try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM users")) == 0 else { return false }
            try Self.insert(user, db)
            return true
        }
    }

    public func user(named name: String) async throws -> User? {
        try await userCache.value(name) { try await read { db in try Self.fetchUser(name, db) } }
    }

    public func users() async throws -> [User] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM users ORDER BY name_key")).map(StoredRecords.user)
        }
    }

    public func updateUser(named name: String, displayName: String?, email: String??, admin: Bool?, passwordHash: String?) async throws -> User {
        let user = try await write { db -> User in
            guard var user = try Self.fetchUser(name, db) else { throw StoreError.notFound }
            if admin == false, user.admin, try Self.adminCount(db) <= 1 { throw StoreError.lastAdmin }
            if let displayName { user.displayName = displayName }
            if let email { user.email = email }
            if let admin { user.admin = admin }
            if admin == false {
                // INTERFACE §4: ADMIN and above go only to admins; codes for them die with the rights.
                try db.cachedStatement(sql: "DELETE FROM oauth2_codes WHERE user_name = ? AND scope IN ('ADMIN', 'SYSTEM_ADMIN')")
                    .execute(arguments: [user.name])
            }
            if let passwordHash {
                user.passwordHash = passwordHash
                // A new password ends every browser session of the user.
                try db.cachedStatement(sql: "DELETE FROM sessions WHERE user_name = ?").execute(arguments: [user.name])
            }
            try db.execute(
                sql: "UPDATE users SET display_name = ?, email = ?, admin = ?, password_hash = ? WHERE name = ?",
                arguments: [user.displayName, user.email, user.admin, user.passwordHash, user.name])
            return user
        }
        userCache.invalidate()
        return user
    }

    public func deleteUser(named name: String) async throws {
        try await write { db in
            guard let user = try Self.fetchUser(name, db) else { throw StoreError.notFound }
            if user.admin, try Self.adminCount(db) <= 1 { throw StoreError.lastAdmin }
            if let client = try String.fetchOne(db.cachedStatement(sql: "SELECT name FROM oauth2_clients WHERE execute_as = ? LIMIT 1"), arguments: [user.name]) {
                throw StoreError.inUse("user '\(user.name)' is the execute-as user of client '\(client)'")
            }
            if let consumer = try String.fetchOne(db.cachedStatement(sql: "SELECT key FROM oauth1_consumers WHERE execute_as = ? LIMIT 1"), arguments: [user.name]) {
                throw StoreError.inUse("user '\(user.name)' is the execute-as user of consumer '\(consumer)'")
            }
            // Sessions (and, as they arrive, tokens and grants) go with the user by ON DELETE CASCADE.
            try db.cachedStatement(sql: "DELETE FROM users WHERE name = ?").execute(arguments: [user.name])
        }
        userCache.invalidate()
    }

    static func insert(_ user: User, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO users (name, name_key, display_name, email, admin, password_hash, created_at, directory)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [user.name, user.name.lowercased(), user.displayName, user.email, user.admin, user.passwordHash, user.createdAt,
                        user.directory])
    }

    static func fetchUser(_ name: String, _ db: Database) throws -> User? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE name = ?"), arguments: [name]).map(StoredRecords.user)
    }

    static func adminCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM users WHERE admin = 1")) ?? 0
    }
}
