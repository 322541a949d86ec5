import Foundation
import Hummingbird
import HummingbirdTesting
import LinkgateCore
import LinkgateSQLite
import Logging
import Testing
@testable import LinkgateServer

/// `GET /rest/openapi.json` (INTERFACE §15): the document describes every REST and OAuth route
/// the server registers, and nothing it does not.
@Suite("OpenAPI description (INTERFACE §15)")
struct OpenAPITests {
    /// The browser console and its assets: HTML pages for people, not REST or OAuth endpoints.
    static func isConsolePage(_ path: String) -> Bool {
        path == "/" || path == "/admin" || path.hasPrefix("/admin/") || path.hasPrefix("/profile/") || path.hasPrefix("/static/")
    }

    /// `METHOD /path/{param}` of every operation in `Resources/openapi.json`.
    static func documentedOperations() throws -> Set<String> {
        let text = try OpenAPIRoutes.document(resourcesPath: TestApp.resources, baseURL: "http://127.0.0.1:8080")
        guard case .object(let paths)? = JSONValue.parse(Array(text.utf8))?["paths"] else { throw OpenAPIDocumentError(path: "paths") }
        var operations: Set<String> = []
        for (path, item) in paths {
            guard case .object(let methods) = item else { continue }
            for method in methods.keys where ["get", "put", "post", "delete", "patch", "head", "options"].contains(method) {
                operations.insert("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }

    /// `METHOD /path/{param}` of every route of `router`, console pages aside.
    static func registeredOperations(_ router: Router<LinkgateContext>) -> Set<String> {
        Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" }.filter { !isConsolePage(String($0.split(separator: " ")[1])) })
    }

    static func logger() -> Logger {
        var logger = Logger(label: "linkgate-openapi-test")
        logger.logLevel = .critical
        return logger
    }

    static func config(_ baseURL: String = "http://127.0.0.1:8080") -> ServerConfig {
        ServerConfig(host: "127.0.0.1", port: 0, baseURL: baseURL, resourcesPath: TestApp.resources, passwordHasher: TestApp.hasher,
                     kdfPool: TestApp.kdfPool)
    }

    @Test("every route of serve is documented, and every documented operation outside /__fixture is a route of serve")
    func serveRoutesMatchTheDocument() async throws {
        let app = try await TestApp()
        defer { try? FileManager.default.removeItem(at: app.folder) }
        let router = try await buildRouter(config: Self.config(), store: app.store, logger: Self.logger(), now: epochSeconds)
        let registered = Self.registeredOperations(router)
        let documented = try Self.documentedOperations()
        #expect(registered.count > 40)
        #expect(registered.subtracting(documented).sorted() == [], "routes missing from Resources/openapi.json")
        let phantom = documented.subtracting(registered).filter { !$0.contains(" /__fixture/") }
        #expect(phantom.sorted() == [], "documented operations serve does not have")
        #expect(!registered.contains { $0.contains("/__fixture") })
    }

    @Test("fixture mode's control API is documented exactly")
    func fixtureRoutesMatchTheDocument() async throws {
        let host = try await FixtureHost.start(config: Self.config(), seed: SeedFile(),
                                               stores: InMemoryStores(empty: { try SQLiteStore() }, copy: { try SQLiteStore(copying: $0) }),
                                               logger: Self.logger())
        let router = try await buildRouter(config: host.config, store: try SQLiteStore(), logger: Self.logger(), now: epochSeconds,
                                           pages: host.pages, fixture: host.main)
        let registered = Self.registeredOperations(router)
        let documented = try Self.documentedOperations()
        #expect(registered.subtracting(documented).sorted() == [])
        #expect(documented.subtracting(registered).sorted() == [])
        _ = try? await host.identity.value()
    }

    @Test("GET /rest/openapi.json is public JSON whose servers entry is the base URL")
    func servedWithTheBaseURL() async throws {
        let app = try await TestApp()
        defer { try? FileManager.default.removeItem(at: app.folder) }
        let base = "https://links.example.test/linkgate"
        var logger = Logger(label: "linkgate-test")
        logger.logLevel = .warning
        let application = try await buildApplication(config: Self.config(base), store: app.store, logger: logger)
        try await application.test(.router) { client in
            try await client.execute(uri: "/rest/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(response.json?["openapi"] == .string("3.1.0"))
                #expect(response.json?["servers"] == .array([.object(["url": .string(base)])]))
                #expect(response.json?["paths"]?["/rest/oauth2/latest/token"] != nil)
            }
        }
    }

    @Test("a missing document stops the start")
    func missingDocument() throws {
        #expect(throws: OpenAPIDocumentError.self) {
            try OpenAPIRoutes.document(resourcesPath: "/nonexistent-\(UUID().uuidString)", baseURL: "http://127.0.0.1:8080")
        }
    }
}
