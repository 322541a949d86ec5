import Foundation
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
        let user = try await caller(request, needs: .read)
        let apps = try await services.oauth2.applications(of: user).map { consent, client in
            JSONValue.object([
                "id": .string(consent.id), "protocol": .string("oauth2"), "client": .string(client.clientId),
                "name": .string(client.name), "scope": .string(consent.scope.rawValue),
                "authorizedAt": .number(Double(consent.authorizedAt)),
                "lastUsedAt": consent.lastUsedAt.map { .number(Double($0)) } ?? .null,
            ])
        }
        return jsonResponse(.array(apps))
    }

    @Sendable func revoke(_ request: Request, context: LinkgateContext) async throws -> Response {
        let user = try await caller(request, needs: .write)
        let id = try context.parameters.decoded("id")
        guard try await services.oauth2.revokeApplication(id: id, of: user) else {
            throw APIError.notFound("no authorized application with id '\(id.prefix(64))'")
        }
        return Response(status: .noContent)
    }

    @Sendable func page(_ request: Request, context: LinkgateContext) async throws -> Response {
        guard let session = try await services.sessions.current(request) else {
            return seeOther("/login?next=" + FormURLEncoded.encode("/profile/applications"))
        }
        let apps = try await services.oauth2.applications(of: session.user).map { consent, client -> [String: Any] in
            [
                "id": consent.id, "name": client.name, "protocol": "OAuth 2.0", "scope": consent.scope.rawValue,
                "scopeSummary": consent.scope.summary, "authorizedAt": Self.date(consent.authorizedAt),
                "lastUsedAt": consent.lastUsedAt.map(Self.date) ?? "never",
            ]
        }
        let revoked = request.uri.queryParameters["revoked"] != nil
        return try services.pages.render("applications", [
            "user": ["name": session.user.name, "displayName": session.user.displayName],
            "apps": apps, "hasApps": !apps.isEmpty, "revoked": revoked, "csrfToken": session.csrfToken,
        ])
    }

    @Sendable func revokeFromPage(_ request: Request, context: LinkgateContext) async throws -> Response {
        let form: [(name: String, value: String)]
        do { form = try await request.readForm() } catch let error as APIError {
            throw PageError(status: error.status, title: "Request refused", message: error.message)
        }
        guard let session = try await services.sessions.current(request) else {
            throw PageError.forbidden("Your session has ended. Log in and try again.")
        }
        guard Sessions.checkCSRF(try form.single("csrf_token"), session: session) else {
            throw PageError.forbidden("The request did not carry this session's form token. Nothing was changed.")
        }
        let id = try context.parameters.decoded("id")
        guard try await services.oauth2.revokeApplication(id: id, of: session.user) else {
            throw PageError(status: .notFound, title: "Not found", message: "That application is not among yours.")
        }
        return seeOther("/profile/applications?revoked=1")
    }

    private func caller(_ request: Request, needs scope: Scope) async throws -> User {
        let principal = try await services.auth.principal(request, needs: scope)
        guard let user = principal.user else { throw APIError.forbidden("an application principal has no authorized applications") }
        return user
    }

    static func date(_ epoch: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(epoch))) + " UTC"
    }
}
