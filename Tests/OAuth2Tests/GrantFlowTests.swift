import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Testing
@testable import OAuth2

@Suite("Authorization code grant (RFC 6749 §4.1.3, RFC 7636, RFC 9700)")
struct AuthorizationCodeTests {
    @Test("a code becomes an access and a refresh token acting as the user", arguments: TestBackend.all)
    func exchange(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code(scope: "READ WRITE"))
        #expect(tokens.scope == .write && tokens.expiresIn == 3600 && tokens.refreshToken != nil)
        #expect(tokens.accessToken.count == 55)  // time-ordered (SecureRandom.timeOrderedToken)
        let bearer = try #require(try await h.live(tokens.accessToken))
        #expect(bearer.user?.name == "alice" && bearer.record.mode == .user && bearer.record.clientId == h.jira.clientId)
        #expect(try await h.live(try #require(tokens.refreshToken)) == nil)  // a refresh token is no bearer token
    }

    @Test("a replayed code is invalid_grant and revokes the tokens it produced", arguments: TestBackend.all)
    func replay(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let code = try await h.code()
        let tokens = try await h.exchange(code)
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code) }
        #expect(try await !h.isActive(tokens.accessToken))
        #expect(try await !h.isActive(try #require(tokens.refreshToken)))
    }

    @Test("of 8 concurrent redemptions of one code exactly one succeeds, and the replays revoke its tokens (50 rounds)", arguments: TestBackend.all)
    func concurrentRedemption(backend: TestBackend) async throws {
        let h = try await Harness(backend, file: true)
        for round in 0..<50 {
            let code = try await h.code()
            let results = await withTaskGroup(of: TokenResponse?.self) { group in
                for _ in 0..<8 { group.addTask { try? await h.exchange(code) } }
                return await group.reduce(into: [TokenResponse?]()) { $0.append($1) }
            }
            let winners = results.compactMap { $0 }
            #expect(winners.count == 1, "round \(round)")
            // INTERFACE §6: every later use revokes what the code produced, whenever it lands.
            for winner in winners {
                #expect(try await !h.isActive(winner.accessToken), "round \(round): the winner's access token survived a replay")
                #expect(try await !h.isActive(try #require(winner.refreshToken)), "round \(round): the refresh token survived")
            }
        }
    }

    @Test("a refused exchange (wrong verifier or redirect_uri) leaves the code unspent for its rightful holder", arguments: TestBackend.all)
    func refusedExchangeKeepsCode(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let verifier = Base64URL.encode(SecureRandom.bytes(40))
        let code = try await h.code(challenge: Base64URL.encode(Digest.sha256(verifier)), method: "S256")
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code, verifier: Base64URL.encode(SecureRandom.bytes(40))) }
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code, verifier: verifier, redirect: "https://jira.example/cb") }
        let tokens = try await h.exchange(code, verifier: verifier)
        #expect(try await h.isActive(tokens.accessToken))
    }

    @Test("codes expire after 600 s", arguments: TestBackend.all)
    func expiry(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let code = try await h.code()
        h.clock.advance(600)
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code) }
    }

    @Test("a code is bound to its client and redirect URI", arguments: TestBackend.all)
    func binding(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let code = try await h.code()
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code, authorization: h.basic(h.other.clientId, h.otherSecret)) }
        // The other client's attempt did not spend it.
        let code2 = try await h.code()
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code2, redirect: "https://jira.example/cb") }
        _ = try await h.exchange(code)
    }

    @Test("PKCE: S256 and plain verify; wrong, missing and downgraded verifiers fail", arguments: TestBackend.all)
    func pkce(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let verifier = Base64URL.encode(SecureRandom.bytes(40))
        let challenge = Base64URL.encode(Digest.sha256(verifier))
        _ = try await h.exchange(try await h.code(challenge: challenge, method: "S256"), verifier: verifier)
        _ = try await h.exchange(try await h.code(challenge: verifier, method: "plain"), verifier: verifier)
        let other = Base64URL.encode(SecureRandom.bytes(40))
        let wrong = try await h.code(challenge: challenge, method: "S256")
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(wrong, verifier: other) }
        let missing = try await h.code(challenge: challenge, method: "S256")
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(missing) }
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is refused.
        let downgrade = try await h.code()
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(downgrade, verifier: verifier) }
        // A challenge sent as S256 does not verify as plain.
        let s256 = try await h.code(challenge: challenge, method: "S256")
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(s256, verifier: challenge) }
        await expectOAuthError(.invalidRequest) { _ = try await h.exchange(try await h.code(), verifier: "short") }
    }

    @Test("PKCE: standard base64 verifiers (+ / =) pass; space, 42 and 129 characters are invalid_request", arguments: TestBackend.all)
    func pkceVisibleASCII(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let verifier = "Ab+/" + String(repeating: "x", count: 39) + "="   // 44 characters
        let challenge = Base64URL.encode(Digest.sha256(verifier))
        _ = try await h.exchange(try await h.code(challenge: challenge, method: "S256"), verifier: verifier)
        for bad in ["Ab+/" + String(repeating: "x", count: 38) + " =", String(repeating: "x", count: 42),
                    String(repeating: "x", count: 129)] {
            let code = try await h.code(challenge: Base64URL.encode(Digest.sha256(bad)), method: "S256")
            await expectOAuthError(.invalidRequest) { _ = try await h.exchange(code, verifier: bad) }
        }
    }

    @Test("a code for ADMIN dies with the user's admin rights", arguments: TestBackend.all)
    func demoted(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let code = try await h.code(user: h.root, scope: "ADMIN")
        try await h.store.createUser(User(name: "root2", displayName: "r", email: nil, admin: true, passwordHash: "x", createdAt: 0))
        _ = try await h.store.updateUser(named: "root", displayName: nil, email: nil, admin: false, passwordHash: nil)
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code) }
    }

    @Test("client authentication: Basic or post, never both; Basic values are form-decoded", arguments: TestBackend.all)
    func clientAuthentication(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let code = try await h.code()
        let both = OAuthParameters([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Harness.redirect),
                                    ("client_secret", h.jiraSecret)])
        await expectOAuthError(.invalidRequest) { _ = try await h.server.token(both, authorization: h.jiraAuth) }
        let post = OAuthParameters([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Harness.redirect),
                                    ("client_id", h.jira.clientId), ("client_secret", h.jiraSecret)])
        _ = try await h.server.token(post, authorization: nil)

        let none = OAuthParameters([("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", Harness.redirect)])
        await expectOAuthError(.invalidClient) { _ = try await h.server.token(none, authorization: nil) }
        await expectOAuthError(.invalidClient) { _ = try await h.server.token(none, authorization: h.basic(h.jira.clientId, "wrong")) }
        await expectOAuthError(.invalidClient) { _ = try await h.server.token(none, authorization: "Basic !!!") }
        await expectOAuthError(.invalidClient) { _ = try await h.server.token(none, authorization: "Bearer abc") }
        do {
            _ = try await h.server.token(none, authorization: h.basic(h.jira.clientId, "wrong"))
        } catch let failure as ClientAuthentication.Failure {
            #expect(failure.usedBasic)
        }
        // Raw (not form-encoded) Basic credentials still work when they need no encoding.
        let raw = "Basic " + Base64URL.encodeStandard(Array("\(h.jira.clientId):\(h.jiraSecret)".utf8))
        await expectOAuthError(.invalidGrant) { _ = try await h.server.token(none, authorization: raw) }
    }

    @Test("grant_type: missing is invalid_request, unknown is unsupported_grant_type; parameters may not repeat", arguments: TestBackend.all)
    func grantTypes(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        await expectOAuthError(.invalidRequest) { _ = try await h.server.token(OAuthParameters([]), authorization: h.jiraAuth) }
        await expectOAuthError(.unsupportedGrantType) {
            _ = try await h.server.token(OAuthParameters([("grant_type", "password")]), authorization: h.jiraAuth)
        }
        let code = try await h.code()
        let repeated = OAuthParameters([("grant_type", "authorization_code"), ("code", code), ("code", code), ("redirect_uri", Harness.redirect)])
        await expectOAuthError(.invalidRequest) { _ = try await h.server.token(repeated, authorization: h.jiraAuth) }
        _ = try await h.exchange(code)  // the refused request did not spend the code
    }
}

