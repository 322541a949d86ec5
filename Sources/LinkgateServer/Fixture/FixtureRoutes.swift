import Foundation
import LinkgateCrypto
import Hummingbird
import LinkgateCore
import OAuth1
import OAuth2

/// Fixture mode's control API (INTERFACE §12) under `/__fixture/`, on the main fixture server
/// and on every sandbox: reset, clock, headless authorize, minted tokens, faults, the request
/// journal and sandboxes. Every call needs `Authorization: Bearer <controlToken>`.
struct FixtureRoutes {
    let services: Services
    let instance: FixtureInstance
    var mode: FixtureMode { instance.mode }
    var host: FixtureHost { instance.host }

    func add(to router: Router<LinkgateContext>) {
        let group = router.group("/__fixture").add(middleware: ControlTokenMiddleware(token: host.controlToken))
        group.post("/reset", use: reset)
        group.get("/clock", use: clock)
        group.post("/clock", use: setClock)
        group.post("/authorize", use: authorize)
        group.post("/oauth1/authorize", use: oauth1Authorize)
        group.post("/tokens", use: tokens)
        group.post("/faults", use: addFault)
        group.get("/faults", use: faults)
        group.delete("/faults", use: deleteFaults)
        group.delete("/faults/:id", use: deleteFault)
        group.get("/requests", use: requests)
        group.post("/sandboxes", use: createSandbox)
        group.delete("/sandboxes/:id", use: deleteSandbox)
    }

    static func noContent() -> Response { Response(status: .noContent, headers: [.cacheControl: "no-store"]) }

    @Sendable func reset(_ request: Request, context: LinkgateContext) async throws -> Response {
        try await instance.reset()
        return Self.noContent()
    }

    @Sendable func clock(_ request: Request, context: LinkgateContext) async throws -> Response {
        jsonResponse(.object(["now": .number(Double(mode.clock.now()))]))
    }

    /// `{"set":<epoch>}` or `{"advance":<seconds>}`.
    @Sendable func setClock(_ request: Request, context: LinkgateContext) async throws -> Response {
        let body = try await JSONBody.read(request, allowed: ["set", "advance"])
        let set = try body.integer("set", in: 0...Int64(Int32.max) * 1000)
        let advance = try body.integer("advance", in: -Int64(Int32.max)...Int64(Int32.max) * 100)
        let now: Int64
        switch (set, advance) {
        case (let epoch?, nil): now = mode.clock.set(epoch)
        case (nil, let seconds?): now = mode.clock.advance(seconds)
        default: throw APIError.invalidRequest("give exactly one of 'set' (epoch seconds) or 'advance' (seconds)")
        }
        return jsonResponse(.object(["now": .number(Double(now))]))
    }

    /// INTERFACE §6's authorize and consent for `user`, without a browser (as if they had just logged in).
    @Sendable func authorize(_ request: Request, context: LinkgateContext) async throws -> Response {
        let body = try await JSONBody.read(request, allowed: ["url", "user", "decision", "scope"])
        let url = try body.string("url"), userName = try body.string("user")
        let approve = try Self.decision(body)
        guard let components = URLComponents(string: url), let query = try? FormURLEncoded.parse(components.percentEncodedQuery ?? "") else {
            throw APIError.invalidRequest("url: not a URL with a valid query")
        }
        var pairs = query
        if let scope = try body.optionalString("scope") { pairs = pairs.filter { $0.name != "scope" } + [("scope", scope)] }
        let params = OAuthParameters(pairs)
        let server = services.oauth2
        let trusted: TrustedRedirect
        do {
            trusted = try await server.trustedRedirect(params)
        } catch AuthorizeFailure.errorPage(let message) {
            throw APIError.invalidRequest(message)
        }
        guard let user = try await services.store.user(named: userName) else { throw APIError.invalidRequest("user: no such user") }
        let authorization: AuthorizationRequest
        do {
            authorization = try server.validate(params, trusted: trusted, user: user)
        } catch .redirect(let error, let uri, let state) {
            return Self.redirect(AuthorizeRequest.errorRedirect(error, redirectURI: uri, state: state))
        } catch .errorPage(let message) {
            throw APIError.invalidRequest(message)
        }
        // The headless approval stands for a login now: an OIDC code's id_token gets auth_time = now (§14).
        return Self.redirect(approve ? try await server.approve(authorization, user: user, authTime: mode.clock.now()) : server.deny(authorization))
    }

