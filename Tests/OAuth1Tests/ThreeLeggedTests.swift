import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Testing
@testable import OAuth1

@Suite("Three-legged dance (RFC 5849 §2)")
struct ThreeLeggedTests {
    let requestURI = "https://lg.example/plugins/servlet/oauth/request-token"
    let accessURI = "https://lg.example/plugins/servlet/oauth/access-token"

    @Test("1.0a with a callback: token, approval with verifier, access token acting as the user", arguments: TestBackend.all)
    func oneZeroA(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let access = try await h.accessToken()
        let principal = try await h.verifier.authenticate(try h.signer.request(token: access))
        #expect(principal.mode == .user && principal.user?.name == "alice")
        let apps = try await h.store.accessTokens(userName: "alice", now: h.clock.now)
        #expect(apps.count == 1 && apps[0].consumerKey == "jira:1")
        #expect(try await h.store.revokeAccessToken(id: apps[0].id, userName: "alice"))
        await expectProblem(.tokenRejected) { _ = try await h.verifier.authenticate(try h.signer.request(token: access)) }
    }

    @Test("OAuth 1.0 (no callback, no verifier), as the jira library dances", arguments: TestBackend.all)
    func oneZero(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let access = try await h.accessToken(callback: nil)
        #expect(try await h.verifier.authenticate(try h.signer.request(token: access)).user?.name == "alice")
    }

    @Test("oob shows the verifier; the callback is confirmed", arguments: TestBackend.all)
    func oob(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let rt = try await h.flow.requestToken(try h.signer.request(method: "POST", uri: requestURI, extra: [("oauth_callback", "oob")]))
        #expect(Harness.value(rt, "oauth_callback_confirmed") == "true")
        let token = try #require(Harness.value(rt, "oauth_token"))
        guard case .showVerifier(let verifier) = try await h.flow.decide(token: token, user: h.alice, approve: true) else {
            Issue.record("no verifier shown"); return
        }
        let at = try await h.flow.accessToken(try h.signer.request(method: "POST", uri: accessURI, token: token, extra: [("oauth_verifier", verifier)]))
        #expect(Harness.value(at, "oauth_expires_in") == String(ThreeLeggedFlow.accessTokenLifetime))
        #expect(Harness.value(at, "oauth_session_handle")?.count == 43)
    }

    @Test("exchange problems: unapproved, denied, missing and wrong verifier, reuse, expiry, request token as access token", arguments: TestBackend.all)
    func exchangeProblems(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        func requestToken(_ callback: String? = "https://jira.example/cb") async throws -> String {
            let rt = try await h.flow.requestToken(try h.signer.request(method: "POST", uri: requestURI,
                                                                       extra: callback.map { [("oauth_callback", $0)] } ?? []))
            return try #require(Harness.value(rt, "oauth_token"))
        }
        func exchange(_ token: String, verifier: String? = nil) async throws {
            _ = try await h.flow.accessToken(try h.signer.request(method: "POST", uri: accessURI, token: token,
                                                                  extra: verifier.map { [("oauth_verifier", $0)] } ?? []))
        }
        let pending = try await requestToken()
        await expectProblem(.permissionUnknown) { try await exchange(pending, verifier: "x") }
        await expectProblem(.tokenRejected) { _ = try await h.verifier.authenticate(try h.signer.request(token: pending)) }

        let denied = try await requestToken()
        guard case .redirect(let location) = try await h.flow.decide(token: denied, user: h.alice, approve: false) else { Issue.record("no redirect"); return }
        #expect(location.hasSuffix("oauth_verifier=denied"))
        await expectProblem(.permissionDenied) { try await exchange(denied, verifier: "denied") }

        let approved = try await requestToken()
        guard case .redirect(let approvedLocation) = try await h.flow.decide(token: approved, user: h.alice, approve: true) else { return }
        let verifier = try #require(approvedLocation.split(separator: "oauth_verifier=").last.map(String.init))
        await expectProblem(.parameterAbsent) { try await exchange(approved) }
        await expectProblem(.tokenRejected) { try await exchange(approved, verifier: "wrong") }
        try await exchange(approved, verifier: verifier)
        await expectProblem(.tokenRejected) { try await exchange(approved, verifier: verifier) }
        // Deciding twice is not possible.
        #expect(try await h.flow.decide(token: approved, user: h.alice, approve: true) == .invalid)

        let late = try await requestToken(nil)
        _ = try await h.flow.decide(token: late, user: h.alice, approve: true)
        h.clock.advance(ThreeLeggedFlow.requestTokenLifetime)
        await expectProblem(.tokenExpired) { try await exchange(late) }
        #expect(try await h.flow.pendingRequest(token: late) == nil)
    }

    @Test("an access token cannot be exchanged again or used by another consumer", arguments: TestBackend.all)
    func accessTokenMisuse(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let access = try await h.accessToken()
        await expectProblem(.tokenRejected) {
            _ = try await h.flow.accessToken(try h.signer.request(method: "POST", uri: accessURI, token: access, extra: [("oauth_verifier", "x")]))
        }
        let key = try RSAPrivateKey(generatingBits: 2048)
        _ = try await h.registry.register(NewConsumer(key: "other", name: "Other", publicKey: try key.publicKey().pem))
        let other = Signer(consumerKey: "other", key: key, clock: h.clock)
        await expectProblem(.tokenRejected) { _ = try await h.verifier.authenticate(try other.request(token: access)) }
    }

