import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Testing
@testable import OAuth2

@Suite("PKCE (RFC 7636)")
struct PKCETests {
    @Test("Appendix B: S256 of the example verifier")
    func appendixB() {
        #expect(PKCE.verify(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", method: .s256))
        #expect(!PKCE.verify(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
                             challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", method: .s256))
        // The challenge itself offered as verifier fails under S256.
        #expect(!PKCE.verify(verifier: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                             challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", method: .s256))
    }

    @Test("plain compares the verifier itself")
    func plain() {
        let v = String(repeating: "a", count: 43)
        #expect(PKCE.verify(verifier: v, challenge: v, method: .plain))
        #expect(!PKCE.verify(verifier: v, challenge: v + "b", method: .plain))
    }

    @Test("challenge syntax: 43–128 unreserved characters", arguments: [
        (String(repeating: "a", count: 42), false), (String(repeating: "a", count: 43), true),
        (String(repeating: "Z", count: 128), true), (String(repeating: "a", count: 129), false),
        (String(repeating: "a", count: 42) + "~", true), (String(repeating: "a", count: 42) + "+", false),
        (String(repeating: "a", count: 42) + "/", false), (String(repeating: "a", count: 42) + "=", false),
        (String(repeating: "é", count: 43), false),
    ])
    func syntax(value: String, ok: Bool) {
        #expect(PKCE.isWellFormedChallenge(value) == ok)
    }

    @Test("verifier syntax: 43–128 visible ASCII characters (INTERFACE §6)", arguments: [
        (String(repeating: "a", count: 42), false), (String(repeating: "a", count: 43), true),
        (String(repeating: "Z", count: 128), true), (String(repeating: "a", count: 129), false),
        (String(repeating: "a", count: 41) + "+=", true), (String(repeating: "a", count: 42) + "/", true),
        (String(repeating: "a", count: 42) + "~", true), (String(repeating: "!", count: 43), true),
        (String(repeating: "a", count: 42) + " ", false), (String(repeating: "a", count: 42) + "\t", false),
        (String(repeating: "a", count: 42) + "\u{7F}", false), (String(repeating: "é", count: 43), false),
        (String(repeating: "a", count: 40) + "+", false),
    ])
    func verifierSyntax(value: String, ok: Bool) {
        #expect(PKCE.isWellFormedVerifier(value) == ok)
    }

    @Test("a standard-base64 verifier with + / = verifies under S256")
    func standardBase64Verifier() {
        // git-credential-oauth style: base64.StdEncoding of 32 random bytes → 44 characters with padding.
        let verifier = "q+/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN="
        #expect(verifier.utf8.count == 44)
        let challenge = Base64URL.encode(Digest.sha256(verifier))
        #expect(PKCE.verify(verifier: verifier, challenge: challenge, method: .s256))
        #expect(!PKCE.verify(verifier: "q-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN=", challenge: challenge, method: .s256))
        #expect(!PKCE.verify(verifier: "q+/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM N", challenge: challenge, method: .s256))
    }
}

@Suite("A token request's claim on a code (RFC 6749 §4.1.3, RFC 7636 §4.6)")
struct CodeClaimTests {
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static let other = "q+/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN="

    static func code(challenge: String?, method: PKCE.Method?) -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(digest: "d", familyId: "f", clientId: "c", userName: "alice", redirectURI: "https://a.example/cb",
                                scope: .write, codeChallenge: challenge, codeChallengeMethod: method, issuedAt: 1, expiresAt: 2,
                                openID: nil, nonce: nil, authTime: 7)
    }

    @Test("the column comparison a store's statement makes (matches) accepts exactly the codes check accepts")
    func matchesIsCheck() throws {
        let s256 = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"   // RFC 7636 Appendix B
        let challenges: [(name: String, value: String?)] = [("none", nil), ("S256(dB)", s256), ("dB", Self.verifier),
                                                             ("S256(q+)", Base64URL.encode(Digest.sha256(Self.other))), ("q+", Self.other)]
        let methods: [PKCE.Method?] = [nil, .s256, .plain]
        let proofs = [nil, PKCE.Proof(verifier: Self.verifier)!, PKCE.Proof(verifier: Self.other)!]
        var accepted: [String] = []
        for challenge in challenges {
            for method in methods {
                let code = Self.code(challenge: challenge.value, method: method)
                for redirect in ["https://a.example/cb", "https://a.example/cb/", nil] {
                    for proof in proofs {
                        let claim = CodeClaim(redirectURI: redirect, proof: proof, tokens: [])
                        let checked = (try? claim.check(code)) != nil
                        let label = "\(challenge.name) \(method?.rawValue ?? "-") \(proof.map { String($0.verifier.prefix(2)) } ?? "-")"
                        #expect(claim.matches(code) == checked, "\(label) \(redirect ?? "-")")
                        if checked { accepted.append(label) }
                    }
                }
            }
        }
        // What passes, with the code's own redirect URI only: no challenge without a verifier (any
        // method), a verifier's S256 transform under S256, a verifier itself as plain or with no method.
        #expect(accepted.sorted() == ["none - -", "none S256 -", "none plain -", "S256(dB) S256 dB", "dB - dB", "dB plain dB",
                                      "S256(q+) S256 q+", "q+ - q+", "q+ plain q+"].sorted())
    }

    @Test("the tokens take the code's grant and act for its user")
    func tokensInheritTheGrant() {
        var code = Self.code(challenge: nil, method: nil)
        code.openID = OpenIDScope(email: true)
        let claim = CodeClaim(redirectURI: code.redirectURI, proof: nil, tokens: [
            TokenDraft(digest: "a1", kind: .access, issuedAt: 10, expiresAt: 20), TokenDraft(digest: "r1", kind: .refresh, issuedAt: 10, expiresAt: 30),
        ])
        #expect(claim.tokens(for: code) == [
            TokenRecord(digest: "a1", kind: .access, familyId: "f", clientId: "c", userName: "alice", scope: .write, mode: .user,
                        issuedAt: 10, expiresAt: 20, openID: code.openID, authTime: 7),
            TokenRecord(digest: "r1", kind: .refresh, familyId: "f", clientId: "c", userName: "alice", scope: .write, mode: .user,
                        issuedAt: 10, expiresAt: 30, openID: code.openID, authTime: 7),
        ])
    }
}

