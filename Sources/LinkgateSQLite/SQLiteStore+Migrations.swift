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
        return migrator
    }
}
