import LinkgateCore
import LinkgateCrypto
import Synchronization

/// Who a verified OAuth 1.0a request acts for.
public struct OAuth1Principal: Sendable, Equatable {
    public enum Mode: String, Sendable { case user, application, impersonation }
    public let consumer: Consumer
    /// Nil only for an application principal with no execute-as user.
    public let user: User?
    public let mode: Mode
    /// The access token of a three-legged request.
    public var token: String? = nil
}

/// Verifies RFC 5849 signed requests: parameters, timestamp window, consumer, its signature
/// method, the RSA signature (on libcrypto), then the nonce, in that order, so unsigned requests cannot burn nonces.
/// A two-legged request's audit entry (INTERFACE §8) is written in the nonce's transaction.
public struct RequestVerifier: Sendable {
    /// ±300 s (INTERFACE §7).
    public static let timestampWindow: Int64 = 300

    let store: any OAuth1Store
    let users: any UserStore
    let keys: PublicKeyCache
    let audit: AuditLog
    let now: @Sendable () -> Int64
    /// Refusals by network are audited at most once a minute per (consumer, address).
    let refusals = UsageThrottle()
    /// Fixture mode's debugging aid (INTERFACE §12): a refused signature also answers
    /// `oauth_signature_base_string`, the base string this server computed. `serve` never sets it.
    let revealsBaseString: Bool

    public init(store: any OAuth1Store, users: any UserStore, audit: AuditLog, now: @escaping @Sendable () -> Int64,
                revealsBaseString: Bool = false) {
        self.revealsBaseString = revealsBaseString
        self.store = store
        self.users = users
        self.keys = PublicKeyCache()
        self.audit = audit
        self.now = now
    }

    /// A verified request: its parameters and consumer.
    public struct Verified: Sendable {
        public let parameters: ProtocolParameters
        public let consumer: Consumer
    }

    /// Checks the signature and the nonce; token handling is left to the caller.
    public func verify(_ request: SignedRequest) async throws -> Verified {
        let verified = try await checkSignatureAndNetwork(request)
        try await recordNonce(verified, audit: nil)
        return verified
    }

