import LinkgateCore

/// A registered OAuth 1.0a consumer: an incoming Atlassian-style application link (INTERFACE §7).
public struct Consumer: Sendable, Equatable {
    public var key: String
    public var name: String
    public var description: String?
    /// PEM SubjectPublicKeyInfo; verifies the consumer's RSA signatures.
    public var publicKey: String
    public var callback: String?
    /// 3LO: users authorize request tokens.
    public var threeLeggedAllowed: Bool
    /// 2LO: signed requests with no token act as `executeAs` (or the application).
    public var twoLeggedAllowed: Bool
    public var executeAs: String?
    /// 2LO with impersonation: `xoauth_requestor_id` names the user.
    public var impersonationAllowed: Bool
    /// Where signed requests of this consumer may come from (INTERFACE §10).
    public var allowedAddresses: AddressAllowList
    public var createdAt: Int64
    /// Signature methods this consumer may use (INTERFACE §7); default `RSA-SHA1` only.
    public var signatureMethods: [SignatureMethod]

    public init(key: String, name: String, description: String?, publicKey: String, callback: String?, threeLeggedAllowed: Bool,
                twoLeggedAllowed: Bool, executeAs: String?, impersonationAllowed: Bool, allowedAddresses: AddressAllowList = .any,
                createdAt: Int64, signatureMethods: [SignatureMethod] = SignatureMethod.defaults) {
        self.allowedAddresses = allowedAddresses
        self.key = key
        self.name = name
        self.description = description
        self.publicKey = publicKey
        self.callback = callback
        self.threeLeggedAllowed = threeLeggedAllowed
        self.twoLeggedAllowed = twoLeggedAllowed
        self.executeAs = executeAs
        self.impersonationAllowed = impersonationAllowed
        self.createdAt = createdAt
        self.signatureMethods = signatureMethods
    }
}

/// A request or access token; only its digest identifies it.
public struct OAuth1TokenRecord: Sendable, Equatable {
    public enum Kind: String, Sendable { case request, access }
    public enum Authorization: String, Sendable { case pending, approved, denied }

    public var id: String
    public var digest: String
    public var kind: Kind
    public var consumerKey: String
    /// The authorizing user (request tokens: set on approval).
    public var userName: String?
    /// `oauth_callback` of a 1.0a request token (`oob` or a URL); nil for OAuth 1.0.
    public var callback: String?
    public var verifierDigest: String?
    public var authorization: Authorization
    public var sessionHandleDigest: String?
    public var issuedAt: Int64
    public var expiresAt: Int64
    public var lastUsedAt: Int64?

    public init(id: String, digest: String, kind: Kind, consumerKey: String, userName: String?, callback: String?, verifierDigest: String?,
                authorization: Authorization, sessionHandleDigest: String?, issuedAt: Int64, expiresAt: Int64, lastUsedAt: Int64? = nil) {
        self.id = id
        self.digest = digest
        self.kind = kind
        self.consumerKey = consumerKey
        self.userName = userName
        self.callback = callback
        self.verifierDigest = verifierDigest
        self.authorization = authorization
        self.sessionHandleDigest = sessionHandleDigest
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt
    }

    /// Whether this is an OAuth 1.0a token (it had a callback, so it needs a verifier).
    public var isOneZeroA: Bool { callback != nil }
}

/// What exchanging a request token found, decided in one transaction.
public enum RequestTokenExchange: Sendable, Equatable {
    case exchanged(OAuth1TokenRecord)
    case notFound
    case notARequestToken
    case expired
    case notAuthorized
    case denied
    case wrongVerifier
    case otherConsumer
}

/// Storage for consumers, tokens and nonces. Every method is one transaction.
public protocol OAuth1Store: Sendable {
    /// `StoreError.conflict` if the key is taken.
    func createConsumer(_ consumer: Consumer) async throws
    func consumer(key: String) async throws -> Consumer?
    func consumers() async throws -> [Consumer]
    /// `StoreError.notFound` for an unknown key.
    func updateConsumer(_ consumer: Consumer) async throws
    /// Deletes a consumer and its tokens; `StoreError.notFound`.
    func deleteConsumer(key: String) async throws

    /// Records a nonce and, when it is new, appends `audit` in the same transaction; false when
    /// this consumer already used the nonce (RFC 5849 §3.3).
    func recordNonce(consumerKey: String, nonce: String, timestamp: Int64, audit: AuditEntry?) async throws -> Bool
    func saveToken(_ token: OAuth1TokenRecord) async throws
    func token(digest: String) async throws -> OAuth1TokenRecord?
    /// Approves or denies a pending, live request token; returns the updated token or nil.
    func decideRequestToken(digest: String, userName: String, approve: Bool, verifierDigest: String?, now: Int64) async throws -> OAuth1TokenRecord?
    /// Spends an approved request token (checking consumer and verifier) and stores `access` in its place.
    func exchangeRequestToken(digest: String, consumerKey: String, verifierDigest: String?, now: Int64,
                              access: @escaping @Sendable (OAuth1TokenRecord) -> OAuth1TokenRecord) async throws -> RequestTokenExchange
    /// Records a use of the consumer, and of its access token for 3LO (throttled by the caller).
    func recordUse(consumerKey: String, tokenDigest: String?, now: Int64) async throws
    /// The user's live access tokens (their authorized OAuth 1.0 applications).
    func accessTokens(userName: String, now: Int64) async throws -> [OAuth1TokenRecord]
    /// Deletes the user's access token with this id; false if there is none.
    func revokeAccessToken(id: String, userName: String) async throws -> Bool
    /// Live access tokens and the latest use, per consumer key.
    func consumerUsage(now: Int64) async throws -> [String: LinkUsage]
    /// Deletes expired tokens and nonces outside the window.
    func pruneOAuth1(now: Int64, nonceWindow: Int64) async throws -> Int
}
