import Hummingbird

/// Headers every response carries (INTERFACE §1): no framing, no referrer, no MIME sniffing,
/// and a content security policy that allows only this origin's own styles and forms.
/// `form-action` is left out on purpose: browsers apply it to the redirect after the consent
/// form, which must reach the client's redirect URI.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}
