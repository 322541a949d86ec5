import LinkgateCore

/// Authorization server metadata (RFC 8414 §2).
public struct ServerMetadata: Sendable, Equatable {
    public let issuer: String
    public let authorizationEndpoint: String
    public let tokenEndpoint: String
    public let revocationEndpoint: String
    public let introspectionEndpoint: String
    public let scopesSupported: [String]
    public let responseTypesSupported: [String]
    public let grantTypesSupported: [String]
    public let tokenEndpointAuthMethodsSupported: [String]
    public let codeChallengeMethodsSupported: [String]
    /// OpenID Connect (INTERFACE §14), in both documents.
    public let userinfoEndpoint: String
    public let jwksURI: String
    /// OpenID Discovery 1.0 §3 only.
    public let subjectTypesSupported = ["public"]
    public let idTokenSigningAlgValuesSupported = ["RS256"]
    public let claimsSupported = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "preferred_username", "email"]
    public let promptValuesSupported = ["none", "login", "consent", "select_account"]
}

extension AuthorizationServer {
    public var metadata: ServerMetadata {
        ServerMetadata(
            issuer: config.issuer, authorizationEndpoint: config.authorizationEndpoint, tokenEndpoint: config.tokenEndpoint,
            revocationEndpoint: config.revocationEndpoint, introspectionEndpoint: config.introspectionEndpoint,
            scopesSupported: OpenIDScope.values + Scope.allCases.map(\.rawValue), responseTypesSupported: ["code"], grantTypesSupported: grantTypes,
            tokenEndpointAuthMethodsSupported: [ClientAuthentication.Method.basic.rawValue, ClientAuthentication.Method.post.rawValue],
            codeChallengeMethodsSupported: [PKCE.Method.s256.rawValue, PKCE.Method.plain.rawValue],
            userinfoEndpoint: config.userinfoEndpoint, jwksURI: config.jwksURI)
    }
}