    /// Everything but the nonce: parameters, timestamp window, consumer and signature.
    private func checkSignature(_ request: SignedRequest) async throws -> Verified {
        let params = try ProtocolParameters.collect(request)
        let at = now()
        guard abs(params.timestamp - at) <= Self.timestampWindow else {
            throw OAuth1Problem(.timestampRefused, "oauth_timestamp is outside ±\(Self.timestampWindow) s of the server's clock",
                                parameters: [("oauth_acceptable_timestamps", "\(at - Self.timestampWindow)-\(at + Self.timestampWindow)")])
        }
        guard params.consumerKey.utf8.count <= 255, let consumer = try await store.consumer(key: params.consumerKey) else {
            throw OAuth1Problem(.consumerKeyUnknown, "no consumer is registered with this key")
        }
        // INTERFACE §7: only the consumer's own methods; the refusal lists them, `&`-joined as the
        // OAuth Problem Reporting extension's oauth_acceptable_signature_methods asks.
        guard let method = SignatureMethod(rawValue: params.signatureMethod), consumer.signatureMethods.contains(method) else {
            let acceptable = consumer.signatureMethods.map(\.rawValue)
            throw OAuth1Problem(.signatureMethodRejected,
                                "this consumer signs with \(acceptable.joined(separator: ", ")) only, not \(params.signatureMethod.prefix(40))",
                                parameters: [("oauth_acceptable_signature_methods", acceptable.joined(separator: "&"))])
        }
        let baseString = SignatureBaseString.bytes(method: request.method, baseStringURI: request.baseStringURI,
                                                   parameters: params.signedParameters)
        let encodedSignature = params.signature.utf8.contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D })
            ? params.signature.filter { !$0.isWhitespace } : params.signature
        guard let signature = Base64URL.decode(encodedSignature),
              let key = keys.key(for: consumer),
              key.verify(signature: signature, message: baseString, digest: method.digest) else {
            throw OAuth1Problem(.signatureInvalid, "the \(method.rawValue) signature does not verify for this request",
                                parameters: revealsBaseString ? [("oauth_signature_base_string", String(decoding: baseString, as: UTF8.self))] : [])
        }
        return Verified(parameters: params, consumer: consumer)
    }

    /// What fixture mode's journal shows of a signed request (INTERFACE §12).
    public struct Inspection: Sendable {
        public let consumerKey: String
        public let token: String?
        /// The signed parameters (RFC 5849 §3.4.1.3), for a base string with secrets masked.
        public let signedParameters: [ProtocolParameters.Pair]
        /// Whether the consumer's key verifies the base string this server computes.
        public let signatureValid: Bool
    }

    /// Inspects a signed request: nil when it carries no usable OAuth parameters. Checks nothing
    /// else and spends nothing.
    public func inspect(_ request: SignedRequest) async -> Inspection? {
        guard let params = try? ProtocolParameters.collect(request) else { return nil }
        let baseString = SignatureBaseString.bytes(method: request.method, baseStringURI: request.baseStringURI,
                                                   parameters: params.signedParameters)
        var valid = false
        if let consumer = try? await store.consumer(key: params.consumerKey),
           let method = SignatureMethod(rawValue: params.signatureMethod), consumer.signatureMethods.contains(method),
           let signature = Base64URL.decode(params.signature.filter { !$0.isWhitespace }),
           let key = keys.key(for: consumer) {
            valid = key.verify(signature: signature, message: baseString, digest: method.digest)
        }
        return Inspection(consumerKey: params.consumerKey, token: params.token, signedParameters: params.signedParameters,
                          signatureValid: valid)
    }

    /// The signature, then the consumer's network restriction (INTERFACE §10): a genuine request
    /// from outside `allowedAddresses` is `permission_denied`, audited, and spends nothing.
    private func checkSignatureAndNetwork(_ request: SignedRequest) async throws -> Verified {
        let verified = try await checkSignature(request)
        let consumer = verified.consumer
        guard consumer.allowedAddresses.allows(request.clientAddress) else {
            // Audited at most once a minute per (consumer, address).
            if refusals.shouldRecord(consumer.key + "\u{0}" + (request.clientAddress?.description ?? ""), now: now()) {
                try await audit.record(AuditAction.addressRefused, actor: consumer.key, client: consumer.key, outcome: .failure,
                                       detail: "oauth1 request from \(request.clientAddress?.description ?? "an unknown address"), outside allowedAddresses")
            }
            throw OAuth1Problem(.permissionDenied, "this consumer may not be used from this network address")
        }
        return verified
    }

    /// Spends the nonce of a request whose signature checked out, with `audit` in the same commit.
    private func recordNonce(_ verified: Verified, audit: AuditEntry?) async throws {
        let params = verified.parameters
        guard try await store.recordNonce(consumerKey: verified.consumer.key, nonce: params.nonce, timestamp: params.timestamp,
                                          audit: audit) else {
            throw OAuth1Problem(.nonceUsed, "this oauth_nonce was already used")
        }
    }

    /// Verifies a request for a protected resource and resolves who it acts for (INTERFACE §7):
    /// an access token (3LO), no token (2LO), or no token with `xoauth_requestor_id` (2LO impersonation).
    ///
    /// INTERFACE §8: two-legged and impersonated requests are audited. A refusal here is recorded
    /// with the nonce; for an accepted request `useEntry` (the caller's decision on it, e.g. a
    /// scope check) gives the entry, so one commit covers the nonce and the audit.
    public func authenticate(_ request: SignedRequest,
                             useEntry: (OAuth1Principal) -> AuditEntry? = { _ in nil }) async throws -> OAuth1Principal {
        let verified = try await checkSignatureAndNetwork(request)
        let consumer = verified.consumer, params = verified.parameters
        if let token = params.token {
            try await recordNonce(verified, audit: nil)
            return try await threeLegged(token: token, consumer: consumer)
        }
        let detail = params.requestorId == nil ? "oauth1 2LO" : "oauth1 2LO with impersonation"
        let principal: OAuth1Principal
        do {
            principal = try await twoLegged(params, consumer: consumer)
        } catch let problem as OAuth1Problem {
            // The nonce is spent either way; a replayed one is reported as such, without an entry.
            try await recordNonce(verified, audit: audit.entry(
                AuditAction.tokenUse, actor: consumer.key, client: consumer.key, subject: params.requestorId.map { String($0.prefix(64)) },
                outcome: .failure, detail: "\(detail): \(problem.problem.rawValue)"))
            throw problem
        }
        try await recordNonce(verified, audit: useEntry(principal))
        return principal
    }

    private func threeLegged(token: String, consumer: Consumer) async throws -> OAuth1Principal {
        guard consumer.threeLeggedAllowed else {
            throw OAuth1Problem(.permissionDenied, "three-legged access is not allowed for this consumer")
        }
        guard token.utf8.count <= 256, let record = try await store.token(digest: Digest.storageDigest(of: token)),
              record.kind == .access, record.consumerKey == consumer.key else {
            throw OAuth1Problem(.tokenRejected, "oauth_token is not an access token of this consumer")
        }
        guard record.expiresAt > now() else { throw OAuth1Problem(.tokenExpired, "the access token has expired") }
        guard let name = record.userName, let user = try await users.user(named: name) else {
            throw OAuth1Problem(.tokenRejected, "the access token's user no longer exists")
        }
        return OAuth1Principal(consumer: consumer, user: user, mode: .user, token: token)
    }

    private func twoLegged(_ params: ProtocolParameters, consumer: Consumer) async throws -> OAuth1Principal {
        if let requestor = params.requestorId {
            guard consumer.impersonationAllowed else {
                throw OAuth1Problem(.permissionDenied, "this consumer may not impersonate users")
            }
            guard requestor.utf8.count <= 64, let user = try await users.user(named: requestor) else {
                throw OAuth1Problem(.permissionDenied, "xoauth_requestor_id names no user")
            }
            return OAuth1Principal(consumer: consumer, user: user, mode: .impersonation)
        }
        guard consumer.twoLeggedAllowed else {
            throw OAuth1Problem(.permissionDenied, "two-legged access is not allowed for this consumer")
        }
        if let executeAs = consumer.executeAs {
            guard let user = try await users.user(named: executeAs) else {
                throw OAuth1Problem(.permissionDenied, "the consumer's execute-as user no longer exists")
            }
            return OAuth1Principal(consumer: consumer, user: user, mode: .application)
        }
        return OAuth1Principal(consumer: consumer, user: nil, mode: .application)
    }
}

/// Parsed consumer keys, kept so no request pays for PEM parsing; an edited key is noticed
/// because entries are keyed by the PEM text itself.
final class PublicKeyCache: Sendable {
    private let keys = Mutex<[String: RSAPublicKey]>([:])

    func key(for consumer: Consumer) -> RSAPublicKey? {
        let cacheKey = consumer.key + "\u{0}" + consumer.publicKey
        if let cached = keys.withLock({ $0[cacheKey] }) { return cached }
        guard let parsed = try? RSAPublicKey(parsing: consumer.publicKey) else { return nil }
        keys.withLock { keys in
            if keys.count > 1000 { keys.removeAll() }
            keys[cacheKey] = parsed
        }
        return parsed
    }
}
