import HTTPTypes
import Hummingbird
import LinkgateCore
import OAuth1

/// `GET /rest/auth/latest/verify` (INTERFACE §8): a reverse proxy's `auth_request` asks whether
/// the caller's credentials are good. Bearer tokens and OAuth 1.0a signed requests; the signed
/// request is rebuilt from `X-Original-Method` and `X-Original-URL` (or `X-Original-URI` under BASE).
struct VerifyRoutes {
    let services: Services

    func add(to router: Router<LinkgateContext>) {
        router.get("/rest/auth/latest/verify", use: verify)
    }

    static let challenge = "Bearer realm=\"Linkgate\""

    @Sendable func verify(_ request: Request, context: LinkgateContext) async throws -> Response {
        let required = try request.headers[.linkgateRequireScope].map { text in
            guard let scope = Scope(rawValue: text) else {
                throw APIError.invalidRequest("X-Linkgate-Require-Scope must be READ, WRITE, ADMIN or SYSTEM_ADMIN")
            }
            return scope
        }
        let authorizations = request.headers[values: .authorization]
        guard authorizations.count == 1, let authorization = authorizations.first else {
            throw APIError.unauthorized(authorizations.isEmpty ? "credentials are required" : "more than one Authorization header",
                                        challenge: Self.challenge)
        }
        let (scheme, credential) = Authenticator.split(authorization)
        let requirement = Authenticator.Requirement(scope: required)
        let principal: Principal
        switch scheme {
        case "bearer":
            principal = try await services.auth.bearer(credential, from: services.auth.addresses.address(request, context))
            try await services.auth.recordUse(principal, refusal: requirement.refusal(for: principal)?.message)
        case "oauth":
            let original = try originalRequest(request, authorization: authorization,
                                               clientAddress: services.auth.addresses.address(request, context))
            do {
                principal = try await services.auth.oauth1Principal(original, auditing: requirement)
            } catch let error as APIError where error.status == .badRequest {
                // nginx's auth_request knows only 2xx, 401 and 403: a malformed credential is a 401 here.
                throw APIError(.unauthorized, code: "unauthorized", error.message, headers: error.headers)
            }
        default:
            throw APIError.unauthorized("only Bearer tokens and OAuth 1.0a signed requests are verified here", challenge: Self.challenge)
        }
        if let refusal = requirement.refusal(for: principal) { throw refusal }
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if let user = principal.user { headers[.linkgateUser] = user.name }
        if let client = principal.client { headers[.linkgateClient] = client }
        if let scope = principal.scope { headers[.linkgateScope] = scope.rawValue }
        if let mode = principal.mode { headers[.linkgateMode] = mode.rawValue }
        return Response(status: .ok, headers: headers)
    }

    /// The client's request as the proxy relays it (its body cannot be relayed).
    private func originalRequest(_ request: Request, authorization: String, clientAddress: IPAddress?) throws -> SignedRequest {
        guard let method = request.headers[.originalMethod], !method.isEmpty, method.count <= 16,
              method.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw APIError.invalidRequest("X-Original-Method is required for OAuth 1.0a requests")
        }
        let url: String
        if let original = request.headers[.originalURL] {
            let lower = original.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                throw APIError.invalidRequest("X-Original-URL must be an absolute http(s) URL")
            }
            url = original
        } else if let uri = request.headers[.originalURI], uri.hasPrefix("/") {
            url = services.config.baseURL + uri
        } else {
            throw APIError.invalidRequest("X-Original-URL or X-Original-URI is required for OAuth 1.0a requests")
        }
        let query = url.split(separator: "?", maxSplits: 1).dropFirst().first.map { String($0.prefix(while: { $0 != "#" })) } ?? ""
        guard let pairs = try? FormURLEncoded.parse(query) else { throw APIError.invalidRequest("the original query string is malformed") }
        return SignedRequest(method: method.uppercased(), baseStringURI: SignedRequest.normalize(url), authorization: authorization, query: pairs,
                             clientAddress: clientAddress)
    }
}

extension HTTPField.Name {
    static let linkgateRequireScope = Self("X-Linkgate-Require-Scope")!
    static let linkgateUser = Self("X-Linkgate-User")!
    static let linkgateClient = Self("X-Linkgate-Client")!
    static let linkgateScope = Self("X-Linkgate-Scope")!
    static let linkgateMode = Self("X-Linkgate-Mode")!
    static let originalMethod = Self("X-Original-Method")!
    static let originalURL = Self("X-Original-URL")!
    static let originalURI = Self("X-Original-URI")!
}
