import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Testing
@testable import OAuth2

/// A decoded, signature-checked id_token.
struct DecodedIDToken {
    let header: [String: JSONValue]
    let claims: [String: JSONValue]

    /// Splits the JWS, checks RS256 with `key`'s public half, and decodes header and claims.
    init(_ token: String, key: SigningKey = Harness.signingKey) throws {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        let signature = try #require(Base64URL.decode(parts[2]))
        #expect(try key.privateKey.publicKey().verify(signature: signature, message: Array("\(parts[0]).\(parts[1])".utf8), digest: .sha256),
                "the id_token's RS256 signature does not verify")
        guard case .object(let header)? = JSONValue.parse(try #require(Base64URL.decode(parts[0]))),
              case .object(let claims)? = JSONValue.parse(try #require(Base64URL.decode(parts[1]))) else {
            throw DecodeFailure()
        }
        self.header = header
        self.claims = claims
    }

    struct DecodeFailure: Error {}
}

@Suite("OpenID Connect scope model (INTERFACE §14, §4)")
struct OpenIDScopeTests {
    let alice = User(name: "alice", displayName: "Alice", email: nil, admin: false, passwordHash: "", createdAt: 0)

    @Test("openid with profile, email and one permission value; none → the client's scope")
    func grants() throws {
        let full = try ScopeRequest.grantAllowingOpenID("openid profile email READ", ceiling: .write, user: alice)
        #expect(full == GrantedScope(permission: .read, openID: OpenIDScope(profile: true, email: true)))
        #expect(full.text == "openid profile email READ")
        let bare = try ScopeRequest.grantAllowingOpenID("email openid", ceiling: .write, user: alice)
        #expect(bare.permission == .write && bare.openID == OpenIDScope(profile: false, email: true))
        #expect(bare.text == "openid email WRITE")
    }

    @Test("two permission values, an unknown value, or a value over the ceiling in an OIDC request → invalid_scope")
    func refusals() {
        for scope in ["openid READ WRITE", "openid phone", "openid SYSTEM_ADMIN", "openid ADMIN"] {
            #expect(throws: OAuthError.self, "\(scope)") { try ScopeRequest.grantAllowingOpenID(scope, ceiling: .write, user: alice) }
            do { _ = try ScopeRequest.grantAllowingOpenID(scope, ceiling: .write, user: alice) } catch { #expect(error.code == .invalidScope) }
        }
    }

    @Test("without openid, §4's rules exactly: highest value, and profile/email are unknown")
    func plainOAuth() throws {
        #expect(try ScopeRequest.grantAllowingOpenID("READ WRITE", ceiling: .write, user: alice) == GrantedScope(permission: .write))
        #expect(try ScopeRequest.grantAllowingOpenID(nil, ceiling: .read, user: alice).text == "READ")
        do {
            _ = try ScopeRequest.grantAllowingOpenID("profile READ", ceiling: .write, user: alice)
            Issue.record("profile without openid was accepted")
        } catch { #expect(error.code == .invalidScope) }
    }

    @Test("stored text round-trips")
    func stored() {
        #expect(OpenIDScope(stored: "openid profile")?.profile == true)
        #expect(OpenIDScope(stored: "profile") == nil && OpenIDScope(stored: nil) == nil)
        #expect(OpenIDScope(stored: OpenIDScope(profile: true, email: true).text) == OpenIDScope(profile: true, email: true))
    }
}

@Suite("id_token claims and signature (INTERFACE §14, OIDC Core §2, §3.1.3.6)")
struct IDTokenTests {
    @Test("at_hash: left half of SHA-256 of the access token, base64url (vector from Python's hashlib)")
    func atHash() {
        #expect(IDToken.accessTokenHash("jHkWEdUXMU1BwAsC4vtUsZwnNkN0hQ0Xf4Wg0ENn5Kw") == "xtNFRLkWhOg8e6lNmIeBig")
    }

    @Test("kid is the RFC 7638 thumbprint (the RFC's §3.1 example)")
    func thumbprint() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        #expect(SigningKey.thumbprint(modulus: n, exponent: "AQAB") == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test("the JWK carries the key's n and e: a 2048-bit modulus, e = 65537, kid = its thumbprint")
    func jwk() throws {
        let key = Harness.signingKey
        #expect(key.exponent == "AQAB")
        #expect(try #require(Base64URL.decode(key.modulus)).count == 256)
        #expect(key.kid == SigningKey.thumbprint(modulus: key.modulus, exponent: key.exponent))
        guard case .object(let jwk) = key.jwk else { Issue.record("the JWK is not an object"); return }
        #expect(jwk["kty"] == .string("RSA") && jwk["use"] == .string("sig") && jwk["alg"] == .string("RS256") && jwk["kid"] == .string(key.kid))
    }

    @Test("claims: iss, sub, aud, iat, exp, auth_time, nonce, at_hash; profile adds name and preferred_username, email adds email")
    func claims() throws {
        let user = User(name: "alice", displayName: "Alice Liddell", email: "alice@example.com", admin: false, passwordHash: "", createdAt: 0)
        let claims = IDToken.claims(issuer: "https://lg.example", user: user, clientId: "c1", openID: OpenIDScope(profile: true, email: true),
                                    authTime: 1000, nonce: "n-1", accessToken: "tok", issuedAt: 2000, lifetime: 3600)
        let token = try DecodedIDToken(try IDToken.sign(claims, with: Harness.signingKey))
        #expect(token.header == ["alg": .string("RS256"), "typ": .string("JWT"), "kid": .string(Harness.signingKey.kid)])
        #expect(token.claims == [
            "iss": .string("https://lg.example"), "sub": .string("alice"), "aud": .string("c1"), "iat": .number(2000), "exp": .number(5600),
            "auth_time": .number(1000), "nonce": .string("n-1"), "at_hash": .string(IDToken.accessTokenHash("tok")),
            "name": .string("Alice Liddell"), "preferred_username": .string("alice"), "email": .string("alice@example.com"),
        ])
    }

