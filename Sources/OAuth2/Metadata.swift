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
}

extension AuthorizationServer {
    public var metadata: ServerMetadata {
        ServerMetadata(
            issuer: config.issuer, authorizationEndpoint: config.authorizationEndpoint, tokenEndpoint: config.tokenEndpoint,
            revocationEndpoint: config.revocationEndpoint, introspectionEndpoint: config.introspectionEndpoint,
            scopesSupported: Scope.allCases.map(\.rawValue), responseTypesSupported: ["code"], grantTypesSupported: grantTypes,
            tokenEndpointAuthMethodsSupported: [ClientAuthentication.Method.basic.rawValue, ClientAuthentication.Method.post.rawValue],
            codeChallengeMethodsSupported: [PKCE.Method.s256.rawValue, PKCE.Method.plain.rawValue])
    }
}
