import Hummingbird
import LinkgateCore

/// Admin REST for users (INTERFACE §3): `/rest/api/latest/user`.
struct UserRoutes {
    let services: Services

    func add(to router: Router<LinkgateContext>) {
        let group = router.group("/rest/api/latest/user")
        group.post(use: create)
        group.get(use: list)
        group.get("{name}", use: show)
        group.put("{name}", use: update)
        group.delete("{name}", use: delete)
    }

    @Sendable func create(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let body = try await JSONBody.read(request, allowed: ["name", "password", "displayName", "email", "admin"])
        let input = NewUser(name: try body.string("name"), password: try body.string("password"),
                            displayName: try body.nullableString("displayName") ?? nil,
                            email: try body.nullableString("email") ?? nil, admin: try body.bool("admin") ?? false)
        let user = try await services.admin(admin).createUser(input)
        return jsonResponse(userJSON(user), status: .created)
    }

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        return jsonResponse(.array(try await services.store.users().map(userJSON)))
    }

    @Sendable func show(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        let name = try context.parameters.decoded("name")
        guard let user = try await services.store.user(named: name) else { throw APIError.notFound("no user named '\(name.prefix(64))'") }
        return jsonResponse(userJSON(user))
    }

    @Sendable func update(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let name = try context.parameters.decoded("name")
        let body = try await JSONBody.read(request, allowed: ["name", "password", "displayName", "email", "admin"])
        if let newName = try body.optionalString("name"), newName != name {
            throw ValidationError("name", "cannot be changed")
        }
        let change = UserChange(displayName: try body.optionalString("displayName"), email: try body.nullableString("email"),
                                admin: try body.bool("admin"), password: try body.optionalString("password"))
        do {
            return jsonResponse(userJSON(try await services.admin(admin).updateUser(name, change)))
        } catch StoreError.notFound {
            throw APIError.notFound("no user named '\(name.prefix(64))'")
        }
    }

    @Sendable func delete(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let name = try context.parameters.decoded("name")
        do {
            try await services.admin(admin).deleteUser(name)
        } catch StoreError.notFound {
            throw APIError.notFound("no user named '\(name.prefix(64))'")
        }
        return Response(status: .noContent)
    }
}
