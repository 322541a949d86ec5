import Hummingbird
import LinkgateCore
import OAuth1

/// Admin REST for OAuth 1.0a consumers (INTERFACE §7): `/rest/oauth1/latest/consumer`.
struct ConsumerRoutes {
    let services: Services
    static let keys: Set<String> = ["key", "name", "description", "publicKey", "callback", "threeLeggedAllowed", "twoLeggedAllowed",
                                    "executeAs", "impersonationAllowed", "allowedAddresses", "signatureMethods"]

    func add(to router: Router<LinkgateContext>) {
        let group = router.group("/rest/oauth1/latest/consumer")
        group.post(use: create)
        group.get(use: list)
        group.get("{key}", use: show)
        group.put("{key}", use: update)
        group.delete("{key}", use: delete)
    }

    @Sendable func create(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let body = try await JSONBody.read(request, allowed: Self.keys.union(["consumerInfoUrl"]))
        // By the peer's consumer-info URL, with any key given in the body taking precedence.
        var fetched: ConsumerInfo? = nil
        if let url = try body.optionalString("consumerInfoUrl") { fetched = try await ConsumerInfoFetcher.fetch(url) }
        func value(_ key: String, _ fallback: String?) throws -> String {
            if let given = try body.optionalString(key) { return given }
            guard let fallback else { throw ValidationError(key, "is required (or give consumerInfoUrl)") }
            return fallback
        }
        var input = NewConsumer(
            key: try value("key", fetched?.key), name: try value("name", fetched?.name),
            description: try body.nullableString("description") ?? fetched?.description, publicKey: try value("publicKey", fetched?.publicKey),
            callback: try body.nullableString("callback") ?? fetched?.callback,
            threeLeggedAllowed: try body.bool("threeLeggedAllowed") ?? true, twoLeggedAllowed: try body.bool("twoLeggedAllowed") ?? false,
            executeAs: try body.nullableString("executeAs") ?? nil, impersonationAllowed: try body.bool("impersonationAllowed") ?? false,
            signatureMethods: try Self.signatureMethods(body) ?? SignatureMethod.defaults)
        input.allowedAddresses = try body.allowedAddresses() ?? .any
        let consumer = try await services.admin(admin).registerConsumer(input)
        return jsonResponse(consumerJSON(consumer), status: .created)
    }

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        return jsonResponse(.array(try await services.store.consumers().map(consumerJSON)))
    }

    @Sendable func show(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        let key = try context.parameters.decoded("key")
        guard let consumer = try await services.store.consumer(key: key) else { throw Self.unknown(key) }
        return jsonResponse(consumerJSON(consumer))
    }

    @Sendable func update(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let key = try context.parameters.decoded("key")
        let body = try await JSONBody.read(request, allowed: Self.keys)
        if let newKey = try body.optionalString("key"), newKey != key { throw ValidationError("key", "cannot be changed") }
        var change = ConsumerChange(
            name: try body.optionalString("name"), description: try body.nullableString("description"),
            publicKey: try body.optionalString("publicKey"), callback: try body.nullableString("callback"),
            threeLeggedAllowed: try body.bool("threeLeggedAllowed"), twoLeggedAllowed: try body.bool("twoLeggedAllowed"),
            executeAs: try body.nullableString("executeAs"), impersonationAllowed: try body.bool("impersonationAllowed"),
            signatureMethods: try Self.signatureMethods(body))
        change.allowedAddresses = try body.allowedAddresses()
        do {
            return jsonResponse(consumerJSON(try await services.admin(admin).updateConsumer(key, change)))
        } catch StoreError.notFound {
            throw Self.unknown(key)
        }
    }

    @Sendable func delete(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        let key = try context.parameters.decoded("key")
        do {
            try await services.admin(admin).deleteConsumer(key)
        } catch StoreError.notFound {
            throw Self.unknown(key)
        }
        return Response(status: .noContent)
    }

    /// `signatureMethods` (INTERFACE §7): absent → nil; otherwise a non-empty list of distinct
    /// `RSA-SHA1`, `RSA-SHA256`, `RSA-SHA512`, else `400`.
    static func signatureMethods(_ body: JSONBody) throws -> [SignatureMethod]? {
        guard body.has("signatureMethods") else { return nil }
        guard let names = try body.stringArray("signatureMethods") else {
            throw ValidationError("signatureMethods", "must be a list of RSA-SHA1, RSA-SHA256, RSA-SHA512")
        }
        return try SignatureMethod.list(names)
    }

    static func unknown(_ key: String) -> APIError { .notFound("no consumer with key '\(key.prefix(64))'") }
}
