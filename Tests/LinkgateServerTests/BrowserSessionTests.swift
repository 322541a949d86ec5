import Hummingbird
import HummingbirdTesting
import LinkgateCore
import NIOCore
import Testing
@testable import LinkgateServer

/// Pulls `name="…" value="…"` out of a rendered form.
func formValue(_ html: String, _ name: String) -> String? {
    guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
    let rest = html[range.upperBound...]
    return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
}

/// The `name=value` of a Set-Cookie header with that cookie name.
func cookie(_ response: TestResponse, _ name: String) -> String? {
    for header in response.headers[values: .setCookie] where header.hasPrefix(name + "=") {
        return String(header.prefix(while: { $0 != ";" }))
    }
    return nil
}

func form(_ pairs: [(String, String)], cookies: [String]) -> (HTTPFields, ByteBuffer) {
    var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
    if !cookies.isEmpty { headers[.cookie] = cookies.joined(separator: "; ") }
    let body = pairs.map { "\(FormURLEncoded.encode($0.0))=\(FormURLEncoded.encode($0.1))" }.joined(separator: "&")
    return (headers, ByteBuffer(string: body))
}

@Suite("Browser login, sessions and CSRF (INTERFACE §3)")
struct BrowserSessionTests {
    /// Logs in like a browser: GET the form, POST it back with its cookie. Returns the session cookie.
    static func login(_ client: any TestClientProtocol, user: String = "admin", password: String = TestApp.adminPassword,
                      next: String = "/") async throws -> (response: TestResponse, session: String?) {
        let page = try await client.get("/login?next=\(FormURLEncoded.encode(next))", headers: [:])
        let csrfCookie = try #require(cookie(page, Sessions.loginCSRFCookieName))
        let token = try #require(formValue(page.text, "csrf_token"))
        let formNext = try #require(formValue(page.text, "next"))
        let (headers, body) = form([("csrf_token", token), ("next", formNext), ("username", user), ("password", password)],
                                   cookies: [csrfCookie])
        let response = try await client.execute(uri: "/login", method: .post, headers: headers, body: body)
        return (response, cookie(response, Sessions.cookieName))
    }

    @Test("the login page has the form, its CSRF cookie and the page security headers")
    func loginPage() async throws {
        try await TestApp().run { client in
            let page = try await client.get("/login?next=/profile", headers: [:])
            #expect(page.status == .ok)
            #expect(page.text.contains(#"name="username""#) && page.text.contains(#"name="password""#))
            #expect(formValue(page.text, "next") == "/profile")
            #expect(formValue(page.text, "csrf_token")?.count == 43)
            #expect(!page.text.contains("nil"))
            #expect(page.headers[.xFrameOptions] == "DENY")
            #expect(page.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(page.headers[.referrerPolicy] == "no-referrer")
            #expect(page.headers[.cacheControl] == "no-store")
        }
    }

