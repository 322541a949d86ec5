import Hummingbird
import LinkgateCore
import LinkgateMetrics
import NIOCore
import OAuth1

/// OAuth 1.0a provider endpoints at Atlassian's paths, and applinks discovery (INTERFACE §7).
struct OAuth1Routes {
    let services: Services
    var flow: ThreeLeggedFlow { services.oauth1Flow }
    var realm: String { services.config.baseURL }

    func add(to router: Router<LinkgateContext>) {
        for method in [HTTPRequest.Method.post, .get] {
            router.on("/plugins/servlet/oauth/request-token", method: method, use: requestToken)
            router.on("/plugins/servlet/oauth/access-token", method: method, use: accessToken)
        }
        router.get("/plugins/servlet/oauth/authorize", use: authorizePage)
        router.post("/plugins/servlet/oauth/authorize", use: authorizeDecision)
        router.get("/plugins/servlet/oauth/consumer-info", use: consumerInfo)
        router.get("/rest/applinks/1.0/manifest", use: manifest)
    }

    // MARK: Token endpoints (RFC 5849 §2.1, §2.3)

    @Sendable func requestToken(_ request: Request, context: LinkgateContext) async throws -> Response {
        try await tokenEndpoint(request, context) { try await flow.requestToken($0) }
    }

    @Sendable func accessToken(_ request: Request, context: LinkgateContext) async throws -> Response {
        try await tokenEndpoint(request, context) { signed in
            let issued = try await flow.accessToken(signed)
            // RFC 5849 §2.3: the token credentials of a three-legged grant, acting as the user.
            LinkgateMetrics.tokenIssued(protocol: "oauth1", grant: "access_token", mode: "user")
            return issued
        }
    }

    private func tokenEndpoint(_ request: Request, _ context: LinkgateContext, _ body: (SignedRequest) async throws -> [(name: String, value: String)]) async throws -> Response {
        do {
            var form: [(name: String, value: String)] = []
            if request.headers[.contentType]?.hasASCIICaseInsensitivePrefix("application/x-www-form-urlencoded") == true {
                do { form = try await request.readForm() } catch let error as APIError where error.status == .badRequest {
                    throw OAuth1Problem(.parameterRejected, "the form body is malformed", parameters: [("oauth_parameters_rejected", "body")])
                }
            }
            return formResponse(try await body(try services.auth.signedRequest(request, context, form: form)))
        } catch let problem as OAuth1Problem {
            return oauth1TokenEndpointError(problem, realm: realm)
        }
    }

    // MARK: User authorization (RFC 5849 §2.2)

    @Sendable func authorizePage(_ request: Request, context: LinkgateContext) async throws -> Response {
        let token = request.uri.queryParameters["oauth_token"].flatMap { try? FormURLEncoded.decode($0) } ?? ""
        guard let (_, consumer) = try await flow.pendingRequest(token: token) else {
            throw PageError(status: .badRequest, title: "This authorization request cannot be completed",
                            message: "The request token is unknown, has expired, or was already used. Start again from the application.")
        }
        guard let session = try await services.sessions.current(request) else {
            return seeOther("/login?next=" + FormURLEncoded.encode(request.pathAndQuery))
        }
        return try services.pages.render("oauth1-authorize", [
            "consumer": ["name": consumer.name, "description": consumer.description as Any],
            "user": ["name": session.user.name, "displayName": session.user.displayName],
            "oauthToken": token, "csrfToken": session.csrfToken,
        ])
    }

    @Sendable func authorizeDecision(_ request: Request, context: LinkgateContext) async throws -> Response {
        let form = try await request.readPageForm()
        guard let session = try await services.sessions.current(request) else {
            throw PageError.forbidden("Your session has ended. Log in and start again from the application.")
        }
        guard Sessions.checkCSRF(try form.single("csrf_token"), session: session) else {
            throw PageError.forbidden("The request did not carry this session's form token. Nothing was changed.")
        }
        let approve: Bool
        switch try form.single("decision") {
        case "approve": approve = true
        case "deny": approve = false
        default: throw PageError(status: .badRequest, title: "Request refused", message: "Choose Allow or Deny.")
        }
        let token = try form.single("oauth_token") ?? ""
        let consumerName = try await flow.pendingRequest(token: token)?.consumer.name ?? "The application"
        switch try await flow.decide(token: token, user: session.user, approve: approve) {
        case .redirect(let location):
            return seeOther(location)
        case .showVerifier(let verifier):
            return try services.pages.render("oauth1-result", ["approved": true, "verifier": verifier, "consumer": consumerName])
        case .returnToApplication:
            return try services.pages.render("oauth1-result", ["approved": true, "consumer": consumerName])
        case .denied:
            return try services.pages.render("oauth1-result", ["denied": true, "consumer": consumerName])
        case .invalid:
            throw PageError(status: .badRequest, title: "This authorization request cannot be completed",
                            message: "The request token is unknown, has expired, or was already used. Start again from the application.")
        }
    }

    // MARK: Discovery

    /// This server's own consumer information: its RSA public key (Atlassian's format).
    @Sendable func consumerInfo(_ request: Request, context: LinkgateContext) async throws -> Response {
        let identity = try await services.identity.value()
        let info = ConsumerInfo(key: identity.consumerKey, name: "Linkgate", publicKey: identity.publicKey.base64DER,
                                description: "Linkgate at \(services.config.baseURL)", callback: nil)
        return Response(status: .ok, headers: [.contentType: "application/xml; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: info.xml)))
    }

    static let inboundTypes = [
        "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider",
        "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider",
        "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthWithImpersonationAuthenticationProvider",
    ]

    /// The applinks manifest: XML, or JSON when asked for (`Accept: application/json`).
    @Sendable func manifest(_ request: Request, context: LinkgateContext) async throws -> Response {
        let id = try await services.identity.value().applicationId, base = services.config.baseURL
        if request.headers[.accept]?.lowercased().contains("application/json") == true {
            return jsonResponse(.object([
                "id": .string(id), "name": .string("Linkgate"), "typeId": .string("generic"), "version": .string(linkgateVersion),
                "buildNumber": .number(Double(linkgateBuildNumber)), "applinksVersion": .string(applinksVersion),
                "inboundAuthenticationTypes": .array(Self.inboundTypes.map(JSONValue.string)), "outboundAuthenticationTypes": .array([]),
                "publicSignup": .bool(false), "url": .string(base),
            ]))
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<manifest>"
        xml += "<id>\(id)</id><name>Linkgate</name><typeId>generic</typeId><version>\(linkgateVersion)</version>"
        xml += "<buildNumber>\(linkgateBuildNumber)</buildNumber><applinksVersion>\(applinksVersion)</applinksVersion>"
        for type in Self.inboundTypes { xml += "<inboundAuthenticationTypes>\(type)</inboundAuthenticationTypes>" }
        xml += "<publicSignup>false</publicSignup><url>\(ConsumerInfo.escape(base))</url></manifest>\n"
        return Response(status: .ok, headers: [.contentType: "application/xml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: xml)))
    }
}

let linkgateVersion = "0.1.0"
let linkgateBuildNumber = 1
let applinksVersion = "9.0.0"
