import LinkgateCore
import LinkgateStoreKit
import PostgresNIO

extension PostgresStore: UserStore {
    /// `pg_advisory_xact_lock` key taken by every change that could remove the last admin, so
    /// two such changes on two nodes cannot both see "another admin remains" (READ COMMITTED).
    static let adminGuardKey: Int64 = 0x6C67_6164_6D69_6E73

    public func createUser(_ user: User) async throws {
        do {
            try await rows(Self.insertUser(user))
        } catch StoreError.conflict {
            throw StoreError.conflict("a user named '\(user.name)' already exists")
        }
    }

    public func createFirstUser(_ user: User) async throws -> Bool {
        do {
            return try await transaction { tx in
                try await tx.run("SELECT pg_advisory_xact_lock(\(Self.adminGuardKey))")
                guard try await tx.rows("SELECT 1 FROM users LIMIT 1").isEmpty else { return false }
                try await tx.run(Self.insertUser(user))
                return true
            }
        } catch StoreError.conflict {
            // Another node created the same first user a moment ago.
            return false
        }
    }

    public func user(named name: String) async throws -> User? {
        // PostgreSQL text cannot hold NUL; no stored name contains one.
        guard !name.contains("\0") else { return nil }
        return try await userCache.value(name) {
            try await rows("SELECT * FROM users WHERE name = \(name)").record(StoredRecords.user)
        }
    }

    public func users() async throws -> [User] {
        try await rows("SELECT * FROM users ORDER BY name_key").records(StoredRecords.user)
    }

    public func updateUser(named name: String, displayName: String?, email: String??, admin: Bool?, passwordHash: String?) async throws -> User {
        let user = try await transaction { tx -> User in
            if admin == false {
                // The last-admin rule reads other rows: changes that could break it take turns.
                try await tx.run("SELECT pg_advisory_xact_lock(\(Self.adminGuardKey))")
                guard let current = try await tx.rows("SELECT * FROM users WHERE name = \(name)").record(StoredRecords.user) else {
                    throw StoreError.notFound
                }
                if current.admin, try await Self.adminCount(tx) <= 1 { throw StoreError.lastAdmin }
            }
            // Only the given columns are written, so a concurrent change to another column on
            // another node (a demotion, a password reset) is never written back over.
            guard let user = try await tx.rows("""
                UPDATE users SET display_name = COALESCE(\(displayName), display_name),
                                 email = CASE WHEN \(email != nil) THEN \(email ?? nil) ELSE email END,
                                 admin = COALESCE(\(admin), admin),
                                 password_hash = COALESCE(\(passwordHash), password_hash)
                WHERE name = \(name) RETURNING *
                """).record(StoredRecords.user) else { throw StoreError.notFound }
            if admin == false {
                // INTERFACE §4: ADMIN and above go only to admins; codes for them die with the rights.
                try await tx.run("DELETE FROM oauth2_codes WHERE user_name = \(user.name) AND scope IN ('ADMIN', 'SYSTEM_ADMIN')")
            }
            if passwordHash != nil {
                // A new password ends every browser session of the user.
                try await tx.run("DELETE FROM sessions WHERE user_name = \(user.name)")
            }
            try await tx.notify(.users)
            return user
        }
        userCache.invalidate()
        return user
    }

    public func deleteUser(named name: String) async throws {
        try await transaction { tx in
            try await tx.run("SELECT pg_advisory_xact_lock(\(Self.adminGuardKey))")
            guard let user = try await tx.rows("SELECT * FROM users WHERE name = \(name)").record(StoredRecords.user) else {
                throw StoreError.notFound
            }
            if user.admin, try await Self.adminCount(tx) <= 1 { throw StoreError.lastAdmin }
            if let client = try await tx.rows("SELECT name FROM oauth2_clients WHERE execute_as = \(user.name) LIMIT 1").scalar(String.self) {
                throw StoreError.inUse("user '\(user.name)' is the execute-as user of client '\(client)'")
            }
            if let consumer = try await tx.rows("SELECT key FROM oauth1_consumers WHERE execute_as = \(user.name) LIMIT 1").scalar(String.self) {
                throw StoreError.inUse("user '\(user.name)' is the execute-as user of consumer '\(consumer)'")
            }
            // Sessions, codes, tokens and consents go with the user by ON DELETE CASCADE.
            try await tx.run("DELETE FROM users WHERE name = \(user.name)")
            try await tx.notify(.users)
        }
        userCache.invalidate()
    }

