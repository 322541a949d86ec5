import Foundation
import Synchronization
import LinkgateCore
import LinkgateCrypto
import LinkgatePostgres
import OAuth1
import OAuth2
import StoreTestSupport
import Testing

@Suite("PostgreSQL locations (INTERFACE §11)")
struct DatabaseURLTests {
    @Test("postgres:// and postgresql:// URLs: user, percent-encoded password, host, port, database, sslmode, socket directory")
    func parsing() throws {
        let url = try DatabaseURL("postgres://lg:p%40ss%2Fw@db.example:6543/linkgate?sslmode=require")
        #expect(url.user == "lg" && url.password == "p@ss/w" && url.host == "db.example" && url.port == 6543)
        #expect(url.database == "linkgate" && url.tls == .require && url.socketDirectory == nil)
        #expect(url.redacted == "postgres://lg@db.example:6543/linkgate")
        let socket = try DatabaseURL("postgresql://lg@/linkgate?host=/var/run/postgresql")
        #expect(socket.socketDirectory == "/var/run/postgresql" && socket.host == nil && socket.port == 5432 && socket.password == nil)
        #expect(try DatabaseURL("postgres://lg@[::1]:5432/x?sslmode=disable").host == "::1")
        let verified = try DatabaseURL("postgres://lg@db/x?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem")
        #expect(verified.tls == .verifyFull && verified.rootCertificateFile == "/etc/ssl/db-ca.pem")
        #expect(try DatabaseURL("postgres://lg@db/x").tls == .prefer)
        #expect(DatabaseURL.isPostgres("POSTGRES://a@b/c") && !DatabaseURL.isPostgres("./linkgate.sqlite"))
    }

    @Test("bad URLs are refused with a reason that never repeats the password",
          arguments: ["postgres://host/db", "postgres://u:secret@host", "postgres://u:secret@host/", "postgres://u:secret@host/db?sslmode=maybe",
                      "postgres://u:secret@host/db?bogus=1", "postgres://u:secret@host:99999/db", "postgres://u:secret@/db",
                      "postgres://u:secret@host/db?host=relative"])
    func refused(text: String) {
        do {
            _ = try DatabaseURL(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(!error.description.contains("secret"), "\(error.description)")
            #expect(error.description.hasPrefix("invalid database URL: "))
        }
    }
}

/// The PostgreSQL-only rules of §11, with several stores standing in for several nodes.
@Suite("PostgreSQL store: several nodes on one database (INTERFACE §11)", .enabled(if: TestBackend.postgresURL != nil,
       "needs LINKGATE_TEST_POSTGRES; scripts/test starts a private PostgreSQL and sets it"))
struct PostgresNodeTests {
    static let now: Int64 = 1_800_000_000

    /// Two nodes on one fresh schema with a user alice and a client "Jira".
    static func twoNodes() async throws -> (TestStore, TestStore, OAuth2Client) {
        let nodes = try await TestStore.nodes(2)
        try await nodes[0].store.createUser(makeUser("alice"))
        let client = makeClient("Jira")
        try await nodes[0].store.createClient(client)
        return (nodes[0], nodes[1], client)
    }

    static func code(_ client: OAuth2Client) -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(digest: SecureRandom.hex(16), familyId: SecureRandom.uuid(), clientId: client.clientId, userName: "alice",
                                redirectURI: "https://a.example/cb", scope: .read, codeChallenge: nil, codeChallengeMethod: nil,
                                issuedAt: now, expiresAt: now + 600)
    }

    static func tokens(for code: AuthorizationCodeRecord) -> [TokenRecord] {
        [.access, .refresh].map {
            TokenRecord(digest: SecureRandom.hex(16), kind: $0, familyId: code.familyId, clientId: code.clientId, userName: code.userName,
                        scope: code.scope, mode: .user, issuedAt: now, expiresAt: now + 3600)
        }
    }

    @Test("nodes that start together on an empty database all come up; each version is applied once")
    func concurrentMigrations() async throws {
        let nodes = try await TestStore.nodes(4)
        #expect(try await nodes[3].postgres!.migrate().isEmpty)
        #expect(try await nodes[0].postgres!.appliedMigrations() == ["v1-initial", "v2-user-directory", "v3-openid-connect", "v4-time-ordered-nonces"])
    }

