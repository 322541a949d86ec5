import Hummingbird
import Foundation
import Logging
import NIOCore

/// One log line per request: method, path, status and milliseconds. The query string is left
/// out: it can carry codes, tokens and secrets.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = NIODeadline.now()
        var status = 500
        defer {
            let ms = Double((NIODeadline.now() - start).nanoseconds) / 1_000_000
            context.logger.info("request", metadata: [
                "method": "\(request.method.rawValue)",
                "path": "\(Self.loggablePath(request.uri.path))",
                "status": "\(status)",
                "ms": "\(String(format: "%.1f", ms))",
            ])
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
}
