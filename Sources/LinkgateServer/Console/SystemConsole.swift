import Hummingbird
import LinkgateCore

/// `/admin/system` (INTERFACE §15): what is running — version, store (never a password), user
/// directory and whether it answers now, uptime, and counts of users, links and live tokens.
struct SystemConsole {
    let console: Console

    func add(to router: Router<LinkgateContext>) {
        router.get("/admin/system", use: page)
    }

    @Sendable func page(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let services = console.services
        let now = services.now()
        let store = services.store
        async let users = store.users()
        async let clients = store.clients()
        async let consumers = store.consumers()
        async let clientUsage = store.clientUsage(now: now)
        async let consumerUsage = store.consumerUsage(now: now)
        let (userList, clientList, consumerList) = try await (users, clients, consumers)
        let liveOAuth2 = try await clientUsage.values.reduce(0) { $0 + $1.activeTokens }
        let liveOAuth1 = try await consumerUsage.values.reduce(0) { $0 + $1.activeTokens }
        return try console.render("admin-system", session, [
            "version": linkgateVersion,
            "store": services.config.storeDescription,
            "directory": await Self.directoryState(services.config.directory),
            "uptime": Self.uptime(ServerClock.started.duration(to: .now)),
            "users": userList.count,
            "directoryUsers": userList.filter { !$0.isLocal }.count,
            "clients": clientList.count, "consumers": consumerList.count, "links": clientList.count + consumerList.count,
            "liveOAuth2": liveOAuth2, "liveOAuth1": liveOAuth1, "liveTokens": liveOAuth2 + liveOAuth1,
        ], section: "system")
    }

    /// "none", or where the directory is and whether it answers a lookup now.
    static func directoryState(_ directory: (any UserDirectory)?) async -> [String: Any] {
        guard let directory else { return ["configured": false] }
        let reachable: Bool
        do {
            // A name no directory holds: the answer ("no such entry") proves the directory answers.
            _ = try await directory.lookup(name: "linkgate-system-probe")
            reachable = true
        } catch {
            reachable = false
        }
        return ["configured": true, "kind": directory.kind, "location": directory.location, "reachable": reachable]
    }

    /// "3 d 4 h 5 min", "4 h 5 min", "5 min 6 s".
    static func uptime(_ duration: Duration) -> String {
        let seconds = max(0, duration.components.seconds)
        let days = seconds / 86_400, hours = seconds % 86_400 / 3_600, minutes = seconds % 3_600 / 60
        if days > 0 { return "\(days) d \(hours) h \(minutes) min" }
        if hours > 0 { return "\(hours) h \(minutes) min" }
        return "\(minutes) min \(seconds % 60) s"
    }
}

/// When this server process began serving (for the System page's uptime).
enum ServerClock {
    static let started = ContinuousClock.now
}
