import LinkgateCore
import LinkgateCrypto

/// The three-legged dance at Atlassian's paths (RFC 5849 §2, INTERFACE §7): request token →
/// user authorization → access token.
public struct ThreeLeggedFlow: Sendable {
    public static let requestTokenLifetime: Int64 = 600
    /// Five years, as Atlassian issues them.
    public static let accessTokenLifetime: Int64 = 5 * 365 * 24 * 3600

    let verifier: RequestVerifier
    let store: any OAuth1Store
    let now: @Sendable () -> Int64
    let usage = UsageThrottle()

    public init(verifier: RequestVerifier, store: any OAuth1Store, now: @escaping @Sendable () -> Int64) {
        self.verifier = verifier
        self.store = store
        self.now = now
    }

    /// `POST …/request-token` (RFC 5849 §2.1): a request token; with `oauth_callback` it is 1.0a.
    public func requestToken(_ request: SignedRequest) async throws -> [(name: String, value: String)] {
        let verified = try await verifier.verify(request)
        guard verified.consumer.threeLeggedAllowed else {
            throw OAuth1Problem(.permissionDenied, "three-legged access is not allowed for this consumer")
        }
        if verified.parameters.token != nil {
            throw OAuth1Problem(.parameterRejected, "a request-token request carries no oauth_token",
                                parameters: [("oauth_parameters_rejected", "oauth_token")])
        }
        let callback = verified.parameters.callback
        if let callback, callback != "oob", !Self.isAbsoluteHTTPURL(callback) {
            throw OAuth1Problem(.parameterRejected, "oauth_callback must be an absolute http(s) URL or 'oob'",
                                parameters: [("oauth_parameters_rejected", "oauth_callback")])
        }
        let token = SecureRandom.token(), secret = SecureRandom.token(), issued = now()
        try await store.saveToken(OAuth1TokenRecord(
            id: SecureRandom.uuid(), digest: Digest.storageDigest(of: token), kind: .request, consumerKey: verified.consumer.key,
            userName: nil, callback: callback, verifierDigest: nil, authorization: .pending, sessionHandleDigest: nil,
            issuedAt: issued, expiresAt: issued + Self.requestTokenLifetime))
        var response = [(name: "oauth_token", value: token), (name: "oauth_token_secret", value: secret)]
        if callback != nil { response.append((name: "oauth_callback_confirmed", value: "true")) }
        return response
    }

    /// A request token awaiting the user's decision, with its consumer; nil if it is unknown,
    /// expired, already decided, or not a request token.
    public func pendingRequest(token: String) async throws -> (record: OAuth1TokenRecord, consumer: Consumer)? {
        guard token.utf8.count <= 256, let record = try await store.token(digest: Digest.storageDigest(of: token)),
              record.kind == .request, record.authorization == .pending, record.expiresAt > now(),
              let consumer = try await store.consumer(key: record.consumerKey) else { return nil }
        return (record, consumer)
    }

    /// What the browser is shown or sent to after the user decides.
    public enum Decision: Sendable, Equatable {
        /// 1.0a with a callback URL: redirect there.
        case redirect(String)
        /// 1.0a with `oob`: show the verifier to copy.
        case showVerifier(String)
        /// OAuth 1.0 (no callback): tell the user to return to the application.
        case returnToApplication
        /// The user denied and there is no callback to tell.
        case denied
        /// The token was unknown, expired or decided already.
        case invalid
    }

    /// Records the user's decision on a request token (RFC 5849 §2.2).
    public func decide(token: String, user: User, approve: Bool) async throws -> Decision {
        let verifier = approve ? SecureRandom.token() : nil
        guard token.utf8.count <= 256,
              let record = try await store.decideRequestToken(digest: Digest.storageDigest(of: token), userName: user.name, approve: approve,
                                                              verifierDigest: verifier.map(Digest.storageDigest(of:)), now: now()) else {
            return .invalid
        }
        switch (record.callback, approve) {
        case (let callback?, _) where callback != "oob":
            // Atlassian answers a denial with the verifier "denied"; the exchange then fails.
            return .redirect(Self.append(to: callback, [("oauth_token", token), ("oauth_verifier", verifier ?? "denied")]))
        case ("oob", true): return .showVerifier(verifier!)
        case (nil, true): return .returnToApplication
        default: return .denied
        }
    }

