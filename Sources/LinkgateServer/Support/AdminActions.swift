import LinkgateCore
import OAuth1

/// Admin operations shared by the REST API and the web console: each does the change and
/// writes its audit entry, so both front ends behave alike.
struct AdminActions: Sendable {
    let services: Services
    /// The admin doing it (audit `actor`).
    let admin: String?

    // MARK: Users

    func createUser(_ input: NewUser) async throws -> User {
        let user = try await services.accounts.create(input)
        try await services.audit.record(AuditAction.userCreate, actor: admin, subject: user.name, detail: user.admin ? "admin user" : nil)
        return user
    }

    func updateUser(_ name: String, _ change: UserChange) async throws -> User {
        let user = try await services.accounts.update(name: name, change: change)
        var keys: [String] = []
        if change.displayName != nil { keys.append("displayName") }
        if change.email != nil { keys.append("email") }
        if change.admin != nil { keys.append("admin") }
        if change.password != nil { keys.append("password") }
        try await services.audit.record(AuditAction.userUpdate, actor: admin, subject: user.name, detail: "changed: " + keys.joined(separator: ", "))
        return user
    }

    func deleteUser(_ name: String) async throws {
        try await services.accounts.delete(name: name)
        try await services.audit.record(AuditAction.userDelete, actor: admin, subject: name,
                                        detail: "the user's sessions, grants and tokens were revoked")
    }

    // MARK: OAuth 2.0 clients

    func registerClient(_ input: NewOAuth2Client) async throws -> (client: OAuth2Client, secret: String) {
        let (client, secret) = try await services.clients.register(input)
        try await services.audit.record(AuditAction.clientCreate, actor: admin, client: client.clientId, subject: client.name,
                                        detail: "scope \(client.scope.rawValue)\(client.impersonation ? ", impersonation" : "")")
        return (client, secret)
    }

    func updateClient(_ clientId: String, _ change: OAuth2ClientChange) async throws -> OAuth2Client {
        let client = try await services.clients.update(clientId: clientId, change: change)
        var keys: [String] = []
        if change.name != nil { keys.append("name") }
        if change.redirects != nil { keys.append("redirects") }
        if change.scope != nil { keys.append("scope") }
        if change.impersonation != nil { keys.append("impersonation") }
        if change.publicKey != nil { keys.append("publicKey") }
        if change.executeAs != nil { keys.append("executeAs") }
        if change.allowedAddresses != nil { keys.append("allowedAddresses") }
        try await services.audit.record(AuditAction.clientUpdate, actor: admin, client: client.clientId, subject: client.name,
                                        detail: "changed: " + keys.joined(separator: ", "))
        return client
    }

    func resetClientSecret(_ clientId: String) async throws -> (client: OAuth2Client, secret: String) {
        let (client, secret) = try await services.clients.resetSecret(clientId: clientId)
        try await services.audit.record(AuditAction.clientResetSecret, actor: admin, client: client.clientId, subject: client.name)
        return (client, secret)
    }

    func deleteClient(_ clientId: String) async throws {
        try await services.clients.delete(clientId: clientId)
        try await services.audit.record(AuditAction.clientDelete, actor: admin, client: clientId, detail: "its codes and tokens were revoked")
    }

    // MARK: OAuth 1.0a consumers

    func registerConsumer(_ input: NewConsumer) async throws -> Consumer {
        let consumer = try await services.consumers.register(input)
        try await services.audit.record(AuditAction.consumerCreate, actor: admin, client: consumer.key, subject: consumer.name,
                                        detail: Self.modes(consumer))
        return consumer
    }

    func updateConsumer(_ key: String, _ change: ConsumerChange) async throws -> Consumer {
        let consumer = try await services.consumers.update(key: key, change: change)
        try await services.audit.record(AuditAction.consumerUpdate, actor: admin, client: consumer.key, subject: consumer.name,
                                        detail: Self.modes(consumer))
        return consumer
    }

    func deleteConsumer(_ key: String) async throws {
        try await services.consumers.delete(key: key)
        try await services.audit.record(AuditAction.consumerDelete, actor: admin, client: key, detail: "its tokens were revoked")
    }

    /// The modes a consumer allows, for the audit log and the console.
    static func modes(_ consumer: Consumer) -> String {
        "modes: " + (modeList(consumer).isEmpty ? "none" : modeList(consumer).joined(separator: ", "))
    }

    static func modeList(_ consumer: Consumer) -> [String] {
        var modes: [String] = []
        if consumer.threeLeggedAllowed { modes.append("3LO") }
        if consumer.twoLeggedAllowed { modes.append("2LO" + (consumer.executeAs.map { " as \($0)" } ?? "")) }
        if consumer.impersonationAllowed { modes.append("impersonation") }
        return modes
    }
}

extension Services {
    func admin(_ principal: Principal) -> AdminActions { AdminActions(services: self, admin: principal.user?.name) }
}
