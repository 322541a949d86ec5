import Hummingbird
import LinkgateCore
import OAuth1

/// `/admin`: the Application links table and each link's pages (issue 6).
struct LinksConsole {
    let console: Console
    var services: Services { console.services }

    func add(to router: Router<LinkgateContext>) {
        router.get("/admin", use: list)
        router.get("/admin/links/new", use: choose)
        router.get("/admin/links/oauth2/new", use: newOAuth2)
        router.post("/admin/links/oauth2/new", use: createOAuth2)
        router.get("/admin/links/oauth2/{clientId}", use: credentials)
        router.get("/admin/links/oauth2/{clientId}/edit", use: editOAuth2)
        router.post("/admin/links/oauth2/{clientId}/edit", use: updateOAuth2)
        router.get("/admin/links/oauth2/{clientId}/reset", use: confirmReset)
        router.post("/admin/links/oauth2/{clientId}/reset", use: reset)
        router.get("/admin/links/oauth2/{clientId}/delete", use: confirmDeleteOAuth2)
        router.post("/admin/links/oauth2/{clientId}/delete", use: deleteOAuth2)
        router.get("/admin/links/oauth1/new", use: newOAuth1)
        router.post("/admin/links/oauth1/new", use: createOAuth1)
        router.get("/admin/links/oauth1/{key}/edit", use: editOAuth1)
        router.post("/admin/links/oauth1/{key}/edit", use: updateOAuth1)
        router.get("/admin/links/oauth1/{key}/delete", use: confirmDeleteOAuth1)
        router.post("/admin/links/oauth1/{key}/delete", use: deleteOAuth1)
    }

