import Foundation
import Hummingbird
import LinkgateCore
import LinkgateCrypto

/// Browser sessions: an HttpOnly, SameSite=Lax cookie holding a random 256-bit id whose
/// SHA-256 digest is the only thing stored. Every login mints a new id (no fixation).
struct Sessions: Sendable {
    static let cookieName = "linkgate_session"
    /// Double-submit cookie that protects the login form before any session exists.
    static let loginCSRFCookieName = "linkgate_login_csrf"
    /// Absolute lifetime of a session.
    static let lifetime: Int64 = 12 * 3600

    let store: any SessionStore & UserStore
    /// Set the cookie's `Secure` flag (when the base URL is https).
    let secureCookies: Bool
    let now: @Sendable () -> Int64
    /// Users as sessions see them: a directory user the directory dropped is logged out (INTERFACE §13).
    let users: any UserStore

    init(store: any SessionStore & UserStore, users: (any UserStore)? = nil, secureCookies: Bool, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.users = users ?? store
        self.secureCookies = secureCookies
        self.now = now
    }

    struct Current: Sendable {
        let token: String
        let user: User
        /// When the user logged in: OIDC's `auth_time` (INTERFACE §14).
        var loggedInAt: Int64 = 0
        /// The CSRF token forms of this session must carry.
        var csrfToken: String { Sessions.csrfToken(for: token) }
    }

    /// Starts a session for `user`; returns the cookie to set.
    func start(for user: User) async throws -> Cookie {
        let token = SecureRandom.token()
        let issued = now()
        try await store.createSession(Session(idDigest: Digest.storageDigest(of: token), userName: user.name,
                                              createdAt: issued, expiresAt: issued + Self.lifetime))
        return Cookie(name: Self.cookieName, value: token, maxAge: Int(Self.lifetime), path: "/",
                      secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    /// The live session named by the request's cookie, with its user; nil if none.
    func current(_ request: Request) async throws -> Current? {
        guard let token = request.cookies[Self.cookieName]?.value, Self.isTokenShaped(token),
              let session = try await store.session(digest: Digest.storageDigest(of: token), now: now()),
              let user = try await users.user(named: session.userName) else { return nil }
        return Current(token: token, user: user, loggedInAt: session.createdAt)
    }

    func end(_ current: Current) async throws {
        try await store.deleteSession(digest: Digest.storageDigest(of: current.token))
    }

    /// A cookie that deletes the session cookie.
    var expiredCookie: Cookie {
        Cookie(name: Self.cookieName, value: "", maxAge: 0, path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    /// A fresh login-form CSRF value and the cookie that carries it.
    func loginCSRF() -> (value: String, cookie: Cookie) {
        let value = SecureRandom.token()
        return (value, Cookie(name: Self.loginCSRFCookieName, value: value, maxAge: 3600, path: "/login",
                              secure: secureCookies, httpOnly: true, sameSite: .strict))
    }

    /// The CSRF token of a session: HMAC-SHA256 keyed by the session id. Only the holder of the
    /// session cookie can know it, and it reveals nothing about the id.
    static func csrfToken(for sessionToken: String) -> String {
        Base64URL.encode(HMAC.sha256(key: Array(sessionToken.utf8), message: Array("linkgate-csrf".utf8)))
    }

    /// Whether `submitted` is this session's CSRF token (constant-time).
    static func checkCSRF(_ submitted: String?, session: Current) -> Bool {
        guard let submitted else { return false }
        return constantTimeEquals(submitted, session.csrfToken)
    }

    static func isTokenShaped(_ token: String) -> Bool {
        token.utf8.count == 43 && token.utf8.allSatisfy { Base64URL.isAlphabet($0) }
    }
}