    @Test("threeLeggedAllowed false refuses request tokens and 3LO requests; a bad callback is parameter_rejected", arguments: TestBackend.all)
    func threeLeggedOff(backend: TestBackend) async throws {
        let h = try await Harness(threeLegged: false)
        await expectProblem(.permissionDenied) { _ = try await h.flow.requestToken(try h.signer.request(method: "POST", uri: requestURI)) }
        let open = try await Harness(backend)
        await expectProblem(.parameterRejected) {
            _ = try await open.flow.requestToken(try open.signer.request(method: "POST", uri: requestURI, extra: [("oauth_callback", "javascript:x")]))
        }
        let access = try await open.accessToken()
        _ = try await open.registry.update(key: "jira:1", change: ConsumerChange(threeLeggedAllowed: false))
        await expectProblem(.permissionDenied) { _ = try await open.verifier.authenticate(try open.signer.request(token: access)) }
    }

    @Test("deleting the consumer or the user kills the tokens", arguments: TestBackend.all)
    func cascades(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let access = try await h.accessToken()
        try await h.store.deleteUser(named: "alice")
        await expectProblem(.tokenRejected) { _ = try await h.verifier.authenticate(try h.signer.request(token: access)) }
        let h2 = try await Harness(backend)
        let access2 = try await h2.accessToken()
        try await h2.registry.delete(key: "jira:1")
        #expect(try await h2.store.token(digest: Digest.storageDigest(of: access2)) == nil)
    }
}

@Suite("Consumer registry and consumer-info XML")
struct ConsumerRegistryTests {
    @Test("keys: PEM, bare DER and certificates; not RSA, small, private and garbage are refused", arguments: TestBackend.all)
    func keys(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let v = try Vector.load()
        let der = v.rsa_sha1.public_key_pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let c = try await h.registry.register(NewConsumer(key: "by-der", name: "DER", publicKey: der))
        #expect(c.publicKey.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let small = try RSAPrivateKey(generatingBits: 768).publicKey().pem
        let ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQoH8XKYfO+eG4GWQ5IdpOpHqkJLE\nzkSy+oir36yxoCsw3Nq8Y+L7j3+xdTyNxDxcy2/jVd/KGCJ7Mwiv9cwoVw==\n-----END PUBLIC KEY-----\n"
        for bad in [small, ec, v.rsa_sha1.private_key_pem, "garbage", ""] {
            await #expect(throws: ValidationError.self) { _ = try await h.registry.register(NewConsumer(key: "bad", name: "Bad", publicKey: bad)) }
        }
        for badKey in ["", "has space", "a/b", String(repeating: "k", count: 256)] {
            await #expect(throws: ValidationError.self) {
                _ = try await h.registry.register(NewConsumer(key: badKey, name: "X", publicKey: v.rsa_sha1.public_key_pem))
            }
        }
        await #expect(throws: StoreError.self) {
            _ = try await h.registry.register(NewConsumer(key: "jira:1", name: "Again", publicKey: v.rsa_sha1.public_key_pem))
        }
        #expect(try await h.store.consumers().map(\.key) == ["by-der", "jira:1"])
    }

    @Test("consumer-info: parsed with entities and CDATA; malformed, wrong root or missing fields refused; round trip")
    func consumerInfo() throws {
        let doc = "<?xml version=\"1.0\"?><consumer><key>jira:42</key><name>Jira &amp; Co</name><publicKey><![CDATA[MIIB]]></publicKey><description>  d </description></consumer>"
        let info = try ConsumerInfo.parse(Array(doc.utf8))
        #expect(info == ConsumerInfo(key: "jira:42", name: "Jira & Co", publicKey: "MIIB", description: "d", callback: nil))
        #expect(try ConsumerInfo.parse(Array(info.xml.utf8)) == info)
        for bad in ["<consumer><key>x</key>", "<other><key>k</key><name>n</name><publicKey>p</publicKey></other>",
                    "<consumer><key>k</key><name>n</name></consumer>", "not xml", ""] {
            #expect(throws: ConsumerInfo.ParseError.self) { try ConsumerInfo.parse(Array(bad.utf8)) }
        }
    }

    @Test("external entities are never resolved (XXE)")
    func xxe() throws {
        let doc = """
            <?xml version="1.0"?><!DOCTYPE consumer [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>
            <consumer><key>k</key><name>&xxe;</name><publicKey>p</publicKey></consumer>
            """
        let hostname = (try? String(contentsOfFile: "/etc/hostname", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "\u{0}"
        // Either the document is refused, or the entity stays unexpanded: the file never leaks.
        let name = (try? ConsumerInfo.parse(Array(doc.utf8)))?.name ?? ""
        #expect(!hostname.isEmpty && !name.contains(hostname))
    }

    @Test("XML escaping keeps markup inert and drops characters XML cannot carry")
    func escaping() {
        #expect(ConsumerInfo.escape("<a href='x'>&\"\u{1}") == "&lt;a href=&apos;x&apos;&gt;&amp;&quot;")
    }
}
