import Hummingbird
import LinkgateCore
import LinkgateMetrics
import NIOCore
import OAuth2

/// OAuth 2.0 endpoints at Atlassian's paths (INTERFACE §6).
struct OAuth2Routes {
    let services: Services
    var server: AuthorizationServer { services.oauth2 }

    static let consentPath = "/plugins/servlet/oauth2/consent"
    /// Authorization request parameters carried through the consent form.
    static let requestParameters = ["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
                                    "nonce", "prompt", "max_age", "login_hint", loginAfterParameter]
    /// Set by the server when it sends the user to log in again for `prompt=login` or
    /// `max_age` (OIDC Core §3.1.2.1): a login at or after this time satisfies them. A client
    /// that sets it itself can only weaken its own request.
    static let loginAfterParameter = "linkgate_login_after"
    static let openIDParameters = ["nonce", "prompt", "max_age", "login_hint", loginAfterParameter]

    func add(to router: Router<LinkgateContext>) {
        router.get("/rest/oauth2/latest/authorize", use: authorize)
        router.get(RouterPath(Self.consentPath), use: consentPage)
        router.post(RouterPath(Self.consentPath), use: consentDecision)
        router.get("/plugins/servlet/oauth2/error", use: errorPage)
        router.post("/rest/oauth2/latest/token", use: token)
        router.post("/rest/oauth2/latest/revoke", use: revoke)
        router.post("/rest/oauth2/latest/introspect", use: introspect)
        router.get("/.well-known/oauth-authorization-server", use: metadata)
        router.get("/rest/oauth2/latest/.well-known/oauth-authorization-server", use: metadata)
    }

    // MARK: Authorization endpoint and consent (RFC 6749 §4.1.1–4.1.2)

    /// trusted client + redirect → logged in → valid request → consent remembered? → code.
    @Sendable func authorize(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (params, trusted) = try await trustedRequest(request.queryPairs)
        // Fixture mode (INTERFACE §12): `consent: "deny"` refuses every request at once, no page.
        if services.fixture?.consent == .deny {
            return seeOther(AuthorizeRequest.errorRedirect(.init(.accessDenied, "the fixture denies every authorization request"),
                                                           redirectURI: trusted.redirectURI, state: trusted.state))
        }
        let openID = Self.isOpenIDRequest(params)
        guard let session = try await services.sessions.current(request) else {
            // OIDC Core §3.1.2.6: prompt=none never shows a page.
            if openID, Self.promptNone(params) { return seeOther(Self.oidcError(.loginRequired, "the user is not logged in", trusted)) }
            throw PageRedirect(location: loginLocation(request, next: request.pathAndQuery, hint: openID ? params : nil))
        }
        let authorization = try validate(params, trusted, session.user)
        let now = services.now()
        let loginAfter = (try? params.single(Self.loginAfterParameter)).flatMap { $0 }.flatMap { Int64($0) }
        if authorization.needsLogin(loggedInAt: session.loggedInAt, now: now, loginAfter: loginAfter) {
            if authorization.prompt.contains(.none) {
                return seeOther(Self.oidcError(.loginRequired, "the user must log in again", trusted))
            }
            return seeOther(loginLocation(request, next: Self.authorizePath(request, loginAfter: now), hint: params))
        }
        // Fixture mode's `consent: "auto"` approves without the page.
        if services.fixture?.consent != .auto, try await server.needsConsent(authorization, user: session.user) {
            if authorization.prompt.contains(.none) {
                return seeOther(Self.oidcError(.consentRequired, "the user has not consented to this application", trusted))
            }
            return seeOther(Self.consentPath + "?" + (request.uri.query ?? ""))
        }
        return seeOther(try await server.approve(authorization, user: session.user, authTime: session.loggedInAt))
    }

    /// Whether the request's scope has `openid` (INTERFACE §14); its other parameters are checked later.
    static func isOpenIDRequest(_ params: OAuthParameters) -> Bool {
        guard let scope = (try? params.single("scope")).flatMap({ $0 }) else { return false }
        return scope.split(separator: " ").contains("openid")
    }

    static func promptNone(_ params: OAuthParameters) -> Bool {
        guard let prompt = (try? params.single("prompt")).flatMap({ $0 }) else { return false }
        return prompt.split(separator: " ").contains("none")
    }

    static func oidcError(_ code: OAuthError.Code, _ description: String, _ trusted: TrustedRedirect) -> String {
        AuthorizeRequest.errorRedirect(.init(code, description), redirectURI: trusted.redirectURI, state: trusted.state)
    }

    /// The login page returning to `next`; an OIDC `login_hint` prefills the user name (§14).
    private func loginLocation(_ request: Request, next: String, hint params: OAuthParameters?) -> String {
        var location = "/login?next=" + FormURLEncoded.encode(next)
        if let hint = (try? params?.single("login_hint")).flatMap({ $0 }), hint.utf8.count <= 255 {
            location += "&login_hint=" + FormURLEncoded.encode(hint)
        }
        return location
    }

