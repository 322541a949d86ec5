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

@Suite("Token modes, the verify endpoint and the audit log over HTTP (INTERFACE §8)")
struct ModesHTTPTests {
    func clientCredentials(_ client: any TestClientProtocol, scope: String = "WRITE", executeAs: String? = nil) async throws -> (String, String, String) {
        let executeAsJSON = executeAs.map { #","executeAs":"\#($0)""# } ?? ""
        let created = try await client.post("/rest/oauth2/latest/client",
                                            json: #"{"name":"Svc \#(SecureRandom.hex(3))","redirects":[],"scope":"\#(scope)"\#(executeAsJSON)}"#)
        let id = try #require(created["clientId"]?.string), secret = try #require(created["clientSecret"]?.string)
        let response = try await client.execute(
            uri: "/rest/oauth2/latest/token", method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded", .authorization: "Basic " + Base64URL.encodeStandard(Array("\(id):\(secret)".utf8))],
            body: ByteBuffer(string: "grant_type=client_credentials"))
        #expect(response.status == .ok && response["refresh_token"] == nil)
        return (id, secret, try #require(response["access_token"]?.string))
    }

    @Test("client_credentials: myself reports mode application with no user")
    func application() async throws {
        try await TestApp().run { client in
            let (id, _, token) = try await clientCredentials(client)
            let me = try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer " + token])
            #expect(me["name"] == .null && me["auth"] == .object(["protocol": .string("oauth2"), "mode": .string("application"),
                                                                  "client": .string(id), "scope": .string("WRITE")]))
        }
    }