    static func redirect(_ location: String) -> Response { jsonResponse(.object(["redirect": .string(location)])) }

    static func decision(_ body: JSONBody) throws -> Bool {
        switch try body.optionalString("decision") ?? "approve" {
        case "approve": return true
        case "deny": return false
        default: throw ValidationError("decision", "must be \"approve\" or \"deny\"")
        }
    }

    /// INTERFACE §7's authorize decision on a request token, without a browser.
    @Sendable func oauth1Authorize(_ request: Request, context: LinkgateContext) async throws -> Response {
        let body = try await JSONBody.read(request, allowed: ["oauthToken", "user", "decision"])
        let token = try body.string("oauthToken"), userName = try body.string("user")
        let approve = try Self.decision(body)
        guard let user = try await services.store.user(named: userName) else { throw APIError.invalidRequest("user: no such user") }
        var verifier: String? = nil, redirect: String? = nil
        switch try await services.oauth1Flow.decide(token: token, user: user, approve: approve) {
        case .redirect(let location):
            redirect = location
            verifier = approve ? URLComponents(string: location)?.queryItems?.last { $0.name == "oauth_verifier" }?.value : nil
        case .showVerifier(let value): verifier = value
        case .returnToApplication, .denied: break
        case .invalid: throw APIError.invalidRequest("oauthToken: the request token is unknown, expired or already decided")
        }
        return jsonResponse(.object(["verifier": .optional(verifier), "redirect": .optional(redirect)]))
    }

    /// Tokens without a flow: §6's token response.
    @Sendable func tokens(_ request: Request, context: LinkgateContext) async throws -> Response {
        let body = try await JSONBody.read(request, allowed: ["clientId", "user", "scope", "expiresIn", "refresh"])
        let issued: TokenResponse
        do {
            issued = try await MintedGrant.mint(
                server: services.oauth2, clientId: try body.string("clientId"), userName: try body.nullableString("user") ?? nil,
                scope: try body.nullableString("scope") ?? nil, expiresIn: try body.integer("expiresIn", in: 1...315_360_000),
                withRefreshToken: try body.bool("refresh") ?? false)
        } catch MintedGrant.Failure.unknownClient {
            throw APIError(.badRequest, code: "invalid_client", "clientId: no such client")
        } catch MintedGrant.Failure.unknownUser {
            throw APIError.invalidRequest("user: no such user")
        } catch MintedGrant.Failure.scope(let error) {
            throw oauthError(error)
        }
        return tokenResponse(issued)
    }

    // MARK: Faults

    static let faultKeys: Set<String> = ["endpoint", "match", "times", "status", "error", "errorDescription", "body", "contentType", "delayMs", "drop"]

