import Hummingbird
import LinkgateCore

/// The endpoint names fixture mode's faults and journal use (INTERFACE §12).
enum FixtureEndpoint: String, CaseIterable, Sendable {
    case authorize, token, revoke, introspect, metadata, myself
    case oauth1RequestToken = "oauth1-request-token"
    case oauth1Authorize = "oauth1-authorize"
    case oauth1AccessToken = "oauth1-access-token"
    case verify, login

    /// The endpoint a request path (inside the server or sandbox) belongs to; nil for other paths.
    init?(path: String) {
        switch path {
        case "/rest/oauth2/latest/authorize", "/plugins/servlet/oauth2/consent": self = .authorize
        case "/rest/oauth2/latest/token": self = .token
        case "/rest/oauth2/latest/revoke": self = .revoke
        case "/rest/oauth2/latest/introspect": self = .introspect
        case "/.well-known/oauth-authorization-server", "/rest/oauth2/latest/.well-known/oauth-authorization-server": self = .metadata
        case "/rest/api/2/myself", "/rest/api/latest/myself": self = .myself
        case "/plugins/servlet/oauth/request-token": self = .oauth1RequestToken
        case "/plugins/servlet/oauth/authorize": self = .oauth1Authorize
        case "/plugins/servlet/oauth/access-token": self = .oauth1AccessToken
        case "/rest/auth/latest/verify": self = .verify
        case "/login": self = .login
        default: return nil
        }
    }
}

/// Query and form parameters whose values the journal shows in clear; every other value
/// (codes, tokens, verifiers, secrets, passwords, signatures, assertions…) is masked.
enum JournalMask {
    static let mask = "***"
    static let clear: Set<String> = [
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge_method", "grant_type",
        "token_type_hint", "client_assertion_type", "decision", "username", "error", "error_description",
        "oauth_consumer_key", "oauth_signature_method", "oauth_timestamp", "oauth_nonce", "oauth_version", "oauth_callback",
        "user", "client", "action", "cursor", "notice",
    ]

    static func value(_ name: String, _ value: String) -> String { clear.contains(name) ? value : mask }

    /// `path?query` with masked values; a query that does not parse is replaced whole.
    static func pathAndQuery(path: String, query: String?) -> String {
        guard let query, !query.isEmpty else { return path }
        guard let pairs = try? FormURLEncoded.parse(query) else { return path + "?" + mask }
        return path + "?" + pairs.map { "\(FormURLEncoded.encode($0.name))=\(FormURLEncoded.encode(value($0.name, $0.value)))" }
            .joined(separator: "&")
    }
}
