import Hummingbird
import LinkgateCore

/// `/admin/users`: create users, make admin, reset passwords, delete (issue 6).
struct UsersConsole {
    let console: Console
    var services: Services { console.services }

    func add(to router: Router<LinkgateContext>) {
        router.get("/admin/users", use: list)
        router.post("/admin/users", use: create)
        router.post("/admin/users/{name}/admin", use: toggleAdmin)
        router.post("/admin/users/{name}/password", use: resetPassword)
        router.get("/admin/users/{name}/delete", use: confirmDelete)
        router.post("/admin/users/{name}/delete", use: delete)
        router.post("/admin/lockouts/clear", use: clearLockout)
    }

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let notice = request.uri.queryParameters["notice"].flatMap { Self.notices[String($0)] }
        return try await render(session, values: [:], errors: [:], notice: notice)
    }

    static let notices = ["created": "The user was created.", "deleted": "The user was deleted and their tokens revoked.",
                          "password": "The password was changed; the user's sessions were ended.", "admin": "Administrator rights were changed.",
                          "unlocked": "The lockout was lifted."]

    @Sendable func create(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        var values: [String: String] = [:]
        for name in ["name", "displayName", "email"] { values[name] = try form.text(name) }
        if form.checked("admin") { values["admin"] = "on" }
        do {
            let input = NewUser(name: values["name"] ?? "", password: try form.single("password") ?? "", displayName: values["displayName"],
                                email: values["email"], admin: form.checked("admin"))
            _ = try await AdminActions(services: services, admin: session.user.name).createUser(input)
            return seeOther("/admin/users?notice=created")
        } catch let error as ValidationError {
            return try await render(session, values: values, errors: Console.fieldErrors(error), status: .badRequest)
        } catch StoreError.conflict(let message) {
            return try await render(session, values: values, errors: ["name": message], status: .conflict)
        }
    }

    @Sendable func toggleAdmin(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        let name = try context.parameters.decoded("name")
        do {
            _ = try await AdminActions(services: services, admin: session.user.name).updateUser(name, UserChange(admin: form.checked("admin")))
        } catch StoreError.lastAdmin {
            return try await render(session, values: [:], errors: [:], problem: "\(name) is the last administrator and keeps that right.",
                                    status: .conflict)
        } catch StoreError.notFound {
            throw PageError(status: .notFound, title: "No such user", message: "There is no user with that name.")
        }
        return seeOther("/admin/users?notice=admin")
    }

    @Sendable func resetPassword(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        let name = try context.parameters.decoded("name")
        do {
            _ = try await AdminActions(services: services, admin: session.user.name)
                .updateUser(name, UserChange(password: try form.single("password") ?? ""))
        } catch let error as ValidationError {
            return try await render(session, values: [:], errors: [:], rowErrors: [name: error.message], status: .badRequest)
        } catch StoreError.notFound {
            throw PageError(status: .notFound, title: "No such user", message: "There is no user with that name.")
        }
        return seeOther("/admin/users?notice=password")
    }

    @Sendable func confirmDelete(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let name = try context.parameters.decoded("name")
        guard try await services.store.user(named: name) != nil else {
            throw PageError(status: .notFound, title: "No such user", message: "There is no user with that name.")
        }
        return try console.render("admin-confirm", session, [
            "title": "Delete \(name)?",
            "message": "The user is removed, and every session, authorized application and token of theirs stops working. This cannot be undone.",
            "action": "/admin/users/\(FormURLEncoded.encode(name))/delete", "button": "Delete user", "danger": true, "cancel": "/admin/users",
        ], section: "users")
    }

    @Sendable func delete(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, _) = try await console.form(request)
        let name = try context.parameters.decoded("name")
        do {
            try await AdminActions(services: services, admin: session.user.name).deleteUser(name)
        } catch StoreError.lastAdmin {
            return try await render(session, values: [:], errors: [:], problem: "\(name) is the last administrator and cannot be deleted.",
                                    status: .conflict)
        } catch StoreError.inUse(let why) {
            return try await render(session, values: [:], errors: [:], problem: "\(name) cannot be deleted: \(why).", status: .conflict)
        } catch StoreError.notFound {
            throw PageError(status: .notFound, title: "No such user", message: "There is no user with that name.")
        }
        return seeOther("/admin/users?notice=deleted")
    }

    /// INTERFACE §10: an admin lifts a lockout (the hidden `user` and `address` of its row).
    @Sendable func clearLockout(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        let user = try form.single("user").flatMap { $0.isEmpty ? nil : $0 }
        let address = try form.single("address").flatMap { $0.isEmpty ? nil : $0 }
        guard user != nil || address != nil else {
            throw PageError(status: .badRequest, title: "Request refused", message: "Choose a lockout to lift.")
        }
        try await services.accounts.clearLockouts(user: user, address: address, by: session.user.name)
        return seeOther("/admin/users?notice=unlocked")
    }

    private func render(_ session: Sessions.Current, values: [String: String], errors: [String: String], notice: String? = nil,
                        problem: String? = nil, rowErrors: [String: String] = [:], status: HTTPResponse.Status = .ok) async throws -> Response {
        let users = try await services.store.users().map { user -> [String: Any] in
            let path = "/admin/users/" + FormURLEncoded.encode(user.name)
            return ["name": user.name, "displayName": user.displayName, "email": user.email ?? "", "admin": user.admin,
                    "directory": user.directory, "isLocal": user.isLocal, "isSelf": user.name == session.user.name, "adminAction": path + "/admin", "passwordAction": path + "/password",
                    "deleteHref": path + "/delete", "rowError": rowErrors[user.name] as Any, "fieldId": "pw-" + FormURLEncoded.encode(user.name)]
        }
        let lockouts = services.accounts.lockouts().map { lockout -> [String: Any] in
            ["user": lockout.user ?? "", "address": lockout.address ?? "", "failures": lockout.failures,
             "userLabel": lockout.user ?? "any user", "addressLabel": lockout.address ?? "any address",
             "until": Console.date(lockout.until)]
        }
        return try console.render("admin-users", session, [
            "users": users, "lockouts": lockouts, "hasLockouts": !lockouts.isEmpty, "values": values, "errors": errors, "hasErrors": !errors.isEmpty, "adminChecked": values["admin"] != nil,
            "notice": notice as Any, "problem": problem as Any,
        ], section: "users", status: status)
    }
}
