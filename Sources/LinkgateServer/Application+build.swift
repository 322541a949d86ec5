import Foundation
import Hummingbird
import HummingbirdCore
import LinkgateCore
import Logging
import NIOCore
import OAuth1
import OAuth2

/// Current time in epoch seconds.
@Sendable public func epochSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }

/// Builds the Linkgate application on `store`. Tests call this directly.
/// `storeHealth` answers whether the store can serve requests (`GET /status`, INTERFACE §11, §15);
/// `cluster` shares lockouts with the other nodes on the same database (§11).
public func buildApplication(
    config: ServerConfig, store: any ServerStore, logger: Logger, now: @escaping @Sendable () -> Int64 = epochSeconds,
    storeHealth: (@Sendable () async -> Bool)? = nil, cluster: (any ClusterBus)? = nil
) async throws -> some ApplicationProtocol {
    let router = try await buildRouter(config: config, store: store, logger: logger, now: now, storeHealth: storeHealth, cluster: cluster)
    return Application(
        router: router,
        server: .http1(configuration: http1Configuration(config: config, logger: logger)),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "Linkgate"),
        services: [PruneService(store: store, now: now, logger: logger)],
        logger: logger)
}

/// Every route of one Linkgate server on `store`: the whole server of `serve`, or (with
/// `fixture`) one fixture server or sandbox, which adds the control API, scripted faults, the
/// request journal and the debugging aids of INTERFACE §12.
func buildRouter(
    config: ServerConfig, store: any ServerStore, logger: Logger, now: @escaping @Sendable () -> Int64,
    storeHealth: (@Sendable () async -> Bool)? = nil, cluster: (any ClusterBus)? = nil,
    pages: Pages? = nil, fixture: FixtureInstance? = nil
) async throws -> Router<LinkgateContext> {
    _ = ServerClock.started
    let audit = AuditLog(store: store, now: now)
    // INTERFACE §13: with a user directory, grants, tokens and sessions see its users.
    let gate = config.directory.map { DirectoryGate(directory: $0, ttl: config.directoryCacheTTL, now: now) }
    let users: any UserStore = gate.map { DirectoryFollowingUsers(store, gate: $0, now: now) } ?? store
    let accounts = UserAccounts(store: store, hasher: config.passwordHasher, pool: config.kdfPool, audit: audit, directory: gate, now: now)
    let sessions = Sessions(store: store, users: users, secureCookies: config.secureCookies, now: now)
    let registry = ClientRegistry(store: store, users: users, now: now)
    let oauth1Verifier = RequestVerifier(store: store, users: users, audit: audit, now: now, revealsBaseString: fixture != nil)
    let oauth1Flow = ThreeLeggedFlow(verifier: oauth1Verifier, store: store, now: now)
    let identity: IdentityCell
    let signingKeys: SigningKeySource
    if let fixture {
        identity = fixture.mode.identity
        signingKeys = { [identity] in try await identity.value().signingKeys }
    } else {
        let loaded = try await ServerIdentity.load(from: store)
        identity = IdentityCell(loaded)
        // INTERFACE §14: a rotation on the database reaches this node within `signingKeysRefresh`.
        let ring = SigningKeyRing(settings: store, consumerInfoKey: loaded.consumerInfoSigningKey ?? loaded.signingKeys.keys[0],
                                  initial: loaded.signingKeys, refreshInterval: config.signingKeysRefresh, logger: logger)
        signingKeys = { await ring.current() }
    }
    let oauth2 = AuthorizationServer(config: fixture?.mode.oauth2Config(issuer: config.baseURL) ?? OAuth2Config(issuer: config.baseURL),
                                     clients: store, users: users, grants: store, registry: registry, audit: audit,
                                     signingKeys: signingKeys, now: now)
    let resolvedPages = if let pages { pages } else { try await Pages(resourcesPath: config.resourcesPath) }
    let services = Services(
        config: config, store: store, accounts: accounts, clients: registry, sessions: sessions,
        auth: Authenticator(accounts: accounts, sessions: sessions, oauth2: oauth2, oauth1: oauth1Verifier, oauth1Flow: oauth1Flow,
                            config: config, audit: audit, addresses: ClientAddressResolver(trustedProxies: config.trustedProxies)),
        pages: resolvedPages, oauth2: oauth2,
        consumers: ConsumerRegistry(store: store, users: users, now: now), oauth1Flow: oauth1Flow,
        identity: identity, audit: audit, now: now, fixture: fixture?.mode)
    if let cluster {
        LockoutSync(bus: cluster, throttles: ["password": accounts.throttle, "client_secret": oauth2.clientThrottle],
                    now: now, logger: logger).start()
    }

    let router = Router(context: LinkgateContext.self)
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    if let fixture {
        if !fixture.mode.mountPath.isEmpty { router.add(middleware: MountMiddleware(path: fixture.mode.mountPath)) }
        router.add(middleware: FixtureMiddleware(services: services, fixture: fixture.mode))
    }
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: BodyLimitMiddleware())
    let routeMethods = RouteMethods()
    router.add(middleware: MethodNotAllowedMiddleware(routes: routeMethods))
    StatusRoutes(storeHealth: storeHealth).add(to: router)
    try StaticFiles(resourcesPath: config.resourcesPath).add(to: router)
    try OpenAPIRoutes(resourcesPath: config.resourcesPath, baseURL: config.baseURL).add(to: router)
    WebRoutes(services: services).add(to: router)
    MyselfRoutes(services: services).add(to: router)
    UserRoutes(services: services).add(to: router)
    ClientRoutes(services: services).add(to: router)
    OAuth2Routes(services: services).add(to: router)
    OpenIDRoutes(services: services).add(to: router)
    ApplicationsRoutes(services: services).add(to: router)
    OAuth1Routes(services: services).add(to: router)
    ConsumerRoutes(services: services).add(to: router)
    AuditRoutes(services: services).add(to: router)
    LockoutRoutes(services: services).add(to: router)
    VerifyRoutes(services: services).add(to: router)
    LinksConsole(console: Console(services: services)).add(to: router)
    UsersConsole(console: Console(services: services)).add(to: router)
    AuditConsole(console: Console(services: services)).add(to: router)
    SystemConsole(console: Console(services: services)).add(to: router)
    if let fixture {
        FixtureRoutes(services: services, instance: fixture).add(to: router)
        RequestsConsole(console: Console(services: services)).add(to: router)
    }
    routeMethods.set(router.routes)
    return router
}

/// HTTP/1 connection limits (INTERFACE §10 "Connections"): Hummingbird's idle timeout and NIO's
/// decoder limits where they fit, ``ConnectionGuardHandler`` for the connection count and the
/// request-head deadline.
func http1Configuration(config: ServerConfig, logger: Logger) -> HTTP1Channel.Configuration {
    let limiter = ConnectionLimiter(maximum: config.maxConnections)
    let headTimeout = TimeAmount(config.requestHeadTimeout)
    let headBytes = config.maxRequestHeadBytes
    return HTTP1Channel.Configuration(
        additionalChannelHandlers: [ConnectionGuardHandler(limiter: limiter, headTimeout: headTimeout, logger: logger)],
        idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)),
        httpDecoderConfiguration: .init(maxHeaderFieldSize: headBytes, maxHeaderListSize: headBytes))
}