@Suite("Scope requests (INTERFACE §4)")
struct ScopeRequestTests {
    let alice = User(name: "alice", displayName: "a", email: nil, admin: false, passwordHash: "", createdAt: 0)
    let root = User(name: "root", displayName: "r", email: nil, admin: true, passwordHash: "", createdAt: 0)

    @Test("the highest requested value is granted; omitted → the ceiling")
    func granted() throws {
        #expect(try ScopeRequest.grant("READ", ceiling: .write, user: alice) == .read)
        #expect(try ScopeRequest.grant("READ WRITE", ceiling: .write, user: alice) == .write)
        #expect(try ScopeRequest.grant("WRITE  READ", ceiling: .write, user: alice) == .write)
        #expect(try ScopeRequest.grant(nil, ceiling: .write, user: alice) == .write)
        #expect(try ScopeRequest.grant("", ceiling: .read, user: alice) == .read)
        #expect(try ScopeRequest.grant("SYSTEM_ADMIN", ceiling: .systemAdmin, user: root) == .systemAdmin)
        #expect(try ScopeRequest.grant("WRITE", ceiling: .write, user: nil) == .write)
    }

    @Test("invalid_scope", arguments: [
        ("read", Scope.write, false), ("ADMIN", .write, true), ("READ FOO", .write, true), ("ADMIN", .admin, false),
        ("SYSTEM_ADMIN", .systemAdmin, false), (nil, .admin, false), ("   ", .write, false),
    ] as [(String?, Scope, Bool)])
    func refused(requested: String?, ceiling: Scope, admin: Bool) {
        #expect(throws: OAuthError.self) { try ScopeRequest.grant(requested, ceiling: ceiling, user: admin ? root : alice) }
    }

    @Test("an application principal holds at most WRITE")
    func application() {
        #expect(throws: OAuthError.invalidScope("an application principal can hold at most WRITE")) {
            try ScopeRequest.grant("ADMIN", ceiling: .systemAdmin, user: nil)
        }
    }
}

@Suite("Authorization requests (RFC 6749 §4.1.1, §4.1.2.1)")
struct AuthorizeRequestTests {
    func params(_ h: Harness, _ extra: [(String, String)] = [], dropping: Set<String> = []) -> OAuthParameters {
        let base = [("response_type", "code"), ("client_id", h.jira.clientId), ("redirect_uri", Harness.redirect), ("state", "xyz"),
                    ("scope", "READ")]
        return OAuthParameters(base.filter { !dropping.contains($0.0) }.map { (name: $0.0, value: $0.1) } + extra.map { (name: $0.0, value: $0.1) })
    }

    @Test("untrusted client or redirect → error page, never a redirect", arguments: TestBackend.all)
    func errorPages(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let cases: [OAuthParameters] = [
            params(h, dropping: ["client_id"]), params(h, dropping: ["redirect_uri"]),
            OAuthParameters([("client_id", "unknown"), ("redirect_uri", Harness.redirect)]),
            OAuthParameters([("client_id", h.jira.clientId), ("redirect_uri", Harness.redirect + "&y=2")]),
            OAuthParameters([("client_id", h.jira.clientId), ("redirect_uri", "https://jira.example/cb")]),
            OAuthParameters([("client_id", h.jira.clientId), ("redirect_uri", "https://other.example/cb")]),
            params(h, [("client_id", h.jira.clientId)]), params(h, [("redirect_uri", Harness.redirect)]),
        ]
        for p in cases {
            await #expect(throws: AuthorizeFailure.self) { _ = try await h.server.trustedRedirect(p) }
            do {
                _ = try await h.server.trustedRedirect(p)
            } catch let failure as AuthorizeFailure {
                guard case .errorPage = failure else { Issue.record("redirected: \(failure)"); continue }
            }
        }
    }

