import HTTPTypes
import Hummingbird
import LinkgateCore
import NIOCore

/// A REST or OAuth error, rendered as `{"error","error_description"}` (INTERFACE §1) with
/// `Cache-Control: no-store`.
public struct APIError: Error, HTTPResponseError, Sendable, Equatable {
    public let status: HTTPResponse.Status
    /// The machine-readable code (`invalid_request`, `unauthorized`, …).
    public let code: String
    public let message: String
    public var headers: HTTPFields
    /// More members of the JSON body (fixture mode's `oauth_signature_base_string`, INTERFACE §12).
    public var details: [String: JSONValue] = [:]

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public static func invalidRequest(_ message: String) -> APIError { .init(.badRequest, code: "invalid_request", message) }
    public static func unauthorized(_ message: String, challenge: String) -> APIError {
        .init(.unauthorized, code: "unauthorized", message, headers: [.wwwAuthenticate: challenge])
    }
    public static func forbidden(_ message: String) -> APIError { .init(.forbidden, code: "forbidden", message) }
    public static func notFound(_ message: String) -> APIError { .init(.notFound, code: "not_found", message) }
    public static func conflict(_ message: String) -> APIError { .init(.conflict, code: "conflict", message) }
    public static func tooLarge(limit: Int) -> APIError {
        .init(.contentTooLarge, code: "invalid_request", "request body exceeds \(limit) bytes")
    }
    /// INTERFACE §10: `429` with `Retry-After` (seconds).
    public static func tooManyRequests(_ message: String, retryAfter: Int64) -> APIError {
        .init(.tooManyRequests, code: "too_many_requests", message, headers: [.retryAfter: String(max(1, retryAfter))])
    }
    public static var serverError: APIError { .init(.internalServerError, code: "server_error", "the server could not complete the request") }
    /// INTERFACE §13: a directory user's check while the directory cannot be reached.
    public static var directoryUnavailable: APIError {
        .init(.serviceUnavailable, code: "temporarily_unavailable", "the user directory cannot be reached; retry shortly",
              headers: [.retryAfter: "5"])
    }
    public static var unavailable: APIError {
        .init(.serviceUnavailable, code: "temporarily_unavailable", "the database is busy or unreachable; retry shortly")
    }

    /// Errors of `/rest/api/…` resources carry Jira's `errorMessages`/`errors`; OAuth endpoints,
    /// `/rest/oauth2` and `/rest/oauth1` keep exactly `{"error","error_description"}`.
    static func carriesJiraKeys(path: String) -> Bool {
        path.hasPrefix("/rest/api/")
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        let jira = Self.carriesJiraKeys(path: request.uri.path)
        // Jira's own spelling of the media type: atlassian-python-api shows a 401's reason only
        // when the Content-Type is exactly this (the parameter is case-insensitive, RFC 9110 §8.3.1).
        fields[.contentType] = jira ? "application/json;charset=UTF-8" : "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        fields[.pragma] = "no-cache"
        var object: [String: JSONValue] = details.merging(["error": .string(code), "error_description": .string(message)]) { $1 }
        if jira {
            // INTERFACE §1: Jira's own error shape too, so Jira client libraries show the reason.
            object["errorMessages"] = .array([.string(message)])
            object["errors"] = .object([:])
        }
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(object).serializedBytes())))
    }
}

extension HTTPField.Name {
    static let pragma = Self("Pragma")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
