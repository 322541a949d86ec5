import Hummingbird
import LinkgateCore
import NIOCore
import OAuth2

/// A `/rest/...` JSON error in the RFC 6749 §5.2 shape, from an `OAuthError`.
func oauthError(_ error: OAuthError, basicChallenge: Bool = false) -> APIError {
    var headers: HTTPFields = [:]
    if error.code == .invalidClient {
        headers[.wwwAuthenticate] = basicChallenge ? "Basic realm=\"Linkgate\", charset=\"UTF-8\"" : "Basic realm=\"Linkgate\""
    }
    if let retryAfter = error.retryAfter { headers[.retryAfter] = String(max(1, retryAfter)) }
    return APIError(HTTPResponse.Status(code: error.httpStatus), code: error.code.rawValue, error.description, headers: headers)
}

/// Runs an OAuth endpoint body (token, revocation, introspection), turning protocol failures
/// into RFC-shaped JSON errors and counting refused credentials and throttled callers (§15).
func oauthEndpoint(_ body: () async throws -> Response) async throws -> Response {
    do {
        return try await body()
    } catch let failure as ClientAuthentication.Failure {
        failure.error.count(kind: "client")
        throw oauthError(failure.error, basicChallenge: failure.usedBasic)
    } catch let error as OAuthError {
        error.count(kind: "grant")
        throw oauthError(error)
    }
}

/// A successful token response (RFC 6749 §5.1), not cached.
func tokenResponse(_ issued: TokenResponse) -> Response {
    var body: [String: JSONValue] = [
        "access_token": .string(issued.accessToken), "token_type": .string("bearer"),
        "expires_in": .number(Double(issued.expiresIn)), "scope": .string(issued.scopeText),
    ]
    if let refresh = issued.refreshToken { body["refresh_token"] = .string(refresh) }
    // OIDC Core §3.1.3.3 (INTERFACE §14).
    if let idToken = issued.idToken { body["id_token"] = .string(idToken) }
    return jsonResponse(.object(body))
}

/// `303 See Other` to `location`, never cached.
func seeOther(_ location: String) -> Response {
    var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
    headers[.pragma] = "no-cache"
    return Response(status: .seeOther, headers: headers)
}

extension Request {
    /// Query parameters, decoded, in order, duplicates kept; nil when the query is malformed.
    var queryPairs: [(name: String, value: String)]? {
        guard let query = uri.query else { return [] }
        return try? FormURLEncoded.parse(query)
    }

    /// The path and query as received, for `next` after login.
    var pathAndQuery: String {
        uri.query.map { uri.path + "?" + $0 } ?? uri.path
    }
}

extension OpenIDScope {
    /// The OIDC values in words, for the consent page (INTERFACE §14).
    var summaries: [String] {
        ["Know who you are (your user name)"] + (profile ? ["See your name"] : []) + (email ? ["See your e-mail address"] : [])
    }
}

extension Scope {
    /// This scope and the ones it implies, in words, for consent and app pages.
    var impliedSummaries: [String] {
        Scope.allCases.filter { $0 <= self }.map(\.summary)
    }
}
