import Foundation
import LinkgateCore
import LinkgateCrypto

/// Server settings; each comes from a flag or a `LINKGATE_*` environment variable (see the CLI).
public struct ServerConfig: Sendable {
    public var host: String
    public var port: Int
    /// Absolute base URL without a trailing slash; every URL the server emits is built from it.
    public var baseURL: String
    /// Folder holding `templates/` and `static/`.
    public var resourcesPath: String
    /// Password for the bootstrap `admin` user; nil → a random one, logged once.
    public var adminPassword: String?
    /// scrypt cost for new password hashes.
    public var passwordHasher: PasswordHasher
    /// Where password checks hash (INTERFACE §10: bounded; a full pool answers `429`).
    public var kdfPool: KDFPool
    /// Proxies whose `X-Forwarded-For` is believed (INTERFACE §10 `--trusted-proxy`).
    public var trustedProxies: [IPAddressRange]
    /// Seconds an idle keep-alive connection stays open (INTERFACE §10; `--idle-timeout`).
    public var idleTimeoutSeconds: Int
    /// Connections open at once; further ones are closed at accept (INTERFACE §10; `--max-connections`).
    public var maxConnections: Int
    /// Time a connection has to deliver a complete request head (INTERFACE §10: 10 s).
    public var requestHeadTimeout: Duration
    /// Largest request head (request line and header fields) accepted; larger → `431` (INTERFACE §10: 16 KiB).
    public var maxRequestHeadBytes: Int
    /// The user directory (INTERFACE §13), if any.
    public var directory: (any UserDirectory)? = nil
    /// Seconds a directory answer is used before asking again (`--ldap-cache-ttl`).
    public var directoryCacheTTL: Int64 = 300
    /// What the console's System page says about the store: kind and location, never a password.
    public var storeDescription = "SQLite in memory"
    /// How often a server re-reads its id_token signing keys, so it picks up `linkgate keys rotate`
    /// (INTERFACE §14: within 60 s). Shorter only for tests (`LINKGATE_SIGNING_KEYS_REFRESH`).
    public var signingKeysRefresh: Duration = .seconds(30)

    public init(host: String = "127.0.0.1", port: Int = 8080, baseURL: String = "http://127.0.0.1:8080",
                resourcesPath: String = ServerConfig.defaultResourcesPath, adminPassword: String? = nil,
                passwordHasher: PasswordHasher = .standard, idleTimeoutSeconds: Int = 60, maxConnections: Int = 4096,
                requestHeadTimeout: Duration = .seconds(10), maxRequestHeadBytes: Int = 16 * 1024,
                trustedProxies: [IPAddressRange] = [], kdfPool: KDFPool = .shared) {
        self.trustedProxies = trustedProxies
        self.kdfPool = kdfPool
        self.host = host
        self.port = port
        self.baseURL = baseURL
        self.resourcesPath = resourcesPath
        self.adminPassword = adminPassword
        self.passwordHasher = passwordHasher
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxConnections = maxConnections
        self.requestHeadTimeout = requestHeadTimeout
        self.maxRequestHeadBytes = maxRequestHeadBytes
    }

    /// Checks and normalises a base URL: absolute http(s), no query or fragment, no trailing slash.
    public static func normalizedBaseURL(_ text: String) -> String? {
        var url = text
        while url.hasSuffix("/") { url.removeLast() }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
              components.query == nil, components.fragment == nil, components.user == nil else { return nil }
        return url
    }

    /// `./Resources` when run from the repository, else the `Resources` folder of the source tree
    /// this binary was built from.
    public static var defaultResourcesPath: String {
        let cwd = FileManager.default.currentDirectoryPath + "/Resources"
        if FileManager.default.fileExists(atPath: cwd + "/templates") { return cwd }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Resources").path
    }

    var secureCookies: Bool { baseURL.lowercased().hasPrefix("https://") }
}
