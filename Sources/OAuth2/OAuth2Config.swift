/// Lifetimes and the issuer of the OAuth 2.0 provider (INTERFACE §6 defaults).
public struct OAuth2Config: Sendable {
    /// The base URL; `iss` of introspection and the metadata `issuer`.
    public var issuer: String
    public var codeLifetime: Int64 = 600
    public var accessTokenLifetime: Int64 = 3600
    public var refreshTokenLifetime: Int64 = 90 * 24 * 3600

    public init(issuer: String) {
        self.issuer = issuer
    }

    public var authorizationEndpoint: String { issuer + "/rest/oauth2/latest/authorize" }
    public var tokenEndpoint: String { issuer + "/rest/oauth2/latest/token" }
    public var revocationEndpoint: String { issuer + "/rest/oauth2/latest/revoke" }
    public var introspectionEndpoint: String { issuer + "/rest/oauth2/latest/introspect" }
    public var userinfoEndpoint: String { issuer + "/rest/oauth2/latest/userinfo" }
    public var jwksURI: String { issuer + "/rest/oauth2/latest/jwks" }
}