    /// This authorize request again, marked so that a login from `loginAfter` on satisfies it.
    static func authorizePath(_ request: Request, loginAfter: Int64) -> String {
        let pairs = (request.queryPairs ?? []).filter { $0.name != loginAfterParameter } + [(name: loginAfterParameter, value: String(loginAfter))]
        return request.uri.path + "?" + pairs.map { FormURLEncoded.encode($0.name) + "=" + FormURLEncoded.encode($0.value) }.joined(separator: "&")
    }

    /// The consent page: who asks, for what, approve or deny.
    @Sendable func consentPage(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (params, trusted) = try await trustedRequest(request.queryPairs)
        let session = try await loggedIn(request)
        let authorization = try validate(params, trusted, session.user)
        // The OIDC parameters ride along only on an OIDC request (a plain one ignores them, RFC 6749 §3.1).
        let carried = authorization.openID == nil ? Self.requestParameters.filter { !Self.openIDParameters.contains($0) } : Self.requestParameters
        let hidden = carried.compactMap { name -> [String: String]? in
            guard let value = try? params.single(name) else { return nil }
            return ["name": name, "value": value]
        }
        return try services.pages.render("consent", [
            "client": ["name": authorization.client.name],
            "user": ["name": session.user.name, "displayName": session.user.displayName],
            "scope": GrantedScope(permission: authorization.scope, openID: authorization.openID).text,
            "scopeSummaries": (authorization.openID?.summaries ?? []) + authorization.scope.impliedSummaries,
            "redirectHost": Self.host(of: authorization.redirectURI),
            "hidden": hidden,
            "csrfToken": session.csrfToken,
        ])
    }

    /// The consent form's answer: CSRF-checked, re-validated, then a redirect with a code or `access_denied`.
    @Sendable func consentDecision(_ request: Request, context: LinkgateContext) async throws -> Response {
        let form = try await request.readPageForm()
        let params = OAuthParameters(form.filter { Self.requestParameters.contains($0.name) })
        let (_, trusted) = try await trustedRequest(params.pairs)
        guard let session = try await services.sessions.current(request) else {
            throw PageError.forbidden("Your session has ended. Log in and start again from the application.")
        }
        guard Sessions.checkCSRF(try form.single("csrf_token"), session: session) else {
            throw PageError.forbidden("The request did not carry this session's form token. Nothing was changed.")
        }
        let authorization = try validate(params, trusted, session.user)
        switch try form.single("decision") {
        case "approve": return seeOther(try await server.approve(authorization, user: session.user, authTime: session.loggedInAt))
        case "deny": return seeOther(server.deny(authorization))
        default: throw PageError(status: .badRequest, title: "Request refused", message: "Choose Allow or Deny.")
        }
    }

    /// The browser's session; without one, off to the login page, which returns here.
    private func loggedIn(_ request: Request) async throws -> Sessions.Current {
        guard let session = try await services.sessions.current(request) else {
            throw PageRedirect(location: "/login?next=" + FormURLEncoded.encode(request.pathAndQuery))
        }
        return session
    }

    /// Validates the request for `user`; errors go back to the client by redirect (RFC 6749 §4.1.2.1).
    private func validate(_ params: OAuthParameters, _ trusted: TrustedRedirect, _ user: User) throws -> AuthorizationRequest {
        do {
            return try server.validate(params, trusted: trusted, user: user)
        } catch .redirect(let error, let uri, let state) {
            throw PageRedirect(location: AuthorizeRequest.errorRedirect(error, redirectURI: uri, state: state))
        } catch .errorPage(let message) {
            throw errorPageResponse(message)
        }
    }

    /// `GET /plugins/servlet/oauth2/error`: a page for errors with nowhere safe to redirect.
    @Sendable func errorPage(_ request: Request, context: LinkgateContext) async throws -> Response {
        let code = request.uri.queryParameters["error"].map(String.init)
        let known = code.flatMap(OAuthError.Code.init(rawValue:))
        let message = known.map { "The application's request failed (\($0.rawValue))." } ?? "The application's request cannot be completed."
        return try services.pages.render("oauth2-error", ["message": message], status: .badRequest)
    }

    private func trustedRequest(_ pairs: [(name: String, value: String)]?) async throws -> (OAuthParameters, TrustedRedirect) {
        guard let pairs else { throw errorPageResponse("The request's parameters are malformed.") }
        let params = OAuthParameters(pairs)
        do {
            return (params, try await server.trustedRedirect(params))
        } catch AuthorizeFailure.errorPage(let message) {
            throw errorPageResponse(message)
        }
    }

    private func errorPageResponse(_ message: String) -> PageError {
        PageError(status: .badRequest, title: "This application's request cannot be completed", message: message)
    }

    static func host(of uri: String) -> String {
        guard let start = uri.firstRange(of: "://")?.upperBound else { return uri }
        return String(uri[start...].prefix(while: { $0 != "/" && $0 != "?" }))
    }

    // MARK: Token, revocation, introspection (RFC 6749 §3.2, RFC 7009, RFC 7662)

