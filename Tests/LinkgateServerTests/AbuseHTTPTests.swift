import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LinkgateCore
import LinkgateCrypto
import NIOCore
import Testing
@testable import LinkgateServer

@Suite("INTERFACE §10 over HTTP: throttling, lockouts, network restrictions, challenges")
struct AbuseHTTPTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    func token(_ client: any TestClientProtocol, id: String, secret: String, headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers = Self.form
        headers[.authorization] = "Basic " + Base64URL.encodeStandard(Array("\(id):\(secret)".utf8))
        for field in extra { headers.append(field) }
        return try await client.execute(uri: "/rest/oauth2/latest/token", method: .post, headers: headers,
                                        body: ByteBuffer(string: "grant_type=client_credentials"))
    }

    @Test("HTTP Basic: 5 wrong passwords → 429 with Retry-After, even for the right one; admins list and lift the lockout; audited")
    func basicLockout() async throws {
        let app = try await TestApp()
        try await app.addUser("alice", password: "alice-pass-1")
        try await app.run { client in
            for _ in 0..<5 {
                #expect(try await client.get("/rest/api/latest/myself", headers: basic("alice", "wrong-\(SecureRandom.hex(3))")).status == .unauthorized)
            }
            let refused = try await client.get("/rest/api/latest/myself", headers: basic("alice", "alice-pass-1"))
            #expect(refused.status == .tooManyRequests)
            #expect(refused.errorCode == "too_many_requests" && refused.isErrorBody)
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 > 0)
            let lockouts = try await client.get("/rest/api/latest/lockout")
            #expect(lockouts.status == .ok)
            #expect(lockouts.json?.array?.first?["user"]?.string == "alice")
            #expect(lockouts.json?.array?.first?["address"]?.string == "127.0.0.1")
            #expect(lockouts.json?.array?.first?["failures"] == .number(5))
            let audit = try await client.get("/rest/api/latest/audit?action=user.lockout")
            #expect(audit["entries"]?.array?.count == 1)
            // Only admins see or lift lockouts.
            #expect(try await client.get("/rest/api/latest/lockout", headers: basic("nobody", "x")).status == .unauthorized)
            #expect(try await client.delete("/rest/api/latest/lockout?address=not-an-address").status == .badRequest)
            #expect(try await client.delete("/rest/api/latest/lockout?user=alice&address=127.0.0.1").status == .noContent)
            #expect(try await client.get("/rest/api/latest/lockout").json == .array([]))
            #expect(try await client.get("/rest/api/latest/myself", headers: basic("alice", "alice-pass-1")).status == .ok)
        }
    }

    @Test("the login form answers 429 with a message once the pair is locked")
    func loginLockout() async throws {
        let app = try await TestApp()
        try await app.addUser("alice", password: "alice-pass-1")
        try await app.run { client in
            let page = try await client.get("/login", headers: [:])
            let cookie = try #require(page.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            let csrf = try #require(cookie.split(separator: "=", maxSplits: 1).last.map(String.init))
            func login(_ password: String) async throws -> TestResponse {
                try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .cookie: cookie],
                                         body: ByteBuffer(string: "username=alice&password=\(password)&csrf_token=\(csrf)&next=/"))
            }
            for _ in 0..<5 { #expect(try await login("wrong-password").status == .unauthorized) }
            let refused = try await login("alice-pass-1")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.text.contains("Too many failed attempts"))
            #expect(refused.headers[.retryAfter] != nil)
        }
    }

    @Test("client secrets: 5 wrong → 429 too_many_requests with Retry-After at the token endpoint, per (client_id, address)")
    func clientSecretThrottle() async throws {
        try await TestApp().run { client in
            let created = try await client.post("/rest/oauth2/latest/client", json: #"{"name":"Svc","redirects":[],"scope":"READ"}"#)
            let id = try #require(created["clientId"]?.string), secret = try #require(created["clientSecret"]?.string)
            for _ in 0..<5 { #expect(try await token(client, id: id, secret: "wrong").status == .unauthorized) }
            let refused = try await token(client, id: id, secret: secret)
            #expect(refused.status == .tooManyRequests && refused.errorCode == "too_many_requests")
            #expect(refused.headers[.retryAfter] != nil)
        }
    }

    @Test("allowedAddresses: null by default, validated, and enforced on the token endpoint, bearer use and OAuth 1.0a; refusals audited")
    func networkRestrictions() async throws {
        try await TestApp().run { client in
            let open = try await client.post("/rest/oauth2/latest/client", json: #"{"name":"Open","redirects":[],"scope":"READ"}"#)
            #expect(open.status == .created && open["allowedAddresses"] == .null)
            for bad in [#"["10.0.0.0/33"]"#, #"["example.com"]"#, #""10.0.0.1""#, #"[1]"#] {
                let response = try await client.post("/rest/oauth2/latest/client", json: #"{"name":"Bad","redirects":[],"scope":"READ","allowedAddresses":\#(bad)}"#)
                #expect(response.status == .badRequest, "\(bad)")
            }
            let created = try await client.post("/rest/oauth2/latest/client",
                                                json: #"{"name":"Fenced","redirects":[],"scope":"READ","allowedAddresses":["203.0.113.0/24","2001:db8::/32"]}"#)
            #expect(created["allowedAddresses"] == .array([.string("203.0.113.0/24"), .string("2001:db8::/32")]))
            let id = try #require(created["clientId"]?.string), secret = try #require(created["clientSecret"]?.string)
            let refused = try await token(client, id: id, secret: secret)
            #expect(refused.status == .unauthorized && refused.errorCode == "invalid_client")
            // Opening the list to loopback lets the token through; narrowing it again stops the token's use at once.
            #expect(try await client.put("/rest/oauth2/latest/client/\(id)", json: #"{"allowedAddresses":["127.0.0.0/8"]}"#).status == .ok)
            let issued = try await token(client, id: id, secret: secret)
            let access = try #require(issued["access_token"]?.string)
            #expect(try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer \(access)"]).status == .ok)
            #expect(try await client.put("/rest/oauth2/latest/client/\(id)", json: #"{"allowedAddresses":["::1"]}"#).status == .ok)
            let bearer = try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer \(access)"])
            #expect(bearer.status == .unauthorized)
            #expect(bearer.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true && bearer.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
            #expect(try await client.put("/rest/oauth2/latest/client/\(id)", json: #"{"allowedAddresses":null}"#)["allowedAddresses"] == .null)
            let audit = try await client.get("/rest/api/latest/audit?action=link.address_refused")
            #expect(audit["entries"]?.array?.count == 2)
        }
    }

    @Test("--trusted-proxy: the right-most untrusted X-Forwarded-For address is the client; without it the header is ignored")
    func trustedProxy() async throws {
        let app = try await TestApp()
        try await app.run(trustedProxies: [IPAddressRange("127.0.0.0/8")!]) { client in
            let created = try await client.post("/rest/oauth2/latest/client",
                                                json: #"{"name":"Fenced","redirects":[],"scope":"READ","allowedAddresses":["203.0.113.0/24"]}"#)
            let id = try #require(created["clientId"]?.string), secret = try #require(created["clientSecret"]?.string)
            #expect(try await token(client, id: id, secret: secret, headers: [.xForwardedFor: "198.51.100.1, 203.0.113.7"]).status == .ok)
            #expect(try await token(client, id: id, secret: secret, headers: [.xForwardedFor: "203.0.113.7, 198.51.100.1"]).status == .unauthorized)
            #expect(try await token(client, id: id, secret: secret, headers: [.xForwardedFor: "203.0.113.7, 127.0.0.5"]).status == .ok)
            #expect(try await token(client, id: id, secret: secret).status == .unauthorized)
        }
        try await TestApp().run { client in
            let created = try await client.post("/rest/oauth2/latest/client",
                                                json: #"{"name":"Fenced","redirects":[],"scope":"READ","allowedAddresses":["203.0.113.0/24"]}"#)
            let id = try #require(created["clientId"]?.string), secret = try #require(created["clientSecret"]?.string)
            #expect(try await token(client, id: id, secret: secret, headers: [.xForwardedFor: "203.0.113.7"]).status == .unauthorized)
        }
    }

    @Test("OAuth 1.0a consumers: allowedAddresses in the entity; a signed request from outside is 401 permission_denied")
    func consumerRestriction() async throws {
        try await TestApp().run { client in
            let pem = try OAuth1HTTPTests.key.publicKey().pem.replacingOccurrences(of: "\n", with: "\\n")
            let created = try await client.post("/rest/oauth1/latest/consumer",
                                                json: #"{"key":"jira:77","name":"Jira","publicKey":"\#(pem)","twoLeggedAllowed":true,"allowedAddresses":["198.51.100.0/24"]}"#)
            #expect(created.status == .created && created["allowedAddresses"] == .array([.string("198.51.100.0/24")]))
            let signer = TestSigner(consumerKey: "jira:77", key: OAuth1HTTPTests.key)
            let refused = try await client.get("/rest/api/latest/myself", headers: try signer.headers(method: "GET", path: "/rest/api/latest/myself"))
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.wwwAuthenticate]?.contains("oauth_problem=\"permission_denied\"") == true)
            #expect(try await client.put("/rest/oauth1/latest/consumer/jira:77", json: #"{"allowedAddresses":[]}"#)["allowedAddresses"] == .null)
            #expect(try await client.get("/rest/api/latest/myself", headers: try signer.headers(method: "GET", path: "/rest/api/latest/myself")).status == .ok)
        }
    }

    @Test("a known scheme with an empty or malformed credential gets its own challenge (RFC 6750 §3.1, RFC 7617)")
    func challenges() async throws {
        try await TestApp().run { client in
            for (header, scheme) in [("Bearer", "Bearer"), ("Bearer ", "Bearer"), ("bearer    ", "Bearer"), ("Bearer not-a-token", "Bearer"),
                                     ("Basic", "Basic"), ("Basic !!!", "Basic"), ("Basic ", "Basic"), ("OAuth", "OAuth")] {
                let response = try await client.get("/rest/api/latest/myself", headers: [.authorization: header])
                #expect(response.status == .unauthorized || response.status == .badRequest, "\(header)")
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix(scheme) == true, "\(header): \(response.headers[.wwwAuthenticate] ?? "none")")
            }
            let empty = try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer"])
            #expect(empty.status == .unauthorized && empty.headers[.wwwAuthenticate] == "Bearer realm=\"Linkgate\"")
        }
    }
}
