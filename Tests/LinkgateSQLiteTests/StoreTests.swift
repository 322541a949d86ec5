import Foundation
import LinkgateCore
import LinkgateCrypto
import OAuth1
import OAuth2
import StoreTestSupport
import Testing
@testable import LinkgatePostgres
@testable import LinkgateSQLite

/// A fresh database file in a temporary folder, removed afterwards.
final class TemporaryDatabase {
    let folder: URL
    var path: String { folder.appendingPathComponent("linkgate.sqlite").path }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("linkgate-test-\(SecureRandom.hex(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }
}

func makeUser(_ name: String, admin: Bool = false) -> User {
    User(name: name, displayName: name.capitalized, email: nil, admin: admin, passwordHash: "$scrypt$x", createdAt: 1_700_000_000)
}

func makeClient(_ name: String, executeAs: String? = nil) -> OAuth2Client {
    OAuth2Client(id: SecureRandom.uuid(), clientId: SecureRandom.hex(16), secretDigest: Digest.storageDigest(of: "s"), name: name,
                 redirects: ["https://a.example/cb", "http://127.0.0.1:9000/cb"], scope: .write, impersonation: false,
                 publicKey: nil, executeAs: executeAs, createdAt: 1_700_000_000)
}

/// A store with the user alice and the client Jira, for the code tests.
struct CodeFixture {
    static let now: Int64 = 1_800_000_000
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static let s256 = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"   // of `verifier`, RFC 7636 Appendix B
    let testStore: TestStore
    let client = makeClient("Jira")
    var store: any TestStoreProtocols { testStore.store }

    init(_ backend: TestBackend) async throws {
        testStore = try await TestStore(backend)
        try await testStore.store.createUser(makeUser("alice"))
        try await testStore.store.createClient(client)
    }
}

@Suite("SQLite store")
struct StoreTests {
    @Test("a file database runs in WAL with synchronous=FULL, and migrating twice is harmless")
    func pragmas() async throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        #expect(try await store.journalMode() == "wal")
        #expect(try await store.synchronousLevel() == 2)
        try await store.createUser(makeUser("alice"))
        let reopened = try SQLiteStore(path: db.path)
        #expect(try await reopened.synchronousLevel() == 2)
        #expect(try await reopened.user(named: "alice")?.name == "alice")
    }

    @Test("an unopenable path gives a clear error")
    func unopenable() {
        #expect(throws: SQLiteStoreError.self) { try SQLiteStore(path: "/nonexistent-folder/x/linkgate.sqlite") }
    }

