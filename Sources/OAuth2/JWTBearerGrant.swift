import LinkgateCore
import LinkgateCrypto

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1, §3), INTERFACE §8
/// mode `impersonation`: a client with `impersonation: true` acts as the user named in `sub`.
/// The RS256 assertion, signed with the client's registered key, authenticates the client.
struct JWTBearerGrant: Sendable {
    static let grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    static let skew: Int64 = 60
    /// How far ahead `exp` may be.
    static let maximumLifetime: Int64 = 600

    let clients: any OAuth2ClientStore & UserStore
    let users: any UserStore
    let grants: any OAuth2GrantStore
    let registry: ClientRegistry
    let issuer: TokenIssuer
    let config: OAuth2Config
    let audit: AuditLog
    let clientAuthentication: ClientAuthentication

    func issue(_ params: OAuthParameters, authorization: String?, from address: IPAddress?, now: Int64) async throws -> TokenResponse {
        var client: OAuth2Client? = nil
        var subject: String? = nil
        do {
            let assertion = try JWTAssertion.parse(try params.required("assertion"))
            subject = assertion.string("sub")
            let authenticated = try await authenticateClient(assertion, params: params, authorization: authorization, from: address)
            client = authenticated
            return try await issue(for: authenticated, assertion: assertion, params: params, now: now)
        } catch let error as OAuthError {
            try await audit.record(AuditAction.tokenIssue, actor: client?.clientId, client: client?.clientId, subject: subject.map { String($0.prefix(64)) },
                                   outcome: .failure, detail: "jwt-bearer: \(error.code.rawValue): \(error.description)")
            throw error
        } catch let failure as ClientAuthentication.Failure {
            try await audit.record(AuditAction.tokenIssue, actor: nil, client: nil, subject: subject.map { String($0.prefix(64)) },
                                   outcome: .failure, detail: "jwt-bearer: \(failure.error.code.rawValue): \(failure.error.description)")
            throw failure
        }
    }

    /// The client is `iss`; a `client_id` must agree, and a secret, if sent, must be right.
    private func authenticateClient(_ assertion: JWTAssertion, params: OAuthParameters, authorization: String?,
                                    from address: IPAddress?) async throws -> OAuth2Client {
        guard let issuer = assertion.string("iss"), issuer.utf8.count <= 128 else { throw OAuthError.invalidGrant("the assertion has no iss") }
        if let clientId = try params.single("client_id"), clientId != issuer {
            throw OAuthError.invalidGrant("the assertion's iss does not match client_id")
        }
        if authorization != nil || params.contains("client_secret") {
            let (authenticated, _) = try await clientAuthentication.authenticate(authorization: authorization, params: params, from: address)
            guard authenticated.clientId == issuer else { throw OAuthError.invalidGrant("the assertion's iss is not the authenticated client") }
            return authenticated
        }
        guard let client = try await clients.client(clientId: issuer) else {
            throw ClientAuthentication.Failure(error: .invalidClient("no client matches the assertion's iss"), usedBasic: false)
        }
        try await clientAuthentication.checkNetwork(client, from: address)
        return client
    }

    private func issue(for client: OAuth2Client, assertion: JWTAssertion, params: OAuthParameters, now: Int64) async throws -> TokenResponse {
        guard client.impersonation else {
            throw OAuthError.unauthorizedClient("this client may not impersonate users (impersonation is false)")
        }
        guard let pem = client.publicKey, let key = try? RSAPublicKey(parsing: pem), assertion.verify(with: key) else {
            throw OAuthError.invalidGrant("the assertion's signature does not verify with the client's registered key")
        }
        // RFC 7523 §3: the claims.
        guard assertion.audiences.contains(config.tokenEndpoint) else {
            throw OAuthError.invalidGrant("the assertion's aud must be \(config.tokenEndpoint)")
        }
        guard let exp = assertion.number("exp") else { throw OAuthError.invalidGrant("the assertion has no exp") }
        guard exp > now - Self.skew else { throw OAuthError.invalidGrant("the assertion has expired") }
        guard exp <= now + Self.maximumLifetime + Self.skew else {
            throw OAuthError.invalidGrant("the assertion's exp is more than \(Self.maximumLifetime) s ahead")
        }
        if assertion.claims["nbf"] != nil {
            guard let nbf = assertion.number("nbf"), nbf <= now + Self.skew else { throw OAuthError.invalidGrant("the assertion is not yet valid (nbf)") }
        }
        if assertion.claims["iat"] != nil {
            guard let iat = assertion.number("iat"), iat <= now + Self.skew, iat >= now - Self.maximumLifetime - Self.skew else {
                throw OAuthError.invalidGrant("the assertion's iat is in the future or too old")
            }
        }
        guard let jti = assertion.string("jti"), !jti.isEmpty, jti.utf8.count <= 256 else {
            throw OAuthError.invalidGrant("the assertion needs a jti")
        }
        guard let sub = assertion.string("sub"), sub.utf8.count <= 64, let user = try await users.user(named: sub) else {
            throw OAuthError.invalidGrant("the assertion's sub names no user")
        }
        let scope = try ScopeRequest.grant(try params.single("scope"), ceiling: client.scope, user: user)
        let minted = issuer.mint(familyId: SecureRandom.timeOrderedUUID(), clientId: client.clientId, userName: user.name, scope: scope,
                                 mode: .impersonation, withRefreshToken: false, now: now)
        // Single use: the jti is spent in the same transaction that stores the token, and only
        // once everything else checked out.
        let spent = try await grants.saveTokens(minted.records, audit: audit.entry(
            AuditAction.tokenIssue, actor: client.clientId, client: client.clientId, subject: user.name,
            detail: "jwt-bearer, mode impersonation, scope \(scope.rawValue)"),
            spending: AssertionId(clientId: client.clientId, jti: jti, expiresAt: exp + Self.skew))
        guard spent else { throw OAuthError.invalidGrant("the assertion's jti was already used") }
        return minted.response
    }
}