    @Test("each use of an application token is audited with its outcome, refusals included")
    func useAudit() async throws {
        try await TestApp().run { client in
            let (id, _, token) = try await clientCredentials(client, scope: "READ")
            #expect(try await client.get("/rest/api/latest/myself", headers: [.authorization: "Bearer " + token]).status == .ok)
            let put = try await client.execute(uri: "/rest/api/latest/myself", method: .put,
                                               headers: [.authorization: "Bearer " + token, .contentType: "application/json"],
                                               body: ByteBuffer(string: #"{"displayName":"x"}"#))
            #expect(put.status == .forbidden)
            var headers: HTTPFields = [.authorization: "Bearer " + token]
            headers[.linkgateRequireScope] = "WRITE"
            #expect(try await client.get("/rest/auth/latest/verify", headers: headers).status == .forbidden)
            let entries = try #require(try await client.get("/rest/api/latest/audit?action=token.use&client=\(id)")["entries"]?.array)
            #expect(entries.map { $0["outcome"]?.string } == ["failure", "failure", "success"])
            #expect(entries[0]["detail"]?.string?.contains("insufficient_scope") == true)
        }
    }

    @Test("verify: a bearer token gives the identity headers; garbage and missing credentials are 401; scope too small is 403")
    func verifyBearer() async throws {
        try await TestApp().run { client in
            let (id, _, token) = try await clientCredentials(client, scope: "READ", executeAs: "admin")
            let ok = try await client.get("/rest/auth/latest/verify", headers: [.authorization: "Bearer " + token])
            #expect(ok.status == .ok)
            #expect(ok.headers[.linkgateUser] == "admin" && ok.headers[.linkgateClient] == id)
            #expect(ok.headers[.linkgateScope] == "READ" && ok.headers[.linkgateMode] == "application")
            var headers: HTTPFields = [.authorization: "Bearer " + token]
            headers[.linkgateRequireScope] = "WRITE"
            let small = try await client.get("/rest/auth/latest/verify", headers: headers)
            #expect(small.status == .forbidden && small.headers[.wwwAuthenticate]?.contains("insufficient_scope") == true)
            for bad in [[.authorization: "Bearer garbage"], [:], [.authorization: "Basic YWRtaW46eA=="]] as [HTTPFields] {
                let response = try await client.get("/rest/auth/latest/verify", headers: bad)
                #expect(response.status == .unauthorized && response.headers[.wwwAuthenticate] != nil)
                #expect(response.headers[.linkgateUser] == nil)
            }
            headers[.linkgateRequireScope] = "EVERYTHING"
            #expect(try await client.get("/rest/auth/latest/verify", headers: headers).status == .badRequest)
        }
    }

    @Test("verify: an OAuth 1.0a 2LO request, rebuilt from X-Original-Method and X-Original-URL or X-Original-URI")
    func verifyOAuth1() async throws {
        try await TestApp().run { client in
            let key = try RSAPrivateKey(generatingBits: 2048)
            let pem = try key.publicKey().pem.replacingOccurrences(of: "\n", with: "\\n")
            #expect(try await client.post("/rest/oauth1/latest/consumer",
                                          json: #"{"key":"peer","name":"Peer","publicKey":"\#(pem)","twoLeggedAllowed":true}"#).status == .created)
            let signer = TestSigner(consumerKey: "peer", key: key)
            // Signed for the proxy's URL, as the client saw it.
            let query = [("page", "2")]
            let pairs = query.map { ProtocolParameters.Pair(name: $0.0, value: $0.1) }
            var oauth: [(String, String)] = [("oauth_consumer_key", "peer"), ("oauth_signature_method", "RSA-SHA1"),
                                             ("oauth_timestamp", String(epochSeconds())), ("oauth_nonce", SecureRandom.hex(8)), ("oauth_token", "")]
            let base = SignatureBaseString.make(method: "GET", baseStringURI: "http://proxy.example:8081/api/items",
                                                parameters: oauth.map { ProtocolParameters.Pair(name: $0.0, value: $0.1) } + pairs)
            oauth.append(("oauth_signature", Base64URL.encodeStandard(try key.sign(message: Array(base.utf8), digest: .sha1))))
            let authorization = "OAuth " + oauth.map { "\($0.0)=\"\(PercentEncoding.encode($0.1))\"" }.joined(separator: ", ")
            var headers: HTTPFields = [.authorization: authorization]
            headers[.originalMethod] = "GET"
            headers[.originalURL] = "http://proxy.example:8081/api/items?page=2"
            let ok = try await client.get("/rest/auth/latest/verify", headers: headers)
            #expect(ok.status == .ok && ok.headers[.linkgateClient] == "peer" && ok.headers[.linkgateMode] == "application")
            #expect(ok.headers[.linkgateUser] == nil && ok.headers[.linkgateScope] == nil)
            // Replaying it is nonce_used.
            let replay = try await client.get("/rest/auth/latest/verify", headers: headers)
            #expect(replay.status == .unauthorized && replay.headers[.wwwAuthenticate]?.contains("nonce_used") == true)

            // X-Original-URI is appended to BASE.
            var viaURI = try signer.headers(method: "GET", path: "/api/items", query: query)
            viaURI[.originalMethod] = "GET"
            viaURI[.originalURI] = "/api/items?page=2"
            #expect(try await client.get("/rest/auth/latest/verify", headers: viaURI).status == .ok)
            // A different method than signed fails.
            var wrongMethod = try signer.headers(method: "GET", path: "/api/items")
            wrongMethod[.originalMethod] = "POST"
            wrongMethod[.originalURI] = "/api/items"
            let failed = try await client.get("/rest/auth/latest/verify", headers: wrongMethod)
            #expect(failed.status == .unauthorized && failed.headers[.wwwAuthenticate]?.contains("signature_invalid") == true)
            // Client-caused problems are 401 here (nginx's auth_request knows only 2xx, 401 and 403).
            var garbage: HTTPFields = [.authorization: "OAuth garbage"]
            garbage[.originalMethod] = "GET"
            garbage[.originalURI] = "/api/items"
            let refused = try await client.get("/rest/auth/latest/verify", headers: garbage)
            #expect(refused.status == .unauthorized && refused.headers[.wwwAuthenticate]?.contains("oauth_problem=") == true)
            var missing = try signer.headers(method: "GET", path: "/api/items")
            missing[.originalURI] = "/api/items"
            #expect(try await client.get("/rest/auth/latest/verify", headers: missing).status == .badRequest)
        }
    }

    @Test("audit REST: admin only, newest first, filters, paging with a cursor, strict parameters")
    func audit() async throws {
        let app = try await TestApp()
        try await app.addUser("gina", password: "gina-pass-1")
        try await app.run { client in
            for i in 0..<3 {
                #expect(try await client.post("/rest/api/latest/user", json: #"{"name":"u\#(i)","password":"password-\#(i)x"}"#).status == .created)
            }
            _ = try await clientCredentials(client)
            #expect(try await client.get("/rest/api/latest/audit", headers: basic("gina", "gina-pass-1")).status == .forbidden)
            let all = try await client.get("/rest/api/latest/audit")
            guard case .object(let body) = all.json, let entries = body["entries"]?.array else { Issue.record("no entries"); return }
            #expect(body["next"] == .null)
            #expect(entries.first?["action"]?.string == "token.issue")
            guard case .object(let entry) = entries[0] else { return }
            #expect(Set(entry.keys) == ["id", "time", "actor", "client", "subject", "action", "outcome", "detail"])

            let users = try await client.get("/rest/api/latest/audit?action=user.create&limit=2")
            #expect(users["entries"]?.array?.map { $0["subject"]?.string } == ["u2", "u1"])
            let cursor = try #require(users["next"]?.string)
            let rest = try await client.get("/rest/api/latest/audit?action=user.create&limit=2&cursor=\(cursor)")
            #expect(rest["entries"]?.array?.map { $0["subject"]?.string } == ["u0"] && rest["next"] == .null)
            #expect(try await client.get("/rest/api/latest/audit?user=u1")["entries"]?.array?.count == 1)
            for bad in ["limit=0", "limit=501", "limit=x", "since=-1", "cursor=abc", "bogus=1", "limit=1&limit=2"] {
                #expect(try await client.get("/rest/api/latest/audit?" + bad).status == .badRequest, "\(bad)")
            }
        }
    }
}
