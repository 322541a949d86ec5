import LinkgateCore
import LinkgateCrypto

/// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, RFC 9700 §2.1.1).
struct AuthorizationCodeGrant: Sendable {
    let grants: any OAuth2GrantStore
    let issuer: TokenIssuer
    let idTokens: IDTokenIssuer
    let audit: AuditLog

    func exchange(_ params: OAuthParameters, client: OAuth2Client, now: Int64) async throws -> TokenResponse {
        let code = try params.required("code")
        let redirectURI = try params.single("redirect_uri")
        let proof = try params.single("code_verifier").map { verifier in
            guard let proof = PKCE.Proof(verifier: verifier) else {
                throw OAuthError.invalidRequest("code_verifier must be 43 to 128 visible ASCII characters")
            }
            return proof
        }
        guard code.utf8.count <= 256 else { throw OAuthError.invalidGrant("the authorization code is invalid") }

        let digest = Digest.tokenKey(of: code)

        // One store operation spends the code and stores its tokens: of two concurrent
        // redemptions exactly one wins, and a replay at any later moment finds the tokens to
        // revoke (RFC 6749 §4.1.2, §10.5). The tokens and the verifier's transform are made
        // first: what runs inside the store operation (SQLite's serial writer) only compares.
        let access = FreshToken(), refresh = FreshToken()
        let claim = CodeClaim(redirectURI: redirectURI, proof: proof,
                              tokens: issuer.drafts(access: access, refresh: refresh, now: now))
        // A code whose user lost admin rights or was deleted is gone already (the user store voids it).
        // A claim the code refuses leaves it unspent for its rightful holder.
        let redemption = try await grants.redeemCode(digest: digest, clientId: client.clientId, now: now, claim: claim)
        switch redemption {
        case .redeemed(let record):
            var response = issuer.response(access: access, refresh: refresh, scope: record.scope, mode: .user)
            if let openID = record.openID {
                // OIDC Core §3.1.3.3: an OIDC request's token response carries the id_token.
                response.openID = openID
                response.idToken = try await idTokens.idToken(userName: record.userName, clientId: client.clientId, openID: openID,
                                                              authTime: record.authTime, nonce: record.nonce, accessToken: access.value, now: now)
            }
            return response
        case .replayed:
            try await audit.record(AuditAction.grantRevoke, actor: client.clientId, client: client.clientId, outcome: .failure,
                                   detail: "authorization code replayed; every token issued for it was revoked")
            throw OAuthError.invalidGrant("the authorization code was already used; the tokens issued for it are revoked")
        case .invalid:
            throw OAuthError.invalidGrant("the authorization code is invalid, expired, or was issued to another client")
        }
    }
}
