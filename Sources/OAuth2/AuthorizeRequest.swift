import LinkgateCore

/// A validated authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
public struct AuthorizationRequest: Sendable, Equatable {
    public let client: OAuth2Client
    public let redirectURI: String
    public let scope: Scope
    /// Returned byte for byte in the redirect.
    public let state: String?
    public let codeChallenge: String?
    public let codeChallengeMethod: PKCE.Method?
    /// OpenID Connect (INTERFACE §14, OIDC Core §3.1.2.1); all nil/empty for plain OAuth 2.0.
    public var openID: OpenIDScope? = nil
    public var nonce: String? = nil
    public var prompt: Set<Prompt> = []
    /// `max_age`: seconds since the login after which the user must log in again.
    public var maxAge: Int64? = nil
    public var loginHint: String? = nil

    /// OIDC Core §3.1.2.1 `prompt` values.
    public enum Prompt: String, Sendable, Hashable {
        case none, login, consent
        case selectAccount = "select_account"
    }

    /// What the request and a session started at `loggedInAt` call for before a code may be
    /// issued (OIDC Core §3.1.2.1 `prompt`, `max_age`): a fresh login, unless a login after
    /// `loginAfter` (the moment the server sent the user to log in again) already happened.
    public func needsLogin(loggedInAt: Int64, now: Int64, loginAfter: Int64?) -> Bool {
        if let loginAfter, loggedInAt >= loginAfter { return false }
        if prompt.contains(.login) { return true }
        if let maxAge, now - loggedInAt > maxAge { return true }
        return false
    }
}

/// Why an authorization request cannot go on.
public enum AuthorizeFailure: Error, Equatable, Sendable {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect
    /// (RFC 6749 §4.1.2.1, first paragraph).
    case errorPage(String)
    /// Tell the client through its redirect URI (RFC 6749 §4.1.2.1).
    case redirect(OAuthError, redirectURI: String, state: String?)
}

/// Step one of the authorize endpoint: the client and its redirect URI. Until both check out,
/// nothing may be sent to the redirect URI.
public struct TrustedRedirect: Sendable, Equatable {
    public let client: OAuth2Client
    public let redirectURI: String
    /// The `state` to echo back with errors, when it was given once.
    public let state: String?
}

public enum AuthorizeRequest {
    /// Resolves the client and checks `redirect_uri` is an exact match of a registered one.
    public static func trustedRedirect(_ params: OAuthParameters, clients: any OAuth2ClientStore) async throws -> TrustedRedirect {
        let clientId: String, redirectURI: String
        do {
            guard let id = try params.single("client_id") else { throw AuthorizeFailure.errorPage("The request names no client (client_id is missing).") }
            clientId = id
            guard let uri = try params.single("redirect_uri") else {
                throw AuthorizeFailure.errorPage("The request has no redirect_uri, so there is nowhere safe to send you back to.")
            }
            redirectURI = uri
        } catch let error as OAuthError {
            throw AuthorizeFailure.errorPage(error.description)
        }
        guard clientId.utf8.count <= 128, let client = try await clients.client(clientId: clientId) else {
            throw AuthorizeFailure.errorPage("No application is registered with this client_id.")
        }
        guard client.redirects.contains(redirectURI) else {
            throw AuthorizeFailure.errorPage("The redirect_uri is not registered for \(client.name).")
        }
        let state = try? params.single("state")
        return TrustedRedirect(client: client, redirectURI: redirectURI, state: state ?? nil)
    }

