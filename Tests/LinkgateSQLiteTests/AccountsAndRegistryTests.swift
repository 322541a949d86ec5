import LinkgateCore
import LinkgateCrypto
import Synchronization
import Testing
@testable import LinkgateSQLite

@Suite("User accounts and the client registry on SQLite")
struct AccountsAndRegistryTests {
    let store: SQLiteStore
    let accounts: UserAccounts
    let registry: ClientRegistry

    init() throws {
        store = try SQLiteStore()
        accounts = UserAccounts(store: store, hasher: PasswordHasher(logN: 4, r: 8, p: 1), now: { 1_700_000_000 })
        registry = ClientRegistry(store: store, now: { 1_700_000_000 })
    }

    @Test("passwords are stored only as scrypt hashes and authenticate")
    func authenticate() async throws {
        let alice = try await accounts.create(NewUser(name: "alice", password: "alice-pass-1", email: "alice@example.com"))
        #expect(alice.displayName == "alice")
        #expect(alice.passwordHash.hasPrefix("$scrypt$") && !alice.passwordHash.contains("alice-pass-1"))
        #expect(try await accounts.check(name: "alice", password: "alice-pass-1", address: "192.0.2.1").user?.name == "alice")
        // Second time from the verified-password cache: same answer.
        #expect(try await accounts.check(name: "alice", password: "alice-pass-1", address: "192.0.2.1").user?.name == "alice")
        #expect(try await accounts.check(name: "alice", password: "wrong-pass", address: "192.0.2.1").user == nil)
        #expect(try await accounts.check(name: "ALICE", password: "alice-pass-1", address: "192.0.2.1").user == nil)
        #expect(try await accounts.check(name: "nobody", password: "alice-pass-1", address: "192.0.2.1").user == nil)
    }

    @Test("a password change takes effect at once, even over the verified-password cache")
    func passwordChange() async throws {
        _ = try await accounts.create(NewUser(name: "alice", password: "alice-pass-1"))
        #expect(try await accounts.check(name: "alice", password: "alice-pass-1", address: "192.0.2.1").user != nil)
        _ = try await accounts.update(name: "alice", change: UserChange(password: "alice-pass-2"))
        #expect(try await accounts.check(name: "alice", password: "alice-pass-1", address: "192.0.2.1").user == nil)
        #expect(try await accounts.check(name: "alice", password: "alice-pass-2", address: "192.0.2.1").user != nil)
        try await store.createUser(makeUser("admin", admin: true))
        try await accounts.delete(name: "alice")
        #expect(try await accounts.check(name: "alice", password: "alice-pass-2", address: "192.0.2.1").user == nil)
    }

    @Test("invalid input is refused and nothing is written")
    func invalidUsers() async throws {
        let bad: [NewUser] = [
            NewUser(name: "a b", password: "long-enough"), NewUser(name: "alice", password: "short"),
            NewUser(name: "alice", password: "long-enough", email: "not-an-email"),
            NewUser(name: "alice", password: "long-enough", displayName: " "),
        ]
        for input in bad {
            await #expect(throws: ValidationError.self) { _ = try await accounts.create(input) }
        }
        #expect(try await store.users().isEmpty)
    }

    @Test("the bootstrap admin is created once, with a generated password when none is given")
    func bootstrap() async throws {
        let first = try await accounts.bootstrapAdmin(password: nil)
        #expect(first.created)
        let generated = try #require(first.generatedPassword)
        #expect(generated.count == 43)
        #expect(try await accounts.check(name: "admin", password: generated, address: "192.0.2.1").user?.admin == true)
        let second = try await accounts.bootstrapAdmin(password: "another-pass")
        #expect(!second.created && second.generatedPassword == nil)
        #expect(try await accounts.check(name: "admin", password: "another-pass", address: "192.0.2.1").user == nil)
    }

    @Test("registering a client mints a hex id and a 256-bit secret kept only as a digest")
    func register() async throws {
        let (client, secret) = try await registry.register(NewOAuth2Client(name: " Jira ", redirects: ["https://jira.example/cb"], scope: .write))
        #expect(client.name == "Jira")
        #expect(client.clientId.count == 32 && client.clientId.allSatisfy(\.isHexDigit))
        #expect(secret.count == 43 && client.secretDigest != secret)
        #expect(try await registry.authenticate(clientId: client.clientId, secret: secret)?.id == client.id)
        #expect(try await registry.authenticate(clientId: client.clientId, secret: secret + "x") == nil)
        #expect(try await registry.authenticate(clientId: "unknown", secret: secret) == nil)
    }

