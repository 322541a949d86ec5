import LinkgateCore
import LinkgateStoreKit
import OAuth1
import PostgresNIO

extension PostgresStore: OAuth1Store {
    public func createConsumer(_ consumer: Consumer) async throws {
        try await rows("""
            INSERT INTO oauth1_consumers (key, name, description, public_key, callback, three_legged_allowed, two_legged_allowed,
                                          execute_as, impersonation_allowed, allowed_addresses, created_at, signature_methods)
            VALUES (\(consumer.key), \(consumer.name), \(consumer.description), \(consumer.publicKey), \(consumer.callback),
                    \(consumer.threeLeggedAllowed), \(consumer.twoLeggedAllowed), \(consumer.executeAs), \(consumer.impersonationAllowed),
                    \(consumer.allowedAddresses.stored), \(consumer.createdAt), \(SignatureMethod.storageText(consumer.signatureMethods)))
            """)
    }

    /// Read on every signed request: cached, and invalidated on every node by any change.
    public func consumer(key: String) async throws -> Consumer? {
        guard !key.contains("\0") else { return nil }
        return try await consumerCache.value(key) {
            try await rows("SELECT * FROM oauth1_consumers WHERE key = \(key)").record(StoredRecords.consumer)
        }
    }

    public func consumers() async throws -> [Consumer] {
        try await rows("SELECT * FROM oauth1_consumers ORDER BY key").records(StoredRecords.consumer)
    }

    public func updateConsumer(_ consumer: Consumer) async throws {
        try await transaction { tx in
            guard try await !tx.rows("""
                UPDATE oauth1_consumers SET name = \(consumer.name), description = \(consumer.description),
                       public_key = \(consumer.publicKey), callback = \(consumer.callback),
                       three_legged_allowed = \(consumer.threeLeggedAllowed), two_legged_allowed = \(consumer.twoLeggedAllowed),
                       execute_as = \(consumer.executeAs), impersonation_allowed = \(consumer.impersonationAllowed),
                       allowed_addresses = \(consumer.allowedAddresses.stored),
                       signature_methods = \(SignatureMethod.storageText(consumer.signatureMethods))
                WHERE key = \(consumer.key) RETURNING 1
                """).isEmpty else { throw StoreError.notFound }
            try await tx.notify(.consumers)
        }
        consumerCache.invalidate()
    }

    public func deleteConsumer(key: String) async throws {
        try await transaction { tx in
            // Tokens go with the consumer by ON DELETE CASCADE. Its nonces stay until they leave the
            // window: a consumer registered again under the same key cannot be sent a replay of the
            // old one's requests (and no scan of the nonces).
            guard try await !tx.rows("DELETE FROM oauth1_consumers WHERE key = \(key) RETURNING 1").isEmpty else {
                throw StoreError.notFound
            }
            try await tx.notify(.consumers)
        }
        consumerCache.invalidate()
    }

    public func recordNonce(consumerKey: String, nonce: String, timestamp: Int64, audit: AuditEntry?) async throws -> Bool {
        // PostgreSQL text cannot hold NUL: such a nonce is refused as if used (RFC 5849 §3.3 lets
        // the server reject any nonce it cannot accept).
        guard !nonce.contains("\0"), !consumerKey.contains("\0") else { return false }
        // In batches (`StatementBatches`): under load one statement and one commit spend every nonce
        // that arrived meanwhile.
        return try await nonceSpends.run(NonceSpend(timestamp: timestamp, consumerKey: consumerKey, nonce: nonce, audit: audit), on: self)
    }

    public func saveToken(_ token: OAuth1TokenRecord) async throws {
        try await rows(Self.insertOAuth1Token(token))
    }

    public func token(digest: String) async throws -> OAuth1TokenRecord? {
        try await rows(OAuth1TokenByDigest(digest: digest)).record(StoredRecords.oauth1Token)
    }

    public func decideRequestToken(digest: String, userName: String, approve: Bool, verifierDigest: String?, now: Int64) async throws -> OAuth1TokenRecord? {
        try await rows("""
            UPDATE oauth1_tokens SET "authorization" = \(approve ? "approved" : "denied"), user_name = \(userName),
                   verifier_digest = \(verifierDigest)
            WHERE digest = \(digest) AND kind = 'request' AND "authorization" = 'pending' AND expires_at > \(now)
            RETURNING *
            """).record(StoredRecords.oauth1Token)
    }