    // MARK: The table

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let now = services.now()
        let clientUsage = try await services.store.clientUsage(now: now)
        // Links that sign users in with OpenID Connect (INTERFACE §14): a consent or live token with openid.
        let openIDClients = try await services.store.openIDClientIds(now: now)
        let consumerUsage = try await services.store.consumerUsage(now: now)
        var links: [[String: Any]] = try await services.store.clients().map { client in
            var modes: [String] = []
            if !client.redirects.isEmpty { modes.append("3LO") }
            modes.append("2LO" + (client.executeAs.map { " as \($0)" } ?? ""))
            if client.impersonation { modes.append("impersonation") }
            let usage = clientUsage[client.clientId]
            let id = FormURLEncoded.encode(client.clientId)
            return ["name": client.name, "protocol": "OAuth 2.0", "openID": openIDClients.contains(client.clientId),
                    "direction": "Incoming", "modes": modes.joined(separator: ", "),
                    "network": Self.network(client.allowedAddresses),
                    "scope": client.scope.rawValue, "tokens": usage?.activeTokens ?? 0, "lastUsed": Console.date(usage?.lastUsedAt),
                    "credentialsHref": "/admin/links/oauth2/\(id)", "editHref": "/admin/links/oauth2/\(id)/edit",
                    "resetHref": "/admin/links/oauth2/\(id)/reset", "deleteHref": "/admin/links/oauth2/\(id)/delete"]
        }
        links += try await services.store.consumers().map { consumer in
            let usage = consumerUsage[consumer.key]
            let key = FormURLEncoded.encode(consumer.key)
            return ["name": consumer.name, "protocol": "OAuth 1.0a", "direction": "Incoming",
                    "modes": AdminActions.modeList(consumer).joined(separator: ", ") + Self.signatureNote(consumer), "scope": "—",
                    "network": Self.network(consumer.allowedAddresses),
                    "tokens": usage?.activeTokens ?? 0, "lastUsed": Console.date(usage?.lastUsedAt),
                    "editHref": "/admin/links/oauth1/\(key)/edit", "deleteHref": "/admin/links/oauth1/\(key)/delete"]
        }
        links.sort { ($0["name"] as! String).lowercased() < ($1["name"] as! String).lowercased() }
        let notice = request.uri.queryParameters["notice"].flatMap { Self.notices[String($0)] }
        return try console.render("admin-links", session, ["links": links, "hasLinks": !links.isEmpty, "notice": notice as Any],
                                  section: "links")
    }

    static let notices = ["deleted": "The link was deleted and its tokens revoked.", "saved": "The link was saved."]

    /// The link list's "Allowed from" cell (INTERFACE §10).
    static func network(_ list: AddressAllowList) -> String {
        list.strings?.joined(separator: ", ") ?? "any address"
    }

    @Sendable func choose(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        return try console.render("admin-link-new", session, [:], section: "links")
    }

    // MARK: OAuth 2.0

    @Sendable func newOAuth2(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        return try renderOAuth2Form(session, values: ["scope": "READ"], errors: [:], editing: nil)
    }

    @Sendable func createOAuth2(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        let values = try oauth2Values(form)
        do {
            let input = NewOAuth2Client(name: values["name"] ?? "", redirects: Self.lines(values["redirects"]),
                                        scope: try Rules.scope(values["scope"] ?? ""), impersonation: form.checked("impersonation"),
                                        publicKey: values["publicKey"], executeAs: values["executeAs"],
                                        allowedAddresses: try AddressAllowList.parse(Self.lines(values["allowedAddresses"])))
            let (client, secret) = try await AdminActions(services: services, admin: session.user.name).registerClient(input)
            return try renderCredentials(session, client: client, secret: secret, title: "Link created")
        } catch let error as ValidationError {
            return try renderOAuth2Form(session, values: values, errors: Console.fieldErrors(error), editing: nil, status: .badRequest)
        } catch StoreError.conflict(let message) {
            return try renderOAuth2Form(session, values: values, errors: ["name": message], editing: nil, status: .conflict)
        }
    }

    @Sendable func credentials(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let client = try await oauth2Client(context)
        return try renderCredentials(session, client: client, secret: nil, title: "Credentials")
    }

    @Sendable func editOAuth2(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let client = try await oauth2Client(context)
        var values = ["name": client.name, "redirects": client.redirects.joined(separator: "\n"), "scope": client.scope.rawValue]
        values["publicKey"] = client.publicKey
        values["executeAs"] = client.executeAs
        values["allowedAddresses"] = client.allowedAddresses.strings?.joined(separator: "\n")
        if client.impersonation { values["impersonation"] = "on" }
        return try renderOAuth2Form(session, values: values, errors: [:], editing: client)
    }

    @Sendable func updateOAuth2(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        let client = try await oauth2Client(context)
        let values = try oauth2Values(form)
        do {
            let change = OAuth2ClientChange(name: values["name"] ?? "", redirects: Self.lines(values["redirects"]),
                                            scope: try Rules.scope(values["scope"] ?? ""), impersonation: form.checked("impersonation"),
                                            publicKey: .some(values["publicKey"]), executeAs: .some(values["executeAs"]),
                                            allowedAddresses: try AddressAllowList.parse(Self.lines(values["allowedAddresses"])))
            _ = try await AdminActions(services: services, admin: session.user.name).updateClient(client.clientId, change)
            return seeOther("/admin?notice=saved")
        } catch let error as ValidationError {
            return try renderOAuth2Form(session, values: values, errors: Console.fieldErrors(error), editing: client, status: .badRequest)
        } catch StoreError.conflict(let message) {
            return try renderOAuth2Form(session, values: values, errors: ["name": message], editing: client, status: .conflict)
        }
    }

    @Sendable func confirmReset(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let client = try await oauth2Client(context)
        return try console.render("admin-confirm", session, [
            "title": "Reset the secret of \(client.name)?",
            "message": "A new client secret is made and shown once. The current secret stops working at once; \(client.name) must be given the new one.",
            "action": "/admin/links/oauth2/\(FormURLEncoded.encode(client.clientId))/reset", "button": "Reset secret",
        ], section: "links")
    }

    @Sendable func reset(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, _) = try await console.form(request)
        let client = try await oauth2Client(context)
        let (updated, secret) = try await AdminActions(services: services, admin: session.user.name).resetClientSecret(client.clientId)
        return try renderCredentials(session, client: updated, secret: secret, title: "New secret")
    }

    @Sendable func confirmDeleteOAuth2(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let client = try await oauth2Client(context)
        return try console.render("admin-confirm", session, [
            "title": "Delete \(client.name)?",
            "message": "The link is removed and every code and token issued to \(client.name) stops working. This cannot be undone.",
            "action": "/admin/links/oauth2/\(FormURLEncoded.encode(client.clientId))/delete", "button": "Delete link", "danger": true,
        ], section: "links")
    }

    @Sendable func deleteOAuth2(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, _) = try await console.form(request)
        let client = try await oauth2Client(context)
        try await AdminActions(services: services, admin: session.user.name).deleteClient(client.clientId)
        return seeOther("/admin?notice=deleted")
    }

    private func oauth2Client(_ context: LinkgateContext) async throws -> OAuth2Client {
        let id = try context.parameters.decoded("clientId")
        guard let client = try await services.store.client(clientId: id) else {
            throw PageError(status: .notFound, title: "No such link", message: "There is no OAuth 2.0 link with that client id.")
        }
        return client
    }

    private func oauth2Values(_ form: [(name: String, value: String)]) throws -> [String: String] {
        var values: [String: String] = [:]
        for name in ["name", "redirects", "scope", "publicKey", "executeAs", "allowedAddresses"] { values[name] = try form.text(name) }
        if form.checked("impersonation") { values["impersonation"] = "on" }
        return values
    }

    private func renderOAuth2Form(_ session: Sessions.Current, values: [String: String], errors: [String: String], editing: OAuth2Client?,
                                  status: HTTPResponse.Status = .ok) throws -> Response {
        let action = editing.map { "/admin/links/oauth2/\(FormURLEncoded.encode($0.clientId))/edit" } ?? "/admin/links/oauth2/new"
        return try console.render("admin-oauth2-form", session, [
            "title": editing.map { "Edit \($0.name)" } ?? "New OAuth 2.0 link", "action": action, "editing": editing != nil,
            "values": values, "errors": errors, "hasErrors": !errors.isEmpty,
            "scopes": Scope.allCases.map { ["value": $0.rawValue, "label": "\($0.rawValue) — \($0.summary)", "selected": values["scope"] == $0.rawValue] },
            "impersonation": values["impersonation"] != nil,
        ], section: "links", status: status)
    }

    private func renderCredentials(_ session: Sessions.Current, client: OAuth2Client, secret: String?, title: String) throws -> Response {
        let m = services.oauth2.metadata
        return try console.render("admin-oauth2-credentials", session, [
            "title": title, "client": ["name": client.name, "clientId": client.clientId, "scope": client.scope.rawValue,
                                       "redirects": client.redirects, "hasRedirects": !client.redirects.isEmpty],
            "secret": secret as Any, "authorizeURL": m.authorizationEndpoint, "tokenURL": m.tokenEndpoint,
            "revokeURL": m.revocationEndpoint, "introspectURL": m.introspectionEndpoint,
            "metadataURL": services.config.baseURL + "/.well-known/oauth-authorization-server",
            "scopes": Scope.allCases.filter { $0 <= client.scope }.map(\.rawValue).joined(separator: " "),
            "resetHref": "/admin/links/oauth2/\(FormURLEncoded.encode(client.clientId))/reset",
        ], section: "links")
    }

    static func lines(_ text: String?) -> [String] {
        (text ?? "").split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    // MARK: OAuth 1.0a

    @Sendable func newOAuth1(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        return try await renderOAuth1Form(session, values: ["threeLeggedAllowed": "on", Self.signatureField(.rsaSHA1): "on"], errors: [:], editing: nil)
    }

    @Sendable func createOAuth1(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        var values = try oauth1Values(form)
        do {
            var fetched: ConsumerInfo? = nil
            if let url = values["consumerInfoUrl"] {
                do {
                    fetched = try await ConsumerInfoFetcher.fetch(url)
                } catch let error as APIError {
                    throw ValidationError("consumerInfoUrl", error.message.replacingOccurrences(of: "consumerInfoUrl: ", with: ""))
                }
                values["key"] = values["key"] ?? fetched?.key
                values["name"] = values["name"] ?? fetched?.name
                values["publicKey"] = values["publicKey"] ?? fetched?.publicKey
                values["description"] = values["description"] ?? fetched?.description
                values["callback"] = values["callback"] ?? fetched?.callback
            }
            guard let key = values["key"] else { throw ValidationError("key", "is required (or give the peer's consumer-info URL)") }
            guard let publicKey = values["publicKey"] else { throw ValidationError("publicKey", "is required (or give the peer's consumer-info URL)") }
            var input = NewConsumer(key: key, name: values["name"] ?? "", description: values["description"], publicKey: publicKey,
                                    callback: values["callback"], threeLeggedAllowed: form.checked("threeLeggedAllowed"),
                                    twoLeggedAllowed: form.checked("twoLeggedAllowed"), executeAs: values["executeAs"],
                                    impersonationAllowed: form.checked("impersonationAllowed"),
                                    signatureMethods: try SignatureMethod.list(Self.checkedSignatureMethods(form)))
            input.allowedAddresses = try AddressAllowList.parse(Self.lines(values["allowedAddresses"]))
            _ = try await AdminActions(services: services, admin: session.user.name).registerConsumer(input)
            return seeOther("/admin?notice=saved")
        } catch let error as ValidationError {
            return try await renderOAuth1Form(session, values: values, errors: Console.fieldErrors(error), editing: nil, status: .badRequest)
        } catch StoreError.conflict(let message) {
            return try await renderOAuth1Form(session, values: values, errors: ["key": message], editing: nil, status: .conflict)
        }
    }

    @Sendable func editOAuth1(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let consumer = try await oauth1Consumer(context)
        var values = ["key": consumer.key, "name": consumer.name, "publicKey": consumer.publicKey]
        values["description"] = consumer.description
        values["callback"] = consumer.callback
        values["executeAs"] = consumer.executeAs
        values["allowedAddresses"] = consumer.allowedAddresses.strings?.joined(separator: "\n")
        if consumer.threeLeggedAllowed { values["threeLeggedAllowed"] = "on" }
        if consumer.twoLeggedAllowed { values["twoLeggedAllowed"] = "on" }
        if consumer.impersonationAllowed { values["impersonationAllowed"] = "on" }
        for method in consumer.signatureMethods { values[Self.signatureField(method)] = "on" }
        return try await renderOAuth1Form(session, values: values, errors: [:], editing: consumer)
    }

    @Sendable func updateOAuth1(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, form) = try await console.form(request)
        let consumer = try await oauth1Consumer(context)
        var values = try oauth1Values(form)
        values["key"] = consumer.key
        do {
            var change = ConsumerChange(
                name: values["name"] ?? "", description: .some(values["description"]), publicKey: values["publicKey"] ?? "",
                callback: .some(values["callback"]), threeLeggedAllowed: form.checked("threeLeggedAllowed"),
                twoLeggedAllowed: form.checked("twoLeggedAllowed"), executeAs: .some(values["executeAs"]),
                impersonationAllowed: form.checked("impersonationAllowed"),
                signatureMethods: try SignatureMethod.list(Self.checkedSignatureMethods(form)))
            change.allowedAddresses = try AddressAllowList.parse(Self.lines(values["allowedAddresses"]))
            _ = try await AdminActions(services: services, admin: session.user.name).updateConsumer(consumer.key, change)
            return seeOther("/admin?notice=saved")
        } catch let error as ValidationError {
            return try await renderOAuth1Form(session, values: values, errors: Console.fieldErrors(error), editing: consumer, status: .badRequest)
        }
    }

    @Sendable func confirmDeleteOAuth1(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let consumer = try await oauth1Consumer(context)
        return try console.render("admin-confirm", session, [
            "title": "Delete \(consumer.name)?",
            "message": "The link is removed and every token issued to \(consumer.name) stops working. This cannot be undone.",
            "action": "/admin/links/oauth1/\(FormURLEncoded.encode(consumer.key))/delete", "button": "Delete link", "danger": true,
        ], section: "links")
    }

    @Sendable func deleteOAuth1(_ request: Request, context: LinkgateContext) async throws -> Response {
        let (session, _) = try await console.form(request)
        let consumer = try await oauth1Consumer(context)
        try await AdminActions(services: services, admin: session.user.name).deleteConsumer(consumer.key)
        return seeOther("/admin?notice=deleted")
    }

    private func oauth1Consumer(_ context: LinkgateContext) async throws -> Consumer {
        let key = try context.parameters.decoded("key")
        guard let consumer = try await services.store.consumer(key: key) else {
            throw PageError(status: .notFound, title: "No such link", message: "There is no OAuth 1.0a link with that consumer key.")
        }
        return consumer
    }

    private func oauth1Values(_ form: [(name: String, value: String)]) throws -> [String: String] {
        var values: [String: String] = [:]
        for name in ["consumerInfoUrl", "key", "name", "description", "publicKey", "callback", "executeAs", "allowedAddresses"] {
            values[name] = try form.text(name)
        }
        for flag in ["threeLeggedAllowed", "twoLeggedAllowed", "impersonationAllowed"] where form.checked(flag) { values[flag] = "on" }
        for method in SignatureMethod.allCases where form.checked(Self.signatureField(method)) { values[Self.signatureField(method)] = "on" }
        return values
    }

    /// The form's checkbox for a signature method (INTERFACE §7 `signatureMethods`).
    static func signatureField(_ method: SignatureMethod) -> String { "signature-" + method.rawValue }

    /// The ticked methods; none ticked (or a form without the boxes) → RSA-SHA1, the default.
    static func checkedSignatureMethods(_ form: [(name: String, value: String)]) -> [String] {
        let ticked = SignatureMethod.allCases.filter { form.checked(signatureField($0)) }
        return (ticked.isEmpty ? SignatureMethod.defaults : ticked).map(\.rawValue)
    }

    /// The link list names the signature methods when they are not the default RSA-SHA1 alone.
    static func signatureNote(_ consumer: Consumer) -> String {
        consumer.signatureMethods == SignatureMethod.defaults ? "" : " · " + consumer.signatureMethods.map(\.rawValue).joined(separator: ", ")
    }

    private func renderOAuth1Form(_ session: Sessions.Current, values: [String: String], errors: [String: String], editing: Consumer?,
                                  status: HTTPResponse.Status = .ok) async throws -> Response {
        let identity = try await services.identity.value()
        let action = editing.map { "/admin/links/oauth1/\(FormURLEncoded.encode($0.key))/edit" } ?? "/admin/links/oauth1/new"
        return try console.render("admin-oauth1-form", session, [
            "title": editing.map { "Edit \($0.name)" } ?? "New OAuth 1.0a link", "action": action, "editing": editing != nil,
            "values": values, "errors": errors, "hasErrors": !errors.isEmpty,
            "threeLegged": values["threeLeggedAllowed"] != nil, "twoLegged": values["twoLeggedAllowed"] != nil,
            "impersonation": values["impersonationAllowed"] != nil,
            "signatureMethods": SignatureMethod.allCases.map { method -> [String: Any] in
                ["name": method.rawValue, "field": Self.signatureField(method), "id": Self.signatureField(method).lowercased(),
                 "checked": values[Self.signatureField(method)] != nil]
            },
            "server": ["consumerKey": identity.consumerKey, "publicKey": identity.publicKey.base64DER,
                       "consumerInfoURL": services.config.baseURL + "/plugins/servlet/oauth/consumer-info",
                       "manifestURL": services.config.baseURL + "/rest/applinks/1.0/manifest", "baseURL": services.config.baseURL],
        ], section: "links", status: status)
    }
}
