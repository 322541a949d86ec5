import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LinkgateCore
import LinkgateCrypto
import NIOCore
import OAuth1
import Testing
@testable import LinkgateServer

@Suite("OpenID Connect over HTTP (INTERFACE §14)")
struct OpenIDHTTPTests {
    @Test("discovery matches the RFC 8414 document; the JWKS key is the consumer-info key and signs the id_token")
    func discoveryJWKSAndIDToken() async throws {
        try await TestApp().run { client in
            let discovery = try await client.get("/.well-known/openid-configuration", headers: [:])
            let metadata = try await client.get("/.well-known/oauth-authorization-server", headers: [:])
            #expect(discovery.status == .ok && discovery["issuer"] == .string("http://127.0.0.1:8080"))
            for key in ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "scopes_supported",
                        "response_types_supported", "grant_types_supported", "token_endpoint_auth_methods_supported",
                        "code_challenge_methods_supported"] {
                #expect(discovery[key] != nil && discovery[key] == metadata[key], "\(key)")
            }
            #expect(discovery["subject_types_supported"] == .array([.string("public")]))
            #expect(discovery["id_token_signing_alg_values_supported"] == .array([.string("RS256")]))

            let jwks = try await client.get("/rest/oauth2/latest/jwks", headers: [:])
            let key = try #require(jwks["keys"]?.array?.first)
            guard case .object(let jwk) = key, case .string(let kid)? = jwk["kid"] else { Issue.record("no JWK"); return }

            // The id_token of a code flow verifies with the consumer-info key (§7), and names it by kid.
            let b = try await OAuthBrowser.start(client)
            let code = try #require(try await b.approve(scope: "openid%20profile%20READ")["code"])
            let response = try await b.token([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", OAuthBrowser.redirect)])
            #expect(response.status == .ok && response["scope"] == .string("openid profile READ"))
            let idToken = try #require(response["id_token"]?.string)
            let parts = idToken.split(separator: ".")
            try #require(parts.count == 3)
            let info = try ConsumerInfo.parse(Array(try await client.get("/plugins/servlet/oauth/consumer-info", headers: [:]).text.utf8))
            let serverKey = try RSAPublicKey(parsing: info.publicKey)
            #expect(serverKey.verify(signature: try #require(Base64URL.decode(parts[2])), message: Array("\(parts[0]).\(parts[1])".utf8),
                                     digest: .sha256))
            #expect(JSONValue.parse(try #require(Base64URL.decode(parts[0])))
                    == .object(["alg": .string("RS256"), "typ": .string("JWT"), "kid": .string(kid)]))
            let (n, e) = try serverKey.components()
            #expect(jwk["n"] == .string(Base64URL.encode(n)) && jwk["e"] == .string(Base64URL.encode(e)))
        }
    }

    @Test("keys rotate: two concurrent rotations both land; the server picks them up, signs with the newest, keeps the consumer-info key")
    func rotationPickedUp() async throws {
        let app = try await TestApp()
        try await app.run(signingKeysRefresh: .seconds(1)) { client in
            func kids() async throws -> [String] {
                try #require(try await client.get("/rest/oauth2/latest/jwks", headers: [:])["keys"]?.array).compactMap { $0["kid"]?.string }
            }
            let consumerInfo = try await client.get("/plugins/servlet/oauth/consumer-info", headers: [:]).text
            let before = try await kids()
            try #require(before.count == 1)

            async let one = SigningKeyList.rotate(settings: app.store, now: epochSeconds())
            async let two = SigningKeyList.rotate(settings: app.store, now: epochSeconds())
            let rotated = try await [one, two]
            #expect(rotated[0].kid != rotated[1].kid)
            let listed = try #require(try await app.store.setting("oidc.signing_keys"))
            let entries = SigningKeyList.entries(listed)
            #expect(entries.count == 3 && entries[0] == .init(setting: "server.rsa_private_key", createdAt: nil))
            #expect(Set(entries.dropFirst().map(\.setting)) == Set(rotated.map { "oidc.signing_key." + $0.kid }))

            try await Task.sleep(for: .milliseconds(1200))
            let after = try await kids()
            #expect(after.count == 3 && after[0] == before[0] && Set(after.dropFirst()) == Set(rotated.map(\.kid)))

            // A new id_token names the newest key (the last listed) and verifies with its JWK.
            let b = try await OAuthBrowser.start(client)
            let code = try #require(try await b.approve(scope: "openid%20READ")["code"])
            let response = try await b.token([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", OAuthBrowser.redirect)])
            let parts = try #require(response["id_token"]?.string).split(separator: ".")
            try #require(parts.count == 3)
            #expect(JSONValue.parse(try #require(Base64URL.decode(parts[0])))?["kid"] == .string(after[2]))
            let jwks = try await client.get("/rest/oauth2/latest/jwks", headers: [:])
            let newest = try #require(jwks["keys"]?.array?.last)
            // The JWK is the stored key's public half, and that key signed the id_token.
            let key = try RSAPrivateKey(pem: try #require(try await app.store.setting("oidc.signing_key." + after[2]))).publicKey()
            let (n, e) = try key.components()
            #expect(newest["n"] == .string(Base64URL.encode(n)) && newest["e"] == .string(Base64URL.encode(e)))
            #expect(key.verify(signature: try #require(Base64URL.decode(parts[2])), message: Array("\(parts[0]).\(parts[1])".utf8),
                               digest: .sha256))
            // §7: the consumer-info key does not change.
            #expect(try await client.get("/plugins/servlet/oauth/consumer-info", headers: [:]).text == consumerInfo)
        }
    }

    @Test("userinfo: claims per scope by GET and POST; 401 without or with a bad token, 403 without openid")
    func userinfo() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let code = try #require(try await b.approve(scope: "openid%20profile%20email%20READ")["code"])
            let response = try await b.token([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", OAuthBrowser.redirect)])
            let access = try #require(response["access_token"]?.string)
            for method in [HTTPRequest.Method.get, .post] {
                let info = try await client.execute(uri: "/rest/oauth2/latest/userinfo", method: method, headers: [.authorization: "Bearer " + access])
                #expect(info.status == .ok && info["sub"] == .string("admin") && info["preferred_username"] == .string("admin"))
                #expect(info["email"] == nil)  // the bootstrap admin has no e-mail address
                #expect(info.headers[.cacheControl] == "no-store")
            }
            let none = try await client.get("/rest/oauth2/latest/userinfo", headers: [:])
            #expect(none.status == .unauthorized && none.headers[.wwwAuthenticate] == #"Bearer realm="Linkgate""#)
            let bad = try await client.get("/rest/oauth2/latest/userinfo", headers: [.authorization: "Bearer " + SecureRandom.token()])
            #expect(bad.status == .unauthorized && bad.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
            #expect(bad["error"] == .string("invalid_token"))
            let plain = try await b.accessToken(scope: "READ")
            let refused = try await client.get("/rest/oauth2/latest/userinfo", headers: [.authorization: "Bearer " + plain.access])
            #expect(refused.status == .forbidden && refused.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope""#) == true)
        }
    }

    @Test("prompt=none without a session is login_required; login_hint is passed to the login page, which prefills it")
    func promptNoneAndLoginHint() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let none = try await client.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery(scope: "openid", extra: "&prompt=none"), headers: [:])
            let location = try #require(none.headers[.location])
            #expect(location.hasPrefix(OAuthBrowser.redirect + "?error=login_required&") && location.hasSuffix("&state=st"))
            let hinted = try await client.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery(scope: "openid", extra: "&login_hint=al%3Cice"),
                                              headers: [:])
            let login = try #require(hinted.headers[.location])
            #expect(login.hasSuffix("&login_hint=al%3Cice"))
            let page = try await client.get(login, headers: [:])
            #expect(page.text.contains(#"value="al&lt;ice""#))
            // A plain OAuth 2.0 request is unchanged: no login_hint, prompt ignored.
            let plain = try await client.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery(extra: "&prompt=none&login_hint=x"), headers: [:])
            #expect(plain.headers[.location] == "/login?next=" + FormURLEncoded.encode("/rest/oauth2/latest/authorize?" + b.authorizeQuery(extra: "&prompt=none&login_hint=x")))
        }
    }
}