    /// Reads and checks the request token (`StoreRules`), then deletes it and stores its access
    /// token in one statement that deletes only an approved, live request token of this consumer:
    /// of two concurrent exchanges, one wins and the other finds nothing (RFC 5849 §2.3).
    public func exchangeRequestToken(digest: String, consumerKey: String, verifierDigest: String?, now: Int64,
                                     access: @escaping @Sendable (OAuth1TokenRecord) -> OAuth1TokenRecord) async throws -> RequestTokenExchange {
        guard let record = try await token(digest: digest) else { return .notFound }
        if let refusal = StoreRules.refusal(toExchange: record, consumerKey: consumerKey, verifierDigest: verifierDigest, now: now) {
            return refusal
        }
        let new = access(record)
        let query: PostgresQuery = """
            WITH spent AS (DELETE FROM oauth1_tokens
                           WHERE digest = \(digest) AND kind = 'request' AND consumer_key = \(consumerKey)
                             AND "authorization" = 'approved' AND expires_at > \(now)
                             AND (callback IS NULL OR verifier_digest = \(verifierDigest))
                           RETURNING 1),
                 used AS (UPDATE oauth1_consumers SET last_used_at = \(now)
                          WHERE key = \(consumerKey) AND (last_used_at IS NULL OR last_used_at < \(now) - \(Self.lastUseGranularity))
                            AND EXISTS (SELECT 1 FROM spent)),
                 issued AS (
                    INSERT INTO oauth1_tokens (id, digest, kind, consumer_key, user_name, callback, verifier_digest, "authorization",
                                               session_handle_digest, issued_at, expires_at, last_used_at)
                    SELECT \(new.id)::text, \(new.digest)::text, \(new.kind.rawValue)::text, \(new.consumerKey)::text,
                           \(new.userName)::text, \(new.callback)::text, \(new.verifierDigest)::text,
                           \(new.authorization.rawValue)::text, \(new.sessionHandleDigest)::text, \(new.issuedAt)::int8,
                           \(new.expiresAt)::int8, \(new.lastUsedAt)::int8
                    FROM spent)
            SELECT count(*) FROM spent
            """
        let spent = try await rows(query).scalar(Int64.self) ?? 0
        return spent == 1 ? .exchanged(new) : .notFound
    }

    public func recordUse(consumerKey: String, tokenDigest: String?, now: Int64) async throws {
        try await rows("""
            WITH used_token AS (UPDATE oauth1_tokens SET last_used_at = \(now) WHERE digest = \(tokenDigest))
            UPDATE oauth1_consumers SET last_used_at = \(now) WHERE key = \(consumerKey)
            """)
    }

    public func accessTokens(userName: String, now: Int64) async throws -> [OAuth1TokenRecord] {
        try await rows("""
            SELECT * FROM oauth1_tokens WHERE user_name = \(userName) AND kind = 'access' AND expires_at > \(now) ORDER BY issued_at, id
            """).records(StoredRecords.oauth1Token)
    }

    public func revokeAccessToken(id: String, userName: String) async throws -> Bool {
        try await !rows("DELETE FROM oauth1_tokens WHERE id = \(id) AND user_name = \(userName) AND kind = 'access' RETURNING 1").isEmpty
    }

    public func consumerUsage(now: Int64) async throws -> [String: LinkUsage] {
        var usage: [String: LinkUsage] = [:]
        for row in try await rows("""
            SELECT c.key, c.last_used_at,
                   (SELECT count(*) FROM oauth1_tokens t WHERE t.consumer_key = c.key AND t.kind = 'access' AND t.expires_at > \(now)) AS active
            FROM oauth1_consumers c
            """) {
            let (key, last, active) = try row.decode((String, Int64?, Int64).self)
            usage[key] = LinkUsage(activeTokens: Int(active), lastUsedAt: last)
        }
        return usage
    }

    public func pruneOAuth1(now: Int64, nonceWindow: Int64) async throws -> Int {
        // A nonce can only repeat while its timestamp is inside the window.
        try await prune("oauth1_tokens", key: "id", expired: "expires_at <= $1", now: now)
            + prune("oauth1_nonces", key: "timestamp, consumer_key, nonce", expired: "timestamp < $1", now: now - nonceWindow)
    }

    static func insertOAuth1Token(_ token: OAuth1TokenRecord) -> PostgresQuery {
        """
        INSERT INTO oauth1_tokens (id, digest, kind, consumer_key, user_name, callback, verifier_digest, "authorization",
                                   session_handle_digest, issued_at, expires_at, last_used_at)
        VALUES (\(token.id), \(token.digest), \(token.kind.rawValue), \(token.consumerKey), \(token.userName), \(token.callback),
                \(token.verifierDigest), \(token.authorization.rawValue), \(token.sessionHandleDigest), \(token.issuedAt),
                \(token.expiresAt), \(token.lastUsedAt))
        """
    }
}

/// Every 3LO request's token read.
struct OAuth1TokenByDigest: PreparedLookup {
    static let name = "linkgate_oauth1_token_v1"
    static let sql = "SELECT * FROM oauth1_tokens WHERE digest = $1"
    var digest: String

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(digest)
        return binds
    }
}
