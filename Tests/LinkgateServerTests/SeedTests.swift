import Foundation
import LinkgateCore
import LinkgateCrypto
import LinkgateSQLite
import OAuth1
import Testing
@testable import LinkgateServer

@Suite("Seed files (INTERFACE §12)")
struct SeedTests {
    static let hasher = PasswordHasher(logN: 4, r: 8, p: 1)

    static func seed(_ json: String) throws -> SeedFile { try SeedFile(json: Array(json.utf8)) }

    static let full = """
        {"users":[{"name":"alice","password":"alice-pass-1","displayName":"Alice","email":"alice@example.com"},
                  {"name":"ops","password":"ops-pass-123","admin":true}],
         "clients":[{"name":"Jira","redirects":["https://jira.example/cb"],"scope":"WRITE","clientId":"jira-client",
                     "clientSecret":"0123456789abcdef-secret","executeAs":"alice"},
                    {"name":"Other","redirects":[],"scope":"READ"}],
         "consumers":[],
         "consent":"auto","now":1800000000,"lifetimes":{"accessToken":60,"code":30}}
        """

    @Test("a full seed parses: users, clients with fixed credentials, fixture settings")
    func parses() throws {
        let seed = try Self.seed(Self.full)
        #expect(seed.users.map(\.name) == ["alice", "ops"] && seed.users[1].admin)
        #expect(seed.clients[0].clientId == "jira-client" && seed.clients[0].clientSecret == "0123456789abcdef-secret")
        #expect(seed.clients[0].input.scope == .write && seed.clients[0].input.executeAs == "alice")
        #expect(seed.consent == .auto && seed.now == 1_800_000_000)
        #expect(seed.lifetimes == SeedFile.Lifetimes(accessToken: 60, refreshToken: nil, code: 30))
    }

    @Test("a bad file names the entry and the key", arguments: [
        (#"[]"#, "the seed file must be a JSON object"),
        (#"{"users":[{"name":"bob"}]}"#, "users[0] (bob): password: is required"),
        (#"{"users":[{"name":"bob","password":"x","role":"admin"}]}"#, "users[0] (bob): unknown key 'role'"),
        (#"{"clients":[{"name":"Jira","redirects":[],"scope":"ROOT"}]}"#, "clients[0] (Jira): scope:"),
        (#"{"clients":[{"name":"Jira","redirects":"x","scope":"READ"}]}"#, "clients[0] (Jira): redirects: must be an array of strings"),
        (#"{"consent":"maybe"}"#, "consent must be"),
        (#"{"lifetimes":{"code":0}}"#, "lifetimes: code: must be a whole number"),
        (#"{"surprise":1}"#, "seed: unknown key 'surprise'"),
    ])
    func refused(json: String, message: String) {
        do {
            _ = try Self.seed(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("applying twice creates once, then changes nothing; fixed client credentials authenticate")
    func idempotent() async throws {
        let store = try SQLiteStore()
        let applier = SeedApplier(store: store, hasher: Self.hasher, now: { 1_800_000_000 })
        let seed = try Self.seed(Self.full)
        #expect(try await applier.apply(seed) == SeedApplier.Outcome(created: 4, updated: 0, unchanged: 0))
        let session = Session(idDigest: "s1", userName: "alice", createdAt: 0, expiresAt: 2_000_000_000)
        try await store.createSession(session)
        #expect(try await applier.apply(seed) == SeedApplier.Outcome(created: 0, updated: 0, unchanged: 4))
        // An unchanged password is not set again, so the user's sessions survive a restart.
        #expect(try await store.session(digest: "s1", now: 1_800_000_000) != nil)
        let registry = ClientRegistry(store: store, now: { 1_800_000_000 })
        #expect(try await registry.authenticate(clientId: "jira-client", secret: "0123456789abcdef-secret")?.name == "Jira")
        #expect(try await store.clients().count == 2)
    }

    @Test("an existing entry is updated to match the file; nothing is deleted")
    func updates() async throws {
        let store = try SQLiteStore()
        let applier = SeedApplier(store: store, hasher: Self.hasher, now: { 1_800_000_000 })
        try await applier.apply(try Self.seed(Self.full))
        let changed = try Self.seed("""
            {"users":[{"name":"alice","password":"alice-pass-2","displayName":"Alice B."}],
             "clients":[{"name":"Jira","redirects":["https://jira.example/cb2"],"scope":"READ","clientId":"jira-client",
                         "clientSecret":"another-secret-0123456"}]}
            """)
        #expect(try await applier.apply(changed) == SeedApplier.Outcome(created: 0, updated: 2, unchanged: 0))
        let alice = try #require(try await store.user(named: "alice"))
        #expect(alice.displayName == "Alice B." && alice.email == nil)
        #expect(PasswordHasher.verify("alice-pass-2", against: alice.passwordHash))
        let registry = ClientRegistry(store: store, now: { 1_800_000_000 })
        #expect(try await registry.authenticate(clientId: "jira-client", secret: "0123456789abcdef-secret") == nil)
        let jira = try #require(try await registry.authenticate(clientId: "jira-client", secret: "another-secret-0123456"))
        #expect(jira.redirects == ["https://jira.example/cb2"] && jira.scope == .read)
        #expect(try await store.user(named: "ops") != nil)
        #expect(try await store.clients().count == 2)
    }

    @Test("values are checked by the same rules as REST, and the entry is named")
    func invalidValues() async throws {
        let store = try SQLiteStore()
        let applier = SeedApplier(store: store, hasher: Self.hasher, now: { 1_800_000_000 })
        for (json, message) in [
            (#"{"clients":[{"name":"J","redirects":["ftp://x"],"scope":"READ"}]}"#, "clients[0] (J): redirects"),
            (#"{"clients":[{"name":"J","redirects":[],"scope":"READ","clientSecret":"short"}]}"#, "clients[0] (J): clientSecret: must be 16 to 512 characters"),
            (#"{"clients":[{"name":"J","redirects":[],"scope":"READ","clientId":"has space"}]}"#, "clients[0] (J): clientId:"),
            (#"{"clients":[{"name":"J","redirects":[],"scope":"READ","executeAs":"ghost"}]}"#, "clients[0] (J): executeAs: no user named 'ghost'"),
            (#"{"users":[{"name":"bob","password":"short"}]}"#, "users[0] (bob): password"),
        ] {
            do {
                try await applier.apply(try Self.seed(json))
                Issue.record("applied \(json)")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
        #expect(try await store.clients().isEmpty)
        #expect(try await store.users().isEmpty)
    }
}
