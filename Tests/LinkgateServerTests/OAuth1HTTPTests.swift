import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LinkgateCore
import LinkgateCrypto
import NIOCore
@testable import OAuth1
import Testing
@testable import LinkgateServer

/// Signs requests for the test server, whose base URL is http://127.0.0.1:8080.
struct TestSigner {
    let consumerKey: String
    let key: RSAPrivateKey

    func headers(method: String, path: String, query: [(String, String)] = [], token: String? = nil,
                 extra: [(String, String)] = [], nonce: String = SecureRandom.hex(12), timestamp: Int64 = epochSeconds(),
                 signatureMethod: String = "RSA-SHA1", digest: RSADigest = .sha1) throws -> HTTPFields {
        var oauth: [(String, String)] = [("oauth_consumer_key", consumerKey), ("oauth_signature_method", signatureMethod),
                                         ("oauth_timestamp", String(timestamp)), ("oauth_nonce", nonce), ("oauth_version", "1.0")]
        if let token { oauth.append(("oauth_token", token)) }
        oauth += extra
        let base = SignatureBaseString.make(method: method, baseStringURI: "http://127.0.0.1:8080" + path,
                                            parameters: (oauth + query).map { ProtocolParameters.Pair(name: $0.0, value: $0.1) })
        oauth.append(("oauth_signature", Base64URL.encodeStandard(try key.sign(message: Array(base.utf8), digest: digest))))
        return [.authorization: "OAuth realm=\"http://127.0.0.1:8080\", "
                + oauth.map { "\($0.0)=\"\(PercentEncoding.encode($0.1))\"" }.joined(separator: ", ")]
    }

    static func uri(_ path: String, _ query: [(String, String)]) -> String {
        query.isEmpty ? path : path + "?" + query.map { "\(PercentEncoding.encode($0.0))=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
    }
}

@Suite("OAuth 1.0a over HTTP (INTERFACE §7)")
struct OAuth1HTTPTests {
    static let key = try! RSAPrivateKey(generatingBits: 2048)

    func register(_ client: any TestClientProtocol, _ extra: String = "") async throws -> TestSigner {
        let pem = try Self.key.publicKey().pem.replacingOccurrences(of: "\n", with: "\\n")
        let response = try await client.post("/rest/oauth1/latest/consumer",
                                             json: #"{"key":"jira:77","name":"Jira","publicKey":"\#(pem)","twoLeggedAllowed":true\#(extra)}"#)
        #expect(response.status == .created)
        return TestSigner(consumerKey: "jira:77", key: Self.key)
    }

    @Test("consumer REST: create, list, get, change, delete; all keys present; hostile input is 400 and changes nothing")
    func consumers() async throws {
        try await TestApp().run { client in
            _ = try await register(client)
            let shown = try await client.get("/rest/oauth1/latest/consumer/jira:77")
            guard case .object(let entity) = shown.json else { Issue.record("no entity"); return }
            #expect(Set(entity.keys) == ["key", "name", "description", "publicKey", "callback", "threeLeggedAllowed", "twoLeggedAllowed",
                                         "executeAs", "impersonationAllowed", "allowedAddresses", "signatureMethods"])
            #expect(entity["signatureMethods"] == .array([.string("RSA-SHA1")]))
            #expect(entity["threeLeggedAllowed"] == .bool(true) && entity["impersonationAllowed"] == .bool(false) && entity["callback"] == .null
                    && entity["allowedAddresses"] == .null)
            let changed = try await client.put("/rest/oauth1/latest/consumer/jira:77", json: #"{"impersonationAllowed":true,"executeAs":"admin"}"#)
            #expect(changed.status == .ok && changed["executeAs"]?.string == "admin" && changed["name"]?.string == "Jira")
            let before = try await client.get("/rest/oauth1/latest/consumer").text
            let pem = try Self.key.publicKey().pem.replacingOccurrences(of: "\n", with: "\\n")
            for body in [#"{"key":"jira:77","name":"Dup","publicKey":"x"}"#, #"{"key":"k2","name":"N","publicKey":"garbage"}"#,
                         #"{"key":"k2","name":"N"}"#, #"{"key":"k 2","name":"N","publicKey":"x"}"#, #"{"key":"k2","name":"N","publicKey":1}"#,
                         #"{"key":"k2","name":"N","publicKey":"x","secret":"s"}"#, #"{"consumerInfoUrl":"file:///etc/passwd"}"#,
                         #"{"consumerInfoUrl":"http://127.0.0.1:1/consumer-info"}"#,
                         #"{"key":"k3","name":"N","publicKey":"\#(pem)","signatureMethods":[]}"#,
                         #"{"key":"k3","name":"N","publicKey":"\#(pem)","signatureMethods":["HMAC-SHA1"]}"#,
                         #"{"key":"k3","name":"N","publicKey":"\#(pem)","signatureMethods":["rsa-sha1"]}"#,
                         #"{"key":"k3","name":"N","publicKey":"\#(pem)","signatureMethods":["RSA-SHA1","RSA-SHA1"]}"#,
                         #"{"key":"k3","name":"N","publicKey":"\#(pem)","signatureMethods":"RSA-SHA1"}"#,
                         #"{"key":"k3","name":"N","publicKey":"\#(pem)","signatureMethods":null}"#,
                         #"{"key":"k3","name":"N","publicKey":"\#(pem)","signatureMethods":[1]}"#] {
                let response = try await client.post("/rest/oauth1/latest/consumer", json: body)
                #expect(response.status == .badRequest || response.status == .conflict, "\(body)")
                #expect(response.isErrorBody)
            }
            #expect(try await client.get("/rest/oauth1/latest/consumer").text == before)
            for body in [#"{"signatureMethods":[]}"#, #"{"signatureMethods":["RSA-SHA384"]}"#, #"{"signatureMethods":["RSA-SHA512","RSA-SHA512"]}"#] {
                let response = try await client.put("/rest/oauth1/latest/consumer/jira:77", json: body)
                #expect(response.status == .badRequest && response.isPlainErrorBody, "\(body)")
            }
            let opted = try await client.put("/rest/oauth1/latest/consumer/jira:77", json: #"{"signatureMethods":["RSA-SHA512","RSA-SHA1"]}"#)
            #expect(opted.status == .ok && opted["signatureMethods"] == .array([.string("RSA-SHA512"), .string("RSA-SHA1")]))
            #expect(try await client.get("/rest/oauth1/latest/consumer").json?.array?.first?["signatureMethods"]
                    == .array([.string("RSA-SHA512"), .string("RSA-SHA1")]))
            #expect(try await client.delete("/rest/oauth1/latest/consumer/jira:77").status == .noContent)
            #expect(try await client.get("/rest/oauth1/latest/consumer/jira:77").status == .notFound)
        }
    }

