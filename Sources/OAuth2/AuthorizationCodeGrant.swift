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
        let issuer = self.issuer, clientId = client.clientId
        // A code whose user lost admin rights or was deleted is gone already (the user store voids it).
        let redemption = try await grants.redeemCode(digest: digest, clientId: clientId, now: now) { record in
            // A refused exchange throws here, which undoes the spend: the code stays for its rightful holder.
            try Self.check(record, redirectURI: redirectURI, proof: proof)
            return issuer.records(access: access, refresh: refresh, familyId: record.familyId, clientId: clientId,
                                  userName: record.userName, accessScope: record.scope, refreshScope: record.scope, mode: .user, now: now,
                                  accessOpenID: record.openID, refreshOpenID: record.openID, authTime: record.authTime)
        }
        switch redemption {
        case .redeemed(let record):
            var response = issuer.response(access: access, refresh: refresh, scope: record.scope, mode: .user)
            if let openID = record.openID {
                // OIDC Core §3.1.3.3: an OIDC request's token response carries the id_token.
                response.openID = openID
                response.idToken = try await idTokens.idToken(userName: record.userName, clientId: clientId, openID: openID,
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

    /// RFC 6749 §4.1.3 (the same redirect_uri) and RFC 7636 §4.6 (the verifier answers the challenge).
    static func check(_ record: AuthorizationCodeRecord, redirectURI: String?, proof: PKCE.Proof?) throws {
        guard redirectURI == record.redirectURI else {
            throw OAuthError.invalidGrant("redirect_uri does not match the authorization request")
        }
        switch (record.codeChallenge, record.codeChallengeMethod, proof) {
        case (nil, _, nil):
            break
        case (nil, _, .some):
            // RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
            throw OAuthError.invalidGrant("code_verifier was sent but the authorization request had no code_challenge")
        case (.some, _, nil):
            throw OAuthError.invalidGrant("code_verifier is required for this code")
        case (.some(let challenge), let method, .some(let proof)):
            guard proof.answers(challenge, method: method ?? .plain) else {
                throw OAuthError.invalidGrant("code_verifier does not match the code_challenge")
            }
        }
    }
}
