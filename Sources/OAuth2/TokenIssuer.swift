import Dispatch
import LinkgateCore
import LinkgateCrypto

/// The body of a successful token response (RFC 6749 §5.1).
public struct TokenResponse: Sendable, Equatable {
    public let accessToken: String
    public let expiresIn: Int64
    public let refreshToken: String?
    public let scope: Scope
    /// Whose the token is (INTERFACE §8); not sent to the client, counted in metrics (§15).
    public let mode: TokenMode
    /// The OpenID values granted with an OIDC request (INTERFACE §14).
    public var openID: OpenIDScope? = nil
    /// The OIDC id_token (OIDC Core §3.1.3.3), with `openid`.
    public var idToken: String? = nil

    /// The response's `scope`: the OIDC values, then the permission value (INTERFACE §14).
    public var scopeText: String { GrantedScope(permission: scope, openID: openID).text }
}

/// Signs id_tokens for the token endpoint (INTERFACE §14).
struct IDTokenIssuer: Sendable {
    let config: OAuth2Config
    let keys: SigningKeySource?
    let users: any UserStore

    /// A signed id_token for the tokens just issued; `server_error` without keys, `invalid_grant`
    /// when the user is gone.
    func idToken(userName: String?, clientId: String, openID: OpenIDScope, authTime: Int64?, nonce: String?,
                 accessToken: String, now: Int64) async throws -> String {
        guard let keys else { throw OAuthError(.serverError, "this server has no id_token signing key") }
        guard let userName, let user = try await users.user(named: userName) else {
            throw OAuthError.invalidGrant("the grant's user no longer exists")
        }
        let claims = IDToken.claims(issuer: config.issuer, user: user, clientId: clientId, openID: openID, authTime: authTime,
                                    nonce: nonce, accessToken: accessToken, issuedAt: now, lifetime: config.accessTokenLifetime)
        let key = try await keys().current
        // An RS256 signature is about half a millisecond of CPU: made off the event loop that
        // read the request, so the other connections on that loop are not held up meanwhile.
        return try await withCheckedThrowingContinuation { continuation in
            Self.signing.async { continuation.resume(with: Result { try IDToken.sign(claims, with: key) }) }
        }
    }

    private static let signing = DispatchQueue(label: "linkgate.id-token-signing", attributes: .concurrent)
}

/// A new token: the value the client gets (time-ordered, 256 random bits) and the digest it is
/// stored under. Made before the store operation that saves it: the code and refresh grants build
/// their records inside that operation, which SQLite's serial writer runs, so no SHA-256 is done there.
struct FreshToken: Sendable {
    let value: String
    let digest: String

    init() {
        value = SecureRandom.timeOrderedToken()
        digest = Digest.tokenKey(of: value)
    }
}

/// Mints tokens: 256 random bits each after a time prefix, stored only under their SHA-256 digest.
struct TokenIssuer: Sendable {
    let config: OAuth2Config

    struct Minted {
        let records: [TokenRecord]
        let response: TokenResponse
    }

    /// Fresh tokens and their records.
    func mint(familyId: String, clientId: String, userName: String?, scope: Scope, mode: TokenMode,
              withRefreshToken: Bool, now: Int64) -> Minted {
        let access = FreshToken()
        let refresh = withRefreshToken ? FreshToken() : nil
        let records = self.records(access: access, refresh: refresh, familyId: familyId, clientId: clientId, userName: userName,
                                   accessScope: scope, refreshScope: scope, mode: mode, now: now)
        return Minted(records: records, response: response(access: access, refresh: refresh, scope: scope, mode: mode))
    }

    /// Records for already generated token values.
    /// With OIDC values (INTERFACE §14) the access token carries `accessOpenID` (for userinfo)
    /// and the refresh token the grant's `refreshOpenID` and `authTime` (for later id_tokens).
    func records(access: FreshToken, refresh: FreshToken?, familyId: String, clientId: String, userName: String?,
                 accessScope: Scope, refreshScope: Scope, mode: TokenMode, now: Int64,
                 accessOpenID: OpenIDScope? = nil, refreshOpenID: OpenIDScope? = nil, authTime: Int64? = nil) -> [TokenRecord] {
        drafts(access: access, refresh: refresh, now: now).map { draft in
            let isAccess = draft.kind == .access
            return draft.record(familyId: familyId, clientId: clientId, userName: userName, scope: isAccess ? accessScope : refreshScope,
                                mode: mode, openID: isAccess ? accessOpenID : refreshOpenID, authTime: authTime)
        }
    }

    /// The access token (and refresh token) issued at `now`, before they are tied to a grant.
    func drafts(access: FreshToken, refresh: FreshToken?, now: Int64) -> [TokenDraft] {
        var drafts = [TokenDraft(digest: access.digest, kind: .access, issuedAt: now, expiresAt: now + config.accessTokenLifetime)]
        if let refresh {
            drafts.append(TokenDraft(digest: refresh.digest, kind: .refresh, issuedAt: now, expiresAt: now + config.refreshTokenLifetime))
        }
        return drafts
    }

    func response(access: FreshToken, refresh: FreshToken?, scope: Scope, mode: TokenMode) -> TokenResponse {
        TokenResponse(accessToken: access.value, expiresIn: config.accessTokenLifetime, refreshToken: refresh?.value, scope: scope, mode: mode)
    }
}
