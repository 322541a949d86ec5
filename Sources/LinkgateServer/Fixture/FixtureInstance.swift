import Foundation
import Hummingbird
import LinkgateCore
import LinkgateCrypto
import Logging
import OAuth2
import Synchronization

/// What a fixture server or sandbox adds to a Linkgate server (INTERFACE §12): its clock,
/// faults, journal, consent mode and lifetimes.
final class FixtureMode: Sendable {
    /// The sandbox's id; nil for the main fixture server.
    let id: String?
    /// `""`, or `/s/<id>` for a sandbox.
    let mountPath: String
    let seed: SeedFile
    let clock: FixtureClock
    let faults = FaultBook()
    let journal = Journal()
    /// The host's RSA key; a sandbox has its own consumer key and applinks id (it is another
    /// application to link to). Kept across resets.
    let identity: IdentityCell

    init(id: String?, seed: SeedFile, hostIdentity: IdentityCell) {
        self.id = id
        mountPath = id.map { "/s/" + $0 } ?? ""
        self.seed = seed
        clock = FixtureClock(start: seed.now)
        identity = id == nil ? hostIdentity : IdentityCell(making: Task {
            let host = try await hostIdentity.value()
            return ServerIdentity(consumerKey: ServerIdentity.newConsumerKey(), publicKey: host.publicKey, applicationId: SecureRandom.uuid(),
                                  signingKeys: host.signingKeys)
        })
    }

    var consent: SeedFile.ConsentMode { seed.consent }

    /// The seed's lifetimes over OAuth 2.0's defaults.
    func oauth2Config(issuer: String) -> OAuth2Config {
        var config = OAuth2Config(issuer: issuer)
        if let value = seed.lifetimes.accessToken { config.accessTokenLifetime = value }
        if let value = seed.lifetimes.refreshToken { config.refreshTokenLifetime = value }
        if let value = seed.lifetimes.code { config.codeLifetime = value }
        return config
    }
}

/// One fixture server or sandbox: its store as seeded (kept to reset to), its live store and
/// routes. Reset swaps in a fresh copy of the seeded store and fresh services (so lockouts,
/// caches and sessions go too), and empties faults and journal.
final class FixtureInstance: Sendable {
    let mode: FixtureMode
    let host: FixtureHost
    /// The state right after the seed.
    private let seeded: any ServerStore
    private let live: Mutex<(store: any ServerStore, responder: RouterResponder<LinkgateContext>)?> = Mutex(nil)

    private init(mode: FixtureMode, host: FixtureHost, seeded: any ServerStore) {
        self.mode = mode
        self.host = host
        self.seeded = seeded
    }

    /// The host's settings with this server's base URL (`<BASE>/s/<id>` for a sandbox).
    var config: ServerConfig {
        var config = host.config
        config.baseURL += mode.mountPath
        return config
    }

    /// Seeds a copy of `blank` (migrated, empty) and, unless told not to (the main server builds
    /// them once its port, and so its base URL, is known), builds its routes.
    static func make(id: String?, seed: SeedFile, host: FixtureHost, blank: any ServerStore,
                     buildRoutes: Bool = true) async throws -> FixtureInstance {
        let mode = FixtureMode(id: id, seed: seed, hostIdentity: host.identity)
        let config = host.config
        let store = try host.stores.copy(blank)
        let accounts = UserAccounts(store: store, hasher: config.passwordHasher, now: mode.clock.now)
        if !seed.users.contains(where: \.admin) {
            // Without a seeded admin, `admin` logs in to the console with the control token.
            _ = try await accounts.create(NewUser(name: "admin", password: host.controlToken, displayName: "Administrator", email: nil, admin: true))
        }
        try await SeedApplier(store: store, hasher: config.passwordHasher, now: mode.clock.now).apply(seed)
        let instance = FixtureInstance(mode: mode, host: host, seeded: store)
        if buildRoutes { try await instance.reset() }
        return instance
    }

    /// Back to the state right after the seed (INTERFACE §12 `POST /__fixture/reset`).
    func reset() async throws {
        let store = try host.stores.copy(seeded)
        let router = try await buildRouter(config: config, store: store, logger: host.logger, now: mode.clock.now,
                                           pages: host.pages, fixture: self)
        mode.faults.remove(id: nil)
        mode.journal.clear()
        mode.clock.reset()
        let responder = router.buildResponder()
        live.withLock { $0 = (store, responder) }
    }

    func respond(to request: Request, context: LinkgateContext) async throws -> Response {
        guard let responder = live.withLock({ $0?.responder }) else { throw APIError.unavailable }
        return try await responder.respond(to: request, context: context)
    }
}

/// Everything the main fixture server and its sandboxes share: settings, the control token,
/// page templates, an empty migrated store with the server's key, and the sandboxes.
final class FixtureHost: Sendable {
    private let settings: Mutex<ServerConfig>
    let controlToken: String
    let logger: Logger
    let stores: InMemoryStores
    /// The server's RSA key and ids, shared by the main server and every sandbox and kept across
    /// resets; generated in the background while the fixture starts.
    let identity: IdentityCell
    /// The page templates, loaded once for every server and sandbox.
    let pages: Pages
    private let blank: any ServerStore
    private let sandboxes = Mutex<[String: FixtureInstance]>([:])
    private let mainInstance = Mutex<FixtureInstance?>(nil)

