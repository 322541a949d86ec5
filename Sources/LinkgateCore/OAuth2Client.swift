/// A registered OAuth 2.0 client: one incoming application link (INTERFACE §5).
public struct OAuth2Client: Sendable, Equatable {
    /// Stable entity id (UUID).
    public var id: String
    /// Public client identifier (32 hex characters, as Atlassian's).
    public var clientId: String
    /// SHA-256 digest of the client secret; the secret itself is shown once.
    public var secretDigest: String
    public var name: String
    /// Exact-match redirect URIs.
    public var redirects: [String]
    /// Ceiling of what tokens for this client may hold.
    public var scope: Scope
    /// Whether the client may impersonate users with a JWT-bearer assertion (§8).
    public var impersonation: Bool
    /// PEM SubjectPublicKeyInfo used to verify the client's JWT assertions.
    public var publicKey: String?
    /// The user a two-legged token acts as; nil: the application itself.
    public var executeAs: String?
    /// Where requests with this client's credentials may come from (INTERFACE §10).
    public var allowedAddresses: AddressAllowList
    public var createdAt: Int64

    public init(id: String, clientId: String, secretDigest: String, name: String, redirects: [String], scope: Scope,
                impersonation: Bool, publicKey: String?, executeAs: String?, allowedAddresses: AddressAllowList = .any, createdAt: Int64) {
        self.id = id
        self.clientId = clientId
        self.secretDigest = secretDigest
        self.name = name
        self.redirects = redirects
        self.scope = scope
        self.impersonation = impersonation
        self.publicKey = publicKey
        self.executeAs = executeAs
        self.allowedAddresses = allowedAddresses
        self.createdAt = createdAt
    }
}

/// What an admin sends to register a client.
public struct NewOAuth2Client: Sendable, Equatable {
    public var name: String
    public var redirects: [String]
    public var scope: Scope
    public var impersonation: Bool
    public var publicKey: String?
    public var executeAs: String?
    public var allowedAddresses: AddressAllowList

    public init(name: String, redirects: [String], scope: Scope, impersonation: Bool = false,
                publicKey: String? = nil, executeAs: String? = nil, allowedAddresses: AddressAllowList = .any) {
        self.name = name
        self.redirects = redirects
        self.scope = scope
        self.impersonation = impersonation
        self.publicKey = publicKey
        self.executeAs = executeAs
        self.allowedAddresses = allowedAddresses
    }
}

/// The keys a `PUT` may change on a client; nil leaves a value as it is, `.some(nil)` clears it.
public struct OAuth2ClientChange: Sendable, Equatable {
    public var name: String?
    public var redirects: [String]?
    public var scope: Scope?
    public var impersonation: Bool?
    public var publicKey: String??
    public var executeAs: String??
    public var allowedAddresses: AddressAllowList?

    public init(name: String? = nil, redirects: [String]? = nil, scope: Scope? = nil, impersonation: Bool? = nil,
                publicKey: String?? = nil, executeAs: String?? = nil, allowedAddresses: AddressAllowList? = nil) {
        self.allowedAddresses = allowedAddresses
        self.name = name
        self.redirects = redirects
        self.scope = scope
        self.impersonation = impersonation
        self.publicKey = publicKey
        self.executeAs = executeAs
    }
}
