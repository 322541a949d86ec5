import GRDB
import LinkgateCore
import LinkgateCrypto
import LinkgateStoreKit
import OAuth2

extension SQLiteStore: OAuth2GrantStore {
    public func saveCode(_ code: AuthorizationCodeRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO oauth2_codes (digest, family_id, client_id, user_name, redirect_uri, scope, code_challenge,
                                              code_challenge_method, issued_at, expires_at, openid_scope, nonce, auth_time)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [code.digest, code.familyId, code.clientId, code.userName, code.redirectURI, code.scope.rawValue,
                            code.codeChallenge, code.codeChallengeMethod?.rawValue, code.issuedAt, code.expiresAt,
                            code.openID?.text, code.nonce, code.authTime])
        }
    }

    public func redeemCode(digest: String, clientId: String, now: Int64, claim: CodeClaim) async throws -> CodeRedemption {
        try await write { db in
            // Spend the code only if it is live and this client's; RETURNING tells whether it was.
            // Its tokens go in with it: a throw from the claim's check undoes the spend (the job's savepoint).
            if let record = try db.firstBound("""
                UPDATE oauth2_codes SET used_at = ?
                WHERE digest = ? AND client_id = ? AND used_at IS NULL AND expires_at > ?
                RETURNING *
                """, [.integer(now), .text(digest), .text(clientId), .integer(now)], StoredRecords.code) {
                try claim.check(record)
                for token in claim.tokens(for: record) { try Self.insert(token, db) }
                try Self.recordUse(db, clientId: clientId, consentUser: record.userName, now: now)
                return .redeemed(record)
            }
            // A second redemption by the same client: revoke everything the code produced.
            if let family = try String.fetchOne(db.cachedStatement(sql: """
                SELECT family_id FROM oauth2_codes WHERE digest = ? AND client_id = ? AND used_at IS NOT NULL
                """), arguments: [digest, clientId]) {
                try db.cachedStatement(sql: "DELETE FROM oauth2_tokens WHERE family_id = ?").execute(arguments: [family])
                return .replayed
            }
            return .invalid
        }
    }

    public func saveTokens(_ tokens: [TokenRecord], audit: AuditEntry?, spending assertion: AssertionId?) async throws -> Bool {
        try await write { db in
            if let assertion {
                try db.cachedStatement(sql: "INSERT INTO oauth2_jwt_ids (client_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                    .execute(arguments: [assertion.clientId, assertion.jti, assertion.expiresAt])
                guard db.changesCount == 1 else { return false }
            }
            for token in tokens { try Self.insert(token, db) }
            if let first = tokens.first {
                try Self.recordUse(db, clientId: first.clientId, consentUser: first.mode == .user ? first.userName : nil, now: first.issuedAt)
            }
            if let audit { try Self.insert(audit, db) }
            return true
        }
    }

    public func rotateRefreshToken(digest: String, clientId: String, now: Int64,
                                   replacements: @escaping @Sendable (TokenRecord) -> [TokenRecord]) async throws -> RefreshRotation {
        try await write { db in
            if let old = try db.firstBound("""
                UPDATE oauth2_tokens SET rotated_at = ?
                WHERE digest = ? AND kind = 'refresh' AND client_id = ? AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?
                RETURNING *
                """, [.integer(now), .text(digest), .text(clientId), .integer(now)], StoredRecords.token) {
                let new = replacements(old)
                for token in new { try Self.insert(token, db) }
                try Self.recordUse(db, clientId: old.clientId, consentUser: old.mode == .user ? old.userName : nil, now: now)
                return .rotated(old: old)
            }
            // A dead (rotated) refresh token came back: revoke the whole grant (RFC 9700 §4.14.2).
            if let family = try String.fetchOne(db.cachedStatement(sql: """
                SELECT family_id FROM oauth2_tokens WHERE digest = ? AND kind = 'refresh' AND client_id = ? AND rotated_at IS NOT NULL
                """), arguments: [digest, clientId]) {
                try db.cachedStatement(sql: "DELETE FROM oauth2_tokens WHERE family_id = ?").execute(arguments: [family])
                return .reused
            }
            return .invalid
        }
    }

    public func liveToken(digest: String, now: Int64) async throws -> TokenRecord? {
        // On every bearer request and introspection: the store's own connections where it has them.
        let sql = "SELECT * FROM oauth2_tokens WHERE digest = ? AND expires_at > ? AND rotated_at IS NULL AND revoked_at IS NULL"
        if let pointReaders {
            return try pointRead(pointReaders) { try $0.first(sql, [.text(digest), .integer(now)], StoredRecords.token) }
        }
        return try await read { db in try Row.fetchOne(db.cachedStatement(sql: sql), arguments: [digest, now]).map(StoredRecords.token) }
    }

    public func revokedToken(digest: String, now: Int64) async throws -> TokenRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth2_tokens WHERE digest = ? AND expires_at > ? AND revoked_at IS NOT NULL"),
                             arguments: [digest, now]).map(StoredRecords.token)
        }
    }

    public func revokeToken(digest: String, clientId: String, now: Int64) async throws -> Bool {
        try await write { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT kind, family_id FROM oauth2_tokens WHERE digest = ? AND client_id = ? AND revoked_at IS NULL
                """), arguments: [digest, clientId]) else { return false }
            let kind: String = row["kind"]
            if kind == TokenRecord.Kind.refresh.rawValue {
                // RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant.
                let family: String = row["family_id"]
                try db.cachedStatement(sql: "UPDATE oauth2_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL").execute(arguments: [now, family])
            } else {
                try db.cachedStatement(sql: "UPDATE oauth2_tokens SET revoked_at = ? WHERE digest = ?").execute(arguments: [now, digest])
            }
            return true
        }
    }

    public func consent(userName: String, clientId: String) async throws -> ConsentRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth2_consents WHERE user_name = ? AND client_id = ?"),
                             arguments: [userName, clientId]).map(StoredRecords.consent)
        }
    }

    public func saveConsent(userName: String, clientId: String, scope: Scope, openID: OpenIDScope?, now: Int64) async throws -> ConsentRecord {
        try await write { db in
            if var existing = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth2_consents WHERE user_name = ? AND client_id = ?"),
                                               arguments: [userName, clientId]).map(StoredRecords.consent) {
                if scope > existing.scope {
                    existing.scope = scope
                    try db.cachedStatement(sql: "UPDATE oauth2_consents SET scope = ? WHERE id = ?").execute(arguments: [scope.rawValue, existing.id])
                }
                if let openID, existing.openID?.covers(openID) != true {
                    existing.openID = openID.union(existing.openID)
                    try db.cachedStatement(sql: "UPDATE oauth2_consents SET openid_scope = ? WHERE id = ?")
                        .execute(arguments: [existing.openID?.text, existing.id])
                }
                return existing
            }
            let consent = ConsentRecord(id: SecureRandom.uuid(), userName: userName, clientId: clientId, scope: scope,
                                        authorizedAt: now, lastUsedAt: nil, openID: openID)
            try db.execute(
                sql: "INSERT INTO oauth2_consents (id, user_name, client_id, scope, authorized_at, openid_scope) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [consent.id, userName, clientId, scope.rawValue, now, openID?.text])
            return consent
        }
    }

    public func consents(userName: String) async throws -> [ConsentRecord] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM oauth2_consents WHERE user_name = ? ORDER BY authorized_at, id"),
                             arguments: [userName]).map(StoredRecords.consent)
        }
    }

    public func revokeConsent(id: String, userName: String) async throws -> Bool {
        try await write { db in
            guard let clientId = try String.fetchOne(db.cachedStatement(sql: "SELECT client_id FROM oauth2_consents WHERE id = ? AND user_name = ?"),
                                                     arguments: [id, userName]) else { return false }
            try db.cachedStatement(sql: "DELETE FROM oauth2_consents WHERE id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM oauth2_codes WHERE user_name = ? AND client_id = ?").execute(arguments: [userName, clientId])
            try db.cachedStatement(sql: "DELETE FROM oauth2_tokens WHERE user_name = ? AND client_id = ? AND mode = 'user'").execute(arguments: [userName, clientId])
            return true
        }
    }

    public func recordTokenUse(clientId: String, consentUser: String?, now: Int64) async throws {
        try await write { db in try Self.recordUse(db, clientId: clientId, consentUser: consentUser, now: now) }
    }

    static func recordUse(_ db: Database, clientId: String, consentUser: String?, now: Int64) throws {
        // To the minute (`LinkUsage.granularity`), as on PostgreSQL: fewer page writes per token.
        let due = now - LinkUsage.granularity
        try db.executeBound("UPDATE oauth2_clients SET last_used_at = ? WHERE client_id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                            [.integer(now), .text(clientId), .integer(due)])
        if let consentUser {
            try db.executeBound("""
                UPDATE oauth2_consents SET last_used_at = ? WHERE user_name = ? AND client_id = ? AND (last_used_at IS NULL OR last_used_at < ?)
                """, [.integer(now), .text(consentUser), .text(clientId), .integer(due)])
        }
    }

    public func pruneExpiredGrants(now: Int64) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM oauth2_codes WHERE expires_at <= ?").execute(arguments: [now])
            var removed = db.changesCount
            try db.cachedStatement(sql: "DELETE FROM oauth2_tokens WHERE expires_at <= ?").execute(arguments: [now])
            removed += db.changesCount
            try db.cachedStatement(sql: "DELETE FROM oauth2_jwt_ids WHERE expires_at <= ?").execute(arguments: [now])
            removed += db.changesCount
            return removed
        }
    }

    static func insert(_ token: TokenRecord, _ db: Database) throws {
        try db.executeBound("""
            INSERT INTO oauth2_tokens (digest, kind, family_id, client_id, user_name, scope, mode, issued_at, expires_at, openid_scope, auth_time)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(token.digest), .text(token.kind.rawValue), .text(token.familyId), .text(token.clientId), .text(token.userName),
                  .text(token.scope.rawValue), .text(token.mode.rawValue), .integer(token.issuedAt), .integer(token.expiresAt),
                  .text(token.openID?.text), .integer(token.authTime)])
    }
}

extension SQLiteStore {
    public func clientUsage(now: Int64) async throws -> [String: LinkUsage] {
        try await read { db in
            var usage: [String: LinkUsage] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: """
                SELECT c.client_id, c.last_used_at AS last,
                       (SELECT COUNT(*) FROM oauth2_tokens t
                        WHERE t.client_id = c.client_id AND t.expires_at > ? AND t.rotated_at IS NULL AND t.revoked_at IS NULL) AS active
                FROM oauth2_clients c
                """), arguments: [now]) {
                usage[row["client_id"]] = LinkUsage(activeTokens: row["active"], lastUsedAt: row["last"])
            }
            return usage
        }
    }

    public func openIDClientIds(now: Int64) async throws -> Set<String> {
        try await read { db in
            Set(try String.fetchAll(db.cachedStatement(sql: """
                SELECT client_id FROM oauth2_consents WHERE openid_scope IS NOT NULL
                UNION
                SELECT client_id FROM oauth2_tokens
                WHERE openid_scope IS NOT NULL AND expires_at > ? AND rotated_at IS NULL AND revoked_at IS NULL
                """), arguments: [now]))
        }
    }
}