    static func insertUser(_ user: User) -> PostgresQuery {
        """
        INSERT INTO users (name, name_key, display_name, email, admin, password_hash, created_at, directory)
        VALUES (\(user.name), \(user.name.lowercased()), \(user.displayName), \(user.email), \(user.admin), \(user.passwordHash), \(user.createdAt),
                \(user.directory))
        """
    }

    static func adminCount(_ tx: Transaction) async throws -> Int64 {
        try await tx.rows("SELECT count(*) FROM users WHERE admin").scalar(Int64.self) ?? 0
    }
}

extension PostgresStore: OAuth2ClientStore {
    public func createClient(_ client: OAuth2Client) async throws {
        do {
            try await rows("""
                INSERT INTO oauth2_clients (id, client_id, secret_digest, name, name_key, redirects, scope, impersonation,
                                            public_key, execute_as, allowed_addresses, created_at)
                VALUES (\(client.id), \(client.clientId), \(client.secretDigest), \(client.name), \(client.name.lowercased()),
                        \(StoredRecords.encodeRedirects(client.redirects)), \(client.scope.rawValue), \(client.impersonation),
                        \(client.publicKey), \(client.executeAs), \(client.allowedAddresses.stored), \(client.createdAt))
                """)
        } catch StoreError.conflict {
            throw StoreError.conflict("a client named '\(client.name)' already exists")
        }
    }

    public func client(clientId: String) async throws -> OAuth2Client? {
        guard !clientId.contains("\0") else { return nil }
        return try await clientCache.value(clientId) {
            try await rows("SELECT * FROM oauth2_clients WHERE client_id = \(clientId)").record(StoredRecords.client)
        }
    }

    public func clients() async throws -> [OAuth2Client] {
        try await rows("SELECT * FROM oauth2_clients ORDER BY name_key").records(StoredRecords.client)
    }

    public func updateClient(_ client: OAuth2Client) async throws {
        do {
            try await transaction { tx in
                let updated = try await tx.rows("""
                    UPDATE oauth2_clients SET secret_digest = \(client.secretDigest), name = \(client.name),
                           name_key = \(client.name.lowercased()), redirects = \(StoredRecords.encodeRedirects(client.redirects)),
                           scope = \(client.scope.rawValue), impersonation = \(client.impersonation), public_key = \(client.publicKey),
                           execute_as = \(client.executeAs), allowed_addresses = \(client.allowedAddresses.stored)
                    WHERE client_id = \(client.clientId) RETURNING 1
                    """)
                guard !updated.isEmpty else { throw StoreError.notFound }
                try await tx.notify(.clients)
            }
            clientCache.invalidate()
        } catch StoreError.conflict {
            throw StoreError.conflict("a client named '\(client.name)' already exists")
        }
    }

    public func deleteClient(clientId: String) async throws {
        try await transaction { tx in
            // Codes, tokens and consents go with the client by ON DELETE CASCADE.
            guard try await !tx.rows("DELETE FROM oauth2_clients WHERE client_id = \(clientId) RETURNING 1").isEmpty else {
                throw StoreError.notFound
            }
            try await tx.notify(.clients)
        }
        clientCache.invalidate()
    }
}

extension PostgresStore: SessionStore {
    public func createSession(_ session: Session) async throws {
        try await rows("""
            INSERT INTO sessions (id_digest, user_name, created_at, expires_at)
            VALUES (\(session.idDigest), \(session.userName), \(session.createdAt), \(session.expiresAt))
            """)
    }

