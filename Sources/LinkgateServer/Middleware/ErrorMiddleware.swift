import Hummingbird
import LinkgateCore
import Logging

/// Turns every error into a clear response (INTERFACE §1): domain errors into their REST
/// codes, framework errors into the same JSON shape, and anything unexpected into a bare
/// `500` whose log line names only the error's type — never SQL, values or a stack trace.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try Self.apiError(for: error, logger: context.logger).response(from: request, context: context)
        }
    }

    static func apiError(for error: Error, logger: Logger) -> any HTTPResponseError {
        switch error {
        case let error as ValidationError:
            return APIError.invalidRequest(error.description)
        case let error as StoreError:
            switch error {
            case .conflict(let what): return APIError.conflict(what)
            case .notFound: return APIError.notFound("no such entity")
            case .lastAdmin: return APIError.conflict("the last admin user cannot be removed or demoted")
            case .inUse(let why): return APIError.conflict(why)
            case .unavailable(let code):
                logger.error("database error", metadata: ["database_code": "\(code)"])
                return APIError.unavailable
            }
        case let error as DirectoryError:
            logger.warning("user directory unavailable", metadata: ["reason": "\(error)"])
            return APIError.directoryUnavailable
        case let error as HTTPError:
            return translate(error.status)
        case let error as any HTTPResponseError:
            // APIError, HTML pages' errors and the framework's own (413 from body collection…).
            if error is APIError || error is PageError || error is PageRedirect { return error }
            return translate(error.status)
        default:
            logger.error("unhandled error", metadata: ["type": "\(String(reflecting: type(of: error)))"])
            return APIError.serverError
        }
    }

    static func translate(_ status: HTTPResponse.Status) -> APIError {
        switch status {
        case .notFound: .notFound("no such resource")
        case .methodNotAllowed: .init(.methodNotAllowed, code: "invalid_request", "method not allowed")
        case .contentTooLarge: .tooLarge(limit: maximumBodyBytes)
        case .unauthorized: .unauthorized("authentication required", challenge: Authenticator.challenge)
        case .forbidden: .forbidden("forbidden")
        default:
            status.code < 500 ? .invalidRequest(status.reasonPhrase) : .serverError
        }
    }
}
