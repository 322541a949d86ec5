import Hummingbird

/// Refuses a declared body over the limit before any handler runs (`413`); bodies without a
/// length are capped where they are read (`Request.readBody`).
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength], let bytes = Int(length), bytes > maximumBodyBytes {
            throw APIError.tooLarge(limit: maximumBodyBytes)
        }
        return try await next(request, context)
    }
}
