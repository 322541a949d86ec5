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
            let scope = try ScopeRequest.grant(try params.single("scope"), ceiling: trusted.client.scope, user: user)
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
            return AuthorizationRequest(client: trusted.client, redirectURI: trusted.redirectURI, scope: scope, state: state,
                                        codeChallenge: challenge, codeChallengeMethod: method)
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
