import Hummingbird
import LinkgateCore
import OAuth2

/// Users' own authorized applications (INTERFACE §9): REST and the profile page.
struct ApplicationsRoutes {
    let services: Services

    func add(to router: Router<LinkgateContext>) {
        router.get("/rest/api/latest/myself/applications", use: list)
        router.delete("/rest/api/latest/myself/applications/{id}", use: revoke)
        router.get("/profile/applications", use: page)
        router.post("/profile/applications/{id}/revoke", use: revokeFromPage)
    }

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        let user = try await caller(request, context, needs: .read)
        return jsonResponse(.array(try await authorizedApplications(of: user).map { app in
            JSONValue.object([
                "id": .string(app.id), "protocol": .string(app.protocolName), "client": .string(app.client), "name": .string(app.name),
                "scope": .optional(app.scope?.rawValue), "authorizedAt": .number(Double(app.authorizedAt)),
                "lastUsedAt": app.lastUsedAt.map { .number(Double($0)) } ?? .null,
            ])
        }))
    }

    @Sendable func revoke(_ request: Request, context: LinkgateContext) async throws -> Response {
        let user = try await caller(request, context, needs: .write)
        let id = try context.parameters.decoded("id")
        guard try await revokeApplication(id: id, of: user) else {
            throw APIError.notFound("no authorized application with id '\(id.prefix(64))'")
        }
        return Response(status: .noContent)
    }

    @Sendable func page(_ request: Request, context: LinkgateContext) async throws -> Response {
        guard let session = try await services.sessions.current(request) else {
            return seeOther("/login?next=" + FormURLEncoded.encode("/profile/applications"))
        }
        let apps = try await authorizedApplications(of: session.user).map { app -> [String: Any] in
            [
                "id": app.id, "name": app.name, "protocol": app.protocolName == "oauth2" ? "OAuth 2.0" : "OAuth 1.0a",
                "scope": app.scope?.rawValue ?? "your permissions",
                "scopeSummary": app.scope?.summary ?? "Everything your account may do",
                "authorizedAt": Console.date(app.authorizedAt), "lastUsedAt": Console.date(app.lastUsedAt),
            ]
        }
        let revoked = request.uri.queryParameters["revoked"] != nil
        return try services.pages.render("applications", [
            "user": ["name": session.user.name, "displayName": session.user.displayName],
            "apps": apps, "hasApps": !apps.isEmpty, "revoked": revoked, "csrfToken": session.csrfToken,
        ])
    }

    @Sendable func revokeFromPage(_ request: Request, context: LinkgateContext) async throws -> Response {
        let form = try await request.readPageForm()
        guard let session = try await services.sessions.current(request) else {
            throw PageError.forbidden("Your session has ended. Log in and try again.")
        }
        guard Sessions.checkCSRF(try form.single("csrf_token"), session: session) else {
            throw PageError.forbidden("The request did not carry this session's form token. Nothing was changed.")
        }
        let id = try context.parameters.decoded("id")
        guard try await revokeApplication(id: id, of: session.user) else {
            throw PageError(status: .notFound, title: "Not found", message: "That application is not among yours.")
        }
        return seeOther("/profile/applications?revoked=1")
    }

    /// One authorized application of either protocol (INTERFACE §9).
    struct AuthorizedApplication {
        let id: String
        let protocolName: String
        let client: String
        let name: String
        /// Nil for OAuth 1.0: limited only by the user's own rights.
        let scope: Scope?
        let authorizedAt: Int64
        let lastUsedAt: Int64?
    }

    /// OAuth 2.0 consents and OAuth 1.0 access tokens, oldest first.
    func authorizedApplications(of user: User) async throws -> [AuthorizedApplication] {
        let oauth2 = try await services.oauth2.applications(of: user).map { consent, client in
            AuthorizedApplication(id: consent.id, protocolName: "oauth2", client: client.clientId, name: client.name, scope: consent.scope,
                                  authorizedAt: consent.authorizedAt, lastUsedAt: consent.lastUsedAt)
        }
        var oauth1: [AuthorizedApplication] = []
        for token in try await services.store.accessTokens(userName: user.name, now: services.now()) {
            let name = try await services.store.consumer(key: token.consumerKey)?.name ?? token.consumerKey
            oauth1.append(AuthorizedApplication(id: token.id, protocolName: "oauth1", client: token.consumerKey, name: name, scope: nil,
                                                authorizedAt: token.issuedAt, lastUsedAt: token.lastUsedAt))
        }
        return (oauth2 + oauth1).sorted { ($0.authorizedAt, $0.id) < ($1.authorizedAt, $1.id) }
    }

    /// Revokes an application of either protocol; false if the id is not one of the user's.
    func revokeApplication(id: String, of user: User) async throws -> Bool {
        if try await services.oauth2.revokeApplication(id: id, of: user) { return true }
        let consumer = try await services.store.accessTokens(userName: user.name, now: services.now()).first { $0.id == id }?.consumerKey
        guard try await services.store.revokeAccessToken(id: id, userName: user.name) else { return false }
        try await services.audit.record(AuditAction.applicationRevoke, actor: user.name, client: consumer, subject: user.name,
                                        detail: "oauth1 access token revoked")
        return true
    }

    private func caller(_ request: Request, _ context: LinkgateContext, needs scope: Scope) async throws -> User {
        let principal = try await services.auth.principal(request, context, needs: scope)
        guard let user = principal.user else { throw APIError.forbidden("an application principal has no authorized applications") }
        return user
    }
}
