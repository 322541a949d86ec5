import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LinkgateCore
import NIOCore
import Testing
@testable import LinkgateServer

@Suite("Admin web console (issue 6)")
struct ConsoleHTTPTests {
    static let pages = ["/admin", "/admin/links/new", "/admin/links/oauth2/new", "/admin/links/oauth1/new", "/admin/users", "/admin/audit"]

    @Test("anonymous → login, non-admin → 403, admin → 200 with page headers, on every console page")
    func access() async throws {
        let app = try await TestApp()
        try await app.addUser("hana", password: "hana-pass-1")
        try await app.run { client in
            let admin = try #require(try await BrowserSessionTests.login(client).session)
            let user = try #require(try await BrowserSessionTests.login(client, user: "hana", password: "hana-pass-1").session)
            for page in Self.pages {
                let anonymous = try await client.get(page, headers: [:])
                #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/login?next=" + FormURLEncoded.encode(page))
                #expect(try await client.get(page, headers: [.cookie: user]).status == .forbidden, "\(page)")
                let ok = try await client.get(page, headers: [.cookie: admin])
                #expect(ok.status == .ok, "\(page)")
                #expect(ok.headers[.xFrameOptions] == "DENY" && ok.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(!ok.text.contains(">nil<") && !ok.text.contains("\"nil\""))
            }
        }
    }

    @Test("INTERFACE §10 in the console: Users lists lockouts with a Lift button; link forms take allowed addresses, checked per line")
    func lockoutsAndNetwork() async throws {
        let app = try await TestApp()
        try await app.addUser("hana", password: "hana-pass-1")
        try await app.run { client in
            let session = try #require(try await BrowserSessionTests.login(client).session)
            for _ in 0..<5 { _ = try await client.get("/rest/api/latest/myself", headers: basic("hana", "wrong-pass")) }
            let users = try await client.get("/admin/users", headers: [.cookie: session])
            #expect(users.text.contains("Locked out") && users.text.contains("<code>hana</code>") && users.text.contains("<code>127.0.0.1</code>"))
            let csrf = try #require(hiddenInputs(users.text).first { $0.0 == "csrf_token" }?.1)
            let (headers, body) = form([("csrf_token", csrf), ("user", "hana"), ("address", "127.0.0.1")], cookies: [session])
            let lifted = try await client.execute(uri: "/admin/lockouts/clear", method: .post, headers: headers, body: body)
            #expect(lifted.status == .seeOther)
            #expect(try await client.get("/rest/api/latest/lockout").json == .array([]))
            #expect(try await client.get("/rest/api/latest/myself", headers: basic("hana", "hana-pass-1")).status == .ok)

            let bad = [("csrf_token", csrf), ("name", "Fenced"), ("redirects", ""), ("scope", "READ"), ("allowedAddresses", "203.0.113.0/24\r\nnot-an-address")]
            let (h1, b1) = form(bad, cookies: [session])
            let refused = try await client.execute(uri: "/admin/links/oauth2/new", method: .post, headers: h1, body: b1)
            #expect(refused.status == .badRequest && refused.text.contains(#"id="allowedAddresses-error""#) && refused.text.contains("not-an-address"))
            let good = [("csrf_token", csrf), ("name", "Fenced"), ("redirects", ""), ("scope", "READ"), ("allowedAddresses", "203.0.113.0/24\r\n2001:db8::/32")]
            let (h2, b2) = form(good, cookies: [session])
            #expect(try await client.execute(uri: "/admin/links/oauth2/new", method: .post, headers: h2, body: b2).status == .ok)
            let clients = try #require(try await client.get("/rest/oauth2/latest/client").json?.array)
            #expect(clients.first?["allowedAddresses"] == .array([.string("203.0.113.0/24"), .string("2001:db8::/32")]))
            let list = try await client.get("/admin", headers: [.cookie: session])
            #expect(list.text.contains("Allowed from") && list.text.contains("203.0.113.0/24, 2001:db8::/32"))
        }
    }

