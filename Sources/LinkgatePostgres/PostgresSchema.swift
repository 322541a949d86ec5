import Foundation
import LinkgateCore
import Logging
import PostgresNIO

/// Versioned schema migrations: SQL per version, applied in order, each in its own transaction,
/// under a session advisory lock so nodes that start together on an empty database take turns
/// (the first migrates, the others wait and then find nothing to do).
///
/// Append new versions; never edit a shipped one. A version must keep the previous release's
/// nodes working (add tables, nullable columns and indexes; drop only in a later release), so a
/// cluster can be upgraded by migrating first and then replacing nodes one at a time.
enum PostgresSchema {
    /// `pg_advisory_lock` key: "linkgate" in ASCII.
    static let lockKey: Int64 = 0x6C69_6E6B_6761_7465

    static let versions: [(id: String, sql: String)] = [
        ("v1-initial", """
            CREATE TABLE users (
                name          TEXT PRIMARY KEY,
                name_key      TEXT NOT NULL UNIQUE,
                display_name  TEXT NOT NULL,
                email         TEXT,
                admin         BOOLEAN NOT NULL DEFAULT FALSE,
                password_hash TEXT NOT NULL,
                created_at    BIGINT NOT NULL
            );
            CREATE TABLE oauth2_clients (
                id                TEXT PRIMARY KEY,
                client_id         TEXT NOT NULL UNIQUE,
                secret_digest     TEXT NOT NULL,
                name              TEXT NOT NULL,
                name_key          TEXT NOT NULL UNIQUE,
                redirects         TEXT NOT NULL,
                scope             TEXT NOT NULL,
                impersonation     BOOLEAN NOT NULL DEFAULT FALSE,
                public_key        TEXT,
                execute_as        TEXT REFERENCES users(name) ON DELETE RESTRICT,
                allowed_addresses TEXT,
                created_at        BIGINT NOT NULL,
                last_used_at      BIGINT
            );
            CREATE INDEX oauth2_clients_execute_as ON oauth2_clients(execute_as);
            CREATE TABLE sessions (
                id_digest  TEXT PRIMARY KEY,
                user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            );
            CREATE INDEX sessions_user ON sessions(user_name);
            CREATE INDEX sessions_expires ON sessions(expires_at);
            CREATE TABLE oauth2_consents (
                id            TEXT PRIMARY KEY,
                user_name     TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                client_id     TEXT NOT NULL REFERENCES oauth2_clients(client_id) ON DELETE CASCADE,
                scope         TEXT NOT NULL,
                authorized_at BIGINT NOT NULL,
                last_used_at  BIGINT,
                UNIQUE (user_name, client_id)
            );
            CREATE INDEX oauth2_consents_client ON oauth2_consents(client_id);
            CREATE TABLE oauth2_codes (
                digest                TEXT PRIMARY KEY,
                family_id             TEXT NOT NULL,
                client_id             TEXT NOT NULL REFERENCES oauth2_clients(client_id) ON DELETE CASCADE,
                user_name             TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                redirect_uri          TEXT NOT NULL,
                scope                 TEXT NOT NULL,
                code_challenge        TEXT,
                code_challenge_method TEXT,
                issued_at             BIGINT NOT NULL,
                expires_at            BIGINT NOT NULL,
                used_at               BIGINT
            );
            CREATE INDEX oauth2_codes_expires ON oauth2_codes(expires_at);
            CREATE INDEX oauth2_codes_user_client ON oauth2_codes(user_name, client_id);
            CREATE INDEX oauth2_codes_client ON oauth2_codes(client_id);
            CREATE TABLE oauth2_tokens (
                digest     TEXT PRIMARY KEY,
                kind       TEXT NOT NULL,
                family_id  TEXT NOT NULL,
                client_id  TEXT NOT NULL REFERENCES oauth2_clients(client_id) ON DELETE CASCADE,
                user_name  TEXT REFERENCES users(name) ON DELETE CASCADE,
                scope      TEXT NOT NULL,
                mode       TEXT NOT NULL,
                issued_at  BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                rotated_at BIGINT,
                revoked_at BIGINT
            );
            CREATE INDEX oauth2_tokens_family ON oauth2_tokens(family_id);
            CREATE INDEX oauth2_tokens_expires ON oauth2_tokens(expires_at);
            CREATE INDEX oauth2_tokens_user_client ON oauth2_tokens(user_name, client_id);
            CREATE INDEX oauth2_tokens_client ON oauth2_tokens(client_id);
            CREATE TABLE oauth2_jwt_ids (
                client_id  TEXT NOT NULL,
                jti        TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                PRIMARY KEY (client_id, jti)
            );
            CREATE INDEX oauth2_jwt_ids_expires ON oauth2_jwt_ids(expires_at);
            CREATE TABLE oauth1_consumers (
                key                   TEXT PRIMARY KEY,
                name                  TEXT NOT NULL,
                description           TEXT,
                public_key            TEXT NOT NULL,
                callback              TEXT,
                three_legged_allowed  BOOLEAN NOT NULL,
                two_legged_allowed    BOOLEAN NOT NULL,
                execute_as            TEXT REFERENCES users(name) ON DELETE RESTRICT,
                impersonation_allowed BOOLEAN NOT NULL,
                allowed_addresses     TEXT,
                signature_methods     TEXT NOT NULL DEFAULT 'RSA-SHA1',
                created_at            BIGINT NOT NULL,
                last_used_at          BIGINT
            );
            CREATE INDEX oauth1_consumers_execute_as ON oauth1_consumers(execute_as);
            CREATE TABLE oauth1_tokens (
                id                    TEXT PRIMARY KEY,
                digest                TEXT NOT NULL UNIQUE,
                kind                  TEXT NOT NULL,
                consumer_key          TEXT NOT NULL REFERENCES oauth1_consumers(key) ON DELETE CASCADE,
                user_name             TEXT REFERENCES users(name) ON DELETE CASCADE,
                callback              TEXT,
                verifier_digest       TEXT,
                "authorization"       TEXT NOT NULL,
                session_handle_digest TEXT,
                issued_at             BIGINT NOT NULL,
                expires_at            BIGINT NOT NULL,
                last_used_at          BIGINT
            );
            CREATE INDEX oauth1_tokens_user ON oauth1_tokens(user_name, kind);
            CREATE INDEX oauth1_tokens_consumer ON oauth1_tokens(consumer_key);
            CREATE INDEX oauth1_tokens_expires ON oauth1_tokens(expires_at);
            CREATE TABLE oauth1_nonces (
                consumer_key TEXT NOT NULL,
                nonce        TEXT NOT NULL,
                timestamp    BIGINT NOT NULL,
                PRIMARY KEY (consumer_key, nonce)
            );
            CREATE INDEX oauth1_nonces_timestamp ON oauth1_nonces(timestamp);
            CREATE TABLE settings (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            CREATE TABLE audit (
                id      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                time    BIGINT NOT NULL,
                actor   TEXT,
                client  TEXT,
                subject TEXT,
                action  TEXT NOT NULL,
                outcome TEXT NOT NULL,
                detail  TEXT
            );
            CREATE INDEX audit_time ON audit(time);
            CREATE INDEX audit_client ON audit(client, id);
            CREATE INDEX audit_subject ON audit(subject, id);
            CREATE INDEX audit_actor ON audit(actor, id);
            CREATE INDEX audit_action ON audit(action, id);
            """),
        // INTERFACE §13: where a user comes from; existing users are local.
        ("v2-user-directory", """
            ALTER TABLE users ADD COLUMN directory TEXT NOT NULL DEFAULT 'local';
            """),
        // INTERFACE §14: the OIDC values of a grant ("openid profile email"; NULL for plain
        // OAuth 2.0), the authorize request's nonce and the login's time, for id_tokens and userinfo.
        ("v3-openid-connect", """
            ALTER TABLE oauth2_codes ADD COLUMN openid_scope TEXT;
            ALTER TABLE oauth2_codes ADD COLUMN nonce TEXT;
            ALTER TABLE oauth2_codes ADD COLUMN auth_time BIGINT;
            ALTER TABLE oauth2_tokens ADD COLUMN openid_scope TEXT;
            ALTER TABLE oauth2_tokens ADD COLUMN auth_time BIGINT;
            ALTER TABLE oauth2_consents ADD COLUMN openid_scope TEXT;
            """),
        // RFC 5849 §3.3: a nonce is unique per timestamp and consumer (the signature covers the
        // timestamp, so a replay repeats it). Keyed by timestamp first, a new nonce goes to the
        // right edge of the one index instead of a random leaf plus a second (timestamp) index.
        ("v4-time-ordered-nonces", """
            ALTER TABLE oauth1_nonces DROP CONSTRAINT oauth1_nonces_pkey;
            ALTER TABLE oauth1_nonces ADD PRIMARY KEY (timestamp, consumer_key, nonce);
            DROP INDEX oauth1_nonces_timestamp;
            """),
    ]
}

