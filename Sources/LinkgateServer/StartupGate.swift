import Hummingbird
import HummingbirdCore
import LinkgateCore
import Logging
import ServiceLifecycle
import Synchronization

/// `serve`'s HTTP side from the moment the port is bound (INTERFACE §15): while the store is
/// opened and migrated, `GET /status` answers `503 {"state":"STARTING"}` and every other request
/// `503 temporarily_unavailable` with `Retry-After`; once `open` has built the routes, every
/// request goes to them. Reading the installed router is one atomic load.
public final class StartupGate: HTTPResponder, Sendable {
    public typealias Context = LinkgateContext

    private final class Installed: Sendable {
        let responder: RouterResponder<LinkgateContext>
        init(_ responder: RouterResponder<LinkgateContext>) { self.responder = responder }
    }

    private let installed = AtomicLazyReference<Installed>()

    public init() {}

    public func respond(to request: Request, context: LinkgateContext) async throws -> Response {
        if let installed = installed.load() { return try await installed.responder.respond(to: request, context: context) }
        if request.uri.path == "/status" {
            return jsonResponse(.object(["state": .string("STARTING")]), status: .serviceUnavailable)
        }
        var response = jsonResponse(.object([
            "error": .string("temporarily_unavailable"), "error_description": .string("the server is starting; retry shortly"),
        ]), status: .serviceUnavailable)
        response.headers[.retryAfter] = "1"
        return response
    }

    /// Builds every route on `store` and starts answering with them. Returns the service that
    /// prunes expired rows, to run for as long as the server does.
    public func open(config: ServerConfig, store: any ServerStore, logger: Logger, now: @escaping @Sendable () -> Int64 = epochSeconds,
                     storeHealth: (@Sendable () async -> Bool)? = nil, cluster: (any ClusterBus)? = nil) async throws -> some Service {
        let router = try await buildRouter(config: config, store: store, logger: logger, now: now, storeHealth: storeHealth, cluster: cluster)
        _ = installed.storeIfNil(Installed(router.buildResponder()))
        return PruneService(store: store, now: now, logger: logger)
    }
}

/// `serve`'s HTTP server on `config`'s address, answering through `gate` (INTERFACE §10 limits).
public func serverApplication(config: ServerConfig, gate: StartupGate, logger: Logger) -> some ApplicationProtocol {
    Application(
        responder: gate,
        server: .http1(configuration: http1Configuration(config: config, logger: logger)),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "Linkgate"),
        logger: logger)
}
