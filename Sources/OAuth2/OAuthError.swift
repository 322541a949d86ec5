/// An OAuth 2.0 error (RFC 6749 §4.1.2.1, §5.2; RFC 7009 §2.2.1; RFC 6750 §3.1). `code` is
/// comparable so tests can assert on it; `description` is safe to show to the client.
public struct OAuthError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case accessDenied = "access_denied"
        case unsupportedResponseType = "unsupported_response_type"
        case unsupportedTokenType = "unsupported_token_type"
        case serverError = "server_error"
        case temporarilyUnavailable = "temporarily_unavailable"
        /// OIDC Core §3.1.2.6: `prompt=none` and the user must log in, or be asked to consent.
        case loginRequired = "login_required"
        case consentRequired = "consent_required"
        /// INTERFACE §10: too many failed client authentications (RFC 6585 §4).
        case tooManyRequests = "too_many_requests"
    }

    public let code: Code
    public let description: String
    /// Seconds for `Retry-After`, with `tooManyRequests`.
    public let retryAfter: Int64?

    public init(_ code: Code, _ description: String, retryAfter: Int64? = nil) {
        self.code = code
        self.description = description
        self.retryAfter = retryAfter
    }

    /// RFC 6749 §5.2: `invalid_client` is 401, server failures 5xx, everything else 400.
    public var httpStatus: Int {
        switch code {
        case .invalidClient: 401
        case .serverError: 500
        case .temporarilyUnavailable: 503
        case .tooManyRequests: 429
        default: 400
        }
    }

    public static func invalidRequest(_ d: String) -> OAuthError { .init(.invalidRequest, d) }
    public static func invalidClient(_ d: String) -> OAuthError { .init(.invalidClient, d) }
    public static func invalidGrant(_ d: String) -> OAuthError { .init(.invalidGrant, d) }
    public static func invalidScope(_ d: String) -> OAuthError { .init(.invalidScope, d) }
    public static func unauthorizedClient(_ d: String) -> OAuthError { .init(.unauthorizedClient, d) }
}