    @Test("resetting a secret stops the old one at once")
    func reset() async throws {
        let (client, old) = try await registry.register(NewOAuth2Client(name: "Jira", redirects: [], scope: .read))
        let (_, new) = try await registry.resetSecret(clientId: client.clientId)
        #expect(new != old)
        #expect(try await registry.authenticate(clientId: client.clientId, secret: old) == nil)
        #expect(try await registry.authenticate(clientId: client.clientId, secret: new) != nil)
        await #expect(throws: StoreError.notFound) { _ = try await registry.resetSecret(clientId: "nope") }
    }

    @Test("invalid registrations are refused and nothing is written")
    func invalidClients() async throws {
        let bad: [NewOAuth2Client] = [
            NewOAuth2Client(name: "", redirects: [], scope: .read),
            NewOAuth2Client(name: "X", redirects: ["javascript:alert(1)"], scope: .read),
            NewOAuth2Client(name: "X", redirects: ["http://evil.example/cb"], scope: .read),
            NewOAuth2Client(name: "X", redirects: [], scope: .read, executeAs: "ghost"),
            NewOAuth2Client(name: "X", redirects: [], scope: .read, publicKey: "garbage"),
            NewOAuth2Client(name: "X", redirects: [], scope: .read, impersonation: true),
        ]
        for input in bad {
            await #expect(throws: ValidationError.self) { _ = try await registry.register(input) }
        }
        #expect(try await store.clients().isEmpty)
    }

    @Test("a public key is stored in normalised PEM; small keys are refused for RS256")
    func publicKeys() async throws {
        let key = try RSAPrivateKey(generatingBits: 2048).publicKey()
        let (client, _) = try await registry.register(
            NewOAuth2Client(name: "Signer", redirects: [], scope: .read, impersonation: true, publicKey: key.base64DER))
        #expect(client.publicKey == key.pem)
        let small = try RSAPrivateKey(generatingBits: 1024).publicKey()
        await #expect(throws: ValidationError.self) {
            _ = try await registry.register(NewOAuth2Client(name: "Small", redirects: [], scope: .read, publicKey: small.pem))
        }
    }

    @Test("updates change only the given keys and validate the result")
    func update() async throws {
        _ = try await accounts.create(NewUser(name: "bot", password: "bot-pass-123"))
        let (client, _) = try await registry.register(NewOAuth2Client(name: "Jira", redirects: ["https://a.example/cb"], scope: .write))
        let changed = try await registry.update(clientId: client.clientId, change: OAuth2ClientChange(scope: .read, executeAs: .some("bot")))
        #expect(changed.scope == .read && changed.executeAs == "bot" && changed.redirects == client.redirects && changed.name == "Jira")
        await #expect(throws: ValidationError.self) {
            _ = try await registry.update(clientId: client.clientId, change: OAuth2ClientChange(redirects: ["file:///x"]))
        }
        #expect(try await store.client(clientId: client.clientId) == changed)
        let cleared = try await registry.update(clientId: client.clientId, change: OAuth2ClientChange(executeAs: .some(nil)))
        #expect(cleared.executeAs == nil)
    }
}

@Suite("INTERFACE §10 password checks are throttled before the KDF")
struct PasswordThrottleTests {
    @Test("after 5 wrong passwords from one address even the right one is refused (429) without being checked; elsewhere it works; lockouts are audited")
    func throttled() async throws {
        let store = try SQLiteStore()
        let clock = Mutex<Int64>(1_700_000_000)
        let now: @Sendable () -> Int64 = { clock.withLock { $0 } }
        let accounts = UserAccounts(store: store, hasher: PasswordHasher(logN: 4, r: 8, p: 1), audit: AuditLog(store: store, now: now), now: now)
        _ = try await accounts.create(NewUser(name: "alice", password: "alice-pass-1"))
        for _ in 0..<5 { #expect(try await accounts.check(name: "alice", password: "wrong-pass", address: "192.0.2.9") == .invalid) }
        guard case .throttled(let retryAfter) = try await accounts.check(name: "alice", password: "alice-pass-1", address: "192.0.2.9") else {
            Issue.record("expected the pair to be throttled")
            return
        }
        #expect(retryAfter == 60)
        #expect(try await accounts.check(name: "alice", password: "alice-pass-1", address: "192.0.2.10").user?.name == "alice")
        #expect(accounts.lockouts() == [Lockout(user: "alice", address: "192.0.2.9", failures: 5, until: 1_700_000_060)])
        let audit = try await store.auditEntries(AuditQuery(since: nil, limit: 10, client: nil, user: nil, action: AuditAction.userLockout, before: nil))
        #expect(audit.count == 1 && audit.first?.subject == "alice" && audit.first?.actor == "192.0.2.9")
        try await accounts.clearLockouts(user: "alice", address: nil, by: "admin")
        #expect(try await accounts.check(name: "alice", password: "alice-pass-1", address: "192.0.2.9").user?.name == "alice")
        clock.withLock { $0 += 61 }
        #expect(accounts.lockouts().isEmpty)
    }
}
