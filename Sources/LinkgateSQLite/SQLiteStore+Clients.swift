import GRDB
import LinkgateCore
import LinkgateStoreKit

extension SQLiteStore: OAuth2ClientStore {
    public func createClient(_ client: OAuth2Client) async throws {
        do {
            try await write { db in
                try db.execute(
                    sql: """
                        INSERT INTO oauth2_clients (id, client_id, secret_digest, name, name_key, redirects, scope,
                                                    impersonation, public_key, execute_as, allowed_addresses, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [client.id, client.clientId, client.secretDigest, client.name, client.name.lowercased(),
                                StoredRecords.encodeRedirects(client.redirects), client.scope.rawValue, client.impersonation,
                                client.publicKey, client.executeAs, client.allowedAddresses.stored, client.createdAt])
            }
        } catch StoreError.conflict {
            throw StoreError.conflict("a client named '\(client.name)' already exists")
        }
    }

    public func client(clientId: String) async throws -> OAuth2Client? {
        try await clientCache.value(clientId) { try await clientRow(clientId) }
    }

    private func clientRow(_ clientId: String) async throws -> OAuth2Client? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM oauth2_clients WHERE client_id = ?"), arguments: [clientId]).map(StoredRecords.client)
        }
    }

    public func clients() async throws -> [OAuth2Client] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM oauth2_clients ORDER BY name_key")).map(StoredRecords.client)
        }
    }

    public func updateClient(_ client: OAuth2Client) async throws {
        do {
            try await write { db in
                try db.execute(
                    sql: """
                        UPDATE oauth2_clients SET secret_digest = ?, name = ?, name_key = ?, redirects = ?, scope = ?,
                               impersonation = ?, public_key = ?, execute_as = ?, allowed_addresses = ?
                        WHERE client_id = ?
                        """,
                    arguments: [client.secretDigest, client.name, client.name.lowercased(), StoredRecords.encodeRedirects(client.redirects),
                                client.scope.rawValue, client.impersonation, client.publicKey, client.executeAs,
                                client.allowedAddresses.stored, client.clientId])
                guard db.changesCount == 1 else { throw StoreError.notFound }
            }
            clientCache.invalidate()
        } catch StoreError.conflict {
            throw StoreError.conflict("a client named '\(client.name)' already exists")
        }
    }

    public func deleteClient(clientId: String) async throws {
        try await write { db in
            // Codes and tokens go with the client by ON DELETE CASCADE.
            try db.cachedStatement(sql: "DELETE FROM oauth2_clients WHERE client_id = ?").execute(arguments: [clientId])
            guard db.changesCount == 1 else { throw StoreError.notFound }
        }
        clientCache.invalidate()
    }
}