    @Test("without profile/email and nonce, and for a user without e-mail, those claims are absent")
    func omitted() {
        let user = User(name: "bob", displayName: "Bob", email: nil, admin: false, passwordHash: "", createdAt: 0)
        let bare = IDToken.claims(issuer: "i", user: user, clientId: "c", openID: OpenIDScope(), authTime: 5, nonce: nil,
                                  accessToken: "t", issuedAt: 10, lifetime: 60)
        #expect(Set(bare.keys) == ["iss", "sub", "aud", "iat", "exp", "auth_time", "at_hash"])
        let noEmail = IDToken.claims(issuer: "i", user: user, clientId: "c", openID: OpenIDScope(profile: false, email: true), authTime: 5,
                                     nonce: nil, accessToken: "t", issuedAt: 10, lifetime: 60)
        #expect(noEmail["email"] == nil)
        #expect(UserInfo.claims(user: user, openID: OpenIDScope(profile: true, email: true)) ==
                ["sub": .string("bob"), "name": .string("Bob"), "preferred_username": .string("bob")])
    }

    @Test("a tampered id_token fails verification")
    func tampered() throws {
        let user = User(name: "alice", displayName: "A", email: nil, admin: false, passwordHash: "", createdAt: 0)
        let token = try IDToken.sign(IDToken.claims(issuer: "i", user: user, clientId: "c", openID: OpenIDScope(), authTime: 1, nonce: nil,
                                                    accessToken: "t", issuedAt: 1, lifetime: 1), with: Harness.signingKey)
        let parts = token.split(separator: ".")
        let forged = Base64URL.encode(Array(#"{"sub":"root"}"#.utf8))
        let signature = try #require(Base64URL.decode(parts[2]))
        #expect(try !Harness.signingKey.privateKey.publicKey().verify(signature: signature, message: Array("\(parts[0]).\(forged)".utf8),
                                                                     digest: .sha256))
    }
}

