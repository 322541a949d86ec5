import LinkgateCore
import LinkgateCrypto
import OAuth1

/// Admin operations shared by the REST API, the web console and the `linkgate user|client|consumer`
/// commands (INTERFACE §15): each does the change through the same registry and writes its audit
/// entry, so every front end behaves alike.
public struct AdminActions: Sendable {
    let accounts: UserAccounts
    let clients: ClientRegistry
    let consumers: ConsumerRegistry
    let audit: AuditLog
    /// The admin doing it (audit `actor`).
    let admin: String?

    init(services: Services, admin: String?) {
        accounts = services.accounts
        clients = services.clients
        consumers = services.consumers
        audit = services.audit
        self.admin = admin
    }

    /// The same actions straight on `store`, with no HTTP server (the CLI, INTERFACE §15); `actor`
    /// is recorded as the audit entries' actor. Registries and audit log are built as
    /// `buildRouter` builds them, without a user directory (§13: the CLI manages local users).
    public init(store: any ServerStore, actor: String, hasher: PasswordHasher = .standard,
                now: @escaping @Sendable () -> Int64 = epochSeconds) {
        let audit = AuditLog(store: store, now: now)
        self.audit = audit
        accounts = UserAccounts(store: store, hasher: hasher, audit: audit, now: now)
        clients = ClientRegistry(store: store, users: store, now: now)
        consumers = ConsumerRegistry(store: store, users: store, now: now)
        admin = actor
    }

    // MARK: Users

    public func createUser(_ input: NewUser) async throws -> User {
        let user = try await accounts.create(input)
        try await audit.record(AuditAction.userCreate, actor: admin, subject: user.name, detail: user.admin ? "admin user" : nil)
        return user
    }

    public func updateUser(_ name: String, _ change: UserChange) async throws -> User {
        let user = try await accounts.update(name: name, change: change)
        var keys: [String] = []
        if change.displayName != nil { keys.append("displayName") }
        if change.email != nil { keys.append("email") }
        if change.admin != nil { keys.append("admin") }
        if change.password != nil { keys.append("password") }
        try await audit.record(AuditAction.userUpdate, actor: admin, subject: user.name, detail: "changed: " + keys.joined(separator: ", "))
        return user
    }

    public func deleteUser(_ name: String) async throws {
        try await accounts.delete(name: name)
        try await audit.record(AuditAction.userDelete, actor: admin, subject: name,
                                        detail: "the user's sessions, grants and tokens were revoked")
    }

    // MARK: OAuth 2.0 clients

    public func registerClient(_ input: NewOAuth2Client) async throws -> (client: OAuth2Client, secret: String) {
        let (client, secret) = try await clients.register(input)
        try await audit.record(AuditAction.clientCreate, actor: admin, client: client.clientId, subject: client.name,
                                        detail: "scope \(client.scope.rawValue)\(client.impersonation ? ", impersonation" : "")")
        return (client, secret)
    }

    public func updateClient(_ clientId: String, _ change: OAuth2ClientChange) async throws -> OAuth2Client {
        let client = try await clients.update(clientId: clientId, change: change)
        var keys: [String] = []
        if change.name != nil { keys.append("name") }
        if change.redirects != nil { keys.append("redirects") }
        if change.scope != nil { keys.append("scope") }
        if change.impersonation != nil { keys.append("impersonation") }
        if change.publicKey != nil { keys.append("publicKey") }
        if change.executeAs != nil { keys.append("executeAs") }
        if change.allowedAddresses != nil { keys.append("allowedAddresses") }
        try await audit.record(AuditAction.clientUpdate, actor: admin, client: client.clientId, subject: client.name,
                                        detail: "changed: " + keys.joined(separator: ", "))
        return client
    }

    public func resetClientSecret(_ clientId: String) async throws -> (client: OAuth2Client, secret: String) {
        let (client, secret) = try await clients.resetSecret(clientId: clientId)
        try await audit.record(AuditAction.clientResetSecret, actor: admin, client: client.clientId, subject: client.name)
        return (client, secret)
    }

    public func deleteClient(_ clientId: String) async throws {
        try await clients.delete(clientId: clientId)
        try await audit.record(AuditAction.clientDelete, actor: admin, client: clientId, detail: "its codes and tokens were revoked")
    }

    // MARK: OAuth 1.0a consumers

    public func registerConsumer(_ input: NewConsumer) async throws -> Consumer {
        let consumer = try await consumers.register(input)
        try await audit.record(AuditAction.consumerCreate, actor: admin, client: consumer.key, subject: consumer.name,
                                        detail: Self.modes(consumer))
        return consumer
    }

    public func updateConsumer(_ key: String, _ change: ConsumerChange) async throws -> Consumer {
        let consumer = try await consumers.update(key: key, change: change)
        try await audit.record(AuditAction.consumerUpdate, actor: admin, client: consumer.key, subject: consumer.name,
                                        detail: Self.modes(consumer))
        return consumer
    }

    public func deleteConsumer(_ key: String) async throws {
        try await consumers.delete(key: key)
        try await audit.record(AuditAction.consumerDelete, actor: admin, client: key, detail: "its tokens were revoked")
    }

    /// The modes a consumer allows, for the audit log and the console.
    public static func modes(_ consumer: Consumer) -> String {
        "modes: " + (modeList(consumer).isEmpty ? "none" : modeList(consumer).joined(separator: ", "))
    }

    public static func modeList(_ consumer: Consumer) -> [String] {
        var modes: [String] = []
        if consumer.threeLeggedAllowed { modes.append("3LO") }
        if consumer.twoLeggedAllowed { modes.append("2LO" + (consumer.executeAs.map { " as \($0)" } ?? "")) }
        if consumer.impersonationAllowed { modes.append("impersonation") }
        return modes
    }

    // MARK: id_token signing keys

    /// `linkgate keys rotate` (INTERFACE §14): a new signing key on `store`, audited as `keys.rotate` with its kid.
    public func rotateSigningKey(on store: any SettingsStore, now: Int64 = epochSeconds()) async throws -> SigningKeyList.RotatedKey {
        let rotated = try await SigningKeyList.rotate(settings: store, now: now)
        try await audit.record(AuditAction.keysRotate, actor: admin, subject: rotated.kid, detail: "new id_token signing key")
        return rotated
    }
}

extension Services {
    func admin(_ principal: Principal) -> AdminActions { AdminActions(services: self, admin: principal.user?.name) }
}
