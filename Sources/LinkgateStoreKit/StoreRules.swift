import OAuth1

/// Decisions both stores make the same way, kept free of SQL.
public enum StoreRules {
    /// Whether a request token may be exchanged for an access token (RFC 5849 §2.3): it must be
    /// a live, approved request token of this consumer, and for OAuth 1.0a the verifier must match.
    /// Nil means it may; the store then spends it atomically.
    public static func refusal(toExchange record: OAuth1TokenRecord, consumerKey: String, verifierDigest: String?,
                               now: Int64) -> RequestTokenExchange? {
        guard record.kind == .request else { return .notARequestToken }
        guard record.consumerKey == consumerKey else { return .otherConsumer }
        guard record.expiresAt > now else { return .expired }
        switch record.authorization {
        case .pending: return .notAuthorized
        case .denied: return .denied
        case .approved: break
        }
        if record.isOneZeroA {
            guard let expected = record.verifierDigest, let given = verifierDigest, expected == given else { return .wrongVerifier }
        }
        return nil
    }
}