    private init(config: ServerConfig, controlToken: String, logger: Logger, pages: Pages, stores: InMemoryStores,
                 blank: any ServerStore) {
        settings = Mutex(config)
        self.stores = stores
        // Off the event loops (Swift concurrency runs on them here): RSA key generation takes ~0.2 s.
        identity = IdentityCell(making: Task {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Result { try ServerIdentity.generate() }) }
            }
        })
        self.controlToken = controlToken
        self.logger = logger
        self.pages = pages
        self.blank = blank
    }

    /// The host and its main fixture server, seeded with `seed`.
    static func start(config: ServerConfig, seed: SeedFile, stores: InMemoryStores, logger: Logger) async throws -> FixtureHost {
        let blank = try stores.empty()
        let host = FixtureHost(config: config, controlToken: SecureRandom.token(), logger: logger,
                               pages: try await Pages(resourcesPath: config.resourcesPath), stores: stores, blank: blank)
        let main = try await FixtureInstance.make(id: nil, seed: seed, host: host, blank: blank, buildRoutes: false)
        host.mainInstance.withLock { $0 = main }
        return host
    }

    var main: FixtureInstance { mainInstance.withLock { $0! } }

    var config: ServerConfig { settings.withLock { $0 } }

    /// Once the listener is bound: the port it got and, unless one was given, the base URL from it;
    /// the main server's routes are built with it.
    func bound(port: Int, baseURL: String) async throws {
        settings.withLock {
            $0.port = port
            $0.baseURL = baseURL
        }
        try await main.reset()
    }


    func sandbox(_ id: String) -> FixtureInstance? { sandboxes.withLock { $0[id] } }

    /// A new sandbox seeded with `seed` (INTERFACE §12 `POST /__fixture/sandboxes`).
    func createSandbox(seed: SeedFile) async throws -> FixtureInstance {
        let id = String(SecureRandom.token().prefix(12)).replacingOccurrences(of: "-", with: "x").replacingOccurrences(of: "_", with: "y")
        let sandbox = try await FixtureInstance.make(id: id, seed: seed, host: self, blank: blank)
        sandboxes.withLock { $0[id] = sandbox }
        return sandbox
    }

    func deleteSandbox(_ id: String) -> Bool { sandboxes.withLock { $0.removeValue(forKey: id) != nil } }
}

/// The fixture application's responder: `/s/<id>/…` goes, without the prefix, to sandbox `id`
/// (an unknown or deleted one is `404`); everything else to the main fixture server.
struct FixtureResponder: HTTPResponder {
    typealias Context = LinkgateContext
    let host: FixtureHost

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/s/") else { return try await host.main.respond(to: request, context: context) }
        let rest = path.dropFirst(3)
        let id = String(rest.prefix { $0 != "/" })
        guard let sandbox = host.sandbox(id) else {
            return try APIError.notFound("no such sandbox").response(from: request, context: context)
        }
        var head = request.head
        let inner = rest.dropFirst(id.count)
        head.path = (inner.isEmpty ? "/" : String(inner)) + (request.uri.query.map { "?" + $0 } ?? "")
        return try await sandbox.respond(to: Request(head: head, body: request.body), context: context)
    }
}

/// Fixture mode's stores (INTERFACE §12: nothing on disk): a new empty one, and a copy of one
/// (for reset and sandboxes). The CLI provides in-memory SQLite.
public struct InMemoryStores: Sendable {
    let empty: @Sendable () throws -> any ServerStore
    let copy: @Sendable (any ServerStore) throws -> any ServerStore

    public init<Store: ServerStore>(empty: @escaping @Sendable () throws -> Store, copy: @escaping @Sendable (Store) throws -> Store) {
        self.empty = { try empty() }
        // Every store here was made by `empty` or `copy`, so it is a `Store`.
        self.copy = { try copy($0 as! Store) }
    }
}

/// The fixture application (INTERFACE §12): the main fixture server and its sandboxes on one
/// port. The seed is applied before it listens, so a bad one stops the start.
public struct FixtureServer: Sendable {
    let host: FixtureHost
    public var controlToken: String { host.controlToken }

    public init(config: ServerConfig, seed: SeedFile, stores: InMemoryStores, logger: Logger) async throws {
        host = try await FixtureHost.start(config: config, seed: seed, stores: stores, logger: logger)
    }

    /// Waits for work still running in the background (the RSA key generation): exiting while
    /// OpenSSL is inside it would run its exit handlers under that thread and crash the process.
    public func finishBackgroundWork() async {
        _ = try? await host.identity.value()
    }

    /// The application. Once it listens, `ready` gets the base URL (from the bound port unless
    /// `fixedBaseURL`); a failure then goes to `failed`.
    public func application(fixedBaseURL: String?, ready: @escaping @Sendable (String) async -> Void,
                            failed: @escaping @Sendable (any Error) -> Void) -> some ApplicationProtocol {
        let host = self.host
        let config = host.config
        return Application(
            responder: FixtureResponder(host: host),
            server: .http1(configuration: http1Configuration(config: config, logger: host.logger)),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "Linkgate"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                let hostPart = config.host.contains(":") ? "[\(config.host)]" : config.host
                let base = fixedBaseURL ?? "http://\(hostPart):\(port)"
                do {
                    try await host.bound(port: port, baseURL: base)
                    await ready(base)
                } catch {
                    failed(error)
                }
            },
            logger: host.logger)
    }
}
