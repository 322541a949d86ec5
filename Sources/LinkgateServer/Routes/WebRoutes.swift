import Hummingbird
import LinkgateCore
import LinkgateCrypto
import NIOCore

/// Browser pages: login, logout and the signed-in home page (INTERFACE §3).
struct WebRoutes {
    let services: Services

    func add(to router: Router<LinkgateContext>) {
        router.get("/", use: home)
        router.get("/login", use: loginPage)
        router.post("/login", use: login)
        router.post("/logout", use: logout)
    }

    @Sendable func home(_ request: Request, context: LinkgateContext) async throws -> Response {
        guard let current = try await services.sessions.current(request) else { return seeOther("/login") }
        return try services.pages.render("home", [
            "user": ["name": current.user.name, "displayName": current.user.displayName, "admin": current.user.admin],
            "csrfToken": current.csrfToken,
        ])
    }

    @Sendable func loginPage(_ request: Request, context: LinkgateContext) async throws -> Response {
        let next = Self.safeNext(request.uri.queryParameters["next"].map(String.init))
        // OIDC `login_hint` (INTERFACE §14) prefills the user name; the template escapes it.
        let hint = request.uri.queryParameters["login_hint"].map(String.init).flatMap { $0.utf8.count <= 255 ? $0 : nil }
        return try renderLogin(next: next, username: hint ?? "", error: nil, status: .ok)
    }

    @Sendable func login(_ request: Request, context: LinkgateContext) async throws -> Response {
        let form = try await request.readPageForm()
        let next = Self.safeNext(try form.single("next"))
        // Login CSRF: the form's token must match the cookie set with the form (double submit).
        guard let submitted = try form.single("csrf_token"), let expected = request.cookies[Sessions.loginCSRFCookieName]?.value,
              constantTimeEquals(submitted, expected) else {
            throw PageError.forbidden("The login form has expired or was not sent from this site. Reload the page and try again.")
        }
        let username = try form.single("username") ?? ""
        let password = try form.single("password") ?? ""
        let user: User
        switch try await services.accounts.check(name: username, password: password, address: services.auth.addresses.key(request, context)).counted() {
        case .valid(let valid): user = valid
        case .invalid:
            return try renderLogin(next: next, username: username, error: "Wrong user name or password.", status: .unauthorized)
        case .throttled(let retryAfter):
            // INTERFACE §10: refused without checking the password.
            var response = try renderLogin(next: next, username: username,
                                           error: "Too many failed attempts. Try again in \(Self.minutes(retryAfter)).", status: .tooManyRequests)
            response.headers[.retryAfter] = String(max(1, retryAfter))
            return response
        case .busy:
            var response = try renderLogin(next: next, username: username,
                                           error: "The server is busy. Try again in a moment.", status: .tooManyRequests)
            response.headers[.retryAfter] = "1"
            return response
        case .unavailable:
            // INTERFACE §13: the directory cannot be reached; local users are unaffected.
            var response = try renderLogin(next: next, username: username,
                                           error: "The user directory cannot be reached right now. Try again in a moment.",
                                           status: .serviceUnavailable)
            response.headers[.retryAfter] = "5"
            return response
        }
        // A fresh session id on every login (no fixation); any earlier session of this browser ends.
        if let old = try await services.sessions.current(request) { try await services.sessions.end(old) }
        var response = seeOther(next)
        response.setCookie(try await services.sessions.start(for: user))
        response.setCookie(Cookie(name: Sessions.loginCSRFCookieName, value: "", maxAge: 0, path: "/login",
                                  secure: services.config.secureCookies, httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func logout(_ request: Request, context: LinkgateContext) async throws -> Response {
        let form = try await request.readPageForm()
        guard let current = try await services.sessions.current(request) else { return seeOther("/login") }
        guard Sessions.checkCSRF(try form.single("csrf_token"), session: current) else {
            throw PageError.forbidden("The request did not carry this session's form token. Nothing was changed.")
        }
        try await services.sessions.end(current)
        var response = seeOther("/login")
        response.setCookie(services.sessions.expiredCookie)
        return response
    }

    private func renderLogin(next: String, username: String, error: String?, status: HTTPResponse.Status) throws -> Response {
        let csrf = services.sessions.loginCSRF()
        var response = try services.pages.render("login", ["next": next, "username": username, "csrfToken": csrf.value, "error": error as Any],
                                                 status: status)
        response.setCookie(csrf.cookie)
        return response
    }

    /// "45 seconds", "2 minutes".
    static func minutes(_ seconds: Int64) -> String {
        seconds < 60 ? "\(max(1, seconds)) seconds" : "\((seconds + 59) / 60) minutes"
    }

    /// `next` only when it is a local path (INTERFACE §3), else the home page.
    static func safeNext(_ next: String?) -> String {
        guard let next, Rules.isLocalPath(next) else { return "/" }
        return next
    }
}
