import LinkgateCore
import LinkgateCrypto

/// `grant_type=client_credentials` (RFC 6749 §4.4), INTERFACE §8 mode `application`: the client
/// acts as its execute-as user, or as itself. No refresh token (RFC 6749 §4.4.3).
struct ClientCredentialsGrant: Sendable {
    let grants: any OAuth2GrantStore
    let users: any UserStore
    let issuer: TokenIssuer
    let audit: AuditLog

    func issue(_ params: OAuthParameters, client: OAuth2Client, now: Int64) async throws -> TokenResponse {
        var user: User? = nil
        if let executeAs = client.executeAs {
            guard let found = try await users.user(named: executeAs) else {
                throw OAuthError.invalidGrant("the client's execute-as user no longer exists")
            }
            user = found
        }
        let scope: Scope
        do {
            scope = try ScopeRequest.grant(try params.single("scope"), ceiling: client.scope, user: user)
        } catch {
            try await audit.record(AuditAction.tokenIssue, actor: client.clientId, client: client.clientId, subject: user?.name,
                                   outcome: .failure, detail: "client_credentials: \(error.description)")
            throw error
        }
        let minted = issuer.mint(familyId: SecureRandom.timeOrderedUUID(), clientId: client.clientId, userName: user?.name, scope: scope,
                                 mode: .application, withRefreshToken: false, now: now)
        try await grants.saveTokens(minted.records, audit: audit.entry(
            AuditAction.tokenIssue, actor: client.clientId, client: client.clientId, subject: user?.name,
            detail: "client_credentials, mode application, scope \(scope.rawValue)"))
        return minted.response
    }
}