@Suite("Refresh tokens: rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2)")
struct RefreshTests {
    @Test("rotation: the new refresh token works, the old one is dead, and reusing it revokes the grant", arguments: TestBackend.all)
    func rotation(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let first = try await h.exchange(try await h.code(scope: "WRITE"))
        let old = try #require(first.refreshToken)
        let second = try await h.refresh(old)
        let new = try #require(second.refreshToken)
        #expect(new != old && second.scope == .write)
        #expect(try await h.isActive(second.accessToken))
        await expectOAuthError(.invalidGrant) { _ = try await h.refresh(old) }
        // The whole grant is gone, newest tokens included.
        #expect(try await !h.isActive(second.accessToken))
        #expect(try await !h.isActive(first.accessToken))
        await expectOAuthError(.invalidGrant) { _ = try await h.refresh(new) }
    }

    @Test("another client cannot use the refresh token, and its attempt changes nothing", arguments: TestBackend.all)
    func crossClient(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code())
        let refresh = try #require(tokens.refreshToken)
        await expectOAuthError(.invalidGrant) { _ = try await h.refresh(refresh, authorization: h.basic(h.other.clientId, h.otherSecret)) }
        _ = try await h.refresh(refresh)
    }

    @Test("a narrower scope is allowed for the access token; a wider one is invalid_scope and changes nothing", arguments: TestBackend.all)
    func scopes(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code(scope: "WRITE"))
        let refresh = try #require(tokens.refreshToken)
        await expectOAuthError(.invalidScope) { _ = try await h.refresh(refresh, scope: "ADMIN") }
        let narrowed = try await h.refresh(refresh, scope: "READ")
        #expect(narrowed.scope == .read)
        // The rotated refresh token keeps the grant's scope.
        let again = try await h.refresh(try #require(narrowed.refreshToken))
        #expect(again.scope == .write)
    }

    @Test("refresh tokens expire 90 days after their own issue", arguments: TestBackend.all)
    func expiry(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code())
        h.clock.advance(89 * 24 * 3600)
        let rotated = try await h.refresh(try #require(tokens.refreshToken))
        h.clock.advance(89 * 24 * 3600)
        let again = try await h.refresh(try #require(rotated.refreshToken))
        h.clock.advance(90 * 24 * 3600)
        await expectOAuthError(.invalidGrant) { _ = try await h.refresh(try #require(again.refreshToken)) }
    }
}

@Suite("Revocation, introspection, consent and pruning")
struct LifecycleTests {
    @Test("RFC 7009: an access token alone, or a refresh token with its grant; other clients' tokens are untouched", arguments: TestBackend.all)
    func revocation(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code())
        let otherAuth = h.basic(h.other.clientId, h.otherSecret)
        try await h.server.revoke(OAuthParameters([("token", tokens.accessToken)]), authorization: otherAuth)
        #expect(try await h.isActive(tokens.accessToken))
        try await h.server.revoke(OAuthParameters([("token", tokens.accessToken), ("token_type_hint", "bogus")]), authorization: h.jiraAuth)
        #expect(try await !h.isActive(tokens.accessToken))
        #expect(try await h.isActive(try #require(tokens.refreshToken)))

        let more = try await h.exchange(try await h.code())
        try await h.server.revoke(OAuthParameters([("token", try #require(more.refreshToken))]), authorization: h.jiraAuth)
        #expect(try await !h.isActive(more.accessToken))
        // Unknown tokens are answered the same way.
        try await h.server.revoke(OAuthParameters([("token", "unknown")]), authorization: h.jiraAuth)
        await expectOAuthError(.invalidRequest) { try await h.server.revoke(OAuthParameters([]), authorization: h.jiraAuth) }
        await expectOAuthError(.invalidClient) { try await h.server.revoke(OAuthParameters([("token", "x")]), authorization: nil) }
    }

    @Test("a revoked token is kept as a tombstone until it expires: never live, but attributable; pruned with the rest", arguments: TestBackend.all)
    func tombstones(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.server.token(OAuthParameters([("grant_type", "client_credentials"), ("scope", "READ")]), authorization: h.jiraAuth)
        try await h.server.revoke(OAuthParameters([("token", tokens.accessToken)]), authorization: h.jiraAuth)
        guard case .revoked(let record) = try await h.server.bearer(tokens.accessToken) else { Issue.record("not a tombstone"); return }
        #expect(record.clientId == h.jira.clientId && record.mode == .application)
        #expect(try await !h.isActive(tokens.accessToken))
        // Revoking again changes nothing (and is not audited twice).
        try await h.server.revoke(OAuthParameters([("token", tokens.accessToken)]), authorization: h.jiraAuth)
        #expect(try await h.store.auditEntries(AuditQuery(action: AuditAction.tokenRevoke)).count == 1)
        h.clock.advance(3600)
        #expect(try await h.store.pruneExpiredGrants(now: h.clock.now) == 1)
        guard case .invalid = try await h.server.bearer(tokens.accessToken) else { Issue.record("still there"); return }
    }

    @Test("a link remembers its last use after its tokens and consents are gone", arguments: TestBackend.all)
    func lastUse(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        #expect(try await h.store.clientUsage(now: h.clock.now)[h.jira.clientId] == LinkUsage(activeTokens: 0, lastUsedAt: nil))
        let tokens = try await h.exchange(try await h.code())
        #expect(try await h.store.clientUsage(now: h.clock.now)[h.jira.clientId] == LinkUsage(activeTokens: 2, lastUsedAt: h.clock.now))
        // "Last used" is kept to the minute (LinkUsage.granularity).
        let used = h.clock.now + 61
        h.clock.advance(61)
        _ = try await h.live(tokens.accessToken)
        let app = try #require(try await h.server.applications(of: h.alice).first)
        #expect(try await h.server.revokeApplication(id: app.consent.id, of: h.alice))
        #expect(try await h.store.clientUsage(now: h.clock.now)[h.jira.clientId] == LinkUsage(activeTokens: 0, lastUsedAt: used))
    }

    @Test("a client_credentials token is stored with its audit entry and marks its link used", arguments: TestBackend.all)
    func clientCredentialsRecords(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.server.token(OAuthParameters([("grant_type", "client_credentials"), ("scope", "READ")]), authorization: h.jiraAuth)
        #expect(try await h.isActive(tokens.accessToken))
        #expect(try await h.store.clientUsage(now: h.clock.now)[h.jira.clientId] == LinkUsage(activeTokens: 1, lastUsedAt: h.clock.now))
        let issued = try await h.store.auditEntries(AuditQuery(action: AuditAction.tokenIssue))
        #expect(issued.count == 1 && issued.first?.client == h.jira.clientId)
    }

    @Test("a scope with a NUL character is invalid_scope on both stores, and its refusal is audited with U+FFFD in the NUL's place (PostgreSQL text cannot hold a NUL)",
          arguments: TestBackend.all)
    func nulInScope(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        await #expect(throws: OAuthError.invalidScope("unknown scope 'READ\0'; use READ, WRITE, ADMIN or SYSTEM_ADMIN")) {
            try await h.server.token(OAuthParameters([("grant_type", "client_credentials"), ("scope", "READ\0")]), authorization: h.jiraAuth)
        }
        let refused = try await h.store.auditEntries(AuditQuery(action: AuditAction.tokenIssue))
        #expect(refused.map(\.outcome) == [.failure] && refused.first?.detail?.contains("'READ\u{FFFD}'") == true)
    }

    @Test("RFC 7662: active tokens carry who, what and until when; expired ones are inactive", arguments: TestBackend.all)
    func introspection(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code(scope: "WRITE"))
        let result = try await h.server.introspect(OAuthParameters([("token", tokens.accessToken)]))
        guard case .active(let t) = result else { Issue.record("inactive"); return }
        #expect(t.scope == .write && t.clientId == h.jira.clientId && t.username == "alice" && t.subject == "alice")
        #expect(t.tokenType == "bearer" && t.issuer == "https://lg.example" && t.mode == .user && t.actor == nil)
        #expect(t.expiresAt - t.issuedAt == 3600)
        h.clock.advance(3600)
        #expect(try await !h.isActive(tokens.accessToken))
        #expect(try await h.live(tokens.accessToken) == nil)
        #expect(try await h.server.introspect(OAuthParameters([("token", "garbage")])) == .inactive)
    }

    @Test("consent is remembered for the same or a lower scope until the user revokes the app", arguments: TestBackend.all)
    func consent(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        func request(_ scope: String) async throws -> AuthorizationRequest {
            let p = OAuthParameters([("response_type", "code"), ("client_id", h.jira.clientId), ("redirect_uri", Harness.redirect), ("scope", scope)])
            return try h.server.validate(p, trusted: try await h.server.trustedRedirect(p), user: h.alice)
        }
        #expect(try await h.server.needsConsent(try await request("WRITE"), user: h.alice))
        let tokens = try await h.exchange(try await h.code(scope: "WRITE"))
        #expect(try await !h.server.needsConsent(try await request("WRITE"), user: h.alice))
        #expect(try await !h.server.needsConsent(try await request("READ"), user: h.alice))
        let apps = try await h.server.applications(of: h.alice)
        #expect(apps.count == 1 && apps[0].client.name == "Jira" && apps[0].consent.scope == .write)
        #expect(apps[0].consent.lastUsedAt != nil)
        #expect(try await !h.server.revokeApplication(id: apps[0].consent.id, of: h.root))
        #expect(try await h.server.revokeApplication(id: apps[0].consent.id, of: h.alice))
        #expect(try await !h.isActive(tokens.accessToken))
        await expectOAuthError(.invalidGrant) { _ = try await h.refresh(try #require(tokens.refreshToken)) }
        #expect(try await h.server.needsConsent(try await request("READ"), user: h.alice))
        #expect(try await h.server.applications(of: h.alice).isEmpty)
    }

    @Test("revoking the app also voids codes not yet redeemed", arguments: TestBackend.all)
    func revokeVoidsCodes(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let code = try await h.code()
        let app = try #require(try await h.server.applications(of: h.alice).first)
        #expect(try await h.server.revokeApplication(id: app.consent.id, of: h.alice))
        await expectOAuthError(.invalidGrant) { _ = try await h.exchange(code) }
    }

    @Test("deleting the user or the client revokes their tokens", arguments: TestBackend.all)
    func cascades(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code())
        try await h.store.deleteClient(clientId: h.jira.clientId)
        #expect(try await !h.isActive(tokens.accessToken))
        let h2 = try await Harness(backend)
        let t2 = try await h2.exchange(try await h2.code())
        try await h2.store.deleteUser(named: "alice")
        #expect(try await !h2.isActive(t2.accessToken))
    }

    @Test("pruning removes expired codes and tokens only", arguments: TestBackend.all)
    func prune(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        _ = try await h.code()
        let live = try await h.exchange(try await h.code())
        #expect(try await h.store.pruneExpiredGrants(now: h.clock.now) == 0)
        h.clock.advance(3601)
        // Two codes and one access token have expired; the refresh token lives on.
        #expect(try await h.store.pruneExpiredGrants(now: h.clock.now) == 3)
        _ = try await h.refresh(try #require(live.refreshToken))
    }
}
