import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Synchronization
@testable import OAuth2

/// A clock tests can move.
final class TestClock: Sendable {
    private let value = Mutex<Int64>(1_800_000_000)
    var now: Int64 { value.withLock { $0 } }
    func advance(_ seconds: Int64) { value.withLock { $0 += seconds } }
}

/// An authorization server on a real store (SQLite, or PostgreSQL), with users alice (plain) and
/// root (admin) and a client "Jira" (WRITE) and a second client "Other".
struct Harness {
    let testStore: TestStore
    var store: any TestStoreProtocols { testStore.store }
    let clock = TestClock()
    let server: AuthorizationServer
    let jira: OAuth2Client
    let jiraSecret: String
    let other: OAuth2Client
    let otherSecret: String
    let alice: User
    let root: User

    static let redirect = "https://jira.example/cb?x=1"
    /// The id_token signing key (INTERFACE §14), made once for every test.
    static let signingKey = try! SigningKey(privateKey: RSAPrivateKey(generatingBits: 2048))

    /// - Parameter file: for SQLite, a file database (WAL, several connections) instead of memory.
    init(_ backend: TestBackend = .sqlite, file: Bool = false) async throws {
        testStore = try await TestStore(backend, file: file)
        let store = testStore.store
        let clock = self.clock
        let accounts = UserAccounts(store: store, hasher: PasswordHasher(logN: 4, r: 8, p: 1), now: { clock.now })
        alice = try await accounts.create(NewUser(name: "alice", password: "alice-pass-1"))
        root = try await accounts.create(NewUser(name: "root", password: "root-pass-12", admin: true))
        let registry = ClientRegistry(store: store, now: { clock.now })
        (jira, jiraSecret) = try await registry.register(NewOAuth2Client(name: "Jira", redirects: [Self.redirect], scope: .systemAdmin))
        (other, otherSecret) = try await registry.register(NewOAuth2Client(name: "Other", redirects: ["https://other.example/cb"], scope: .write))
        server = AuthorizationServer(config: OAuth2Config(issuer: "https://lg.example"), clients: store, grants: store,
                                     registry: registry, audit: AuditLog(store: store, now: { clock.now }),
                                     signingKeys: { SigningKeys([Harness.signingKey]) }, now: { clock.now })
    }

    func basic(_ id: String, _ secret: String) -> String {
        "Basic " + Base64URL.encodeStandard(Array("\(FormURLEncoded.encode(id)):\(FormURLEncoded.encode(secret))".utf8))
    }

    var jiraAuth: String { basic(jira.clientId, jiraSecret) }

    /// Runs authorize for `user` and returns the code from the redirect.
    func code(user: User? = nil, scope: String? = "READ", challenge: String? = nil, method: String? = nil,
              state: String? = "s1", extra: [(name: String, value: String)] = [], authTime: Int64? = nil) async throws -> String {
        var pairs: [(name: String, value: String)] = [("response_type", "code"), ("client_id", jira.clientId), ("redirect_uri", Self.redirect)]
        if let scope { pairs.append(("scope", scope)) }
        if let state { pairs.append(("state", state)) }
        if let challenge { pairs.append(("code_challenge", challenge)) }
        if let method { pairs.append(("code_challenge_method", method)) }
        let params = OAuthParameters(pairs + extra)
        let trusted = try await server.trustedRedirect(params)
        let request = try server.validate(params, trusted: trusted, user: user ?? alice)
        let location = try await server.approve(request, user: user ?? alice, authTime: authTime)
        return try #require(Self.query(location)["code"])
    }

    func exchange(_ code: String, verifier: String? = nil, redirect: String = Harness.redirect,
                  authorization: String? = nil) async throws -> TokenResponse {
        var pairs: [(name: String, value: String)] = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect)]
        if let verifier { pairs.append(("code_verifier", verifier)) }
        return try await server.token(OAuthParameters(pairs), authorization: authorization ?? jiraAuth)
    }

    func refresh(_ token: String, scope: String? = nil, authorization: String? = nil) async throws -> TokenResponse {
        var pairs: [(name: String, value: String)] = [("grant_type", "refresh_token"), ("refresh_token", token)]
        if let scope { pairs.append(("scope", scope)) }
        return try await server.token(OAuthParameters(pairs), authorization: authorization ?? jiraAuth)
    }

    /// The live access token's record and user, or nil.
    func live(_ token: String) async throws -> (record: TokenRecord, user: User?)? {
        if case .live(let record, let user) = try await server.bearer(token) { return (record, user) }
        return nil
    }

    func isActive(_ token: String) async throws -> Bool {
        try await server.introspect(OAuthParameters([("token", token)])) != .inactive
    }

    static func query(_ url: String) -> [String: String] {
        guard let q = url.split(separator: "?", maxSplits: 1).last else { return [:] }
        var out: [String: String] = [:]
        for pair in (try? FormURLEncoded.parse(q)) ?? [] { out[pair.name] = pair.value }
        return out
    }
}

import Testing

/// Expects `body` to fail with the OAuth error `code` (directly or as a client-authentication failure).
func expectOAuthError(_ code: OAuthError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
    } catch let error as OAuthError {
        #expect(error.code == code, "\(error.description)", sourceLocation: sourceLocation)
    } catch let failure as ClientAuthentication.Failure {
        #expect(failure.error.code == code, "\(failure.error.description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}
