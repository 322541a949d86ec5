import Hummingbird
import LinkgateCore

/// Lockouts after failed password checks and failed client authentications (INTERFACE §10):
/// admins list them and lift them. Each entry's `kind` is `password` (then `user` is a user
/// name) or `client_secret` (then `user` is a client_id).
struct LockoutRoutes {
    let services: Services

    func add(to router: Router<LinkgateContext>) {
        router.get("/rest/api/latest/lockout", use: list)
        router.delete("/rest/api/latest/lockout", use: clear)
    }

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        return jsonResponse(.array(services.accounts.lockouts().map { Self.json($0, kind: "password") }
                                   + services.oauth2.clientLockouts().map { Self.json($0, kind: "client_secret") }))
    }

    /// `?user=&address=`: either, both, or neither (every lockout).
    @Sendable func clear(_ request: Request, context: LinkgateContext) async throws -> Response {
        let admin = try await services.auth.admin(request, context)
        guard let pairs = request.queryPairs else { throw APIError.invalidRequest("the query string is malformed") }
        if let unknown = pairs.first(where: { $0.name != "user" && $0.name != "address" }) {
            throw APIError.invalidRequest("unknown parameter '\(unknown.name.prefix(40))'")
        }
        let user = try pairs.single("user").flatMap { $0.isEmpty ? nil : $0 }
        var address = try pairs.single("address").flatMap { $0.isEmpty ? nil : $0 }
        if let given = address {
            // Counted under `FailureThrottle.addressKey`: IPv4, or an IPv6 /64, in canonical text.
            if let parsed = IPAddress(given) {
                address = FailureThrottle.addressKey(parsed)
            } else if let range = IPAddressRange(given), range.network.ipv4Value == nil, range.prefixLength == 64 {
                address = range.description
            } else {
                throw APIError.invalidRequest("address must be an IPv4 or IPv6 address, or the IPv6 /64 a lockout lists")
            }
        }
        let by = admin.user?.name ?? "admin"
        try await services.accounts.clearLockouts(user: user, address: address, by: by)
        try await services.oauth2.clearClientLockouts(clientId: user, address: address, by: by)
        return Response(status: .noContent)
    }

    static func json(_ lockout: Lockout, kind: String) -> JSONValue {
        .object(["user": .optional(lockout.user), "address": .optional(lockout.address), "failures": .number(Double(lockout.failures)),
                 "until": .number(Double(lockout.until)), "kind": .string(kind)])
    }
}
