import Foundation
import LinkgateCrypto

/// The OAuth 2.0 client registry (INTERFACE §5): validation, id and secret minting.
public struct ClientRegistry: Sendable {
    let store: any OAuth2ClientStore & UserStore
    let now: @Sendable () -> Int64

    /// RS256 assertions need keys of at least 2048 bits (RFC 7518 §3.3).
    public static let minimumPublicKeyBits = 2048

    /// Users as `executeAs` sees them (with a directory: its users too, INTERFACE §13).
    let users: any UserStore

    public init(store: any OAuth2ClientStore & UserStore, users: (any UserStore)? = nil, now: @escaping @Sendable () -> Int64) {
        self.users = users ?? store
        self.store = store
        self.now = now
    }

    /// Registers a client. Returns it with its secret, which is never stored or shown again.
    /// A seed file (INTERFACE §12) may fix the client id and secret; otherwise both are minted.
    public func register(_ input: NewOAuth2Client, clientId fixedId: String? = nil,
                         secret fixedSecret: String? = nil) async throws -> (client: OAuth2Client, secret: String) {
        if let fixedId { try Self.validateClientId(fixedId) }
        if let fixedSecret { try Self.validateSecret(fixedSecret) }
        let secret = fixedSecret ?? SecureRandom.token()
        var client = OAuth2Client(
            id: SecureRandom.uuid(), clientId: fixedId ?? SecureRandom.hex(16), secretDigest: Digest.storageDigest(of: secret),
            name: input.name, redirects: input.redirects, scope: input.scope, impersonation: input.impersonation,
            publicKey: input.publicKey, executeAs: input.executeAs, allowedAddresses: input.allowedAddresses, createdAt: now())
        client = try await validated(client)
        try await store.createClient(client)
        return (client, secret)
    }

    /// Applies the keys given in `change`; `StoreError.notFound` for an unknown client.
    public func update(clientId: String, change: OAuth2ClientChange) async throws -> OAuth2Client {
        guard var client = try await store.client(clientId: clientId) else { throw StoreError.notFound }
        if let name = change.name { client.name = name }
        if let redirects = change.redirects { client.redirects = redirects }
        if let scope = change.scope { client.scope = scope }
        if let impersonation = change.impersonation { client.impersonation = impersonation }
        if let publicKey = change.publicKey { client.publicKey = publicKey }
        if let executeAs = change.executeAs { client.executeAs = executeAs }
        if let allowed = change.allowedAddresses { client.allowedAddresses = allowed }
        client = try await validated(client)
        try await store.updateClient(client)
        return client
    }

    /// Replaces the client secret; the old one stops working at once.
    public func resetSecret(clientId: String) async throws -> (client: OAuth2Client, secret: String) {
        guard var client = try await store.client(clientId: clientId) else { throw StoreError.notFound }
        let secret = SecureRandom.token()
        client.secretDigest = Digest.storageDigest(of: secret)
        try await store.updateClient(client)
        return (client, secret)
    }

    /// Sets a client's secret to `secret` (a seed file's fixed secret); the old one stops working.
    public func setSecret(clientId: String, secret: String) async throws {
        try Self.validateSecret(secret)
        guard var client = try await store.client(clientId: clientId) else { throw StoreError.notFound }
        let digest = Digest.storageDigest(of: secret)
        guard !constantTimeEquals(digest, client.secretDigest) else { return }
        client.secretDigest = digest
        try await store.updateClient(client)
    }

    /// Whether `secret` is the client's secret (no throttling: for configuration, not requests).
    public func hasSecret(_ client: OAuth2Client, _ secret: String) -> Bool {
        constantTimeEquals(Digest.storageDigest(of: secret), client.secretDigest)
    }

    /// A fixed client id: 1–128 characters that need no escaping in a URL or a Basic header.
    static func validateClientId(_ id: String) throws {
        guard (1...128).contains(id.count), id.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-._~".unicodeScalars.contains($0)) }) else {
            throw ValidationError("clientId", "must be 1-128 letters, digits, '-', '.', '_' or '~'")
        }
    }

    /// A fixed secret: at least 16 characters (INTERFACE §12), at most 512.
    static func validateSecret(_ secret: String) throws {
        guard secret.count >= 16, secret.utf8.count <= 512 else { throw ValidationError("clientSecret", "must be 16 to 512 characters") }
    }

    /// Deletes a client and revokes everything issued to it.
    public func delete(clientId: String) async throws {
        try await store.deleteClient(clientId: clientId)
    }

    /// The client whose id and secret match, or nil (constant-time secret comparison).
    public func authenticate(clientId: String, secret: String) async throws -> OAuth2Client? {
        guard clientId.utf8.count <= 128, secret.utf8.count <= 512,
              let client = try await store.client(clientId: clientId) else { return nil }
        return constantTimeEquals(Digest.storageDigest(of: secret), client.secretDigest) ? client : nil
    }

    private func validated(_ client: OAuth2Client) async throws -> OAuth2Client {
        var client = client
        client.name = try Rules.label(client.name, field: "name")
        try RedirectURI.validate(list: client.redirects)
        if let pem = client.publicKey {
            do {
                client.publicKey = try RSAPublicKey(parsing: pem, minimumBits: Self.minimumPublicKeyBits).pem
            } catch let error as CryptoError {
                throw ValidationError("publicKey", error.message)
            }
        }
        if client.impersonation && client.publicKey == nil {
            throw ValidationError("publicKey", "is required when impersonation is true (it verifies the client's JWT assertions)")
        }
        if let executeAs = client.executeAs {
            guard let user = try await users.user(named: executeAs) else {
                throw ValidationError("executeAs", "no user named '\(executeAs.prefix(64))'")
            }
            client.executeAs = user.name
        }
        return client
    }
}