    @Test("OAuth 1.0a form: signature-method checkboxes (RSA-SHA1 ticked for a new link) set signatureMethods; the list names non-default ones")
    func oauth1SignatureMethods() async throws {
        try await TestApp().run { client in
            let session = try #require(try await BrowserSessionTests.login(client).session)
            let page = try await client.get("/admin/links/oauth1/new", headers: [.cookie: session])
            #expect(page.text.contains(#"name="signature-RSA-SHA1" type="checkbox" checked"#))
            #expect(page.text.contains(#"name="signature-RSA-SHA512" type="checkbox">"#))
            let csrf = try #require(hiddenInputs(page.text).first { $0.0 == "csrf_token" }?.1)
            let pem = try OAuth1HTTPTests.key.publicKey().pem
            let (headers, body) = form([("csrf_token", csrf), ("key", "py:1"), ("name", "Python API"), ("publicKey", pem),
                                        ("threeLeggedAllowed", "on"), ("signature-RSA-SHA1", "on"), ("signature-RSA-SHA512", "on")],
                                       cookies: [session])
            let created = try await client.execute(uri: "/admin/links/oauth1/new", method: .post, headers: headers, body: body)
            #expect(created.status == .seeOther)
            let entity = try await client.get("/rest/oauth1/latest/consumer/py:1")
            #expect(entity["signatureMethods"] == .array([.string("RSA-SHA1"), .string("RSA-SHA512")]))
            let list = try await client.get("/admin", headers: [.cookie: session])
            #expect(list.text.contains("3LO · RSA-SHA1, RSA-SHA512"))
            let edit = try await client.get("/admin/links/oauth1/py:1/edit", headers: [.cookie: session])
            #expect(edit.text.contains(#"name="signature-RSA-SHA512" type="checkbox" checked"#))
            #expect(edit.text.contains(#"name="signature-RSA-SHA256" type="checkbox">"#))
            // Unticking all falls back to RSA-SHA1 alone.
            let editCSRF = try #require(hiddenInputs(edit.text).first { $0.0 == "csrf_token" }?.1)
            let (h2, b2) = form([("csrf_token", editCSRF), ("name", "Python API"), ("publicKey", pem), ("threeLeggedAllowed", "on")],
                                cookies: [session])
            let saved = try await client.execute(uri: "/admin/links/oauth1/py:1/edit", method: .post, headers: h2, body: b2)
            #expect(saved.status == .seeOther)
            #expect(try await client.get("/rest/oauth1/latest/consumer/py:1")["signatureMethods"] == .array([.string("RSA-SHA1")]))
        }
    }

    @Test("creating a link: validation errors sit next to the field with values kept; success shows the secret once")
    func createLink() async throws {
        try await TestApp().run { client in
            let session = try #require(try await BrowserSessionTests.login(client).session)
            let page = try await client.get("/admin/links/oauth2/new", headers: [.cookie: session])
            let csrf = try #require(hiddenInputs(page.text).first { $0.0 == "csrf_token" }?.1)
            let bad = [("csrf_token", csrf), ("name", "<script>alert(1)</script>"), ("redirects", "http://evil.example/cb"), ("scope", "WRITE")]
            let (headers, body) = form(bad, cookies: [session])
            let refused = try await client.execute(uri: "/admin/links/oauth2/new", method: .post, headers: headers, body: body)
            #expect(refused.status == .badRequest)
            #expect(refused.text.contains(#"id="redirects-error""#) && refused.text.contains("loopback"))
            #expect(refused.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !refused.text.contains("<script>alert(1)"))
            #expect(refused.text.contains("http://evil.example/cb</textarea>"))
            #expect(try await client.get("/rest/oauth2/latest/client").text == "[]")

            let good = [("csrf_token", csrf), ("name", "Jira"), ("redirects", "https://jira.example/cb\r\nhttp://127.0.0.1:9/cb"), ("scope", "WRITE")]
            let (h2, b2) = form(good, cookies: [session])
            let created = try await client.execute(uri: "/admin/links/oauth2/new", method: .post, headers: h2, body: b2)
            #expect(created.status == .ok && created.headers[.cacheControl] == "no-store")
            #expect(created.text.contains(#"id="client-secret""#) && created.text.contains("/rest/oauth2/latest/token"))
            let clients = try #require(try await client.get("/rest/oauth2/latest/client").json?.array)
            #expect(clients.count == 1 && clients[0]["redirects"]?.array?.count == 2 && clients[0]["scope"]?.string == "WRITE")
            let id = try #require(clients[0]["clientId"]?.string)
            let view = try await client.get("/admin/links/oauth2/\(id)", headers: [.cookie: session])
            #expect(view.status == .ok && view.text.contains(id) && !view.text.contains(#"id="client-secret""#))
            let list = try await client.get("/admin", headers: [.cookie: session])
            #expect(list.text.contains("Jira") && list.text.contains("3LO, 2LO") && list.text.contains("/admin/links/oauth2/\(id)/delete"))
        }
    }