    /// `POST …/access-token` (RFC 5849 §2.3): spends the approved request token for an access token.
    public func accessToken(_ request: SignedRequest) async throws -> [(name: String, value: String)] {
        let verified = try await verifier.verify(request)
        let params = verified.parameters
        guard verified.consumer.threeLeggedAllowed else {
            throw OAuth1Problem(.permissionDenied, "three-legged access is not allowed for this consumer")
        }
        guard let token = params.token else {
            throw OAuth1Problem(.parameterAbsent, "oauth_token is required", parameters: [("oauth_parameters_absent", "oauth_token")])
        }
        let digest = Digest.storageDigest(of: token)
        // 1.0a tokens need the verifier; look first so a missing one is parameter_absent.
        if let record = try await store.token(digest: digest), record.kind == .request, record.isOneZeroA, params.verifier == nil {
            throw OAuth1Problem(.parameterAbsent, "oauth_verifier is required", parameters: [("oauth_parameters_absent", "oauth_verifier")])
        }
        let accessToken = SecureRandom.token(), secret = SecureRandom.token(), handle = SecureRandom.token(), issued = now()
        let outcome = try await store.exchangeRequestToken(
            digest: digest, consumerKey: verified.consumer.key, verifierDigest: params.verifier.map(Digest.storageDigest(of:)), now: issued
        ) { old in
            OAuth1TokenRecord(id: SecureRandom.uuid(), digest: Digest.storageDigest(of: accessToken), kind: .access,
                              consumerKey: old.consumerKey, userName: old.userName, callback: nil, verifierDigest: nil,
                              authorization: .approved, sessionHandleDigest: Digest.storageDigest(of: handle), issuedAt: issued,
                              expiresAt: issued + Self.accessTokenLifetime, lastUsedAt: issued)
        }
        switch outcome {
        case .exchanged:
            let lifetime = String(Self.accessTokenLifetime)
            return [("oauth_token", accessToken), ("oauth_token_secret", secret), ("oauth_expires_in", lifetime),
                    ("oauth_session_handle", handle), ("oauth_authorization_expires_in", lifetime)]
        case .notFound, .otherConsumer: throw OAuth1Problem(.tokenRejected, "oauth_token is not a request token of this consumer")
        case .notARequestToken: throw OAuth1Problem(.tokenRejected, "oauth_token is already an access token")
        case .expired: throw OAuth1Problem(.tokenExpired, "the request token has expired")
        case .notAuthorized: throw OAuth1Problem(.permissionUnknown, "the user has not yet authorized this request token")
        case .denied: throw OAuth1Problem(.permissionDenied, "the user denied this request token")
        case .wrongVerifier: throw OAuth1Problem(.tokenRejected, "oauth_verifier does not match")
        }
    }

    /// Records a use of the consumer (and its 3LO access token), at most once a minute each.
    public func recordUse(consumer: String, token: String?) async throws {
        let digest = token.map(Digest.storageDigest(of:)), at = now()
        if usage.shouldRecord(consumer + "\u{0}" + (digest ?? ""), now: at) {
            try await store.recordUse(consumerKey: consumer, tokenDigest: digest, now: at)
        }
    }

    static func isAbsoluteHTTPURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        guard (lower.hasPrefix("https://") || lower.hasPrefix("http://")), text.utf8.count <= 2048 else { return false }
        let rest = text.drop(while: { $0 != ":" }).dropFirst(3)
        return !rest.isEmpty && !rest.hasPrefix("/") && text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
    }

    static func append(to url: String, _ parameters: [(String, String)]) -> String {
        let query = parameters.map { "\(PercentEncoding.encode($0.0))=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        let fragmentFree = url.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return fragmentFree + (fragmentFree.contains("?") ? "&" : "?") + query
    }
}
