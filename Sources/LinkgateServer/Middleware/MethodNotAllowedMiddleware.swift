import Hummingbird
import Synchronization

/// RFC 9110 §15.5.6: a request whose path is a route's but whose method is none of that route's
/// gets `405 Method Not Allowed` with `Allow` listing the route's methods, instead of the
/// router's `404` (Hummingbird answers an unmatched method as an unknown path).
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = LinkgateContext
    let routes: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // Only the router's own "no such route" is an HTTPError; handlers' 404s are APIErrors.
            guard let allowed = routes.methods(forPath: request.uri.path), !allowed.contains(request.method) else { throw error }
            throw APIError(.methodNotAllowed, code: "invalid_request", "method \(request.method.rawValue) is not allowed here",
                           headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")])
        }
    }
}

/// Every route's path template and methods; filled from `Router.routes` once all routes are
/// registered (middleware is added before the routes it wraps).
final class RouteMethods: Sendable {
    /// Path segments, nil for a `{parameter}` capture, with the methods of that template.
    private let templates = Mutex<[(segments: [String?], methods: [HTTPRequest.Method])]>([])

    func set(_ routes: [Router<LinkgateContext>.RouteDescription]) {
        var byPath: [String: [HTTPRequest.Method]] = [:]
        for route in routes { byPath[route.path.description, default: []].append(route.method) }
        templates.withLock {
            $0 = byPath.map { path, methods in
                (path.split(separator: "/").map { $0.hasPrefix("{") && $0.hasSuffix("}") ? nil : String($0) },
                 methods.sorted { $0.rawValue < $1.rawValue })
            }
        }
    }

    /// The methods of every template that `path` matches; nil if it matches none.
    func methods(forPath path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/")
        let matching = templates.withLock { templates in
            templates.filter { template in
                template.segments.count == segments.count
                    && zip(template.segments, segments).allSatisfy { literal, segment in literal.map { $0 == segment } ?? true }
            }.flatMap(\.methods)
        }
        guard !matching.isEmpty else { return nil }
        var seen: Set<String> = []
        return matching.filter { seen.insert($0.rawValue).inserted }
    }
}