    @Test("RSA-SHA256/512 only when the consumer opted in; the refusal lists its methods, &-joined")
    func signatureMethods() async throws {
        try await TestApp().run { client in
            let signer = try await register(client)
            let path = "/rest/api/latest/myself"
            let refused = try await client.get(path, headers: try signer.headers(method: "GET", path: path, signatureMethod: "RSA-SHA512", digest: .sha512))
            #expect(refused.status == .badRequest)
            #expect(refused.headers[.wwwAuthenticate]?.contains(#"oauth_problem="signature_method_rejected""#) == true)
            #expect(refused.headers[.wwwAuthenticate]?.contains(#"oauth_acceptable_signature_methods="RSA-SHA1""#) == true)
            #expect(refused.isJiraErrorBody && refused["errorMessages"]?.array?.first?.string?.contains("RSA-SHA1") == true)

            let opted = try await client.put("/rest/oauth1/latest/consumer/jira:77", json: #"{"signatureMethods":["RSA-SHA256","RSA-SHA512"]}"#)
            #expect(opted.status == .ok)
            for (name, digest) in [("RSA-SHA256", RSADigest.sha256), ("RSA-SHA512", .sha512)] {
                let ok = try await client.get(path, headers: try signer.headers(method: "GET", path: path, signatureMethod: name, digest: digest))
                #expect(ok.status == .ok && ok["auth"]?["mode"]?.string == "application", "\(name)")
            }
            // The method named must be the one signed with.
            let mismatch = try await client.get(path, headers: try signer.headers(method: "GET", path: path, signatureMethod: "RSA-SHA256", digest: .sha512))
            #expect(mismatch.status == .unauthorized && mismatch.headers[.wwwAuthenticate]?.contains("signature_invalid") == true)
            let sha1 = try await client.get(path, headers: try signer.headers(method: "GET", path: path))
            #expect(sha1.status == .badRequest)
            #expect(sha1.headers[.wwwAuthenticate]?.contains(#"oauth_acceptable_signature_methods="RSA-SHA256%26RSA-SHA512""#) == true,
                    "\(sha1.headers[.wwwAuthenticate] ?? "")")
        }
    }