    public func session(digest: String, now: Int64) async throws -> Session? {
        try await rows("SELECT * FROM sessions WHERE id_digest = \(digest) AND expires_at > \(now)").record(StoredRecords.session)
    }

    public func deleteSession(digest: String) async throws {
        try await rows("DELETE FROM sessions WHERE id_digest = \(digest)")
    }

    public func pruneSessions(now: Int64) async throws -> Int {
        try await prune("sessions", key: "id_digest", expired: "expires_at <= $1", now: now)
    }
}

extension PostgresStore: SettingsStore {
    public func setting(_ key: String) async throws -> String? {
        try await rows("SELECT value FROM settings WHERE key = \(key)").scalar(String.self)
    }

    public func settingOrCreate(_ key: String, _ make: @escaping @Sendable () throws -> String) async throws -> String {
        if let existing = try await setting(key) { return existing }
        let value = try make()
        // Two nodes may both make one: the first insert wins and both return the stored value.
        if let inserted = try await rows("""
            INSERT INTO settings (key, value) VALUES (\(key), \(value)) ON CONFLICT DO NOTHING RETURNING value
            """).scalar(String.self) {
            return inserted
        }
        guard let stored = try await setting(key) else { throw StoreError.unavailable(code: -1) }
        return stored
    }

    public func replaceSetting(_ key: String, expected: String, with value: String) async throws -> Bool {
        try await rows("UPDATE settings SET value = \(value) WHERE key = \(key) AND value = \(expected) RETURNING key")
            .scalar(String.self) != nil
    }
}

extension PostgresStore: AuditStore {
    public func record(_ entry: AuditEntry) async throws {
        try await rows(Self.insertAudit(entry))
    }

    static func insertAudit(_ entry: AuditEntry) -> PostgresQuery {
        """
        INSERT INTO audit (time, actor, client, subject, action, outcome, detail)
        VALUES (\(entry.time), \(entry.actor), \(entry.client), \(entry.subject), \(entry.action), \(entry.outcome.rawValue), \(entry.detail))
        """
    }

    public func auditEntries(_ query: AuditQuery) async throws -> [AuditEntry] {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func parameter(_ value: some PostgresDynamicTypeEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let since = query.since { conditions.append("time >= \(parameter(since))") }
        if let client = query.client { conditions.append("client = \(parameter(client))") }
        // "user" matches the acting or the affected user.
        if let user = query.user {
            let placeholder = parameter(user)
            conditions.append("(subject = \(placeholder) OR actor = \(placeholder))")
        }
        if let action = query.action { conditions.append("action = \(parameter(action))") }
        if let before = query.before { conditions.append("id < \(parameter(before))") }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let limit = parameter(Int64(query.limit))
        return try await rows(PostgresQuery(unsafeSQL: "SELECT * FROM audit \(filter) ORDER BY id DESC LIMIT \(limit)", binds: binds))
            .records(StoredRecords.audit)
    }
}

extension PostgresStore {
    /// Deletes expired rows of `table` in batches of 1000, each its own short statement that
    /// skips rows another node is deleting (`FOR UPDATE SKIP LOCKED`), so pruning never loads all
    /// expired keys nor blocks requests. `expired` is a condition on `$1` (now).
    func prune(_ table: String, key: String, expired: String, now: Int64) async throws -> Int {
        var total = 0
        while true {
            var binds = PostgresBindings()
            binds.append(now)
            let sql = """
                WITH gone AS (
                    DELETE FROM \(table) WHERE (\(key)) IN (
                        SELECT \(key) FROM \(table) WHERE \(expired) LIMIT 1000 FOR UPDATE SKIP LOCKED)
                    RETURNING 1)
                SELECT count(*) FROM gone
                """
            let removed = Int(try await rows(PostgresQuery(unsafeSQL: sql, binds: binds)).scalar(Int64.self) ?? 0)
            total += removed
            if removed < 1000 { return total }
        }
    }
}
