import LinkgateCore
import LinkgateCrypto

/// `grant_type=refresh_token` with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2).
struct RefreshTokenGrant: Sendable {
    let grants: any OAuth2GrantStore
    let users: any UserStore
    let issuer: TokenIssuer
    let idTokens: IDTokenIssuer
    let audit: AuditLog

    func refresh(_ params: OAuthParameters, client: OAuth2Client, now: Int64) async throws -> TokenResponse {
        let token = try params.required("refresh_token")
        let requestedScope = try params.single("scope")
        guard token.utf8.count <= 256 else { throw OAuthError.invalidGrant("the refresh token is invalid") }
        let digest = Digest.tokenKey(of: token)

        // RFC 6749 §6: a narrower scope may be asked for the new access token, never a wider one.
        // Checked before rotating, so a refused request changes nothing.
        var narrowedScope: GrantedScope? = nil
        if let requestedScope, let current = try await grants.liveToken(digest: digest, now: now),
           current.kind == .refresh, current.clientId == client.clientId {
            let user = try await current.userName.asyncMap { try await users.user(named: $0) } ?? nil
            let narrowed = try ScopeRequest.narrow(requestedScope, of: GrantedScope(permission: current.scope, openID: current.openID), user: user)
            narrowedScope = narrowed
        }
        let accessScope = narrowedScope

        let access = FreshToken(), refresh = FreshToken()
        let issuer = self.issuer
        let rotation = try await grants.rotateRefreshToken(digest: digest, clientId: client.clientId, now: now) { old in
            // The new refresh token keeps the grant's scope; only the access token may be narrower.
            // The OIDC values and the original login's time travel with the grant (INTERFACE §14).
            issuer.records(access: access, refresh: refresh, familyId: old.familyId, clientId: old.clientId, userName: old.userName,
                           accessScope: accessScope?.permission ?? old.scope, refreshScope: old.scope, mode: old.mode, now: now,
                           accessOpenID: accessScope.map(\.openID) ?? old.openID, refreshOpenID: old.openID, authTime: old.authTime)
        }
        switch rotation {
        case .rotated(let old):
            var response = issuer.response(access: access, refresh: refresh, scope: accessScope?.permission ?? old.scope, mode: old.mode)
            if let openID = accessScope.map(\.openID) ?? old.openID {
                // OIDC Core §12.2: a new id_token whose auth_time is the original login's; no nonce.
                response.openID = openID
                response.idToken = try await idTokens.idToken(userName: old.userName, clientId: old.clientId, openID: openID,
                                                              authTime: old.authTime, nonce: nil, accessToken: access.value, now: now)
            }
            return response
        case .reused:
            try await audit.record(AuditAction.grantRevoke, actor: client.clientId, client: client.clientId, outcome: .failure,
                                   detail: "rotated refresh token reused; the whole grant was revoked")
            throw OAuthError.invalidGrant("the refresh token was already used; every token of its grant is revoked")
        case .invalid:
            throw OAuthError.invalidGrant("the refresh token is invalid, expired, revoked, or was issued to another client")
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}
