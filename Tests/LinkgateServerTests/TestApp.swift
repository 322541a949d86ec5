import Foundation
import Hummingbird
import HummingbirdTesting
import LinkgateCore
import LinkgateCrypto
import LinkgateSQLite
import Logging
import NIOCore
@testable import LinkgateServer

/// A Linkgate application on a fresh SQLite file, with `admin` / `admin-pass-1` bootstrapped.
struct TestApp {
    static let adminPassword = "admin-pass-1"
    let folder: URL
    let store: SQLiteStore

    init() async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("linkgate-server-test-\(SecureRandom.hex(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        store = try SQLiteStore(path: folder.appendingPathComponent("linkgate.sqlite").path)
        let accounts = UserAccounts(store: store, hasher: Self.hasher, now: epochSeconds)
        _ = try await accounts.bootstrapAdmin(password: Self.adminPassword)
        // One server key for every test app: generating 2048-bit keys is slow and not under test here.
        _ = try await store.settingOrCreate("server.rsa_private_key") { Self.serverKeyPEM }
    }

    static let serverKeyPEM = try! RSAPrivateKey(generatingBits: 2048).pem

    static let hasher = PasswordHasher(logN: 4, r: 8, p: 1)

    static var resources: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources").path
    }

    /// Shared by every test app: the suites run many at once beside the store suites, which can
    /// keep both cores busy; a queue long enough that a slow machine is never mistaken for a
    /// password flood (the bound itself is tested with a pool of its own).
    static let kdfPool = KDFPool(workers: 2, queueLimit: 10_000)

    /// Runs `body` against the application served on a real port.
    func run<T>(trustedProxies: [IPAddressRange] = [], signingKeysRefresh: Duration = .seconds(30),
                _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        defer { try? FileManager.default.removeItem(at: folder) }
        var logger = Logger(label: "linkgate-test")
        logger.logLevel = .warning
        var config = ServerConfig(host: "127.0.0.1", port: 0, baseURL: "http://127.0.0.1:8080", resourcesPath: Self.resources,
                                  passwordHasher: Self.hasher, trustedProxies: trustedProxies, kdfPool: Self.kdfPool)
        config.signingKeysRefresh = signingKeysRefresh
        let app = try await buildApplication(config: config, store: store, logger: logger)
        return try await app.test(.live, body)
    }

    /// Creates a user through the store (fast, no HTTP).
    func addUser(_ name: String, password: String, admin: Bool = false) async throws {
        let accounts = UserAccounts(store: store, hasher: Self.hasher, now: epochSeconds)
        _ = try await accounts.create(NewUser(name: name, password: password, admin: admin))
    }
}

func basic(_ user: String, _ password: String) -> HTTPFields {
    [.authorization: "Basic " + Base64URL.encodeStandard(Array("\(user):\(password)".utf8))]
}

let adminAuth = basic("admin", TestApp.adminPassword)

func jsonHeaders(_ auth: HTTPFields = adminAuth) -> HTTPFields {
    var headers = auth
    headers[.contentType] = "application/json"
    return headers
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSONValue? { JSONValue.parse(Array(text.utf8)) }

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = json else { return nil }
        return members[key]
    }

    /// The `error` code of an error body.
    var errorCode: String? {
        guard case .string(let code) = self["error"] else { return nil }
        return code
    }

    /// Whether the body is the RFC-style error object with a description: exactly
    /// `{"error","error_description"}`, or on `/rest/api/…` that plus Jira's keys (INTERFACE §1).
    var isErrorBody: Bool { isPlainErrorBody || isJiraErrorBody }

    /// Exactly `{"error","error_description"}`.
    var isPlainErrorBody: Bool {
        guard case .object(let members) = json, members.count == 2, case .string = members["error_description"] else { return false }
        return errorCode != nil
    }

    /// `{"error","error_description","errorMessages":[<description>],"errors":{}}` (INTERFACE §1, `/rest/api/…`).
    var isJiraErrorBody: Bool {
        guard case .object(let members) = json, members.count == 4, errorCode != nil,
              case .string(let description) = members["error_description"] else { return false }
        return members["errorMessages"] == .array([.string(description)]) && members["errors"] == .object([:])
    }
}

extension JSONValue {
    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}

extension TestClientProtocol {
    func post(_ uri: String, json body: String, headers: HTTPFields = jsonHeaders()) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func put(_ uri: String, json body: String, headers: HTTPFields = jsonHeaders()) async throws -> TestResponse {
        try await execute(uri: uri, method: .put, headers: headers, body: ByteBuffer(string: body))
    }

    func get(_ uri: String, headers: HTTPFields = adminAuth) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }

    func delete(_ uri: String, headers: HTTPFields = adminAuth) async throws -> TestResponse {
        try await execute(uri: uri, method: .delete, headers: headers)
    }
}
