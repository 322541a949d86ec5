import Hummingbird
import LinkgateCore

/// Admin REST for OAuth 2.0 clients at Atlassian's paths (INTERFACE §5).
struct ClientRoutes {
    let services: Services
    static let keys: Set<String> = ["name", "redirects", "scope", "impersonation", "publicKey", "executeAs", "allowedAddresses"]

    func add(to router: Router<LinkgateContext>) {
        let group = router.group("/rest/oauth2/latest/client")
        group.post(use: create)
        group.get(use: list)
        group.put("reset/{clientId}", use: resetSecret)
        group.get("{clientId}", use: show)
        group.put("{clientId}", use: update)
        group.delete("{clientId}", use: delete)
    }

    @Sendable func create(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let body = try await JSONBody.read(request, allowed: Self.keys)
        let (client, secret) = try await services.admin(admin).registerClient(try Self.newClient(body))
        return jsonResponse(clientJSON(client, secret: secret), status: .created)
    }

    /// A new client from a REST body or a seed file entry (INTERFACE §5, §12).
    static func newClient(_ body: JSONBody) throws -> NewOAuth2Client {
        guard let redirects = try body.stringArray("redirects") else { throw ValidationError("redirects", "is required (it may be an empty array)") }
        return NewOAuth2Client(
            name: try body.string("name"), redirects: redirects, scope: try Rules.scope(try body.string("scope")),
            impersonation: try body.bool("impersonation") ?? false,
            publicKey: try body.nullableString("publicKey") ?? nil, executeAs: try body.nullableString("executeAs") ?? nil,
            allowedAddresses: try body.allowedAddresses() ?? .any)
    }

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        return jsonResponse(.array(try await services.store.clients().map { clientJSON($0) }))
    }

    @Sendable func show(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        let clientId = try context.parameters.decoded("clientId")
        guard let client = try await services.store.client(clientId: clientId) else { throw Self.unknown(clientId) }
        return jsonResponse(clientJSON(client))
    }

    @Sendable func update(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let clientId = try context.parameters.decoded("clientId")
        let body = try await JSONBody.read(request, allowed: Self.keys.union(["id", "clientId", "clientSecret"]))
        // Read-only keys may be echoed back unchanged (a GET-modify-PUT round trip), not changed.
        if let id = try body.nullableString("clientId"), id != clientId { throw ValidationError("clientId", "cannot be changed") }
        if let secret = try body.nullableString("clientSecret"), secret != nil {
            throw ValidationError("clientSecret", "cannot be set; use PUT /rest/oauth2/latest/client/reset/{clientId}")
        }
        let change = OAuth2ClientChange(
            name: try body.optionalString("name"), redirects: try body.stringArray("redirects"),
            scope: try body.optionalString("scope").map { try Rules.scope($0) }, impersonation: try body.bool("impersonation"),
            publicKey: try body.nullableString("publicKey"), executeAs: try body.nullableString("executeAs"),
            allowedAddresses: try body.allowedAddresses())
        if let id = try body.nullableString("id") {
            guard let current = try await services.store.client(clientId: clientId) else { throw Self.unknown(clientId) }
            if id != current.id { throw ValidationError("id", "cannot be changed") }
        }
        do {
            return jsonResponse(clientJSON(try await services.admin(admin).updateClient(clientId, change)))
        } catch StoreError.notFound {
            throw Self.unknown(clientId)
        }
    }

    @Sendable func resetSecret(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let clientId = try context.parameters.decoded("clientId")
        do {
            let (client, secret) = try await services.admin(admin).resetClientSecret(clientId)
            return jsonResponse(clientJSON(client, secret: secret))
        } catch StoreError.notFound {
            throw Self.unknown(clientId)
        }
    }

    @Sendable func delete(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let clientId = try context.parameters.decoded("clientId")
        do {
            try await services.admin(admin).deleteClient(clientId)
        } catch StoreError.notFound {
            throw Self.unknown(clientId)
        }
        return Response(status: .noContent)
    }

    static func unknown(_ clientId: String) -> APIError { .notFound("no client with id '\(clientId.prefix(64))'") }
}
