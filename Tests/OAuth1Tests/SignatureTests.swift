import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Testing
@testable import OAuth1

@Suite("RFC 5849 signature base string and parameters")
struct SignatureTests {
    @Test("the RFC 5849 §3.4.1.1 example gives the vector's base string, and the vector's RSA-SHA1 signature verifies it")
    func rfcVector() throws {
        let v = try Vector.load()
        let url = v.request.url
        let query = try FormURLEncoded.parse(String(url.split(separator: "?", maxSplits: 1)[1]))
        let form = try FormURLEncoded.parse(v.request.body)
        let header = try ProtocolParameters.parseAuthorizationHeader(try #require(v.request.headers["Authorization"]))
        #expect(!header.contains { $0.name == "realm" })
        let pairs = (header + query + form).filter { $0.name != "oauth_signature" }.map { ProtocolParameters.Pair(name: $0.name, value: $0.value) }
        let base = SignatureBaseString.make(method: v.request.method, baseStringURI: SignedRequest.normalize(url), parameters: pairs)
        #expect(base == v.signature_base_string)
        let key = try RSAPublicKey(parsing: v.rsa_sha1.public_key_pem)
        #expect(key.verify(signature: try #require(Base64URL.decode(v.rsa_sha1.signature_base64)), message: Array(base.utf8), digest: .sha1))
    }

    @Test("collecting parameters leaves the method to the verifier (it depends on the consumer)")
    func methodLeftToVerifier() throws {
        let v = try Vector.load()
        let request = SignedRequest(method: "POST", baseStringURI: "http://example.com/request", authorization: v.request.headers["Authorization"],
                                    query: [])
        #expect(try ProtocolParameters.collect(request).signatureMethod == "HMAC-SHA1")
    }

    @Test("base-string URIs: lowercase scheme and host, default ports dropped, others kept, no query", arguments: [
        ("HTTP://Example.COM:80/r%20x?q=1", "http://example.com/r%20x"), ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"), ("http://example.com:8080", "http://example.com:8080/"),
        ("http://example.com/a#frag", "http://example.com/a"), ("http://[::1]:9000/p", "http://[::1]:9000/p"),
        // Already normal (returned as it is), and near misses that are not.
        ("https://lg.example/rest/api/2/myself", "https://lg.example/rest/api/2/myself"),
        ("http://lg.example:8080/a/b", "http://lg.example:8080/a/b"), ("http://lg.example:443/a", "http://lg.example:443/a"),
        ("https://lg.example:80/a", "https://lg.example:80/a"), ("http://lg.example:80/a", "http://lg.example/a"),
        ("http://Lg.example/a", "http://lg.example/a"), ("Http://lg.example/a", "http://lg.example/a"),
        ("http://lg.example/A/B", "http://lg.example/A/B"), ("http://lg.example/a?", "http://lg.example/a"),
        ("http://lg.example", "http://lg.example/"), ("http://lg.example/é", "http://lg.example/é"),
        ("http://LG.example/é", "http://lg.example/é"), ("no-scheme/path", "no-scheme/path"), ("a:b://X/", "a:b://x/"),
    ])
    func baseStringURI(url: String, expected: String) {
        #expect(SignedRequest.normalize(url) == expected)
    }

    @Test("the base string built in one buffer is RFC 5849 §3.4.1's composition of its three parts")
    func baseStringBytes() {
        let pairs = [("b", "2"), ("a", "z"), ("a", "y"), ("a", ""), ("c d", "é"), ("B", "x"), ("%", "&="), ("oauth_nonce", "~._-")]
            .map { ProtocolParameters.Pair(name: $0.0, value: $0.1) }
        for (method, uri) in [("get", "http://lg.example/a b"), ("POST", "https://lg.example:8443/x?y"), ("pätch", "http://h/")] {
            let composed = method.uppercased() + "&" + PercentEncoding.encode(uri) + "&" + PercentEncoding.encode(SignatureBaseString.normalize(pairs))
            #expect(SignatureBaseString.make(method: method, baseStringURI: uri, parameters: pairs) == composed)
            #expect(SignatureBaseString.bytes(method: method, baseStringURI: uri, parameters: pairs) == Array(composed.utf8))
        }
        #expect(SignatureBaseString.make(method: "GET", baseStringURI: "http://h/", parameters: []) == "GET&http%3A%2F%2Fh%2F&")
    }

    @Test("percent-encoding: unreserved only, uppercase hex, UTF-8 bytes")
    func encoding() {
        #expect(PercentEncoding.encode("a b+c*~é=&") == "a%20b%2Bc%2A~%C3%A9%3D%26")
        #expect(PercentEncoding.decode("a%20b%2Bc") == "a b+c")
        #expect(PercentEncoding.decode("a+b") == "a+b")
        #expect(PercentEncoding.decode("%zz") == nil)
        #expect(PercentEncoding.decode("%ff") == nil)
    }

    @Test("normalisation sorts by encoded name, then value, and keeps repeated names and empty values")
    func normalization() {
        let pairs = [("b", "2"), ("a", "z"), ("a", "y"), ("a", ""), ("c d", "é"), ("B", "x")].map { ProtocolParameters.Pair(name: $0.0, value: $0.1) }
        #expect(SignatureBaseString.normalize(pairs) == "B=x&a=&a=y&a=z&b=2&c%20d=%C3%A9")
    }

    @Test("Authorization header parsing: quoted, unquoted, spacing, realm dropped; malformed is parameter_rejected")
    func headerParsing() throws {
        let pairs = try ProtocolParameters.parseAuthorizationHeader(#"OAuth realm="x",oauth_a="1%202" ,  oauth_b=3,oauth_c="""#)
        #expect(pairs.map(\.name) == ["oauth_a", "oauth_b", "oauth_c"])
        #expect(pairs.map(\.value) == ["1 2", "3", ""])
        for bad in [#"OAuth oauth_a="unterminated"#, #"OAuth oauth_a"#, #"OAuth oauth_a="%zz""#] {
            #expect(throws: OAuth1Problem.self) { try ProtocolParameters.parseAuthorizationHeader(bad) }
        }
        #expect(try ProtocolParameters.parseAuthorizationHeader("Bearer x").isEmpty)
    }

    @Test("protocol parameter rules", arguments: [
        ("duplicate", OAuth1Problem.Kind.parameterRejected), ("version", .versionRejected), ("empty-method", .parameterAbsent),
        ("missing-nonce", .parameterAbsent), ("bad-timestamp", .parameterRejected), ("empty-signature", .parameterAbsent),
    ])
    func parameterRules(kind: String, expected: OAuth1Problem.Kind) throws {
        let base: [(String, String)] = [("oauth_consumer_key", "k"), ("oauth_signature_method", "RSA-SHA1"), ("oauth_signature", "c2ln"),
                                        ("oauth_timestamp", "1800000000"), ("oauth_nonce", "n")]
        var header = base, query: [(String, String)] = []
        switch kind {
        case "duplicate": query = [("oauth_nonce", "n")]
        case "version": header.append(("oauth_version", "2.0"))
        case "empty-method": header[1] = ("oauth_signature_method", "")
        case "missing-nonce": header.removeLast()
        case "bad-timestamp": header[3] = ("oauth_timestamp", "12x")
        default: header[2] = ("oauth_signature", "")
        }
        let text = "OAuth " + header.map { "\($0.0)=\"\(PercentEncoding.encode($0.1))\"" }.joined(separator: ", ")
        let request = SignedRequest(method: "GET", baseStringURI: "https://lg.example/x", authorization: text, query: query.map { (name: $0.0, value: $0.1) })
        do {
            _ = try ProtocolParameters.collect(request)
            Issue.record("accepted")
        } catch {
            #expect(error.problem == expected)
            if expected == .parameterAbsent { #expect(error.parameters.first?.name == "oauth_parameters_absent") }
        }
    }
}

@Suite("Signed request verification (INTERFACE §7)")
struct VerifierTests {
    @Test("a well-signed request verifies; tricky values survive the round trip", arguments: [
        [("q", "")], [("q", "a+b c")], [("q", "ünï✓")], [("a", "1"), ("a", "2"), ("a", "1")], [("x", "%41"), ("y", "=&?")],
    ])
    func tricky(query: [(String, String)]) async throws {
        let h = try await Harness()
        let principal = try await h.verifier.authenticate(try h.signer.request(query: query))
        #expect(principal.mode == .application && principal.user == nil && principal.consumer.key == "jira:1")
    }

    @Test("form bodies and non-default ports are signed too", arguments: TestBackend.all)
    func formAndPort(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        _ = try await h.verifier.verify(try h.signer.request(method: "POST", uri: "https://lg.example:8443/x", form: [("b", "2 3"), ("c", "")]))
        // A tampered body, query, method or URI fails.
        let good = try h.signer.request(method: "POST", uri: "https://lg.example:8443/x", query: [("q", "1")], form: [("b", "2")])
        let tampered = [
            SignedRequest(method: good.method, baseStringURI: good.baseStringURI, authorization: good.authorization, query: good.query, form: [("b", "3")]),
            SignedRequest(method: good.method, baseStringURI: good.baseStringURI, authorization: good.authorization, query: [("q", "2")], form: good.form),
            SignedRequest(method: "PUT", baseStringURI: good.baseStringURI, authorization: good.authorization, query: good.query, form: good.form),
            SignedRequest(method: good.method, baseStringURI: "https://lg.example/x", authorization: good.authorization, query: good.query, form: good.form),
        ]
        for request in tampered {
            await expectProblem(.signatureInvalid) { _ = try await h.verifier.verify(request) }
        }
    }

    @Test("a nonce works once per consumer and timestamp (RFC 5849 §3.3); pruning keeps only the window",
          arguments: TestBackend.all)
    func nonces(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let request = try h.signer.request(nonce: "once")
        _ = try await h.verifier.verify(request)
        await expectProblem(.nonceUsed) { _ = try await h.verifier.verify(request) }
        await expectProblem(.nonceUsed) { _ = try await h.verifier.verify(try h.signer.request(nonce: "once")) }
        // Another timestamp needs another signature, so it is another request, not a replay.
        _ = try await h.verifier.verify(try h.signer.request(timestamp: h.clock.now - 1, nonce: "once"))
        await expectProblem(.nonceUsed) {
            _ = try await h.verifier.verify(try h.signer.request(timestamp: h.clock.now - 1, nonce: "once"))
        }
        for i in 0..<50 { _ = try await h.verifier.verify(try h.signer.request(nonce: "n\(i)")) }
        // Only nonces older than the window go: the one of `now - 1` stays 1 s longer.
        h.clock.advance(300)
        #expect(try await h.store.pruneOAuth1(now: h.clock.now, nonceWindow: RequestVerifier.timestampWindow) == 1)
        await expectProblem(.nonceUsed) { _ = try await h.verifier.verify(request) }
        h.clock.advance(1)
        #expect(try await h.store.pruneOAuth1(now: h.clock.now, nonceWindow: RequestVerifier.timestampWindow) == 51)
    }

    @Test("the timestamp window is ±300 s and the refusal says what is acceptable", arguments: TestBackend.all)
    func timestamps(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        _ = try await h.verifier.verify(try h.signer.request(timestamp: h.clock.now - 300))
        _ = try await h.verifier.verify(try h.signer.request(timestamp: h.clock.now + 300))
        for t in [h.clock.now - 301, h.clock.now + 301, 0] {
            do {
                _ = try await h.verifier.verify(try h.signer.request(timestamp: t))
                Issue.record("accepted \(t)")
            } catch let problem as OAuth1Problem {
                #expect(problem.problem == .timestampRefused)
                #expect(problem.parameters.first?.name == "oauth_acceptable_timestamps")
                #expect(problem.parameters.first?.value == "\(h.clock.now - 300)-\(h.clock.now + 300)")
            }
        }
    }

    @Test("unknown consumers, wrong keys and garbage signatures", arguments: TestBackend.all)
    func signatures(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        let stranger = Signer(consumerKey: "nobody", key: h.signer.key, clock: h.clock)
        await expectProblem(.consumerKeyUnknown) { _ = try await h.verifier.verify(try stranger.request()) }
        let impostor = Signer(consumerKey: "jira:1", key: try RSAPrivateKey(generatingBits: 2048), clock: h.clock)
        await expectProblem(.signatureInvalid) { _ = try await h.verifier.verify(try impostor.request()) }
        let garbage = try h.signer.request { pairs in pairs[pairs.count - 1] = ("oauth_signature", "!!!not base64!!!") }
        await expectProblem(.signatureInvalid) { _ = try await h.verifier.verify(garbage) }
        // A failed signature does not burn the nonce.
        let burned = try impostor.request(nonce: "keep")
        await expectProblem(.signatureInvalid) { _ = try await h.verifier.verify(burned) }
        _ = try await h.verifier.verify(try h.signer.request(nonce: "keep"))
    }

    @Test("modes: 2LO as the application or the execute-as user, 2LO impersonation, each only when allowed")
    func modes() async throws {
        let h = try await Harness(executeAs: "bot")
        let asBot = try await h.verifier.authenticate(try h.signer.request())
        #expect(asBot.mode == .application && asBot.user?.name == "bot")
        let asAlice = try await h.verifier.authenticate(try h.signer.request(query: [("xoauth_requestor_id", "alice")]))
        #expect(asAlice.mode == .impersonation && asAlice.user?.name == "alice")
        // Atlassian peers send an empty oauth_token for 2LO.
        let empty = try await h.verifier.authenticate(try h.signer.request(token: ""))
        #expect(empty.mode == .application)
        await expectProblem(.permissionDenied) {
            _ = try await h.verifier.authenticate(try h.signer.request(query: [("xoauth_requestor_id", "ghost")]))
        }

        let strict = try await Harness(twoLegged: false, impersonation: false)
        await expectProblem(.permissionDenied) { _ = try await strict.verifier.authenticate(try strict.signer.request()) }
        await expectProblem(.permissionDenied) {
            _ = try await strict.verifier.authenticate(try strict.signer.request(query: [("xoauth_requestor_id", "alice")]))
        }
        // Impersonation is independent of twoLeggedAllowed.
        let impersonationOnly = try await Harness(twoLegged: false, impersonation: true)
        #expect(try await impersonationOnly.verifier.authenticate(try impersonationOnly.signer.request(query: [("xoauth_requestor_id", "alice")])).mode == .impersonation)
    }
}
