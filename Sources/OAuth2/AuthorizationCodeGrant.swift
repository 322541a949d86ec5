import LinkgateCore
import LinkgateCrypto

/// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, RFC 9700 §2.1.1).
struct AuthorizationCodeGrant: Sendable {
    let grants: any OAuth2GrantStore
    let users: any UserStore
    let issuer: TokenIssuer
    let audit: AuditLog

    func exchange(_ params: OAuthParameters, client: OAuth2Client, now: Int64) async throws -> TokenResponse {
        let code = try params.required("code")
        let redirectURI = try params.single("redirect_uri")
        let verifier = try params.single("code_verifier")
        if let verifier, !PKCE.isWellFormedVerifier(verifier) {
            throw OAuthError.invalidRequest("code_verifier must be 43 to 128 visible ASCII characters")
        }
        guard code.utf8.count <= 256 else { throw OAuthError.invalidGrant("the authorization code is invalid") }

        // One transaction spends the code: of two concurrent redemptions exactly one wins,
        // and a replay revokes what the first produced (RFC 6749 §4.1.2, §10.5).
        let record: AuthorizationCodeRecord
        switch try await grants.redeemCode(digest: Digest.storageDigest(of: code), clientId: client.clientId, now: now) {
        case .redeemed(let r): record = r
        case .replayed:
            try await audit.record(AuditAction.grantRevoke, actor: client.clientId, client: client.clientId, outcome: .failure,
                                   detail: "authorization code replayed; every token issued for it was revoked")
            throw OAuthError.invalidGrant("the authorization code was already used; the tokens issued for it are revoked")
        case .invalid: throw OAuthError.invalidGrant("the authorization code is invalid, expired, or was issued to another client")
        }
        // RFC 6749 §4.1.3: redirect_uri must be identical to the one the code was issued for.
        guard redirectURI == record.redirectURI else {
            throw OAuthError.invalidGrant("redirect_uri does not match the authorization request")
        }
        switch (record.codeChallenge, record.codeChallengeMethod, verifier) {
        case (nil, _, nil):
            break
        case (nil, _, .some):
            // RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
            throw OAuthError.invalidGrant("code_verifier was sent but the authorization request had no code_challenge")
        case (.some, _, nil):
            throw OAuthError.invalidGrant("code_verifier is required for this code")
        case (.some(let challenge), let method, .some(let verifier)):
            guard PKCE.verify(verifier: verifier, challenge: challenge, method: method ?? .plain) else {
                throw OAuthError.invalidGrant("code_verifier does not match the code_challenge")
            }
        }
        // The user may have lost admin rights since consenting.
        guard let user = try await users.user(named: record.userName), record.scope < .admin || user.admin else {
            throw OAuthError.invalidGrant("the user who authorized this code can no longer hold its scope")
        }
        let minted = issuer.mint(familyId: record.familyId, clientId: client.clientId, userName: user.name, scope: record.scope,
                                 mode: .user, withRefreshToken: true, now: now)
        try await grants.saveTokens(minted.records, audit: nil)
        return minted.response
    }
}
