import LinkgateCore
import LinkgateCrypto

/// Tokens minted without a flow, for fixture mode's `POST /__fixture/tokens` (INTERFACE §12):
/// with a user they are that user's tokens as if the user had consented (mode `user`); without
/// one they are the client's application tokens (its execute-as user, or itself). The scope is
/// bounded like any grant's: by the client's scope and the user's rights.
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
        let scope: Scope
        do {
            scope = try ScopeRequest.grant(requested, ceiling: client.scope, user: user)
        } catch {
            throw Failure.scope(error)
        }
        var config = server.config
        if let expiresIn { config.accessTokenLifetime = expiresIn }
        let mode: TokenMode = userName == nil ? .application : .user
        let minted = TokenIssuer(config: config).mint(
            familyId: SecureRandom.uuid(), clientId: client.clientId, userName: user?.name, scope: scope, mode: mode,
            withRefreshToken: withRefreshToken, now: server.now())
        try await server.grants.saveTokens(minted.records, audit: server.audit.entry(
            AuditAction.tokenIssue, actor: client.clientId, client: client.clientId, subject: user?.name,
            detail: "minted by the fixture control API, mode \(mode.rawValue), scope \(scope.rawValue)"))
        return minted.response
    }
}