    @Test("a code is spent exactly when its claim's check passes (PostgreSQL compares columns in the spending statement instead): a refused claim throws check's error and leaves the code for the right one, whose stored tokens take the code's grant",
          arguments: TestBackend.all)
    func codeClaims(backend: TestBackend) async throws {
        let fixture = try await CodeFixture(backend)
        let (store, client, now) = (fixture.store, fixture.client, CodeFixture.now)
        let (verifier, s256) = (CodeFixture.verifier, CodeFixture.s256)
        let other = "q+/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN="
        let held: [(String?, PKCE.Method?)] = [(nil, nil), (s256, .s256), (s256, .plain), (s256, nil), (verifier, .plain), (verifier, nil),
                                               (verifier, .s256), (other, .plain), (other, .s256)]
        var redeemed = 0
        for (challenge, method) in held {
            let code = AuthorizationCodeRecord(digest: Digest.tokenKey(of: SecureRandom.timeOrderedToken()), familyId: SecureRandom.uuid(),
                                               clientId: client.clientId, userName: "alice", redirectURI: "https://a.example/cb", scope: .write,
                                               codeChallenge: challenge, codeChallengeMethod: method, issuedAt: now, expiresAt: now + 600,
                                               openID: OpenIDScope(email: true), nonce: "n", authTime: now - 5)
            try await store.saveCode(code)
            var claims: [CodeClaim] = []
            for redirect in ["https://a.example/cb", "https://a.example/cb2", nil] {
                for proof in [nil, PKCE.Proof(verifier: verifier)!, PKCE.Proof(verifier: other)!] {
                    claims.append(CodeClaim(redirectURI: redirect, proof: proof, tokens: [.access, .refresh].map {
                        TokenDraft(digest: Digest.tokenKey(of: SecureRandom.timeOrderedToken()), kind: $0, issuedAt: now,
                                   expiresAt: now + ($0 == .access ? 3600 : 86400))
                    }))
                }
            }
            // The refused claims first: each must leave the code for the one that holds, if any.
            let label = "\(challenge ?? "none") \(method?.rawValue ?? "-")"
            for claim in claims.filter({ (try? $0.check(code)) == nil }) + claims.filter({ (try? $0.check(code)) != nil }) {
                do {
                    try claim.check(code)
                } catch {
                    await #expect(throws: error as! OAuthError, "\(label)") {
                        try await store.redeemCode(digest: code.digest, clientId: client.clientId, now: now, claim: claim)
                    }
                    continue
                }
                #expect(try await store.redeemCode(digest: code.digest, clientId: client.clientId, now: now, claim: claim) == .redeemed(code), "\(label)")
                for expected in claim.tokens(for: code) {
                    #expect(try await store.liveToken(digest: expected.digest, now: now) == expected, "\(label)")
                }
                redeemed += 1
            }
        }
        #expect(redeemed == 5)
    }

    @Test("concurrent code exchanges are spent together (fewer PostgreSQL statements than exchanges); in a mix, each gets what it would alone: a code claimed twice is redeemed once and its replay revokes the grant, a refused claim leaves its code, an unknown code is invalid",
          arguments: TestBackend.all)
    func codeRedemptionBatches(backend: TestBackend) async throws {
        let fixture = try await CodeFixture(backend)
        let (testStore, store, client, now) = (fixture.testStore, fixture.store, fixture.client, CodeFixture.now)
        let (verifier, s256) = (CodeFixture.verifier, CodeFixture.s256)
        func record(digest: String = Digest.tokenKey(of: SecureRandom.timeOrderedToken())) -> AuthorizationCodeRecord {
            AuthorizationCodeRecord(digest: digest, familyId: SecureRandom.uuid(), clientId: client.clientId, userName: "alice",
                                    redirectURI: "https://a.example/cb", scope: .write, codeChallenge: s256, codeChallengeMethod: .s256,
                                    issuedAt: now, expiresAt: now + 600, openID: nil, nonce: nil, authTime: now)
        }
        func code() async throws -> AuthorizationCodeRecord {
            let code = record()
            try await store.saveCode(code)
            return code
        }
        func claim(redirect: String = "https://a.example/cb", verifier: String = verifier) -> CodeClaim {
            CodeClaim(redirectURI: redirect, proof: PKCE.Proof(verifier: verifier)!, tokens: [.access, .refresh].map {
                TokenDraft(digest: Digest.tokenKey(of: SecureRandom.timeOrderedToken()), kind: $0, issuedAt: now, expiresAt: now + 3600)
            })
        }
        func redeem(_ code: AuthorizationCodeRecord, _ claim: CodeClaim) async -> Result<CodeRedemption, any Error> {
            do {
                return .success(try await store.redeemCode(digest: code.digest, clientId: client.clientId, now: now, claim: claim))
            } catch {
                return .failure(error)
            }
        }

        var codes: [AuthorizationCodeRecord] = []
        for _ in 0..<81 { codes.append(try await code()) }
        let good = codes[0..<60].map { ($0, claim()) }
        let roundTripsBefore = testStore.postgres?.roundTrips.total ?? 0
        let results = await withTaskGroup(of: (Int, Result<CodeRedemption, any Error>).self) { group in
            for (i, (code, claim)) in good.enumerated() { group.addTask { (i, await redeem(code, claim)) } }
            return await group.reduce(into: [Int: Result<CodeRedemption, any Error>]()) { $0[$1.0] = $1.1 }
        }
        if let postgres = testStore.postgres {
            #expect(postgres.roundTrips.total - roundTripsBefore < 60)
        }
        for (i, (code, claim)) in good.enumerated() {
            #expect((try? results[i]?.get()) == .redeemed(code))
            for expected in claim.tokens(for: code) { #expect(try await store.liveToken(digest: expected.digest, now: now) == expected) }
        }

        // The mix: codes 60..<70 claimed twice, 70..<75 with another verifier, 75..<80 with another redirect URI, 80 with
        // the right one plus a NUL (which PostgreSQL text cannot hold), and one unknown.
        var mix: [(AuthorizationCodeRecord, CodeClaim)] = []
        for code in codes[60..<70] { mix += [(code, claim()), (code, claim())] }
        mix += codes[70..<75].map { ($0, claim(verifier: String(repeating: "v", count: 43))) }
        mix += codes[75..<80].map { ($0, claim(redirect: "https://a.example/other")) }
        mix.append((codes[80], claim(redirect: "https://a.example/cb\0")))
        mix.append((record(digest: Digest.tokenKey(of: "never issued")), claim()))
        let mixed = await withTaskGroup(of: (Int, Result<CodeRedemption, any Error>).self) { group in
            for (i, (code, claim)) in mix.enumerated() { group.addTask { (i, await redeem(code, claim)) } }
            return await group.reduce(into: [Int: Result<CodeRedemption, any Error>]()) { $0[$1.0] = $1.1 }
        }
        for pair in 0..<10 {
            let outcomes = [mixed[2 * pair], mixed[2 * pair + 1]].map { try? $0?.get() }
            let code = mix[2 * pair].0
            #expect(outcomes.filter { $0 == .redeemed(code) }.count == 1 && outcomes.filter { $0 == .replayed }.count == 1)
            // The replay revoked what the redemption issued.
            for (_, claim) in mix[(2 * pair)...(2 * pair + 1)] {
                for token in claim.tokens { #expect(try await store.liveToken(digest: token.digest, now: now) == nil) }
            }
        }
        for i in 20..<31 {
            let code = mix[i].0, refused = mix[i].1
            let expected = refused.redirectURI == code.redirectURI
                ? OAuthError.invalidGrant("code_verifier does not match the code_challenge")
                : OAuthError.invalidGrant("redirect_uri does not match the authorization request")
            guard case .failure(let error)? = mixed[i] else { Issue.record("claim \(i) was not refused"); continue }
            #expect(error as? OAuthError == expected)
            // The refused claim left the code for its rightful holder.
            #expect(try await store.redeemCode(digest: code.digest, clientId: client.clientId, now: now, claim: claim()) == .redeemed(code))
        }
        #expect((try? mixed[31]?.get()) == .invalid)
    }

    @Test("concurrent client_credentials tokens are committed together (fewer PostgreSQL statements than tokens), each with its link use and its audit entry, NULL fields kept; a write at fault fails alone and leaves nothing",
          arguments: TestBackend.all)
    func clientTokenBatches(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        let store = testStore.store
        let clients = [makeClient("Jira"), makeClient("Confluence")]
        for client in clients { try await store.createClient(client) }
        let now: Int64 = 1_800_000_000
        func token(_ i: Int, client: String) -> TokenRecord {
            TokenRecord(digest: Digest.tokenKey(of: "cc-\(i)"), kind: .access, familyId: SecureRandom.uuid(), clientId: client,
                        userName: nil, scope: .read, mode: .application, issuedAt: now + Int64(i % 3), expiresAt: now + 3600)
        }
        func entry(_ i: Int, client: String) -> AuditEntry {
            AuditEntry(time: now, actor: client, client: client, subject: i % 2 == 0 ? nil : "u\(i)", action: AuditAction.tokenIssue,
                       outcome: .success, detail: i % 3 == 0 ? nil : "cc \(i)")
        }
        func save(_ writes: Range<Int>) async -> [Int: Bool] {
            await withTaskGroup(of: (Int, Bool).self) { group in
                for i in writes {
                    group.addTask {
                        // 120..<128 repeat a stored digest; 128..<132 name a link that does not exist.
                        let client = i >= 128 ? "no-such-link" : clients[i % 2].clientId
                        do {
                            try await store.saveTokens([token(i >= 120 && i < 128 ? 0 : i, client: client)], audit: entry(i, client: client))
                            return (i, true)
                        } catch {
                            return (i, false)
                        }
                    }
                }
                return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
        }
        #expect(await save(0..<1) == [0: true])
        let roundTripsBefore = testStore.postgres?.roundTrips.total ?? 0
        #expect(await save(1..<100).values.allSatisfy { $0 })
        if let postgres = testStore.postgres {
            // Batches formed: the 99 writes took fewer statements than writes.
            #expect(postgres.roundTrips.total - roundTripsBefore < 99)
        }
        #expect(await save(100..<132).filter { $0.value }.keys.sorted() == Array(100..<120))
        for i in 0..<120 {
            #expect(try await store.liveToken(digest: Digest.tokenKey(of: "cc-\(i)"), now: now + 1)?.clientId == clients[i % 2].clientId)
        }
        func fields(_ e: AuditEntry) -> String { "\([e.actor, e.client, e.subject, e.detail])" }
        let audited = try await store.auditEntries(AuditQuery(limit: 500)).map(fields)
        #expect(audited.sorted() == (0..<120).map { fields(entry($0, client: clients[$0 % 2].clientId)) }.sorted())
        let usage = try await store.clientUsage(now: now + 3)
        #expect(clients.map { usage[$0.clientId]?.activeTokens } == [60, 60])
        #expect(clients.allSatisfy { (now...now + 2).contains(usage[$0.clientId]?.lastUsedAt ?? 0) })
    }

    @Test("concurrent OAuth 1.0a nonces are spent together (fewer PostgreSQL statements than nonces); of two requests with one nonce exactly one spends it; a seen nonce is refused; audit entries only for the spent ones, NULL fields kept",
          arguments: TestBackend.all)
    func nonceBatches(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        let store = testStore.store
        let now: Int64 = 1_800_000_000
        struct Use: Hashable, Sendable { var consumer: String, nonce: String, timestamp: Int64, request: Int }
        func entry(_ use: Use) -> AuditEntry {
            AuditEntry(time: now, actor: use.consumer, client: use.consumer, subject: use.request % 2 == 0 ? nil : "u\(use.request)",
                       action: AuditAction.tokenIssue, outcome: .success, detail: use.request % 3 == 0 ? nil : "2LO \(use.request)")
        }
        func spend(_ uses: [Use]) async -> [Use: Bool] {
            await withTaskGroup(of: (Use, Bool?).self) { group in
                for use in uses {
                    group.addTask {
                        (use, try? await store.recordNonce(consumerKey: use.consumer, nonce: use.nonce, timestamp: use.timestamp, audit: entry(use)))
                    }
                }
                return await group.reduce(into: [Use: Bool]()) { $0[$1.0] = $1.1 }
            }
        }
        let first = Use(consumer: "jira:1", nonce: "n0", timestamp: now, request: 0)
        #expect(await spend([first]) == [first: true])
        let roundTripsBefore = testStore.postgres?.roundTrips.total ?? 0
        let distinct = (1..<100).map { Use(consumer: "jira:\($0 % 2)", nonce: "n\($0)", timestamp: now, request: $0) }
        #expect(await spend(distinct) == Dictionary(uniqueKeysWithValues: distinct.map { ($0, true) }))
        if let postgres = testStore.postgres {
            // Batches formed: the 99 nonces took fewer statements than nonces.
            #expect(postgres.roundTrips.total - roundTripsBefore < 99)
        }
        // 10 nonces sent twice at once; 5 seen before; a seen nonce under another consumer or timestamp is new.
        let twice = (100..<110).flatMap { i in [0, 1].map { Use(consumer: "jira:1", nonce: "n\(i)", timestamp: now, request: i * 10 + $0) } }
        let seen = (1...5).map { Use(consumer: "jira:\($0 % 2)", nonce: "n\($0)", timestamp: now, request: 2000 + $0) }
        let elsewhere = [Use(consumer: "confluence:1", nonce: "n0", timestamp: now, request: 3000),
                         Use(consumer: "jira:1", nonce: "n0", timestamp: now + 1, request: 3001)]
        let mixed = await spend(twice + seen + elsewhere)
        #expect(mixed.count == twice.count + seen.count + elsewhere.count)
        for i in 100..<110 {
            #expect(twice.filter { $0.nonce == "n\(i)" }.compactMap { mixed[$0] }.sorted { !$0 && $1 } == [false, true])
        }
        #expect(seen.allSatisfy { mixed[$0] == false })
        #expect(elsewhere.allSatisfy { mixed[$0] == true })
        let spent = [first] + distinct + elsewhere + twice.filter { mixed[$0] == true }
        func fields(_ e: AuditEntry) -> String { "\([e.actor, e.client, e.subject, e.detail])" }
        let audited = try await store.auditEntries(AuditQuery(limit: 500)).map(fields)
        #expect(audited.sorted() == spent.map { fields(entry($0)) }.sorted())
    }

    @Test("concurrent live-token reads are answered together (fewer PostgreSQL statements than reads), each with its own token; expired, revoked and unknown ones are none",
          arguments: TestBackend.all)
    func liveTokenBatches(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        let store = testStore.store
        let client = makeClient("Jira")
        try await store.createClient(client)
        let now: Int64 = 1_800_000_000
        // Token i: expired when i % 5 == 1, revoked when i % 5 == 2, never stored when i % 5 == 3.
        func digest(_ i: Int) -> String { Digest.tokenKey(of: "read-\(i)") }
        for i in 0..<100 where i % 5 != 3 {
            try await store.saveTokens([TokenRecord(digest: digest(i), kind: .access, familyId: SecureRandom.uuid(), clientId: client.clientId,
                                                    userName: nil, scope: .read, mode: .application, issuedAt: now - 10,
                                                    expiresAt: i % 5 == 1 ? now - 1 : now + 3600)], audit: nil)
        }
        for i in 0..<100 where i % 5 == 2 {
            #expect(try await store.revokeToken(digest: digest(i), clientId: client.clientId, now: now - 5))
        }
        let roundTripsBefore = testStore.postgres?.roundTrips.total ?? 0
        let found = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for i in 0..<100 { group.addTask { (i, try await store.liveToken(digest: digest(i), now: now)?.digest) } }
            return try await group.reduce(into: [Int: String?]()) { $0[$1.0] = $1.1 }
        }
        if let postgres = testStore.postgres {
            // Batches formed: the 100 reads took fewer statements than reads.
            #expect(postgres.roundTrips.total - roundTripsBefore < 100)
        }
        #expect(found.count == 100)
        for i in 0..<100 {
            #expect(found[i] == (i % 5 == 0 || i % 5 == 4 ? digest(i) : nil), "token \(i)")
        }
    }

    @Test("users: create, read, list, names unique case-insensitively", arguments: TestBackend.all)
    func users(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        try await store.createUser(makeUser("alice"))
        try await store.createUser(makeUser("Bob"))
        await #expect(throws: StoreError.conflict("a user named 'ALICE' already exists")) { try await store.createUser(makeUser("ALICE")) }
        #expect(try await store.users().map(\.name) == ["alice", "Bob"])
        #expect(try await store.user(named: "alice")?.displayName == "Alice")
        #expect(try await store.user(named: "nobody") == nil)
    }

    @Test("replaceSetting swaps a value only when it is the one expected (signing-key list, INTERFACE §14)",
          arguments: TestBackend.all)
    func replaceSetting(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        #expect(try await store.replaceSetting("k", expected: "a", with: "b") == false)     // no such setting
        #expect(try await store.settingOrCreate("k") { "a" } == "a")
        #expect(try await store.replaceSetting("k", expected: "stale", with: "b") == false)
        #expect(try await store.setting("k") == "a")
        #expect(try await store.replaceSetting("k", expected: "a", with: "b") == true)
        #expect(try await store.setting("k") == "b")
        // Of two concurrent swaps from the same value exactly one wins.
        async let first = store.replaceSetting("k", expected: "b", with: "c1")
        async let second = store.replaceSetting("k", expected: "b", with: "c2")
        let (one, two) = try await (first, second)
        #expect(one != two)
        #expect(try await store.setting("k") == (one ? "c1" : "c2"))
    }

    @Test("the first user is created only into an empty database", arguments: TestBackend.all)
    func firstUser(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        #expect(try await store.createFirstUser(makeUser("admin", admin: true)))
        #expect(try await !store.createFirstUser(makeUser("other", admin: true)))
        #expect(try await store.users().count == 1)
    }

    @Test("the last admin can be neither demoted nor deleted", arguments: TestBackend.all)
    func lastAdmin(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        try await store.createUser(makeUser("admin", admin: true))
        await #expect(throws: StoreError.lastAdmin) {
            _ = try await store.updateUser(named: "admin", displayName: nil, email: nil, admin: false, passwordHash: nil)
        }
        await #expect(throws: StoreError.lastAdmin) { try await store.deleteUser(named: "admin") }
        try await store.createUser(makeUser("second", admin: true))
        _ = try await store.updateUser(named: "admin", displayName: nil, email: nil, admin: false, passwordHash: nil)
        #expect(try await store.user(named: "admin")?.admin == false)
        await #expect(throws: StoreError.lastAdmin) { try await store.deleteUser(named: "second") }
    }

    @Test("updates change only what is given; a new password ends sessions; email can be cleared", arguments: TestBackend.all)
    func updates(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        var alice = makeUser("alice")
        alice.email = "a@example.com"
        try await store.createUser(alice)
        try await store.createSession(Session(idDigest: "d1", userName: "alice", createdAt: 0, expiresAt: 100))
        let renamed = try await store.updateUser(named: "alice", displayName: "Alice A.", email: nil, admin: nil, passwordHash: nil)
        #expect(renamed.displayName == "Alice A." && renamed.email == "a@example.com")
        #expect(try await store.session(digest: "d1", now: 50) != nil)
        let cleared = try await store.updateUser(named: "alice", displayName: nil, email: .some(nil), admin: nil, passwordHash: "$scrypt$new")
        #expect(cleared.email == nil && cleared.passwordHash == "$scrypt$new")
        #expect(try await store.session(digest: "d1", now: 50) == nil)
        await #expect(throws: StoreError.notFound) {
            _ = try await store.updateUser(named: "ghost", displayName: "x", email: nil, admin: nil, passwordHash: nil)
        }
    }

    @Test("deleting a user takes their sessions; an execute-as user cannot be deleted", arguments: TestBackend.all)
    func deleteUser(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        try await store.createUser(makeUser("alice"))
        try await store.createUser(makeUser("bot"))
        try await store.createSession(Session(idDigest: "d1", userName: "alice", createdAt: 0, expiresAt: 100))
        try await store.createClient(makeClient("Jira", executeAs: "bot"))
        try await store.deleteUser(named: "alice")
        #expect(try await store.session(digest: "d1", now: 50) == nil)
        await #expect(throws: StoreError.self) { try await store.deleteUser(named: "bot") }
        #expect(try await store.user(named: "bot") != nil)
        await #expect(throws: StoreError.notFound) { try await store.deleteUser(named: "alice") }
    }

    @Test("a consumer's execute-as user cannot be deleted either: a conflict, never an outage", arguments: TestBackend.all)
    func consumerExecuteAs(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        try await store.createUser(makeUser("bot"))
        try await store.createConsumer(Consumer(key: "jira:1", name: "Jira", description: nil, publicKey: "pem", callback: nil,
                                                threeLeggedAllowed: true, twoLeggedAllowed: true, executeAs: "bot",
                                                impersonationAllowed: false, createdAt: 0))
        await #expect(throws: StoreError.inUse("user 'bot' is the execute-as user of consumer 'jira:1'")) { try await store.deleteUser(named: "bot") }
        try await store.deleteConsumer(key: "jira:1")
        try await store.deleteUser(named: "bot")
    }

    @Test("a consumer read from the cache reflects an update or delete at once", arguments: TestBackend.all)
    func consumerCache(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        var consumer = Consumer(key: "jira:2", name: "Jira", description: nil, publicKey: "pem-1", callback: nil,
                                threeLeggedAllowed: true, twoLeggedAllowed: true, executeAs: nil, impersonationAllowed: false, createdAt: 0)
        try await store.createConsumer(consumer)
        #expect(try await store.consumer(key: "jira:2")?.publicKey == "pem-1")
        consumer.publicKey = "pem-2"
        consumer.twoLeggedAllowed = false
        try await store.updateConsumer(consumer)
        #expect(try await store.consumer(key: "jira:2") == consumer)
        try await store.deleteConsumer(key: "jira:2")
        #expect(try await store.consumer(key: "jira:2") == nil)
    }

    @Test("clients: create, read back every field, unique names, update, delete", arguments: TestBackend.all)
    func clients(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        let jira = makeClient("Jira")
        try await store.createClient(jira)
        #expect(try await store.client(clientId: jira.clientId) == jira)
        await #expect(throws: StoreError.self) { try await store.createClient(makeClient("JIRA")) }
        var changed = jira
        changed.redirects = []
        changed.scope = .read
        try await store.updateClient(changed)
        #expect(try await store.client(clientId: jira.clientId) == changed)
        var ghost = makeClient("Ghost")
        ghost.clientId = "nope"
        await #expect(throws: StoreError.notFound) { try await store.updateClient(ghost) }
        try await store.deleteClient(clientId: jira.clientId)
        #expect(try await store.clients().isEmpty)
        await #expect(throws: StoreError.notFound) { try await store.deleteClient(clientId: jira.clientId) }
    }

    @Test("sessions expire and are pruned", arguments: TestBackend.all)
    func sessions(backend: TestBackend) async throws {
        let testStore = try await TestStore(backend)
        defer { withExtendedLifetime(testStore) {} }
        let store = testStore.store
        try await store.createUser(makeUser("alice"))
        try await store.createSession(Session(idDigest: "old", userName: "alice", createdAt: 0, expiresAt: 100))
        try await store.createSession(Session(idDigest: "new", userName: "alice", createdAt: 0, expiresAt: 300))
        #expect(try await store.session(digest: "old", now: 99) != nil)
        #expect(try await store.session(digest: "old", now: 100) == nil)
        #expect(try await store.pruneSessions(now: 200) == 1)
        #expect(try await store.session(digest: "new", now: 200) != nil)
        try await store.deleteSession(digest: "new")
        #expect(try await store.session(digest: "new", now: 200) == nil)
    }
}
