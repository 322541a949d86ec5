import LinkgateCore
import LinkgateCrypto
import OAuth1

/// Makes the store match a seed file's users, clients and consumers (INTERFACE §12):
/// missing ones are created, existing ones (by name, clientId or key) are updated to match, and
/// nothing is deleted, so applying the same file at every start is harmless. Values go through
/// the same registries as REST; the first bad entry stops it with a message naming the entry.
public struct SeedApplier: Sendable {
    let store: any ServerStore
    let accounts: UserAccounts
    let clients: ClientRegistry
    let consumers: ConsumerRegistry

    public init(store: any ServerStore, hasher: PasswordHasher, now: @escaping @Sendable () -> Int64) {
        self.store = store
        accounts = UserAccounts(store: store, hasher: hasher, now: now)
        clients = ClientRegistry(store: store, now: now)
        consumers = ConsumerRegistry(store: store, users: store, now: now)
    }

    /// What applying changed, for the start-up log.
    public struct Outcome: Sendable, Equatable {
        public var created = 0
        public var updated = 0
        public var unchanged = 0
    }

    @discardableResult
    public func apply(_ seed: SeedFile) async throws(SeedError) -> Outcome {
        var outcome = Outcome()
        // Users first: clients and consumers may name them as their execute-as user.
        for (index, user) in seed.users.enumerated() {
            try await step("users[\(index)] (\(user.name.prefix(64)))", &outcome) { try await self.apply(user) }
        }
        for (index, client) in seed.clients.enumerated() {
            try await step("clients[\(index)] (\(client.input.name.prefix(64)))", &outcome) { try await self.apply(client) }
        }
        for (index, consumer) in seed.consumers.enumerated() {
            try await step("consumers[\(index)] (\(consumer.key.prefix(64)))", &outcome) { try await self.apply(consumer) }
        }
        return outcome
    }

    private enum Change { case created, updated, unchanged }

    private func step(_ entry: String, _ outcome: inout Outcome, _ body: () async throws -> Change) async throws(SeedError) {
        do {
            switch try await body() {
            case .created: outcome.created += 1
            case .updated: outcome.updated += 1
            case .unchanged: outcome.unchanged += 1
            }
        } catch let error as ValidationError {
            throw SeedError("\(entry): \(error.description)")
        } catch StoreError.conflict(let why) {
            throw SeedError("\(entry): \(why)")
        } catch StoreError.inUse(let why) {
            throw SeedError("\(entry): \(why)")
        } catch {
            throw SeedError("\(entry): could not be stored (\(error))")
        }
    }

    private func apply(_ seed: SeedFile.SeedUser) async throws -> Change {
        guard let existing = try await store.user(named: seed.name) else {
            _ = try await accounts.create(NewUser(name: seed.name, password: seed.password, displayName: seed.displayName,
                                                  email: seed.email, admin: seed.admin))
            return .created
        }
        // The password is set only when it differs: setting it ends the user's sessions.
        let samePassword = PasswordHasher.verify(seed.password, against: existing.passwordHash)
        let change = UserChange(
            displayName: seed.displayName.flatMap { $0 == existing.displayName ? nil : $0 },
            email: seed.email == existing.email ? nil : .some(seed.email),
            admin: seed.admin == existing.admin ? nil : seed.admin,
            password: samePassword ? nil : seed.password)
        guard change != UserChange() else { return .unchanged }
        _ = try await accounts.update(name: existing.name, change: change)
        return .updated
    }

    private func apply(_ seed: SeedFile.SeedClient) async throws -> Change {
        var existing: OAuth2Client?
        if let clientId = seed.clientId {
            existing = try await store.client(clientId: clientId)
        } else {
            let key = seed.input.name.lowercased()
            existing = try await store.clients().first { $0.name.lowercased() == key }
        }
        guard let existing else {
            _ = try await clients.register(seed.input, clientId: seed.clientId, secret: seed.clientSecret)
            return .created
        }
        let input = seed.input
        let matches = existing.name == input.name && existing.redirects == input.redirects && existing.scope == input.scope
            && existing.impersonation == input.impersonation && existing.executeAs == input.executeAs
            && existing.allowedAddresses == input.allowedAddresses
            && (input.publicKey == nil ? existing.publicKey == nil : existing.publicKey != nil)
        var changed = false
        if !matches || input.publicKey != nil {
            let updated = try await clients.update(clientId: existing.clientId, change: OAuth2ClientChange(
                name: input.name, redirects: input.redirects, scope: input.scope, impersonation: input.impersonation,
                publicKey: .some(input.publicKey), executeAs: .some(input.executeAs), allowedAddresses: input.allowedAddresses))
            changed = updated != existing
        }
        if let secret = seed.clientSecret, !clients.hasSecret(existing, secret) {
            try await clients.setSecret(clientId: existing.clientId, secret: secret)
            changed = true
        }
        return changed ? .updated : .unchanged
    }

    private func apply(_ seed: NewConsumer) async throws -> Change {
        guard let existing = try await store.consumer(key: seed.key) else {
            _ = try await consumers.register(seed)
            return .created
        }
        var change = ConsumerChange(
            name: seed.name, description: .some(seed.description), publicKey: seed.publicKey, callback: .some(seed.callback),
            threeLeggedAllowed: seed.threeLeggedAllowed, twoLeggedAllowed: seed.twoLeggedAllowed, executeAs: .some(seed.executeAs),
            impersonationAllowed: seed.impersonationAllowed, signatureMethods: seed.signatureMethods)
        change.allowedAddresses = seed.allowedAddresses
        let updated = try await consumers.update(key: existing.key, change: change)
        return updated == existing ? .unchanged : .updated
    }
}
