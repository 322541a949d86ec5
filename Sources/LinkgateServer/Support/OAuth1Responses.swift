import Hummingbird
import LinkgateCore
import NIOCore
import OAuth1

/// `WWW-Authenticate: OAuth realm="BASE", oauth_problem="…"` (INTERFACE §7).
func oauth1Challenge(_ problem: OAuth1Problem, realm: String) -> String {
    var parts = ["OAuth realm=\"\(realm)\"", "oauth_problem=\"\(problem.problem.rawValue)\""]
    for (name, value) in problem.parameters { parts.append("\(name)=\"\(PercentEncoding.encode(value))\"") }
    return parts.joined(separator: ", ")
}

/// A problem on a REST resource: the REST JSON error, with the OAuth challenge header.
func oauth1RESTError(_ problem: OAuth1Problem, realm: String) -> APIError {
    problem.count()
    var error = APIError(HTTPResponse.Status(code: problem.httpStatus), code: problem.httpStatus == 400 ? "invalid_request" : "unauthorized",
                         "oauth_problem=\(problem.problem.rawValue): \(problem.advice)",
                         headers: [.wwwAuthenticate: oauth1Challenge(problem, realm: realm)])
    // Fixture mode's debugging aid (INTERFACE §12) in the body too, not only in the challenge.
    if let baseString = problem.parameters.first(where: { $0.name == "oauth_signature_base_string" })?.value {
        error.details["oauth_signature_base_string"] = .string(baseString)
    }
    return error
}

/// A form-encoded response, as the OAuth 1.0 token endpoints answer (RFC 5849 §2.1, §2.3).
func formResponse(_ pairs: [(name: String, value: String)], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
    var headers = extra
    headers[.contentType] = "application/x-www-form-urlencoded; charset=utf-8"
    headers[.cacheControl] = "no-store"
    headers[.pragma] = "no-cache"
    let body = pairs.map { "\(PercentEncoding.encode($0.name))=\(PercentEncoding.encode($0.value))" }.joined(separator: "&")
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
}

/// A problem at a token endpoint: the status, the challenge, and the problem repeated form-encoded in the body.
func oauth1TokenEndpointError(_ problem: OAuth1Problem, realm: String) -> Response {
    problem.count()
    return formResponse(problem.allParameters, status: HTTPResponse.Status(code: problem.httpStatus),
                        headers: [.wwwAuthenticate: oauth1Challenge(problem, realm: realm)])
}

extension ServerConfig {
    /// The request as OAuth 1.0 sees it, its base-string URI built from the base URL (INTERFACE §7).
    func signedRequest(_ request: Request, form: [(name: String, value: String)] = [], clientAddress: IPAddress?) throws -> SignedRequest {
        guard let query = request.queryPairs else {
            throw OAuth1Problem(.parameterRejected, "the query string is malformed", parameters: [("oauth_parameters_rejected", "query")])
        }
        return SignedRequest(method: request.method.rawValue, baseStringURI: SignedRequest.baseStringURI(base: baseURL, path: request.uri.path),
                             authorization: request.headers[.authorization], query: query, form: form, clientAddress: clientAddress)
    }
}
