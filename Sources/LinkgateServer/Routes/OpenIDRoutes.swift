import Hummingbird
import LinkgateCore
import NIOCore
import OAuth2

/// OpenID Connect on top of the OAuth 2.0 endpoints (INTERFACE §14): discovery, the JWKS and userinfo.
struct OpenIDRoutes {
    let services: Services
    var server: AuthorizationServer { services.oauth2 }

    func add(to router: Router<LinkgateContext>) {
        router.get("/.well-known/openid-configuration", use: discovery)
        router.get("/rest/oauth2/latest/jwks", use: jwks)
        router.get("/rest/oauth2/latest/userinfo", use: userinfo)
        router.post("/rest/oauth2/latest/userinfo", use: userinfo)
    }

    /// OpenID Connect Discovery 1.0 §3, consistent with the RFC 8414 document (`issuer` = BASE).
    @Sendable func discovery(_ request: Request, context: LinkgateContext) async throws -> Response {
        let m = server.metadata
        func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
        return Self.publicDocument(.object([
            "issuer": .string(m.issuer), "authorization_endpoint": .string(m.authorizationEndpoint),
            "token_endpoint": .string(m.tokenEndpoint), "userinfo_endpoint": .string(m.userinfoEndpoint),
            "jwks_uri": .string(m.jwksURI), "revocation_endpoint": .string(m.revocationEndpoint),
            "introspection_endpoint": .string(m.introspectionEndpoint),
            "scopes_supported": strings(m.scopesSupported), "response_types_supported": strings(m.responseTypesSupported),
            "response_modes_supported": strings(["query"]),
            "grant_types_supported": strings(m.grantTypesSupported),
            "subject_types_supported": strings(m.subjectTypesSupported),
            "id_token_signing_alg_values_supported": strings(m.idTokenSigningAlgValuesSupported),
            "token_endpoint_auth_methods_supported": strings(m.tokenEndpointAuthMethodsSupported),
            "claims_supported": strings(m.claimsSupported),
            "code_challenge_methods_supported": strings(m.codeChallengeMethodsSupported),
            "prompt_values_supported": strings(m.promptValuesSupported),
            "claims_parameter_supported": .bool(false), "request_parameter_supported": .bool(false),
            "request_uri_parameter_supported": .bool(false),
        ]), maxAge: 300)
    }

    /// The signing keys as a JWK set (RFC 7517 §5): the newest and the older ones whose id_tokens
    /// may still be valid (INTERFACE §14); short-lived in caches so a new key shows soon.
    @Sendable func jwks(_ request: Request, context: LinkgateContext) async throws -> Response {
        guard let source = server.signingKeys else { return Self.publicDocument(.object(["keys": .array([])]), maxAge: 60) }
        let published = try await source().published(at: services.now(), tokenLifetime: server.config.accessTokenLifetime)
        return Self.publicDocument(.object(["keys": .array(published.map(\.jwk))]), maxAge: 60)
    }

    /// OIDC Core §5.3: the claims the access token's OpenID values allow. RFC 6750 §3.1: no
    /// token → `401` with the bare challenge, a bad one → `invalid_token`, one without `openid`
    /// → `403 insufficient_scope`.
    @Sendable func userinfo(_ request: Request, context: LinkgateContext) async throws -> Response {
        let authorizations = request.headers[values: .authorization]
        guard authorizations.count == 1, let authorization = authorizations.first,
              Authenticator.split(authorization).scheme == "bearer" else {
            if authorizations.count > 1 { throw APIError.invalidRequest("more than one Authorization header") }
            throw APIError.unauthorized("a Bearer access token is required", challenge: Authenticator.bearerChallenge)
        }
        let (record, user) = try await services.auth.bearerToken(Authenticator.split(authorization).credential,
                                                                 from: services.auth.addresses.address(request, context),
                                                                 invalidCode: "invalid_token")
        guard let openID = record.openID, let user else {
            throw APIError(.forbidden, code: "insufficient_scope", "the access token was not issued for scope openid",
                           headers: [.wwwAuthenticate: Authenticator.bearerChallenge + ", error=\"insufficient_scope\", scope=\"openid\""])
        }
        return jsonResponse(.object(UserInfo.claims(user: user, openID: openID)))
    }

    /// A public JSON document that caches may keep for `maxAge` seconds.
    static func publicDocument(_ value: JSONValue, maxAge: Int) -> Response {
        var response = jsonResponse(value)
        response.headers[.cacheControl] = "public, max-age=\(maxAge)"
        response.headers[.pragma] = nil
        return response
    }
}
