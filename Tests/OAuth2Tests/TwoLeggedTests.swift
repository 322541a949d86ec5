import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Testing
@testable import OAuth2

/// Builds RS256 JWT assertions (RFC 7523) for the tests.
struct AssertionMaker {
    let key: RSAPrivateKey
    static let aud = "https://lg.example/rest/oauth2/latest/token"

    func make(header: String = #"{"alg":"RS256","typ":"JWT"}"#, claims: [String: Any]) throws -> String {
        let payload = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload))
        return input + "." + Base64URL.encode(try key.sign(message: Array(input.utf8), digest: .sha256))
    }

    func claims(iss: String, sub: String = "alice", now: Int64, exp: Int64? = nil, jti: String? = SecureRandom.hex(8),
                aud: Any = AssertionMaker.aud) -> [String: Any] {
        var c: [String: Any] = ["iss": iss, "sub": sub, "aud": aud, "exp": exp ?? now + 300, "iat": now]
        if let jti { c["jti"] = jti }
        return c
    }
}

@Suite("Two-legged modes: client_credentials and JWT-bearer impersonation (INTERFACE §8)")
struct TwoLeggedTests {
    let key = try! RSAPrivateKey(generatingBits: 2048)

    /// A client allowed to impersonate, with `key`'s public half registered.
    func impersonator(_ h: Harness, impersonation: Bool = true) async throws -> (OAuth2Client, String) {
        let registry = ClientRegistry(store: h.store, now: { h.clock.now })
        return try await registry.register(NewOAuth2Client(name: "Signer \(SecureRandom.hex(2))", redirects: [], scope: .write,
                                                           impersonation: impersonation, publicKey: try key.publicKey().pem))
    }