    @Test("other errors redirect with error, description and the state", arguments: [
        ([("response_type", "token")], ["response_type"], OAuthError.Code.unsupportedResponseType),
        ([], ["response_type"], .invalidRequest),
        ([("scope", "READ EVIL")], ["scope"], .invalidScope),
        ([("scope", "ADMIN")], ["scope"], .invalidScope),
        ([], ["scope"], .invalidScope),  // omitted → the client's SYSTEM_ADMIN ceiling, which alice cannot hold
        ([("code_challenge_method", "S256")], [], .invalidRequest),
        ([("code_challenge", "short")], [], .invalidRequest),
        ([("code_challenge", String(repeating: "a", count: 43)), ("code_challenge_method", "S512")], [], .invalidRequest),
        ([("scope", "WRITE")], [], .invalidRequest),
        ([("response_type", "code")], [], .invalidRequest),
    ] as [([(String, String)], Set<String>, OAuthError.Code)])
    func redirects(extra: [(String, String)], dropping: Set<String>, code: OAuthError.Code) async throws {
        let h = try await Harness()
        let p = params(h, extra, dropping: dropping)
        let trusted = try await h.server.trustedRedirect(p)
        do {
            _ = try h.server.validate(p, trusted: trusted, user: h.alice)
            Issue.record("accepted")
        } catch .redirect(let error, let uri, let state) {
            #expect(error.code == code)
            #expect(uri == Harness.redirect && state == "xyz")
            let location = AuthorizeRequest.errorRedirect(error, redirectURI: uri, state: state)
            #expect(location.hasPrefix(Harness.redirect + "&error=\(code.rawValue)&error_description="))
            #expect(Harness.query(location)["state"] == "xyz")
        } catch {
            Issue.record("error page for \(extra)")
        }
    }

    @Test("a challenge without a method means plain (RFC 7636 §4.3)", arguments: TestBackend.all)
    func defaultPlain(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let challenge = String(repeating: "c", count: 43)
        let p = params(h, [("code_challenge", challenge)])
        let request = try h.server.validate(p, trusted: try await h.server.trustedRedirect(p), user: h.alice)
        #expect(request.codeChallengeMethod == .plain && request.codeChallenge == challenge)
    }

    @Test("state comes back byte for byte, whatever it holds", arguments: ["a b&c=d", "+/=?#", "ünï✓", "%41", String(repeating: "s", count: 500)])
    func stateRoundTrip(state: String) async throws {
        let h = try await Harness()
        let code = try await h.code(state: state)
        #expect(!code.isEmpty)
        let p = params(h, [("state", state)], dropping: ["state"])
        let request = try h.server.validate(p, trusted: try await h.server.trustedRedirect(p), user: h.alice)
        let location = try await h.server.approve(request, user: h.alice)
        #expect(Harness.query(location)["state"] == state)
        #expect(location.hasPrefix(Harness.redirect + "&code="))
    }
}

@Suite("HTTP Basic client credentials (RFC 6749 §2.3.1)")
struct BasicCredentialsTests {
    static func basic(_ text: String) -> String { Base64URL.encodeStandard(Array(text.utf8)) }

    @Test("id and secret are form-decoded, split at the first colon; spaces around and inside the base64 are skipped")
    func decodes() {
        let b = Self.basic
        #expect(ClientAuthentication.decodeBasic("Basic " + b("app:s3cret"))! == ("app", "s3cret"))
        #expect(ClientAuthentication.decodeBasic("basic   " + b("app:s3cret"))! == ("app", "s3cret"))
        #expect(ClientAuthentication.decodeBasic("  Basic " + b("app:s3cret"))! == ("app", "s3cret"))
        let folded = b("app:s3cret-long-enough-to-fold")
        let split = folded.index(folded.startIndex, offsetBy: 8)
        #expect(ClientAuthentication.decodeBasic("Basic " + folded[..<split] + " " + folded[split...])! == ("app", "s3cret-long-enough-to-fold"))
        // RFC 6749 §2.3.1: both halves are application/x-www-form-urlencoded; a colon in the secret is kept.
        #expect(ClientAuthentication.decodeBasic("Basic " + b("my%20app:a%3Ab+c:d"))! == ("my app", "a:b c:d"))
        #expect(ClientAuthentication.decodeBasic("Basic " + b("ünï:çødé"))! == ("ünï", "çødé"))
        #expect(ClientAuthentication.decodeBasic("Basic " + b(":"))! == ("", ""))
    }

    @Test("no credentials, no colon, bad base64, bad UTF-8 or bad percent-encoding: nil")
    func rejects() {
        let b = Self.basic
        for header in ["Basic", "Basic ", "Basic    ", "Basic" + b("a:b"), "Basic " + b("no-colon"), "Basic !!!",
                       "Basic " + b("a:b") + "=", "Basic " + b("a%zz:b"), "Basic " + b("a:%"),
                       "Basic " + Base64URL.encodeStandard([0x61, 0x3A, 0xFF, 0xFE])] {
            #expect(ClientAuthentication.decodeBasic(header) == nil, "\(header)")
        }
    }
}