    @Test("a code redeemed concurrently on two nodes succeeds exactly once, and the replays revoke its tokens (30 rounds)")
    func redemptionAcrossNodes() async throws {
        let (a, b, client) = try await Self.twoNodes()
        for round in 0..<30 {
            let code = Self.code(client)
            try await a.store.saveCode(code)
            let outcomes = try await withThrowingTaskGroup(of: (CodeRedemption, [TokenRecord]).self) { group in
                for attempt in 0..<8 {
                    let node = attempt % 2 == 0 ? a.store : b.store
                    group.addTask {
                        let claim = CodeClaim(redirectURI: code.redirectURI, proof: nil, tokens: [.access, .refresh].map {
                            TokenDraft(digest: SecureRandom.hex(16), kind: $0, issuedAt: Self.now, expiresAt: Self.now + 3600)
                        })
                        let outcome = try await node.redeemCode(digest: code.digest, clientId: client.clientId, now: Self.now, claim: claim)
                        let issued = claim.tokens(for: code)
                        return (outcome, issued)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.filter { if case .redeemed = $0.0 { true } else { false } }
            #expect(winners.count == 1, "round \(round)")
            #expect(outcomes.filter { $0.0 == .replayed }.count == 7, "round \(round)")
            for token in winners.flatMap(\.1) {
                #expect(try await a.store.liveToken(digest: token.digest, now: Self.now) == nil, "round \(round): a replay left a token alive")
            }
        }
    }

    @Test("a refresh token rotated concurrently on two nodes rotates once; a reuse revokes the whole family")
    func rotationAcrossNodes() async throws {
        let (a, b, client) = try await Self.twoNodes()
        for round in 0..<20 {
            let code = Self.code(client)
            let first = Self.tokens(for: code)
            #expect(try await a.store.saveTokens(first, audit: nil, spending: nil))
            let refresh = first[1]
            let outcomes = try await withThrowingTaskGroup(of: (RefreshRotation, [TokenRecord]).self) { group in
                for attempt in 0..<6 {
                    let node = attempt % 2 == 0 ? a.store : b.store
                    group.addTask {
                        let new = Self.tokens(for: code)
                        let outcome = try await node.rotateRefreshToken(digest: refresh.digest, clientId: client.clientId, now: Self.now) { _ in new }
                        return (outcome, new)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let rotated = outcomes.filter { if case .rotated = $0.0 { true } else { false } }
            #expect(rotated.count == 1, "round \(round)")
            // The first late attempt finds the rotated token and revokes the family (the old row with
            // it); any later one finds nothing at all.
            #expect(outcomes.filter { $0.0 == .reused }.count >= 1, "round \(round)")
            #expect(outcomes.allSatisfy { if case .rotated = $0.0 { true } else { $0.0 == .reused || $0.0 == .invalid } })
            for token in rotated.flatMap(\.1) {
                #expect(try await b.store.liveToken(digest: token.digest, now: Self.now) == nil, "round \(round): the family survived a reuse")
            }
        }
    }

    @Test("an OAuth 1.0a nonce or a JWT id spent on one node is spent on the other")
    func oneTimeValuesAcrossNodes() async throws {
        let (a, b, client) = try await Self.twoNodes()
        #expect(try await a.store.recordNonce(consumerKey: "jira:1", nonce: "n1", timestamp: Self.now, audit: nil))
        #expect(try await !b.store.recordNonce(consumerKey: "jira:1", nonce: "n1", timestamp: Self.now, audit: nil))
        let jti = AssertionId(clientId: client.clientId, jti: "j1", expiresAt: Self.now + 60)
        let token = TokenRecord(digest: SecureRandom.hex(16), kind: .access, familyId: SecureRandom.uuid(), clientId: client.clientId,
                                userName: nil, scope: .read, mode: .application, issuedAt: Self.now, expiresAt: Self.now + 60)
        #expect(try await b.store.saveTokens([token], audit: nil, spending: jti))
        var second = token
        second.digest = SecureRandom.hex(16)
        #expect(try await !a.store.saveTokens([second], audit: nil, spending: jti))
        #expect(try await a.store.liveToken(digest: second.digest, now: Self.now) == nil)
    }

    @Test("a change on one node reaches the other node's cache within 1 s (users, clients, consumers)")
    func invalidationAcrossNodes() async throws {
        let (a, b, client) = try await Self.twoNodes()
        #expect(try await b.store.user(named: "alice")?.displayName == "Alice")  // now cached on b
        #expect(try await b.store.client(clientId: client.clientId)?.name == "Jira")
        let started = ContinuousClock.now
        _ = try await a.store.updateUser(named: "alice", displayName: "Alice A.", email: nil, admin: nil, passwordHash: nil)
        var changed = client
        changed.name = "Jira 2"
        try await a.store.updateClient(changed)
        var userSeen: Duration?
        var clientSeen: Duration?
        while ContinuousClock.now - started < .seconds(3), userSeen == nil || clientSeen == nil {
            if userSeen == nil, try await b.store.user(named: "alice")?.displayName == "Alice A." { userSeen = ContinuousClock.now - started }
            if clientSeen == nil, try await b.store.client(clientId: client.clientId)?.name == "Jira 2" { clientSeen = ContinuousClock.now - started }
            try await Task.sleep(for: .milliseconds(10))
        }
        let userDelay = try #require(userSeen, "the user change never reached node b")
        let clientDelay = try #require(clientSeen, "the client change never reached node b")
        #expect(userDelay < .seconds(1) && clientDelay < .seconds(1))
        print("invalidation delay across nodes: user \(userDelay), client \(clientDelay)")
        try await a.store.deleteUser(named: "alice")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await b.store.user(named: "alice") == nil)
    }

    @Test("a message published on one node reaches every node (the lockout channel)")
    func clusterBus() async throws {
        let (a, b, _) = try await Self.twoNodes()
        let received = Mutex<[String]>([])
        b.postgres!.subscribe { message in received.withLock { $0.append(message) } }
        try await a.postgres!.publish("lockout {\"x\":1}")
        let started = ContinuousClock.now
        while received.withLock({ $0.isEmpty }), ContinuousClock.now - started < .seconds(2) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(received.withLock { $0 } == ["lockout {\"x\":1}"])
    }

    @Test("a NUL character (which PostgreSQL text cannot hold) finds nothing and spends nothing: never an outage")
    func nulCharacters() async throws {
        let (a, _, client) = try await Self.twoNodes()
        #expect(try await a.store.client(clientId: client.clientId + "\0") == nil)
        #expect(try await a.store.user(named: "alice\0") == nil)
        #expect(try await a.store.consumer(key: "jira\0") == nil)
        #expect(try await !a.store.recordNonce(consumerKey: "jira:1", nonce: "n\0", timestamp: Self.now, audit: nil))
        await #expect(throws: StoreError.self) {
            try await a.store.createUser(makeUser("bad\0name"))
        }
    }

    @Test("a user change writes only the given columns: a concurrent demotion is not undone")
    func partialUserUpdates() async throws {
        let (a, b, _) = try await Self.twoNodes()
        try await a.store.createUser(makeUser("root", admin: true))
        try await a.store.createUser(makeUser("second", admin: true))
        _ = try await a.store.updateUser(named: "second", displayName: nil, email: nil, admin: false, passwordHash: nil)
        let renamed = try await b.store.updateUser(named: "second", displayName: "Second", email: .some("s@example.com"), admin: nil, passwordHash: nil)
        #expect(!renamed.admin && renamed.displayName == "Second" && renamed.email == "s@example.com")
        let cleared = try await a.store.updateUser(named: "second", displayName: nil, email: .some(nil), admin: nil, passwordHash: nil)
        #expect(cleared.email == nil && cleared.displayName == "Second")
    }

    @Test("expired rows are pruned in batches, live ones stay")
    func batchedPruning() async throws {
        let test = try await TestStore(.postgres)
        try await test.store.createUser(makeUser("alice"))
        for index in 0..<1_100 {
            try await test.store.createSession(Session(idDigest: "old\(index)", userName: "alice", createdAt: 0, expiresAt: 10))
        }
        try await test.store.createSession(Session(idDigest: "live", userName: "alice", createdAt: 0, expiresAt: Self.now))
        #expect(try await test.store.pruneSessions(now: 100) == 1_100)
        #expect(try await test.store.session(digest: "live", now: 100) != nil)
    }

    @Test("an unreachable database is StoreError.unavailable within the call deadline, and unhealthy")
    func outage() async throws {
        // Port 1 on loopback: nothing listens, connections are refused.
        let (store, task) = try TestStore.unmigrated(url: "postgres://linkgate:x@127.0.0.1:1/none?sslmode=disable", callDeadline: .seconds(1))
        defer { task.cancel() }
        let started = ContinuousClock.now
        await #expect(throws: StoreError.unavailable(code: -1)) { _ = try await store.user(named: "alice") }
        // §11: never a request hanging past 10 s (the deadline is 1 s; the margin is for a busy test machine).
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(await !store.isHealthy())
    }
}

@Suite("The PostgreSQL suites ran")
struct PostgresConfiguredTests {
    /// scripts/test sets LINKGATE_REQUIRE_POSTGRES: there, the PostgreSQL half of every store suite
    /// must run, never be skipped for want of a server.
    @Test("when required, LINKGATE_TEST_POSTGRES names a server")
    func configured() {
        if ProcessInfo.processInfo.environment["LINKGATE_REQUIRE_POSTGRES"] == "1" {
            #expect(TestBackend.postgresURL != nil, "LINKGATE_REQUIRE_POSTGRES=1 but LINKGATE_TEST_POSTGRES is not set")
            #expect(TestBackend.all.contains(.postgres))
        }
    }
}
