import Hummingbird
import LinkgateCore
import NIOCore
import OAuth1

/// A JSON REST response; never cached (it may hold secrets or personal data).
func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
    headers[.pragma] = "no-cache"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.serializedBytes())))
}

// The entity shapes of the admin REST API, also printed by the CLI's `--json` (INTERFACE §15).

/// `{"name","displayName","email","admin","directory"}` — never the password or its hash.
public func userJSON(_ user: User) -> JSONValue {
    .object([
        "name": .string(user.name), "displayName": .string(user.displayName),
        "email": .optional(user.email), "admin": .bool(user.admin), "directory": .string(user.directory),
    ])
}

/// A client entity (INTERFACE §5); `clientSecret` is null except right after create or reset.
public func clientJSON(_ client: OAuth2Client, secret: String? = nil) -> JSONValue {
    .object([
        "id": .string(client.id), "clientId": .string(client.clientId), "clientSecret": .optional(secret),
        "name": .string(client.name), "redirects": .array(client.redirects.map(JSONValue.string)),
        "scope": .string(client.scope.rawValue), "impersonation": .bool(client.impersonation),
        "publicKey": .optional(client.publicKey), "executeAs": .optional(client.executeAs),
        "allowedAddresses": allowedAddressesJSON(client.allowedAddresses),
    ])
}

/// An OAuth 1.0a consumer entity (INTERFACE §7).
public func consumerJSON(_ consumer: Consumer) -> JSONValue {
    .object([
        "key": .string(consumer.key), "name": .string(consumer.name), "description": .optional(consumer.description),
        "publicKey": .string(consumer.publicKey), "callback": .optional(consumer.callback),
        "threeLeggedAllowed": .bool(consumer.threeLeggedAllowed), "twoLeggedAllowed": .bool(consumer.twoLeggedAllowed),
        "executeAs": .optional(consumer.executeAs), "impersonationAllowed": .bool(consumer.impersonationAllowed),
        "allowedAddresses": allowedAddressesJSON(consumer.allowedAddresses),
        "signatureMethods": .array(consumer.signatureMethods.map { .string($0.rawValue) }),
    ])
}

/// `null` for any address, else the canonical ranges (INTERFACE §10).
func allowedAddressesJSON(_ list: AddressAllowList) -> JSONValue {
    list.strings.map { .array($0.map(JSONValue.string)) } ?? .null
}

extension Parameters {
    /// A path parameter, percent-decoded; `404` if it cannot be decoded.
    func decoded(_ name: String) throws -> String {
        guard let raw = get(name), let value = try? FormURLEncoded.decode(raw, plusIsSpace: false) else {
            throw APIError.notFound("no such resource")
        }
        return value
    }
}
