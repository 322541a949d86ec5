import LinkgateCore
import LinkgateCrypto

/// Tokens minted without a flow, for fixture mode's `POST /__fixture/tokens` (INTERFACE §12):
/// with a user they are that user's tokens as if the user had consented (mode `user`); without
/// one they are the client's application tokens (its execute-as user, or itself). The scope is
/// bounded like any grant's: by the client's scope and the user's rights. A scope with `openid`
/// (and a user) is an OpenID Connect grant (§14): the response adds an id_token whose
/// `auth_time` is now (the user "logged in" as the tokens were minted), without `nonce`.
public struct MintedGrant: Sendable {
    public enum Failure: Error, Equatable {
        case unknownClient
        case unknownUser
        case scope(OAuthError)
    }

    public static func mint(server: AuthorizationServer, clientId: String, userName: String?, scope requested: String?,
                            expiresIn: Int64?, withRefreshToken: Bool) async throws -> TokenResponse {
        guard let client = try await server.clients.client(clientId: clientId) else { throw Failure.unknownClient }
        let named = userName ?? (client.executeAs)
        var user: User? = nil
        if let named {
            guard let found = try await server.users.user(named: named) else { throw Failure.unknownUser }
            user = found
        }
        let granted: GrantedScope
        do {
            granted = try ScopeRequest.grantAllowingOpenID(requested, ceiling: client.scope, user: user)
        } catch {
            throw Failure.scope(error)
        }
        // An id_token names the end-user who signed in (OIDC Core §2): application tokens have none.
        if granted.openID != nil && userName == nil {
            throw Failure.scope(.invalidScope("scope openid needs a user: application tokens carry no id_token"))
        }
        let scope = granted.permission
        var config = server.config
        if let expiresIn { config.accessTokenLifetime = expiresIn }
        let mode: TokenMode = userName == nil ? .application : .user
        let issuer = TokenIssuer(config: config)
        let now = server.now()
        let access = FreshToken(), refresh = withRefreshToken ? FreshToken() : nil
        // As the code grant stores them: the access token carries its OpenID values (for
        // userinfo), the refresh token the grant's and the auth_time (for refreshed id_tokens).
        let records = issuer.records(access: access, refresh: refresh, familyId: SecureRandom.timeOrderedUUID(), clientId: client.clientId,
                                     userName: user?.name, accessScope: scope, refreshScope: scope, mode: mode, now: now,
                                     accessOpenID: granted.openID, refreshOpenID: granted.openID,
                                     authTime: granted.openID == nil ? nil : now)
        var response = issuer.response(access: access, refresh: refresh, scope: scope, mode: mode)
        if let openID = granted.openID {
            response.openID = openID
            response.idToken = try await IDTokenIssuer(config: config, keys: server.signingKeys, users: server.users).idToken(
                userName: user?.name, clientId: client.clientId, openID: openID, authTime: now, nonce: nil, accessToken: access.value, now: now)
        }
        try await server.grants.saveTokens(records, audit: server.audit.entry(
            AuditAction.tokenIssue, actor: client.clientId, client: client.clientId, subject: user?.name,
            detail: "minted by the fixture control API, mode \(mode.rawValue), scope \(granted.text)"))
        return response
    }
}
