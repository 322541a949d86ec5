import GRDB

extension SQLiteStore {
    /// Versioned schema migrations; append new ones, never edit a shipped one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-users-clients-sessions") { db in
            // `name_key` is the lowercased name: names are unique case-insensitively, portably.
            try db.execute(sql: """
                CREATE TABLE users (
                    name          TEXT PRIMARY KEY,
                    name_key      TEXT NOT NULL UNIQUE,
                    display_name  TEXT NOT NULL,
                    email         TEXT,
                    admin         INTEGER NOT NULL DEFAULT 0,
                    password_hash TEXT NOT NULL,
                    created_at    INTEGER NOT NULL
                );
                CREATE TABLE oauth2_clients (
                    id            TEXT PRIMARY KEY,
                    client_id     TEXT NOT NULL UNIQUE,
                    secret_digest TEXT NOT NULL,
                    name          TEXT NOT NULL,
                    name_key      TEXT NOT NULL UNIQUE,
                    redirects     TEXT NOT NULL,
                    scope         TEXT NOT NULL,
                    impersonation INTEGER NOT NULL DEFAULT 0,
                    public_key    TEXT,
                    execute_as    TEXT REFERENCES users(name) ON DELETE RESTRICT,
                    created_at    INTEGER NOT NULL
                );
                CREATE INDEX oauth2_clients_execute_as ON oauth2_clients(execute_as);
                CREATE TABLE sessions (
                    id_digest  TEXT PRIMARY KEY,
                    user_name  TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                );
                CREATE INDEX sessions_user ON sessions(user_name);
                CREATE INDEX sessions_expires ON sessions(expires_at);
                """)
        }
        migrator.registerMigration("v2-oauth2-codes-tokens-consents") { db in
            try db.execute(sql: """
                CREATE TABLE oauth2_consents (
                    id            TEXT PRIMARY KEY,
                    user_name     TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
                    client_id     TEXT NOT NULL REFERENCES oauth2_clients(client_id) ON DELETE CASCADE,
                    scope         TEXT NOT NULL,
                    authorized_at INTEGER NOT NULL,
                    last_used_at  INTEGER,
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
                    issued_at             INTEGER NOT NULL,
                    expires_at            INTEGER NOT NULL,
                    used_at               INTEGER
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
                    issued_at  INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    rotated_at INTEGER
                );
                CREATE INDEX oauth2_tokens_family ON oauth2_tokens(family_id);
                CREATE INDEX oauth2_tokens_expires ON oauth2_tokens(expires_at);
                CREATE INDEX oauth2_tokens_user_client ON oauth2_tokens(user_name, client_id);
                CREATE INDEX oauth2_tokens_client ON oauth2_tokens(client_id);
                """)
        }
        migrator.registerMigration("v3-oauth1-consumers-tokens-nonces-settings") { db in
            try db.execute(sql: """
                CREATE TABLE oauth1_consumers (
                    key                   TEXT PRIMARY KEY,
                    name                  TEXT NOT NULL,
                    description           TEXT,
                    public_key            TEXT NOT NULL,
                    callback              TEXT,
                    three_legged_allowed  INTEGER NOT NULL,
                    two_legged_allowed    INTEGER NOT NULL,
                    execute_as            TEXT REFERENCES users(name) ON DELETE RESTRICT,
                    impersonation_allowed INTEGER NOT NULL,
                    created_at            INTEGER NOT NULL
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
                    authorization         TEXT NOT NULL,
                    session_handle_digest TEXT,
                    issued_at             INTEGER NOT NULL,
                    expires_at            INTEGER NOT NULL,
                    last_used_at          INTEGER
                );
                CREATE INDEX oauth1_tokens_user ON oauth1_tokens(user_name, kind);
                CREATE INDEX oauth1_tokens_consumer ON oauth1_tokens(consumer_key);
                CREATE INDEX oauth1_tokens_expires ON oauth1_tokens(expires_at);
                CREATE TABLE oauth1_nonces (
                    consumer_key TEXT NOT NULL,
                    nonce        TEXT NOT NULL,
                    timestamp    INTEGER NOT NULL,
                    PRIMARY KEY (consumer_key, nonce)
                );
                CREATE INDEX oauth1_nonces_timestamp ON oauth1_nonces(timestamp);
                CREATE TABLE settings (
                    key   TEXT PRIMARY KEY,
                    value TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4-audit-jwt-ids") { db in
            try db.execute(sql: """
                CREATE TABLE audit (
                    id      INTEGER PRIMARY KEY AUTOINCREMENT,
                    time    INTEGER NOT NULL,
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
                CREATE INDEX audit_action ON audit(action, id);
                CREATE TABLE oauth2_jwt_ids (
                    client_id  TEXT NOT NULL,
                    jti        TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    PRIMARY KEY (client_id, jti)
                );
                CREATE INDEX oauth2_jwt_ids_expires ON oauth2_jwt_ids(expires_at);
                """)
        }
        migrator.registerMigration("v5-last-use-and-revoked-tokens") { db in
            // Revoked tokens stay as tombstones until they expire, so a later use can be attributed
            // (and audited); each link remembers its last use even after its tokens are gone.
            try db.execute(sql: """
                ALTER TABLE oauth2_tokens ADD COLUMN revoked_at INTEGER;
                ALTER TABLE oauth2_clients ADD COLUMN last_used_at INTEGER;
                ALTER TABLE oauth1_consumers ADD COLUMN last_used_at INTEGER;
                """)
        }
        migrator.registerMigration("v6-allowed-addresses") { db in
            // INTERFACE §10: per-link network restrictions; NULL = any address.
            try db.execute(sql: "ALTER TABLE oauth2_clients ADD COLUMN allowed_addresses TEXT")
            try db.execute(sql: "ALTER TABLE oauth1_consumers ADD COLUMN allowed_addresses TEXT")
        }
        migrator.registerMigration("v7-oauth1-signature-methods") { db in
            // INTERFACE §7: a consumer's allowed signature methods, space-separated; existing
            // consumers keep RSA-SHA1 only.
            try db.execute(sql: """
                ALTER TABLE oauth1_consumers ADD COLUMN signature_methods TEXT NOT NULL DEFAULT 'RSA-SHA1';
                """)
        }
        migrator.registerMigration("v8-user-directory") { db in
            // INTERFACE §13: where a user comes from; existing users are local.
            try db.execute(sql: "ALTER TABLE users ADD COLUMN directory TEXT NOT NULL DEFAULT 'local'")
        }
        migrator.registerMigration("v9-openid-connect") { db in
            // INTERFACE §14: the OIDC values of a grant ("openid profile email"; NULL for plain
            // OAuth 2.0), the authorize request's nonce and the login's time, for id_tokens and userinfo.
            try db.execute(sql: """
                ALTER TABLE oauth2_codes ADD COLUMN openid_scope TEXT;
                ALTER TABLE oauth2_codes ADD COLUMN nonce TEXT;
                ALTER TABLE oauth2_codes ADD COLUMN auth_time INTEGER;
                ALTER TABLE oauth2_tokens ADD COLUMN openid_scope TEXT;
                ALTER TABLE oauth2_tokens ADD COLUMN auth_time INTEGER;
                ALTER TABLE oauth2_consents ADD COLUMN openid_scope TEXT;
                """)
        }
        migrator.registerMigration("v10-unused-audit-index") { db in
            // The audit query's user filter is `subject = ? OR actor = ?`, and with no index on
            // actor SQLite never uses this one for it (EXPLAIN QUERY PLAN: SCAN audit), while
            // every audit entry paid for its B-tree insert. PostgreSQL, which indexes actor too,
            // keeps both.
            try db.execute(sql: "DROP INDEX IF EXISTS audit_subject")
        }
        migrator.registerMigration("v11-time-ordered-nonces") { db in
            // RFC 5849 §3.3: a nonce is unique per timestamp and consumer (the signature covers the
            // timestamp, so a replay repeats it). Keyed by timestamp first, a new nonce lands on the
            // last page of one B-tree instead of a random page of a (consumer, nonce) index plus a
            // rowid table and a timestamp index, and pruning removes a range from the front.
            try db.execute(sql: """
                CREATE TABLE oauth1_nonces_by_time (
                    timestamp    INTEGER NOT NULL,
                    consumer_key TEXT NOT NULL,
                    nonce        TEXT NOT NULL,
                    PRIMARY KEY (timestamp, consumer_key, nonce)
                ) WITHOUT ROWID;
                INSERT OR IGNORE INTO oauth1_nonces_by_time (timestamp, consumer_key, nonce)
                    SELECT timestamp, consumer_key, nonce FROM oauth1_nonces;
                DROP TABLE oauth1_nonces;
                ALTER TABLE oauth1_nonces_by_time RENAME TO oauth1_nonces;
                """)
        }
        return migrator
    }
}