    /// Validates the rest of the request for `user`; failures redirect to the client.
    public static func validate(_ params: OAuthParameters, trusted: TrustedRedirect, user: User) throws(AuthorizeFailure) -> AuthorizationRequest {
        func fail(_ error: OAuthError) -> AuthorizeFailure { .redirect(error, redirectURI: trusted.redirectURI, state: trusted.state) }
        do {
            let state = try params.single("state")
            switch try params.single("response_type") {
            case "code": break
            case nil: throw OAuthError.invalidRequest("response_type is required")
            case let other?: throw OAuthError(.unsupportedResponseType, "response_type '\(other.prefix(40))' is not supported; use 'code'")
            }
            let scope = try ScopeRequest.grantAllowingOpenID(try params.single("scope"), ceiling: trusted.client.scope, user: user)
            let openID = try OpenIDParameters(params, isOpenID: scope.openID != nil)
            let challenge = try params.single("code_challenge")
            let methodText = try params.single("code_challenge_method")
            var method: PKCE.Method? = nil
            if let challenge {
                guard PKCE.isWellFormedChallenge(challenge) else {
                    throw OAuthError.invalidRequest("code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
                }
                // RFC 7636 §4.3: the method defaults to "plain".
                guard let m = PKCE.Method(rawValue: methodText ?? "plain") else {
                    throw OAuthError.invalidRequest("code_challenge_method must be S256 or plain")
                }
                method = m
            } else if methodText != nil {
                throw OAuthError.invalidRequest("code_challenge_method was sent without code_challenge")
            }
            return AuthorizationRequest(client: trusted.client, redirectURI: trusted.redirectURI, scope: scope.permission, state: state,
                                        codeChallenge: challenge, codeChallengeMethod: method, openID: scope.openID, nonce: openID.nonce,
                                        prompt: openID.prompt, maxAge: openID.maxAge, loginHint: openID.loginHint)
        } catch let error as OAuthError {
            throw fail(error)
        } catch {
            throw fail(.init(.serverError, "the request could not be checked"))
        }
    }

    /// The redirect URI with response parameters added to its query (RFC 6749 §4.1.2).
    public static func redirect(_ base: String, _ parameters: [(String, String?)]) -> String {
        let query = parameters.compactMap { name, value in value.map { "\(name)=\(FormURLEncoded.encode($0))" } }.joined(separator: "&")
        guard !query.isEmpty else { return base }
        let separator = base.contains("?") ? (base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&") : "?"
        return base + separator + query
    }

    /// The error redirect for `failure` of kind `.redirect`.
    public static func errorRedirect(_ error: OAuthError, redirectURI: String, state: String?) -> String {
        redirect(redirectURI, [("error", error.code.rawValue), ("error_description", error.description), ("state", state)])
    }
}

/// The OpenID Connect parameters of an authorization request (OIDC Core §3.1.2.1). Ignored,
/// as OAuth 2.0 asks of unknown parameters (RFC 6749 §3.1), when the request is not an OIDC one.
struct OpenIDParameters {
    var nonce: String? = nil
    var prompt: Set<AuthorizationRequest.Prompt> = []
    var maxAge: Int64? = nil
    var loginHint: String? = nil

    init(_ params: OAuthParameters, isOpenID: Bool) throws(OAuthError) {
        guard isOpenID else { return }
        nonce = try params.single("nonce")
        if let nonce, nonce.utf8.count > 512 { throw .invalidRequest("nonce is longer than 512 characters") }
        if let text = try params.single("prompt") {
            for value in text.split(separator: " ") {
                guard let prompt = AuthorizationRequest.Prompt(rawValue: String(value)) else {
                    throw .invalidRequest("prompt '\(value.prefix(40))' is not one of none, login, consent, select_account")
                }
                self.prompt.insert(prompt)
            }
            // OIDC Core §3.1.2.1: `none` with any other value is an error.
            if prompt.contains(.none) && prompt.count > 1 { throw .invalidRequest("prompt=none cannot be combined with other values") }
        }
        if let text = try params.single("max_age") {
            guard text.utf8.count <= 12, text.utf8.allSatisfy({ (48...57).contains($0) }), let seconds = Int64(text) else {
                throw .invalidRequest("max_age must be a non-negative number of seconds")
            }
            maxAge = seconds
        }
        loginHint = try params.single("login_hint")
        if let hint = loginHint, hint.utf8.count > 255 { loginHint = nil }
    }
}
