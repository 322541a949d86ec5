import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LinkgateCore
import LinkgateCrypto
import NIOCore
import Testing
@testable import LinkgateServer

/// A browser-like walk through authorize → login → consent, on the test client.
struct OAuthBrowser {
    let client: any TestClientProtocol
    let session: String
    let clientId: String
    let secret: String
    static let redirect = "http://127.0.0.1:9999/cb"

    static func start(_ client: any TestClientProtocol, scope: String = "WRITE", user: String = "admin",
                      password: String = TestApp.adminPassword) async throws -> OAuthBrowser {
        let created = try await client.post("/rest/oauth2/latest/client",
                                            json: #"{"name":"App \#(SecureRandom.hex(3))","redirects":["\#(redirect)"],"scope":"\#(scope)"}"#)
        let session = try #require(try await BrowserSessionTests.login(client, user: user, password: password).session)
        return OAuthBrowser(client: client, session: session, clientId: try #require(created["clientId"]?.string),
                            secret: try #require(created["clientSecret"]?.string))
    }

    func authorizeQuery(scope: String = "READ", state: String = "st", extra: String = "") -> String {
        "response_type=code&client_id=\(clientId)&redirect_uri=\(FormURLEncoded.encode(Self.redirect))&scope=\(scope)&state=\(FormURLEncoded.encode(state))\(extra)"
    }

    func get(_ uri: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: [.cookie: session])
    }

    /// Authorize, then approve on the consent page; returns the final redirect's query.
    func approve(scope: String = "READ", state: String = "st", decision: String = "approve") async throws -> [String: String] {
        let authorize = try await get("/rest/oauth2/latest/authorize?" + authorizeQuery(scope: scope, state: state))
        #expect(authorize.status == .seeOther)
        var location = try #require(authorize.headers[.location])
        if location.hasPrefix("/plugins/servlet/oauth2/consent") {
            let page = try await get(location)
            #expect(page.status == .ok)
            let pairs = hiddenInputs(page.text) + [("decision", decision)]
            let (headers, body) = form(pairs, cookies: [session])
            let decided = try await client.execute(uri: "/plugins/servlet/oauth2/consent", method: .post, headers: headers, body: body)
            #expect(decided.status == .seeOther)
            location = try #require(decided.headers[.location])
        }
        #expect(location.hasPrefix(Self.redirect + "?"))
        var query: [String: String] = [:]
        for pair in try FormURLEncoded.parse(location.split(separator: "?", maxSplits: 1)[1]) { query[pair.name] = pair.value }
        return query
    }

    func token(_ form: [(String, String)], basic: Bool = true) async throws -> TestResponse {
        var pairs = form
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if basic {
            headers[.authorization] = "Basic " + Base64URL.encodeStandard(Array("\(clientId):\(secret)".utf8))
        } else {
            pairs += [("client_id", clientId), ("client_secret", secret)]
        }
        let body = pairs.map { "\(FormURLEncoded.encode($0.0))=\(FormURLEncoded.encode($0.1))" }.joined(separator: "&")
        return try await client.execute(uri: "/rest/oauth2/latest/token", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func accessToken(scope: String = "READ") async throws -> (access: String, refresh: String) {
        let code = try #require(try await approve(scope: scope)["code"])
        let response = try await token([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Self.redirect)])
        #expect(response.status == .ok)
        return (try #require(response["access_token"]?.string), try #require(response["refresh_token"]?.string))
    }
}

/// `name="…" value="…"` pairs of hidden inputs, HTML-unescaped.
func hiddenInputs(_ html: String) -> [(String, String)] {
    var result: [(String, String)] = []
    var rest = Substring(html)
    while let start = rest.range(of: "<input type=\"hidden\" name=\"") {
        rest = rest[start.upperBound...]
        guard let nameEnd = rest.firstIndex(of: "\"") else { break }
        let name = String(rest[..<nameEnd])
        guard let valueStart = rest.range(of: "value=\"") else { break }
        rest = rest[valueStart.upperBound...]
        guard let valueEnd = rest.firstIndex(of: "\"") else { break }
        let value = String(rest[..<valueEnd]).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        result.append((name, value))
    }
    return result
}

@Suite("OAuth 2.0 over HTTP (INTERFACE §6)")
struct OAuth2HTTPTests {
    @Test("unknown client or unregistered redirect: 400 error page, never a Location")
    func errorPage() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            for query in ["client_id=nope&redirect_uri=\(FormURLEncoded.encode(OAuthBrowser.redirect))&response_type=code",
                          "client_id=\(b.clientId)&redirect_uri=\(FormURLEncoded.encode("http://127.0.0.1:9999/other"))&response_type=code",
                          "client_id=\(b.clientId)&response_type=code", "client_id=%ZZ"] {
                for path in ["/rest/oauth2/latest/authorize", "/plugins/servlet/oauth2/consent"] {
                    let response = try await b.get(path + "?" + query)
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.location] == nil)
                    #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                    #expect(response.headers[.xFrameOptions] == "DENY")
                }
            }
            let page = try await client.get("/plugins/servlet/oauth2/error?error=invalid_request", headers: [:])
            #expect(page.status == .badRequest && page.text.contains("invalid_request"))
        }
    }

    @Test("not logged in: 303 to the login page, which returns to the same request")
    func loginFirst() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let query = b.authorizeQuery()
            let response = try await client.get("/rest/oauth2/latest/authorize?" + query, headers: [:])
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/login?next=" + FormURLEncoded.encode("/rest/oauth2/latest/authorize?" + query))
            #expect(response.headers[.cacheControl] == "no-store")
        }
    }

    @Test("the consent page names the client and scope, has the decision buttons, and cannot be framed")
    func consentPage() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let authorize = try await b.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery(scope: "WRITE"))
            let page = try await b.get(try #require(authorize.headers[.location]))
            #expect(page.text.contains("App ") && page.text.contains("WRITE") && page.text.contains("View and change your data"))
            #expect(page.text.contains(#"name="decision" value="approve""#) && page.text.contains(#"name="decision" value="deny""#))
            #expect(hiddenInputs(page.text).contains { $0.0 == "csrf_token" })
            #expect(page.headers[.xFrameOptions] == "DENY")
            #expect(page.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(page.headers[.cacheControl] == "no-store")
        }
    }

    @Test("consent without or with a foreign CSRF token is 403 and issues nothing")
    func consentCSRF() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let authorize = try await b.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery())
            let page = try await b.get(try #require(authorize.headers[.location]))
            let fields = hiddenInputs(page.text).filter { $0.0 != "csrf_token" }
            for pairs in [fields + [("decision", "approve")], fields + [("decision", "approve"), ("csrf_token", "forged")]] {
                let (headers, body) = form(pairs, cookies: [b.session])
                let response = try await client.execute(uri: "/plugins/servlet/oauth2/consent", method: .post, headers: headers, body: body)
                #expect(response.status == .forbidden && response.headers[.location] == nil)
            }
            #expect(try await b.get("/rest/api/latest/myself/applications").text == "[]")
        }
    }

    @Test("deny → access_denied with the state; approve → code with the exact state")
    func decisions() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let denied = try await b.approve(state: "a b&c=d/é", decision: "deny")
            #expect(denied["error"] == "access_denied" && denied["state"] == "a b&c=d/é" && denied["code"] == nil)
            let approved = try await b.approve(state: "a b&c=d/é")
            #expect(approved["state"] == "a b&c=d/é" && approved["code"]?.count == 55)
            // Remembered: the same or a lower scope skips the consent page.
            let again = try await b.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery(scope: "READ"))
            #expect(again.headers[.location]?.hasPrefix(OAuthBrowser.redirect + "?code=") == true)
            let higher = try await b.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery(scope: "WRITE"))
            #expect(higher.headers[.location]?.hasPrefix("/plugins/servlet/oauth2/consent?") == true)
        }
    }

    @Test("token responses: the RFC 6749 §5.1 body, no-store; errors per §5.2")
    func tokenEndpoint() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let code = try #require(try await b.approve()["code"])
            let ok = try await b.token([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", OAuthBrowser.redirect)], basic: false)
            #expect(ok.status == .ok)
            #expect(ok.headers[.cacheControl] == "no-store" && ok.headers[.pragma] == "no-cache")
            guard case .object(let body) = ok.json else { Issue.record("no JSON"); return }
            #expect(Set(body.keys) == ["access_token", "token_type", "expires_in", "refresh_token", "scope"])
            #expect(body["token_type"] == .string("bearer") && body["expires_in"] == .number(3600) && body["scope"] == .string("READ"))

            let replay = try await b.token([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", OAuthBrowser.redirect)])
            #expect(replay.status == .badRequest && replay.errorCode == "invalid_grant" && replay.isErrorBody)
            let access = try #require(body["access_token"]?.string)
            #expect(try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer " + access]).status == .unauthorized)

            // invalid_client is 401, with a Basic challenge when Basic was used.
            var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded",
                                       .authorization: "Basic " + Base64URL.encodeStandard(Array("\(b.clientId):wrong".utf8))]
            let bad = try await client.execute(uri: "/rest/oauth2/latest/token", method: .post, headers: headers,
                                               body: ByteBuffer(string: "grant_type=authorization_code&code=x"))
            #expect(bad.status == .unauthorized && bad.errorCode == "invalid_client")
            #expect(bad.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            // Credentials in the query string are refused.
            headers = [.contentType: "application/x-www-form-urlencoded"]
            let query = try await client.execute(uri: "/rest/oauth2/latest/token?client_secret=\(b.secret)", method: .post, headers: headers,
                                                 body: ByteBuffer(string: "grant_type=authorization_code&code=x&client_id=\(b.clientId)&client_secret=\(b.secret)"))
            #expect(query.status == .badRequest && query.errorCode == "invalid_request")
            // A JSON body is not a token request.
            headers[.contentType] = "application/json"
            let json = try await client.execute(uri: "/rest/oauth2/latest/token", method: .post, headers: headers,
                                                body: ByteBuffer(string: #"{"grant_type":"authorization_code"}"#))
            #expect(json.status == .badRequest && json.errorCode == "invalid_request")
            let unsupported = try await b.token([("grant_type", "password"), ("username", "admin"), ("password", TestApp.adminPassword)])
            #expect(unsupported.status == .badRequest && unsupported.errorCode == "unsupported_grant_type")
        }
    }

    @Test("bearer tokens: scope enforced per RFC 6750; bad tokens are invalid_token")
    func bearer() async throws {
        let app = try await TestApp()
        try await app.addUser("erin", password: "erin-pass-1")
        try await app.run { client in
            let b = try await OAuthBrowser.start(client, scope: "SYSTEM_ADMIN", user: "erin", password: "erin-pass-1")
            let (read, _) = try await b.accessToken(scope: "READ")
            let me = try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer " + read])
            #expect(me.status == .ok && me["name"]?.string == "erin")
            #expect(me["auth"] == .object(["protocol": .string("oauth2"), "mode": .string("user"), "client": .string(b.clientId),
                                           "scope": .string("READ")]))
            var headers: HTTPFields = [.authorization: "Bearer " + read, .contentType: "application/json"]
            let put = try await client.execute(uri: "/rest/api/latest/myself", method: .put, headers: headers,
                                               body: ByteBuffer(string: #"{"displayName":"Erin"}"#))
            #expect(put.status == .forbidden && put.errorCode == "forbidden")
            #expect(put.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope""#) == true)
            headers[.authorization] = "Bearer not-a-token"
            let bad = try await client.get("/rest/api/latest/myself", headers: headers)
            #expect(bad.status == .unauthorized && bad.errorCode == "unauthorized")
            #expect(bad.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)

            // A non-admin asking for ADMIN is refused on the redirect.
            let refused = try await b.get("/rest/oauth2/latest/authorize?" + b.authorizeQuery(scope: "ADMIN"))
            #expect(refused.headers[.location]?.contains("error=invalid_scope") == true)
            // Admin REST with a bearer token needs SYSTEM_ADMIN and an admin user.
            #expect(try await client.get("/rest/api/latest/user", headers: [.authorization: "Bearer " + read]).status == .forbidden)
        }
    }

    @Test("admin REST accepts an admin's SYSTEM_ADMIN token, not a WRITE one")
    func adminBearer() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client, scope: "SYSTEM_ADMIN")
            let (write, _) = try await b.accessToken(scope: "WRITE")
            #expect(try await client.get("/rest/api/latest/user", headers: [.authorization: "Bearer " + write]).status == .forbidden)
            let (system, _) = try await b.accessToken(scope: "SYSTEM_ADMIN")
            #expect(try await client.get("/rest/api/latest/user", headers: [.authorization: "Bearer " + system]).status == .ok)
        }
    }

    @Test("introspection: clients and admins may ask; inactive is exactly {\"active\":false}")
    func introspection() async throws {
        try await TestApp().run { client in
            let b = try await OAuthBrowser.start(client)
            let (access, refresh) = try await b.accessToken()
            func introspect(_ token: String, _ auth: HTTPFields) async throws -> TestResponse {
                var headers = auth
                headers[.contentType] = "application/x-www-form-urlencoded"
                return try await client.execute(uri: "/rest/oauth2/latest/introspect", method: .post, headers: headers,
                                                body: ByteBuffer(string: "token=\(token)"))
            }
            let clientAuth: HTTPFields = [.authorization: "Basic " + Base64URL.encodeStandard(Array("\(b.clientId):\(b.secret)".utf8))]
            let active = try await introspect(access, clientAuth)
            guard case .object(let body) = active.json else { Issue.record("no JSON"); return }
            #expect(Set(body.keys) == ["active", "scope", "client_id", "username", "sub", "token_type", "exp", "iat", "iss", "mode", "act"])
            #expect(body["active"] == .bool(true) && body["username"] == .string("admin") && body["act"] == .null)
            #expect(body["iss"] == .string("http://127.0.0.1:8080") && body["mode"] == .string("user"))
            #expect(try await introspect(access, adminAuth)["active"] == .bool(true))
            #expect(try await introspect(access, basic("nobody", "x")).status == .unauthorized)
            #expect(try await introspect(access, [:]).status == .unauthorized)

            let revoke = try await client.execute(uri: "/rest/oauth2/latest/revoke", method: .post,
                                                  headers: clientAuth.merging([.contentType: "application/x-www-form-urlencoded"]),
                                                  body: ByteBuffer(string: "token=\(refresh)&token_type_hint=refresh_token"))
            #expect(revoke.status == .ok)
            #expect(try await introspect(access, clientAuth).text == #"{"active":false}"#)
            #expect(try await introspect("garbage", clientAuth).text == #"{"active":false}"#)
        }
    }

    @Test("RFC 8414 metadata at both paths, issuer = the base URL")
    func metadata() async throws {
        try await TestApp().run { client in
            for path in ["/.well-known/oauth-authorization-server", "/rest/oauth2/latest/.well-known/oauth-authorization-server"] {
                let m = try await client.get(path, headers: [:])
                #expect(m.status == .ok)
                #expect(m["issuer"] == .string("http://127.0.0.1:8080"))
                #expect(m["token_endpoint"] == .string("http://127.0.0.1:8080/rest/oauth2/latest/token"))
                #expect(m["response_types_supported"] == .array([.string("code")]))
                #expect(m["code_challenge_methods_supported"] == .array([.string("S256"), .string("plain")]))
                #expect(m["scopes_supported"] == .array(["openid", "profile", "email", "READ", "WRITE", "ADMIN", "SYSTEM_ADMIN"].map(JSONValue.string)))
                // INTERFACE §14: the OpenID endpoints are in this document too.
                #expect(m["jwks_uri"] == .string("http://127.0.0.1:8080/rest/oauth2/latest/jwks"))
                #expect(m["userinfo_endpoint"] == .string("http://127.0.0.1:8080/rest/oauth2/latest/userinfo"))
            }
        }
    }

    @Test("users list and revoke their authorized apps by REST and on the page; revoking stops tokens at once")
    func applications() async throws {
        let app = try await TestApp()
        try await app.addUser("frank", password: "frank-pass-1")
        try await app.run { client in
            let b = try await OAuthBrowser.start(client)
            let (access, _) = try await b.accessToken()
            let list = try await b.get("/rest/api/latest/myself/applications")
            let apps = try #require(list.json?.array)
            #expect(apps.count == 1)
            guard case .object(let entry) = apps[0] else { Issue.record("not an object"); return }
            #expect(Set(entry.keys) == ["id", "protocol", "client", "name", "scope", "authorizedAt", "lastUsedAt"])
            #expect(entry["protocol"] == .string("oauth2") && entry["client"] == .string(b.clientId) && entry["scope"] == .string("READ"))
            let id = try #require(entry["id"]?.string)

            #expect(try await client.delete("/rest/api/latest/myself/applications/\(id)", headers: basic("frank", "frank-pass-1")).status == .notFound)
            let page = try await b.get("/profile/applications")
            #expect(page.status == .ok && page.text.contains("/profile/applications/\(id)/revoke"))
            let (noCSRF, noCSRFBody) = form([], cookies: [b.session])
            #expect(try await client.execute(uri: "/profile/applications/\(id)/revoke", method: .post, headers: noCSRF, body: noCSRFBody).status == .forbidden)
            #expect(try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer " + access]).status == .ok)

            let token = try #require(hiddenInputs(page.text).first { $0.0 == "csrf_token" }?.1)
            let (headers, body) = form([("csrf_token", token)], cookies: [b.session])
            let revoked = try await client.execute(uri: "/profile/applications/\(id)/revoke", method: .post, headers: headers, body: body)
            #expect(revoked.status == .seeOther)
            #expect(try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer " + access]).status == .unauthorized)
            #expect(try await b.get("/rest/api/latest/myself/applications").text == "[]")
            #expect(try await client.delete("/rest/api/latest/myself/applications/\(id)").status == .notFound)
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var result = self
        for field in other { result[field.name] = field.value }
        return result
    }
}
