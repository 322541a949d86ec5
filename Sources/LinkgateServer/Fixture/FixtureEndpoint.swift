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

/// What the journal masks (INTERFACE §12): the value of every parameter whose name says it holds
/// a secret — codes, tokens, verifiers, secrets, passwords, assertions, signatures — and `next`
/// (a path that may carry a token). Other parameters stay in clear, so a journaled OAuth 1.0
/// base string matches the client's except for the masked values.
enum JournalMask {
    static let mask = "***"
    static let secretParts = ["token", "code", "verifier", "secret", "password", "assertion", "signature", "csrf"]
    static let harmless: Set<String> = ["code_challenge", "code_challenge_method", "response_type", "token_type_hint",
                                        "client_assertion_type", "oauth_signature_method"]
    static let alwaysMasked: Set<String> = ["next", "pass", "passwd", "pwd"]

    static func masks(_ name: String) -> Bool {
        let lowered = name.lowercased()
        if harmless.contains(lowered) { return false }
        return alwaysMasked.contains(lowered) || secretParts.contains { lowered.contains($0) }
    }

    static func value(_ name: String, _ value: String) -> String { masks(name) ? mask : value }

    /// `path?query` with masked values; a query that does not parse is replaced whole.
    static func pathAndQuery(path: String, query: String?) -> String {
        guard let query, !query.isEmpty else { return path }
        guard let pairs = try? FormURLEncoded.parse(query) else { return path + "?" + mask }
        return path + "?" + pairs.map { "\(FormURLEncoded.encode($0.name))=\(FormURLEncoded.encode(value($0.name, $0.value)))" }
            .joined(separator: "&")
    }
}
