import LinkgateCore

/// How a token acts (INTERFACE §8).
public enum TokenMode: String, Sendable, Equatable {
    /// Three-legged: the user consented.
    case user
    /// Two-legged: the client acts as its execute-as user, or as itself.
    case application
    /// Two-legged, shared user base: the client acts as a named user.
    case impersonation
}

/// A stored authorization code; only its digest identifies it.
public struct AuthorizationCodeRecord: Sendable, Equatable {
    public var digest: String
    /// The token family the code starts; every token it leads to carries this id.
    public var familyId: String
    public var clientId: String
    public var userName: String
    public var redirectURI: String
    public var scope: Scope
    public var codeChallenge: String?
    public var codeChallengeMethod: PKCE.Method?
    public var issuedAt: Int64
    public var expiresAt: Int64
    /// The OpenID values of an OIDC request (INTERFACE §14); nil for plain OAuth 2.0.
    public var openID: OpenIDScope?
    /// The authorize request's `nonce` (OIDC Core §3.1.2.1), for the id_token.
    public var nonce: String?
    /// When the user logged in (the session's start): the id_token's `auth_time`.
    public var authTime: Int64?

    public init(digest: String, familyId: String, clientId: String, userName: String, redirectURI: String, scope: Scope,
                codeChallenge: String?, codeChallengeMethod: PKCE.Method?, issuedAt: Int64, expiresAt: Int64,
                openID: OpenIDScope? = nil, nonce: String? = nil, authTime: Int64? = nil) {
        self.openID = openID
        self.nonce = nonce
        self.authTime = authTime
        self.digest = digest
        self.familyId = familyId
        self.clientId = clientId
        self.userName = userName
        self.redirectURI = redirectURI
        self.scope = scope
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// A stored access or refresh token; only its digest identifies it.
public struct TokenRecord: Sendable, Equatable {
    public enum Kind: String, Sendable { case access, refresh }

    public var digest: String
    public var kind: Kind
    public var familyId: String
    public var clientId: String
    /// The acting user; nil for an application principal with no execute-as user.
    public var userName: String?
    public var scope: Scope
    public var mode: TokenMode
    public var issuedAt: Int64
    public var expiresAt: Int64
    /// The OpenID values of the grant (INTERFACE §14); nil for plain OAuth 2.0.
    public var openID: OpenIDScope?
    /// The original login's time, kept through refreshes for the id_token's `auth_time` (§14).
    public var authTime: Int64?

    public init(digest: String, kind: Kind, familyId: String, clientId: String, userName: String?, scope: Scope,
                mode: TokenMode, issuedAt: Int64, expiresAt: Int64, openID: OpenIDScope? = nil, authTime: Int64? = nil) {
        self.openID = openID
        self.authTime = authTime
        self.digest = digest
        self.kind = kind
        self.familyId = familyId
        self.clientId = clientId
        self.userName = userName
        self.scope = scope
        self.mode = mode
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// A token as minted, before it is tied to a grant.
public struct TokenDraft: Sendable, Equatable {
    public let digest: String
    public let kind: TokenRecord.Kind
    public let issuedAt: Int64
    public let expiresAt: Int64

    public init(digest: String, kind: TokenRecord.Kind, issuedAt: Int64, expiresAt: Int64) {
        self.digest = digest
        self.kind = kind
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }

    /// The token as stored for a grant.
    func record(familyId: String, clientId: String, userName: String?, scope: Scope, mode: TokenMode,
                openID: OpenIDScope?, authTime: Int64?) -> TokenRecord {
        TokenRecord(digest: digest, kind: kind, familyId: familyId, clientId: clientId, userName: userName, scope: scope,
                    mode: mode, issuedAt: issuedAt, expiresAt: expiresAt, openID: openID, authTime: authTime)
    }
}

/// A user's remembered consent to a client: an "authorized application" (INTERFACE §9).
public struct ConsentRecord: Sendable, Equatable {
    public var id: String
    public var userName: String
    public var clientId: String
    public var scope: Scope
    public var authorizedAt: Int64
    public var lastUsedAt: Int64?
    /// The OpenID values the user agreed to release (INTERFACE §14); nil: none.
    public var openID: OpenIDScope?

    public init(id: String, userName: String, clientId: String, scope: Scope, authorizedAt: Int64, lastUsedAt: Int64?,
                openID: OpenIDScope? = nil) {
        self.openID = openID
        self.id = id
        self.userName = userName
        self.clientId = clientId
        self.scope = scope
        self.authorizedAt = authorizedAt
        self.lastUsedAt = lastUsedAt
    }
}

/// What redeeming a code found, decided in one transaction.
public enum CodeRedemption: Sendable, Equatable {
    /// The code was live and is now spent; issue tokens for it.
    case redeemed(AuthorizationCodeRecord)
    /// The code had been redeemed before; the store has revoked every token of its family.
    case replayed
    /// Unknown, expired, or issued to another client.
    case invalid
}

/// What rotating a refresh token found, decided in one transaction.
public enum RefreshRotation: Sendable, Equatable {
    /// The old token is dead and the new tokens are stored.
    case rotated(old: TokenRecord)
    /// The token had been rotated before (stolen or replayed); the store has revoked its family.
    case reused
    /// Unknown, expired, revoked, or issued to another client.
    case invalid
}

/// Storage for codes, tokens and consents. Every method is one transaction; redeeming a
/// code and rotating a refresh token decide and write atomically (RFC 6749 §10.5, RFC 9700 §4.14.2).
public protocol OAuth2GrantStore: Sendable {
    func saveCode(_ code: AuthorizationCodeRecord) async throws
    /// Spends the code if it is live, belongs to `clientId` and `claim.check` accepts it, and
    /// stores `claim.tokens(for:)`, in one transaction; if the check throws, nothing changes and
    /// its error propagates. On a second redemption revokes its family.
    func redeemCode(digest: String, clientId: String, now: Int64, claim: CodeClaim) async throws -> CodeRedemption
    /// Stores freshly issued tokens, marks the client (and the user's consent) as used, and
    /// appends `audit`, all in one transaction. With `assertion`, its `jti` is spent in the same
    /// transaction (RFC 7523 §3 item 7): if it was used before, nothing is stored and the result is false.
    func saveTokens(_ tokens: [TokenRecord], audit: AuditEntry?, spending assertion: AssertionId?) async throws -> Bool
    /// Kills a live refresh token of `clientId` and stores `replacements` (built from the old
    /// record); a dead one revokes its whole family.
    func rotateRefreshToken(digest: String, clientId: String, now: Int64,
                            replacements: @escaping @Sendable (TokenRecord) -> [TokenRecord]) async throws -> RefreshRotation
    /// A live (unexpired, unrevoked, unrotated) token by digest.
    func liveToken(digest: String, now: Int64) async throws -> TokenRecord?
    /// An unexpired token that was revoked (RFC 7009), kept so its later use can be attributed.
    func revokedToken(digest: String, now: Int64) async throws -> TokenRecord?
    /// Revokes a token of `clientId` (RFC 7009): a refresh token takes its family with it.
    /// Unknown tokens and other clients' tokens are ignored. Returns whether anything was revoked.
    func revokeToken(digest: String, clientId: String, now: Int64) async throws -> Bool

    func consent(userName: String, clientId: String) async throws -> ConsentRecord?
    /// Remembers consent; a new approval keeps the higher of the old and new scope, and the
    /// union of the old and new OpenID values.
    func saveConsent(userName: String, clientId: String, scope: Scope, openID: OpenIDScope?, now: Int64) async throws -> ConsentRecord
    func consents(userName: String) async throws -> [ConsentRecord]
    /// Forgets the consent `id` of `userName` and revokes every code and token of that user for
    /// that client. False when there is no such consent for this user.
    func revokeConsent(id: String, userName: String) async throws -> Bool
    /// Records that a token of the client was used: the client's last use, and the consent's
    /// for a user-mode token (throttled by the caller).
    func recordTokenUse(clientId: String, consentUser: String?, now: Int64) async throws

    /// Usage per client id.
    func clientUsage(now: Int64) async throws -> [String: LinkUsage]
    /// The clients that use OpenID Connect (INTERFACE §14): those with a remembered consent to
    /// `openid`, or a live (unexpired, unrevoked, not rotated) token with it. For the console.
    func openIDClientIds(now: Int64) async throws -> Set<String>

    /// Deletes codes and tokens that expired before `now`; returns how many rows went.
    func pruneExpiredGrants(now: Int64) async throws -> Int
}

/// A JWT assertion's single-use identifier (RFC 7523 §3 item 7), kept until `expiresAt`.
public struct AssertionId: Sendable, Equatable {
    public var clientId: String
    public var jti: String
    public var expiresAt: Int64

    public init(clientId: String, jti: String, expiresAt: Int64) {
        self.clientId = clientId
        self.jti = jti
        self.expiresAt = expiresAt
    }
}

extension OAuth2GrantStore {
    /// Remembers a plain OAuth 2.0 consent.
    public func saveConsent(userName: String, clientId: String, scope: Scope, now: Int64) async throws -> ConsentRecord {
        try await saveConsent(userName: userName, clientId: clientId, scope: scope, openID: nil, now: now)
    }

    /// Stores tokens that spend nothing one-time (client_credentials).
    public func saveTokens(_ tokens: [TokenRecord], audit: AuditEntry?) async throws {
        _ = try await saveTokens(tokens, audit: audit, spending: nil)
    }
}
