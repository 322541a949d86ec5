import Hummingbird
import Foundation
import LinkgateMetrics
import Logging
import NIOCore

/// One log line per request — method, path, status and milliseconds — and, with metrics on,
/// the same measurement as `linkgate_http_requests_total` and `_duration_seconds` (INTERFACE
/// §15). The query string is left out of the log: it can carry codes, tokens and secrets.
/// Metrics are labelled with the matched route's template, never the raw path.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = NIODeadline.now()
        var status = 500
        defer {
            let nanoseconds = (NIODeadline.now() - start).nanoseconds
            context.logger.info("request", metadata: [
                "method": "\(request.method.rawValue)",
                "path": "\(Self.loggablePath(request.uri.path))",
                "status": "\(status)",
                "ms": "\(String(format: "%.1f", Double(nanoseconds) / 1_000_000))",
            ])
            LinkgateMetrics.httpRequest(route: Self.routeLabel(context.endpointPath), method: request.method.rawValue,
                                        status: status, nanoseconds: nanoseconds)
        }
        let response = try await next(request, context)
        status = response.status.code
        return response
    }

    /// The path, cut to a sane length and with control characters replaced, so a hostile
    /// request cannot forge log lines.
    static func loggablePath(_ path: String) -> String {
        String(path.prefix(256).unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }

    /// The route template the router matched; "unmatched" for a path no route serves.
    static func routeLabel(_ endpointPath: String?) -> String {
        guard let endpointPath, endpointPath != "NotFound" else { return "unmatched" }
        return endpointPath
    }
}
