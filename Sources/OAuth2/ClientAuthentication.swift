import LinkgateCore
import LinkgateCrypto

/// Client authentication at the token, revocation and introspection endpoints
/// (RFC 6749 §2.3.1): `client_secret_basic` or `client_secret_post`, never both.
public struct ClientAuthentication: Sendable {
    public enum Method: String, Sendable { case basic = "client_secret_basic", post = "client_secret_post" }

    public struct Failure: Error, Sendable {
        public let error: OAuthError
        /// Whether the client tried HTTP Basic (the 401 then carries `WWW-Authenticate: Basic`).
        public let usedBasic: Bool

        public init(error: OAuthError, usedBasic: Bool) {
            self.error = error
            self.usedBasic = usedBasic
        }
    }

    let registry: ClientRegistry
    /// Failed authentications per (client_id, address) and per address (INTERFACE §10).
    let throttle: FailureThrottle
    let audit: AuditLog
    let now: @Sendable () -> Int64
    /// Refusals by network are audited at most once a minute per (client, address).
    let refusals = UsageThrottle()

    public init(registry: ClientRegistry, throttle: FailureThrottle = FailureThrottle(policy: .clientSecrets), audit: AuditLog,
                now: @escaping @Sendable () -> Int64) {
        self.registry = registry
        self.throttle = throttle
        self.audit = audit
        self.now = now
    }

    /// The authenticated client, from `authorization` (the HTTP header) or the form body, for
    /// a request from `address`. A throttled (client_id, address) is refused before the secret
    /// is looked at; a client outside its `allowedAddresses` is `invalid_client`, audited.
    public func authenticate(authorization: String?, params: OAuthParameters, from address: IPAddress?) async throws -> (OAuth2Client, Method) {
        let basic = authorization.flatMap { Self.isBasic($0) ? $0 : nil }
        do {
            let bodyId = try params.single("client_id")
            let bodySecret = try params.single("client_secret")
            let clientId: String, secret: String, method: Method
            if let basic {
                guard bodySecret == nil else {
                    throw OAuthError.invalidRequest("use one client authentication method: HTTP Basic or client_secret in the body, not both")
                }
                guard let (id, password) = Self.decodeBasic(basic) else {
                    throw Failure(error: .invalidClient("malformed HTTP Basic client credentials"), usedBasic: true)
                }
                if let bodyId, bodyId != id { throw OAuthError.invalidRequest("client_id does not match the authenticated client") }
                (clientId, secret, method) = (id, password, .basic)
            } else if authorization != nil {
                throw OAuthError.invalidClient("unsupported client authentication scheme; use HTTP Basic or client_secret_post")
            } else {
                guard let bodyId else { throw OAuthError.invalidClient("client authentication is required") }
                guard let bodySecret else { throw OAuthError.invalidClient("client_secret is required") }
                (clientId, secret, method) = (bodyId, bodySecret, .post)
            }
            let key = FailureThrottle.addressKey(address), at = now()
            if let refusal = throttle.begin(name: clientId, address: key, now: at) {
                throw OAuthError(.tooManyRequests, "too many failed client authentications from this address; retry later",
                                 retryAfter: refusal.retryAfter)
            }
            let found: OAuth2Client?
            do {
                found = try await registry.authenticate(clientId: clientId, secret: secret)
            } catch {
                throttle.cancel(name: clientId, address: key)
                throw error
            }
            guard let client = found else {
                for lockout in throttle.recordFailure(name: clientId, address: key, now: at) {
                    try await audit.record(AuditAction.clientLockout, actor: lockout.address, client: lockout.user, outcome: .failure,
                                           detail: "\(lockout.failures) failed client authentications; locked for \(lockout.until - at) s")
                }
                throw Failure(error: .invalidClient("client authentication failed"), usedBasic: method == .basic)
            }
            throttle.recordSuccess(name: clientId, address: key)
            try await checkNetwork(client, from: address)
            return (client, method)
        } catch let error as OAuthError {
            throw Failure(error: error, usedBasic: basic != nil)
        }
    }

    /// INTERFACE §10: a client restricted to `allowedAddresses` is refused elsewhere, and audited.
    func checkNetwork(_ client: OAuth2Client, from address: IPAddress?) async throws {
        guard !client.allowedAddresses.allows(address) else { return }
        if refusals.shouldRecord(client.clientId + "\u{0}" + (address?.description ?? ""), now: now()) {
            try await audit.record(AuditAction.addressRefused, actor: client.clientId, client: client.clientId, outcome: .failure,
                                   detail: "oauth2 client authentication from \(address?.description ?? "an unknown address"), outside allowedAddresses")
        }
        throw OAuthError.invalidClient("this client may not be used from this network address")
    }

    /// Whether the header's scheme is `Basic` (case-insensitive, RFC 7235 §2.1), without allocating.
    static func isBasic(_ header: String) -> Bool {
        var scheme = header.utf8.prefix(while: { $0 != UInt8(ascii: " ") }).makeIterator()
        for expected in "basic".utf8 {
            guard let byte = scheme.next(), byte | 0x20 == expected else { return false }
        }
        return scheme.next() == nil
    }

    /// `Basic base64(urlencode(id):urlencode(secret))`, RFC 6749 §2.3.1. On the header's UTF-8
    /// bytes: spaces after the scheme, and inside the credentials (some clients fold them), are
    /// skipped; the split is at the first colon of the decoded bytes.
    static func decodeBasic(_ header: String) -> (String, String)? {
        var header = header
        return header.withUTF8 { bytes -> (String, String)? in
            let space = UInt8(ascii: " ")
            guard let schemeStart = bytes.firstIndex(where: { $0 != space }),
                  let schemeEnd = bytes[schemeStart...].firstIndex(of: space) else { return nil }
            let credentials = UnsafeBufferPointer(rebasing: bytes[(schemeEnd + 1)...])
            let decoded = credentials.contains(space) ? Base64URL.decode(bytes: credentials.filter { $0 != space })
                                                      : Base64URL.decode(bytes: credentials)
            guard let decoded, let colon = decoded.firstIndex(of: UInt8(ascii: ":")),
                  let id = try? FormURLEncoded.decode(bytes: decoded[..<colon], plusIsSpace: true),
                  let secret = try? FormURLEncoded.decode(bytes: decoded[(colon + 1)...], plusIsSpace: true) else { return nil }
            return (id, secret)
        }
    }
}