    @Test("every console POST needs this session's CSRF token, and a refused one changes nothing")
    func csrf() async throws {
        try await TestApp().run { client in
            let created = try await client.post("/rest/oauth2/latest/client", json: #"{"name":"Jira","redirects":[],"scope":"READ"}"#)
            let id = try #require(created["clientId"]?.string)
            let session = try #require(try await BrowserSessionTests.login(client).session)
            let other = try #require(try await BrowserSessionTests.login(client).session)
            let foreign = try #require(hiddenInputs(try await client.get("/admin/users", headers: [.cookie: other]).text).first { $0.0 == "csrf_token" }?.1)
            let posts: [(String, [(String, String)])] = [
                ("/admin/links/oauth2/new", [("name", "X"), ("redirects", ""), ("scope", "READ")]),
                ("/admin/links/oauth2/\(id)/edit", [("name", "Renamed"), ("scope", "READ")]),
                ("/admin/links/oauth2/\(id)/reset", []), ("/admin/links/oauth2/\(id)/delete", []),
                ("/admin/users", [("name", "mallory"), ("password", "mallory-pass")]), ("/admin/users/admin/admin", []),
                ("/admin/users/admin/password", [("password", "hacked-pass-1")]), ("/admin/users/admin/delete", []),
                ("/admin/links/oauth1/new", [("key", "k"), ("name", "K"), ("publicKey", "x")]),
            ]
            let before = (try await client.get("/rest/oauth2/latest/client").text, try await client.get("/rest/api/latest/user").text)
            for (path, fields) in posts {
                for token in [nil, foreign] as [String?] {
                    let (headers, body) = form(fields + (token.map { [("csrf_token", $0)] } ?? []), cookies: [session])
                    let response = try await client.execute(uri: path, method: .post, headers: headers, body: body)
                    #expect(response.status == .forbidden, "\(path)")
                }
            }
            #expect(try await client.get("/rest/oauth2/latest/client").text == before.0)
            #expect(try await client.get("/rest/api/latest/user").text == before.1)
            #expect(try await client.get("/rest/api/latest/myself", headers: adminAuth).status == .ok)
        }
    }

    @Test("users: create with field errors, make admin, delete through the confirm page, the last admin kept")
    func users() async throws {
        try await TestApp().run { client in
            let session = try #require(try await BrowserSessionTests.login(client).session)
            let csrf = try #require(hiddenInputs(try await client.get("/admin/users", headers: [.cookie: session]).text).first { $0.0 == "csrf_token" }?.1)
            func post(_ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
                let (headers, body) = form(fields + [("csrf_token", csrf)], cookies: [session])
                return try await client.execute(uri: path, method: .post, headers: headers, body: body)
            }
            let short = try await post("/admin/users", [("name", "ivy"), ("displayName", "Ivy <i>"), ("password", "short")])
            #expect(short.status == .badRequest && short.text.contains(#"id="password-error""#) && short.text.contains(#"value="Ivy &lt;i&gt;""#))
            #expect(try await post("/admin/users", [("name", "ivy"), ("password", "ivy-pass-12")]).status == .seeOther)
            #expect(try await post("/admin/users/ivy/admin", [("admin", "on")]).status == .seeOther)
            #expect(try await client.get("/rest/api/latest/user/ivy")["admin"] == .bool(true))
            let confirm = try await client.get("/admin/users/ivy/delete", headers: [.cookie: session])
            #expect(confirm.status == .ok && confirm.text.contains(#"id="confirm""#))
            #expect(try await post("/admin/users/ivy/delete", []).status == .seeOther)
            #expect(try await client.get("/rest/api/latest/user/ivy").status == .notFound)
            let last = try await post("/admin/users/admin/delete", [])
            #expect(last.status == .conflict && last.text.contains("last administrator"))
            let audit = try await client.get("/admin/audit?action=user.delete", headers: [.cookie: session])
            #expect(audit.text.contains("ivy") && audit.text.contains("user.delete"))
        }
    }
}