    @Test("2LO and 2LO impersonation on myself, with the OAuth principal in auth")
    func twoLegged() async throws {
        try await TestApp().run { client in
            let signer = try await register(client, #","impersonationAllowed":true"#)
            let app = try await client.get("/rest/api/latest/myself", headers: try signer.headers(method: "GET", path: "/rest/api/latest/myself"))
            #expect(app.status == .ok && app["name"] == .null)
            #expect(app["auth"] == .object(["protocol": .string("oauth1"), "mode": .string("application"), "client": .string("jira:77"),
                                            "scope": .null]))
            let query = [("xoauth_requestor_id", "admin")]
            let imp = try await client.get(TestSigner.uri("/rest/api/latest/myself", query),
                                           headers: try signer.headers(method: "GET", path: "/rest/api/latest/myself", query: query))
            #expect(imp.status == .ok && imp["name"]?.string == "admin" && imp["auth"]?["mode"]?.string == "impersonation")
            // An application principal with no user cannot use admin REST.
            let admin = try await client.get("/rest/api/latest/user", headers: try signer.headers(method: "GET", path: "/rest/api/latest/user"))
            #expect(admin.status == .forbidden)
        }
    }

    @Test("OAuth parameters in the query authenticate REST calls too (RFC 5849 §3.5.3); /rest/api/2/myself answers as Jira's does")
    func queryParameters() async throws {
        try await TestApp().run { client in
            let signer = try await register(client)
            for path in ["/rest/api/latest/myself", "/rest/api/2/myself"] {
                let header = try signer.headers(method: "GET", path: path)[.authorization]!
                let pairs = try ProtocolParameters.parseAuthorizationHeader(header)
                let response = try await client.get(TestSigner.uri(path, pairs.map { ($0.name, $0.value) }), headers: [:])
                #expect(response.status == .ok && response["auth"]?["mode"]?.string == "application", "\(path)")
            }
            // Tampering with a query-signed request still fails.
            let header = try signer.headers(method: "GET", path: "/rest/api/latest/myself")[.authorization]!
            var pairs = try ProtocolParameters.parseAuthorizationHeader(header).map { ($0.name, $0.value) }
            pairs.append(("extra", "1"))
            let tampered = try await client.get(TestSigner.uri("/rest/api/latest/myself", pairs), headers: [:])
            #expect(tampered.status == .unauthorized && tampered.headers[.wwwAuthenticate]?.contains("signature_invalid") == true)
        }
    }

    @Test("problems on REST: status, the OAuth challenge with realm and oauth_problem, and a JSON body")
    func restProblems() async throws {
        try await TestApp().run { client in
            let signer = try await register(client)
            let path = "/rest/api/latest/myself"
            let replay = try signer.headers(method: "GET", path: path)
            #expect(try await client.get(path, headers: replay).status == .ok)
            let cases: [(HTTPFields, HTTPResponse.Status, String)] = [
                (replay, .unauthorized, "nonce_used"),
                (try signer.headers(method: "GET", path: path, timestamp: epochSeconds() - 1000), .badRequest, "timestamp_refused"),
                (try signer.headers(method: "GET", path: "/rest/api/latest/other"), .unauthorized, "signature_invalid"),
                (try TestSigner(consumerKey: "nobody", key: Self.key).headers(method: "GET", path: path), .unauthorized, "consumer_key_unknown"),
                (try signer.headers(method: "GET", path: path, token: "unknown"), .unauthorized, "token_rejected"),
                (try signer.headers(method: "GET", path: path, query: [("xoauth_requestor_id", "admin")]), .unauthorized, "permission_denied"),
                (try signer.headers(method: "GET", path: path, signatureMethod: "HMAC-SHA1"), .badRequest, "signature_method_rejected"),
                ([.authorization: #"OAuth oauth_consumer_key="jira:77", oauth_signature_method="RSA-SHA1""#], .badRequest, "parameter_absent"),
            ]
            for (index, (headers, status, problem)) in cases.enumerated() {
                let uri = index == 5 ? TestSigner.uri(path, [("xoauth_requestor_id", "admin")]) : path
                let response = try await client.get(uri, headers: headers)
                #expect(response.status == status, "\(problem)")
                let challenge = response.headers[.wwwAuthenticate] ?? ""
                #expect(challenge.hasPrefix(#"OAuth realm="http://127.0.0.1:8080""#) && challenge.contains(#"oauth_problem="\#(problem)""#), "\(challenge)")
                #expect(response.isErrorBody)
            }
        }
    }

    @Test("token endpoints answer problems form-encoded with the challenge; the authorize page needs a login and a CSRF token")
    func threeLegged() async throws {
        try await TestApp().run { client in
            let signer = try await register(client)
            let path = "/plugins/servlet/oauth/request-token"
            let rt = try await client.execute(uri: path, method: .post,
                                              headers: try signer.headers(method: "POST", path: path, extra: [("oauth_callback", "oob")]))
            #expect(rt.status == .ok && rt.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true)
            let fields = Dictionary(uniqueKeysWithValues: try FormURLEncoded.parse(rt.text).map { ($0.name, $0.value) })
            let token = try #require(fields["oauth_token"])
            #expect(fields["oauth_callback_confirmed"] == "true" && fields["oauth_token_secret"] != nil)

            let accessPath = "/plugins/servlet/oauth/access-token"
            let early = try await client.execute(uri: accessPath, method: .post,
                                                 headers: try signer.headers(method: "POST", path: accessPath, token: token, extra: [("oauth_verifier", "x")]))
            #expect(early.status == .unauthorized && early.text.hasPrefix("oauth_problem=permission_unknown"))
            #expect(early.headers[.wwwAuthenticate]?.contains(#"oauth_problem="permission_unknown""#) == true)

            let anonymous = try await client.get("/plugins/servlet/oauth/authorize?oauth_token=\(token)", headers: [:])
            #expect(anonymous.status == .seeOther && anonymous.headers[.location]?.hasPrefix("/login?next=") == true)
            let session = try #require(try await BrowserSessionTests.login(client).session)
            let page = try await client.get("/plugins/servlet/oauth/authorize?oauth_token=\(token)", headers: [.cookie: session])
            #expect(page.status == .ok && page.text.contains("Jira") && page.headers[.xFrameOptions] == "DENY")
            let (forged, forgedBody) = form([("oauth_token", token), ("decision", "approve"), ("csrf_token", "forged")], cookies: [session])
            #expect(try await client.execute(uri: "/plugins/servlet/oauth/authorize", method: .post, headers: forged, body: forgedBody).status == .forbidden)
            let csrf = try #require(hiddenInputs(page.text).first { $0.0 == "csrf_token" }?.1)
            let (headers, body) = form([("oauth_token", token), ("decision", "approve"), ("csrf_token", csrf)], cookies: [session])
            let approved = try await client.execute(uri: "/plugins/servlet/oauth/authorize", method: .post, headers: headers, body: body)
            #expect(approved.status == .ok)
            let verifier = try #require(approved.text.firstRange(of: "id=\"verifier\" class=\"verifier\">").map {
                String(approved.text[$0.upperBound...].prefix(43))
            })
            let access = try await client.execute(uri: accessPath, method: .post,
                                                  headers: try signer.headers(method: "POST", path: accessPath, token: token, extra: [("oauth_verifier", verifier)]))
            #expect(access.status == .ok && access.text.contains("oauth_session_handle="))
            let accessToken = try #require(try FormURLEncoded.parse(access.text).first { $0.name == "oauth_token" }?.value)
            let me = try await client.get("/rest/api/latest/myself",
                                          headers: try signer.headers(method: "GET", path: "/rest/api/latest/myself", token: accessToken))
            #expect(me["name"]?.string == "admin" && me["auth"]?["mode"]?.string == "user")
            let apps = try await client.get("/rest/api/latest/myself/applications")
            #expect(apps.json?.array?.first?["protocol"]?.string == "oauth1" && apps.json?.array?.first?["scope"] == .null)
        }
    }

    @Test("consumer-info and the manifest describe this server, stably")
    func discovery() async throws {
        try await TestApp().run { client in
            let info = try await client.get("/plugins/servlet/oauth/consumer-info", headers: [:])
            #expect(info.status == .ok && info.headers[.contentType]?.hasPrefix("application/xml") == true)
            let parsed = try ConsumerInfo.parse(Array(info.text.utf8))
            let serverKey = try RSAPublicKey(parsing: parsed.publicKey)
            #expect(parsed.key.hasPrefix("linkgate:") && serverKey.bits == 2048)
            #expect(try await client.get("/plugins/servlet/oauth/consumer-info", headers: [:]).text == info.text)
            let xml = try await client.get("/rest/applinks/1.0/manifest", headers: [:]).text
            #expect(xml.contains("<typeId>generic</typeId>") && xml.contains("<url>http://127.0.0.1:8080</url>"))
            #expect(xml.contains("<inboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.TwoLeggedOAuthWithImpersonationAuthenticationProvider</inboundAuthenticationTypes>"))
            #expect(xml.contains("<publicSignup>false</publicSignup>"))
            let json = try await client.get("/rest/applinks/1.0/manifest", headers: [.accept: "application/json"])
            #expect(json["typeId"]?.string == "generic" && json["inboundAuthenticationTypes"]?.array?.count == 3)
            let id = try #require(json["id"]?.string)
            #expect(xml.contains("<id>\(id)</id>"))
        }
    }
}
