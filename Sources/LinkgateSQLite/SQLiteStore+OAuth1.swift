import GRDB
import LinkgateCore
import LinkgateStoreKit
import OAuth1

extension SQLiteStore: OAuth1Store {
    public func createConsumer(_ consumer: Consumer) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO oauth1_consumers (key, name, description, public_key, callback, three_legged_allowed,
                                                  two_legged_allowed, execute_as, impersonation_allowed, allowed_addresses, created_at,
                                                  signature_methods)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [consumer.key, consumer.name, consumer.description, consumer.publicKey, consumer.callback,
                            consumer.threeLeggedAllowed, consumer.twoLeggedAllowed, consumer.executeAs, consumer.impersonationAllowed,
                            consumer.allowedAddresses.stored, consumer.createdAt, SignatureMethod.storageText(consumer.signatureMethods)])
        }
    }

    /// Read on every signed request: cached, and invalidated by `updateConsumer` and `deleteConsumer`.
    public func consumer(key: String) async throws -> Consumer? {
        try await consumerCache.value(key) {
            try await read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth1_consumers WHERE key = ?"), arguments: [key]).map(StoredRecords.consumer)
            }
        }
    }

    public func consumers() async throws -> [Consumer] {
        try await read { db in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM oauth1_consumers ORDER BY key")).map(StoredRecords.consumer) }
    }

    public func updateConsumer(_ consumer: Consumer) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE oauth1_consumers SET name = ?, description = ?, public_key = ?, callback = ?, three_legged_allowed = ?,
                           two_legged_allowed = ?, execute_as = ?, impersonation_allowed = ?, allowed_addresses = ?, signature_methods = ?
                    WHERE key = ?
                    """,
                arguments: [consumer.name, consumer.description, consumer.publicKey, consumer.callback, consumer.threeLeggedAllowed,
                            consumer.twoLeggedAllowed, consumer.executeAs, consumer.impersonationAllowed,
                            consumer.allowedAddresses.stored, SignatureMethod.storageText(consumer.signatureMethods), consumer.key])
            guard db.changesCount == 1 else { throw StoreError.notFound }
        }
        consumerCache.invalidate()
    }

    public func deleteConsumer(key: String) async throws {
        // Its nonces stay until they leave the window: a consumer registered again under the same
        // key cannot be sent a replay of the old one's requests (and no scan of the nonces).
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM oauth1_consumers WHERE key = ?").execute(arguments: [key])
            guard db.changesCount == 1 else { throw StoreError.notFound }
        }
        consumerCache.invalidate()
    }

    public func recordNonce(consumerKey: String, nonce: String, timestamp: Int64, audit: AuditEntry?) async throws -> Bool {
        try await write { db in
            try db.executeBound("INSERT INTO oauth1_nonces (timestamp, consumer_key, nonce) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                [.integer(timestamp), .text(consumerKey), .text(nonce)])
            guard db.changesCount == 1 else { return false }
            if let audit { try Self.insert(audit, db) }
            return true
        }
    }

    public func saveToken(_ token: OAuth1TokenRecord) async throws {
        try await write { db in try Self.insert(token, db) }
    }

    public func token(digest: String) async throws -> OAuth1TokenRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth1_tokens WHERE digest = ?"), arguments: [digest]).map(StoredRecords.oauth1Token)
        }
    }

    public func decideRequestToken(digest: String, userName: String, approve: Bool, verifierDigest: String?, now: Int64) async throws -> OAuth1TokenRecord? {
        try await write { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                UPDATE oauth1_tokens SET authorization = ?, user_name = ?, verifier_digest = ?
                WHERE digest = ? AND kind = 'request' AND authorization = 'pending' AND expires_at > ?
                RETURNING *
                """), arguments: [approve ? "approved" : "denied", userName, verifierDigest, digest, now]).map(StoredRecords.oauth1Token)
        }
    }

    public func exchangeRequestToken(digest: String, consumerKey: String, verifierDigest: String?, now: Int64,
                                     access: @escaping @Sendable (OAuth1TokenRecord) -> OAuth1TokenRecord) async throws -> RequestTokenExchange {
        try await write { db in
            guard let record = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth1_tokens WHERE digest = ?"), arguments: [digest])
                .map(StoredRecords.oauth1Token) else { return .notFound }
            if let refusal = StoreRules.refusal(toExchange: record, consumerKey: consumerKey, verifierDigest: verifierDigest, now: now) {
                return refusal
            }
            // Single use: the request token goes as its access token is stored.
            try db.cachedStatement(sql: "DELETE FROM oauth1_tokens WHERE digest = ?").execute(arguments: [digest])
            let new = access(record)
            try Self.insert(new, db)
            try db.cachedStatement(sql: "UPDATE oauth1_consumers SET last_used_at = ? WHERE key = ?").execute(arguments: [now, consumerKey])
            return .exchanged(new)
        }
    }

    public func recordUse(consumerKey: String, tokenDigest: String?, now: Int64) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE oauth1_consumers SET last_used_at = ? WHERE key = ?").execute(arguments: [now, consumerKey])
            if let tokenDigest {
                try db.cachedStatement(sql: "UPDATE oauth1_tokens SET last_used_at = ? WHERE digest = ?").execute(arguments: [now, tokenDigest])
            }
        }
    }

    public func accessTokens(userName: String, now: Int64) async throws -> [OAuth1TokenRecord] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT * FROM oauth1_tokens WHERE user_name = ? AND kind = 'access' AND expires_at > ? ORDER BY issued_at, id
                """), arguments: [userName, now]).map(StoredRecords.oauth1Token)
        }
    }

    public func revokeAccessToken(id: String, userName: String) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM oauth1_tokens WHERE id = ? AND user_name = ? AND kind = 'access'").execute(arguments: [id, userName])
            return db.changesCount == 1
        }
    }

    public func pruneOAuth1(now: Int64, nonceWindow: Int64) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM oauth1_tokens WHERE expires_at <= ?").execute(arguments: [now])
            var removed = db.changesCount
            // A nonce can only repeat while its timestamp is inside the window.
            try db.cachedStatement(sql: "DELETE FROM oauth1_nonces WHERE timestamp < ?").execute(arguments: [now - nonceWindow])
            removed += db.changesCount
            return removed
        }
    }

    static func insert(_ token: OAuth1TokenRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO oauth1_tokens (id, digest, kind, consumer_key, user_name, callback, verifier_digest, authorization,
                                           session_handle_digest, issued_at, expires_at, last_used_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [token.id, token.digest, token.kind.rawValue, token.consumerKey, token.userName, token.callback,
                        token.verifierDigest, token.authorization.rawValue, token.sessionHandleDigest, token.issuedAt,
                        token.expiresAt, token.lastUsedAt])
    }
}

extension SQLiteStore: SettingsStore {
    public func setting(_ key: String) async throws -> String? {
        try await read { db in try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM settings WHERE key = ?"), arguments: [key]) }
    }

    public func settingOrCreate(_ key: String, _ make: @escaping @Sendable () throws -> String) async throws -> String {
        try await write { db in
            if let existing = try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM settings WHERE key = ?"), arguments: [key]) { return existing }
            let value = try make()
            try db.cachedStatement(sql: "INSERT INTO settings (key, value) VALUES (?, ?)").execute(arguments: [key, value])
            return value
        }
    }

    public func replaceSetting(_ key: String, expected: String, with value: String) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE settings SET value = ? WHERE key = ? AND value = ?")
                .execute(arguments: [value, key, expected])
            return db.changesCount > 0
        }
    }
}

extension SQLiteStore {
    public func consumerUsage(now: Int64) async throws -> [String: LinkUsage] {
        try await read { db in
            var usage: [String: LinkUsage] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: """
                SELECT c.key, c.last_used_at AS last,
                       (SELECT COUNT(*) FROM oauth1_tokens t WHERE t.consumer_key = c.key AND t.kind = 'access' AND t.expires_at > ?) AS active
                FROM oauth1_consumers c
                """), arguments: [now]) {
                usage[row["key"]] = LinkUsage(activeTokens: row["active"], lastUsedAt: row["last"])
            }
            return usage
        }
    }
}
