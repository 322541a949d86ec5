import LinkgateCore
import LinkgateCrypto

/// What introspection says about a token (RFC 7662 §2.2). Anything not active is exactly
/// `{"active":false}`.
public enum IntrospectionResult: Sendable, Equatable {
    case inactive
    case active(ActiveToken)
}

public struct ActiveToken: Sendable, Equatable {
    public let scope: Scope
    public let clientId: String
    /// The acting user; nil for an application principal with no user (then `sub` = client id).
    public let username: String?
    public let tokenType: String
    public let expiresAt: Int64
    public let issuedAt: Int64
    public let issuer: String
    public let mode: TokenMode
    /// RFC 8693 §4.1 actor: the client, for impersonation tokens.
    public let actor: String?

    public var subject: String { username ?? clientId }
}

struct Introspection: Sendable {
    let grants: any OAuth2GrantStore
    let issuer: String

    func introspect(_ params: OAuthParameters, now: Int64) async throws -> IntrospectionResult {
        let token = try params.required("token")
        _ = try params.single("token_type_hint")
        guard token.utf8.count <= 256, let record = try await grants.liveToken(digest: Digest.tokenKey(of: token), now: now) else {
            return .inactive
        }
        return .active(ActiveToken(
            scope: record.scope, clientId: record.clientId, username: record.userName,
            tokenType: record.kind == .access ? "bearer" : "refresh_token", expiresAt: record.expiresAt, issuedAt: record.issuedAt,
            issuer: issuer, mode: record.mode, actor: record.mode == .impersonation ? record.clientId : nil))
    }
}