    /// Client credentials and codes never travel in the query (RFC 6749 §2.3.1, §3.2).
    private func tokenParameters(_ request: Request) async throws -> OAuthParameters {
        if let query = request.queryPairs, query.contains(where: { ["client_secret", "code", "refresh_token", "code_verifier", "token"].contains($0.name) }) {
            throw OAuthError.invalidRequest("credentials, codes and tokens must be sent in the form body, not the query string")
        }
        if let type = request.headers[.contentType], !type.hasASCIICaseInsensitivePrefix("application/x-www-form-urlencoded") {
            throw OAuthError.invalidRequest("the body must be application/x-www-form-urlencoded")
        }
        return OAuthParameters(try await request.readForm())
    }

    @Sendable func token(_ request: Request, context: LinkgateContext) async throws -> Response {
        try await oauthEndpoint {
            let params = try await tokenParameters(request)
            let issued = try await server.token(params, authorization: request.headers[.authorization],
                                                from: services.auth.addresses.address(request, context))
            // Issued, so grant_type is one of the four served: a bounded label.
            LinkgateMetrics.tokenIssued(protocol: "oauth2", grant: (try? params.single("grant_type")).flatMap { $0 } ?? "unknown",
                                        mode: issued.mode.rawValue)
            return tokenResponse(issued)
        }
    }

    @Sendable func revoke(_ request: Request, context: LinkgateContext) async throws -> Response {
        try await oauthEndpoint {
            let params = try await tokenParameters(request)
            try await server.revoke(params, authorization: request.headers[.authorization],
                                    from: services.auth.addresses.address(request, context))
            var headers: HTTPFields = [.cacheControl: "no-store"]
            headers[.pragma] = "no-cache"
            return Response(status: .ok, headers: headers)
        }
    }

    /// Callers: any registered client, or an admin user, by HTTP Basic or `client_secret_post`.
    @Sendable func introspect(_ request: Request, context: LinkgateContext) async throws -> Response {
        try await oauthEndpoint {
            let params = try await tokenParameters(request)
            try await authenticateIntrospectionCaller(request, context, params)
            switch try await server.introspect(params) {
            case .inactive:
                return jsonResponse(.object(["active": .bool(false)]))
            case .active(let token):
                return jsonResponse(.object([
                    "active": .bool(true), "scope": .string(token.scope.rawValue), "client_id": .string(token.clientId),
                    "username": .optional(token.username), "sub": .string(token.subject), "token_type": .string(token.tokenType),
                    "exp": .number(Double(token.expiresAt)), "iat": .number(Double(token.issuedAt)), "iss": .string(token.issuer),
                    "mode": .string(token.mode.rawValue), "act": token.actor.map { .object(["sub": .string($0)]) } ?? .null,
                ]))
            }
        }
    }

    private func authenticateIntrospectionCaller(_ request: Request, _ context: LinkgateContext, _ params: OAuthParameters) async throws {
        let authorization = request.headers[.authorization]
        // An admin user may introspect with HTTP Basic. A Basic id that names no client is checked
        // as a user's password (and throttled as one), never counted as a failed client authentication.
        if let authorization, Authenticator.split(authorization).scheme == "basic", !params.contains("client_secret"),
           try await !server.namesClient(basic: authorization) {
            do {
                let principal = try await services.auth.principal(request, context)
                if principal.user?.admin == true, principal.allows(.systemAdmin) { return }
            } catch let error as APIError where error.status == .tooManyRequests {
                throw error
            } catch is APIError {}
            throw ClientAuthentication.Failure(error: .invalidClient("client authentication failed"), usedBasic: true)
        }
        _ = try await server.authenticateClient(params, authorization: authorization, from: services.auth.addresses.address(request, context))
    }

    // MARK: Metadata (RFC 8414)

    @Sendable func metadata(_ request: Request, context: LinkgateContext) async throws -> Response {
        let m = server.metadata
        func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
        var response = jsonResponse(.object([
            "issuer": .string(m.issuer), "authorization_endpoint": .string(m.authorizationEndpoint),
            "token_endpoint": .string(m.tokenEndpoint), "revocation_endpoint": .string(m.revocationEndpoint),
            "introspection_endpoint": .string(m.introspectionEndpoint), "scopes_supported": strings(m.scopesSupported),
            "userinfo_endpoint": .string(m.userinfoEndpoint), "jwks_uri": .string(m.jwksURI),
            "response_types_supported": strings(m.responseTypesSupported), "grant_types_supported": strings(m.grantTypesSupported),
            "token_endpoint_auth_methods_supported": strings(m.tokenEndpointAuthMethodsSupported),
            "revocation_endpoint_auth_methods_supported": strings(m.tokenEndpointAuthMethodsSupported),
            "introspection_endpoint_auth_methods_supported": strings(m.tokenEndpointAuthMethodsSupported),
            "code_challenge_methods_supported": strings(m.codeChallengeMethodsSupported),
        ]))
        response.headers[.cacheControl] = "public, max-age=300"
        response.headers[.pragma] = nil
        return response
    }
}