    @Test("login sets an HttpOnly SameSite=Lax session and redirects to next; the session reads REST")
    func login() async throws {
        try await TestApp().run { client in
            let (response, sessionCookie) = try await Self.login(client, next: "/rest/api/latest/myself")
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/rest/api/latest/myself")
            let setCookie = response.headers[values: .setCookie].first { $0.hasPrefix(Sessions.cookieName + "=") } ?? ""
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax") && setCookie.contains("Path=/"))
            let session = try #require(sessionCookie)
            let me = try await client.get("/rest/api/latest/myself", headers: [.cookie: session])
            #expect(me.status == .ok)
            #expect(me["auth"]?["protocol"]?.string == "session")
            let home = try await client.get("/", headers: [.cookie: session])
            #expect(home.status == .ok && home.text.contains("Administrator"))
            // Unsafe REST methods are not honoured with a cookie alone.
            var headers: HTTPFields = [.cookie: session, .contentType: "application/json"]
            let put = try await client.execute(uri: "/rest/api/latest/myself", method: .put, headers: headers,
                                               body: ByteBuffer(string: #"{"displayName":"Hacked"}"#))
            #expect(put.status == .unauthorized)
            headers[.cookie] = session
            let post = try await client.execute(uri: "/rest/api/latest/user", method: .post, headers: headers,
                                                body: ByteBuffer(string: #"{"name":"eve","password":"eve-pass-123"}"#))
            #expect(post.status == .unauthorized)
            #expect(try await client.get("/rest/api/latest/myself")["displayName"]?.string == "Administrator")
        }
    }

    @Test("each login issues a new session id")
    func noFixation() async throws {
        try await TestApp().run { client in
            let first = try #require(try await Self.login(client).session)
            let second = try #require(try await Self.login(client).session)
            #expect(first != second)
        }
    }

    @Test("wrong password: 401 page with the error, no session")
    func wrongPassword() async throws {
        try await TestApp().run { client in
            let (response, session) = try await Self.login(client, password: "wrong-password")
            #expect(response.status == .unauthorized)
            #expect(response.text.contains("Wrong user name or password"))
            #expect(session == nil)
        }
    }

    @Test("login without the CSRF token, or with another one, is 403 and logs nobody in")
    func loginCSRF() async throws {
        try await TestApp().run { client in
            let page = try await client.get("/login", headers: [:])
            let csrfCookie = try #require(cookie(page, Sessions.loginCSRFCookieName))
            for pairs in [[("username", "admin"), ("password", TestApp.adminPassword)],
                          [("csrf_token", "forged"), ("username", "admin"), ("password", TestApp.adminPassword)]] {
                let (headers, body) = form(pairs, cookies: [csrfCookie])
                let response = try await client.execute(uri: "/login", method: .post, headers: headers, body: body)
                #expect(response.status == .forbidden)
                #expect(cookie(response, Sessions.cookieName) == nil)
            }
            // The right token without its cookie is refused too.
            let token = try #require(formValue(page.text, "csrf_token"))
            let (headers, body) = form([("csrf_token", token), ("username", "admin"), ("password", TestApp.adminPassword)], cookies: [])
            #expect(try await client.execute(uri: "/login", method: .post, headers: headers, body: body).status == .forbidden)
        }
    }

    @Test("next is honoured only for local paths", arguments: ["//evil.example", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
    func openRedirect(next: String) async throws {
        try await TestApp().run { client in
            let (response, _) = try await Self.login(client, next: next)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/")
        }
    }

    @Test("logout needs the session's CSRF token; then the session is dead")
    func logout() async throws {
        try await TestApp().run { client in
            let session = try #require(try await Self.login(client).session)
            let home = try await client.get("/", headers: [.cookie: session])
            let token = try #require(formValue(home.text, "csrf_token"))

            let (noToken, noTokenBody) = form([], cookies: [session])
            #expect(try await client.execute(uri: "/logout", method: .post, headers: noToken, body: noTokenBody).status == .forbidden)
            let otherSession = try #require(try await Self.login(client).session)
            let otherToken = try #require(formValue(try await client.get("/", headers: [.cookie: otherSession]).text, "csrf_token"))
            let (crossed, crossedBody) = form([("csrf_token", otherToken)], cookies: [session])
            #expect(try await client.execute(uri: "/logout", method: .post, headers: crossed, body: crossedBody).status == .forbidden)
            #expect(try await client.get("/rest/api/latest/myself", headers: [.cookie: session]).status == .ok)

            let (headers, body) = form([("csrf_token", token)], cookies: [session])
            let out = try await client.execute(uri: "/logout", method: .post, headers: headers, body: body)
            #expect(out.status == .seeOther && out.headers[.location] == "/login")
            #expect(try await client.get("/rest/api/latest/myself", headers: [.cookie: session]).status == .unauthorized)
            #expect(try await client.get("/", headers: [.cookie: session]).status == .seeOther)
        }
    }

    @Test("a password change ends the user's sessions")
    func passwordChangeEndsSessions() async throws {
        let app = try await TestApp()
        try await app.addUser("dave", password: "dave-pass-1")
        try await app.run { client in
            let session = try #require(try await Self.login(client, user: "dave", password: "dave-pass-1").session)
            #expect(try await client.get("/rest/api/latest/myself", headers: [.cookie: session]).status == .ok)
            do {
                let response = try await client.put("/rest/api/latest/user/dave", json: #"{"password":"dave-pass-2"}"#)
                #expect(response.status == .ok)
            }
            #expect(try await client.get("/rest/api/latest/myself", headers: [.cookie: session]).status == .unauthorized)
        }
    }

    @Test("markup in a display name is escaped on pages")
    func escaping() async throws {
        let app = try await TestApp()
        try await app.run { client in
            do {
                let response = try await client.put("/rest/api/latest/user/admin", json: #"{"displayName":"<script>alert(1)</script>"}"#)
                #expect(response.status == .ok)
            }
            let session = try #require(try await Self.login(client).session)
            let home = try await client.get("/", headers: [.cookie: session])
            #expect(!home.text.contains("<script>alert(1)</script>"))
            #expect(home.text.contains("&lt;script&gt;"))
        }
    }
}
