import LinkgateCore
import LinkgateMetrics
import OAuth1
import OAuth2

// What the server counts in `linkgate_auth_failures_total{kind,reason}` and
// `linkgate_throttled_total{kind}` (INTERFACE §15): every refused credential and every request
// a throttle or lockout refused (§10), labelled with the credential's kind and the protocol's
// own error code. Malformed requests are not authentication failures and are not counted.

extension PasswordCheck {
    /// This outcome of a password check (login form or HTTP Basic), counted.
    func counted() -> PasswordCheck {
        switch self {
        case .invalid: LinkgateMetrics.authFailure(kind: "password", reason: "invalid_credentials")
        case .throttled: LinkgateMetrics.throttled(kind: "password")
        case .busy: LinkgateMetrics.throttled(kind: "kdf_pool")
        case .valid, .unavailable: break
        }
        return self
    }
}

extension OAuthError {
    /// Counts a failure at the token, revocation or introspection endpoint: `kind` is "client"
    /// for client authentication, "grant" for what the grant presented (code, refresh token, assertion).
    func count(kind: String) {
        switch code {
        case .tooManyRequests: LinkgateMetrics.throttled(kind: "client_secret")
        case .invalidClient: LinkgateMetrics.authFailure(kind: "client", reason: code.rawValue)
        case .invalidGrant, .unauthorizedClient: LinkgateMetrics.authFailure(kind: kind, reason: code.rawValue)
        default: break
        }
    }
}

extension OAuth1Problem {
    /// A refused OAuth 1.0a request, by its `oauth_problem` (a fixed vocabulary, RFC 5849 extension).
    func count() {
        LinkgateMetrics.authFailure(kind: "oauth1", reason: problem.rawValue)
    }
}
