import Hummingbird
import LinkgateCore

/// `GET|PUT /rest/api/latest/myself` (INTERFACE §3): the caller and how they authenticated.
struct MyselfRoutes {
    let services: Services

    func add(to router: Router<LinkgateContext>) {
        // Jira clients (the Python jira library among them) ask /rest/api/2/myself; serve it there too.
        for path in ["/rest/api/latest/myself", "/rest/api/2/myself"] {
            router.get(RouterPath(path), use: show)
            router.put(RouterPath(path), use: update)
        }
    }

    @Sendable func show(_ request: Request, context: LinkgateContext) async throws -> Response {
        let principal = try await services.auth.principal(request, context, needs: .read)
        return jsonResponse(Self.myselfJSON(principal))
    }

    @Sendable func update(_ request: Request, context: LinkgateContext) async throws -> Response {
        let principal = try await services.auth.principal(request, context, needs: .write)
        guard let user = principal.user else {
            throw APIError.forbidden("an application principal has no profile to change")
        }
        let body = try await JSONBody.read(request, allowed: ["displayName"])
        let updated = try await services.accounts.update(name: user.name, change: UserChange(displayName: try body.string("displayName")))
        var changed = principal
        changed.user = updated
        return jsonResponse(Self.myselfJSON(changed))
    }

    static func myselfJSON(_ principal: Principal) -> JSONValue {
        let user = principal.user
        return .object([
            "name": .optional(user?.name),
            "displayName": .optional(user?.displayName),
            "email": .optional(user?.email),
            "admin": .bool(user?.admin ?? false),
            "directory": .optional(user?.directory),
            "auth": .object([
                "protocol": .string(principal.authProtocol.rawValue),
                "mode": .optional(principal.mode?.rawValue),
                "client": .optional(principal.client),
                "scope": .optional(principal.scope?.rawValue),
            ]),
        ])
    }
}