    func jwtGrant(_ h: Harness, _ assertion: String, extra: [(String, String)] = [], authorization: String? = nil) async throws -> TokenResponse {
        try await h.server.token(OAuthParameters([("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion)]
                                                 .map { (name: $0.0, value: $0.1) } + extra.map { (name: $0.0, value: $0.1) }),
                                 authorization: authorization)
    }

    @Test("client_credentials acts as the application (no user, ≤ WRITE), without a refresh token, and is audited", arguments: TestBackend.all)
    func clientCredentials(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let other = h.basic(h.other.clientId, h.otherSecret)
        let tokens = try await h.server.token(OAuthParameters([("grant_type", "client_credentials")]), authorization: other)
        #expect(tokens.refreshToken == nil && tokens.scope == .write)
        let bearer = try #require(try await h.live(tokens.accessToken))
        #expect(bearer.user == nil && bearer.record.mode == .application)
        // Jira's ceiling is SYSTEM_ADMIN, but an application principal holds at most WRITE.
        await expectOAuthError(.invalidScope) {
            _ = try await h.server.token(OAuthParameters([("grant_type", "client_credentials")]), authorization: h.jiraAuth)
        }
        let read = try await h.server.token(OAuthParameters([("grant_type", "client_credentials"), ("scope", "READ")]), authorization: h.jiraAuth)
        #expect(read.scope == .read)
        let entries = try await h.store.auditEntries(AuditQuery(action: AuditAction.tokenIssue))
        #expect(entries.filter { $0.outcome == .success }.count == 2 && entries.filter { $0.outcome == .failure }.count == 1)
    }

    @Test("client_credentials with an execute-as user acts as that user, and may then hold ADMIN if they are an admin", arguments: TestBackend.all)
    func executeAs(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let registry = ClientRegistry(store: h.store, now: { h.clock.now })
        let (client, secret) = try await registry.register(NewOAuth2Client(name: "Bot", redirects: [], scope: .admin, executeAs: "root"))
        let tokens = try await h.server.token(OAuthParameters([("grant_type", "client_credentials")]), authorization: h.basic(client.clientId, secret))
        #expect(tokens.scope == .admin)
        #expect(try await h.live(tokens.accessToken)?.user?.name == "root")
    }

    @Test("JWT bearer: a good RS256 assertion impersonates sub; introspection shows act", arguments: TestBackend.all)
    func impersonation(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let (client, _) = try await impersonator(h)
        let maker = AssertionMaker(key: key)
        let tokens = try await jwtGrant(h, try maker.make(claims: maker.claims(iss: client.clientId, now: h.clock.now)))
        #expect(tokens.refreshToken == nil && tokens.scope == .write)
        guard case .active(let t) = try await h.server.introspect(OAuthParameters([("token", tokens.accessToken)])) else {
            Issue.record("inactive"); return
        }
        #expect(t.mode == .impersonation && t.username == "alice" && t.actor == client.clientId && t.clientId == client.clientId)
        // aud as an array, and with a valid client secret alongside, also work.
        let (c2, secret2) = try await impersonator(h)
        _ = try await jwtGrant(h, try maker.make(claims: maker.claims(iss: c2.clientId, now: h.clock.now, aud: [AssertionMaker.aud, "x"])),
                               authorization: h.basic(c2.clientId, secret2))
    }

    @Test("forged, replayed, expired, wrong-audience and wrong-key assertions are refused and audited", arguments: TestBackend.all)
    func refused(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let (client, secret) = try await impersonator(h)
        let maker = AssertionMaker(key: key)
        let now = h.clock.now
        func claims(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            var c = maker.claims(iss: client.clientId, now: now)
            change(&c)
            return c
        }
        let cases: [(String, OAuthError.Code)] = [
            (try maker.make(claims: claims { $0["exp"] = now - 61 }), .invalidGrant),
            (try maker.make(claims: claims { $0["exp"] = now + 700 }), .invalidGrant),
            (try maker.make(claims: claims { $0["exp"] = nil }), .invalidGrant),
            (try maker.make(claims: claims { $0["aud"] = "https://evil.example/token" }), .invalidGrant),
            (try maker.make(claims: claims { $0["jti"] = nil }), .invalidGrant),
            (try maker.make(claims: claims { $0["nbf"] = now + 120 }), .invalidGrant),
            (try maker.make(claims: claims { $0["iat"] = now + 120 }), .invalidGrant),
            (try maker.make(claims: claims { $0["sub"] = "ghost" }), .invalidGrant),
            (try maker.make(claims: claims { $0["exp"] = "soon" }), .invalidGrant),
            (try AssertionMaker(key: try RSAPrivateKey(generatingBits: 2048)).make(claims: claims { _ in }), .invalidGrant),
            (try maker.make(header: #"{"alg":"HS256"}"#, claims: claims { _ in }), .invalidGrant),
            (try maker.make(header: #"{"alg":"none"}"#, claims: claims { _ in }), .invalidGrant),
            (try maker.make(claims: claims { _ in }).split(separator: ".").dropLast().joined(separator: ".") + ".", .invalidGrant),
            ("not.a.jwt!", .invalidGrant), ("abc", .invalidGrant), (String(repeating: "a", count: 9000), .invalidRequest),
            (Base64URL.encode(Array("{}".utf8)) + "." + Base64URL.encode(Array("[1]".utf8)) + ".AA", .invalidGrant),
        ]
        for (assertion, code) in cases {
            await expectOAuthError(code) { _ = try await jwtGrant(h, assertion) }
        }
        // Unknown issuer is a client-authentication failure; a wrong secret too.
        await expectOAuthError(.invalidClient) { _ = try await jwtGrant(h, try maker.make(claims: claims { $0["iss"] = "nobody" })) }
        await expectOAuthError(.invalidClient) {
            _ = try await jwtGrant(h, try maker.make(claims: claims { _ in }), authorization: h.basic(client.clientId, secret + "x"))
        }
        await expectOAuthError(.invalidGrant) {
            _ = try await jwtGrant(h, try maker.make(claims: claims { _ in }), extra: [("client_id", h.jira.clientId)])
        }
        // Replay: the same jti works once.
        let once = try maker.make(claims: claims { $0["jti"] = "only-once" })
        _ = try await jwtGrant(h, once)
        await expectOAuthError(.invalidGrant) { _ = try await jwtGrant(h, once) }
        // Scope escalation beyond the client's ceiling.
        await expectOAuthError(.invalidScope) { _ = try await jwtGrant(h, try maker.make(claims: claims { _ in }), extra: [("scope", "ADMIN")]) }
        let failures = try await h.store.auditEntries(AuditQuery(limit: 100, action: AuditAction.tokenIssue)).filter { $0.outcome == .failure }
        #expect(failures.count == cases.count + 5)
        #expect(failures.allSatisfy { $0.detail?.hasPrefix("jwt-bearer:") == true })
    }

    @Test("a client without impersonation: true gets unauthorized_client", arguments: TestBackend.all)
    func notAllowed(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let registry = ClientRegistry(store: h.store, now: { h.clock.now })
        let (client, _) = try await registry.register(NewOAuth2Client(name: "Plain", redirects: [], scope: .write, publicKey: try key.publicKey().pem))
        let maker = AssertionMaker(key: key)
        await expectOAuthError(.unauthorizedClient) { _ = try await jwtGrant(h, try maker.make(claims: maker.claims(iss: client.clientId, now: h.clock.now))) }
    }

    @Test("the metadata lists every grant type", arguments: TestBackend.all)
    func metadata(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        #expect(h.server.metadata.grantTypesSupported == ["authorization_code", "refresh_token", "client_credentials",
                                                          "urn:ietf:params:oauth:grant-type:jwt-bearer"])
    }

    @Test("audit pages: newest first, filtered, cursor", arguments: TestBackend.all)
    func auditPaging(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let audit = AuditLog(store: h.store, now: { h.clock.now })
        for i in 0..<7 { try await audit.record("test.\(i % 2)", actor: "a", client: i < 3 ? "c1" : "c2", subject: "u\(i)") }
        let first = try await h.store.auditEntries(AuditQuery(limit: 3))
        #expect(first.map(\.subject) == ["u6", "u5", "u4"])
        let second = try await h.store.auditEntries(AuditQuery(limit: 3, before: first.last!.id))
        #expect(second.map(\.subject) == ["u3", "u2", "u1"])
        #expect(try await h.store.auditEntries(AuditQuery(client: "c1")).count == 3)
        #expect(try await h.store.auditEntries(AuditQuery(user: "u2")).count == 1)
        #expect(try await h.store.auditEntries(AuditQuery(action: "test.0")).count == 4)
        #expect(try await h.store.auditEntries(AuditQuery(since: h.clock.now + 1)).isEmpty)
    }
}