extension PostgresSchema {
    /// The statements of a version's SQL (none of it has a semicolon inside a statement).
    static func statements(_ sql: String) -> [String] {
        sql.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }
}

extension PostgresStore {
    /// Applies the versions this database lacks; returns their ids. Safe to run from several
    /// nodes at once (`pg_advisory_lock`), and a no-op on an up-to-date database.
    /// `connectWithin` bounds the first connection (a node fails fast at start; the test stores,
    /// dozens opened at once on a 2-core machine, wait longer).
    @discardableResult
    public func migrate(connectWithin: TimeAmount = .seconds(5)) async throws -> [String] {
        try await checkConnection(within: connectWithin)
        do {
            return try await client.withConnection { connection in
                try await migrate(on: connection)
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw storeError(error)
        }
    }

    /// Connects once, outside the pool, and fails at once with the reason (wrong password, no
    /// such database, connection refused) rather than letting the pool retry it in the background.
    public func checkConnection(within deadline: TimeAmount = .seconds(5)) async throws {
        do {
            try await withDeadlines(untilStarted: deadline, total: deadline) { _ in
                let connection = try await PostgresConnection.connect(configuration: self.connectionConfiguration, id: 999_999,
                                                                      logger: self.logger)
                defer { Task { try? await connection.close() } }
                _ = try await connection.query("SELECT 1", logger: self.logger).collect()
            }
        } catch is DeadlineExceeded {
            throw PostgresConnectError(location: location.redacted, reason: "no answer within \(deadline.nanoseconds / 1_000_000_000) s")
        } catch let error as PSQLError {
            let reason = error.serverInfo?[.message] ?? error.underlying.map { "\($0)" } ?? "\(error.code)"
            throw PostgresConnectError(location: location.redacted, reason: reason)
        }
    }

    /// The ids of the applied versions, in order.
    public func appliedMigrations() async throws -> [String] {
        try await rows("SELECT id FROM schema_migrations ORDER BY id").map { try $0.decode(String.self) }
    }

    private func migrate(on connection: PostgresConnection) async throws -> [String] {
        // A session lock, released below or when the connection closes (a node killed mid-migration).
        // Migrations may take longer than a statement may: no timeout on this connection.
        _ = try await connection.query("SET statement_timeout = 0", logger: logger).collect()
        _ = try await connection.query("SET lock_timeout = 0", logger: logger).collect()
        _ = try await connection.query("SELECT pg_advisory_lock(\(PostgresSchema.lockKey))", logger: logger).collect()
        var applied: [String] = []
        do {
            _ = try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)
                """, logger: logger).collect()
            let done = Set(try await connection.query("SELECT id FROM schema_migrations", logger: logger)
                .collect().map { try $0.decode(String.self) })
            for version in PostgresSchema.versions where !done.contains(version.id) {
                try await connection.withTransaction(logger: logger) { connection in
                    // The extended protocol takes one statement at a time.
                    for statement in PostgresSchema.statements(version.sql) {
                        _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
                    }
                    _ = try await connection.query("""
                        INSERT INTO schema_migrations (id, applied_at) VALUES (\(version.id), EXTRACT(EPOCH FROM now())::BIGINT)
                        """, logger: logger).collect()
                }
                applied.append(version.id)
                logger.notice("applied database migration", metadata: ["version": "\(version.id)"])
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(PostgresSchema.lockKey))", logger: logger).collect()
            _ = try? await connection.query("RESET statement_timeout", logger: logger).collect()
            _ = try? await connection.query("RESET lock_timeout", logger: logger).collect()
            throw error
        }
        _ = try await connection.query("SELECT pg_advisory_unlock(\(PostgresSchema.lockKey))", logger: logger).collect()
        _ = try await connection.query("RESET statement_timeout", logger: logger).collect()
        _ = try await connection.query("RESET lock_timeout", logger: logger).collect()
        return applied
    }
}

/// Why the database could not be reached at start, for an operator (never the password).
public struct PostgresConnectError: Error, CustomStringConvertible {
    public let location: String
    public let reason: String
    public var description: String { "cannot connect to \(location): \(reason)" }
}