    @Sendable func addFault(_ request: Request, context: LinkgateContext) async throws -> Response {
        let body = try await JSONBody.read(request, allowed: Self.faultKeys)
        let name = try body.string("endpoint")
        guard let endpoint = FixtureEndpoint(rawValue: name) else {
            throw ValidationError("endpoint", "must be one of \(FixtureEndpoint.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var match = FaultBook.Match()
        if let value = body.members["match"], value != .null {
            guard case .object(let members) = value else { throw ValidationError("match", "must be an object") }
            let unknown = members.keys.filter { !["client_id", "grant_type", "user"].contains($0) }.sorted()
            guard unknown.isEmpty else { throw ValidationError("match", "unknown key \(unknown.map { "'\($0.prefix(64))'" }.joined(separator: ", "))") }
            let inner = JSONBody(members: members)
            match = FaultBook.Match(clientId: try inner.nullableString("client_id") ?? nil, grantType: try inner.nullableString("grant_type") ?? nil,
                                    user: try inner.nullableString("user") ?? nil)
        }
        let fault = FaultBook.Fault(
            id: "", endpoint: endpoint, match: match, remaining: Int(try body.integer("times", in: 1...1_000_000) ?? 1),
            status: try body.integer("status", in: 100...599).map { Int($0) }, error: try body.nullableString("error") ?? nil,
            errorDescription: try body.nullableString("errorDescription") ?? nil, body: try body.nullableString("body") ?? nil,
            contentType: try body.nullableString("contentType") ?? nil,
            delayMs: try body.integer("delayMs", in: 0...120_000).map { Int($0) }, drop: try body.bool("drop") ?? false)
        if fault.error != nil && fault.body != nil { throw ValidationError("body", "give either 'error' or 'body', not both") }
        if !fault.replacesAnswer && fault.delayMs == nil {
            throw ValidationError("fault", "give at least one of status, error, body, delayMs or drop")
        }
        let id = mode.faults.add(fault)
        return jsonResponse(.object(["id": .string(id)]), status: .created)
    }

    @Sendable func faults(_ request: Request, context: LinkgateContext) async throws -> Response {
        jsonResponse(.array(mode.faults.all.map(\.json)))
    }

    @Sendable func deleteFaults(_ request: Request, context: LinkgateContext) async throws -> Response {
        mode.faults.remove(id: nil)
        return Self.noContent()
    }

    @Sendable func deleteFault(_ request: Request, context: LinkgateContext) async throws -> Response {
        guard mode.faults.remove(id: try context.parameters.decoded("id")) else { throw APIError.notFound("no such fault") }
        return Self.noContent()
    }

    // MARK: Journal and sandboxes

    /// `?endpoint=&since=<id>`.
    @Sendable func requests(_ request: Request, context: LinkgateContext) async throws -> Response {
        let query = request.queryPairs ?? []
        var endpoint: FixtureEndpoint? = nil
        if let name = try query.single("endpoint"), !name.isEmpty {
            guard let known = FixtureEndpoint(rawValue: name) else { throw ValidationError("endpoint", "is not an endpoint name") }
            endpoint = known
        }
        var since: Int64? = nil
        if let text = try query.single("since"), !text.isEmpty {
            guard let value = Int64(text) else { throw ValidationError("since", "must be a journal entry id") }
            since = value
        }
        return jsonResponse(.array(mode.journal.entries(endpoint: endpoint, since: since).map(\.json)))
    }

    /// `{"config"?:<seed object>}` → `201 {"id","baseUrl"}`.
    @Sendable func createSandbox(_ request: Request, context: LinkgateContext) async throws -> Response {
        var seed = SeedFile()
        if let config = try await JSONBody.readIfAny(request, allowed: ["config"])?.members["config"], config != .null {
            do {
                seed = try SeedFile(value: config)
            } catch {
                throw APIError.invalidRequest("config: \(error.description)")
            }
        }
        let sandbox: FixtureInstance
        do {
            sandbox = try await host.createSandbox(seed: seed)
        } catch let error as SeedError {
            throw APIError.invalidRequest("config: \(error.description)")
        }
        return jsonResponse(.object(["id": .string(sandbox.mode.id ?? ""), "baseUrl": .string(sandbox.config.baseURL)]), status: .created)
    }

    @Sendable func deleteSandbox(_ request: Request, context: LinkgateContext) async throws -> Response {
        guard host.deleteSandbox(try context.parameters.decoded("id")) else { throw APIError.notFound("no such sandbox") }
        return Self.noContent()
    }
}

/// The control API's credential: `Authorization: Bearer <controlToken>`, compared in constant time.
struct ControlTokenMiddleware: RouterMiddleware {
    typealias Context = LinkgateContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let authorization = request.headers[.authorization], case let (scheme, credential) = Authenticator.split(authorization),
              scheme == "bearer", constantTimeEquals(credential, token) else {
            throw APIError.unauthorized("the fixture control API needs Authorization: Bearer <controlToken>", challenge: "Bearer realm=\"linkgate-fixture\"")
        }
        return try await next(request, context)
    }
}
