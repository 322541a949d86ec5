import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Synchronization
import Testing
@testable import OAuth1

final class TestClock: Sendable {
    private let value = Mutex<Int64>(1_800_000_000)
    var now: Int64 { value.withLock { $0 } }
    func advance(_ seconds: Int64) { value.withLock { $0 += seconds } }
}

/// Loads `oauth1.json` from ../shared/vectors (or $LINKGATE_VECTORS).
struct Vector: Decodable {
    struct RSA: Decodable { let public_key_pem: String; let private_key_pem: String; let signature_base64: String }
    struct Req: Decodable { let method: String; let url: String; let headers: [String: String]; let body: String }
    let request: Req
    let signature_base_string: String
    let rsa_sha1: RSA

    static func load() throws -> Vector {
        let folder = ProcessInfo.processInfo.environment["LINKGATE_VECTORS"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("shared/vectors")
        let data = try #require(FileManager.default.contents(atPath: folder.appendingPathComponent("oauth1.json").path),
                                "test vectors not found under \(folder.path)")
        return try JSONDecoder().decode(Vector.self, from: data)
    }
}

/// Signs requests the way an RSA-SHA1 consumer does, for the tests.
struct Signer {
    let consumerKey: String
    let key: RSAPrivateKey
    let clock: TestClock

    func request(method: String = "GET", uri: String = "https://lg.example/rest/api/latest/myself", token: String? = nil,
                 query: [(String, String)] = [], form: [(String, String)] = [], extra: [(String, String)] = [],
                 timestamp: Int64? = nil, nonce: String? = nil, signatureMethod: String = "RSA-SHA1",
                 mutate: (inout [(String, String)]) -> Void = { _ in }) throws -> SignedRequest {
        var oauth: [(String, String)] = [
            ("oauth_consumer_key", consumerKey), ("oauth_signature_method", signatureMethod),
            ("oauth_timestamp", String(timestamp ?? clock.now)), ("oauth_nonce", nonce ?? SecureRandom.hex(12)), ("oauth_version", "1.0"),
        ]
        if let token { oauth.append(("oauth_token", token)) }
        oauth += extra
        let pairs = (oauth + query + form).map { ProtocolParameters.Pair(name: $0.0, value: $0.1) }
        let base = SignatureBaseString.make(method: method, baseStringURI: uri, parameters: pairs)
        let digest = SignatureMethod(rawValue: signatureMethod)?.digest ?? .sha1
        oauth.append(("oauth_signature", Base64URL.encodeStandard(try key.sign(message: Array(base.utf8), digest: digest))))
        mutate(&oauth)
        let header = "OAuth realm=\"https://lg.example\", " + oauth.map { "\(PercentEncoding.encode($0.0))=\"\(PercentEncoding.encode($0.1))\"" }
            .joined(separator: ", ")
        return SignedRequest(method: method, baseStringURI: uri, authorization: header, query: query.map { (name: $0.0, value: $0.1) },
                             form: form.map { (name: $0.0, value: $0.1) })
    }
}

/// A verifier and flow on a real store (SQLite, or PostgreSQL), with users alice and bot and a
/// consumer "jira:1" allowing every mode.
struct Harness {
    let testStore: TestStore
    var store: any TestStoreProtocols { testStore.store }
    let clock = TestClock()
    let verifier: RequestVerifier
    let flow: ThreeLeggedFlow
    let registry: ConsumerRegistry
    let signer: Signer
    let alice: User

    init(_ backend: TestBackend = .sqlite, twoLegged: Bool = true, impersonation: Bool = true, threeLegged: Bool = true,
         executeAs: String? = nil) async throws {
        testStore = try await TestStore(backend)
        let store = testStore.store
        let clock = self.clock
        let accounts = UserAccounts(store: store, hasher: PasswordHasher(logN: 4, r: 8, p: 1), now: { clock.now })
        alice = try await accounts.create(NewUser(name: "alice", password: "alice-pass-1"))
        _ = try await accounts.create(NewUser(name: "bot", password: "bot-pass-123"))
        registry = ConsumerRegistry(store: store, users: store, now: { clock.now })
        let key = try RSAPrivateKey(pem: try Vector.load().rsa_sha1.private_key_pem)
        _ = try await registry.register(NewConsumer(key: "jira:1", name: "Jira", publicKey: try key.publicKey().pem,
                                                    threeLeggedAllowed: threeLegged, twoLeggedAllowed: twoLegged, executeAs: executeAs,
                                                    impersonationAllowed: impersonation))
        verifier = RequestVerifier(store: store, users: store, audit: AuditLog(store: store, now: { clock.now }), now: { clock.now })
        flow = ThreeLeggedFlow(verifier: verifier, store: store, now: { clock.now })
        signer = Signer(consumerKey: "jira:1", key: key, clock: clock)
    }

    static func value(_ pairs: [(name: String, value: String)], _ name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// request token → approval → access token; returns the access token.
    func accessToken(callback: String? = "https://jira.example/cb") async throws -> String {
        let rt = try await flow.requestToken(try signer.request(method: "POST", uri: "https://lg.example/plugins/servlet/oauth/request-token",
                                                                extra: callback.map { [("oauth_callback", $0)] } ?? []))
        let token = try #require(Self.value(rt, "oauth_token"))
        let decision = try await flow.decide(token: token, user: alice, approve: true)
        var verifier: String? = nil
        if case .redirect(let location) = decision {
            verifier = location.split(separator: "oauth_verifier=").last.map(String.init)
        }
        let at = try await flow.accessToken(try signer.request(method: "POST", uri: "https://lg.example/plugins/servlet/oauth/access-token",
                                                               token: token, extra: verifier.map { [("oauth_verifier", $0)] } ?? []))
        return try #require(Self.value(at, "oauth_token"))
    }
}

/// Expects `body` to fail with `problem`.
func expectProblem(_ problem: OAuth1Problem.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(problem.rawValue), got success", sourceLocation: sourceLocation)
    } catch let error as OAuth1Problem {
        #expect(error.problem == problem, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(problem.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}