@Suite("OpenID Connect on the code flow (INTERFACE §14)")
struct OpenIDFlowTests {
    @Test("an OIDC code gives an id_token with the code's nonce and auth_time; scope lists the OIDC values", arguments: TestBackend.all)
    func codeFlow(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let code = try await h.code(scope: "openid profile email READ", extra: [("nonce", "abc")], authTime: h.clock.now - 30)
        let tokens = try await h.exchange(code)
        #expect(tokens.scopeText == "openid profile email READ" && tokens.scope == .read)
        let id = try DecodedIDToken(try #require(tokens.idToken))
        #expect(id.claims["sub"] == .string("alice") && id.claims["aud"] == .string(h.jira.clientId) && id.claims["iss"] == .string("https://lg.example"))
        #expect(id.claims["nonce"] == .string("abc") && id.claims["auth_time"] == .number(Double(h.clock.now - 30)))
        #expect(id.claims["at_hash"] == .string(IDToken.accessTokenHash(tokens.accessToken)))
        #expect(id.claims["exp"] == .number(Double(h.clock.now + 3600)) && id.claims["iat"] == .number(Double(h.clock.now)))
        #expect(id.claims["preferred_username"] == .string("alice") && id.claims["email"] == nil)  // alice has no e-mail
        // The access token knows its OIDC values (for userinfo).
        #expect(try await h.live(tokens.accessToken)?.record.openID == OpenIDScope(profile: true, email: true))
    }

    @Test("a refresh answers a new id_token whose auth_time is the original login's, without nonce", arguments: TestBackend.all)
    func refresh(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let login = h.clock.now - 100
        // Jira is registered with SYSTEM_ADMIN and alice is no admin: she asks for WRITE.
        let tokens = try await h.exchange(try await h.code(scope: "openid profile WRITE", extra: [("nonce", "n1")], authTime: login))
        h.clock.advance(500)
        let refreshed = try await h.refresh(try #require(tokens.refreshToken))
        #expect(refreshed.scopeText == "openid profile WRITE")
        let id = try DecodedIDToken(try #require(refreshed.idToken))
        #expect(id.claims["auth_time"] == .number(Double(login)) && id.claims["iat"] == .number(Double(h.clock.now)))
        #expect(id.claims["nonce"] == nil && id.claims["at_hash"] == .string(IDToken.accessTokenHash(refreshed.accessToken)))
        // A second rotation keeps it too.
        let again = try await h.refresh(try #require(refreshed.refreshToken), scope: "openid READ")
        #expect(again.scopeText == "openid READ")
        #expect(try DecodedIDToken(try #require(again.idToken)).claims["auth_time"] == .number(Double(login)))
        await expectOAuthError(.invalidScope) { _ = try await h.refresh(try #require(again.refreshToken), scope: "openid email") }
    }

    @Test("plain OAuth 2.0 codes give no id_token and the bare permission scope", arguments: TestBackend.all)
    func plain(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await h.exchange(try await h.code(scope: "READ", extra: [("nonce", "ignored")]))
        #expect(tokens.idToken == nil && tokens.scopeText == "READ")
        let refreshed = try await h.refresh(try #require(tokens.refreshToken))
        #expect(refreshed.idToken == nil && refreshed.scopeText == "READ")
        #expect(try await h.live(tokens.accessToken)?.record.openID == nil)
    }

    @Test("prompt, max_age and nonce are checked; needsLogin follows prompt=login and max_age")
    func parameters() async throws {
        let h = try await Harness()
        func request(_ extra: [(name: String, value: String)]) async throws -> AuthorizationRequest {
            let params = OAuthParameters([("response_type", "code"), ("client_id", h.jira.clientId), ("redirect_uri", Harness.redirect),
                                          ("scope", "openid READ")] + extra)
            return try h.server.validate(params, trusted: try await h.server.trustedRedirect(params), user: h.alice)
        }
        for bad in [[("prompt", "none login")], [("prompt", "bogus")], [("max_age", "-1")], [("max_age", "x")]] {
            do {
                _ = try await request(bad)
                Issue.record("\(bad) was accepted")
            } catch let failure as AuthorizeFailure {
                guard case .redirect(let error, _, _) = failure else { Issue.record("\(bad): not a redirect"); continue }
                #expect(error.code == .invalidRequest)
            }
        }
        let login = try await request([("prompt", "login")])
        #expect(login.needsLogin(loggedInAt: 100, now: 100, loginAfter: nil))
        #expect(!login.needsLogin(loggedInAt: 100, now: 100, loginAfter: 90))
        let maxAge = try await request([("max_age", "60")])
        #expect(!maxAge.needsLogin(loggedInAt: 100, now: 160, loginAfter: nil) && maxAge.needsLogin(loggedInAt: 100, now: 161, loginAfter: nil))
        let consent = try await request([("prompt", "consent")])
        #expect(try await h.server.needsConsent(consent, user: h.alice))
    }

    @Test("remembered consent covers OpenID values: a value not yet agreed to asks again; approvals add up", arguments: TestBackend.all)
    func consent(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        func needsConsent(_ scope: String) async throws -> Bool {
            let params = OAuthParameters([("response_type", "code"), ("client_id", h.jira.clientId), ("redirect_uri", Harness.redirect),
                                          ("scope", scope)])
            let request = try h.server.validate(params, trusted: try await h.server.trustedRedirect(params), user: h.alice)
            return try await h.server.needsConsent(request, user: h.alice)
        }
        _ = try await h.code(scope: "READ")
        #expect(try await !needsConsent("READ"))
        #expect(try await needsConsent("openid READ"))  // a plain consent releases no identity
        _ = try await h.code(scope: "openid email READ")
        #expect(try await !needsConsent("openid READ"))
        #expect(try await !needsConsent("openid email READ"))
        #expect(try await needsConsent("openid profile READ"))
        _ = try await h.code(scope: "openid profile READ")
        #expect(try await !needsConsent("openid profile email READ"))
        let stored = try await h.store.consent(userName: "alice", clientId: h.jira.clientId)
        #expect(stored?.openID == OpenIDScope(profile: true, email: true) && stored?.scope == .read)
    }

    @Test("minted tokens (fixture §12) with openid carry an id_token with auth_time = now and no nonce; without a user → invalid_scope", arguments: TestBackend.all)
    func minted(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let tokens = try await MintedGrant.mint(server: h.server, clientId: h.jira.clientId, userName: "alice", scope: "openid profile READ",
                                                expiresIn: 120, withRefreshToken: true)
        #expect(tokens.scopeText == "openid profile READ" && tokens.expiresIn == 120)
        let id = try DecodedIDToken(try #require(tokens.idToken))
        #expect(id.claims["sub"] == .string("alice") && id.claims["aud"] == .string(h.jira.clientId))
        #expect(id.claims["auth_time"] == .number(Double(h.clock.now)) && id.claims["nonce"] == nil)
        #expect(id.claims["exp"] == .number(Double(h.clock.now + 120)) && id.claims["preferred_username"] == .string("alice"))
        #expect(try await h.live(tokens.accessToken)?.record.openID == OpenIDScope(profile: true))
        // Its refresh answers an id_token with the minting's auth_time.
        h.clock.advance(10)
        let refreshed = try await h.refresh(try #require(tokens.refreshToken))
        #expect(try DecodedIDToken(try #require(refreshed.idToken)).claims["auth_time"] == .number(Double(h.clock.now - 10)))
        // Plain minting is unchanged: no id_token, the bare permission value.
        let plain = try await MintedGrant.mint(server: h.server, clientId: h.jira.clientId, userName: "alice", scope: "READ",
                                               expiresIn: nil, withRefreshToken: false)
        #expect(plain.idToken == nil && plain.scopeText == "READ" && plain.refreshToken == nil)
        do {
            _ = try await MintedGrant.mint(server: h.server, clientId: h.jira.clientId, userName: nil, scope: "openid READ",
                                           expiresIn: nil, withRefreshToken: false)
            Issue.record("application tokens with openid were minted")
        } catch MintedGrant.Failure.scope(let error) {
            #expect(error.code == .invalidScope)
        }
    }

    @Test("openIDClientIds: clients with an openid consent or a live openid token, not plain or revoked ones", arguments: TestBackend.all)
    func openIDClients(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        #expect(try await h.store.openIDClientIds(now: h.clock.now).isEmpty)
        _ = try await h.exchange(try await h.code(scope: "READ"))
        #expect(try await h.store.openIDClientIds(now: h.clock.now).isEmpty)  // plain OAuth 2.0 only
        // A consent to openid marks Jira.
        _ = try await h.code(scope: "openid email READ")
        #expect(try await h.store.openIDClientIds(now: h.clock.now) == [h.jira.clientId])
        // A live minted openid token (no consent) marks Other, until it expires or is revoked.
        let minted = try await MintedGrant.mint(server: h.server, clientId: h.other.clientId, userName: "alice", scope: "openid READ",
                                                expiresIn: 60, withRefreshToken: false)
        #expect(try await h.store.openIDClientIds(now: h.clock.now) == [h.jira.clientId, h.other.clientId])
        #expect(try await h.store.openIDClientIds(now: h.clock.now + 61) == [h.jira.clientId])
        try await h.server.revoke(OAuthParameters([("token", minted.accessToken)]), authorization: h.basic(h.other.clientId, h.otherSecret))
        #expect(try await h.store.openIDClientIds(now: h.clock.now) == [h.jira.clientId])
    }
}
